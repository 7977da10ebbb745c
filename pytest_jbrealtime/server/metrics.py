"""The server's own numbers: ``/api/metrics`` (JSON), ``/metrics`` (Prometheus), ``/api/debug``.

Counting happens where the frames are sent and received (``server/viewers.py``) and
costs a few integer additions and one ring-buffer append per frame; everything else
(averages, the slowest viewer's lag) is computed when someone asks.
``/api/debug`` keeps the last 1,000 frames' metadata only: direction, client, type,
size and time, never a payload or a token.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pytest_jbrealtime import __version__
from pytest_jbrealtime.shared.log import iso_timestamp

if TYPE_CHECKING:
    from pytest_jbrealtime.server.app import ServerState
    from pytest_jbrealtime.server.viewers import ViewerRegistry

DEBUG_FRAMES = 1000
METRICS_PATH = "/metrics"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TYPE_PREFIX = '{"type":"'


def frame_type(text: str) -> str:
    """The ``type`` of a frame the server built (it always puts ``type`` first)."""
    if text.startswith(_TYPE_PREFIX):
        end = text.find('"', len(_TYPE_PREFIX), 80)
        if end != -1:
            return text[len(_TYPE_PREFIX):end]
    return "unknown"


def text_size(text: str) -> int:
    """UTF-8 size of a frame without encoding it when it is ASCII (``isascii`` is O(1))."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class ServerMetrics:
    """Counters for the viewer connections of one server, and the recent-frames ring."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.total_connections = 0
        self.closed_connections = 0
        self.closed_duration_sum = 0.0
        self.frames_sent = 0
        self.frames_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.events_sent = 0
        self.recent: deque[tuple[float, str, str, str, int]] = deque(maxlen=DEBUG_FRAMES)
        self.latest_status: dict[str, Any] | None = None

    def opened(self) -> None:
        self.total_connections += 1

    def closed(self, duration: float) -> None:
        self.closed_connections += 1
        self.closed_duration_sum += duration

    def sent(self, client_id: str, text: str, events: int = 0) -> int:
        size = text_size(text)
        self.frames_sent += 1
        self.bytes_sent += size
        self.events_sent += events
        self.recent.append((time.time(), "out", client_id, frame_type(text), size))
        return size

    def received(self, client_id: str, kind: str, size: int) -> None:
        self.frames_received += 1
        self.bytes_received += size
        self.recent.append((time.time(), "in", client_id, kind, size))

    def note_status(self, status: dict[str, Any]) -> None:
        """The monitor's latest ``system_status``, for the Prometheus gauges."""
        self.latest_status = status


def snapshot(registry: ViewerRegistry) -> dict[str, Any]:
    """The numbers ``/api/metrics`` answers with."""
    metrics: ServerMetrics = registry.metrics
    log_length = len(registry.log)
    now_monotonic = time.monotonic()
    viewers: list[dict[str, Any]] = []
    open_duration_sum = 0.0
    for viewer in registry.viewers:
        connected_for = now_monotonic - viewer.connected_at
        open_duration_sum += connected_for
        viewers.append(
            {
                "client_id": viewer.client_id,
                "connected_seconds": round(connected_for, 3),
                "cursor": viewer.cursor,
                "lag_events": max(0, log_length - viewer.cursor),
                "acked_seq": viewer.acked_seq,
                "frames_sent": viewer.frames_sent,
                "bytes_sent": viewer.bytes_sent,
                "frames_received": viewer.frames_received,
                "bytes_received": viewer.bytes_received,
                "groups": sorted(viewer.groups),
            }
        )
    viewers.sort(key=lambda v: int(v["lag_events"]), reverse=True)
    all_connections = metrics.closed_connections + len(viewers)
    average = (
        (metrics.closed_duration_sum + open_duration_sum) / all_connections
        if all_connections
        else 0.0
    )
    return {
        "run_id": registry.log.run_id,
        "uptime_seconds": round(time.time() - metrics.started_at, 3),
        "active_connections": len(viewers),
        "total_connections": metrics.total_connections,
        "closed_connections": metrics.closed_connections,
        "average_connection_duration": round(average, 3),
        "messages_sent": metrics.frames_sent,
        "messages_received": metrics.frames_received,
        "bytes_sent": metrics.bytes_sent,
        "bytes_received": metrics.bytes_received,
        "events_sent": metrics.events_sent,
        "events_published": log_length,
        "log_length": log_length,
        "run_finished": registry.log.finished,
        "slowest_viewer_lag": viewers[0]["lag_events"] if viewers else 0,
        "slowest_viewer": viewers[0]["client_id"] if viewers else None,
        "viewers": viewers,
        "system_status": metrics.latest_status,
    }


def debug_frames(metrics: ServerMetrics) -> list[dict[str, Any]]:
    return [
        {"time": iso_timestamp(at), "direction": direction, "client": client,
         "type": kind, "size": size}
        for at, direction, client, kind, size in list(metrics.recent)
    ]


# -- Prometheus (prometheus_client renders the exposition format) ---------------------------

# (name, type, help, value from the JSON snapshot); a counter's name without its
# ``_total``, which prometheus_client adds.
_SERVER_FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    ("jb_live_connections_active", "gauge", "Viewer connections open now.",
     "active_connections"),
    ("jb_live_connections", "counter", "Viewer connections accepted.", "total_connections"),
    ("jb_live_messages_sent", "counter", "WebSocket frames sent to viewers.",
     "messages_sent"),
    ("jb_live_messages_received", "counter", "WebSocket frames received from viewers.",
     "messages_received"),
    ("jb_live_sent_bytes", "counter", "Bytes of WebSocket frames sent to viewers.",
     "bytes_sent"),
    ("jb_live_received_bytes", "counter", "Bytes of WebSocket frames received.",
     "bytes_received"),
    ("jb_live_events_sent", "counter", "Events delivered to viewers (all viewers).",
     "events_sent"),
    ("jb_live_events_published", "counter", "Events appended to the run's log.",
     "events_published"),
    ("jb_live_log_events", "gauge", "Events in the run's log.", "log_length"),
    ("jb_live_viewer_lag_max_events", "gauge",
     "Events the slowest viewer has not been sent yet.", "slowest_viewer_lag"),
    ("jb_live_uptime_seconds", "gauge", "Seconds since the server started.",
     "uptime_seconds"),
)

# (name, help, system_status field, scale)
_MONITOR_FAMILIES: tuple[tuple[str, str, str, float], ...] = (
    ("jb_live_system_cpu_usage_ratio", "Machine CPU use, 0-1.", "cpu_usage", 0.01),
    ("jb_live_system_memory_usage_ratio", "Machine memory use, 0-1.", "memory_usage", 0.01),
    ("jb_live_run_cpu_usage_ratio", "CPU use of the pytest process tree, in cores.",
     "process_cpu", 0.01),
    ("jb_live_run_resident_memory_bytes", "Resident memory of the pytest process tree.",
     "process_rss", 1.0),
    ("jb_live_run_open_files", "Open file descriptors of the pytest process tree.",
     "open_files", 1.0),
    ("jb_live_run_processes", "Processes in the pytest process tree.", "process_count", 1.0),
    ("jb_live_disk_free_bytes", "Free space where the run writes.", "disk_free", 1.0),
    ("jb_live_tests_active", "Tests running now.", "active_tests", 1.0),
    ("jb_live_tests_queued", "Tests not started yet.", "queue_size", 1.0),
)


class SnapshotCollector(Collector):
    """The metric families of one snapshot (``snapshot()`` plus ``closed_duration_sum``)."""

    def __init__(self, numbers: dict[str, Any]) -> None:
        self.numbers = numbers

    def collect(self) -> Iterator[Metric]:
        numbers = self.numbers
        info = GaugeMetricFamily("jb_live_info", "The server's version and run.",
                                 labels=["version", "run_id"])
        info.add_metric([__version__, str(numbers["run_id"])], 1)
        yield info
        for name, kind, help_text, key in _SERVER_FAMILIES:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=numbers[key])
        yield SummaryMetricFamily(
            "jb_live_connection_duration_seconds", "How long closed viewer connections lasted.",
            count_value=numbers["closed_connections"],
            sum_value=numbers["closed_duration_sum"],
        )
        status = numbers.get("system_status") or {}
        for name, help_text, key, scale in _MONITOR_FAMILIES:
            value = status.get(key)
            if value is not None:  # psutil could not read it: left out, not zero
                yield GaugeMetricFamily(name, help_text, value=value * scale)


def prometheus_text(numbers: dict[str, Any]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(numbers))
    return generate_latest(registry).decode("utf-8")


def metrics_routes(state: ServerState) -> list[Route]:
    """The three routes; ``app.py`` mounts them (``/api/...`` before its catch-all)."""
    registry = state.registry

    async def api_metrics(request: Request) -> JSONResponse:
        return JSONResponse(snapshot(registry))

    async def api_debug(request: Request) -> JSONResponse:
        frames = debug_frames(registry.metrics)
        return JSONResponse({"limit": DEBUG_FRAMES, "count": len(frames), "frames": frames})

    async def prometheus(request: Request) -> Response:
        numbers = snapshot(registry)
        numbers["closed_duration_sum"] = registry.metrics.closed_duration_sum
        return Response(prometheus_text(numbers), media_type=PROMETHEUS_CONTENT_TYPE)

    return [
        Route("/api/metrics", api_metrics),
        Route("/api/debug", api_debug),
        Route(METRICS_PATH, prometheus),
    ]
