"""Per-test resources in real headless Chromium on a real run: each test's own CPU and
memory growth in its detail with the machine's sparkline over its window, and the
Heaviest tests panel naming the spinning test and the leaking one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.test_stack_button import open_test
from tests.browser.viewer_page import ViewerPage

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

HEAVY_SUITE = """
import time

KEPT = []

def test_burns_cpu():
    began = time.process_time()
    while time.process_time() - began < 1.0:
        pass

def test_leaks_memory():
    block = bytearray(64 * 1024 * 1024)
    for index in range(0, len(block), 4096):
        block[index] = 1  # touched: resident, not just reserved
    KEPT.append(block)
    time.sleep(0.5)

def test_idles():
    time.sleep(0.5)
"""


def test_resources_in_the_detail_and_the_heaviest_tests(
    tmp_path: Path, start_live: Any, driver: Chrome
) -> None:
    (tmp_path / "test_heavy.py").write_text(HEAVY_SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    run = start_live(tmp_path, "--jb-live-linger", "60", "--jb-live-monitor-interval", "0.1")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished(timeout=120)

    def first(testid: str) -> str:
        return str(driver.execute_script(
            f"const b = document.querySelector('[data-testid=\"{testid}\"]');"
            "return b ? b.dataset.testId : '';"))

    page.wait_for(lambda: first("heaviest-cpu") == "test_heavy.py::test_burns_cpu")
    assert first("heaviest-memory") == "test_heavy.py::test_leaks_memory"
    open_test(page, driver, "test_heavy.py::test_leaks_memory")
    facts = page.text("test-resources")
    assert "memory +6" in facts and "MB" in facts, facts  # 64 MB and a little
    open_test(page, driver, "test_heavy.py::test_burns_cpu")
    assert page.text("test-resources").startswith("CPU 1.")
    spark = page.find("resource-sparkline")
    assert int(spark.get_attribute("data-samples") or 0) >= 2
    assert len(spark.find_elements("css selector", "svg polyline")) == 2
    assert not page.csp_violations()
    run.kill()
