"""Messages that are not events (no ``seq``), as TypedDicts, per connection.

docs/protocol.md, "Messages that are not events" (viewer <-> server), "Producer
connection (worker -> server)" and "Producer connection (pytest -> hub)". Each
connection's frames are listed in a ``*_FRAMES`` dict: type name -> TypedDict.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pytest_jbrealtime.protocol.events import Verdict

# -- server -> viewer ---------------------------------------------------------------------


class Hello(TypedDict):
    type: str
    run_id: str
    client_id: str
    protocol: int
    version: str  # the serving pytest-jbrealtime's
    log_length: int


class Viewers(TypedDict):
    type: str
    count: int


class Reset(TypedDict):
    type: str
    run_id: str
    reason: str


class Pong(TypedDict):
    type: str
    id: Any
    log_length: int


class _ErrorOptional(TypedDict, total=False):
    received_type: str
    # The refusal of a stack_request:
    request: str
    test_id: str
    reason: str


class Error(_ErrorOptional):
    type: str
    message: str


class _StackOptional(TypedDict, total=False):
    pid: int
    shard: str  # on a hub


class Stack(_StackOptional):
    """The answer to a ``stack_request`` (docs/protocol.md, "Stacks on demand")."""

    type: str
    test_id: str
    worker: str
    taken_at: str
    threads: list[dict[str, Any]]


class Batch(TypedDict):
    type: str
    count: int
    messages: list[dict[str, Any]]


# -- viewer -> server ---------------------------------------------------------------------


class Subscribe(TypedDict):
    type: str
    group: str


class Resume(TypedDict):
    type: str
    run_id: str
    last_seq: int


class Ping(TypedDict, total=False):
    type: str
    id: Any


class ViewerAck(TypedDict):
    type: str
    seq: int


class StackRequest(TypedDict):
    type: str
    test_id: str


SERVER_TO_VIEWER: dict[str, type] = {
    "hello": Hello, "viewers": Viewers, "reset": Reset, "pong": Pong, "error": Error,
    "batch": Batch, "stack": Stack,
}
VIEWER_TO_SERVER: dict[str, type] = {
    "subscribe": Subscribe, "unsubscribe": Subscribe, "resume": Resume, "ping": Ping,
    "ack": ViewerAck, "stack_request": StackRequest,
}

# -- xdist worker <-> run server (server/producers.py, producer_client.py) ----------------


class WorkerPublish(TypedDict):
    type: str
    id: int
    events: list[dict[str, Any]]
    after: dict[str, list[int]]  # test_id -> [attempt, phases]


class WorkerAck(TypedDict):
    type: str
    id: int


WORKER_PRODUCER_FRAMES: dict[str, type] = {
    "publish": WorkerPublish, "ack": WorkerAck, "error": Error,
}

# -- pytest <-> hub (pytest_side/hub_producer.py, hub/intake.py) ------------------------------


class Join(TypedDict):
    type: str
    run_id: str
    shard: str
    producer: str
    shards: int
    run_info: dict[str, Any]


class Joined(TypedDict):
    type: str
    run_id: str
    shard: str
    last: int


class HubPublish(TypedDict):
    type: str
    run_id: str
    first: int
    events: list[dict[str, Any]]


class _HubAckOptional(TypedDict, total=False):
    # test_id -> the hub's verdict, for each test_completed of the acknowledged frame
    # its history judged: the producer's CI outputs use them (outputs.py).
    verdicts: dict[str, Verdict]


class HubAck(_HubAckOptional):
    type: str
    run_id: str
    last: int


class RunViewers(TypedDict):
    type: str
    run_id: str
    count: int


class ScreenshotHeader(TypedDict):
    """The JSON line before the PNG in a binary screenshot frame."""

    type: str
    run_id: str
    screenshot_id: str


class HubStackRequest(TypedDict):
    type: str
    id: int
    worker: str


class HubStack(TypedDict):
    type: str
    id: int
    answer: dict[str, Any]  # the worker's stacks, or {"error": …}


HUB_PRODUCER_FRAMES: dict[str, type] = {
    "join": Join, "joined": Joined, "publish": HubPublish, "ack": HubAck, "error": Error,
    "viewers": RunViewers, "screenshot": ScreenshotHeader, "stack_request": HubStackRequest,
    "stack": HubStack,
}

FRAME_TYPES = frozenset(
    {*SERVER_TO_VIEWER, *VIEWER_TO_SERVER, *WORKER_PRODUCER_FRAMES, *HUB_PRODUCER_FRAMES}
)
