"""The server's own numbers: /api/metrics, /metrics (Prometheus) and /api/debug."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from pytest_jbrealtime.server.metrics import ServerMetrics, frame_type, prometheus_text
from tests.monitor_support import WAIT_FOR_FILE, signal
from tests.support import LiveProcess, wait_until

StartLive = Callable[..., LiveProcess]
MARKER = "ping-payload-marker-7f3a"


def utf8(text: str | bytes) -> int:
    return len(text) if isinstance(text, bytes) else len(text.encode())


def held_run(suite_dir: pytest.Pytester, start_live: StartLive, *args: str) -> LiveProcess:
    """A run whose only test waits for the ``release`` signal; no monitor, a quiet log."""
    suite_dir.makepyfile(
        test_held=WAIT_FOR_FILE + "def test_held():\n    wait_for_file('release')\n"
    )
    return start_live(suite_dir.path, "--jb-live-monitor-interval", "0", *args,
                      env={"SIGNAL_DIR": str(suite_dir.path)})


class Client:
    """One real WebSocket client, and what it did, counted on its own side."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: list[str] = []
        self.received: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.ws: Any = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=None)

    async def send(self, text: str) -> None:
        await self.ws.send(text)
        self.sent.append(text)

    async def read_until(self, done: Callable[[dict[str, Any]], bool]) -> None:
        """Read frames until one of the messages received so far satisfies ``done``."""
        while not any(map(done, self.messages)):
            frame = await asyncio.wait_for(self.ws.recv(), 60)
            assert isinstance(frame, str)
            self.received.append(frame)
            message = json.loads(frame)
            self.messages.extend(message.get("messages") or [message])


def call_phase(message: dict[str, Any]) -> bool:
    return message.get("type") == "test_progress" and message.get("step_name") == "call"


def pong(ping_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("type") == "pong" and message.get("id") == ping_id


def get(run: LiveProcess, path: str, token: str | None = None,
        headers: dict[str, str] | None = None) -> httpx.Response:
    params = {"token": token} if token else {}
    return httpx.get(f"{run.http_base}{path}", params=params, headers=headers or {}, timeout=30)


def test_metrics_count_what_the_clients_did(
    suite_dir: pytest.Pytester, start_live: StartLive
) -> None:
    run = held_run(suite_dir, start_live, "--jb-live-wait-viewers", "1")
    first = Client(run.ws_url("first-client"))
    second = Client(run.ws_url("second-client"))
    seen: dict[str, Any] = {}

    def json_metrics() -> dict[str, Any]:
        answer: dict[str, Any] = get(run, "/api/metrics", run.token).json()
        return answer

    async def clients() -> None:
        # The first client stays until the held test's call phase has begun: after
        # that the log is quiet (no monitor), so every count below is exact.
        await first.connect()
        await first.send(json.dumps({"type": "ping", "id": "a"}))
        await first.send("this is not json")
        await first.read_until(call_phase)
        await first.read_until(lambda m: m.get("type") == "error")
        await first.ws.close()
        await asyncio.to_thread(
            wait_until, lambda: json_metrics()["closed_connections"] == 1
        )
        await second.connect()
        for text in (json.dumps({"type": "subscribe", "group": "system_monitor"}),
                     json.dumps({"type": "ping", "id": MARKER}),
                     json.dumps({"type": "ack", "seq": 1}),
                     "ünïcode is not json either",
                     json.dumps({"type": "ping", "id": "last"})):
            await second.send(text)
        await second.read_until(pong("last"))
        seen["metrics"] = await asyncio.to_thread(json_metrics)
        seen["prometheus"] = await asyncio.to_thread(get, run, "/metrics", run.token)
        seen["later"] = await asyncio.to_thread(json_metrics)
        seen["debug"] = await asyncio.to_thread(get, run, "/api/debug", run.token)
        await second.ws.close()

    asyncio.run(clients())
    metrics = seen["metrics"]
    all_sent = first.sent + second.sent
    all_received = first.received + second.received
    assert metrics["total_connections"] == 2
    assert metrics["active_connections"] == 1
    assert metrics["closed_connections"] == 1
    assert metrics["messages_received"] == len(all_sent)
    assert metrics["bytes_received"] == sum(map(utf8, all_sent))
    assert metrics["messages_sent"] == len(all_received)
    assert metrics["bytes_sent"] == sum(map(utf8, all_received))
    viewer = metrics["viewers"][0]
    assert viewer["client_id"] == "second-client"
    assert viewer["frames_sent"] == len(second.received)
    assert viewer["bytes_sent"] == sum(map(utf8, second.received))
    assert viewer["frames_received"] == len(second.sent)
    assert viewer["bytes_received"] == sum(map(utf8, second.sent))
    assert viewer["acked_seq"] == 1
    assert "system_monitor" in viewer["groups"]
    events_received = sum(
        len(m["messages"]) if m["type"] == "batch" else "seq" in m
        for m in map(json.loads, all_received)
    )
    assert metrics["events_sent"] == events_received
    assert metrics["events_published"] == metrics["log_length"] == 5
    assert metrics["slowest_viewer_lag"] == 0
    assert metrics["average_connection_duration"] > 0
    assert metrics["run_finished"] is False

    # /metrics says the same, in the Prometheus format, read by Prometheus' own parser.
    response = seen["prometheus"]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {s.name: s.value for family in text_string_to_metric_families(response.text)
               for s in family.samples}
    later = seen["later"]
    assert samples["jb_live_connections_total"] == 2
    assert samples["jb_live_connections_active"] == 1
    assert samples["jb_live_messages_received_total"] == len(all_sent)
    assert samples["jb_live_received_bytes_total"] == sum(map(utf8, all_sent))
    assert samples["jb_live_messages_sent_total"] == later["messages_sent"] == len(all_received)
    assert samples["jb_live_sent_bytes_total"] == later["bytes_sent"]
    assert samples["jb_live_events_sent_total"] == events_received
    assert samples["jb_live_events_published_total"] == 5
    assert samples["jb_live_log_events"] == 5
    assert samples["jb_live_viewer_lag_max_events"] == 0
    assert samples["jb_live_connection_duration_seconds_count"] == 1
    assert samples["jb_live_connection_duration_seconds_sum"] > 0

    # /api/debug: what went in and out, by whom, never the contents or a token.
    debug = seen["debug"]
    frames = debug.json()["frames"]
    assert MARKER not in debug.text and run.token not in debug.text
    second_in = [(f["type"], f["size"]) for f in frames
                 if f["client"] == "second-client" and f["direction"] == "in"]
    assert second_in == [("subscribe", utf8(second.sent[0])), ("ping", utf8(second.sent[1])),
                         ("ack", utf8(second.sent[2])), ("invalid", utf8(second.sent[3])),
                         ("ping", utf8(second.sent[4]))]
    for client in (first, second):
        client_id = client.url.split("/ws/")[1].split("?")[0]
        out = [(f["type"], f["size"]) for f in frames
               if f["client"] == client_id and f["direction"] == "out"]
        assert out == [(json.loads(t)["type"], utf8(t)) for t in client.received]
    assert all(f["time"].endswith("Z") for f in frames)

    signal(suite_dir.path, "release")
    assert run.wait() == 0, run.output


def test_routes_need_the_token(suite_dir: pytest.Pytester, start_live: StartLive) -> None:
    run = held_run(suite_dir, start_live)
    run.wait_for_link()
    try:
        for path in ("/api/metrics", "/api/debug", "/metrics"):
            assert get(run, path).status_code == 401
            assert get(run, path, "not-a-token").status_code == 401
            assert get(run, path, run.token).status_code == 200
        # A scraper sends the token as a bearer token.
        bearer = get(run, "/metrics", headers={"Authorization": f"Bearer {run.token}"})
        assert bearer.status_code == 200
        assert "jb_live_connections_total 0" in bearer.text
        wrong = get(run, "/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    finally:
        signal(suite_dir.path, "release")
    assert run.wait() == 0, run.output


def test_metrics_public_opens_only_metrics(
    suite_dir: pytest.Pytester, start_live: StartLive
) -> None:
    run = held_run(suite_dir, start_live, "--jb-live-metrics-public")
    run.wait_for_link()
    try:
        public = get(run, "/metrics")
        assert public.status_code == 200
        names = {f.name for f in text_string_to_metric_families(public.text)}
        assert "jb_live_connections" in names
        assert public.headers["content-security-policy"]
        assert get(run, "/api/metrics").status_code == 401
        assert get(run, "/api/debug").status_code == 401
        # The run's data still needs the token; the page's files are public (they hold
        # no data, docs/security.md).
        assert get(run, "/api/run").status_code == 401
    finally:
        signal(suite_dir.path, "release")
    assert run.wait() == 0, run.output


def test_monitor_gauges_in_prometheus(suite_dir: pytest.Pytester, start_live: StartLive) -> None:
    suite_dir.makepyfile(
        test_held=WAIT_FOR_FILE + "def test_held():\n    wait_for_file('release')\n"
    )
    run = start_live(suite_dir.path, "--jb-live-monitor-interval", "0.2",
                     env={"SIGNAL_DIR": str(suite_dir.path)})
    run.wait_for_link()
    try:
        def sampled_during_test() -> bool:
            status = get(run, "/api/metrics", run.token).json()["system_status"]
            return status is not None and status["active_tests"] == 1

        wait_until(sampled_during_test, timeout=60)
        text = get(run, "/metrics", run.token).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name in ("jb_live_system_cpu_usage_ratio", "jb_live_system_memory_usage_ratio",
                     "jb_live_run_resident_memory_bytes", "jb_live_disk_free_bytes"):
            assert families[name].type == "gauge"
        assert 0 < families["jb_live_system_memory_usage_ratio"].samples[0].value < 1
        assert families["jb_live_run_resident_memory_bytes"].samples[0].value > 2**20
        assert families["jb_live_tests_active"].samples[0].value == 1
    finally:
        signal(suite_dir.path, "release")
    assert run.wait() == 0, run.output


# -- units --------------------------------------------------------------------------------


def test_frame_type_of_server_frames() -> None:
    assert frame_type('{"type":"batch","count":2,"messages":[]}') == "batch"
    assert frame_type('{"type":"test_started","seq":1}') == "test_started"
    assert frame_type("garbage") == "unknown"


def test_prometheus_text_parses_with_every_type_declared() -> None:
    metrics = ServerMetrics()
    metrics.sent("a", '{"type":"hello"}')
    metrics.received("a", "ping", 20)
    numbers: dict[str, Any] = {
        "run_id": 'odd"run\\id', "active_connections": 1, "total_connections": 1,
        "messages_sent": 1, "messages_received": 1, "bytes_sent": 16, "bytes_received": 20,
        "events_sent": 0, "events_published": 0, "log_length": 0, "slowest_viewer_lag": 0,
        "uptime_seconds": 1.5, "closed_connections": 0, "closed_duration_sum": 0.0,
        "system_status": {"cpu_usage": 50.0, "process_rss": 123, "memory_usage": None},
    }
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(numbers))}
    assert families["jb_live_info"].samples[0].labels["run_id"] == 'odd"run\\id'
    assert families["jb_live_connections"].type == "counter"
    assert families["jb_live_system_cpu_usage_ratio"].samples[0].value == 0.5
    assert families["jb_live_run_resident_memory_bytes"].samples[0].value == 123
    assert "jb_live_system_memory_usage_ratio" not in families  # unknown: left out
    assert families["jb_live_connection_duration_seconds"].type == "summary"


def test_debug_ring_keeps_the_last_thousand() -> None:
    metrics = ServerMetrics()
    for n in range(1500):
        metrics.received("c", f"t{n}", 1)
    assert len(metrics.recent) == 1000
    assert metrics.recent[0][3] == "t500"
    assert metrics.frames_received == 1500
