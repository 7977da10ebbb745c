"""The hub: one server for many runs and CI shards (``python -m pytest_jbrealtime serve``).

pytest processes publish to it as producers (``pytest --jb-live-hub URL``); each run
has its own log, read by viewers exactly as on a run's own server. The log lives in a
backend (``backends/``): memory and disk for one hub, Redis Streams for several.
This folder runs in the hub process; the producer's side (in pytest) is
``pytest_side/hub_link.py``, ``hub_producer.py`` and ``hub_spool.py``, which borrow the
frame builders of ``screenshots.py`` and ``stacks.py``. See docs/hub.md.
"""
