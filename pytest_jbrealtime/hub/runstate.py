"""What a run's log says about the run: its shards, counts, marks and whether it ended.

Everything here is a fold over the run's events, so any hub can rebuild it from the
log alone (after a restart, from the data folder; from Redis; or to put a lost Redis
stream back). The memory backend decides with it; the Redis backend keeps the same
fields in a hash (``to_meta``/``from_meta``) that its Lua scripts update atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pytest_jbrealtime.protocol.events import SessionFinished, unstamped

# The result of a test that ran again at once (pytest-rerunfailures): not a test's end.
NOT_A_RESULT = frozenset({"rerun"})
# pytest's ExitCode.INTERRUPTED: the exit status of a run that a shard left unfinished.
INTERRUPTED = 2


@dataclass
class ShardState:
    """One producer that joined the run (a pytest process: a CI shard, a machine)."""

    producer: str
    finished: bool = False
    # pytest's own end of this shard (its session_finished): exit status, counts …
    summary: dict[str, Any] | None = None
    total: int = 0


def shard_summary(event: dict[str, Any]) -> dict[str, Any]:
    """What a shard's end contributes to the run's end."""
    counts = event.get("counts")
    return {
        "exit_status": event.get("exit_status"),
        "duration": event.get("duration"),
        "total": event.get("total"),
        "counts": dict(counts) if isinstance(counts, dict) else {},
    }


def merged_exit_status(statuses: list[int]) -> int:
    """The run's exit status from its shards': the worst failure; 5 (no tests) only if all."""
    failures = [s for s in statuses if s not in (0, 5)]
    if failures:
        return max(failures)
    if statuses and all(s == 5 for s in statuses):
        return 5
    return 0


def interrupted_session_finished(
    summaries: dict[str, dict[str, Any]], vanished: list[str], missing: int, timeout: float
) -> dict[str, Any]:
    """The run's ``session_finished`` when shards went away without finishing.

    Counts and totals are the finished shards' (plus nothing of the vanished ones: their
    results so far are in the log); the exit status is at least 2 (interrupted).
    """
    merged = _merged_fields(summaries)
    statuses = [merged["exit_status"], INTERRUPTED] if summaries else [INTERRUPTED]
    gone = [f"shard {name}" for name in vanished]
    if missing:
        gone.append(f"{missing} shard(s) that never joined")
    finished: SessionFinished = {
        **merged,
        "exit_status": merged_exit_status(statuses),
        "status": "interrupted",
        "vanished_shards": list(vanished),
        "missing_shards": missing,
        "reason": f"no producer for {timeout:g} s: {', '.join(gone)}",
    }
    return unstamped("session_finished", finished)


def merged_session_finished(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's one ``session_finished``, once every shard has ended."""
    return unstamped("session_finished", _merged_fields(summaries))


def _merged_fields(summaries: dict[str, dict[str, Any]]) -> SessionFinished:
    """The shards' ``session_finished`` fields as the run's: counts summed, the longest
    duration, the worst exit status."""
    counts: dict[str, int] = {}
    total = 0
    statuses: list[int] = []
    duration = 0.0
    for summary in summaries.values():
        for name, value in (summary.get("counts") or {}).items():
            if isinstance(value, int):
                counts[name] = counts.get(name, 0) + value
        if isinstance(summary.get("total"), int):
            total += summary["total"]
        if isinstance(summary.get("exit_status"), int):
            statuses.append(summary["exit_status"])
        if isinstance(summary.get("duration"), (int, float)):
            # Shards run side by side: the run took as long as its longest shard.
            duration = max(duration, float(summary["duration"]))
    return {
        "exit_status": merged_exit_status(statuses),
        "duration": round(duration, 6),
        "total": total,
        "counts": counts,
        "shards": summaries,
    }


@dataclass
class RunState:
    run_id: str
    seq: int = 0
    created: str | None = None
    updated: str | None = None
    shards: dict[str, ShardState] = field(default_factory=dict)
    # Per shard: the highest ``shard_seq`` in the log (what the hub already has).
    marks: dict[str, int] = field(default_factory=dict)
    # Tests completed so far, by result (live counts, until the run ends).
    counts: dict[str, int] = field(default_factory=dict)
    ended: bool = False
    # Shards the run waits for (``--jb-live-shards``), besides every one that joined.
    expected_shards: int = 0
    final_counts: dict[str, int] | None = None
    final_total: int | None = None
    exit_status: int | None = None
    # The run ended because shards went away without finishing (``--shard-timeout``).
    interrupted: bool = False

    def fold(self, event: dict[str, Any]) -> None:
        seq = event.get("seq")
        if isinstance(seq, int):
            self.seq = max(self.seq, seq)
        stamp = event.get("timestamp")
        if isinstance(stamp, str):
            self.created = self.created or stamp
            self.updated = max(self.updated or stamp, stamp)
        shard = event.get("shard")
        shard_seq = event.get("shard_seq")
        if isinstance(shard, str) and isinstance(shard_seq, int):
            self.marks[shard] = max(self.marks.get(shard, 0), shard_seq)
        kind = event.get("type")
        if kind == "shard_joined" and isinstance(shard, str):
            self.shards[shard] = ShardState(producer=str(event.get("producer", "")))
            self.ended = self.interrupted = False  # a shard joining an ended run opens it again
            expected = event.get("expected_shards")
            if isinstance(expected, int) and not isinstance(expected, bool):
                self.expected_shards = max(self.expected_shards, expected)
        elif kind == "collection_finished" and isinstance(shard, str) and shard in self.shards:
            total = event.get("total")
            self.shards[shard].total = total if isinstance(total, int) else 0
        elif kind == "test_completed":
            result = event.get("result")
            if isinstance(result, str) and result not in NOT_A_RESULT:
                self.counts[result] = self.counts.get(result, 0) + 1
        elif kind == "shard_finished" and isinstance(shard, str) and shard in self.shards:
            self.shards[shard].finished = True
            self.shards[shard].summary = shard_summary(event)
        elif kind == "shard_resumed":
            # A shard the hub had given up on came back: the run is open again.
            self.ended = self.interrupted = False
        elif kind == "session_finished":
            self.ended = True
            self.interrupted = event.get("status") == "interrupted"
            counts = event.get("counts")
            self.final_counts = dict(counts) if isinstance(counts, dict) else None
            status = event.get("exit_status")
            self.exit_status = status if isinstance(status, int) else None
            total = event.get("total")
            self.final_total = total if isinstance(total, int) else None

    @property
    def all_shards_finished(self) -> bool:
        return (
            bool(self.shards)
            and len(self.shards) >= self.expected_shards
            and all(s.finished for s in self.shards.values())
        )

    @property
    def status(self) -> str:
        if not self.ended:
            return "live"
        return "interrupted" if self.interrupted else "finished"

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {name: s.summary for name, s in self.shards.items() if s.summary is not None}

    def listing(self, viewers: int = 0) -> dict[str, Any]:
        """The run as the hub's home page lists it."""
        finished_shards = sum(1 for s in self.shards.values() if s.finished)
        # Shards run side by side: the run took as long as its longest finished shard.
        summaries = [s.summary for s in self.shards.values() if s.summary is not None]
        durations = [float(summary["duration"]) for summary in summaries
                     if isinstance(summary.get("duration"), (int, float))]
        return {
            "run_id": self.run_id,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "events": self.seq,
            # pytest's own counts once the run has ended; those so far until then.
            "counts": dict(self.final_counts if self.final_counts is not None else self.counts),
            "total": (self.final_total if self.ended and self.final_total is not None
                      else sum(s.total for s in self.shards.values())),
            "exit_status": self.exit_status,
            "shards": len(self.shards),
            "expected_shards": self.expected_shards,
            "shards_finished": finished_shards,
            "viewers": viewers,
            "duration": max(durations) if durations else None,
        }

    # -- the Redis hash of the same state -------------------------------------------------

    def to_meta(self) -> dict[str, str]:
        meta = {
            "seq": str(self.seq),
            "created": self.created or "",
            "updated": self.updated or "",
            "joined": str(len(self.shards)),
            "finished": str(sum(1 for s in self.shards.values() if s.finished)),
            "ended": "1" if self.ended else "0",
            "expected": str(self.expected_shards),
            "status": "interrupted" if self.interrupted else "",
        }
        for name, shard in self.shards.items():
            meta[f"n:{name}"] = shard.producer
            meta[f"t:{name}"] = str(shard.total)
            if shard.summary is not None:
                meta[f"f:{name}"] = json.dumps(shard.summary)
        for name, mark in self.marks.items():
            meta[f"m:{name}"] = str(mark)
        for result, count in self.counts.items():
            meta[f"c:{result}"] = str(count)
        return meta

    @classmethod
    def from_meta(cls, run_id: str, meta: dict[str, str]) -> RunState:
        state = cls(run_id=run_id, seq=int(meta.get("seq") or 0),
                    created=meta.get("created") or None, updated=meta.get("updated") or None,
                    ended=meta.get("ended") == "1",
                    interrupted=meta.get("ended") == "1" and meta.get("status") == "interrupted",
                    expected_shards=int(meta.get("expected") or 0))
        for key, value in meta.items():
            kind, _, name = key.partition(":")
            if not name:
                continue
            if kind == "n":
                state.shards.setdefault(name, ShardState(producer=value)).producer = value
            elif kind == "m":
                state.marks[name] = int(value)
            elif kind == "c" and name not in NOT_A_RESULT:
                state.counts[name] = int(value)
        for key, value in meta.items():
            kind, _, name = key.partition(":")
            if kind == "t" and name in state.shards:
                state.shards[name].total = int(value or 0)
            elif kind == "f" and name in state.shards:
                state.shards[name].finished = True
                state.shards[name].summary = json.loads(value)
        if state.ended:
            merged = merged_session_finished(state.summaries())
            state.final_counts = merged["counts"]
            state.exit_status = merged["exit_status"]
            if state.interrupted:
                state.exit_status = merged_exit_status(
                    [merged["exit_status"], INTERRUPTED] if state.summaries() else [INTERRUPTED])
            state.final_total = merged["total"]
        return state
