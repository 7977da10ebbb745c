"""Runs in the run server process: the event log's listeners, the app, viewers, the monitor.

Started by the pytest side (``pytest_side/live_server.py``) as
``python -m pytest_jbrealtime.server.process``; its core (``core.py``, ``routes.py``,
``viewers.py``, ``limits.py``) also serves ``replay`` and the hub. Map:
docs/architecture.md.
"""
