"""The viewer's pure modules (protocol, store, client, search, URL state…) under
``node --test``: tests/js/*.test.mjs.

Run here so that the one test command (``bash scripts/test``, ``tox -e test``) runs
them too; ``node --test tests/js/`` runs them alone. The viewer's modules are ES
modules (package.json says ``"type": "module"``; node before 22 is also told to detect
it, ``--experimental-detect-module``, node 20.10+).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JS_TESTS = Path(__file__).resolve().parent / "js"


def test_viewer_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    # Not a skip: scripts/test (scripts/lib/setup.sh) installs Debian's nodejs.
    assert node is not None, "node is not installed (scripts/lib/setup.sh installs nodejs)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    flags = [] if major >= 22 else ["--experimental-detect-module"]
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.mjs"))
    assert len(files) >= 5, f"JS tests missing in {JS_TESTS}: {files}"
    result = subprocess.run([node, *flags, "--test", *files], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "# fail 0" in result.stdout


def test_run_titles_know_every_flag_option_of_the_plugin() -> None:
    """runtitle.js drops the plugin's options from the title, with the value of those that
    take one: its list of the options that take none must be settings.py's, or a new flag
    would swallow the argument after it (a test path) from every title."""
    import re

    from pytest_jbrealtime.shared.settings import OPTIONS

    source = (JS_TESTS.parent.parent / "viewer" / "runtitle.js").read_text(encoding="utf-8")
    match = re.search(r"JB_LIVE_FLAGS = new Set\(\[([^\]]*)\]\)", source)
    assert match is not None, "JB_LIVE_FLAGS not found in viewer/runtitle.js"
    in_js = set(re.findall(r"'(--[\w-]+)'", match.group(1)))
    assert in_js == {option.flag for option in OPTIONS if option.is_flag}
    assert all(option.flag.startswith("--jb-live") for option in OPTIONS)


def test_every_data_testid_of_the_viewer_is_documented() -> None:
    """Tests and users' tools rely on the data-testid hooks: each one the viewer or the hub
    page sets is in docs/viewer.md's table (the hub's history parts in docs/hub.md)."""
    import re

    root = JS_TESTS.parent.parent
    pattern = re.compile(
        r"""data-testid['"]?\s*[:=]\s*['"]([\w-]+)['"]|dataset\.testid\s*=\s*['"]([\w-]+)['"]""")
    found: dict[str, str] = {}
    for path in sorted((root / "viewer").glob("*")):
        if path.suffix in (".js", ".html"):
            for match in pattern.finditer(path.read_text(encoding="utf-8")):
                found.setdefault(match.group(1) or match.group(2), path.name)
    assert len(found) > 80, found  # the pattern still finds them
    docs = "".join((root / "docs" / name).read_text(encoding="utf-8")
                   for name in ("viewer.md", "hub.md"))
    missing = {testid: where for testid, where in found.items() if f"`{testid}`" not in docs}
    assert missing == {}
