"""Stack requests on the serving side: which process runs a test, and asking it.

A viewer sends ``stack_request`` (``server/viewers.py``) or a tool calls
``GET /api/stack?test_id=…``; both come to :meth:`StackService.stack`. Where the test
is comes from the run's own log (:class:`TestWhereabouts` reads it as it grows:
collected, started on which worker and shard, completed). How the test's process is
reached is the transport's business, a :data:`StackFetch`:

- the run's own server asks the responder's Unix socket in the run folder
  (:func:`local_fetch`; ``stack_responder.py`` in the test process);
- a hub asks the shard's producer connection, whose thread asks its local responder
  (``hub/stacks.py``).

Nothing here runs until someone asks.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_jbrealtime.shared.log import EventLog, LoggedEvent
from pytest_jbrealtime.shared.stack_responder import responder_path
from pytest_jbrealtime.shared.stalls import RunningTest

if TYPE_CHECKING:  # the server's; the pytest side (stalls.py, hub/stacks.py) needs none
    from starlette.requests import Request
    from starlette.responses import JSONResponse

# How long the serving side waits for a process's answer (a live one answers in ms;
# the 1 s figure is measured in benchmarks/stack_latency.py).
FETCH_TIMEOUT = 2.0
MAX_ANSWER_BYTES = 8 << 20
# Why a stack cannot be had (the ``reason`` of the error reply).
UNKNOWN = "unknown"
NOT_RUNNING = "not_running"
FINISHED = "finished"
UNAVAILABLE = "unavailable"
REASON_STATUS = {UNKNOWN: 404, NOT_RUNNING: 409, FINISHED: 409, UNAVAILABLE: 503}


class StackUnavailable(Exception):
    """The test's process could not be asked (the message says why)."""


# A transport: the stacks of the process running ``test``, as the responder answers.
StackFetch = Callable[[RunningTest], Awaitable[dict[str, Any]]]


# The events whose fields (beyond type and test id) say where a test runs.
WHEREABOUTS_TYPES = frozenset({"collection_finished", "collection_part", "test_started",
                               "session_finished", "shard_finished"})


class TestWhereabouts:
    """Which tests the run has collected, runs now (and where), and has finished."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self) -> None:
        self.collected: set[str] = set()
        self.running: dict[str, RunningTest] = {}
        self.finished: set[str] = set()

    @classmethod
    def of(cls, log: EventLog) -> TestWhereabouts:
        """Follow ``log`` from its first event on."""
        whereabouts = cls()
        whereabouts(log.read_after(0, len(log)))
        log.listeners.append(whereabouts)
        return whereabouts

    def __call__(self, entries: list[LoggedEvent]) -> None:
        for entry in entries:
            kind = entry.type
            if kind == "test_completed":
                if entry.test_id is not None:
                    self.running.pop(entry.test_id, None)
                    self.finished.add(entry.test_id)
                continue
            if kind not in WHEREABOUTS_TYPES:
                continue  # (no dict to parse back for most of a run's events)
            event = entry.event
            if kind in ("collection_finished", "collection_part"):
                for test in event.get("tests") or ():
                    if isinstance(test, dict) and isinstance(test.get("test_id"), str):
                        self.collected.add(test["test_id"])
            elif kind == "test_started":
                test_id = event.get("test_id")
                if isinstance(test_id, str):
                    shard = event.get("shard")
                    self.running[test_id] = RunningTest(
                        test_id, str(event.get("worker") or "main"),
                        shard if isinstance(shard, str) else None)
                    self.finished.discard(test_id)  # a rerun
            elif kind in ("session_finished", "shard_finished"):
                # Nothing runs after the end (of this shard): an interrupted run's tests
                # were never completed, but they are not running either.
                shard = event.get("shard")
                for test_id, where in list(self.running.items()):
                    if kind == "session_finished" or where.shard == shard:
                        del self.running[test_id]
                        self.finished.add(test_id)

    def locate(self, test_id: str) -> RunningTest | str:
        """Where ``test_id`` runs, or the reason (``UNKNOWN`` …) it runs nowhere."""
        where = self.running.get(test_id)
        if where is not None:
            return where
        if test_id in self.finished:
            return FINISHED
        if test_id in self.collected:
            return NOT_RUNNING
        return UNKNOWN


def stack_error(test_id: str, reason: str, message: str) -> dict[str, Any]:
    """The ``error`` reply to a ``stack_request`` (docs/protocol.md)."""
    return {"type": "error", "request": "stack_request", "test_id": test_id,
            "reason": reason, "message": message}


class StackService:
    """Answers a stack request for one run: a ``stack`` frame or an ``error`` frame."""

    def __init__(self, log: EventLog, fetch: StackFetch) -> None:
        self.whereabouts = TestWhereabouts.of(log)
        self._fetch = fetch
        self.requests = 0

    async def stack(self, test_id: str) -> dict[str, Any]:
        self.requests += 1
        where = self.whereabouts.locate(test_id)
        if isinstance(where, str):
            return stack_error(test_id, where, {
                UNKNOWN: "no such test in this run",
                NOT_RUNNING: "the test has not started",
                FINISHED: "the test has finished",
            }[where])
        try:
            answer = await asyncio.wait_for(self._fetch(where), FETCH_TIMEOUT + 0.5)
        except StackUnavailable as exc:
            return stack_error(test_id, UNAVAILABLE, str(exc))
        except asyncio.TimeoutError:
            return stack_error(test_id, UNAVAILABLE,
                               f"worker {where.worker} did not answer in time")
        if "error" in answer:
            return stack_error(test_id, UNAVAILABLE, str(answer["error"])[:500])
        if answer.get("test_id") != test_id:
            # The process moved on between the log and the answer.
            return stack_error(test_id, FINISHED, "the test has finished")
        frame: dict[str, Any] = {
            "type": "stack", "test_id": test_id, "worker": where.worker,
            "taken_at": answer.get("taken_at"), "threads": answer.get("threads", []),
        }
        if where.shard is not None:
            frame["shard"] = where.shard
        return frame


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    data = bytearray()
    while len(data) <= MAX_ANSWER_BYTES:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def local_fetch(run_dir: Path | None) -> StackFetch:
    """The transport of a run's own server: the responders' sockets in its run folder."""

    async def fetch(test: RunningTest) -> dict[str, Any]:
        if run_dir is None:
            raise StackUnavailable("this server has no run folder to find the test's process in")
        path = responder_path(run_dir, test.worker)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path)), FETCH_TIMEOUT)
        except (FileNotFoundError, ConnectionRefusedError):
            raise StackUnavailable(
                f"worker {test.worker} has no stack responder (it has ended, or runs "
                "a pytest-jbrealtime without stacks)") from None
        except (OSError, asyncio.TimeoutError) as exc:
            raise StackUnavailable(f"cannot reach worker {test.worker}: {exc!r}") from None
        try:
            writer.write(b"stack\n")
            await writer.drain()
            data = await asyncio.wait_for(_read_to_end(reader), FETCH_TIMEOUT)
        except asyncio.TimeoutError:
            raise StackUnavailable(
                f"worker {test.worker} did not answer within {FETCH_TIMEOUT:g} s") from None
        except OSError as exc:
            raise StackUnavailable(f"lost worker {test.worker}: {exc!r}") from None
        finally:
            writer.close()
        try:
            answer = json.loads(data)
        except ValueError:
            raise StackUnavailable(f"worker {test.worker} answered nothing readable") from None
        if not isinstance(answer, dict):
            raise StackUnavailable(f"worker {test.worker} answered nothing readable")
        return answer

    return fetch


def stack_endpoint(
    service_of: Callable[[Request], Awaitable[StackService | None] | StackService | None],
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """``GET …/api/stack?test_id=ID`` (behind the viewer token like every route): the
    ``stack`` frame, or the ``error`` one with 400/404/409/503."""

    from starlette.responses import JSONResponse

    async def endpoint(request: Request) -> JSONResponse:
        test_id = request.query_params.get("test_id")
        if not test_id:
            return JSONResponse({"type": "error", "request": "stack_request",
                                 "message": "test_id is required"}, status_code=400)
        found = service_of(request)
        service = await found if inspect.isawaitable(found) else found
        if service is None:
            return JSONResponse(stack_error(test_id, UNKNOWN, "no such run"), status_code=404)
        reply = await service.stack(test_id)
        status = 200 if reply["type"] == "stack" else REASON_STATUS[reply["reason"]]
        return JSONResponse(reply, status_code=status)

    return endpoint
