"""Runs in the pytest process (and in each xdist worker): hooks, publisher, sinks.

The entry point is ``pytest_jbrealtime/plugin.py`` (pytest11); everything it starts
lives here. Nothing outside this folder and ``plugin.py`` imports from it but the
package's public API (``pytest_jbrealtime/__init__.py``) and the exceptions listed in
docs/architecture.md. Map: docs/architecture.md.
"""
