"""The one JSON encoding of events (text.repaired_json): orjson where it can, json
where it cannot, and the same values either way (the same text but for how a float's
exponent is written: ``1e-07`` / ``1e-7``)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pytest_jbrealtime.shared.text import json_text, repaired_json

_reference = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)

# What events hold: str keys, text (any code point but lone surrogates), ints within
# 64 bits, finite floats, booleans, None, lists and dicts of those.
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)))
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",))), inner,
                      max_size=4),
    max_leaves=20,
)


@given(values)
def test_same_values_as_json(value: object) -> None:
    assert json.loads(json_text(value)) == json.loads(_reference.encode(value))


@given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",))),
                       st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                       | st.text(st.characters(blacklist_categories=("Cs",)))))
def test_same_text_as_json_without_floats(value: object) -> None:
    assert json_text(value) == _reference.encode(value)


def test_lone_surrogates_repaired_not_fatal() -> None:
    event = {"type": "log", "message": "skipping caf\udce9.txt", "\udcff": ["\ud83d\ude00"]}
    repaired, text = repaired_json(event)
    assert json.loads(text) == {"type": "log", "message": "skipping caf\ufffd.txt",
                                "\ufffd": ["\U0001f600"]}
    assert repaired == json.loads(text)
    text.encode("utf-8")  # carried by any transport


def test_what_orjson_refuses_still_encodes() -> None:
    class Custom:
        def __str__(self) -> str:
            return "custom"

    big = 2**70
    assert json.loads(json_text({"n": big, "o": Custom(), 3: "int key"})) == {
        "n": big, "o": "custom", "3": "int key"}
