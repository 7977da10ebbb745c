"""The system monitor's configuration: built in pytest, sent to the server process.

Apart from ``monitor.py`` so that the pytest process, which only fills it in, does not
import what the sampler needs (asyncio, a thread pool, psutil): measured 45 ms of
every run's start-up.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

from pytest_jbrealtime.shared.settings import DEFAULT_SETTINGS, LiveSettings
from pytest_jbrealtime.shared.unpatched import system

_D = DEFAULT_SETTINGS  # the options' defaults (settings.py), not written twice

# CPU is expected to be busy while tests run: only a sustained high load is news.
CPU_SUSTAIN_SECONDS = 5.0
NO_CRITICAL = math.inf


@dataclass(frozen=True)
class MonitorConfig:
    """What the sampler needs; travels to the server process as a plain dict."""

    interval: float
    pytest_pid: int
    disk_paths: tuple[str, ...]
    cpu_alert: tuple[float, float] = _D.jb_live_alert_cpu
    memory_alert: tuple[float, float] = _D.jb_live_alert_memory
    disk_alert: tuple[float, float] = _D.jb_live_alert_disk
    hysteresis: float = _D.jb_live_alert_hysteresis
    cpu_sustain_seconds: float = CPU_SUSTAIN_SECONDS

    def to_dict(self) -> dict[str, Any]:
        plain = asdict(self)
        # marshal (the pipe's encoding) takes tuples and floats, but not inf: send None.
        for key in ("cpu_alert", "memory_alert", "disk_alert"):
            warning, critical = plain[key]
            plain[key] = [warning, None if critical == NO_CRITICAL else critical]
        plain["disk_paths"] = list(self.disk_paths)
        return plain

    @classmethod
    def from_dict(cls, plain: dict[str, Any]) -> MonitorConfig:
        def line(key: str) -> tuple[float, float]:
            warning, critical = plain[key]
            return float(warning), NO_CRITICAL if critical is None else float(critical)

        return cls(
            interval=float(plain["interval"]),
            pytest_pid=int(plain["pytest_pid"]),
            disk_paths=tuple(plain.get("disk_paths", ())),
            cpu_alert=line("cpu_alert"),
            memory_alert=line("memory_alert"),
            disk_alert=line("disk_alert"),
            hysteresis=float(plain.get("hysteresis", _D.jb_live_alert_hysteresis)),
            cpu_sustain_seconds=float(plain.get("cpu_sustain_seconds", CPU_SUSTAIN_SECONDS)),
        )


def monitor_config(settings: LiveSettings, rootdir: str) -> dict[str, Any] | None:
    """The sampler's part of the server's config frame; None when the monitor is off.

    Disk space is watched where a run writes: its rootdir (cache, reports) and the
    temp dir (tmp_path, screenshots).
    """
    if settings.jb_live_monitor_interval <= 0:
        return None
    return MonitorConfig(
        interval=settings.jb_live_monitor_interval,
        pytest_pid=system.getpid(),  # unpatched: see auth.py's mint
        disk_paths=(rootdir, tempfile.gettempdir()),
        cpu_alert=settings.jb_live_alert_cpu,
        memory_alert=settings.jb_live_alert_memory,
        disk_alert=settings.jb_live_alert_disk,
        hysteresis=settings.jb_live_alert_hysteresis,
    ).to_dict()
