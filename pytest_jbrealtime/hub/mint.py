"""Mint a token for a hub: ``viewer`` to watch its runs, ``producer`` to publish to it.

    JB_LIVE_SECRET=… python -m pytest_jbrealtime token --role producer --ttl 86400

Signed with the hub's secret (JB_LIVE_SECRET); prints the token alone on one line.
Give a producer token to CI as JB_LIVE_TOKEN (a secret variable); share a viewer
link as http://HUB/?token=VIEWER_TOKEN.
"""

from __future__ import annotations

import argparse


def _ttl(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, e.g. 86400") from None
    if not 0 < value < 10 * 365 * 86400:
        raise argparse.ArgumentTypeError("expected seconds > 0 (and under ten years)")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=("viewer", "producer"), required=True,
                        help="viewer: watch runs; producer: publish runs")
    parser.add_argument("--ttl", type=_ttl, default=86400.0, metavar="SECONDS",
                        help="how long the token is valid (default 86400: one day)")
    parser.add_argument("--subject", default=None, metavar="NAME",
                        help="who holds it (the per-user connection pool counts by this)")


def run(args: argparse.Namespace) -> int:
    from pytest_jbrealtime.hub.serve import hub_secret
    from pytest_jbrealtime.server.auth import TokenAuthority

    try:
        secret = hub_secret()
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    authority = TokenAuthority(secret, run_id=None)
    print(authority.mint(args.role, args.ttl, subject=args.subject or args.role), flush=True)
    return 0
