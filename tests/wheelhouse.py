"""A fresh virtual environment with the built wheel in it, installed offline.

The wheel's dependencies come from this test environment: each installed distribution
that the wheel needs (its ``Requires-Dist``, followed transitively) is packed back into
a wheel from its ``RECORD``. pip then resolves the wheel's own metadata against that
folder with ``--no-index``: a dependency the wheel forgot to declare is simply not
there, as it would not be on a user's machine, and nothing is downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# pip writes these at install time; a wheel does not carry them.
INSTALL_ONLY = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def requirement_closure(*projects: str) -> list[metadata.Distribution]:
    """The installed distributions ``projects`` are and need (without extras)."""
    found: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(project, frozenset()) for project in projects]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
        key = canonicalize_name(dist.metadata["Name"])
        found[key] = dist
        for extra in extras | {""}:
            if (key, extra) in done:
                continue
            done.add((key, extra))
            for text in dist.requires or []:
                requirement = Requirement(text)
                marker = requirement.marker
                if marker is None or marker.evaluate({"extra": extra}):
                    todo.append((requirement.name, frozenset(requirement.extras)))
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def wheelhouse(target: Path, *projects: str, leave_out: str = "pytest-jbrealtime") -> Path:
    """A folder of wheels of ``projects`` and what they need, as installed here; without
    ``leave_out`` (this project: its wheel is the one under test, or it is built)."""
    target.mkdir()
    for dist in requirement_closure(*projects):
        if canonicalize_name(dist.metadata["Name"]) != canonicalize_name(leave_out):
            repack(dist, target)
    return target


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def compressed_tag(tags: list[str]) -> str:
    """The file name's tag of a wheel with these ``Tag:`` lines: ``py2-none-any`` and
    ``py3-none-any`` make ``py2.py3-none-any`` (the first alone would not install on 3)."""
    parts = [t.split("-") for t in tags]
    return "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))


def repack(dist: metadata.Distribution, target: Path) -> Path:
    """The installed ``dist`` as a wheel in ``target`` (its files as its RECORD lists)."""
    files = [f for f in dist.files or [] if f.parts and f.parts[0] != ".."]
    info = next((f.parent for f in files
                 if f.name == "METADATA" and f.parent.name.endswith(".dist-info")), None)
    if info is None:
        raise AssertionError(f"{dist.metadata['Name']} has no RECORD of a wheel install")
    wheel_text = Path(str(dist.locate_file(info / "WHEEL"))).read_text(encoding="utf-8")
    tags = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines()
            if line.startswith("Tag:")]
    path = target / f"{str(info.name)[:-len('.dist-info')]}-{compressed_tag(tags)}.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in files:
            if "__pycache__" in file.parts or (file.parent == info and file.name in INSTALL_ONLY):
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            wheel.writestr(file.as_posix(), data)
            record.append(f"{file.as_posix()},{_record_hash(data)},{len(data)}")
        record.append(f"{info.as_posix()}/RECORD,,")
        wheel.writestr(f"{info.as_posix()}/RECORD", "\n".join(record) + "\n")
    return path


def offline_pip_env() -> dict[str, str]:
    """The environment for pip: no config files, no index, nothing from the machine's pip."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> str:
    """Run ``command``; its output, or an AssertionError that shows it."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def fresh_venv_with(wheel: Path, project: str, where: Path) -> Path:
    """A new virtual environment at ``where`` with ``wheel`` installed; its python."""
    house = wheelhouse(where.parent / f"{where.name}-wheelhouse", project)
    env = offline_pip_env()
    run([sys.executable, "-m", "venv", str(where)], env=env)
    python = where / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(house),
         str(wheel)], env=env)
    return python
