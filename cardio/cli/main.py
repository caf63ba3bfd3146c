"""The ``cardio`` command: one entry point, one module per subcommand.

Every module of the ``cardio.cli`` package other than this one is a subcommand
module: it exposes ``register(subparsers)`` which adds its parser(s) and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit
code). Adding a command means adding a module; nothing here changes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

#: modules of ``cardio.cli`` that hold no subcommand
_NOT_COMMANDS = frozenset({"main", "common"})

#: subcommands registered by a module of another name (default: the module named
#: like the command)
_MODULE_OF_COMMAND = {"show": "history", "export": "history", "delete": "history"}


def subcommand_modules() -> list[str]:
    """Names of the subcommand modules, sorted."""
    import cardio.cli as package

    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_") and info.name not in _NOT_COMMANDS
    )


def _modules_needed(argv: Sequence[str] | None) -> list[str]:
    """The subcommand modules to import for ``argv``.

    Importing every module pulls in scipy, matplotlib and the model runtime (seconds),
    so a command line naming a known command imports only that command's module;
    ``--help``, no command or an unknown one import them all.
    """
    everything = subcommand_modules()
    # the only global option (-v) takes no value: the first bare word is the command
    command = next((a for a in (argv or ()) if not a.startswith("-")), None)
    if command is None:
        return everything
    module = _MODULE_OF_COMMAND.get(command, command)
    return [module] if module in everything else everything


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``cardio`` parser with the subcommands ``argv`` needs (all when None)."""
    parser = argparse.ArgumentParser(
        prog="cardio",
        description="cardiolink companion: record, screen, review and sync 30-second single-lead ECGs.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _modules_needed(argv):
        module = importlib.import_module(f"cardio.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
