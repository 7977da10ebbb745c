"""A hub run's link opened from another site: the annotation on a CI run's page, a chat
message. The person signed in to the hub once (the token its pages keep for the hub's
origin, viewer/credential.js); the link carries no token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.viewer_page import ViewerPage
from tests.hub_support import HubProcess, Shard, mint

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.browser

SUITE = """
def test_ok():
    pass

def test_bad():
    assert 1 == 2
"""


def test_a_run_link_on_another_site_opens_for_a_signed_in_person(
    tmp_path: Path, driver: Chrome, running: list[Any], serve_dir: Callable[[Path], str]
) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_suite.py").write_text(SUITE)
    shard = Shard(suite, hub.url, run_id="ci-7")
    running.append(shard)
    assert shard.wait() == 1

    # The hub as "localhost", the CI's page on 127.0.0.1: two sites (an IP address is
    # a site of its own; its ports are not).
    hub_site = f"http://localhost:{hub.port}"
    ci_page = tmp_path / "ci"
    ci_page.mkdir()
    (ci_page / "index.html").write_text(
        f'<!doctype html><a data-testid="annotation" href="{hub_site}/runs/ci-7/">live</a>')
    ViewerPage(driver).open(f"{hub_site}/?token={mint('viewer', 'alice')}")  # signed in once

    driver.get(serve_dir(ci_page))
    assert driver.current_url.startswith("http://127.0.0.1:")
    driver.find_element(By.CSS_SELECTOR, '[data-testid="annotation"]').click()
    page = ViewerPage(driver)
    page.wait_for(lambda: driver.current_url == f"{hub_site}/runs/ci-7/")
    assert "needs the link with its token" not in driver.find_element(By.TAG_NAME, "body").text
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.ready === 'true'"))
    page.wait_finished()
    counts = page.counts()
    assert (counts["passed"], counts["failed"]) == (1, 1)


def test_the_hub_opened_without_a_key_asks_for_one(
    tmp_path: Path, driver: Chrome, running: list[Any],
) -> None:
    """The hub's bare address (nothing in the history that opens it): the run list asks for
    a viewer token; a wrong one is refused and asked again; the right one lists the runs,
    and the run's page then opens with the key the hub's origin keeps."""
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_suite.py").write_text(SUITE)
    shard = Shard(suite, hub.url, run_id="keyed")
    running.append(shard)
    assert shard.wait() == 1

    page = ViewerPage(driver).open(f"{hub.url}/")
    form = page.find("key-form")
    page.wait_for(form.is_displayed)
    assert driver.find_elements(By.CSS_SELECTOR, "#run-rows tr") == []
    page.find("key-input").send_keys("not.the.key")
    page.find("key-submit").click()
    page.wait_for(lambda: form.is_displayed()
                  and page.find("hub-state").get_attribute("data-state") == "error")
    page.find("key-input").send_keys(mint("viewer", "bob"))
    page.find("key-submit").click()
    page.wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#run-rows tr")) == 1)
    assert not form.is_displayed()
    driver.find_element(By.CSS_SELECTOR, '[data-testid="run-link"]').click()
    page.wait_for(lambda: driver.current_url == f"{hub.url}/runs/keyed/")
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.ready === 'true'"))
    page.wait_finished()
    assert not page.find("key-form").is_displayed()
