"""The viewer page as the tests see it: its data-testid hooks (docs/viewer.md).

The list is virtualised, so "every test's status" is read from the page's store through
the ``window.__jbLive`` debug handle; what is on screen is read from the DOM.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "running", "queued")


def by_testid(testid: str) -> tuple[str, str]:
    return (By.CSS_SELECTOR, f'[data-testid="{testid}"]')


class ViewerPage:
    def __init__(self, driver: WebDriver, timeout: float = 30) -> None:
        self.driver = driver
        self.timeout = timeout

    def open(self, url: str) -> ViewerPage:
        self.driver.get(url)
        self.wait_for(lambda: self.driver.execute_script(
            "return document.documentElement.dataset.ready === 'true'"))
        return self

    def wait_for(self, condition: Any, timeout: float | None = None) -> Any:
        return WebDriverWait(self.driver, timeout or self.timeout).until(lambda _d: condition())

    def find(self, testid: str) -> WebElement:
        return self.driver.find_element(*by_testid(testid))

    def find_all(self, testid: str) -> list[WebElement]:
        return self.driver.find_elements(*by_testid(testid))

    def text(self, testid: str) -> str:
        return self.find(testid).text

    def counts(self) -> dict[str, int]:
        return {s: int(self.text(f"count-{s}")) for s in (*STATUSES, "total")}

    def run_status(self) -> tuple[str, str | None]:
        node = self.find("run-status")
        return node.text.lower(), node.get_attribute("data-exit-status")

    def connection_state(self) -> str:
        return self.find("connection-state").get_attribute("data-state") or ""

    def wait_finished(self, timeout: float | None = None) -> None:
        self.wait_for(lambda: self.run_status()[0] == "finished", timeout)

    def statuses(self) -> dict[str, str]:
        """Every test's status, from the store (the list renders only what is on screen)."""
        return dict(self.driver.execute_script(
            "return window.__jbLive.store.order.map((t) => [t.id, t.status]);"))

    def store_health(self) -> dict[str, int]:
        """Sequence bookkeeping of the page's store and client."""
        return dict(self.driver.execute_script("""
            const {store, client} = window.__jbLive;
            return {lastSeq: store.lastSeq, eventCount: store.eventCount,
                    seqErrors: store.seqErrors, resets: store.resets,
                    finalSeq: store.finished ? store.finished.seq : null,
                    connects: client ? client.stats.connects : null,
                    duplicates: client ? client.stats.duplicates : null};
        """))

    def rendered_rows(self) -> list[dict[str, str]]:
        return [
            {"id": row.get_attribute("data-test-id") or "",
             "status": row.get_attribute("data-status") or "",
             "text": row.text}
            for row in self.find_all("test-row")
            if row.is_displayed()
        ]

    def csp_violations(self) -> list[str]:
        """Console messages about Content-Security-Policy violations since the last call."""
        entries = self.driver.get_log("browser")  # type: ignore[attr-defined]
        return [e["message"] for e in entries if "Content Security Policy" in e["message"]]

    def visible_count(self) -> int:
        return int(self.text("visible-count"))

    def set_status_filter(self, value: str) -> None:
        Select(self.find("filter-status")).select_by_value(value)

    def search(self, query: str) -> None:
        box = self.find("search")
        # Typed like a user: WebElement.clear() would not fire the input event.
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(query or Keys.DELETE)
