"""Text the plugin carries: always encodable, and never longer than a limit.

Python strings may hold what UTF-8 cannot: lone surrogates (``os.fsdecode`` of a
file name that is not UTF-8, ``surrogateescape``), which a test's log records,
assertion messages and captured output pass on. Every transport of ours needs UTF-8
(a WebSocket text frame, the recording, the HTML report, the hub, Redis), so such
text is repaired once, where an event gets its JSON text: a surrogate pair becomes the
character it stands for, a lone surrogate becomes U+FFFD. Nothing else is touched, and
an event is never dropped for its text. Bytes (invalid UTF-8 from a plugin's report
section) are decoded with U+FFFD for what is not UTF-8. NUL is a character like any
other: JSON carries it as ``\\u0000``.

Over-long text (captured output, a traceback) keeps its end, the part nearest the
failure, and says how much of the beginning was cut (docs/protocol.md).
"""

from __future__ import annotations

import json
from typing import Any

try:  # orjson: about 9x faster than json's C encoder for an event (docs/benchmarks.md)
    import orjson
except ImportError:  # pragma: no cover - a platform without an orjson wheel
    orjson = None  # type: ignore[assignment]

# Bound now, not looked up per call: a test may patch json.loads (unpatched.py).
_json_loads = json.loads
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def is_encodable(text: str) -> bool:
    """Can ``text`` be encoded as UTF-8 (no lone surrogates)?"""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repaired(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if is_encodable(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def repaired_value(value: Any) -> Any:
    """A JSON-like value with every string in it (keys too) :func:`repaired`."""
    if isinstance(value, str):
        return repaired(value)
    if isinstance(value, dict):
        return {repaired(k) if isinstance(k, str) else k: repaired_value(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [repaired_value(v) for v in value]
    return value


def repaired_json(value: Any) -> tuple[Any, str]:
    """``value`` as compact JSON text that UTF-8 can carry, with the value that text
    stands for (``value`` itself, or a repaired copy when some text in it needed it).

    The one encoding each event gets, on a run's server, on the hub and in a
    recording. orjson does the common case; what it refuses (lone surrogates, integers
    over 64 bits) goes through json, repaired where UTF-8 cannot hold it. Both give
    the same values for what both accept, but for NaN and infinities (orjson: null,
    which is valid JSON), and the same text but for a float's exponent (``1e-7``).
    """
    if orjson is not None:
        try:
            return value, orjson.dumps(value, default=str,
                                       option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    text = _encoder.encode(value)
    if is_encodable(text):
        return value, text
    value = repaired_value(value)
    return value, _encoder.encode(value)


def json_value(text: str) -> Any:
    """The value of a JSON text this module wrote (orjson where it is, else json)."""
    if orjson is not None:
        return orjson.loads(text)
    return _json_loads(text)


def json_text(value: Any) -> str:
    """``value`` as compact JSON text that UTF-8 can carry (see :func:`repaired_json`)."""
    return repaired_json(value)[1]


def as_text(value: object) -> str:
    """What a report gave as text: bytes decoded (U+FFFD where not UTF-8), else str()."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def cut_marker(cut: int) -> str:
    return f"[… {cut} characters cut from the start; the end is kept]\n"


def keep_end(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its last ``limit`` characters
    (from a line start where one is near) after a line saying how much was cut."""
    if len(text) <= limit:
        return text
    start = len(text) - limit
    # Begin at a whole line when one starts soon after the cut (within 1/16 of the limit).
    newline = text.find("\n", start, start + max(limit // 16, 1))
    if newline != -1:
        start = newline + 1
    return cut_marker(start) + text[start:]


def short_error(exc: BaseException, limit: int = 300) -> str:
    """An exception in one short line, for a warning: a ``UnicodeError``'s repr holds the
    whole text it failed on (kilobytes of JSON), its reason is what a user needs."""
    if isinstance(exc, UnicodeError):
        reason = getattr(exc, "reason", "")
        start = getattr(exc, "start", None)
        where = f" at position {start}" if isinstance(start, int) else ""
        text = f"{type(exc).__name__}: {reason}{where}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = repaired(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut shown (a warning, a summary line)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
