"""Every event type and its fields, as TypedDicts (docs/protocol.md, "Event types").

Each TypedDict is an event's *payload*: the fields the code that publishes it builds.
``EventPublisher.publish(type, payload)`` adds ``type``, ``ts`` and ``worker``; the
log then stamps ``seq``, ``run_id`` and ``timestamp`` (``Stamped``). ``EVENT_TYPES``
maps every type name to its payload; it is what ``RESERVED_TYPES`` and the viewer's
``EVENT`` names are made from.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypedDict

from pytest_jbrealtime.protocol.constants import PHASE_PROGRESS, PHASES


class Stamped(TypedDict):
    """The fields every event in a log carries (the log's and the publisher's)."""

    type: str
    seq: int
    run_id: str
    timestamp: str
    worker: str


class HubStamped(Stamped):
    """What a hub adds to every event a pytest process published."""

    shard: str
    shard_seq: int


class _OfTest(TypedDict, total=False):
    test_id: str  # the test running when it happened; absent outside a test


# -- the session and its tests (session.py, xdist_controller.py) ---------------------------


class Versions(TypedDict):
    python: str
    pytest: str
    pytest_jbrealtime: str


class SessionStarted(TypedDict):
    args: list[str]
    rootdir: str
    invocation_dir: str  # where pytest was started: traceback paths are relative to it
    editor_url: str | None  # the --jb-live-editor link template
    start_time: str
    host: str
    pid: int
    versions: Versions


class CollectedTest(TypedDict):
    test_id: str
    file: str
    cls: str | None
    name: str
    markers: list[str]


class CollectionError(TypedDict):
    test_id: str
    file: str
    longrepr: str


class CollectionFinished(TypedDict):
    total: int
    tests: list[CollectedTest]  # the first part (collection.py): all of them when parts is 1
    errors: list[CollectionError]
    parts: int  # this event and the collection_part events after it


class CollectionPart(TypedDict):
    part: int  # 2, 3, … of parts
    parts: int
    tests: list[CollectedTest]


class TestStarted(TypedDict):
    test_id: str
    test_name: str
    file: str
    estimated_duration: float | None


class _TestProgressOptional(TypedDict, total=False):
    kind: str  # "user" (a step) or "progress" (jb_live.progress); phases have none
    depth: int
    parent_index: int | None
    expected_steps: int | None
    error: str


class TestProgress(_TestProgressOptional):
    test_id: str
    step_index: int
    step_name: str | None  # None: a jb_live.progress without a name
    progress_percentage: float
    status: str  # "running", then "passed" / "failed" for a user step's end


def phase_progress(test_id: str, phase: str) -> TestProgress:
    """The ``test_progress`` of a phase beginning (serially, or from xdist's reports)."""
    return {
        "test_id": test_id,
        "step_index": PHASES.index(phase) + 1,
        "step_name": phase,
        "progress_percentage": PHASE_PROGRESS[phase],
        "status": "running",
    }


class Section(TypedDict):
    name: str
    content: str


class Subtest(TypedDict):
    description: str
    result: str
    duration: float
    longrepr: str | None


# ``test_completed.history``: what earlier runs say about this result (verdicts.py).
Verdict = Literal[
    "new_test", "new_failure", "known_failure", "fixed", "flaky", "slower", "stable"
]
VERDICTS: tuple[Verdict, ...] = (
    "new_test", "new_failure", "known_failure", "fixed", "flaky", "slower", "stable"
)


class PastResult(TypedDict):
    """One earlier run of a test."""

    result: str
    duration: float


class HistoryInfo(TypedDict):
    """``test_completed.history`` (docs/protocol.md)."""

    verdict: Verdict
    recent: list[PastResult]
    median_duration: float | None


class _TestCompletedOptional(TypedDict, total=False):
    history: HistoryInfo | None  # None: no history kept (no cache), or a rerun attempt
    # What the test cost the process that ran it (resources.py): CPU seconds (user +
    # system) and resident memory growth in bytes (may be negative).
    cpu_seconds: float | None
    rss_growth: int | None


class TestCompleted(_TestCompletedOptional):
    test_id: str
    result: str  # one of RESULTS
    duration: float
    summary: str
    longrepr: str | None
    sections: list[Section]
    phases: dict[str, str]
    subtests: list[Subtest]
    categories: list[str]  # what pytest's summary line counts for the test's own reports


class _SessionFinishedOptional(TypedDict, total=False):
    # Only in the hub's session_finished (hub/runstate.py):
    shards: dict[str, dict[str, Any]]  # each shard's own session_finished fields
    status: str  # "interrupted"
    vanished_shards: list[str]
    missing_shards: int
    reason: str


class SessionFinished(_SessionFinishedOptional):
    exit_status: int
    duration: float
    total: int
    counts: dict[str, int]  # every COUNT_KEYS key, zeros included


# -- from inside tests (steps.py, live_driver.py, screenshots.py) ---------------------------


class BrowserActionDetails(TypedDict, total=False):
    """What some actions add (docs/protocol.md, "Browser events")."""

    typed_characters: int | None  # change_value
    cleared: bool
    text: str  # only with --jb-live-show-typed-text
    script: str  # execute_script
    error_type: str  # exception
    message: str


class _BrowserActionOptional(_OfTest, BrowserActionDetails, total=False):
    pass


class BrowserAction(_BrowserActionOptional):
    action: str
    element: str | None
    url: str | None


class PageLoaded(_OfTest):
    url: str
    load_time: float | None


class ScreenshotCaptured(_OfTest):
    screenshot_id: str
    screenshot_url: str
    name: str
    reason: str  # "manual", "failure" or "action"
    bytes: int
    capture_ms: float


class LogRecord(_OfTest):
    level: str
    logger: str
    message: str


class Custom(_OfTest):
    name: str
    data: Any


class PluginWarning(_OfTest):
    source: str
    message: str


class PytestWarning(TypedDict):
    """A warning pytest recorded (``pytest_warning_recorded``)."""

    test_id: str | None
    category: str
    message: str
    filename: str
    lineno: int
    when: str  # "config", "collect" or "runtest"


# -- the server's monitor (monitor.py) -----------------------------------------------------


class MachineSample(TypedDict):
    """One sample of the machine and the pytest process tree (server/sampler.py)."""

    cpu_usage: float | None
    memory_usage: float | None
    process_count: int
    process_cpu: float | None
    process_rss: int | None
    open_files: int | None
    disk_path: str | None
    disk_free: int | None
    disk_usage: float | None


class SystemStatus(MachineSample):
    active_tests: int
    queue_size: int
    interval: float
    sampler_errors: int


class ResourceAlert(TypedDict):
    alert_type: str  # "high_cpu", "high_memory", "disk_space"
    severity: str  # "warning", "critical"
    state: str  # "raised", "resolved"
    message: str
    value: float
    threshold: float


# -- pytest-xdist workers (xdist_controller.py) -----------------------------------------------


class WorkerStarted(TypedDict):
    python: str | None


class WorkerFinished(TypedDict):
    dropped_events: int


class _WorkerCrashedOptional(_OfTest, total=False):
    signal: str  # the signal that ended the worker ("SIGKILL"), when one did
    exit_code: int  # or the status it exited with (pytest-timeout's os._exit: 1)


class WorkerCrashed(_WorkerCrashedOptional):
    error: str


# -- stall alerts (stalls.py; the threads as in a ``stack`` frame, frames.py) ---------------


class _TestStalledOptional(TypedDict, total=False):
    taken_at: str | None
    stack_error: str  # why ``threads`` is empty


class TestStalled(_TestStalledOptional):
    test_id: str
    worker: str
    running_for: float
    threshold: float
    threads: list[dict[str, Any]]


class _TestInterruptedOptional(TypedDict, total=False):
    # Why there is no stack from the moment it ended (SIGKILL, os._exit), and which
    # one ``threads`` holds instead (its last stall alert's, taken at ``taken_at``).
    stack_note: str
    taken_at: str | None


class TestInterrupted(_TestInterruptedOptional):
    """The run ended mid-test (last_words.py): the stacks when it did."""

    test_id: str
    # "KeyboardInterrupt", "terminated (SIGTERM)", "worker crashed (SIGTERM)",
    # "pytest-timeout (thread method, N s)"
    reason: str
    threads: list[dict[str, Any]]


# -- a hub's runs (hub/backends, hub/runstate.py) --------------------------------------------


class ShardJoined(TypedDict):
    shard: str
    producer: str
    expected_shards: int
    run_info: dict[str, Any]


class ShardFinished(SessionFinished):
    shard: str
    shard_seq: int


class ShardResumed(TypedDict):
    shard: str


# Any event's payload: what ``EventPublisher.publish`` and the server's and hub's own
# events take, so that mypy checks each against its type's fields.
EventPayload: TypeAlias = (
    SessionStarted | CollectionFinished | CollectionPart | TestStarted | TestProgress
    | TestCompleted | SessionFinished | BrowserAction | PageLoaded | ScreenshotCaptured
    | LogRecord | Custom | PluginWarning | PytestWarning | SystemStatus | ResourceAlert
    | WorkerStarted | WorkerFinished | WorkerCrashed | ShardJoined | ShardFinished
    | ShardResumed | TestStalled | TestInterrupted
)

def unstamped(event_type: str, payload: EventPayload) -> dict[str, Any]:
    """An event a server or hub makes itself, for its log to stamp: ``type``, then fields."""
    return {"type": event_type, **payload}


# Every event type and its payload. A new type goes here (and in docs/protocol.md);
# ``python -m pytest_jbrealtime.protocol.js`` then gives the viewer its name.
EVENT_TYPES: dict[str, type] = {
    "session_started": SessionStarted,
    "collection_finished": CollectionFinished,
    "collection_part": CollectionPart,
    "test_started": TestStarted,
    "test_progress": TestProgress,
    "test_completed": TestCompleted,
    "session_finished": SessionFinished,
    "browser_action": BrowserAction,
    "page_loaded": PageLoaded,
    "screenshot_captured": ScreenshotCaptured,
    "log_record": LogRecord,
    "custom": Custom,
    "warning": PluginWarning,
    "pytest_warning": PytestWarning,
    "system_status": SystemStatus,
    "resource_alert": ResourceAlert,
    "worker_started": WorkerStarted,
    "worker_finished": WorkerFinished,
    "worker_crashed": WorkerCrashed,
    "shard_joined": ShardJoined,
    "shard_finished": ShardFinished,
    "shard_resumed": ShardResumed,
    "test_stalled": TestStalled,
    "test_interrupted": TestInterrupted,
}

# Events a viewer in the ``system_monitor`` group receives.
SYSTEM_MONITOR_TYPES = frozenset({"system_status", "resource_alert"})
# Events a pytest-xdist worker's life produces (kept per worker by the viewer).
WORKER_TYPES = frozenset({"worker_started", "worker_finished", "worker_crashed"})
