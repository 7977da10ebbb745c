"""What an option's value may be: parsers from the text of a flag, a variable or an ini key.

Each takes the text and returns the value, or raises ``ValueError`` saying what was
expected; ``settings.load_settings`` adds where the text came from. The hub's command
line (``hub/serve.py``) checks its URL and origins with the same parsers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected one of 1/true/yes/on or 0/false/no/off")


def _number(text: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"expected a {'whole ' if kind is int else ''}number") from None


def parse_non_negative_float(text: str) -> float:
    value: float = _number(text, float)
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a number >= 0")
    return value


def parse_positive_float(text: str) -> float:
    value: float = _number(text, float)
    if not value > 0 or value == float("inf"):
        raise ValueError("expected a number > 0")
    return value


def parse_non_negative_int(text: str) -> int:
    value: int = _number(text, int)
    if value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def parse_port(text: str) -> int:
    value: int = _number(text, int)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number from 0 to 65535 (0: any free port)")
    return value


# What a test path on pytest's command line looks like: taken for an output file's path
# (``--jb-live-report tests/test_a.py``, meant as a flag and then the tests), it would be
# overwritten with the report.
_SOURCE_SUFFIXES = (".py", ".pyc", ".pyi", ".pyw")


def parse_path(text: str) -> str:
    """The path of a file the run writes (its recording, its report)."""
    if not text.strip():
        raise ValueError("expected a file path")
    if "::" in text or text.lower().endswith(_SOURCE_SUFFIXES):
        raise ValueError("a test file or test id, not a path to write to: it would be "
                         "overwritten (e.g. report.html, run.jsonl)")
    if os.path.isdir(text):
        raise ValueError("a directory, not a file path (e.g. report.html, run.jsonl)")
    return text


def parse_public_url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError("expected an http:// or https:// address without a query, "
                         "e.g. https://ci-runner-7.example.com:8765")
    return text.strip().rstrip("/")


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return parse


def parse_text(text: str) -> str:
    return text


MIN_MONITOR_INTERVAL = 0.05


def parse_monitor_interval(text: str) -> float:
    value = parse_non_negative_float(text)
    if 0 < value < MIN_MONITOR_INTERVAL:
        raise ValueError(f"expected 0 (off) or a number >= {MIN_MONITOR_INTERVAL} (seconds)")
    return value


def parse_alert_line(text: str) -> tuple[float, float]:
    """``"85"`` or ``"85,95"``: warning and critical percentages (no critical: inf)."""
    usage = "expected WARNING or WARNING,CRITICAL percentages, e.g. 85,95"
    parts = text.split(",")
    if not 1 <= len(parts) <= 2:
        raise ValueError(usage)
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ValueError(usage) from None
    warning = numbers[0]
    critical = numbers[1] if len(numbers) == 2 else float("inf")
    if not 0 < warning <= 100 or not (critical == float("inf") or warning <= critical <= 100):
        raise ValueError(f"{usage}, with 0 < WARNING <= CRITICAL <= 100")
    return warning, critical


def parse_positive_int(text: str) -> int:
    value: int = _number(text, int)
    if value < 1:
        raise ValueError("expected a whole number >= 1")
    return value


def parse_origins(text: str) -> tuple[str, ...]:
    """Comma- or space-separated origins (scheme://host[:port]), kept exactly as given."""
    from urllib.parse import urlsplit

    origins = []
    for item in text.replace(",", " ").split():
        try:
            parts = urlsplit(item)
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname or (
            parts.path not in ("", "/") or parts.query or parts.fragment
        ):
            raise ValueError(
                f"{item!r} is not an origin; expected e.g. https://ci.example.com or "
                "http://host:8080, separated by commas"
            )
        origins.append(item.rstrip("/"))
    return tuple(origins)


def parse_hub_url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc or parts.query:
        raise ValueError("expected the hub's http:// or https:// address, e.g. "
                         "https://pytest-hub.example.com")
    return text.strip().rstrip("/")


def parse_run_id(text: str) -> str:
    from pytest_jbrealtime.shared.names import valid_run_id

    if not valid_run_id(text):
        raise ValueError("expected 1-64 of A-Z a-z 0-9 _ . - (e.g. the CI pipeline id)")
    return text


def parse_shard(text: str) -> str:
    from pytest_jbrealtime.shared.names import valid_shard

    if not valid_shard(text):
        raise ValueError("expected 1-64 of A-Z a-z 0-9 _ . : @ -")
    return text


def parse_stall_after(text: str) -> float | str:
    """``auto``, ``off``, or seconds (> 0): when a running test counts as stalled."""
    lowered = text.strip().lower()
    if lowered in ("auto", "off"):
        return lowered
    try:
        return parse_positive_float(lowered)
    except ValueError:
        raise ValueError("expected SECONDS (> 0), auto or off") from None


def parse_label(text: str) -> str:
    label = text.strip()
    if not 1 <= len(label) <= 200 or not label.isprintable():
        raise ValueError("expected 1-200 printable characters")
    return label
