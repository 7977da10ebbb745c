"""The hub: one server for many runs and CI shards (``python -m pytest_jbrealtime serve``).

pytest processes publish to it as producers (``pytest --jb-live-hub URL``); each run
has its own log, read by viewers exactly as on a run's own server. The log lives in a
backend (``backends/``): memory and disk for one hub, Redis Streams for several.
See docs/hub.md.
"""
