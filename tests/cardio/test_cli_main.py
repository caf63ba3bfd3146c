"""The ``cardio`` dispatcher imports only the module of the command it runs."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from cardio.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


class TestLazyDispatch:
    def test_every_command_is_reachable_through_its_own_module(self) -> None:
        everything = _commands(build_parser())
        assert {"record", "history", "show", "export", "delete", "screen", "measure", "sync", "report", "serve"} <= everything
        for command in everything:
            assert command in _commands(build_parser(["-v", command, "--help"]))

    def test_unknown_or_missing_command_loads_all(self) -> None:
        everything = _commands(build_parser())
        assert _commands(build_parser(["--help"])) == everything
        assert _commands(build_parser(["no-such-command"])) == everything

    def test_history_does_not_import_the_signal_stack(self) -> None:
        code = (
            "import sys; from cardio.cli.main import build_parser; "
            "build_parser(['history']); "
            "print(sorted(m for m in ('ecg.delineate', 'ecg.model', 'matplotlib', 'companion.web.app') if m in sys.modules))"
        )
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]"
