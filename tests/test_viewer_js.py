"""The viewer's pure modules, unit-tested under Node's own runner (tests/js/*.test.js).

Run here so that the one test command (``bash scripts/test``, ``tox -e test``) runs
them too; ``node --test tests/js/`` runs them alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_viewer_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    assert node, "node is missing: scripts/test installs Debian's nodejs"
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.js"))
    assert len(tests) >= 4, tests
    result = subprocess.run([node, "--test", *tests], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "# fail 0" in result.stdout
