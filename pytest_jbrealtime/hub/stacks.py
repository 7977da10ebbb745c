"""Stacks of a hub's running tests: asked of the shard's producer connection.

The hub has no way into a shard's machine but the producer WebSocket that shard's
pytest opened (``hub/intake.py``), so a stack request travels down it:

- hub -> producer: ``{"type": "stack_request", "id": N, "worker": W}``;
- producer -> hub: ``{"type": "stack", "id": N, "answer": {...}}``, the answer of the
  worker's responder (``stack_responder.py``), which the producer's thread asks on its
  own machine (:func:`answer_stack_request`).

Only the hub the shard is connected to can ask it; on a Redis hub pair a viewer of the
other hub gets ``unavailable``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_jbrealtime.server.stacks import FETCH_TIMEOUT, StackFetch, StackUnavailable
from pytest_jbrealtime.shared.stack_responder import ask_responder, responder_path
from pytest_jbrealtime.shared.stalls import RunningTest

WORKER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The producer asks its responder for at most this long (the hub waits a little more).
PRODUCER_ASK_TIMEOUT = 1.5

Send = Callable[[dict[str, Any]], Awaitable[None]]


class ShardStackRequests:
    """The hub's side: which connection serves each (run, shard), and answers awaited."""

    def __init__(self) -> None:
        self._senders: dict[tuple[str, str], Send] = {}
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def connected(self, joined: tuple[str, str], send: Send) -> None:
        self._senders[joined] = send

    def disconnected(self, joined: tuple[str, str], send: Send) -> None:
        if self._senders.get(joined) is send:
            del self._senders[joined]

    def answered(self, message: dict[str, Any]) -> None:
        """A producer's ``stack`` frame."""
        request_id, answer = message.get("id"), message.get("answer")
        future = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if future is not None and not future.done():
            future.set_result(answer if isinstance(answer, dict)
                              else {"error": "the producer answered nothing readable"})

    def fetch_for(self, run_id: str) -> StackFetch:
        async def fetch(test: RunningTest) -> dict[str, Any]:
            send = self._senders.get((run_id, test.shard or ""))
            if send is None:
                raise StackUnavailable(
                    f"shard {test.shard} is not connected to this hub (gone, or "
                    "connected to another hub of the same store)")
            request_id = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[request_id] = future
            try:
                await send({"type": "stack_request", "id": request_id, "worker": test.worker})
                return await asyncio.wait_for(future, FETCH_TIMEOUT)
            except asyncio.TimeoutError:
                raise StackUnavailable(
                    f"shard {test.shard} did not answer within {FETCH_TIMEOUT:g} s (a "
                    "pytest-jbrealtime without stacks, or a busy connection)") from None
            except Exception as exc:
                raise StackUnavailable(f"cannot ask shard {test.shard}: {exc!r}") from None
            finally:
                self._pending.pop(request_id, None)

        return fetch


def answer_stack_request(message: dict[str, Any], run_dir: Path | None) -> dict[str, Any]:
    """The producer's side (its thread): ask the named worker's responder, locally."""
    worker = message.get("worker")
    if not isinstance(worker, str) or not WORKER_NAME.match(worker):
        answer: dict[str, Any] = {"error": "stack_request needs a worker name"}
    elif run_dir is None:
        answer = {"error": "this producer has no run folder"}
    else:
        answer = ask_responder(responder_path(run_dir, worker), PRODUCER_ASK_TIMEOUT)
    return {"type": "stack", "id": message.get("id"), "answer": answer}
