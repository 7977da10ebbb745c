"""What a run id and a shard name may be: they end up in URLs, Redis keys and folders."""

from __future__ import annotations

import re

RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SHARD = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


def valid_run_id(run_id: object) -> bool:
    # "." and ".." match the pattern but name folders that are not the run's own.
    return isinstance(run_id, str) and bool(RUN_ID.match(run_id)) and run_id not in (".", "..")


def valid_shard(shard: object) -> bool:
    return isinstance(shard, str) and bool(SHARD.match(shard))
