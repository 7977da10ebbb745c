"""The hub end to end: a real hub process, real pytest shards publishing to it, real viewers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from pytest_jbrealtime.shared.auth import InvalidToken, TokenAuthority
from tests.held_run import HELD_SUITE, close_code_of
from tests.hub_support import HUB_SECRET, HubProcess, Shard, free_port, mint, wait_for_event
from tests.support import Watched, watch_sync

SUITE_A = '''
import pytest

@pytest.mark.parametrize("n", range(12))
def test_numbers(n):
    assert n != 7

def test_skipped():
    pytest.skip("not here")
'''
SUITE_B = '''
import pytest

def test_one():
    pass

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert False

def test_error_in_setup(broken):
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")
'''


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[list[HubProcess]]:
    """Hubs started by a test; all stopped at its end."""
    started: list[HubProcess] = []
    yield started
    for hub in started:
        hub.kill()


@pytest.fixture
def shards() -> Iterator[list[Shard]]:
    started: list[Shard] = []
    yield started
    for shard in started:
        shard.kill()


def start_hub(hubs: list[HubProcess], data: Path, port: int = 0) -> HubProcess:
    hub = HubProcess(data, port)
    hubs.append(hub)
    return hub


def results_by_test(watched: Watched) -> dict[str, str]:
    return {e["test_id"]: e["result"] for e in watched.of_type("test_completed")}


def assert_whole_log(watched: Watched) -> None:
    """Gap-free, each producer's events once and in its order."""
    assert watched.seqs == list(range(1, len(watched.events) + 1))
    by_shard: dict[str, list[int]] = {}
    for event in watched.events:
        if "shard_seq" in event:
            by_shard.setdefault(event["shard"], []).append(event["shard_seq"])
    for shard, numbers in by_shard.items():
        assert numbers == list(range(1, len(numbers) + 1)), f"shard {shard}: {numbers}"


def test_two_shards_publish_into_one_run(tmp_path: Path, hubs: list[HubProcess],
                                         shards: list[Shard]) -> None:
    hub = start_hub(hubs, tmp_path / "data")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    (suite / "test_b.py").write_text(SUITE_B)
    # --jb-live-shards: a quick shard may end before the other joins; the run waits for 2.
    shard_a = Shard(suite, hub.url, "test_a.py", "--jb-live-shards", "2", run_id="pipeline-42",
                    env={"JB_LIVE_SHARD": "a"})
    shard_b = Shard(suite, hub.url, "test_b.py", "--jb-live-shards", "2", run_id="pipeline-42",
                    env={"JB_LIVE_SHARD": "b"})
    shards += [shard_a, shard_b]
    assert shard_a.wait() == 1
    assert shard_b.wait() == 1
    assert "WARNING" not in shard_a.text + shard_b.text
    assert "jb-live: watch this run at http://127.0.0.1:" in shard_a.text
    assert f"{hub.url}/runs/pipeline-42/" in shard_a.text

    watched = watch_sync(hub.viewer_url("pipeline-42"))
    assert watched.close_code == 1000  # the whole run: it ended when both shards had
    assert_whole_log(watched)
    assert {e["shard"] for e in watched.of_type("shard_joined")} == {"a", "b"}
    assert {e["shard"] for e in watched.of_type("shard_finished")} == {"a", "b"}
    finished = watched.of_type("session_finished")
    assert len(finished) == 1 and watched.events[-1]["type"] == "session_finished"
    a, b = shard_a.counts(), shard_b.counts()
    expected = {name: a.get(name, 0) + b.get(name, 0) for name in a.keys() | b.keys()}
    assert finished[0]["counts"] == expected
    assert finished[0]["total"] == 13 + 3
    assert finished[0]["exit_status"] == 1
    results = results_by_test(watched)
    assert len(results) == 16
    assert Counter(results.values()) == Counter(
        {"passed": 12, "failed": 1, "skipped": 1, "xfailed": 1, "error": 1})
    assert all(e.get("shard") in ("a", "b") for e in watched.of_type("test_completed"))

    listed = hub.runs()["pipeline-42"]
    assert listed["status"] == "finished"
    assert listed["counts"] == expected
    assert (listed["shards"], listed["shards_finished"]) == (2, 2)


def test_a_producer_token_publishes_a_viewer_token_cannot(tmp_path: Path,
                                                          hubs: list[HubProcess]) -> None:
    hub = start_hub(hubs, tmp_path / "data")

    async def publish(token: str) -> dict[str, Any]:
        async with websockets.connect(
            hub.producer_url, additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            await ws.send(json.dumps({"type": "join", "run_id": "tokens", "shard": "s",
                                      "producer": "p1"}))
            joined = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "publish", "run_id": "tokens", "first": 1,
                                      "events": [{"type": "note", "text": "hi"}]}))
            return {"joined": joined, "ack": json.loads(await ws.recv())}

    replies = asyncio.run(publish(mint("producer")))
    assert replies["joined"] == {"type": "joined", "run_id": "tokens", "shard": "s", "last": 0}
    assert replies["ack"] == {"type": "ack", "run_id": "tokens", "last": 1}
    # A viewer token cannot publish; a producer token cannot watch or read the list.
    assert asyncio.run(close_code_of(f"{hub.producer_url}?token={mint('viewer')}")) == 4001
    assert asyncio.run(close_code_of(hub.viewer_url("tokens", token=mint("producer")))) == 4001
    with pytest.raises(urllib.error.HTTPError) as refused:
        hub.get_json("/api/runs", token=mint("producer"))
    refused.value.close()  # an HTTPError holds the response's socket
    assert refused.value.code == 401
    # Nothing of the refused attempts reached the run.
    watched = watch_sync(hub.viewer_url("tokens"), stop_after_seq=2)
    assert [e["type"] for e in watched.events] == ["shard_joined", "note"]


def test_run_pages_are_public_code_and_their_data_needs_the_token(
        tmp_path: Path, hubs: list[HubProcess]) -> None:
    """No cookie (it would go to every port of the host): the pages are the viewer's
    code, served to anyone; what they show comes with the token the page sends."""
    hub = start_hub(hubs, tmp_path / "data")
    token = mint("viewer")
    for path, marker in ((f"/runs/some-run/?token={token}", b'src="./main.js"'),
                         ("/runs/some-run/", b'src="./main.js"'), ("/", b'src="./hub.js"')):
        with urllib.request.urlopen(f"{hub.url}{path}", timeout=10) as response:
            assert marker in response.read()
            assert response.headers["set-cookie"] is None
            assert "script-src 'self'" in response.headers["content-security-policy"]
    for path in ("/api/runs", "/runs/some-run/api/run"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{hub.url}{path}", timeout=10)
        refused.value.close()
        assert refused.value.code == 401
    assert "runs" in hub.get_json("/api/runs", token)


def held_suite(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test_held.py").write_text(HELD_SUITE)
    return directory / "gate"


def wait_for_test(hub: HubProcess, run_id: str, test_name: str) -> None:
    wait_for_event(hub.viewer_url(run_id),
                   lambda e: e["type"] == "test_started" and e["test_id"].endswith(test_name))


def test_hub_killed_and_restarted_mid_run_loses_nothing(
    tmp_path: Path, hubs: list[HubProcess], shards: list[Shard]
) -> None:
    hub = start_hub(hubs, tmp_path / "data")
    gate = held_suite(tmp_path / "suite")
    shard = Shard(tmp_path / "suite", hub.url, "--jb-live-hub-wait", "120", run_id="restarted",
                  env={"JB_TEST_GATE": str(gate)})
    shards.append(shard)
    wait_for_test(hub, "restarted", "test_hold")
    hub.kill()
    gate.touch()  # the rest of the run happens while the hub is down
    shard.output.wait_for(r"1 failed, 2 passed")
    hub.start()  # same port, same data folder
    assert shard.wait() == 1
    assert "WARNING" not in shard.text

    watched = watch_sync(hub.viewer_url("restarted"))
    assert watched.close_code == 1000
    assert_whole_log(watched)
    assert results_by_test(watched) == {
        "test_held.py::test_before": "passed",
        "test_held.py::test_hold": "passed",
        "test_held.py::test_after_fails": "failed",
    }
    assert watched.of_type("session_finished")[0]["counts"] == shard.counts()


def test_hub_unreachable_at_start_gets_the_run_when_it_comes(
    tmp_path: Path, hubs: list[HubProcess], shards: list[Shard]
) -> None:
    port = free_port()
    gate = held_suite(tmp_path / "suite")
    shard = Shard(tmp_path / "suite", f"http://127.0.0.1:{port}", "--jb-live-hub-wait", "120",
                  run_id="late-hub", env={"JB_TEST_GATE": str(gate)})
    shards.append(shard)
    hub = start_hub(hubs, tmp_path / "data", port=port)
    wait_for_test(hub, "late-hub", "test_hold")
    gate.touch()
    assert shard.wait() == 1
    watched = watch_sync(hub.viewer_url("late-hub"))
    assert_whole_log(watched)
    assert watched.of_type("session_finished")[0]["counts"] == shard.counts()


def test_hub_that_never_comes_one_warning_and_the_recording(tmp_path: Path,
                                                            shards: list[Shard]) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    shard = Shard(suite, f"http://127.0.0.1:{free_port()}", "--jb-live-hub-wait", "0.5",
                  "--jb-live-record", "run.jsonl")
    shards.append(shard)
    assert shard.wait() == 1  # pytest's own status: one test fails
    warnings = [line for line in shard.output.lines if "WARNING" in line]
    assert len(warnings) == 1, shard.text
    assert "did not get" in warnings[0] and "run.jsonl" in warnings[0]
    lines = (suite / "run.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "session_finished"
    assert json.loads(lines[-1])["counts"] == shard.counts()


def test_finished_runs_survive_a_hub_restart(tmp_path: Path, hubs: list[HubProcess],
                                             shards: list[Shard]) -> None:
    hub = start_hub(hubs, tmp_path / "data")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_b.py").write_text(SUITE_B)
    shard = Shard(suite, hub.url, run_id="kept")
    shards.append(shard)
    assert shard.wait() == 1
    before = watch_sync(hub.viewer_url("kept"))
    listed = hub.runs()["kept"]
    hub.stop()
    hub.start()
    after = watch_sync(hub.viewer_url("kept"))
    assert after.events == before.events
    assert after.close_code == 1000
    assert hub.runs()["kept"] == listed


def run_command(*args: str, secret: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JB_LIVE_SECRET": secret}
    return subprocess.run([sys.executable, "-m", "pytest_jbrealtime", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_serve_refuses_a_short_secret_and_token_mints_hub_tokens(tmp_path: Path) -> None:
    refused = run_command("serve", "--port", "0", "--data", str(tmp_path), secret="x" * 31)
    assert refused.returncode == 2
    assert "JB_LIVE_SECRET is shorter than 32 bytes" in refused.stdout
    assert run_command("token", "--role", "viewer", secret="").returncode == 2

    unscoped = run_command("token", "--role", "producer", secret=HUB_SECRET)
    assert unscoped.returncode == 2 and "--run RUN_ID or --project PREFIX" in unscoped.stdout
    minted = run_command("token", "--role", "producer", "--ttl", "60", "--project", "ci-",
                         secret=HUB_SECRET)
    assert minted.returncode == 0
    token = minted.stdout.strip()
    claims = TokenAuthority(HUB_SECRET, run_id=None).verify(token, "producer")
    assert "run" not in claims and claims["project"] == "ci-"
    assert 55 <= claims["exp"] - claims["iat"] <= 60
    with pytest.raises(InvalidToken):
        TokenAuthority(HUB_SECRET, run_id=None).verify(token, "viewer")


def test_serve_link_key_prints_the_address_and_the_key_apart_and_a_hub_run_no_key(
    tmp_path: Path, hubs: list[HubProcess], shards: list[Shard]
) -> None:
    """``serve --link key``: the hub's line gives the bare address and a viewer key that
    opens the hub's API. A run on the hub with ``--jb-live-link key`` prints its page on
    the hub and no key: its own process's key would open nothing there (the hub's page
    asks for the hub's)."""
    hub = HubProcess(tmp_path / "data", 0, None, "--link", "key")
    hubs.append(hub)
    assert hub.output is not None
    line = hub.output.wait_for(r"jb-live hub: open (http://\S+?/)  key: (\S+)")
    address, key = line.groups()
    assert address == f"{hub.url}/" and "token" not in line.group(0)
    assert hub.get_json("/api/runs", token=key) == {"runs": []}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{hub.url}/api/runs", timeout=10)
    refused.value.close()
    assert refused.value.code == 401

    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text("def test_a():\n    pass\n")
    shard = Shard(suite, hub.url, "--jb-live-link", "key", run_id="keyed-run")
    shards.append(shard)
    assert shard.wait() == 0, shard.text
    assert f"jb-live: watch this run at {hub.url}/runs/keyed-run/\n" in shard.text
    assert "key:" not in shard.text
