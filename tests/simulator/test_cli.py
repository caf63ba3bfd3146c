"""``cardio-sim``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from simulator.cli import main


@pytest.fixture(autouse=True)
def _restore_bumble_log_level() -> Iterator[None]:
    # main() quiets Bumble's logger for the process; keep other tests unaffected
    logger = logging.getLogger("bumble")
    level = logger.level
    yield
    logger.setLevel(level)


class TestCli:
    def test_virtual_session_is_verified(self, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["--speed", "60", "--duration", "5", "--drop", "0.1", "--disconnect-at", "2", "--seed", "3"])
        out = capsys.readouterr().out
        assert code == 0
        assert "START 5 s at 300 Hz -> ok" in out
        assert "fault: dropping the link at 2 s of recording" in out
        assert "central received 1500 samples" in out and "VERIFIED" in out
        assert "identical to the device's ADC stream: True" in out

    def test_advertise_only(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--no-central", "--run-for", "0.2", "--name", "ecg-sim"]) == 0
        assert "advertising as 'ecg-sim'" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--source", "synthetic:nope"], "unknown synthetic kind"),
            (["--drop", "1.5"], "drop_fraction"),
            (["--speed", "0"], "must be positive"),
            (["--transport", "nosuchscheme:0", "--run-for", "0.1"], "cannot open HCI transport"),
        ],
    )
    def test_bad_input_gives_a_clear_message(self, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(argv) == 2
        assert message in capsys.readouterr().err
