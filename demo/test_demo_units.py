"""A small suite to watch live: ``pytest demo --jb-live``.

Passes, a failure with a traceback, an error in a fixture, skips, an xfail,
parametrized cases, captured output, subtests and user steps — paced so a person
can follow the run in the viewer (``JB_DEMO_PACE`` seconds per step, default 0.3).
"""

from __future__ import annotations

import logging
import os
import time

import pytest

from pytest_jbrealtime import step

PACE = float(os.environ.get("JB_DEMO_PACE", "0.3"))
log = logging.getLogger("demo")


def pause(factor: float = 1.0) -> None:
    time.sleep(PACE * factor)


@pytest.mark.parametrize("amount", [1, 5, 10, 50])
def test_checkout_total(amount: int) -> None:
    pause()
    assert amount * 2 == amount + amount


def test_order_flow_in_steps() -> None:
    with step("Create the cart"):
        pause()
    with step("Add three products"):
        pause()
    with step("Pay"):
        pause()
        print("paid 42.00 EUR")


def test_discount_is_applied() -> None:
    pause()
    prices = {"teapot": 30, "mug": 12}
    discounted = {k: v * 0.9 for k, v in prices.items()}
    assert discounted == {"teapot": 27, "mug": 10.8}, "10% off every item"


@pytest.fixture
def payment_gateway() -> None:
    pause(0.5)
    raise ConnectionError("payment gateway sandbox is unreachable")


def test_refund(payment_gateway: None) -> None:
    pass


@pytest.mark.skip(reason="needs the staging database")
def test_inventory_sync() -> None:
    pass


@pytest.mark.xfail(reason="rounding bug #12, known")
def test_rounding() -> None:
    pause(0.5)
    assert round(2.675, 2) == 2.68


def test_shipping_zones(subtests: pytest.Subtests) -> None:
    for zone in ("EU", "US", "APAC"):
        with subtests.test(zone=zone):
            pause(0.5)
            log.warning("checking zone %s", zone)
            assert zone != "APAC", "no carrier configured for APAC"


def test_slow_report_generation() -> None:
    for _ in range(5):
        pause()
