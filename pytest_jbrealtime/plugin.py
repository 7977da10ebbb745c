"""The pytest entry point: options, switching on, and the link in the terminal.

Only what pytest calls lives here; the work is done by ``pytest_side.session.LivePlugin`` and
``pytest_side.live_server.LiveServer``. Without ``--jb-live`` nothing heavy is imported.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

# The `jb_live` fixture, always there so that a test using it also runs unwatched.
from pytest_jbrealtime.pytest_side.fixtures import jb_live  # noqa: F401

# First: what the hooks call is bound now, before any test can patch it (unpatched.py).
from pytest_jbrealtime.shared import unpatched  # noqa: F401
from pytest_jbrealtime.shared.settings import LiveSettings, add_options, load_settings

SETTINGS_KEY = pytest.StashKey[LiveSettings]()
# pyproject.toml's pytest11 entry point: `-p jbrealtime`, `-p no:jbrealtime`.
ENTRY_POINT_NAME = "jbrealtime"
LIVE_RUN_NAME = "jb-live-run"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_jbrealtime.pytest_side import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _warn(config: pytest.Config, message: str) -> None:
    # The terminal, not warnings.warn: under -W error a warning would fail the run,
    # and the plugin must never change a run's outcome.
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    line = f"jb-live: WARNING: {message}"
    if terminal is not None:
        # Past the capture: a warning raised inside a test's phase (the server dying
        # mid-test) would otherwise land in that test's captured output, unseen.
        capture = config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            terminal.write_line(line, yellow=True)
    else:
        import sys

        print(line, file=sys.stderr)


# pytest sets this while a test runs: a pytest that finds it in its environment was
# started from inside another run's test (pytester's inline or subprocess run, a test's
# own subprocess). The environment's switches (an inherited JB_LIVE=1) are not for it.
CURRENT_TEST_ENV = "PYTEST_CURRENT_TEST"
SWITCHES_ENV = ("JB_LIVE", "JB_LIVE_RECORD", "JB_LIVE_REPORT", "JB_LIVE_HUB")


def started_inside_a_test(config: pytest.Config) -> bool:
    # An xdist worker is started by its controller, not by a test: it follows the
    # controller (workerinput), whatever its environment says.
    return CURRENT_TEST_ENV in os.environ and not hasattr(config, "workerinput")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    settings = load_settings(config)  # every value checked, the environment's too
    if started_inside_a_test(config):
        # Watched only if its own command line or ini asks (docs: nested runs).
        settings = load_settings(config, {k: v for k, v in os.environ.items()
                                          if k not in SWITCHES_ENV})
    config.stash[SETTINGS_KEY] = settings
    # A recording or a report needs the run's event log, so it switches the plugin on.
    wanted = (settings.jb_live or settings.jb_live_record or settings.jb_live_report
              or settings.jb_live_hub)
    if not wanted:
        return
    if hasattr(config, "workerinput"):
        # An xdist worker publishes to the controller's server (xdist_worker.py).
        from pytest_jbrealtime.pytest_side.xdist_worker import start_worker

        start_worker(config, settings)
        return
    from pytest_jbrealtime.pytest_side.live_run import LiveRun

    live_run = LiveRun(config, settings, warn=lambda m: _warn(config, m))
    if live_run.start(run_id=settings.jb_live_run_id or uuid.uuid4().hex):
        config.pluginmanager.register(live_run, LIVE_RUN_NAME)
        # A Ctrl-C (or an error) in a pytest_unconfigure called before ours skips ours; the
        # config's cleanups still run, and the run's outputs are written there. After a
        # stop in pytest_unconfigure this one has nothing left to do.
        config.add_cleanup(lambda: live_run.stop(linger=False))


def pytest_unconfigure(config: pytest.Config) -> None:
    live_run = config.pluginmanager.get_plugin(LIVE_RUN_NAME)
    if live_run is not None:
        live_run.stop()
