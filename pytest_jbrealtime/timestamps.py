"""Event timestamps: ISO 8601, UTC, milliseconds, ``Z``.

Its own module because pytest's side needs it (``session_started``) and the log
(``log.py``) brings asyncio with it.
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso_timestamp(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
