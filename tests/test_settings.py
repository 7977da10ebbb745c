"""Options: command line > environment > ini, and a clear UsageError for bad values."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from pytest_jbrealtime.hub.serve import configure_parser
from pytest_jbrealtime.plugin import SETTINGS_KEY
from pytest_jbrealtime.shared import ci
from pytest_jbrealtime.shared.limit_config import ServerLimits, limits_from_settings
from pytest_jbrealtime.shared.monitor_config import MonitorConfig, monitor_config
from pytest_jbrealtime.shared.settings import OPTIONS, LiveSettings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jb-live-port", "70000"], "--jb-live-port: invalid value '70000': expected a port "
                                      "number from 0 to 65535"),
        (["--jb-live-port", "http"], "--jb-live-port: invalid value 'http': expected a whole "
                                     "number"),
        (["--jb-live-linger", "-1"], "--jb-live-linger: invalid value '-1': expected a number "
                                     ">= 0"),
        (["--jb-live-wait-timeout", "0"], "--jb-live-wait-timeout: invalid value '0': expected "
                                          "a number > 0"),
    ],
)
def test_bad_option_value_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_bad_environment_value_names_the_variable(pytester: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    monkeypatch.setenv("JB_LIVE", "maybe")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*environment variable JB_LIVE: invalid value 'maybe': expected one of*"]
    )


def test_bad_ini_value_names_the_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\njb_live_port = many\n")
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option jb_live_port: invalid value 'many'*"])


def test_command_line_beats_environment_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "jb_live_linger = 1\njb_live_wait_timeout = 7\n"
                     "jb_live_wait_viewers = 3\n")
    monkeypatch.setenv("JB_LIVE_LINGER", "2")
    monkeypatch.setenv("JB_LIVE_WAIT_TIMEOUT", "8")
    config = pytester.parseconfigure("--jb-live-linger", "4")
    settings = config.stash[SETTINGS_KEY]
    assert settings.jb_live_linger == 4.0  # command line
    assert settings.jb_live_wait_timeout == 8.0  # environment
    assert settings.jb_live_wait_viewers == 3  # ini
    assert settings.jb_live is False  # default: off


def test_every_option_is_documented_with_its_environment_variable() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "--help"],
                            capture_output=True, text=True, check=True)
    for option in OPTIONS:
        assert option.flag in result.stdout
        assert option.env in result.stdout


def test_without_the_flag_nothing_heavy_is_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    # Only this plugin loaded: other installed plugins (pytest-selenium) import their own.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "pytest_jbrealtime.plugin"],
        cwd=pytester.path, capture_output=True, text=True,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert result.returncode == 0, result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "pytest_jbrealtime" in imported  # the plugin is loaded …
    assert imported.isdisjoint({"starlette", "uvicorn", "websockets", "jwt", "psutil",
                                "selenium"})  # … and costs nothing


@pytest.mark.parametrize(("autoload", "plugin_args", "loaded"), [
    (False, [], False),  # pytest's own rule: nothing from entry points
    (False, ["-p", "jbrealtime"], True),  # the entry point's name
    (False, ["-p", "pytest_jbrealtime"], True),  # the package's name: was exit 4
    (False, ["-p", "no:jbrealtime", "-p", "pytest_jbrealtime"], False),  # still blocks
    (True, ["-p", "pytest_jbrealtime"], True),  # autoloaded too: registered once
    (True, ["-p", "no:jbrealtime"], False),
], ids=["off", "off-entry-point", "off-package", "off-blocked", "on-package", "on-blocked"])
def test_the_plugin_is_loaded_by_either_name_with_or_without_autoloading(
        pytester: pytest.Pytester, autoload: bool, plugin_args: list[str],
        loaded: bool) -> None:
    """Where entry points are not loaded (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1), ``-p``
    with the entry point's or the package's name loads the plugin (README)."""
    pytester.makepyfile(test_a="def test_a(): pass\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin_args,
         "--jb-live", "--jb-live-port", "0"],
        cwd=pytester.path, capture_output=True, text=True, env=env, timeout=120)
    if loaded:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed" in result.stdout
        assert "jb-live: watch this run at" in result.stdout
    else:  # pytest's usage error, as for any option of a plugin not loaded
        assert result.returncode == 4, result.stdout + result.stderr
        assert "unrecognized arguments: --jb-live" in result.stderr


@pytest.mark.parametrize("args", [
    ["--jb-live-report", "test_a.py"],  # the flag, then the tests: meant as two things
    ["--jb-live-record", "test_a.py::test_a"],
    ["--jb-live-report", "."],
], ids=["test-file", "test-id", "directory"])
def test_an_output_path_that_is_a_test_or_a_folder_is_refused(
        pytester: pytest.Pytester, args: list[str]) -> None:
    """``--jb-live-report test_a.py`` wrote the report over the test file; now it is
    pytest's usage error naming the option, and the file is left as it was."""
    source = pytester.makepyfile(test_a="def test_a(): pass\n").read_text()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                            cwd=pytester.path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{args[0]}: invalid value" in result.stderr
    assert (pytester.path / "test_a.py").read_text() == source


def test_plugin_does_nothing_on_an_xdist_worker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess("--jb-live", "--jb-live-port", "0", "-n", "1")
    result.assert_outcomes(passed=1)
    # Header + summary; under CI the token is printed once only (docs/recording.md).
    expected = 1 if ci.detect() else 2
    assert result.stdout.str().count("jb-live: watch this run at") == expected


def test_defaults_are_declared_once_and_every_process_reads_them() -> None:
    defaults = LiveSettings()
    for option in OPTIONS:
        assert option.default == getattr(defaults, option.field)
        assert "{default}" not in option.help_text  # every placeholder filled
    by_field = {option.field: option for option in OPTIONS}
    assert "(default 100)" in by_field["jb_live_max_viewers"].help_text
    assert "(default 90,98)" in by_field["jb_live_alert_cpu"].help_text
    # The server's side takes the same defaults: a run without options and a bare
    # ServerLimits / MonitorConfig agree.
    from_settings = limits_from_settings(defaults)
    bare = ServerLimits()
    for name in ("messages_per_second", "max_user_connections", "max_viewers", "write_cap",
                 "ping_interval", "ping_timeout"):
        assert getattr(from_settings, name) == getattr(bare, name), name
    monitor = MonitorConfig.from_dict(monitor_config(defaults, "/") or {})
    bare_monitor = MonitorConfig(interval=1.0, pytest_pid=0, disk_paths=())
    for name in ("cpu_alert", "memory_alert", "disk_alert", "hysteresis"):
        assert getattr(monitor, name) == getattr(bare_monitor, name), name


def test_the_hub_checks_addresses_with_the_same_rules_as_the_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--public-url", "https://hub.example.com/",
                              "--allow-origin", "https://a.example.com,http://b:8080",
                              "--allow-origin", "https://c.example.com"])
    assert args.public_url == "https://hub.example.com"
    assert args.allow_origin == ["https://a.example.com", "http://b:8080", "https://c.example.com"]
    for bad in (["--public-url", "ftp://hub"], ["--allow-origin", "https://a.example.com/page"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
        assert "expected" in capsys.readouterr().err
