"""The page's socket closed by the server for real, mid-run: the per-user connection pool.

The server keeps at most 10 connections per token subject and closes the oldest with 4009
(pytest_jbrealtime/server/limits.py); everyone who opens the link is one user (the pool counts
per link, not per browser: issue 15). The test opens 10 more real WebSocket connections with
the token the page keeps (localStorage, viewer/credential.js), so the server closes the
page's. The page
must not fight back on its own (reconnecting would close the next oldest, round and round
the user's tabs): it says so and offers *Reconnect*; it takes its connection back when the
user clicks that, or when its tab becomes visible again. Either way it resumes, and at the
end the page has every event once, in order, and every test once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets
from selenium.webdriver import Chrome

from tests.browser.test_viewer_live import write_gated_suite
from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

POOL = 10  # --jb-live-max-user-connections' default


class OtherConnections:
    """Real WebSocket connections of the same user, held open (and read) on a loop of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []

    def open(self, url: str, count: int) -> None:
        """Open ``count`` connections, each one in the server's pool once its hello arrived."""
        asyncio.run_coroutine_threadsafe(self._open(url, count), self.loop).result(60)

    async def _open(self, url: str, count: int) -> None:
        for _ in range(count):
            socket = await websockets.connect(url, max_size=None)
            await socket.recv()  # hello: admitted, and the oldest closed if the pool was full
            self.sockets.append(socket)
            self.readers.append(asyncio.ensure_future(self._drain(socket)))

    @staticmethod
    async def _drain(socket: Any) -> None:
        try:
            async for _frame in socket:
                pass
        except websockets.ConnectionClosed:
            pass

    def close(self) -> None:
        async def close_all() -> None:
            for socket in self.sockets:
                await socket.close()
            for reader in self.readers:
                reader.cancel()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def other_connections() -> Iterator[OtherConnections]:
    connections = OtherConnections()
    yield connections
    connections.close()


# In the page's tab: tell other tabs of the origin each connection state it goes through.
BROADCAST_STATES = """
const client = window.__jbLive.client;
const tell = client.onState;
const channel = new BroadcastChannel('jb-live-test');
client.onState = (state) => {
  tell(state);
  channel.postMessage({state: state.state, closeCode: state.closeCode});
};
"""
# In another tab of the origin: keep what the page says.
LISTEN_STATES = """
window.__pageStates = [];
const channel = new BroadcastChannel('jb-live-test');
channel.onmessage = (message) => window.__pageStates.push(message.data);
"""
PAGE_REPLACED = """
return window.__pageStates.some((s) => s.state === 'disconnected' && s.closeCode === 4009);
"""


def test_page_closed_by_the_server_resumes_without_loss_or_duplicates(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], driver: Chrome,
    other_connections: OtherConnections,
) -> None:
    release = write_gated_suite(suite_dir.path, before=150, after=150, pause=0.004)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_for(lambda: page.store_health()["lastSeq"] > 20)
    kept = driver.execute_script("return localStorage.getItem('jb-live-token')")
    assert kept == run.token and driver.get_cookies() == []
    same_browser = run.ws_url("other-tab", token=kept)

    # 1. The page is in front: the server closes it, it says why and waits for the user.
    other_connections.open(same_browser, POOL)
    page.wait_for(lambda: page.connection_state() == "disconnected")
    assert "too many other tabs" in page.text("connection-state")
    assert driver.execute_script("return window.__jbLive.client.state") == "disconnected"
    # No reconnect of its own, now or scheduled.
    assert page.store_health()["connects"] == 1
    assert driver.execute_script("return window.__jbLive.client.retryTimer") is None
    button = page.find("reconnect-now")
    assert button.is_displayed() and button.text == "Reconnect"
    button.click()
    page.wait_for(lambda: page.connection_state() == "connected"
                  and page.store_health()["connects"] == 2)
    assert not page.find("reconnect-now").is_displayed()

    # 2. Mid-run, with the page's tab in the background: closed again; it comes back by itself
    #    when its tab is shown.
    page.wait_for(lambda: page.statuses().get("test_gated.py::test_gate") == "running")
    driver.execute_script(BROADCAST_STATES)
    page_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(run.http_base + "/no-such-page")  # the same origin, so the channel reaches it
    assert driver.execute_script("return document.visibilityState") == "visible"
    driver.execute_script(LISTEN_STATES)
    other_connections.open(same_browser, POOL)
    page.wait_for(lambda: driver.execute_script(PAGE_REPLACED))
    driver.close()
    driver.switch_to.window(page_tab)
    page.wait_for(lambda: page.store_health()["connects"] == 3
                  and page.connection_state() == "connected")

    release.touch()
    page.wait_finished()
    assert run.wait() == 1

    health = page.store_health()
    assert health["resets"] == 0
    assert health["seqErrors"] == 0  # every event once, each the one after the last
    assert health["duplicates"] == 0  # resume asked for exactly what was missing
    assert health["eventCount"] == health["lastSeq"] == health["finalSeq"]
    statuses = page.statuses()
    assert len(statuses) == 301
    assert set(statuses.values()) == {"passed", "failed"}
    assert page.counts()["failed"] == list(statuses.values()).count("failed") == 21
