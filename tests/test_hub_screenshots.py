"""Screenshots of a run published to a hub: uploaded by the producer, served by the hub.

A real hub process, a real ``pytest --jb-live-hub`` run taking screenshots (through
``pytest_jbrealtime.screenshot``, with a stand-in driver: the browser itself is
tests/browser/test_hub_viewer.py's), real HTTP to the address each event carries,
taken relative to the run's page as the viewer takes it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from pytest_jbrealtime.shared.recording import read_recording
from tests.hub_support import (
    FAKE_DRIVER,
    HubProcess,
    Shard,
    get_bytes,
    mint,
    png_image,
    wait_for_event,
)
from tests.redis_support import RedisServer, redis_server_fixture  # noqa: F401
from tests.support import watch_sync

RED = png_image(8, 6, (255, 0, 0))
BLUE = png_image(5, 5, (0, 0, 255))

SHOTS_SUITE = FAKE_DRIVER + f'''
import os
import time
from pathlib import Path

import pytest_jbrealtime

RED = {RED!r}
BLUE = {BLUE!r}


def test_screens():
    assert pytest_jbrealtime.screenshot(ImageDriver(RED), "before")
    gate = Path(os.environ["JB_TEST_GATE"])
    deadline = time.monotonic() + 120
    while not gate.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # The hub is down now: this one reaches it once it is back.
    assert pytest_jbrealtime.screenshot(ImageDriver(BLUE), "while-down")
'''


def image_url(hub: HubProcess, run_id: str, event: dict[str, Any]) -> str:
    """The event's address, relative to the run's page (``./screenshots/ID.png``)."""
    return urljoin(f"{hub.url}/runs/{run_id}/", "." + event["screenshot_url"])


def test_screenshots_reach_the_hub_behind_its_tokens_and_survive_restarts(
    tmp_path: Path, running: list[Any]
) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_shots.py").write_text(SHOTS_SUITE)
    gate = tmp_path / "gate"
    shard = Shard(suite, hub.url, "--jb-live-hub-wait", "120", run_id="shots",
                  env={"JB_TEST_GATE": str(gate)})
    running.append(shard)

    # Live: the image is on the hub by the time its event is.
    first: list[dict[str, Any]] = []

    def screenshot_seen(event: dict[str, Any]) -> bool:
        if event["type"] == "screenshot_captured":
            first.append(event)
        return bool(first)

    wait_for_event(hub.viewer_url("shots"), screenshot_seen)
    assert first[0]["screenshot_url"].startswith("/screenshots/")
    assert get_bytes(image_url(hub, "shots", first[0]), mint("viewer")) == (200, RED)

    hub.kill()
    gate.touch()  # the second screenshot is taken while the hub is down
    shard.output.wait_for(r"1 passed")
    hub.start()  # same port, same data folder
    assert shard.wait() == 0
    assert "WARNING" not in shard.text, shard.text

    watched = watch_sync(hub.viewer_url("shots"))
    shots = {e["name"]: e for e in watched.of_type("screenshot_captured")}
    assert set(shots) == {"before", "while-down"}
    assert all(e["shard"] and e["test_id"] == "test_shots.py::test_screens"
               for e in shots.values())
    urls = {name: image_url(hub, "shots", e) for name, e in shots.items()}
    assert get_bytes(urls["before"], mint("viewer")) == (200, RED)
    assert get_bytes(urls["while-down"], mint("viewer")) == (200, BLUE)

    # The run viewer's checks: a viewer token; nothing else (no cookie is a credential).
    assert get_bytes(urls["before"], cookie=f"jb_live_token={mint('viewer')}")[0] == 401
    assert get_bytes(urls["before"])[0] == 401
    assert get_bytes(urls["before"], mint("producer"))[0] == 401
    assert get_bytes(f"{hub.url}/runs/other/screenshots/{shots['before']['screenshot_id']}.png",
                     mint("viewer"))[0] == 404
    assert get_bytes(f"{hub.url}/runs/shots/screenshots/..%2Flog.jsonl.png",
                     mint("viewer"))[0] == 404
    assert get_bytes(f"{hub.url}/screenshots/{shots['before']['screenshot_id']}.png",
                     mint("viewer"))[0] == 404  # the run's, not the hub's root
    # Only a producer uploads, and only over its socket: no HTTP write, with any token.
    for token in (mint("viewer"), mint("producer")):
        request = urllib.request.Request(urls["before"], data=BLUE, method="PUT",
                                         headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        refused.value.close()
        assert refused.value.code in (401, 405)
    assert get_bytes(urls["before"], mint("viewer")) == (200, RED)

    # Kept with the run's log: a restarted hub serves them.
    hub.stop()
    hub.start()
    assert get_bytes(urls["while-down"], mint("viewer")) == (200, BLUE)
    # Where a recording keeps its images: replay and report of the hub's log find them.
    recording = read_recording(tmp_path / "data" / "runs" / "shots" / "log.jsonl")
    kept = {e["name"]: recording.screenshot_file(e) for e in recording.events
            if e["type"] == "screenshot_captured"}
    assert {name: path.read_bytes() if path else None for name, path in kept.items()} == {
        "before": RED, "while-down": BLUE}


def test_the_producer_socket_takes_a_screenshot_of_its_own_run_only(
    tmp_path: Path, running: list[Any]
) -> None:
    import asyncio
    import json

    import websockets

    from pytest_jbrealtime.hub.screenshots import screenshot_frame

    hub = HubProcess(tmp_path / "data")
    running.append(hub)

    async def produce() -> list[dict[str, Any]]:
        async with websockets.connect(
            hub.producer_url, additional_headers={"Authorization": f"Bearer {mint('producer')}"}
        ) as ws:
            replies = []
            await ws.send(screenshot_frame("raw", "early", RED))  # before joining
            replies.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"type": "join", "run_id": "raw", "shard": "s",
                                      "producer": "p1"}))
            replies.append(json.loads(await ws.recv()))
            for frame in (screenshot_frame("other-run", "a1", RED),
                          screenshot_frame("raw", "../a1", RED),
                          screenshot_frame("raw", "a1", b"<svg onload=alert(1)>"),
                          b"no header at all"):
                await ws.send(frame)
                replies.append(json.loads(await ws.recv()))
            await ws.send(screenshot_frame("raw", "a1", RED))
            await ws.send(json.dumps({"type": "publish", "run_id": "raw", "first": 1, "events": [
                {"type": "screenshot_captured", "screenshot_id": "a1",
                 "screenshot_url": "/screenshots/a1.png"}]}))
            replies.append(json.loads(await ws.recv()))
            return replies

    replies = asyncio.run(produce())
    assert replies[0] == {"type": "error", "message": "join a run before sending screenshots"}
    assert replies[1]["type"] == "joined"
    assert [r["type"] for r in replies[2:6]] == ["error"] * 4
    assert "run 'raw'" in replies[2]["message"] and "PNG" in replies[4]["message"]
    assert replies[6] == {"type": "ack", "run_id": "raw", "last": 1}  # the image came first
    base = f"{hub.url}/runs/raw/screenshots"
    assert get_bytes(f"{base}/a1.png", mint("viewer")) == (200, RED)
    assert get_bytes(f"{base}/early.png", mint("viewer"))[0] == 404
    assert get_bytes(f"{hub.url}/runs/other-run/screenshots/a1.png", mint("viewer"))[0] == 404


def test_redis_hubs_serve_the_screenshots_any_of_them_received(
    tmp_path: Path, running: list[Any], redis_server: RedisServer
) -> None:
    from tests.test_hub_xdist import GREEN, SHOT_TEST

    hub = HubProcess(tmp_path / "data", 0, redis_server.url)
    running.append(hub)
    # Another hub on the same Redis, with a data folder of its own (another machine).
    other = HubProcess(tmp_path / "other-data", 0, redis_server.url)
    running.append(other)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_shot.py").write_text("import pytest_jbrealtime\n" + SHOT_TEST)
    shard = Shard(suite, hub.url, run_id="on-redis")
    running.append(shard)
    assert shard.wait() == 0, shard.text
    (shot,) = watch_sync(other.viewer_url("on-redis")).of_type("screenshot_captured")
    assert get_bytes(image_url(other, "on-redis", shot), mint("viewer")) == (200, GREEN)
    url = image_url(hub, "on-redis", shot)
    assert get_bytes(url, mint("viewer")) == (200, GREEN)
    hub.stop()
    hub.start()
    assert get_bytes(url, mint("viewer")) == (200, GREEN)
    unknown = {**shot, "screenshot_url": "/screenshots/nope.png"}
    assert get_bytes(image_url(other, "on-redis", unknown), mint("viewer"))[0] == 404


def test_a_redis_hubs_screenshot_files_expire_after_the_retention_period(tmp_path: Path) -> None:
    import time

    from pytest_jbrealtime.hub.screenshots import HubScreenshots

    store = HubScreenshots(tmp_path, retention_seconds=100)
    assert store.put("run-1", "a1", RED)
    assert store.find("run-1", "a1") is not None
    assert store.path("run-1", "../a1") is None and store.path("../run", "a1") is None
    store.expire(now=time.time() + 50)
    assert store.find("run-1", "a1") is not None
    store.expire(now=time.time() + 150)
    assert store.find("run-1", "a1") is None
    assert not (tmp_path / "runs" / "run-1").exists()
    assert not HubScreenshots(None, 100).put("run-1", "a1", RED)  # no data folder: none kept
