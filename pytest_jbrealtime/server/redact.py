"""Keep tokens out of the server's log (``run_dir/server.log``).

uvicorn logs request lines with their query string, and the viewer link carries its
token there. Every line the server process logs goes through :class:`RedactingFormatter`,
which blanks ``token=…`` and anything shaped like a JWT, tracebacks included.
"""

from __future__ import annotations

import logging
import os
import re
import sys

# JB_LIVE_SERVER_LOG_LEVEL=info (or debug) makes the server log every request, for
# debugging; the default logs only warnings and errors.
LOG_LEVEL_ENV = "JB_LIVE_SERVER_LOG_LEVEL"
REDACTED = "[redacted]"
_TOKEN_PARAMETER = re.compile(r"(?i)(token=)[^&\s\"'<>]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    return _JWT.sub(REDACTED, _TOKEN_PARAMETER.sub(r"\1" + REDACTED, text))


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
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(level)
    return level
