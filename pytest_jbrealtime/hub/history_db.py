"""The hub's history database: the SQL, blocking, on SQLite or PostgreSQL.

SQLite in the hub's data folder by default; PostgreSQL with ``serve --history-url
postgresql://…`` (psycopg 3), so that several hubs on one Redis share one history.
The schema is versioned (``MIGRATIONS``, applied in order, the version kept in
``jb_live_schema``). One connection, one lock; ``history.HubHistory`` calls it from
the hub's event loop in a thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_jbrealtime.protocol.events import PastResult
from pytest_jbrealtime.shared.verdicts import (
    FAILING,
    SLOWER_FACTOR,
    SLOWER_MARGIN,
    WORKING,
)

# Results per test handed to the verdict (as the local history keeps, history.py).
KEEP_RESULTS = 20
# The verdict looks at the results of this many latest finished runs of the branch.
RECENT_RUNS = 40

# Each entry one schema version: statements run in one transaction, in order.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE runs ("
        " run_id TEXT PRIMARY KEY, project TEXT NOT NULL, branch TEXT NOT NULL,"
        " started DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION,"
        " duration DOUBLE PRECISION, exit_status INTEGER, status TEXT,"
        " total INTEGER, passed INTEGER, failed INTEGER, new_failures INTEGER,"
        " counts TEXT)",
        "CREATE INDEX runs_by_label ON runs (project, branch, finished)",
        "CREATE TABLE results ("
        " run_id TEXT NOT NULL, test_id TEXT NOT NULL, result TEXT NOT NULL,"
        " duration DOUBLE PRECISION NOT NULL, verdict TEXT,"
        " PRIMARY KEY (run_id, test_id))",
        "CREATE INDEX results_by_test ON results (test_id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)




class HistoryDatabase:
    """The history's tables, through one DB-API connection (sqlite3 or psycopg)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self._lock = threading.Lock()
        self._connection: Any = None

    @staticmethod
    def for_data_dir(data_dir: Path) -> HistoryDatabase:
        return HistoryDatabase(f"sqlite:///{data_dir.resolve() / 'history.sqlite3'}")

    # -- connection and schema -------------------------------------------------------

    def open(self) -> None:
        if self.postgres:
            import psycopg

            self._connection = psycopg.connect(self.url, autocommit=False)
        else:
            path = Path(urlsplit(self.url).path) if self.url.startswith("sqlite:") else None
            if path is None:
                raise ValueError(f"history URL must be sqlite:///PATH or postgresql://…: "
                                 f"{self.url!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._connection.execute("PRAGMA journal_mode=WAL")
        self.migrate()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def _execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cursor = self._connection.cursor()
            try:
                cursor.execute(self._sql(statement), params)
                rows = cursor.fetchall() if cursor.description else []
                self._connection.commit()
                return list(rows)
            except Exception:
                self._connection.rollback()
                raise
            finally:
                cursor.close()

    def _execute_many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            cursor = self._connection.cursor()
            try:
                cursor.executemany(self._sql(statement), list(rows))
                self._connection.commit()
            except Exception:
                self._connection.rollback()
                raise
            finally:
                cursor.close()

    def schema_version(self) -> int:
        rows = self._execute("SELECT version FROM jb_live_schema")
        return int(rows[0][0]) if rows else 0

    def migrate(self) -> None:
        """Bring the schema to ``SCHEMA_VERSION``, one version per transaction.

        Several hubs may start at once on one PostgreSQL: an advisory lock makes one of
        them migrate while the others wait, then find nothing to do.
        """
        with self._lock:
            cursor = self._connection.cursor()
            try:
                if self.postgres:
                    cursor.execute("SELECT pg_advisory_xact_lock(7120020)")
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("CREATE TABLE IF NOT EXISTS jb_live_schema (version INTEGER)")
                cursor.execute("SELECT version FROM jb_live_schema")
                row = cursor.fetchone()
                version = int(row[0]) if row else 0
                if row is None:
                    cursor.execute("INSERT INTO jb_live_schema (version) VALUES (0)")
                if version > SCHEMA_VERSION:
                    raise RuntimeError(f"the history database has schema version {version}, "
                                       f"newer than this hub's {SCHEMA_VERSION}")
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number]:
                        cursor.execute(statement)
                    cursor.execute(self._sql("UPDATE jb_live_schema SET version = ?"),
                                   (number + 1,))
                self._connection.commit()
            except Exception:
                self._connection.rollback()
                raise
            finally:
                cursor.close()

    # -- writing ------------------------------------------------------------------------

    def start_run(self, run_id: str, project: str, branch: str, started: float) -> None:
        self._execute(
            "INSERT INTO runs (run_id, project, branch, started) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id) DO NOTHING", (run_id, project, branch, started))

    def add_results(self, run_id: str, rows: Sequence[tuple[str, str, float, str | None]]) -> None:
        self._execute_many(
            "INSERT INTO results (run_id, test_id, result, duration, verdict) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, test_id) DO UPDATE SET "
            "result = excluded.result, duration = excluded.duration, verdict = excluded.verdict",
            [(run_id, *row) for row in rows])

    def finish_run(self, run_id: str, finished: float, end: dict[str, Any]) -> None:
        counts = end.get("counts") if isinstance(end.get("counts"), dict) else {}
        assert isinstance(counts, dict)
        failed = int(counts.get("failed", 0) or 0) + int(counts.get("error", 0) or 0)
        new = self._execute("SELECT COUNT(*) FROM results WHERE run_id = ? AND verdict = ?",
                            (run_id, "new_failure"))[0][0]
        self._execute(
            "UPDATE runs SET finished = ?, duration = ?, exit_status = ?, status = ?, "
            "total = ?, passed = ?, failed = ?, new_failures = ?, counts = ? WHERE run_id = ?",
            (finished, as_number(end.get("duration")), end.get("exit_status"),
             end.get("status", "finished"), as_number(end.get("total")),
             int(counts.get("passed", 0) or 0), failed, int(new), json.dumps(counts), run_id))

    def prune(self, keep_runs: int, keep_days: float, now: float | None = None) -> int:
        """Forget runs older than ``keep_days`` and beyond the newest ``keep_runs`` of each
        project and branch; how many runs went."""
        oldest = (time.time() if now is None else now) - keep_days * 86400
        doomed = {r[0] for r in self._execute(
            "SELECT run_id FROM runs WHERE started < ?", (oldest,))}
        labels = self._execute("SELECT DISTINCT project, branch FROM runs")
        # SQLite needs a LIMIT before an OFFSET (-1: none); PostgreSQL takes OFFSET alone.
        beyond = "OFFSET ?" if self.postgres else "LIMIT -1 OFFSET ?"
        for project, branch in labels:
            doomed.update(r[0] for r in self._execute(
                "SELECT run_id FROM runs WHERE project = ? AND branch = ? "
                f"ORDER BY started DESC {beyond}", (project, branch, keep_runs)))
        if doomed:
            ids = [(run_id,) for run_id in doomed]
            self._execute_many("DELETE FROM results WHERE run_id = ?", ids)
            self._execute_many("DELETE FROM runs WHERE run_id = ?", ids)
        return len(doomed)

    # -- reading ------------------------------------------------------------------------

    def recent(self, project: str, branch: str, exclude_run: str) -> dict[str, list[PastResult]]:
        """Each test's results in the latest finished runs of the branch, newest first."""
        rows = self._execute(
            "SELECT r.test_id, r.result, r.duration FROM results r "
            "JOIN runs u ON u.run_id = r.run_id WHERE u.run_id IN ("
            " SELECT run_id FROM runs WHERE project = ? AND branch = ? AND run_id <> ?"
            " AND finished IS NOT NULL ORDER BY finished DESC LIMIT ?) "
            "ORDER BY u.finished DESC", (project, branch, exclude_run, RECENT_RUNS))
        recent: dict[str, list[PastResult]] = {}
        for test_id, result, duration in rows:
            past = recent.setdefault(test_id, [])
            if len(past) < KEEP_RESULTS:
                past.append({"result": result, "duration": float(duration)})
        return recent

    def runs(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._execute(
            "SELECT run_id, project, branch, started, finished, duration, exit_status, "
            "status, total, passed, failed, new_failures FROM runs "
            "ORDER BY started DESC LIMIT ?", (limit,))
        return [_run_row(row) for row in rows]

    def trend(self, project: str, branch: str, limit: int = 30) -> list[dict[str, Any]]:
        """The latest finished runs of a project and branch, oldest first."""
        rows = self._execute(
            "SELECT run_id, project, branch, started, finished, duration, exit_status, "
            "status, total, passed, failed, new_failures FROM runs "
            "WHERE project = ? AND branch = ? AND finished IS NOT NULL "
            "ORDER BY finished DESC LIMIT ?", (project, branch, limit))
        return [_run_row(row) for row in reversed(rows)]

    def test_history(
        self, project: str, branch: str, test_id: str, limit: int = KEEP_RESULTS
    ) -> list[dict[str, Any]]:
        rows = self._execute(
            "SELECT r.run_id, u.started, r.result, r.duration, r.verdict FROM results r "
            "JOIN runs u ON u.run_id = r.run_id WHERE u.project = ? AND u.branch = ? "
            "AND r.test_id = ? ORDER BY u.started DESC LIMIT ?",
            (project, branch, test_id, limit))
        return [{"run_id": run_id, "started": started, "result": result,
                 "duration": duration, "verdict": verdict}
                for run_id, started, result, duration, verdict in rows]

    def compare(self, run_id: str) -> dict[str, Any] | None:
        """This run against the previous finished run of its project and branch."""
        found = self._execute("SELECT project, branch, started FROM runs WHERE run_id = ?",
                              (run_id,))
        if not found:
            return None
        project, branch, started = found[0]
        previous = self._execute(
            "SELECT run_id FROM runs WHERE project = ? AND branch = ? AND started < ? "
            "AND finished IS NOT NULL ORDER BY started DESC LIMIT 1",
            (project, branch, started))
        now = self._results_of(run_id)
        before = self._results_of(previous[0][0]) if previous else {}
        return {"run_id": run_id, "previous_run_id": previous[0][0] if previous else None,
                "project": project, "branch": branch, **compare_results(now, before)}

    def _results_of(self, run_id: str) -> dict[str, tuple[str, float]]:
        rows = self._execute("SELECT test_id, result, duration FROM results WHERE run_id = ?",
                             (run_id,))
        return {test_id: (result, float(duration)) for test_id, result, duration in rows}


def compare_results(
    now: dict[str, tuple[str, float]], before: dict[str, tuple[str, float]]
) -> dict[str, list[dict[str, Any]]]:
    """What changed between two runs' results ({test_id: (result, duration)})."""
    changes: dict[str, list[dict[str, Any]]] = {
        "new_failures": [], "fixed": [], "slower": [], "new_tests": [], "removed_tests": []}
    for test_id, (result, duration) in sorted(now.items()):
        old = before.get(test_id)
        entry = {"test_id": test_id, "result": result, "duration": duration,
                 "previous_result": old[0] if old else None,
                 "previous_duration": old[1] if old else None}
        if old is None:
            changes["new_tests"].append(entry)
        if result in FAILING and (old is None or old[0] not in FAILING):
            changes["new_failures"].append(entry)
        elif old is not None and result in WORKING and old[0] in FAILING:
            changes["fixed"].append(entry)
        elif (old is not None and result == "passed" and old[0] == "passed"
              and duration >= SLOWER_FACTOR * old[1] and duration - old[1] >= SLOWER_MARGIN):
            changes["slower"].append(entry)
    changes["removed_tests"] = [
        {"test_id": test_id, "previous_result": result, "previous_duration": duration}
        for test_id, (result, duration) in sorted(before.items()) if test_id not in now]
    return changes


def as_number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _run_row(row: Sequence[Any]) -> dict[str, Any]:
    (run_id, project, branch, started, finished, duration, exit_status, status, total,
     passed, failed, new_failures) = row
    ran = (passed or 0) + (failed or 0)
    return {"run_id": run_id, "project": project, "branch": branch, "started": started,
            "finished": finished, "duration": duration, "exit_status": exit_status,
            "status": status, "total": total, "passed": passed, "failed": failed,
            "new_failures": new_failures,
            "pass_rate": round(passed / ran, 4) if ran and passed is not None else None}
