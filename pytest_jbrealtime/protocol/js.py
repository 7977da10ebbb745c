"""Writes ``viewer/protocol.js``, the viewer's copy of this package.

``python -m pytest_jbrealtime.protocol.js > viewer/protocol.js`` (or ``--write``,
which finds the checkout's ``viewer/`` itself). ``tests/test_protocol.py`` fails when
the file in the tree differs from what this prints, so the two cannot drift.

Every name in the output is unique across the viewer's modules: the HTML report
concatenates them into one script (report.py), where a name declared twice is an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_jbrealtime.protocol import RESERVED_TYPES, constants, events, frames

VIEWER_FILE = Path(__file__).resolve().parents[2] / "viewer" / "protocol.js"

# The same rules as nodeid.split_node_id, written in JS (tests/test_protocol.py runs
# both over the same Hypothesis-generated ids).
SPLIT_NODE_ID_JS = """\
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
"""


def _fields(typed: type) -> list[str]:
    keys: frozenset[str] = typed.__required_keys__ | typed.__optional_keys__  # type: ignore[attr-defined]
    return sorted(keys)


def _const(name: str, value: object) -> str:
    """``export const NAME = …;``: a frozenset becomes a Set, lists and dicts are frozen."""
    if isinstance(value, frozenset):
        return f"export const {name} = new Set({json.dumps(sorted(value), ensure_ascii=False)});"
    # Dicts one entry a line: helpers adding event types then touch separate lines.
    indent = 2 if isinstance(value, dict) else None
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if isinstance(value, (list, dict)):
        text = f"Object.freeze({text})"
    return f"export const {name} = {text};"


def render() -> str:
    event_types = list(events.EVENT_TYPES)
    lines = [
        "// GENERATED from pytest_jbrealtime/protocol/ by",
        "// `python -m pytest_jbrealtime.protocol.js --write`. Do not edit: change the Python",
        "// package and regenerate (tests/test_protocol.py fails while this file is stale).",
        "",
        _const("PROTOCOL_VERSION", constants.PROTOCOL_VERSION),
        "",
        "// A test's phases, in order, and where each one's window of its progress bar starts.",
        _const("PHASES", list(constants.PHASES)),
        _const("PHASE_PROGRESS", constants.PHASE_PROGRESS),
        "",
        "// test_completed.result; the failures among them; session_finished.counts' keys.",
        _const("RESULTS", list(constants.RESULTS)),
        _const("FAILURE_RESULTS", constants.FAILURE_RESULTS),
        _const("COUNT_KEYS", list(constants.COUNT_KEYS)),
        "// test_completed.history.verdict's values (verdicts.py decides which).",
        _const("VERDICTS", list(events.VERDICTS)),
        "",
        "// Event types: EVENT.TEST_STARTED === 'test_started', and each one's payload fields.",
        _const("EVENT", {name.upper(): name for name in event_types}),
        _const("EVENT_TYPES", event_types),
        _const("EVENT_FIELDS", {
            name: _fields(typed) for name, typed in events.EVENT_TYPES.items()
        }),
        _const("SYSTEM_MONITOR_TYPES", events.SYSTEM_MONITOR_TYPES),
        _const("WORKER_TYPES", events.WORKER_TYPES),
        "",
        "// Messages that are not events, and every name a custom event may not take.",
        _const("FRAME_TYPES", frames.FRAME_TYPES),
        _const("RESERVED_TYPES", RESERVED_TYPES),
        "",
        "// Viewer groups.",
        _const("GROUP_GENERAL", constants.GROUP_GENERAL),
        _const("GROUP_SYSTEM_MONITOR", constants.GROUP_SYSTEM_MONITOR),
        _const("TEST_GROUP_PREFIX", constants.TEST_GROUP_PREFIX),
        "",
        "// WebSocket close codes (docs/protocol.md).",
        _const("CLOSE", {code.name: code.value for code in constants.CloseCode}),
        "",
        SPLIT_NODE_ID_JS,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args == ["--write"]:
        VIEWER_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {VIEWER_FILE}")
    elif not args:
        sys.stdout.write(text)
    else:
        print("usage: python -m pytest_jbrealtime.protocol.js [--write]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
