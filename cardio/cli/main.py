"""The ``cardio`` command: one entry point, one module per subcommand, imported lazily.

:data:`COMMANDS` lists every command with the module that implements it and a one-line
summary. ``cardio --help`` (or no command) prints that table without importing any
command module, so it starts in a fraction of a second; ``cardio CMD ...`` imports only
``cardio.cli.<module of CMD>``. A command module exposes ``register(subparsers)``, which
adds its parser(s) and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

#: command -> (module in ``cardio.cli``, one-line summary shown by ``cardio --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "record": ("record", "record a 30 s ECG from your device (or --simulate) and check its rhythm"),
    "history": ("history", "list your recordings, newest first (filter by result or symptom)"),
    "show": ("history", "show one recording: result in plain words, symptoms, details"),
    "annotate": ("annotate", "add symptoms and a note to a recording"),
    "profile": ("profile", "show or set your name, sex and date of birth (used in reports and QTc limits)"),
    "report": ("report", "write a PDF/PNG/SVG report of a recording to print or send to a doctor"),
    "export": ("history", "export a recording as WFDB or CSV"),
    "delete": ("history", "delete a recording and its results (asks first)"),
    "serve": ("serve", "open the app in your browser: record, history, trends, reports"),
    "sync": ("sync", "send recordings waiting in the outbox to the cloud analysis service"),
    "cloud": ("cloud", "save, show or forget the cloud address and token (cardio cloud login URL --token T)"),
    "screen": ("screen", "check the rhythm of ECG files (WFDB or CSV) with the local model"),
    "measure": ("measure", "measure PR, QRS, QT/QTc and heart rate of ECG files"),
}

_DESCRIPTION = "cardiolink: record, check, keep and share 30-second single-lead ECGs."
_EPILOG = (
    "Start with `cardio record` (or `cardio record --simulate` without a device), then `cardio history`.\n"
    "`cardio COMMAND --help` explains one command. A screening result is not a diagnosis."
)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the only global option, ``-v``, takes no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _overview() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: cardio [-h] [-v] COMMAND ...", "", _DESCRIPTION, "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help     show this help and exit",
              "  -v, --verbose  more log output (-vv for debug)", "", _EPILOG]
    return "\n".join(lines) + "\n"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``cardio`` parser: the full parser of the command named in ``argv``.

    Commands other than the one being run get a placeholder parser (their summary
    only); with no known command in ``argv`` (or ``argv`` None) every module is loaded,
    which tests use to reach all parsers.
    """
    parser = argparse.ArgumentParser(prog="cardio", description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = None if argv is None else _command_of(argv)
    wanted = {COMMANDS[command][0]} if command in COMMANDS else {m for m, _ in COMMANDS.values()}
    for module in sorted(wanted):
        importlib.import_module(f"cardio.cli.{module}").register(subparsers)
    loaded = set(subparsers.choices)
    for name, (_, summary) in COMMANDS.items():
        if name not in loaded:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cardio`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    if command is None and any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(_overview())
        return 0
    if command is None or command not in COMMANDS:
        what = "name a command" if command is None else f"unknown command {command!r}"
        sys.stderr.write(f"cardio: error: {what}\n\n{_overview()}")
        return 2
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    old_umask = os.umask(0o077)  # health data: every file we create is the user's only (0600/0700)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ncardio: stopped (Ctrl-C); nothing else was changed", file=sys.stderr)
        return 130
    finally:
        os.umask(old_umask)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
