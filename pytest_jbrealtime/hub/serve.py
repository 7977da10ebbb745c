"""Run a hub: one server that many pytest runs and CI shards publish to.

    JB_LIVE_SECRET=… python -m pytest_jbrealtime serve --data ./hub-data [--redis-url redis://…]

pytest processes publish with ``pytest --jb-live-hub URL`` (a producer token in
JB_LIVE_TOKEN); people open the printed link (a viewer token) to see every run. Tokens
are signed with JB_LIVE_SECRET (32 bytes or more); mint more with
``python -m pytest_jbrealtime token``. With --redis-url, several hubs on one Redis
serve the same runs. See docs/hub.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_jbrealtime.protocol import HUB_LINK_PREFIX, SHARED_VIEWER_TOKEN_SECONDS
from pytest_jbrealtime.shared import option_values
from pytest_jbrealtime.shared.ci import add_link_form_argument

if TYPE_CHECKING:
    from pytest_jbrealtime.hub.screenshots import HubScreenshots

SECRET_ENV = "JB_LIVE_SECRET"
DEFAULT_HUB_PORT = 8770


def hub_secret(environ: dict[str, str] | None = None) -> str:
    """The hub's signing secret from JB_LIVE_SECRET; ValueError saying why it is refused."""
    from pytest_jbrealtime.shared.auth import MIN_SECRET_BYTES

    secret = (environ if environ is not None else os.environ).get(SECRET_ENV, "")
    if not secret:
        raise ValueError(f"set {SECRET_ENV} to a secret of {MIN_SECRET_BYTES} bytes or more "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{SECRET_ENV} is shorter than {MIN_SECRET_BYTES} bytes; "
                         "a hub refuses a secret that short")
    return secret


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default %(default)s; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_HUB_PORT,
                        help="port (default %(default)s; 0: any free port)")
    parser.add_argument("--data", type=Path, default=Path("jb-live-hub"), metavar="DIR",
                        help="folder of the runs' logs (default ./%(default)s)")
    parser.add_argument("--redis-url", default=None, metavar="URL",
                        help="keep run logs in Redis Streams (redis://host:6379/0); several "
                             "hubs on one Redis serve the same runs")
    parser.add_argument("--retention-days", type=float, default=7.0, metavar="DAYS",
                        help="keep finished runs this long (default %(default)g)")
    parser.add_argument("--shard-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="end a run as interrupted when its unfinished shards have had no "
                             "producer connected for this long (default %(default)g)")
    parser.add_argument("--keep-finished", type=float, default=600.0, metavar="SECONDS",
                        help="drop a finished run's log from memory once nobody has read it "
                             "for this long; it is read back from the store when opened "
                             "(default %(default)g)")
    parser.add_argument("--public-url", default=None, metavar="URL",
                        type=_checked(option_values.parse_public_url),
                        help="the address others reach the hub by (printed link, allowed Host)")
    add_link_form_argument(parser)
    parser.add_argument("--allow-origin", action="extend", default=[], metavar="ORIGIN",
                        type=_checked(option_values.parse_origins),
                        help="a web page origin besides the hub's own that may open its sockets")
    parser.add_argument("--max-viewers", type=int, default=1000, metavar="N",
                        help="viewer connections at once, all runs together (default %(default)s)")
    parser.add_argument("--max-user-connections", type=int, default=100, metavar="N",
                        help="connections of one token holder (default %(default)s)")
    parser.add_argument("--max-live-runs", type=int, default=200, metavar="N",
                        help="runs not yet ended, all tokens together (default %(default)s)")
    parser.add_argument("--max-live-runs-per-token", type=int, default=20, metavar="N",
                        help="runs not yet ended joined by one producer token "
                             "(default %(default)s)")
    parser.add_argument("--history-url", default=None, metavar="URL",
                        help="keep every run's results for history and verdicts in this "
                             "database: postgresql://user@host/db (psycopg 3), or "
                             "sqlite:///PATH (default: history.sqlite3 in --data)")
    parser.add_argument("--history-keep-runs", type=int, default=500, metavar="N",
                        help="history keeps the newest N runs of each project and branch "
                             "(default %(default)s)")
    parser.add_argument("--history-keep-days", type=float, default=90.0, metavar="DAYS",
                        help="history forgets runs older than this (default %(default)g)")


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """One of option_values.py's parsers as an argparse type: the same rules as the pytest
    options, and its message when a value is refused."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return check


def run(args: argparse.Namespace) -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    try:
        secret = hub_secret()
    except ValueError as exc:
        out(f"error: {exc}")
        return 2
    if args.retention_days <= 0:
        out("error: --retention-days must be > 0")
        return 2
    if args.history_keep_runs < 1 or args.history_keep_days <= 0:
        out("error: --history-keep-runs must be >= 1 and --history-keep-days > 0")
        return 2
    if args.shard_timeout <= 0 or args.keep_finished < 0:
        out("error: --shard-timeout must be > 0 and --keep-finished >= 0")
        return 2
    from pytest_jbrealtime.server.redact import configure_server_logging

    configure_server_logging()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve_hub(args, secret, out))
    return 0


async def serve_hub(args: argparse.Namespace, secret: str, out: Callable[[str], None]) -> int:
    import uvicorn

    from pytest_jbrealtime.hub.app import Hub, create_hub_app
    from pytest_jbrealtime.hub.backends import backend_for_url
    from pytest_jbrealtime.hub.history import HubHistory
    from pytest_jbrealtime.hub.history_db import HistoryDatabase
    from pytest_jbrealtime.hub.lifecycle import RunLifecycle
    from pytest_jbrealtime.hub.screenshots import HubScreenshots
    from pytest_jbrealtime.server.core import uvicorn_config
    from pytest_jbrealtime.server.limits import ServerLimits
    from pytest_jbrealtime.shared import ci
    from pytest_jbrealtime.shared.auth import TokenAuthority
    from pytest_jbrealtime.shared.listening import ServerStartError, bind_listening_socket

    try:
        backend = backend_for_url(args.redis_url, args.data, args.retention_days * 86400)
        await backend.start()
    except Exception as exc:  # a bad URL, an unreachable Redis, an unwritable folder
        out(f"error: cannot open the log store: {exc}")
        return 2
    database = (HistoryDatabase(args.history_url) if args.history_url
                else HistoryDatabase.for_data_dir(args.data))
    history = HubHistory(database, args.history_keep_runs, args.history_keep_days)
    try:
        await history.start()
    except Exception as exc:  # no driver, an unreachable server, a newer schema
        await backend.close()
        where = database.url.split("@")[-1]
        out(f"error: cannot open the history database {where}: {exc}")
        return 2
    expiry: asyncio.Task[None] | None = None
    try:
        try:
            sock = bind_listening_socket(args.host, args.port)
        except ServerStartError as exc:
            out(f"error: {exc}")
            return 2
        port = sock.getsockname()[1]
        if args.port and port != args.port:
            sock.close()
            out(f"error: port {args.port} is taken")
            return 2
        hosts = [args.host]
        origins = list(args.allow_origin)
        if args.public_url:
            parts = urlsplit(args.public_url)
            hosts.append(parts.hostname or "")
            origins.append(f"{parts.scheme}://{parts.netloc}")
        limits = ServerLimits(
            max_viewers=args.max_viewers,
            max_user_connections=args.max_user_connections,
            max_live_runs=args.max_live_runs,
            max_live_runs_per_token=args.max_live_runs_per_token,
            allowed_hosts=tuple(h for h in hosts if h), allowed_origins=tuple(origins),
        )
        authority = TokenAuthority(secret, run_id=None)
        screenshots = HubScreenshots(args.data, args.retention_days * 86400)
        if args.redis_url:
            # The memory backend deletes a run's folder, screenshots and all; with
            # Redis the images are this hub's own files.
            expiry = asyncio.create_task(expire_hourly(screenshots))
        hub = Hub(backend=backend, authority=authority, limits=limits, screenshots=screenshots,
                  history=history)
        lifecycle = RunLifecycle(backend, hub.intake.connected, args.shard_timeout,
                                 args.keep_finished, on_end=history.finished)
        upkeep = asyncio.create_task(lifecycle.run())
        server = uvicorn.Server(uvicorn_config(create_hub_app(hub), limits))
        host = f"[{args.host}]" if ":" in args.host else args.host
        store = args.redis_url.split("@")[-1] if args.redis_url else str(args.data)
        out(f"jb-live hub: serving on http://{host}:{port}/ (runs kept "
            f"{args.retention_days:g} days in {store})")
        token = authority.mint("viewer", SHARED_VIEWER_TOKEN_SECONDS, subject="hub-link")
        out(ci.credential_line(HUB_LINK_PREFIX, f"http://{host}:{port}/", token, args.link,
                               args.public_url))
        try:
            await server.serve(sockets=[sock])
        finally:
            upkeep.cancel()
    finally:
        if expiry is not None:
            expiry.cancel()
        await history.close()
        await backend.close()
    return 0


async def expire_hourly(screenshots: HubScreenshots) -> None:
    from pytest_jbrealtime.hub.backends.base import RETENTION_CHECK_SECONDS

    while True:
        with contextlib.suppress(Exception):  # a failed clean-up is tried again later
            await asyncio.to_thread(screenshots.expire)
        await asyncio.sleep(RETENTION_CHECK_SECONDS)


if __name__ == "__main__":  # pragma: no cover - use `python -m pytest_jbrealtime serve`
    sys.exit("use: python -m pytest_jbrealtime serve")
