"""``python -m pytest_jbrealtime COMMAND``: the plugin's commands outside a pytest run.

Each command is a module with ``configure_parser(parser)`` and ``run(args) -> int``
(its docstring is the command's description). Adding one is one line in ``COMMANDS``;
modules keep their heavy imports inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from pytest_jbrealtime import __version__


class Command(NamedTuple):
    name: str
    module: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("replay", "pytest_jbrealtime.tools.replay",
            "serve a recorded run with the live viewer (as it happened, or finished)"),
    Command("report", "pytest_jbrealtime.tools.report",
            "write the self-contained HTML report of a recording"),
    Command("serve", "pytest_jbrealtime.hub.serve",
            "run a hub: one server many runs and CI shards publish to (--jb-live-hub)"),
    Command("token", "pytest_jbrealtime.hub.mint",
            "mint a viewer or producer token for a hub (JB_LIVE_SECRET)"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_jbrealtime",
        description="pytest-jbrealtime commands (the live viewer itself: pytest --jb-live)",
    )
    parser.add_argument("--version", action="version", version=f"pytest-jbrealtime {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        module = importlib.import_module(command.module)
        sub = commands.add_parser(
            command.name, help=command.help, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure_parser(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
