"""Generate the benchmark suite: 5,000 tests of the kinds a real suite has.

    python benchmarks/suite.py DIR [--tests 5000]

Trivial passes, parametrized cases, 300 failures with tracebacks, skips, and tests
with captured output, spread over 50 files. Deterministic: the same DIR content
every time, so runs on different days compare.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FILES = 50


def write_suite(directory: Path, tests: int = 5000) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    per_file = tests // FILES
    failures_per_file = 300 * per_file // tests
    skips_per_file = 2
    output_per_file = 10
    param_cases = 20
    for index in range(FILES):
        lines = ["import pytest", ""]
        count = 0
        lines += [
            f"@pytest.mark.parametrize('n', range({param_cases}))",
            "def test_param(n):",
            "    assert n * 2 == n + n",
            "",
        ]
        count += param_cases
        for f in range(failures_per_file):
            lines += [
                f"def test_fail_{f}():",
                "    data = {'expected': 1, 'got': 2}",
                "    assert data['expected'] == data['got'], f'mismatch in {data}'",
                "",
            ]
            count += 1
        for s in range(skips_per_file):
            lines += ["@pytest.mark.skip(reason='not on this platform')", f"def test_skip_{s}():",
                      "    pass", ""]
            count += 1
        for o in range(output_per_file):
            lines += [f"def test_output_{o}():", f"    print('line of output {o}' * 5)", ""]
            count += 1
        trivial = 0
        while count < per_file:
            lines += [f"def test_trivial_{trivial}():", "    assert True", ""]
            trivial += 1
            count += 1
        (directory / f"test_bench_{index:02d}.py").write_text("\n".join(lines))
    return directory


def write_trivial_suite(directory: Path, tests: int = 20000) -> Path:
    """The hardest case for a per-test cost: ``tests`` tests that do nothing, 100 a file.

    A trivial test costs pytest about 0.6 ms, so whatever the plugin does per test is
    a larger share here than in any real suite.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    per_file = 100
    for index in range((tests + per_file - 1) // per_file):
        count = min(per_file, tests - index * per_file)
        body = "\n".join(f"def test_{n}():\n    pass\n" for n in range(count))
        (directory / f"test_trivial_{index:03d}.py").write_text(body)
    return directory


SUITES = {"mixed": write_suite, "trivial": write_trivial_suite}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--tests", type=int, default=5000)
    args = parser.parse_args()
    write_suite(args.directory, args.tests)
    print(f"wrote {args.tests} tests to {args.directory}")


if __name__ == "__main__":
    main()
