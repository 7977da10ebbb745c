"""pytest-xdist on a hub run: what only a worker knows reaches the hub, in order per test.

A real hub process and a real ``pytest --jb-live-hub URL -n 2`` run; the expected
stream is the embedded server's (tests/test_xdist_live.py), checked with its helpers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from tests.hub_support import FAKE_DRIVER, HubProcess, Shard, get_bytes, mint, png_image
from tests.support import Watched, of_test, watch_reacting
from tests.test_xdist_live import (
    STEPS_SUITE,
    TIMEOUT,
    check_complete_stream,
    check_steps_suite_stream,
    steps_suite_watcher,
)

GREEN = png_image(7, 4, (0, 160, 0))
SHOT_TEST = FAKE_DRIVER + f'''

def test_shot():
    with pytest_jbrealtime.step("look"):
        assert pytest_jbrealtime.screenshot(ImageDriver({GREEN!r}), "green")
'''


def wait_for_run(hub: HubProcess, run_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while run_id not in hub.runs():
        assert time.monotonic() < deadline, f"run {run_id} never reached the hub"
        time.sleep(0.05)


def test_worker_steps_emit_and_screenshots_reach_the_hub_live_and_in_order(
    tmp_path: Path, running: list[Any]
) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_shop.py").write_text(STEPS_SUITE + SHOT_TEST)
    gates = tmp_path / "gates"
    gates.mkdir()
    shard = Shard(suite, hub.url, "-v", "-n", "2", run_id="parallel",
                  env={"JB_TEST_GATE_DIR": str(gates)})
    running.append(shard)
    react, seen = steps_suite_watcher(gates)

    wait_for_run(hub, "parallel")
    watched = watch_reacting(hub.viewer_url("parallel"), react)
    assert shard.wait(TIMEOUT) == 0, shard.text
    assert "WARNING" not in shard.text, shard.text
    assert seen == {"completed_before_gate": False}
    check_complete_stream(watched, shard.text, {"gw0", "gw1"})
    check_steps_suite_stream(watched)
    # Every event of the run is this shard's (one producer: the controller).
    assert {e.get("shard") for e in watched.events} - {None} == {shard_name(watched)}

    # A worker's screenshot: written to the controller's run folder, sent with its event.
    (shot,) = of_test(watched, "test_shop.py::test_shot", "screenshot_captured")
    assert shot["worker"] in ("gw0", "gw1")
    url = urljoin(f"{hub.url}/runs/parallel/", "." + shot["screenshot_url"])
    assert get_bytes(url, mint("viewer")) == (200, GREEN)


def shard_name(watched: Watched) -> str:
    (joined,) = watched.of_type("shard_joined")
    return str(joined["shard"])
