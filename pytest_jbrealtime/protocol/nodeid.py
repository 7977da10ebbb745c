"""Node ids, split into file, classes and name — the one parser of them.

A pytest node id is ``FILE::[CLASS::…]NAME[PARAMS]``. The file is everything before
the first ``::`` (a path has none); class and function names are identifiers; the
parameter id (from the first ``[`` after the file) is free text and may hold ``::``,
``[`` and ``]`` itself. Splitting the whole id on ``::`` breaks ``t.py::test_x[a::b]``
into class ``test_x[a`` and name ``b]``; here it is name ``test_x[a::b]``.
``viewer/protocol.js`` carries the same function (``splitNodeId``), and a test runs
both on the same ids.
"""

from __future__ import annotations

from typing import NamedTuple


class NodeId(NamedTuple):
    file: str
    classes: tuple[str, ...]  # outermost first; empty for a module-level test
    name: str  # the test's name with its parameter id, as ``item.name`` says

    @property
    def cls(self) -> str | None:
        """The innermost class (what ``item.cls`` names), or None."""
        return self.classes[-1] if self.classes else None


def split_node_id(node_id: str) -> NodeId:
    file, sep, rest = node_id.partition("::")
    if not sep:  # a file (a collection error) or a non-Python item: no parts
        return NodeId(file, (), node_id)
    bracket = rest.find("[")
    head, params = (rest, "") if bracket == -1 else (rest[:bracket], rest[bracket:])
    parts = head.split("::")
    return NodeId(file, tuple(parts[:-1]), parts[-1] + params)
