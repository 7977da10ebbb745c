"""Replay: serve a recording with the live viewer, as it happened or in its final state.

    python -m pytest_jbrealtime replay run.jsonl.gz [--speed 10 | --final] [--port 0]

The same server as a live run (``server/app.py``) serves an ``EventLog`` fed from the
file: at once (``--final``) or on the recorded timestamps divided by ``--speed``.
Viewers connect, resume and reconnect exactly as they do live. A broken file replays
up to where it is broken, and says where that is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_jbrealtime.protocol import LINK_PREFIX, SHARED_VIEWER_TOKEN_SECONDS
from pytest_jbrealtime.shared.ci import add_link_form_argument
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.shared.recording import Recording, RecordingError, read_recording

DEFAULT_REPLAY_PORT = 8766


def _epoch(event: dict[str, Any]) -> float | None:
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def replay_schedule(events: list[dict[str, Any]], speed: float) -> list[float]:
    """Seconds after the start at which each event is due (never going backwards)."""
    offsets: list[float] = []
    first: float | None = None
    latest = 0.0
    for event in events:
        epoch = _epoch(event)
        if epoch is not None and first is None:
            first = epoch
        offset = (epoch - first) / speed if epoch is not None and first is not None else latest
        latest = max(latest, offset)
        offsets.append(latest)
    return offsets


async def feed(
    log: EventLog,
    events: list[dict[str, Any]],
    speed: float | None,
    on_done: Callable[[], None],
) -> None:
    """Append the events to the log: all at once (speed None) or on their schedule."""
    if speed is None:
        log.add_recorded(events)
    else:
        loop = asyncio.get_running_loop()
        start = loop.time()
        offsets = replay_schedule(events, speed)
        index = 0
        while index < len(events):
            wait = start + offsets[index] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            now = loop.time() - start
            end = index + 1
            while end < len(events) and offsets[end] <= now:
                end += 1
            log.add_recorded(events[index:end])
            index = end
    on_done()


async def serve(recording: Recording, args: argparse.Namespace, out: Callable[[str], None]) -> None:
    import uvicorn

    from pytest_jbrealtime.server.app import ServerState, create_app
    from pytest_jbrealtime.server.core import uvicorn_config
    from pytest_jbrealtime.shared import ci
    from pytest_jbrealtime.shared.auth import TokenAuthority, new_secret
    from pytest_jbrealtime.shared.listening import ServerStartError, bind_listening_socket

    try:
        sock = bind_listening_socket(args.host, args.port)
    except ServerStartError as exc:
        out(f"error: {exc}")
        return
    log = EventLog(recording.run_id)
    authority = TokenAuthority(new_secret(), run_id=recording.run_id)
    state = ServerState(
        log=log,
        authority=authority,
        run_info={**dict(recording.header.get("run_info") or {}), "replay": True,
                  "recording": recording.path.name,
                  "problems": [str(p) for p in recording.problems]},
        # Served from where the recording keeps them: nothing to copy, nothing left behind.
        screenshots=recording.screenshots_dir if recording.screenshots_dir.is_dir() else None,
    )
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    token = authority.mint("viewer", SHARED_VIEWER_TOKEN_SECONDS)
    mode = "final state" if args.final else f"at {args.speed:g}x speed"
    out(f"jb-live: replaying {recording.path} ({len(recording.events)} events, {mode})")
    out(ci.credential_line(LINK_PREFIX, f"http://{host}:{port}/", token, args.link,
                           args.public_url))

    def done() -> None:
        last = recording.events[-1]["seq"] if recording.events else 0
        if not recording.finished:
            where = f" ({recording.problems[-1]})" if recording.problems else ""
            out(f"jb-live: replay stopped at event {last}: the recording ends there, "
                f"before the run finished{where}")
        else:
            skipped = (f"; {len(recording.problems)} damaged line(s) skipped, first "
                       f"{recording.problems[0]}" if recording.problems else "")
            out(f"jb-live: replay complete ({len(recording.events)} events){skipped}; "
                "Ctrl-C to stop")
        # Viewers that have everything are closed with 1000 ("run finished"), as live.
        state.registry.close_when_caught_up()

    server = uvicorn.Server(uvicorn_config(create_app(state), state.limits))
    feeder = asyncio.create_task(
        feed(log, recording.events, None if args.final else args.speed, done))
    try:
        await server.serve(sockets=[sock])
    finally:
        feeder.cancel()
        log.close()


# -- `python -m pytest_jbrealtime replay` ----------------------------------------------


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number, e.g. 10") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("expected a number > 0")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", type=Path, help="a recording (--jb-live-record)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=_speed, default=1.0, metavar="N",
                      help="replay N times faster than it ran (default: real time)")
    pace.add_argument("--final", action="store_true",
                      help="show the finished run at once instead of replaying it")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_REPLAY_PORT,
                        help="port (default %(default)s, or a free one if taken; 0: any)")
    parser.add_argument("--public-url", default=None, metavar="URL",
                        help="the address others reach this server by (printed link)")
    add_link_form_argument(parser)


def run(args: argparse.Namespace) -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    try:
        recording = read_recording(args.recording)
    except RecordingError as exc:
        out(f"error: {exc}")
        return 2
    if recording.problems:
        out(f"jb-live: {recording.describe()}")
        out(f"jb-live: replaying the {len(recording.events)} good events")
    if not recording.events:
        out("error: the recording holds no events to replay")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(recording, args, out))
    return 0


if __name__ == "__main__":  # pragma: no cover - use `python -m pytest_jbrealtime replay`
    sys.exit("use: python -m pytest_jbrealtime replay RECORDING")
