"""Bad input: oversize frames, floods, malformed messages, sockets that never finish
their handshake. The viewer that misbehaves is answered or closed; the others are not
touched; the run's result is the same."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import websockets

from pytest_jbrealtime.server.viewers import MAX_TEST_ID_CHARS
from tests.held_run import HeldRun, Viewer, raw_connection, seconds_until_closed

MAX_FRAME = 64 * 1024


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldRun]:
    run = HeldRun(tmp_path_factory.mktemp("input"))
    yield run
    assert run.release() == 1
    run.kill()


async def bystander_untouched(held: HeldRun, misbehave: object) -> int:
    """Run ``misbehave(viewer)`` beside a well-behaved viewer; the close code it got
    (0: still open), after checking the bystander still gets answers.

    ``misbehave`` returns the close code it read, or None when it expects to be served:
    then the offender's socket is asked for a round trip, so 0 means it really is open.
    """
    bystander = await Viewer.connect(held.ws_url(client_id="bystander"))
    offender = await Viewer.connect(held.ws_url(client_id="offender"))
    code = await misbehave(offender)  # type: ignore[operator]
    if code is None:
        try:
            await offender.roundtrip()
            code = 0
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
    await bystander.roundtrip()
    await bystander.close()
    await offender.close()
    return int(code)


def test_frame_over_64_kib_closes_1009(held: HeldRun) -> None:
    async def too_big(viewer: Viewer) -> int:
        await viewer.send("x" * (MAX_FRAME + 1))
        return await viewer.closed_code()

    assert asyncio.run(bystander_untouched(held, too_big)) == 1009


def test_frame_of_exactly_64_kib_is_only_an_error(held: HeldRun) -> None:
    async def largest(viewer: Viewer) -> None:
        await viewer.send("x" * MAX_FRAME)
        before = await viewer.roundtrip()
        assert [m["type"] for m in before if m["type"] == "error"] == ["error"]

    assert asyncio.run(bystander_untouched(held, largest)) == 0


def test_compression_is_not_negotiated_and_a_huge_message_closes_1009(held: HeldRun) -> None:
    """No permessage-deflate (each event is encoded once for all viewers), so no
    compression bomb either: 4 MiB asked to travel compressed goes plain and hits the cap."""

    async def bomb(_: Viewer) -> int:
        async with websockets.connect(held.ws_url(client_id="bomb"), compression="deflate",
                                      max_size=None) as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            try:
                await ws.send(" " * (4 * 1024 * 1024))
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code

    assert asyncio.run(bystander_untouched(held, bomb)) == 1009


def test_a_burst_within_the_rate_is_served(held: HeldRun) -> None:
    async def burst(viewer: Viewer) -> None:
        for i in range(15):
            await viewer.send({"type": "ack", "seq": i})
        await viewer.roundtrip()

    assert asyncio.run(bystander_untouched(held, burst)) == 0


def test_a_flood_closes_1008(held: HeldRun) -> None:
    async def flood(viewer: Viewer) -> int:
        for i in range(200):
            try:
                await viewer.send({"type": "ping", "id": i})
            except websockets.ConnectionClosed:
                break
        return await viewer.closed_code()

    assert asyncio.run(bystander_untouched(held, flood)) == 1008


BAD_MESSAGES = {
    "not json": ("{nope", "not valid JSON"),
    "binary": (b"\x00\x01binary", "binary"),
    "a list": ("[1, 2, 3]", "JSON object"),
    "a string": ('"ping"', "JSON object"),
    "no type": ('{"id": 1}', "type"),
    "type not a string": ('{"type": 7}', "type"),
    "unknown type": ('{"type": "drop_tables"}', "drop_tables"),
    "private method name": ('{"type": "_handle"}', "unknown"),
    "missing field": ('{"type": "resume", "run_id": "x"}', "last_seq"),
    "wrong field type": ('{"type": "resume", "run_id": "x", "last_seq": "5"}', "last_seq"),
    "boolean as int": ('{"type": "ack", "seq": true}', "seq"),
    "float as int": ('{"type": "ack", "seq": 1.5}', "seq"),
    "huge float": ('{"type": "ack", "seq": 1e999}', "seq"),
    "huge integer": ('{"type": "ack", "seq": ' + "9" * 5000 + "}", "not valid JSON"),
    "NaN": ('{"type": "ack", "seq": NaN}', "seq"),
    "deep nesting": ("[" * 30_000 + "]" * 30_000, ""),
    "deep object": ('{"type": "ping", "id": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}", ""),
    "bad group": ('{"type": "subscribe", "group": "<script>"}', "group"),
    # One character past the longest test id a group may name (viewers.MAX_TEST_ID_CHARS),
    # in a frame still under the 64 KiB frame limit.
    "long group": ('{"type": "subscribe", "group": "test_' + "a" * (MAX_TEST_ID_CHARS + 1)
                   + '"}', "test id"),
    "ping id object": ('{"type": "ping", "id": {"a": 1}}', "id"),
    "lone surrogate": ('{"type": "\\ud800"}', ""),
}


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
def test_bad_message_gets_an_error_and_the_connection_stays(held: HeldRun, case: str) -> None:
    frame, names = BAD_MESSAGES[case]

    async def send_bad(viewer: Viewer) -> None:
        await viewer.send(frame)
        before = await viewer.roundtrip()
        errors = [m for m in before if m["type"] == "error"]
        assert len(errors) == 1, before
        assert names.lower() in errors[0]["message"].lower()
        assert len(json.dumps(errors[0])) < 1024, "the error must not echo the input"

    assert asyncio.run(bystander_untouched(held, send_bad)) == 0


def test_a_huge_resume_seq_gets_a_reset_not_a_crash(held: HeldRun) -> None:
    async def resume(viewer: Viewer) -> None:
        await viewer.send({"type": "resume", "run_id": held.run_id, "last_seq": 10**4000})
        before = await viewer.roundtrip()
        assert "reset" in [m["type"] for m in before] or any(
            m["type"] == "reset" for m in viewer.messages)

    assert asyncio.run(bystander_untouched(held, resume)) == 0


def test_a_silent_socket_is_closed_within_5_s(held: HeldRun) -> None:
    host, port = held.host.rsplit(":", 1)
    with raw_connection(host, int(port)) as silent, raw_connection(host, int(port)) as slow:
        slow.sendall(b"GET /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
        started = time.monotonic()
        seconds_until_closed(silent)
        seconds_until_closed(slow)
        assert time.monotonic() - started < 10
    # ... while a viewer that authenticated stays as long as it likes.
    async def long_lived() -> None:
        viewer = await Viewer.connect(held.ws_url(client_id="stays"))
        connected = time.monotonic()
        with raw_connection(host, int(port)) as silent:
            seconds_until_closed(silent)
        assert time.monotonic() - connected >= 5
        await viewer.roundtrip()
        await viewer.close()

    asyncio.run(long_lived())
