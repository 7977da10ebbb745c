"""What `--jb-live` costs a real suite of small tests: packaging's own (~27,000 tests).

    python benchmarks/packaging_suite.py [--runs 3] [--version 25.0] [--workdir DIR]

Fetches packaging's sdist from PyPI (``pip download``, into ``--workdir``, kept there
for the next time), installs what its tests need besides pytest (``pretend``) into
this interpreter's environment, and runs its ``tests/`` against its own ``src/``:
plain pytest against ``--jb-live`` with one viewer reading everything, alternating,
as ``overhead.py`` does (wall, pytest's CPU, CPU with the server; medians of the
per-round ratios). The fetch happens here only: no test of this project reaches the
network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import compare


def fetched_suite(version: str, workdir: Path) -> Path:
    """packaging's unpacked sdist in ``workdir``, downloaded if not there yet."""
    tree = workdir / f"packaging-{version}"
    if not (tree / "tests").is_dir():
        sdist = workdir / f"packaging-{version}.tar.gz"
        if not sdist.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet",
                            "--no-deps", "--no-binary", ":all:", f"packaging=={version}",
                            "-d", str(workdir)], check=True)
        with tarfile.open(sdist) as archive:
            archive.extractall(workdir, filter="data")
    try:
        import pretend  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "pretend"],
                       check=True)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--version", default="25.0")
    parser.add_argument("--workdir", type=Path,
                        default=Path.home() / ".cache" / "jb-live-benchmarks")
    parser.add_argument("--variants", default="plain,live")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    tree = fetched_suite(args.version, args.workdir)
    # Its tests import its own source, not the packaging pytest itself depends on.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(tree / "src"), os.environ.get("PYTHONPATH")) if p)
    # From its folder: `python -m pytest` puts the working directory first on sys.path.
    os.chdir(tree)
    compare(args.variants.split(","), tree / "tests", args.workdir, args.runs,
            f"packaging {args.version}'s own suite")


if __name__ == "__main__":
    main()
