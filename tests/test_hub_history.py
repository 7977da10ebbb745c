"""The hub's history (pytest_jbrealtime/hub/history.py), on SQLite and on a real PostgreSQL.

Whole runs: a real hub, real pytest shards without a cache (``-p no:cacheprovider``, as
on a CI machine), the issue's story run three times, the hub restarted in between; the
verdicts viewers receive come from the hub's database. The database layer's own rules
(migrations, retention, comparison) are tested on both databases with the same body.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.hub.history_db import SCHEMA_VERSION, HistoryDatabase, compare_results
from tests.history_support import STORY, SUITE
from tests.hub_support import HUB_SECRET, HubProcess, Shard, base_env
from tests.postgres_support import PostgresServer, postgres  # noqa: F401 (fixture)
from tests.support import watch_sync

LABELS = ("--jb-live-project", "shop", "--jb-live-branch", "main")
FILE = "test_story.py"
# A test only the third run has, one only the first two have: new and removed tests.
EXTRA = """
from pathlib import Path

RUN = int(Path(__file__).with_name("run.txt").read_text())

if RUN == 3:
    def test_added():
        pass
else:
    def test_removed():
        pass
"""


@pytest.fixture(params=["sqlite", "postgres"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def database(history_url: str) -> Iterator[HistoryDatabase]:
    db = HistoryDatabase(history_url)
    db.open()
    yield db
    db.close()


# -- the database layer ----------------------------------------------------------------


def test_schema_is_versioned_and_migrating_again_is_a_no_op(history_url: str) -> None:
    first = HistoryDatabase(history_url)
    first.open()
    assert first.schema_version() == SCHEMA_VERSION
    first.start_run("r1", "p", "b", 1.0)
    first.close()
    again = HistoryDatabase(history_url)
    again.open()  # migrates nothing, keeps the data
    assert again.schema_version() == SCHEMA_VERSION
    assert [r["run_id"] for r in again.runs()] == ["r1"]
    again.close()


def _finished_run(db: HistoryDatabase, run_id: str, started: float,
                  results: dict[str, tuple[str, float]], branch: str = "main") -> None:
    db.start_run(run_id, "shop", branch, started)
    db.add_results(run_id, [(t, r, d, None) for t, (r, d) in results.items()])
    passed = sum(1 for r, _ in results.values() if r == "passed")
    db.finish_run(run_id, started + 1, {"duration": 1.0, "exit_status": 0,
                                        "total": len(results),
                                        "counts": {"passed": passed,
                                                   "failed": len(results) - passed}})


def test_recent_results_per_branch_newest_first(database: HistoryDatabase) -> None:
    _finished_run(database, "r1", 100.0, {"t::a": ("passed", 0.1)})
    _finished_run(database, "r2", 200.0, {"t::a": ("failed", 0.2), "t::b": ("passed", 1.0)})
    _finished_run(database, "other", 300.0, {"t::a": ("error", 0.3)}, branch="feature")
    database.start_run("running", "shop", "main", 400.0)  # not finished: not history yet
    database.add_results("running", [("t::a", "skipped", 0.0, None)])
    recent = database.recent("shop", "main", exclude_run="r3")
    assert recent == {"t::a": [{"result": "failed", "duration": 0.2},
                               {"result": "passed", "duration": 0.1}],
                      "t::b": [{"result": "passed", "duration": 1.0}]}
    assert database.recent("shop", "main", exclude_run="r2")["t::a"] == [
        {"result": "passed", "duration": 0.1}]
    trend = database.trend("shop", "main")
    assert [(r["run_id"], r["passed"], r["failed"], r["pass_rate"]) for r in trend] == [
        ("r1", 1, 0, 1.0), ("r2", 1, 1, 0.5)]


def test_retention_by_run_count_and_by_age(database: HistoryDatabase) -> None:
    now = time.time()
    for number in range(5):
        _finished_run(database, f"r{number}", now - 1000 + number, {"t::a": ("passed", 0.1)})
    _finished_run(database, "ancient", now - 40 * 86400, {"t::a": ("passed", 0.1)},
                  branch="old")
    assert database.prune(keep_runs=3, keep_days=30, now=now) == 3
    assert sorted(r["run_id"] for r in database.runs()) == ["r2", "r3", "r4"]
    assert database.test_history("shop", "main", "t::a") == [
        {"run_id": f"r{n}", "started": pytest.approx(now - 1000 + n), "result": "passed",
         "duration": 0.1, "verdict": None} for n in (4, 3, 2)]
    assert database.test_history("shop", "old", "t::a") == []


def test_compare_results() -> None:
    before = {"a": ("passed", 0.1), "b": ("failed", 0.1), "c": ("passed", 0.2),
              "gone": ("passed", 0.1), "still": ("failed", 0.1)}
    now = {"a": ("failed", 0.1), "b": ("passed", 0.1), "c": ("passed", 1.0),
           "fresh": ("failed", 0.1), "still": ("failed", 0.1)}
    changes = compare_results(now, before)
    names = {kind: [e["test_id"] for e in entries] for kind, entries in changes.items()}
    assert names == {"new_failures": ["a", "fresh"], "fixed": ["b"], "slower": ["c"],
                     "new_tests": ["fresh"], "removed_tests": ["gone"]}


# -- whole runs through a hub ------------------------------------------------------------


def story_run(hub: HubProcess, directory: Path, run: int, running: list[Any]) -> dict[str, Any]:
    """Run the story's run ``run`` through the hub; each test's history as viewers got it."""
    (directory / "run.txt").write_text(str(run))
    shard = Shard(directory, hub.url, *LABELS, run_id=f"story-{run}")
    running.append(shard)
    assert shard.wait() == 1, shard.text
    watched = watch_sync(hub.viewer_url(f"story-{run}"), until_type="session_finished")
    return {e["test_id"].rpartition("::")[2]: e["history"]
            for e in watched.of_type("test_completed")}


def test_three_runs_get_the_hubs_verdicts_and_survive_a_restart(
    pytester: pytest.Pytester, tmp_path: Path, history_url: str, running: list[Any]
) -> None:
    pytester.makepyfile(test_story=SUITE, test_extra=EXTRA)
    start_hub: Callable[[], HubProcess] = lambda: HubProcess(  # noqa: E731
        tmp_path / "hub", 0, None, "--history-url", history_url)
    hub = start_hub()
    running.append(hub)
    runs = [story_run(hub, pytester.path, 1, running)]
    hub.stop()
    hub = start_hub()  # the history is in the database, not in the hub's memory
    running.append(hub)
    runs += [story_run(hub, pytester.path, run, running) for run in (2, 3)]

    for name, expected in STORY.items():
        assert [run[name]["verdict"] for run in runs] == expected, name
    assert runs[2]["test_added"]["verdict"] == "new_test"
    flips = runs[2]["test_flips"]["recent"]
    assert [p["result"] for p in flips] == ["failed", "passed"]

    # The run list: duration, pass rate, new failures, labels.
    listed = hub.runs()["story-3"]["history"]
    assert (listed["project"], listed["branch"]) == ("shop", "main")
    assert listed["new_failures"] == 1 and listed["failed"] == 2 and listed["passed"] == 5
    assert listed["pass_rate"] == pytest.approx(5 / 7, abs=1e-3)
    assert listed["duration"] > 0

    history = hub.get_json(f"/api/history?project=shop&branch=main&test_id={FILE}::test_flips")
    assert [r["result"] for r in history["results"]] == ["passed", "failed", "passed"]
    assert [r["run_id"] for r in history["results"]] == ["story-3", "story-2", "story-1"]
    assert history["results"][0]["verdict"] == "flaky"
    trend = hub.get_json("/api/trend?project=shop&branch=main")["runs"]
    assert [(r["run_id"], r["failed"]) for r in trend] == [
        ("story-1", 2), ("story-2", 3), ("story-3", 2)]
    compared = hub.get_json("/api/compare?run_id=story-3")
    assert compared["previous_run_id"] == "story-2"
    names = {kind: [e["test_id"].rpartition("::")[2] for e in compared[kind]]
             for kind in ("new_failures", "fixed", "slower", "new_tests", "removed_tests")}
    assert names == {"new_failures": ["test_starts_failing"],
                     "fixed": ["test_fixed", "test_flips"], "slower": ["test_slows_down"],
                     "new_tests": ["test_added"], "removed_tests": ["test_removed"]}


def test_a_hub_refuses_an_unreachable_history_database(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_jbrealtime", "serve", "--port", "0", "--data",
         str(tmp_path / "hub"), "--history-url",
         "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"],
        capture_output=True, text=True, timeout=60, env=base_env(JB_LIVE_SECRET=HUB_SECRET),
        check=False)
    assert done.returncode == 2
    assert "error: cannot open the history database 127.0.0.1:1/none" in done.stdout


# -- the intake's side, in process -------------------------------------------------------


def _completed(test_id: str, result: str, duration: float = 0.1) -> dict[str, Any]:
    return {"type": "test_completed", "test_id": test_id, "result": result,
            "duration": duration, "history": {"verdict": "from-the-producer"}}


def test_hub_history_judges_keeps_and_survives_a_broken_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from pytest_jbrealtime.hub import history as hub_history

    async def scenario() -> None:
        history = hub_history.HubHistory(HistoryDatabase(f"sqlite:///{tmp_path / 'h.db'}"))
        await history.start()
        info = {"project": "p", "branch": "b"}
        await history.joined("r1", info)
        first = [_completed("t::a", "passed"), _completed("t::b", "rerun"),
                 _completed("t::b", "passed")]
        await history.judge("r1", first)
        assert [e["history"] and e["history"]["verdict"] for e in first] == [
            "new_test", None, "new_test"]
        await history.finished("r1", {"counts": {"passed": 2}, "duration": 1.0})
        await history.joined("r2", info)
        second = [_completed("t::a", "failed"), _completed("t::b", "rerun"),
                  _completed("t::b", "passed")]
        # The verdicts given go back to the producer with the frame's ack (intake.py).
        assert await history.judge("r2", second) == {"t::a": "new_failure", "t::b": "flaky"}
        assert second[0]["history"]["verdict"] == "new_failure"
        assert second[2]["history"]["verdict"] == "flaky"  # passed on a rerun
        # A judge whose run ended on another hub leaves memory once idle.
        monkeypatch.setattr(hub_history, "IDLE_JUDGE_SECONDS", -1.0)
        await history.joined("r3", info)
        assert history.judged_runs == 1
        # The database gone: events keep the producer's verdict, nothing raises.
        history.database.close()
        third = [_completed("t::a", "passed")]
        assert await history.judge("r3", third) == {}
        assert third[0]["history"] == {"verdict": "from-the-producer"}

    asyncio.run(scenario())
