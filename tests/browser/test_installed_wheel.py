"""The project as a user gets it: built with ``python -m build``, installed from the wheel
into a fresh virtual environment outside the checkout, and run there.

The wheel is built from the sdist (``build``'s default), so a file the sdist forgets
fails here too. Nothing is downloaded: the build runs without isolation, and the fresh
environment's dependencies are packed from this one (tests/wheelhouse.py).
"""

from __future__ import annotations

import importlib.metadata
import sys
import tarfile
import threading
import urllib.request
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.viewer_page import ViewerPage
from tests.support import LinkedProcess, Watched, watch_sync
from tests.wheelhouse import fresh_venv_with, run

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = [pytest.mark.wheel, pytest.mark.browser]

CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT = "pytest-jbrealtime"

SUITE = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 + 1 == 3

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path

    @property
    def version(self) -> str:
        return self.wheel.name.split("-")[1]

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.namelist()

    def wheel_file(self, name: str) -> bytes:
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.read(name)

    def wheel_metadata(self) -> list[tuple[str, str]]:
        text = self.wheel_file(f"pytest_jbrealtime-{self.version}.dist-info/METADATA")
        return list(Parser().parsestr(text.decode("utf-8")).items())


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(CHECKOUT)])
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(sdist, wheel)


def viewer_files() -> list[str]:
    """The viewer's files as hatch picks them: tracked, or untracked and not ignored."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "viewer"],
                 cwd=CHECKOUT)
    return sorted({line.removeprefix("viewer/") for line in listed.splitlines()
                   if (CHECKOUT / line).is_file()})


def test_the_sdist_and_the_wheel_carry_the_viewer(dists: Dists) -> None:
    assert viewer_files(), "no viewer in the checkout?"
    with tarfile.open(dists.sdist) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    root = f"pytest_jbrealtime-{dists.version}.dist-info"
    in_wheel = set(dists.wheel_names())
    for name in viewer_files():
        assert f"viewer/{name}" in in_sdist
        assert f"pytest_jbrealtime/viewer/{name}" in in_wheel
    for name in ("README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml"):
        assert name in in_sdist
    assert "pytest_jbrealtime/py.typed" in in_wheel
    assert f"{root}/licenses/LICENSE" in in_wheel
    entry_points = dists.wheel_file(f"{root}/entry_points.txt").decode()
    assert "[pytest11]\njbrealtime = pytest_jbrealtime.plugin" in entry_points


def test_the_wheel_metadata(dists: Dists) -> None:
    fields = dists.wheel_metadata()
    values = {key: [v for k, v in fields if k == key] for key, _ in fields}
    # One version source: pyproject.toml, which this (editable) environment was built from.
    assert values["Version"] == [dists.version]
    assert dists.version == importlib.metadata.version(PROJECT)
    assert "Framework :: Pytest" in values["Classifier"]
    urls = dict(url.split(", ", 1) for url in values["Project-URL"])
    assert {"Homepage", "Changelog", "Issues", "Source"} <= set(urls)
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert values["License-Expression"] == ["MIT"]
    assert values["Requires-Python"] == [">=3.10"]


def test_twine_check_passes_on_both(dists: Dists) -> None:
    output = run([sys.executable, "-m", "twine", "check", "--strict",
                  str(dists.sdist), str(dists.wheel)])
    assert output.count("PASSED") == 2, output


def test_the_installed_wheel_serves_the_viewer_and_writes_the_report(
    dists: Dists, driver: Chrome, tmp_path: Path
) -> None:
    python = fresh_venv_with(dists.wheel, PROJECT, tmp_path / "venv")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_small.py").write_text(SUITE)
    (suite / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")

    # Installed, not borrowed from the checkout; the same version everywhere.
    where = run([str(python), "-c", "import pytest_jbrealtime as p, pytest_jbrealtime.server.app"
                 " as a; print(p.__file__); print(a.viewer_directory())"], cwd=suite)
    module_file, viewer_dir = where.split()
    assert Path(module_file).is_relative_to(tmp_path / "venv"), where
    assert Path(viewer_dir).is_relative_to(tmp_path / "venv"), where
    expected = f"{PROJECT} {dists.version}"
    assert run([str(python), "-m", "pytest_jbrealtime", "--version"], cwd=suite).strip() == expected
    console_script = str(python.parent / "pytest-jbrealtime")
    assert run([console_script, "--version"], cwd=suite).strip() == expected

    # Two viewers hold the run at its start: a WebSocket client (for the hello) and Chromium.
    live = LinkedProcess(
        [str(python), "-m", "pytest", "--jb-live", "--jb-live-port", "0",
         "--jb-live-report", "out/report.html", "--jb-live-wait-viewers", "2",
         "--jb-live-wait-timeout", "120"],
        cwd=suite, env={"PYTHONPATH": "", "VIRTUAL_ENV": ""},
    )
    try:
        live.wait_for_link(120)
        for name in (n for n in dists.wheel_names() if n.startswith("pytest_jbrealtime/viewer/")):
            served = name.removeprefix("pytest_jbrealtime/viewer/")
            with urllib.request.urlopen(f"{live.http_base}/{served}?token={live.token}",
                                        timeout=30) as response:
                assert response.status == 200
                assert response.read() == dists.wheel_file(name), served

        watched: list[Watched] = []
        watcher = threading.Thread(
            target=lambda: watched.append(watch_sync(live.ws_url("wheel-test"), timeout=120)),
            daemon=True)
        watcher.start()
        page = ViewerPage(driver, timeout=120).open(live.link)
        page.wait_finished()
        counts = page.counts()
        assert (counts["passed"], counts["failed"], counts["skipped"]) == (1, 1, 1)
        assert live.wait(120) == 1, live.output
        watcher.join(120)
    finally:
        live.kill()
    (hello,) = [m for m in watched[0].others if m["type"] == "hello"]
    assert hello["version"] == dists.version

    report = suite / "out" / "report.html"
    assert report.is_file(), live.output
    page = ViewerPage(driver, timeout=60).open(report.as_uri())
    page.wait_finished()
    counts = page.counts()
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (1, 1, 1)
