"""The event timestamp (timestamps.py) says what datetime's isoformat says, faster."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from pytest_jbrealtime.shared.timestamps import iso_timestamp


def reference(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False))
def test_same_text_as_datetime(epoch: float) -> None:
    assert iso_timestamp(epoch) == reference(epoch)


def test_edges_of_a_second_and_rounding() -> None:
    for epoch in (0.0, 1796037944.3109996, 1796037944.9999996, 1796037944.0004999,
                  1796037944.9995, 1700000000.0):
        assert iso_timestamp(epoch) == reference(epoch), epoch
    # The cached second is not reused for the next one.
    assert iso_timestamp(1700000000.999) == "2023-11-14T22:13:20.999Z"
    assert iso_timestamp(1700000001.0) == "2023-11-14T22:13:21.000Z"
