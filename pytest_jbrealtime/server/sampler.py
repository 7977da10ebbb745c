"""What psutil says about the machine and the pytest process tree: one sample at a time.

The sampler of the system monitor (``monitor.py``), in the server process. Every psutil
call is guarded: a process that vanished or a permission error makes a field ``None``
for one sample, never ends the sampler. psutil is imported when a sampler is made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from pytest_jbrealtime.protocol.events import MachineSample

T = TypeVar("T")


def _children_from_proc(pid: int) -> list[int] | None:
    """All descendants of ``pid`` from /proc/PID/task/TID/children (Linux).

    About 0.1 ms, against several ms for psutil's ``children(recursive=True)``, which
    reads the stat file of every process on the machine. None where not available.
    """
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            if parent == pid:
                return None
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                if parent == pid and task == str(pid):
                    return None  # kernel without CONFIG_PROC_CHILDREN
                continue
            except OSError:
                continue
            for child in data.split():
                found.append(int(child))
                stack.append(int(child))
    return found


class SystemSampler:
    """Takes one sample of the machine and of the pytest process tree."""

    def __init__(
        self,
        pytest_pid: int,
        disk_paths: Iterable[str],
        psutil_module: Any = None,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        if psutil_module is None:
            import psutil

            psutil_module = psutil
        self.psutil: Any = psutil_module
        self.pytest_pid = pytest_pid
        self.disk_paths = self._distinct_filesystems(disk_paths)
        self.errors = 0
        self._on_error = on_error
        self._processes: dict[int, Any] = {}
        self._use_proc_children = sys.platform.startswith("linux")
        self.prime()

    def prime(self) -> None:
        """Start psutil's CPU clocks: its percentages are "since the last call".

        psutil keeps the machine-wide one per thread, so the sampling thread calls this.
        """
        self._guard("cpu_percent", lambda: self.psutil.cpu_percent(interval=None), None)
        tree: list[Any] = self._guard("process tree", self._tree, [])
        for process in tree:
            self._guard("process", partial(process.cpu_percent, interval=None), None)

    @staticmethod
    def _distinct_filesystems(paths: Iterable[str]) -> list[str]:
        chosen: list[str] = []
        devices: set[int] = set()
        for path in paths:
            try:
                device = os.stat(path).st_dev
            except OSError:
                continue
            if device not in devices:
                devices.add(device)
                chosen.append(path)
        return chosen

    def _guard(self, what: str, call: Callable[[], T], default: T) -> T:
        try:
            return call()
        except Exception as exc:  # AccessDenied, NoSuchProcess, OSError, anything
            self.errors += 1
            if self._on_error is not None:
                self._on_error(what, exc)
            return default

    def _tree(self) -> list[Any]:
        pids: list[int] | None = None
        if self._use_proc_children:
            pids = _children_from_proc(self.pytest_pid)
            if pids is None:
                self._use_proc_children = False
        if pids is None:
            root = self.psutil.Process(self.pytest_pid)
            pids = [child.pid for child in root.children(recursive=True)]
        wanted = [self.pytest_pid, *pids]
        processes: dict[int, Any] = {}
        for pid in wanted:
            known = self._processes.get(pid)
            if known is None:
                try:
                    known = self.psutil.Process(pid)
                except Exception:  # gone between the listing and now
                    continue
            processes[pid] = known
        # Keep the objects: their cpu_percent() is measured since the previous sample.
        self._processes = processes
        return list(processes.values())

    def _process_numbers(self, process: Any) -> tuple[float, int, int]:
        with process.oneshot():
            cpu = float(process.cpu_percent(interval=None))
            rss = int(process.memory_info().rss)
            if hasattr(process, "num_fds"):
                files = int(process.num_fds())
            else:  # Windows: handles are the nearest thing
                files = int(process.num_handles())
        return cpu, rss, files

    def sample(self) -> MachineSample:
        psutil = self.psutil
        cpu_usage: float | None = self._guard(
            "cpu_percent", lambda: round(float(psutil.cpu_percent(interval=None)), 1), None
        )
        memory_usage: float | None = self._guard(
            "virtual_memory", lambda: round(float(psutil.virtual_memory().percent), 1), None
        )
        tree: list[Any] = self._guard("process tree", self._tree, [])
        cpu_total, rss_total, files_total, counted = 0.0, 0, 0, 0
        for process in tree:
            numbers = self._guard("process", partial(self._process_numbers, process), None)
            if numbers is None:
                continue
            cpu_total += numbers[0]
            rss_total += numbers[1]
            files_total += numbers[2]
            counted += 1
        disk = self._least_free_disk()
        return {
            "cpu_usage": cpu_usage,
            "memory_usage": memory_usage,
            "process_count": counted,
            "process_cpu": round(cpu_total, 1) if counted else None,
            "process_rss": rss_total if counted else None,
            "open_files": files_total if counted else None,
            "disk_path": disk[0] if disk else None,
            "disk_free": disk[1] if disk else None,
            "disk_usage": disk[2] if disk else None,
        }

    def _least_free_disk(self) -> tuple[str, int, float] | None:
        least: tuple[str, int, float] | None = None
        for path in self.disk_paths:
            usage = self._guard("disk_usage", partial(self.psutil.disk_usage, path), None)
            if usage is None:
                continue
            if least is None or usage.free < least[1]:
                least = (path, int(usage.free), round(float(usage.percent), 1))
        return least
