"""scripts/lib/setup.sh, which scripts/test and scripts/demo share: a .venv of the
checkout's own, made with whatever ``python3`` the shell finds (Debian's, or the one
of a virtual environment that is active), reused while it works, made again when not.

Each case runs the real function in a copy of the checkout; pip installs offline, from
wheels packed from this environment (tests/wheelhouse.py), so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.wheelhouse import offline_pip_env, run, wheelhouse

CHECKOUT = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = Path("/usr/bin/python3")


def checkout_copy(target: Path) -> Path:
    """The checkout's files as git sees them (tracked, or new and not ignored): no .venv."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=CHECKOUT)
    for name in listed.splitlines():
        source = CHECKOUT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The project's dependencies, and hatchling for pip's isolated editable build.
    return wheelhouse(tmp_path_factory.mktemp("house") / "wheels", "pytest-jbrealtime",
                      "hatchling")


def venv_python(checkout: Path, env: dict[str, str]) -> str:
    """``venv_python ""`` as the scripts call it; the python it prints."""
    output = run(["bash", "-c", '. scripts/lib/setup.sh && venv_python ""'], cwd=checkout,
                 env=env, timeout=600)
    return output.strip().splitlines()[-1]


def imported_from(python: str, checkout: Path) -> list[str]:
    return run([python, "-c", "import sys, pytest_jbrealtime as p; print(p.__file__); "
                "print(sys.prefix)"], cwd=checkout).split()


@pytest.fixture
def shell_env(house: Path, tmp_path: Path) -> dict[str, str]:
    """A stock shell's environment: Debian's paths, a HOME of its own, pip offline."""
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        pytest.fail(f"{DEBIAN_PYTHON} is missing: the case of a stock Debian cannot be run")
    home = tmp_path / "home"
    home.mkdir()
    env = offline_pip_env()
    env.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", HOME=str(home), PIP_FIND_LINKS=str(house))
    return env


def test_debians_python3_gets_a_venv_in_the_checkout(tmp_path: Path,
                                                     shell_env: dict[str, str]) -> None:
    checkout = checkout_copy(tmp_path / "checkout")
    python = venv_python(checkout, shell_env)
    assert python == str(checkout / ".venv" / "bin" / "python")
    module, prefix = imported_from(python, checkout)
    assert Path(module).is_relative_to(checkout / "pytest_jbrealtime")  # editable, this copy
    assert prefix == str(checkout / ".venv")
    assert "home = /usr/bin" in (checkout / ".venv" / "pyvenv.cfg").read_text()

    # Run again: the same .venv, not a new one.
    made = (checkout / ".venv" / "pyvenv.cfg").stat()
    assert venv_python(checkout, shell_env) == python
    again = (checkout / ".venv" / "pyvenv.cfg").stat()
    assert (again.st_ino, again.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)

    # A .venv whose python is gone (its Python removed, say) is made again.
    (checkout / ".venv" / "bin" / "python").unlink()
    assert venv_python(checkout, shell_env) == python
    assert imported_from(python, checkout)[1] == str(checkout / ".venv")


def test_an_active_virtual_environment_is_left_alone(tmp_path: Path,
                                                     shell_env: dict[str, str]) -> None:
    active = tmp_path / "active"
    subprocess.run([str(DEBIAN_PYTHON), "-m", "venv", "--without-pip", str(active)], check=True)
    env = {**shell_env, "VIRTUAL_ENV": str(active),
           "PATH": f"{active / 'bin'}{os.pathsep}{shell_env['PATH']}"}
    checkout = checkout_copy(tmp_path / "checkout")
    python = venv_python(checkout, env)
    assert python == str(checkout / ".venv" / "bin" / "python")
    assert imported_from(python, checkout)[1] == str(checkout / ".venv")
    assert not list((active / "lib").glob("python3*/site-packages/pytest_jbrealtime*"))
