"""After the run: ``replay`` (a recording served with the live viewer) and ``report``.

Each is a command of ``python -m pytest_jbrealtime`` (``__main__.py``), a short-lived
process of its own; the report is also written by the pytest process at the end of a
run with ``--jb-live-report``. Map: docs/architecture.md.
"""
