"""A run's life on the hub, end to end: shards that vanish (``serve --shard-timeout``),
producers waiting for viewers (``--jb-live-wait-viewers``), finished runs leaving the
hub's memory (``serve --keep-finished``). Real hubs, real pytest shards, real viewers,
a real redis-server for the Redis backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.hub_support import HubProcess, Shard, wait_for_event
from tests.redis_support import RedisServer, redis_server_fixture  # noqa: F401
from tests.support import watch_sync
from tests.test_hub import SUITE_A, SUITE_B, assert_whole_log, held_suite, results_by_test
from tests.test_hub_redis import watch_sync_in_thread


def wait_until(condition: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def redis_url_for(store: str, request: pytest.FixtureRequest) -> str | None:
    if store != "redis":
        return None
    request.applymarker(pytest.mark.redis)
    url: str = request.getfixturevalue("redis_server").url
    return url


def wait_for_hold(hub: HubProcess, run_id: str) -> None:
    wait_for_event(hub.viewer_url(run_id),
                   lambda e: e["type"] == "test_started" and e["test_id"].endswith("test_hold"))


def two_suites(tmp_path: Path) -> tuple[Path, Path]:
    """A quick suite, and one held at ``test_hold`` until its gate file exists."""
    quick = tmp_path / "quick"
    quick.mkdir()
    (quick / "test_a.py").write_text(SUITE_A)
    gate = held_suite(tmp_path / "held")
    return quick, gate


# -- shards that vanish ------------------------------------------------------------------


def test_a_killed_shard_ends_its_run_as_interrupted(tmp_path: Path, running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "data", 0, None, "--shard-timeout", "1.5")
    running.append(hub)
    quick, gate = two_suites(tmp_path)
    held = Shard(gate.parent, hub.url, "--jb-live-shards", "2", run_id="dies",
                 env={"JB_LIVE_SHARD": "held", "JB_TEST_GATE": str(gate)})
    running.append(held)
    wait_for_hold(hub, "dies")
    viewer = watch_sync_in_thread(hub.viewer_url("dies", "live"))
    done = Shard(quick, hub.url, "--jb-live-shards", "2", run_id="dies",
                 env={"JB_LIVE_SHARD": "quick"})
    running.append(done)
    assert done.wait() == 1
    # The held shard stays connected far longer than the timeout: still live.
    time.sleep(3.5)
    assert hub.runs()["dies"]["status"] == "live"
    held.process.kill()  # SIGKILL: no session_finished, no goodbye
    killed_at = time.monotonic()
    watched = viewer.result(timeout=60)
    ended_after = time.monotonic() - killed_at

    assert watched.close_code == 1000  # viewers see the run end
    assert 1.0 < ended_after < 20
    assert_whole_log(watched)
    finished = watched.of_type("session_finished")
    assert len(finished) == 1 and watched.events[-1] == finished[0]
    end = finished[0]
    assert end["status"] == "interrupted"
    assert end["vanished_shards"] == ["held"] and end["missing_shards"] == 0
    assert end["exit_status"] == 2
    assert "shard held" in end["reason"]
    assert end["counts"] == done.counts()  # the finished shard's own end
    assert "held" not in end["shards"]
    # What the killed shard did get published is kept.
    assert results_by_test(watched)["test_held.py::test_before"] == "passed"
    listed = hub.runs()["dies"]
    assert listed["status"] == "interrupted" and listed["exit_status"] == 2
    # The history keeps it as interrupted, with what did finish.
    assert listed["history"]["status"] == "interrupted"
    assert listed["history"]["passed"] == done.counts()["passed"]
    assert (listed["shards"], listed["shards_finished"]) == (2, 1)
    # It survives a restart as it ended.
    hub.stop()
    hub.start()
    assert hub.runs()["dies"] == {**listed, "loaded": False}
    assert watch_sync(hub.viewer_url("dies")).events == watched.events


def test_a_run_waiting_for_a_shard_that_never_joins_is_interrupted(
    tmp_path: Path, running: list[Any]
) -> None:
    hub = HubProcess(tmp_path / "data", 0, None, "--shard-timeout", "1")
    running.append(hub)
    quick, _ = two_suites(tmp_path)
    shard = Shard(quick, hub.url, "--jb-live-shards", "3", run_id="missing",
                  env={"JB_LIVE_SHARD": "only"})
    running.append(shard)
    assert shard.wait() == 1
    watched = watch_sync(hub.viewer_url("missing"))  # until the run ends
    end = watched.of_type("session_finished")[0]
    assert end["status"] == "interrupted"
    assert (end["vanished_shards"], end["missing_shards"]) == ([], 2)
    assert "2 shard(s) that never joined" in end["reason"]
    assert end["counts"] == shard.counts()


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_hub_down_longer_than_the_timeout_does_not_end_a_run_its_shard_resends(
    tmp_path: Path, running: list[Any], store: str, request: pytest.FixtureRequest
) -> None:
    hub = HubProcess(tmp_path / "data", 0, redis_url_for(store, request), "--shard-timeout", "1.5")
    running.append(hub)
    gate = held_suite(tmp_path / "held")
    shard = Shard(gate.parent, hub.url, "--jb-live-hub-wait", "120", run_id="resent",
                  env={"JB_TEST_GATE": str(gate)})
    running.append(shard)
    wait_for_hold(hub, "resent")
    hub.kill()
    time.sleep(3)  # longer than the timeout: the shard's producer is away all that time
    hub.start()  # same port and data: the shard reconnects and sends its spool
    time.sleep(12)  # past the hub's startup grace (10 s) and the timeout: it checks again
    assert hub.runs()["resent"]["status"] == "live"
    gate.touch()
    assert shard.wait() == 1
    watched = watch_sync(hub.viewer_url("resent"))
    assert_whole_log(watched)
    end = watched.of_type("session_finished")
    assert len(end) == 1 and "status" not in end[0]
    assert end[0]["counts"] == shard.counts()
    assert hub.runs()["resent"]["status"] == "finished"


@pytest.mark.redis
def test_redis_a_shard_on_hub_b_is_alive_for_hub_a_and_its_death_is_seen(
    tmp_path: Path, redis_server: RedisServer, running: list[Any]
) -> None:
    import redis

    hub_a = HubProcess(tmp_path / "a", 0, redis_server.url, "--shard-timeout", "1.5")
    hub_b = HubProcess(tmp_path / "b", 0, redis_server.url, "--shard-timeout", "1.5")
    running += [hub_a, hub_b]
    quick, gate = two_suites(tmp_path)
    held = Shard(gate.parent, hub_b.url, "--jb-live-shards", "2", run_id="across-dies",
                 env={"JB_LIVE_SHARD": "held", "JB_TEST_GATE": str(gate)})
    running.append(held)
    wait_for_hold(hub_a, "across-dies")
    viewer = watch_sync_in_thread(hub_a.viewer_url("across-dies", "on-a"))
    done = Shard(quick, hub_a.url, "--jb-live-shards", "2", run_id="across-dies",
                 env={"JB_LIVE_SHARD": "quick"})
    running.append(done)
    assert done.wait() == 1
    # Hub A never sees the held shard's producer, yet keeps the run live: hub B vouches.
    time.sleep(4)
    assert hub_a.runs()["across-dies"]["status"] == "live"
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ttl("jblive:run:{across-dies}:meta") == -1  # live: no expiry
        held.process.kill()
        watched = viewer.result(timeout=60)
        end = watched.of_type("session_finished")
        assert len(end) == 1 and end[0]["status"] == "interrupted"
        assert end[0]["vanished_shards"] == ["held"]
        assert_whole_log(watched)
        for hub in (hub_a, hub_b):
            listed = hub.runs()["across-dies"]
            assert listed["status"] == "interrupted" and listed["exit_status"] == 2
        # Ended: retention applies now.
        assert client.ttl("jblive:run:{across-dies}:meta") > 0
        assert client.ttl("jblive:run:{across-dies}:log") > 0
        assert not client.sismember("jblive:live", "across-dies")
    finally:
        client.close()


@pytest.mark.redis
def test_redis_a_shard_reconnecting_within_the_timeout_is_not_ended(
    tmp_path: Path, redis_server: RedisServer, running: list[Any]
) -> None:
    hub_a = HubProcess(tmp_path / "a", 0, redis_server.url, "--shard-timeout", "8")
    hub_b = HubProcess(tmp_path / "b", 0, redis_server.url, "--shard-timeout", "8")
    running += [hub_a, hub_b]
    gate = held_suite(tmp_path / "held")
    shard = Shard(gate.parent, hub_b.url, "--jb-live-hub-wait", "120", run_id="comes-back",
                  env={"JB_TEST_GATE": str(gate)})
    running.append(shard)
    wait_for_hold(hub_a, "comes-back")
    hub_b.kill()  # the shard's producer is gone; hub A keeps checking on the run
    time.sleep(1)
    hub_b.start()  # same port: the shard reconnects within the timeout
    time.sleep(2)
    assert hub_a.runs()["comes-back"]["status"] == "live"
    gate.touch()
    assert shard.wait() == 1
    assert "WARNING" not in shard.text
    watched = watch_sync(hub_a.viewer_url("comes-back"))
    end = watched.of_type("session_finished")
    assert len(end) == 1 and "status" not in end[0]
    assert end[0]["counts"] == shard.counts()
    assert hub_a.runs()["comes-back"]["status"] == "finished"


# -- producers waiting for viewers -------------------------------------------------------


def test_wait_viewers_holds_a_hub_run_until_a_viewer_watches(tmp_path: Path,
                                                            running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "data", 0)
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_b.py").write_text(SUITE_B)
    shard = Shard(suite, hub.url, "--jb-live-wait-viewers", "1", "--jb-live-wait-timeout", "120",
                  run_id="waits")
    running.append(shard)
    shard.output.wait_for("waiting for 1 viewer")
    # Seen from the run list, not a socket: a peeking socket is a viewer, and a viewer
    # count pushed while it looked let the run go (it did, in a slow CI run).
    wait_until(lambda: hub.runs().get("waits", {}).get("shards") == 1, what="the shard joined")
    time.sleep(1.5)
    assert shard.process.poll() is None
    assert hub.runs()["waits"]["counts"] == {}  # not a test has run
    watched = watch_sync(hub.viewer_url("waits", "watcher"))
    assert shard.wait() == 1
    assert "running anyway" not in shard.text and "WARNING" not in shard.text
    assert watched.close_code == 1000
    assert_whole_log(watched)
    assert watched.of_type("session_finished")[0]["counts"] == shard.counts()


def test_wait_viewers_on_a_hub_gives_up_after_the_wait_timeout(tmp_path: Path,
                                                              running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "data", 0)
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_b.py").write_text(SUITE_B)
    started = time.monotonic()
    shard = Shard(suite, hub.url, "--jb-live-wait-viewers", "2", "--jb-live-wait-timeout", "1.5",
                  run_id="nobody")
    running.append(shard)
    assert shard.wait() == 1
    assert time.monotonic() - started > 1.5
    assert "0 of 2 viewer(s) connected within 1.5 s; running anyway" in shard.text
    assert hub.runs()["nobody"]["status"] == "finished"


@pytest.mark.redis
def test_redis_wait_viewers_counts_viewers_on_another_hub(
    tmp_path: Path, redis_server: RedisServer, running: list[Any]
) -> None:
    hub_a = HubProcess(tmp_path / "a", 0, redis_server.url)
    hub_b = HubProcess(tmp_path / "b", 0, redis_server.url)
    running += [hub_a, hub_b]
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_b.py").write_text(SUITE_B)
    shard = Shard(suite, hub_b.url, "--jb-live-wait-viewers", "1", "--jb-live-wait-timeout",
                  "120", run_id="watched-on-a")
    running.append(shard)
    shard.output.wait_for("waiting for 1 viewer")
    # From hub A's run list, not a socket (a peeking socket is a viewer: above).
    wait_until(lambda: hub_a.runs().get("watched-on-a", {}).get("shards") == 1,
               what="the shard joined, seen on hub A")
    time.sleep(1)
    assert shard.process.poll() is None
    watched = watch_sync(hub_a.viewer_url("watched-on-a", "watcher"))  # on hub A
    assert shard.wait() == 1
    assert "running anyway" not in shard.text
    assert_whole_log(watched)
    assert watched.of_type("session_finished")[0]["counts"] == shard.counts()


# -- finished runs leaving memory --------------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_an_evicted_run_is_served_complete(tmp_path: Path, running: list[Any], store: str,
                                           request: pytest.FixtureRequest) -> None:
    hub = HubProcess(tmp_path / "data", 0, redis_url_for(store, request), "--keep-finished", "0.5")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    shard = Shard(suite, hub.url, run_id="evicted")
    running.append(shard)
    assert shard.wait() == 1
    before = watch_sync(hub.viewer_url("evicted"))
    assert before.close_code == 1000
    listed = wait_until(lambda: (hub.runs()["evicted"]
                                 if not hub.runs()["evicted"]["loaded"] else None),
                        what="eviction")
    # Out of memory, still listed, and served whole when opened again.
    after = watch_sync(hub.viewer_url("evicted"))
    assert after.events == before.events
    assert after.close_code == 1000
    assert hub.runs()["evicted"] == {**listed, "loaded": True}
    # ... and a resume from the middle of it, once it has left memory again.
    wait_until(lambda: not hub.runs()["evicted"]["loaded"], what="second eviction")
    middle = before.events[len(before.events) // 2]["seq"]
    rest = watch_sync(hub.viewer_url("evicted", "resumer"), first_messages=[
        {"type": "resume", "run_id": "evicted", "last_seq": middle}])
    assert rest.events == before.events[middle:]
    assert rest.close_code == 1000
