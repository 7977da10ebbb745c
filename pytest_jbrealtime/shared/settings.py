"""Options: one table, one precedence rule (command line > environment > ini), validated.

Every option is declared once in ``OPTIONS``; ``addoption``/``addini`` and the
resolution in :func:`load_settings` are derived from it, so adding an option is one
entry here and one field on :class:`LiveSettings`, which holds its default (the help
text's ``{default}`` shows it). What a value may be is checked by the parsers of
``option_values.py``. pytest is imported only where a value is refused, so the server
process can read the defaults without it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

from pytest_jbrealtime.shared.ci import LINK_FORMS
from pytest_jbrealtime.shared.editor import parse_editor
from pytest_jbrealtime.shared.option_values import (
    one_of,
    parse_alert_line,
    parse_bool,
    parse_hub_url,
    parse_label,
    parse_monitor_interval,
    parse_non_negative_float,
    parse_non_negative_int,
    parse_origins,
    parse_path,
    parse_port,
    parse_positive_float,
    parse_positive_int,
    parse_public_url,
    parse_run_id,
    parse_shard,
    parse_stall_after,
    parse_text,
)

DEFAULT_PORT = 8765


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting, as a command-line flag, an environment variable and an ini key."""

    field: str
    flag: str
    env: str
    help: str
    parse: Callable[[str], Any]
    is_flag: bool = False
    metavar: str | None = None

    @property
    def ini(self) -> str:
        return self.field

    @property
    def default(self) -> Any:
        """The default is the ``LiveSettings`` field's: declared there, once."""
        return getattr(DEFAULT_SETTINGS, self.field)

    @property
    def help_text(self) -> str:
        """The help, its ``{default}`` filled in from the default."""
        return self.help.format(default=_shown(self.default))


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


OPTIONS: tuple[Option, ...] = (
    Option(
        "jb_live", "--jb-live", "JB_LIVE",
        "stream the run live to a browser viewer (prints the link)",
        parse_bool, is_flag=True,
    ),
    Option(
        "jb_live_host", "--jb-live-host", "JB_LIVE_HOST",
        "address the live server binds (default {default}; anything else is reachable "
        "from other machines)",
        parse_text, metavar="HOST",
    ),
    Option(
        "jb_live_port", "--jb-live-port", "JB_LIVE_PORT",
        "port of the live server (default {default}, or a free one if taken; "
        "0: any free port)",
        parse_port, metavar="PORT",
    ),
    Option(
        "jb_live_linger", "--jb-live-linger", "JB_LIVE_LINGER",
        "keep serving the finished run for SECONDS so late viewers can still watch",
        parse_non_negative_float, metavar="SECONDS",
    ),
    Option(
        "jb_live_wait_viewers", "--jb-live-wait-viewers", "JB_LIVE_WAIT_VIEWERS",
        "before the first test, wait until N viewers are connected (with --jb-live-hub: "
        "watching the run on the hub)",
        parse_non_negative_int, metavar="N",
    ),
    Option(
        "jb_live_wait_timeout", "--jb-live-wait-timeout", "JB_LIVE_WAIT_TIMEOUT",
        "give up waiting for viewers after SECONDS (default {default}) and run anyway",
        parse_positive_float, metavar="SECONDS",
    ),
    Option(
        "jb_live_record", "--jb-live-record", "JB_LIVE_RECORD",
        "write the run's events to PATH as JSON lines as they happen (PATH.partial until "
        "the run ends; .gz: compressed); "
        "replay with `python -m pytest_jbrealtime replay PATH`",
        parse_path, metavar="PATH",
    ),
    Option(
        "jb_live_report", "--jb-live-report", "JB_LIVE_REPORT",
        "at the end, write one self-contained HTML file of the run (opens from disk)",
        parse_path, metavar="PATH",
    ),
    Option(
        "jb_live_report_budget", "--jb-live-report-budget", "JB_LIVE_REPORT_BUDGET",
        "screenshots embedded in the report up to MIB mebibytes (default {default}); the rest "
        "are files beside it",
        parse_non_negative_float, metavar="MIB",
    ),
    Option(
        "jb_live_public_url", "--jb-live-public-url", "JB_LIVE_PUBLIC_URL",
        "the address others reach this server by (port forward, proxy): the printed "
        "link uses it instead of http://HOST:PORT",
        parse_public_url, metavar="URL",
    ),
    Option(
        "jb_live_link", "--jb-live-link", "JB_LIVE_LINK",
        "how the terminal gives the viewer's credential: url (default {default}: one link "
        "with the key in it; the browser's history keeps it) or key (the address and the "
        "key apart; the page asks for the key, and nothing in the history opens the run)",
        one_of(*LINK_FORMS), metavar="FORM",
    ),
    Option(
        "jb_live_open", "--jb-live-open", "JB_LIVE_OPEN",
        "open the viewer in the local browser when the run starts",
        parse_bool, is_flag=True,
    ),
    Option(
        "jb_live_screenshots", "--jb-live-screenshots", "JB_LIVE_SCREENSHOTS",
        "browser screenshots of watched Selenium drivers: off, failure (when a test that used "
        "one fails) or actions (also after each navigation and click); default {default}",
        one_of("off", "failure", "actions"), metavar="WHEN",
    ),
    Option(
        "jb_live_screenshot_interval", "--jb-live-screenshot-interval",
        "JB_LIVE_SCREENSHOT_INTERVAL",
        "with --jb-live-screenshots=actions, at most one screenshot per driver every MS "
        "milliseconds (default {default})",
        parse_non_negative_int, metavar="MS",
    ),
    Option(
        "jb_live_show_typed_text", "--jb-live-show-typed-text", "JB_LIVE_SHOW_TYPED_TEXT",
        "put the text typed into browser fields in the events (hidden by default: it is "
        "often a password; the events say how many characters were typed)",
        parse_bool, is_flag=True,
    ),
    Option(
        "jb_live_monitor_interval", "--jb-live-monitor-interval", "JB_LIVE_MONITOR_INTERVAL",
        "sample CPU, memory, disk and the run's processes every SECONDS "
        "(default {default}; 0: off)",
        parse_monitor_interval, metavar="SECONDS",
    ),
    Option(
        "jb_live_alert_cpu", "--jb-live-alert-cpu", "JB_LIVE_ALERT_CPU",
        "machine CPU use (%) held for 5 s that raises a high_cpu alert: WARNING[,CRITICAL] "
        "(default {default})",
        parse_alert_line, metavar="PCT[,PCT]",
    ),
    Option(
        "jb_live_alert_memory", "--jb-live-alert-memory", "JB_LIVE_ALERT_MEMORY",
        "machine memory use (%) that raises a high_memory alert: WARNING[,CRITICAL] "
        "(default {default})",
        parse_alert_line, metavar="PCT[,PCT]",
    ),
    Option(
        "jb_live_alert_disk", "--jb-live-alert-disk", "JB_LIVE_ALERT_DISK",
        "use (%) of the disk the run writes to that raises a disk_space alert: "
        "WARNING[,CRITICAL] (default {default})",
        parse_alert_line, metavar="PCT[,PCT]",
    ),
    Option(
        "jb_live_alert_hysteresis", "--jb-live-alert-hysteresis", "JB_LIVE_ALERT_HYSTERESIS",
        "an alert is resolved once its value is this many points below the warning line "
        "(default {default})",
        parse_non_negative_float, metavar="POINTS",
    ),
    Option(
        "jb_live_metrics_public", "--jb-live-metrics-public", "JB_LIVE_METRICS_PUBLIC",
        "serve /metrics (Prometheus) without a token (the other routes still need one)",
        parse_bool, is_flag=True,
    ),
    Option(
        "jb_live_allow_origin", "--jb-live-allow-origin", "JB_LIVE_ALLOW_ORIGIN",
        "web pages (origins, exact match, comma-separated) besides the server's own that "
        "may open the live WebSocket, e.g. https://dashboard.example.com",
        parse_origins, metavar="ORIGINS",
    ),
    Option(
        "jb_live_max_viewers", "--jb-live-max-viewers", "JB_LIVE_MAX_VIEWERS",
        "viewers the server takes at once (default {default}); more are refused with 1013",
        parse_positive_int, metavar="N",
    ),
    Option(
        "jb_live_max_user_connections", "--jb-live-max-user-connections",
        "JB_LIVE_MAX_USER_CONNECTIONS",
        "connections one token holder may have open (default {default}); a new one past that "
        "closes the oldest",
        parse_positive_int, metavar="N",
    ),
    Option(
        "jb_live_max_message_rate", "--jb-live-max-message-rate", "JB_LIVE_MAX_MESSAGE_RATE",
        "messages a second a viewer may send (default {default}); more close it with 1008",
        parse_positive_float, metavar="PER_SECOND",
    ),
    Option(
        "jb_live_write_cap", "--jb-live-write-cap", "JB_LIVE_WRITE_CAP",
        "bytes a viewer may leave unread beyond what the kernel buffers (default {default}); "
        "past that it is closed (4008) and reconnects",
        parse_positive_int, metavar="BYTES",
    ),
    Option(
        "jb_live_ping_interval", "--jb-live-ping-interval", "JB_LIVE_PING_INTERVAL",
        "ping each viewer every SECONDS (default {default})",
        parse_positive_float, metavar="SECONDS",
    ),
    Option(
        "jb_live_ping_timeout", "--jb-live-ping-timeout", "JB_LIVE_PING_TIMEOUT",
        "drop a viewer that has not answered a ping within SECONDS (default {default})",
        parse_positive_float, metavar="SECONDS",
    ),
    Option(
        "jb_live_hub", "--jb-live-hub", "JB_LIVE_HUB",
        "publish the run to the hub at URL (python -m pytest_jbrealtime serve) instead of "
        "serving it here; the producer token comes from JB_LIVE_TOKEN",
        parse_hub_url, metavar="URL",
    ),
    Option(
        "jb_live_run_id", "--jb-live-run-id", "JB_LIVE_RUN_ID",
        "the run's id (default: a random one); shards publishing with one id to a hub "
        "make one run",
        parse_run_id, metavar="ID",
    ),
    Option(
        "jb_live_shard", "--jb-live-shard", "JB_LIVE_SHARD",
        "this process's name within a run on a hub (default: HOSTNAME-PID)",
        parse_shard, metavar="NAME",
    ),
    Option(
        "jb_live_shards", "--jb-live-shards", "JB_LIVE_SHARDS",
        "with --jb-live-run-id: the run on the hub ends once N shards have finished "
        "(default {default}: once every shard that joined has)",
        parse_non_negative_int, metavar="N",
    ),
    Option(
        "jb_live_editor", "--jb-live-editor", "JB_LIVE_EDITOR",
        "make each path:line of a traceback a link that opens your editor: vscode, "
        "pycharm, or a URL template with {{path}} and {{line}} (default off)",
        parse_editor, metavar="EDITOR",
    ),
    Option(
        "jb_live_project", "--jb-live-project", "JB_LIVE_PROJECT",
        "the project a hub keeps this run's history under (default: the CI's repository "
        "or project, else the root directory's name)",
        parse_label, metavar="NAME",
    ),
    Option(
        "jb_live_branch", "--jb-live-branch", "JB_LIVE_BRANCH",
        "the branch a hub keeps this run's history under (default: the CI's branch, else "
        "git's current branch, read from .git)",
        parse_label, metavar="NAME",
    ),
    Option(
        "jb_live_hub_wait", "--jb-live-hub-wait", "JB_LIVE_HUB_WAIT",
        "at the end, wait up to SECONDS (default {default}) for the hub to take events "
        "still unsent",
        parse_non_negative_float, metavar="SECONDS",
    ),
    Option(
        "jb_live_stall_after", "--jb-live-stall-after", "JB_LIVE_STALL_AFTER",
        "a test running longer than SECONDS is stalled: a test_stalled event with its "
        "stack, again each time its time doubles (default {default}: 10 times its last "
        "duration, at least 10 s; 60 s without history; off: never)",
        parse_stall_after, metavar="SECONDS|auto|off",
    ),
)


@dataclasses.dataclass(frozen=True)
class LiveSettings:
    """The resolved, validated settings of one run; the defaults are the options' own
    (``OPTIONS`` and the server's ``ServerLimits`` / ``MonitorConfig`` read them here)."""

    jb_live: bool = False
    jb_live_host: str = "127.0.0.1"
    jb_live_port: int = DEFAULT_PORT
    jb_live_linger: float = 0.0
    jb_live_wait_viewers: int = 0
    jb_live_wait_timeout: float = 30.0
    jb_live_record: str | None = None
    jb_live_report: str | None = None
    jb_live_report_budget: float = 20.0
    jb_live_public_url: str | None = None
    jb_live_link: str = "url"
    jb_live_open: bool = False
    jb_live_screenshots: str = "failure"
    jb_live_screenshot_interval: int = 500
    jb_live_show_typed_text: bool = False
    jb_live_monitor_interval: float = 1.0
    jb_live_alert_cpu: tuple[float, float] = (90.0, 98.0)
    jb_live_alert_memory: tuple[float, float] = (85.0, 95.0)
    jb_live_alert_disk: tuple[float, float] = (90.0, 97.0)
    jb_live_alert_hysteresis: float = 5.0
    jb_live_metrics_public: bool = False
    jb_live_allow_origin: tuple[str, ...] = ()
    jb_live_max_viewers: int = 100
    jb_live_max_user_connections: int = 10
    jb_live_max_message_rate: float = 20.0
    jb_live_write_cap: int = 1024 * 1024
    jb_live_ping_interval: float = 20.0
    jb_live_ping_timeout: float = 20.0
    jb_live_hub: str | None = None
    jb_live_run_id: str | None = None
    jb_live_shard: str | None = None
    jb_live_shards: int = 0
    jb_live_hub_wait: float = 10.0
    jb_live_stall_after: float | str = "auto"
    jb_live_project: str | None = None
    jb_live_branch: str | None = None
    jb_live_editor: str | None = None


DEFAULT_SETTINGS = LiveSettings()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("jb-live", "live run viewer (pytest-jbrealtime)")
    for option in OPTIONS:
        # argparse expands %-formats in help texts; ours are plain text.
        text = f"{option.help_text} [env {option.env}]".replace("%", "%%")
        if option.is_flag:
            group.addoption(option.flag, action="store_true", default=None,
                            dest=option.field, help=text)
        else:
            group.addoption(option.flag, action="store", default=None, dest=option.field,
                            metavar=option.metavar, help=text)
        parser.addini(option.ini, help=option.help_text, default=None)


def _resolve(config: pytest.Config, option: Option, environ: Mapping[str, str]) -> Any:
    """Command line > environment > ini > default, and say where a bad value came from."""
    raw = config.getoption(option.field, default=None)
    source = option.flag
    if raw is None:
        raw = environ.get(option.env)
        source = f"environment variable {option.env}"
    if raw is None or raw == "":
        ini_value = config.getini(option.ini)
        raw = ini_value if ini_value not in (None, "", []) else None
        source = f"ini option {option.ini}"
    if raw is None:
        return option.default
    if isinstance(raw, bool):
        return raw
    try:
        return option.parse(str(raw))
    except ValueError as exc:
        import pytest

        raise pytest.UsageError(f"{source}: invalid value {raw!r}: {exc}") from None


def load_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> LiveSettings:
    """The run's settings; ``environ`` instead of ``os.environ`` (a nested run, plugin.py)."""
    env = os.environ if environ is None else environ
    values = {option.field: _resolve(config, option, env) for option in OPTIONS}
    return LiveSettings(**values)
