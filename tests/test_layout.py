"""The package is laid out by process (docs/architecture.md): the path says where code runs.

``pytest_side/`` runs in pytest, ``server/`` in the run server, ``hub/`` in the hub,
``tools/`` after the run, ``shared/`` and ``protocol/`` anywhere. These tests keep it so:
a new import across those lines fails here until it is listed (and explained in the doc).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_jbrealtime"
FOLDERS = {"pytest_side", "server", "hub", "tools", "shared", "protocol"}
TOP_LEVEL = {"__init__.py", "__main__.py", "plugin.py"}

# What each folder may import from the package besides itself, shared/ and protocol/.
MAY_IMPORT = {
    "pytest_side": set(),
    "server": set(),
    "hub": {"server"},  # the hub serves runs with the run server's core
    "tools": {"server"},  # replay is the run server's app on a recording
    "shared": set(),
    "protocol": set(),
}

# The crossings left, each explained in docs/architecture.md ("borrows").
CROSSINGS = {
    ("pytest_side/hub_producer.py", "pytest_jbrealtime.hub.screenshots"),
    ("pytest_side/hub_producer.py", "pytest_jbrealtime.hub.stacks"),
    ("pytest_side/live_server.py", "pytest_jbrealtime.server.process"),
    ("pytest_side/outputs.py", "pytest_jbrealtime.tools.report"),
}


def _folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS else None


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module in {f"pytest_jbrealtime.{f}" for f in FOLDERS}:
                found += [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [m for m in found if m.startswith("pytest_jbrealtime.")]


def test_every_module_is_in_the_folder_of_its_process() -> None:
    top = {p.name for p in PACKAGE.glob("*.py")}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == TOP_LEVEL
    assert folders == FOLDERS


def test_imports_across_processes_are_the_listed_ones() -> None:
    crossings = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) == 1:
            continue  # the entry points: the API, the CLI, plugin.py
        own = relative.parts[0]
        allowed = {own, "shared", "protocol"} | MAY_IMPORT[own]
        for module in _imports(path):
            target = _folder(module)
            if target is not None and target not in allowed:
                crossings.add((relative.as_posix(), module))
    assert crossings == CROSSINGS


def test_the_servers_do_not_load_pytest_or_the_pytest_side() -> None:
    """The run server, the hub and replay start without pytest (and without its hooks)."""
    code = (
        "import sys\n"
        "import pytest_jbrealtime.server.process, pytest_jbrealtime.hub.serve\n"
        "import pytest_jbrealtime.hub.app, pytest_jbrealtime.tools.replay\n"
        "print(sorted(m for m in sys.modules if m == 'pytest' or m.startswith('_pytest')"
        " or m in ('pytest_jbrealtime.plugin', 'pytest_jbrealtime.pytest_side.session')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
