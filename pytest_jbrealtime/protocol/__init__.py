"""The live protocol: every event and frame, and the constants both ends share.

Adding an event type (another module of this package, a helper's feature):

1. Declare its payload as a ``TypedDict`` in ``events.py`` (the fields the publisher
   builds; ``type``, ``seq``, ``run_id``, ``timestamp``, ``worker`` are added for
   you) and add ``"my_type": MyType`` to ``EVENT_TYPES`` there. It is then reserved:
   ``jb_live.emit`` refuses it as a custom type. A frame (no ``seq``) goes in
   ``frames.py``'s dict for its connection instead.
2. Publish it with a checked payload: ``payload: MyType = {...}`` then
   ``publisher.publish("my_type", payload)`` — mypy strict checks the fields.
3. Regenerate the viewer's copy: ``python -m pytest_jbrealtime.protocol.js --write``
   (or ``… js > viewer/protocol.js``) and use ``EVENT.MY_TYPE`` from
   ``./protocol.js`` in the viewer.
4. Document it in docs/protocol.md (a table row or a heading naming `` `my_type` ``).

``tests/test_protocol.py`` fails while any step is missing: a type the package
sends (``publish("t", …)`` or ``{"type": "t", …}``) that is not declared here, a
declared type docs/protocol.md does not name, or a stale ``viewer/protocol.js``.

Other plugins see or add events through the ``pytest_jb_live_event`` hook
(``pytest_jbrealtime/pytest_side/hookspecs.py``), not through this package.

Modules: ``constants`` (version, phases, results, groups, close codes, token
lifetimes, link prefixes), ``events`` (event payloads), ``frames`` (non-event
messages per connection), ``nodeid`` (node-id parsing), ``js`` (the generator of
``viewer/protocol.js``). No module here imports anything outside the standard
library, so every process (pytest, the server, the hub, a worker) can use it.
"""

from __future__ import annotations

from pytest_jbrealtime.protocol.constants import (
    COUNT_KEYS,
    FAILURE_RESULTS,
    GROUP_GENERAL,
    GROUP_SYSTEM_MONITOR,
    HUB_LINK_PREFIX,
    LINK_PREFIX,
    PHASE_PROGRESS,
    PHASES,
    PRODUCER_TOKEN_SECONDS,
    PROTOCOL_VERSION,
    RESULTS,
    RUN_VIEWER_TOKEN_SECONDS,
    SHARED_VIEWER_TOKEN_SECONDS,
    TEST_GROUP_PREFIX,
    CloseCode,
)
from pytest_jbrealtime.protocol.events import (
    EVENT_TYPES,
    SYSTEM_MONITOR_TYPES,
    WORKER_TYPES,
)
from pytest_jbrealtime.protocol.frames import FRAME_TYPES
from pytest_jbrealtime.protocol.nodeid import NodeId, split_node_id

# Names a custom event (``jb_live.emit``) may not take: every event and frame type.
RESERVED_TYPES = frozenset(EVENT_TYPES) | FRAME_TYPES

__all__ = [
    "COUNT_KEYS",
    "EVENT_TYPES",
    "FAILURE_RESULTS",
    "FRAME_TYPES",
    "GROUP_GENERAL",
    "GROUP_SYSTEM_MONITOR",
    "HUB_LINK_PREFIX",
    "LINK_PREFIX",
    "PHASES",
    "PHASE_PROGRESS",
    "PRODUCER_TOKEN_SECONDS",
    "PROTOCOL_VERSION",
    "RESERVED_TYPES",
    "RESULTS",
    "RUN_VIEWER_TOKEN_SECONDS",
    "SHARED_VIEWER_TOKEN_SECONDS",
    "SYSTEM_MONITOR_TYPES",
    "TEST_GROUP_PREFIX",
    "WORKER_TYPES",
    "CloseCode",
    "NodeId",
    "split_node_id",
]
