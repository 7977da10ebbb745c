"""A pytest plugin for benchmarks only: instruction counts that repeat between runs.

    PYTHONPATH=benchmarks pytest -p steady_counts ...

Used by ``instructions.py --steady``. Two things move callgrind's per-test slope by
some ±20,000 instructions a test between runs of one version (docs/benchmarks.md):
a full garbage collection (~100 M instructions over pytest's objects) that falls
between the two suite sizes or not, and the publisher's 20 ms hand-off, which under
valgrind (~50x slower) fires at a rate set by the machine's load. This holds both
still: the collector off, and only the count rule (and the call phase) handing over.
What the plugin's code costs is then the same to the thousand instructions.
"""

from __future__ import annotations

import gc

from pytest_jbrealtime.pytest_side import publisher

publisher.FLUSH_SECONDS = 1e9
gc.disable()
