"""scripts/lib/setup.sh, which scripts/test and scripts/demo share: a .venv of the
checkout's own, made with whatever ``python3`` the shell finds (Debian's, the one of a
virtual environment that is active, a pyenv shim), reused while it works, made again
when not; and scripts/demo itself, as the README has a newcomer run it.

Each case runs the real scripts in a copy of the checkout, in a stock shell's environment
(``env -i`` with Debian's PATH and a HOME of its own); pip installs offline, from wheels
packed from this environment (tests/wheelhouse.py), so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil
import pytest
import websockets

from tests.support import LinkedProcess, watch_sync
from tests.wheelhouse import run, wheelhouse

CHECKOUT = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = Path("/usr/bin/python3")
STOCK_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


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
    # The project's dependencies, selenium (scripts/demo installs the selenium extra), and
    # hatchling and editables for pip's isolated editable build.
    return wheelhouse(tmp_path_factory.mktemp("house") / "wheels", "pytest-jbrealtime",
                      "selenium", "hatchling", "editables")


def venv_python(checkout: Path, env: dict[str, str]) -> str:
    """``venv_python ""`` as the scripts call it; the python it prints."""
    output = run(["bash", "-c", '. scripts/lib/setup.sh && venv_python ""'], cwd=checkout,
                 env=env, timeout=600)
    return output.strip().splitlines()[-1]


def imported_from(python: str, checkout: Path) -> list[str]:
    """Where ``python`` imports the plugin from, and its prefix. Run from outside the
    checkout: in it, the folder itself would be imported, installed or not."""
    return run([python, "-c", "import sys, pytest_jbrealtime as p; print(p.__file__); "
                "print(sys.prefix)"], cwd=Path("/")).split()


@pytest.fixture
def shell_env(house: Path, tmp_path: Path) -> dict[str, str]:
    """A stock shell's environment (``env -i``): Debian's paths, a HOME of its own, and
    nothing else but what keeps pip offline."""
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        pytest.fail(f"{DEBIAN_PYTHON} is missing: the case of a stock Debian cannot be run")
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": STOCK_PATH, "HOME": str(home), "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


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


def test_a_pyenv_shim_python3_makes_the_venv(tmp_path: Path, shell_env: dict[str, str]) -> None:
    """Under pyenv, ``python3`` is a shell script that execs the interpreter pyenv picks
    (here the one this test environment was made from): .venv is made from that one."""
    interpreter = Path(sys.base_prefix) / "bin" / "python{}.{}".format(*sys.version_info)
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3"
    shim.write_text(f'#!/usr/bin/env bash\nexec "{interpreter}" "$@"\n')
    shim.chmod(0o755)
    env = {**shell_env, "PATH": f"{shims}{os.pathsep}{STOCK_PATH}", "PYENV_VERSION": "3"}
    checkout = checkout_copy(tmp_path / "checkout")
    python = venv_python(checkout, env)
    assert python == str(checkout / ".venv" / "bin" / "python")
    assert imported_from(python, checkout)[1] == str(checkout / ".venv")
    config = (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert f"home = {interpreter.resolve().parent}" in config


def test_a_python3_without_venv_gets_debians_python3_venv(
    tmp_path: Path, shell_env: dict[str, str]
) -> None:
    """Debian's python3 without python3-venv has no ensurepip: the script installs the
    package with apt-get. Here apt-get is a stand-in on PATH (this machine's packages are
    not ours to remove) that records its arguments and makes ensurepip importable again."""
    installed = tmp_path / "python3-venv-installed"
    calls = tmp_path / "apt-get.calls"
    blocked = tmp_path / "no-ensurepip"
    blocked.mkdir()
    (blocked / "ensurepip.py").write_text('raise ModuleNotFoundError("python3-venv is missing")\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(
        "#!/usr/bin/env bash\n"
        f'[ -e "{installed}" ] || export PYTHONPATH="{blocked}"\n'
        f'exec "{DEBIAN_PYTHON}" "$@"\n')
    (bin_dir / "apt-get").write_text(
        "#!/usr/bin/env bash\n"
        f'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "{calls}"\n'
        f'case " $* " in *" install "*python3-venv*) touch "{installed}";; esac\n')
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    env = {**shell_env, "PATH": f"{bin_dir}{os.pathsep}{STOCK_PATH}"}
    if os.getuid() != 0:  # the script runs apt-get through sudo when not root
        (bin_dir / "sudo").write_text('#!/usr/bin/env bash\nexec "$@"\n')
        (bin_dir / "sudo").chmod(0o755)
    checkout = checkout_copy(tmp_path / "checkout")
    python = venv_python(checkout, env)
    assert calls.read_text().splitlines() == [
        "DEBIAN_FRONTEND= update -qq",
        "DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends python3-venv",
    ]
    assert imported_from(python, checkout)[1] == str(checkout / ".venv")

    # With python3-venv there, nothing is asked of apt-get.
    calls.unlink()
    shutil.rmtree(checkout / ".venv")
    venv_python(checkout, env)
    assert not calls.exists()


def kill_tree(process: subprocess.Popen[str]) -> None:
    """bash and the pytest it started (scripts/demo does not exec it)."""
    if process.poll() is None:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()


def test_the_demo_prints_the_link_and_runs_once_watched(
    tmp_path: Path, shell_env: dict[str, str]
) -> None:
    """``bash scripts/demo`` in a fresh checkout, as the README says: it makes .venv, prints
    the link, waits for a viewer, and the demo suite then runs to its end under that
    viewer's eyes (the browser part in Debian's Chromium). Its own options come last, so
    a free port and no lingering are added the way a user adds options."""
    checkout = checkout_copy(tmp_path / "checkout")
    env = {**shell_env, "JB_DEMO_PACE": "0"}
    demo = LinkedProcess(
        ["env", "-i", *(f"{key}={value}" for key, value in env.items()), "bash",
         "scripts/demo", "--jb-live-port", "0", "--jb-live-linger", "0"], cwd=checkout)
    try:
        demo.wait_for_link(600)  # the first run makes .venv and installs into it
        try:
            watched = watch_sync(demo.ws_url("newcomer"), timeout=300)
        except (OSError, websockets.exceptions.WebSocketException) as error:
            demo.wait(120)
            raise AssertionError(f"no run to watch ({error!r}):\n{demo.output}") from error
        assert demo.wait(120) == 0, demo.output  # the demo fails on purpose; the script not
    finally:
        kill_tree(demo.process)
    assert (checkout / ".venv" / "bin" / "python").exists()
    assert watched.events[-1]["type"] == "session_finished", demo.output
    results = {e["test_id"]: e["result"] for e in watched.of_type("test_completed")}
    assert len(results) == 15, results
    assert Counter(results.values()) == {"passed": 10, "failed": 2, "skipped": 1,
                                          "xfailed": 1, "error": 1}, results
    assert results["test_demo_browser.py::test_log_in_and_buy_a_teapot"] == "passed"
    assert "3 failed, 10 passed, 1 skipped, 1 xfailed, 1 error" in demo.output

    # The demo's failing tests are no error of the script; a run that cannot start is.
    broken = subprocess.run(["bash", "scripts/demo", "--no-such-option"], cwd=checkout,
                            env=env, capture_output=True, text=True, timeout=600)
    assert broken.returncode == 4, broken.stdout + broken.stderr  # pytest's usage error
