"""Mint a token for a hub: ``viewer`` to watch its runs, ``producer`` to publish to it.

    JB_LIVE_SECRET=… python -m pytest_jbrealtime token --role producer --project team-a-

Signed with the hub's secret (JB_LIVE_SECRET); prints the token alone on one line.
``--run RUN_ID`` or ``--project PREFIX`` scopes it (hub/scopes.py): a producer token
must name one.
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
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--run", dest="run_id", default=None, metavar="RUN_ID",
                       help="only this run (a producer token must name a run or a project)")
    scope.add_argument("--project", default=None, metavar="PREFIX",
                       help="only runs whose id starts with PREFIX (e.g. team-a-); '' is "
                            "every run")


def run(args: argparse.Namespace) -> int:
    from pytest_jbrealtime.hub.serve import hub_secret
    from pytest_jbrealtime.shared.auth import TokenAuthority

    try:
        secret = hub_secret()
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    if args.role == "producer" and args.run_id is None and args.project is None:
        print("error: a producer token names what it may publish into: --run RUN_ID or "
              "--project PREFIX (--project '' for every run)")
        return 2
    authority = TokenAuthority(secret, run_id=None)
    print(authority.mint(args.role, args.ttl, subject=args.subject or args.role,
                         run=args.run_id, project=args.project), flush=True)
    return 0
