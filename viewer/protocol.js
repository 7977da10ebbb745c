// GENERATED from pytest_jbrealtime/protocol/ by
// `python -m pytest_jbrealtime.protocol.js --write`. Do not edit: change the Python
// package and regenerate (tests/test_protocol.py fails while this file is stale).

export const PROTOCOL_VERSION = 1;

// A test's phases, in order, and where each one's window of its progress bar starts.
export const PHASES = Object.freeze(["setup", "call", "teardown"]);
export const PHASE_PROGRESS = Object.freeze({
  "setup": 0.0,
  "call": 33.3,
  "teardown": 66.7
});

// test_completed.result; the failures among them; session_finished.counts' keys.
export const RESULTS = Object.freeze(["passed", "failed", "error", "skipped", "xfailed", "xpassed", "rerun", "crashed"]);
export const FAILURE_RESULTS = new Set(["crashed", "error", "failed"]);
export const COUNT_KEYS = Object.freeze(["passed", "failed", "error", "skipped", "xfailed", "xpassed", "subtests passed", "subtests failed"]);
// test_completed.history.verdict's values (verdicts.py decides which).
export const VERDICTS = Object.freeze(["new_test", "new_failure", "known_failure", "fixed", "flaky", "slower", "stable"]);

// Event types: EVENT.TEST_STARTED === 'test_started', and each one's payload fields.
export const EVENT = Object.freeze({
  "SESSION_STARTED": "session_started",
  "COLLECTION_FINISHED": "collection_finished",
  "COLLECTION_PART": "collection_part",
  "TEST_STARTED": "test_started",
  "TEST_PROGRESS": "test_progress",
  "TEST_COMPLETED": "test_completed",
  "SESSION_FINISHED": "session_finished",
  "BROWSER_ACTION": "browser_action",
  "PAGE_LOADED": "page_loaded",
  "SCREENSHOT_CAPTURED": "screenshot_captured",
  "LOG_RECORD": "log_record",
  "CUSTOM": "custom",
  "WARNING": "warning",
  "PYTEST_WARNING": "pytest_warning",
  "SYSTEM_STATUS": "system_status",
  "RESOURCE_ALERT": "resource_alert",
  "WORKER_STARTED": "worker_started",
  "WORKER_FINISHED": "worker_finished",
  "WORKER_CRASHED": "worker_crashed",
  "SHARD_JOINED": "shard_joined",
  "SHARD_FINISHED": "shard_finished",
  "SHARD_RESUMED": "shard_resumed",
  "TEST_STALLED": "test_stalled",
  "TEST_INTERRUPTED": "test_interrupted"
});
export const EVENT_TYPES = Object.freeze(["session_started", "collection_finished", "collection_part", "test_started", "test_progress", "test_completed", "session_finished", "browser_action", "page_loaded", "screenshot_captured", "log_record", "custom", "warning", "pytest_warning", "system_status", "resource_alert", "worker_started", "worker_finished", "worker_crashed", "shard_joined", "shard_finished", "shard_resumed", "test_stalled", "test_interrupted"]);
export const EVENT_FIELDS = Object.freeze({
  "session_started": [
    "args",
    "editor_url",
    "host",
    "invocation_dir",
    "pid",
    "rootdir",
    "start_time",
    "versions"
  ],
  "collection_finished": [
    "errors",
    "parts",
    "tests",
    "total"
  ],
  "collection_part": [
    "part",
    "parts",
    "tests"
  ],
  "test_started": [
    "estimated_duration",
    "file",
    "test_id",
    "test_name"
  ],
  "test_progress": [
    "depth",
    "error",
    "expected_steps",
    "kind",
    "parent_index",
    "progress_percentage",
    "status",
    "step_index",
    "step_name",
    "test_id"
  ],
  "test_completed": [
    "categories",
    "cpu_seconds",
    "duration",
    "history",
    "longrepr",
    "phases",
    "result",
    "rss_growth",
    "sections",
    "subtests",
    "summary",
    "test_id"
  ],
  "session_finished": [
    "counts",
    "duration",
    "exit_status",
    "missing_shards",
    "reason",
    "shards",
    "status",
    "total",
    "vanished_shards"
  ],
  "browser_action": [
    "action",
    "cleared",
    "element",
    "error_type",
    "message",
    "script",
    "test_id",
    "text",
    "typed_characters",
    "url"
  ],
  "page_loaded": [
    "load_time",
    "test_id",
    "url"
  ],
  "screenshot_captured": [
    "bytes",
    "capture_ms",
    "name",
    "reason",
    "screenshot_id",
    "screenshot_url",
    "test_id"
  ],
  "log_record": [
    "level",
    "logger",
    "message",
    "test_id"
  ],
  "custom": [
    "data",
    "name",
    "test_id"
  ],
  "warning": [
    "message",
    "source",
    "test_id"
  ],
  "pytest_warning": [
    "category",
    "filename",
    "lineno",
    "message",
    "test_id",
    "when"
  ],
  "system_status": [
    "active_tests",
    "cpu_usage",
    "disk_free",
    "disk_path",
    "disk_usage",
    "interval",
    "memory_usage",
    "open_files",
    "process_count",
    "process_cpu",
    "process_rss",
    "queue_size",
    "sampler_errors"
  ],
  "resource_alert": [
    "alert_type",
    "message",
    "severity",
    "state",
    "threshold",
    "value"
  ],
  "worker_started": [
    "python"
  ],
  "worker_finished": [
    "dropped_events"
  ],
  "worker_crashed": [
    "error",
    "exit_code",
    "signal",
    "test_id"
  ],
  "shard_joined": [
    "expected_shards",
    "producer",
    "run_info",
    "shard"
  ],
  "shard_finished": [
    "counts",
    "duration",
    "exit_status",
    "missing_shards",
    "reason",
    "shard",
    "shard_seq",
    "shards",
    "status",
    "total",
    "vanished_shards"
  ],
  "shard_resumed": [
    "shard"
  ],
  "test_stalled": [
    "running_for",
    "stack_error",
    "taken_at",
    "test_id",
    "threads",
    "threshold",
    "worker"
  ],
  "test_interrupted": [
    "reason",
    "stack_note",
    "taken_at",
    "test_id",
    "threads"
  ]
});
export const SYSTEM_MONITOR_TYPES = new Set(["resource_alert", "system_status"]);
export const WORKER_TYPES = new Set(["worker_crashed", "worker_finished", "worker_started"]);

// Messages that are not events, and every name a custom event may not take.
export const FRAME_TYPES = new Set(["ack", "batch", "error", "hello", "join", "joined", "ping", "pong", "publish", "reset", "resume", "screenshot", "stack", "stack_request", "subscribe", "unsubscribe", "viewers"]);
export const RESERVED_TYPES = new Set(["ack", "batch", "browser_action", "collection_finished", "collection_part", "custom", "error", "hello", "join", "joined", "log_record", "page_loaded", "ping", "pong", "publish", "pytest_warning", "reset", "resource_alert", "resume", "screenshot", "screenshot_captured", "session_finished", "session_started", "shard_finished", "shard_joined", "shard_resumed", "stack", "stack_request", "subscribe", "system_status", "test_completed", "test_interrupted", "test_progress", "test_stalled", "test_started", "unsubscribe", "viewers", "warning", "worker_crashed", "worker_finished", "worker_started"]);

// Viewer groups.
export const GROUP_GENERAL = "general";
export const GROUP_SYSTEM_MONITOR = "system_monitor";
export const TEST_GROUP_PREFIX = "test_";

// WebSocket close codes (docs/protocol.md).
export const CLOSE = Object.freeze({
  "RUN_COMPLETE": 1000,
  "GOING_AWAY": 1001,
  "POLICY": 1008,
  "TOO_BIG": 1009,
  "PING_TIMEOUT": 1011,
  "RUN_LOST": 1012,
  "TRY_LATER": 1013,
  "BAD_TOKEN": 4001,
  "NOT_YOURS": 4003,
  "UNKNOWN_RUN": 4004,
  "TOO_SLOW": 4008,
  "REPLACED": 4009
});

/**
 * Split a pytest node id `FILE::[CLASS::…]NAME[PARAMS]` (nodeid.py's rules): the file is
 * everything before the first `::`; the parameter id, from the first `[` after it, may hold
 * `::` itself. `cls` is the innermost class, `classes` all of them (outermost first).
 */
export function splitNodeId(testId) {
  const sep = testId.indexOf('::');
  if (sep === -1) return { file: testId, classes: [], cls: null, name: testId };
  const file = testId.slice(0, sep);
  const rest = testId.slice(sep + 2);
  const bracket = rest.indexOf('[');
  const head = bracket === -1 ? rest : rest.slice(0, bracket);
  const params = bracket === -1 ? '' : rest.slice(bracket);
  const parts = head.split('::');
  const classes = parts.slice(0, -1);
  const cls = classes.length ? classes[classes.length - 1] : null;
  return { file, classes, cls, name: parts[parts.length - 1] + params };
}

/** Whether a test's result (or the viewer's status of it) counts as a failure. */
export function isFailureResult(result) {
  return FAILURE_RESULTS.has(result);
}
