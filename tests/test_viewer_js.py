"""The viewer's pure modules (search, URL state…) under ``node --test``: tests/js/*.test.mjs.

The viewer's modules are ES modules without a package.json saying so; node is told to
detect that (``--experimental-detect-module``, node 20.10+; the default from node 22).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).resolve().parent / "js"


def test_viewer_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed (scripts/lib/setup.sh installs nodejs)")
        pytest.skip("node is not installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    flags = [] if major >= 22 else ["--experimental-detect-module"]
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no JS tests in {JS_TESTS}"
    result = subprocess.run([node, *flags, "--test", *files], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
