"""Keep tokens out of the server's log (``run_dir/server.log``).

uvicorn logs request lines with their query string, and the viewer link carries its
token there. Every line the server process logs goes through :class:`RedactingFormatter`,
which blanks ``token=…`` and anything shaped like a JWT, tracebacks included; and
through :class:`RepeatFilter`, so that no flood grows the log without bound.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time

from pytest_jbrealtime.shared.channel import LOG_LEVEL_ENV

REDACTED = "[redacted]"
_TOKEN_PARAMETER = re.compile(r"(?i)(token=)[^&\s\"'<>]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    return _JWT.sub(REDACTED, _TOKEN_PARAMETER.sub(r"\1" + REDACTED, text))


class RepeatFilter(logging.Filter):
    """Lets at most ``burst`` identical lines through per ``window`` seconds.

    A flood repeats one line (``Too many open files`` grew a log by 133 MB in 30 s):
    the rest of the window is counted, and the next line let through says how many
    were left out. Distinct lines are remembered up to ``keys``.
    """

    def __init__(self, burst: int = 5, window: float = 10.0, keys: int = 1000) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.keys = keys
        self._seen: dict[tuple[str, int, str], list[float | int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the formatter's to report
            return True
        key = (record.name, record.levelno, text[:500])
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is None or now - seen[0] > self.window:
            left_out = int(seen[2]) if seen is not None else 0
            if seen is None and len(self._seen) >= self.keys:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = [now, 1, 0]
            if left_out:
                record.msg = f"{record.msg} [{left_out} more like this left out]"
            return True
        seen[1] = int(seen[1]) + 1
        if seen[1] <= self.burst:
            return True
        seen[2] = int(seen[2]) + 1
        return False


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def server_log_level() -> int:
    name = os.environ.get(LOG_LEVEL_ENV, "warning").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.WARNING


def configure_server_logging() -> int:
    """Route every logger of the server process through the redacting formatter."""
    level = server_log_level()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(level)
    return level
