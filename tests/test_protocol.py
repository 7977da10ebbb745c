"""The protocol package: node-id parsing (Python and the viewer's JS), the generated
viewer/protocol.js, and the reserved names."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_jbrealtime.protocol import (
    EVENT_TYPES,
    FRAME_TYPES,
    RESERVED_TYPES,
    NodeId,
    split_node_id,
)
from pytest_jbrealtime.protocol.js import VIEWER_FILE, render
from pytest_jbrealtime.pytest_side.steps import InvalidEventError, validate_custom_event

NODE = shutil.which("node")

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
# A path has no "::" (pytest would not make one) but may hold brackets and dots.
paths = st.lists(
    st.text(st.sampled_from("abc_-.[]/ é"), min_size=1, max_size=8), min_size=1, max_size=3
).map("/".join).filter(lambda p: "::" not in p and not p.endswith(":"))
# A parameter id is free text: "::", "[" and "]" included.
params = st.text(st.sampled_from("ab1-:[]. /x"), max_size=12).map(lambda t: f"[{t}]")


@st.composite
def node_ids(draw: st.DrawFn) -> tuple[str, NodeId]:
    file = draw(paths)
    classes = tuple(draw(st.lists(identifiers, max_size=3)))
    name = draw(identifiers) + draw(st.one_of(st.just(""), params))
    return "::".join([file, *classes, name]), NodeId(file, classes, name)


@given(node_ids())
def test_split_node_id_takes_a_node_id_apart_as_it_was_built(case: tuple[str, NodeId]) -> None:
    text, expected = case
    assert split_node_id(text) == expected
    assert split_node_id(text).cls == (expected.classes[-1] if expected.classes else None)


def test_split_node_id_keeps_double_colons_inside_the_parameter_id() -> None:
    # The case the old splitting got wrong: class "test_x[a" and name "b]".
    assert split_node_id("t.py::test_x[a::b]") == NodeId("t.py", (), "test_x[a::b]")
    assert split_node_id("t.py::TestA::test_x[a::b]").cls == "TestA"
    assert split_node_id("tests/test_broken.py") == NodeId(
        "tests/test_broken.py", (), "tests/test_broken.py"
    )


@pytest.fixture(scope="module")
def js_split() -> Iterator[subprocess.Popen[str]]:
    """One node process that answers ``splitNodeId`` for each id written to it (a line)."""
    assert NODE, "node is missing: scripts/test installs Debian's nodejs"
    script = (
        f"import({json.dumps(VIEWER_FILE.as_uri())}).then(({{ splitNodeId }}) => {{"
        " const rl = require('readline').createInterface({ input: process.stdin });"
        " rl.on('line', (line) => process.stdout.write("
        "JSON.stringify(splitNodeId(JSON.parse(line))) + '\\n')); });"
    )
    with subprocess.Popen(
        [NODE, "-e", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        yield process
        assert process.stdin is not None
        process.stdin.close()
        process.wait(30)


@settings(deadline=None, max_examples=150)
@given(node_ids())
def test_the_viewer_splits_node_ids_as_python_does(
    js_split: subprocess.Popen[str], case: tuple[str, NodeId]
) -> None:
    text, expected = case
    assert js_split.stdin is not None and js_split.stdout is not None
    js_split.stdin.write(json.dumps(text) + "\n")
    js_split.stdin.flush()
    answer = json.loads(js_split.stdout.readline())
    assert answer == {"file": expected.file, "classes": list(expected.classes),
                      "cls": expected.cls, "name": expected.name}


def test_viewer_protocol_js_is_generated_from_the_package() -> None:
    on_disk = VIEWER_FILE.read_text(encoding="utf-8")
    assert on_disk == render(), (
        "viewer/protocol.js is stale: run `python -m pytest_jbrealtime.protocol.js --write`"
    )


def test_generated_module_is_listed_first_for_the_report() -> None:
    order = json.loads((VIEWER_FILE.parent / "modules.json").read_text(encoding="utf-8"))
    assert order[0] == "protocol.js"  # every other module may import it


@pytest.mark.parametrize(
    "name",
    sorted({"worker_started", "worker_crashed", "shard_joined", "shard_resumed", "join",
            "publish", "hello", "batch", "test_completed"}),
)
def test_every_protocol_type_is_reserved_from_custom_events(name: str) -> None:
    assert name in RESERVED_TYPES
    with pytest.raises(InvalidEventError, match="reserved"):
        validate_custom_event(name, None)


def test_reserved_types_are_the_events_and_frames() -> None:
    assert set(EVENT_TYPES) <= RESERVED_TYPES and FRAME_TYPES <= RESERVED_TYPES
    # A name a plugin might pick is still free.
    assert validate_custom_event("cart.item_added", {"sku": "A1"}) == {"sku": "A1"}


PACKAGE = Path(__file__).resolve().parent.parent / "pytest_jbrealtime"


def _published_types() -> dict[str, list[str]]:
    """Each literal type the package publishes (``publish("t", …)``, ``{"type": "t"}``)."""
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            literal = None
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "publish" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                literal = node.args[0].value
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (isinstance(key, ast.Constant) and key.value == "type"
                            and isinstance(value, ast.Constant)):
                        literal = value.value
            if isinstance(literal, str) and not literal.startswith(("websocket.", "http.")):
                found.setdefault(literal, []).append(f"{path.name}:{node.lineno}")
    return found


def test_every_type_the_package_sends_is_declared_in_the_protocol() -> None:
    found = _published_types()
    assert "test_completed" in found and "hello" in found  # the scan sees them
    undeclared = {t: where for t, where in found.items() if t not in RESERVED_TYPES}
    assert undeclared == {}, "declare these in pytest_jbrealtime/protocol/ (see its docstring)"


def test_every_event_and_frame_type_is_documented() -> None:
    doc = (PACKAGE.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    missing = sorted(t for t in RESERVED_TYPES
                     if f"`{t}`" not in doc and f'"type": "{t}"' not in doc)
    assert missing == []
