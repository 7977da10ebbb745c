"""Event timestamps: ISO 8601, UTC, milliseconds, ``Z``.

Its own module because pytest's side needs it (``session_started``) and the log
(``log.py``) brings asyncio with it. The server stamps every event, so the text up to
the second is kept for the second it was made for (events come in bursts): about
1 µs a stamp instead of 5.
"""

from __future__ import annotations

import math

from pytest_jbrealtime.shared.unpatched import clock

# (second, its text): one tuple, replaced whole, so a reader in another thread never
# pairs one second with another's text.
_cached: tuple[int, str] = (-1, "")


def iso_timestamp(epoch_seconds: float) -> str:
    global _cached
    # Rounded to the microsecond first, as datetime.fromtimestamp does, then cut.
    fraction, whole = math.modf(epoch_seconds)
    micros = round(fraction * 1e6)
    second = int(whole)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    millis = micros // 1000
    cached_second, prefix = _cached
    if second != cached_second:
        prefix = clock.strftime("%Y-%m-%dT%H:%M:%S", clock.gmtime(second))
        _cached = (second, prefix)
    return f"{prefix}.{millis:03d}Z"
