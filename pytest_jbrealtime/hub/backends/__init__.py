"""Where the hub keeps run logs: one seam (``base.LogBackend``), two backends.

Chosen by URL scheme, with each backend's import inside its branch (encode/broadcaster's
way): no URL or ``memory://`` keeps logs in memory and in the data folder;
``redis://``, ``rediss://`` or ``unix://`` keeps them in Redis Streams, shared by every
hub on that Redis.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pytest_jbrealtime.hub.backends.base import LogBackend

REDIS_SCHEMES = ("redis", "rediss", "unix")


def backend_for_url(url: str | None, data_dir: Path | None, retention_seconds: float) -> LogBackend:
    scheme = urlsplit(url).scheme if url else "memory"
    if scheme == "memory":
        from pytest_jbrealtime.hub.backends.memory import MemoryBackend

        return MemoryBackend(data_dir, retention_seconds)
    if scheme in REDIS_SCHEMES:
        from pytest_jbrealtime.hub.backends.redis_streams import RedisBackend

        assert url is not None
        return RedisBackend(url, retention_seconds)
    raise ValueError(f"unknown log store {url!r}: expected redis://, rediss://, unix:// or memory://")
