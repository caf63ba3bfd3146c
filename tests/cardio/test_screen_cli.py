"""Tests of ``cardio screen`` on WFDB and CSV input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardio.cli.main import main
from ecg.io import read_record, write_csv

_KEYS = ["record", "label", "category", "probabilities", "heart_rate_bpm", "quality", "flags",
         "model_version", "rhythm", "elapsed_ms"]


class TestScreenCli:
    def test_wfdb_and_csv_json_lines(self, cinc2017_fixture: dict[str, tuple[Path, str]], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        path = cinc2017_fixture["A00004"][0]
        csv_path = write_csv(read_record(path), tmp_path / "af.csv", adc_gain=500.0, baseline=2048)
        code = main(["screen", f"{path}.hea", str(csv_path), "--fs", "300", "--adc-gain", "500",
                     "--baseline", "2048", "--json"])
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert code == 0 and len(lines) == 2
        for d in lines:
            assert list(d) == _KEYS
            assert set(d["probabilities"]) == {"N", "A", "O", "~"}
            assert d["elapsed_ms"] > 0
        assert lines[0]["label"] == lines[1]["label"] == "A"
        assert lines[0]["probabilities"]["A"] == pytest.approx(lines[1]["probabilities"]["A"], abs=0.02)

    def test_bad_record_does_not_stop_the_others(self, cinc2017_fixture: dict[str, tuple[Path, str]],
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        short = tmp_path / "short.csv"
        short.write_text("mv\n" + "\n".join("0.1" for _ in range(300)) + "\n")
        good = cinc2017_fixture["A00001"][0]
        code = main(["screen", str(tmp_path / "missing.hea"), str(short), str(good), "--fs", "300", "--json"])
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert code == 1 and len(lines) == 3
        assert "error" in lines[0]
        assert (lines[1]["label"], lines[1]["category"], lines[1]["heart_rate_bpm"]) == ("~", "unreadable", None)
        assert "too_short" in lines[1]["quality"]["reasons"] and lines[1]["probabilities"] == {}
        assert lines[2]["label"] == "N"

    def test_human_output(self, cinc2017_fixture: dict[str, tuple[Path, str]], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["screen", str(cinc2017_fixture["A00001"][0])]) == 0
        out = capsys.readouterr().out
        assert out.startswith("A00001: Sinus rhythm, heart rate") and "bpm" in out
        assert "not a diagnosis" in out and "0." not in out.splitlines()[0]  # no probabilities without --details


def test_no_runtime_info_line_on_stderr(cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
    """LiteRT's C++ "INFO: Created TensorFlow Lite XNNPACK delegate" banner never reaches the user."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "cardio", "screen", str(cinc2017_fixture["A00001"][0])], cwd=repo,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo)}, check=True)
    assert out.stderr == "" and out.stdout.startswith("A00001: ")
