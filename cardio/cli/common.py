"""Helpers shared by the ``cardio`` subcommand modules (not a subcommand itself).

- :func:`add_store_options` adds ``--data-dir``, ``--db`` and ``--json`` to a parser.
- :func:`config_from_args` resolves a :class:`~companion.config.CompanionConfig`.
- :func:`run_command` wraps a command body: a :class:`~companion.errors.CompanionError`
  becomes a one-line message on stderr (or a JSON ``{"error": ...}`` with ``--json``) and
  exit code 1, instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from companion.config import CompanionConfig
from companion.errors import CompanionError

EXIT_OK = 0
EXIT_ERROR = 1


def add_store_options(parser: argparse.ArgumentParser, *, json_help: str = "print one JSON document") -> None:
    """Add the options every history-using command takes."""
    parser.add_argument("--data-dir", metavar="DIR", help="data folder (default: $CARDIOLINK_HOME or ~/.local/share/cardiolink)")
    parser.add_argument("--db", metavar="FILE", help="history database (default: <data dir>/history.sqlite3 or $CARDIOLINK_DB)")
    parser.add_argument("--json", action="store_true", help=json_help)


def config_from_args(args: argparse.Namespace) -> CompanionConfig:
    """Resolve the configuration from ``--data-dir``/``--db`` and the environment."""
    return CompanionConfig.resolve(data_dir=getattr(args, "data_dir", None), db=getattr(args, "db", None))


def print_json(obj: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def run_command(body: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Decorate a command so companion errors become a clear message and exit code 1."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return body(args)
        except CompanionError as exc:
            if getattr(args, "json", False):
                print_json({"error": type(exc).__name__, "message": str(exc)})
            print(f"cardio: error: {exc}", file=sys.stderr)
            return EXIT_ERROR

    wrapper.__doc__ = body.__doc__
    return wrapper
