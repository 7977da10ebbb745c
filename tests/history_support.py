"""The issue's story for history tests: one suite run three times (``run.txt`` says which).

One test starts failing, one keeps failing, one is fixed, one flips, one becomes slow.
"""

from __future__ import annotations

# Each run reads its number from run.txt; the tests' results follow the issue's story.
# The known failure comes first, so that "new failures first" is seen to reorder.
SUITE = """
import time
from pathlib import Path

RUN = int(Path(__file__).with_name("run.txt").read_text())

def test_keeps_failing():
    assert RUN == 0

def test_starts_failing():
    assert RUN < 3

def test_fixed():
    assert RUN == 3

def test_flips():
    assert RUN != 2

def test_slows_down():
    time.sleep(0.8 if RUN == 3 else 0.01)

def test_stable():
    pass
"""

STORY = {
    "test_starts_failing": ["new_test", "stable", "new_failure"],
    "test_keeps_failing": ["new_test", "known_failure", "known_failure"],
    "test_fixed": ["new_test", "known_failure", "fixed"],
    "test_flips": ["new_test", "new_failure", "flaky"],
    "test_slows_down": ["new_test", "stable", "slower"],
    "test_stable": ["new_test", "stable", "stable"],
}
