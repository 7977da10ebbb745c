"""The hub's history as JSON (behind the hub's token gate, like every route).

- ``GET /api/history?project=P&branch=B&test_id=T``: a test's recent results, newest
  first (``limit``, default 20, at most 200);
- ``GET /api/trend?project=P&branch=B``: the latest finished runs of a project and
  branch, oldest first (duration, counts, pass rate, new failures), for the trend chart;
- ``GET /api/compare?run_id=R``: the run against the previous finished run of its
  project and branch: new failures, fixed, slower, new and removed tests.

A hub without a history answers 404; a database error 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_jbrealtime.hub.history import HubHistory
from pytest_jbrealtime.hub.history_db import KEEP_RESULTS
from pytest_jbrealtime.shared.names import valid_run_id

MAX_LIMIT = 200


def _limit(request: Request, default: int) -> int | None:
    text = request.query_params.get("limit")
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_LIMIT else None


class Unanswered(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def history_routes(history_of: Callable[[], HubHistory | None]) -> list[Route]:
    async def read(method: str, *args: Any) -> Any:
        history = history_of()
        if history is None:
            raise Unanswered(JSONResponse({"error": "this hub keeps no history"},
                                          status_code=404))
        try:
            return await history.read(getattr(history.database, method), *args)
        except Exception as exc:
            raise Unanswered(JSONResponse({"error": f"history database unavailable: {exc!r}"},
                                          status_code=503)) from exc

    def labels(request: Request) -> tuple[str, str]:
        return (request.query_params.get("project", ""), request.query_params.get("branch", ""))

    async def test_history(request: Request) -> JSONResponse:
        test_id = request.query_params.get("test_id")
        limit = _limit(request, KEEP_RESULTS)
        if not test_id or limit is None:
            return JSONResponse({"error": f"needs test_id (and limit 1-{MAX_LIMIT})"},
                                status_code=400)
        project, branch = labels(request)
        try:
            results = await read("test_history", project, branch, test_id, limit)
        except Unanswered as no:
            return no.response
        return JSONResponse({"project": project, "branch": branch, "test_id": test_id,
                             "results": results})

    async def trend(request: Request) -> JSONResponse:
        limit = _limit(request, 30)
        if limit is None:
            return JSONResponse({"error": f"limit must be 1-{MAX_LIMIT}"}, status_code=400)
        project, branch = labels(request)
        try:
            runs = await read("trend", project, branch, limit)
        except Unanswered as no:
            return no.response
        return JSONResponse({"project": project, "branch": branch, "runs": runs})

    async def compare(request: Request) -> JSONResponse:
        run_id = request.query_params.get("run_id", "")
        if not valid_run_id(run_id):
            return JSONResponse({"error": "needs run_id"}, status_code=400)
        try:
            comparison = await read("compare", run_id)
        except Unanswered as no:
            return no.response
        if comparison is None:
            return JSONResponse({"error": "no such run in the history"}, status_code=404)
        return JSONResponse(comparison)

    return [
        Route("/api/history", test_history),
        Route("/api/trend", trend),
        Route("/api/compare", compare),
    ]
