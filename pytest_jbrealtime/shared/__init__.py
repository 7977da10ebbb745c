"""Imported by more than one process (pytest, the run server, the hub, the tools).

Nothing here imports pytest, and nothing imports Starlette or asyncio at import time:
the pytest side loads these modules in every watched run. The wire formats themselves
are in ``pytest_jbrealtime/protocol/``. Map: docs/architecture.md.
"""
