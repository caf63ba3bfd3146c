"""``cardio screen``/``cardio measure`` batches (issue 13 #21): a size limit before reading,
impossible values refused, and one bad record never ends the batch."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from cardio.cli import screen as screen_cli
from cardio.cli.main import main
from ecg.io import MAX_INPUT_BYTES


def _sine_csv(path: Path) -> Path:
    path.write_text("\n".join(f"{math.sin(i / 10):.4f}" for i in range(9000)) + "\n")
    return path


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]


@pytest.mark.parametrize("command", [["screen", "--fs", "300"], ["measure", "--fs-hz", "300"]])
class TestOneBadRecordNeverEndsTheBatch:
    def test_huge_file_refused_before_reading(self, tmp_path: Path, command: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
        huge = tmp_path / "huge.csv"
        with open(huge, "wb") as fh:
            fh.truncate(MAX_INPUT_BYTES + 1)  # sparse: costs no disk, and is never read
        good = _sine_csv(tmp_path / "good.csv")
        assert main([command[0], str(huge), str(good), *command[1:], "--json"]) == 1
        out = _lines(capsys)
        assert out[0]["error"] == "InputFormatError" and "limit" in out[0]["message"]
        assert out[1]["record"] == "good" and "error" not in out[1]

    def test_values_of_1e308_refused_and_the_next_record_done(self, tmp_path: Path, command: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
        bad = tmp_path / "bad.csv"
        bad.write_text("1e308\n" * 9000)
        good = _sine_csv(tmp_path / "good.csv")
        assert main([command[0], str(bad), str(good), *command[1:], "--json"]) == 1
        out = _lines(capsys)
        assert out[0]["error"] == "InputFormatError" and "mV" in out[0]["message"]
        assert out[1]["record"] == "good" and "error" not in out[1]


def test_unexpected_error_in_one_record_is_an_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    real = screen_cli.screen_path
    good = _sine_csv(tmp_path / "good.csv")

    def flaky(path: str, args: Any) -> dict[str, Any]:
        if path.endswith("boom.csv"):
            raise RuntimeError("injected")
        return real(path, args)

    monkeypatch.setattr(screen_cli, "screen_path", flaky)
    assert main(["screen", str(tmp_path / "boom.csv"), str(good), "--fs", "300", "--json"]) == 1
    out = _lines(capsys)
    assert out[0]["error"] == "RuntimeError" and out[1]["record"] == "good"
    assert os.path.exists(good)
