"""``cardio record --simulate`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardio.cli.main import main

pytestmark = pytest.mark.timeout(90)


class TestRecordCommand:
    def test_simulated_recording_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["record", "--simulate", "--sim-speed", "30", "--sim-drop", "0.2", "--sim-disconnect-at", "12",
                     "--no-sync", "--json", "--data-dir", str(tmp_path)])
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert code == 0, err
        assert doc["id"] == 1 and doc["complete"] is True and doc["verified"] is True
        assert doc["samples"] == 9000 and doc["sample_rate_hz"] == 300.0 and doc["duration_s"] == 30.0
        assert doc["reconnects"] == 1 and doc["frames_resent"] > 0
        assert doc["results"]["local"]["label"] in {"N", "A", "O", "~"}, doc["screening_error"]
        assert "Place both fingers on the electrodes" in err
        code = main(["history", "--json", "--data-dir", str(tmp_path)])
        rows = json.loads(capsys.readouterr().out)
        assert [r["id"] for r in rows] == [1] and rows[0]["complete"] is True

    def test_progress_says_connecting_between_finding_and_connected(self, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
        """Issue 14: no silent seconds before "connected": finding, connecting, connected, then the prompts."""
        code = main(["record", "--simulate", "--sim-speed", "30", "--quiet", "--no-sync", "--data-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 0, err
        lines = err.splitlines()

        def first(text: str) -> int:
            return next(i for i, line in enumerate(lines) if text in line)

        assert first("Starting the simulated device") < first("Connecting to cardiolink") < first("connected to") \
            < first("Place both fingers on the electrodes") < first("Recording — keep still")

    def test_look_alike_refused_with_clear_message(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["record", "--simulate", "--sim-speed", "30", "--sim-no-ecg-service", "--scan-timeout", "3",
                     "--no-sync", "--json", "--data-dir", str(tmp_path)])
        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out)["error"] == "NotAnEcgDeviceError"
        assert "does not offer the ECG service" in err and "refusing it" in err

    @pytest.mark.parametrize("bad", [["--sim-mtu", "5"], ["--sim-source", "/nonexistent/record"], ["--sim-drop", "1.5"]])
    def test_bad_simulator_option(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
        code = main(["record", "--simulate", *bad, "--no-sync", "--data-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 1 and "cannot start the simulated device" in err and "Traceback" not in err


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default, as in a terminal session."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


class TestInterrupt:
    def test_ctrl_c_says_what_was_kept_and_how_to_record_again(self, tmp_path: Path) -> None:
        import os
        import signal
        import subprocess
        import sys
        import time

        repo = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(repo), "CARDIOLINK_HOME": str(tmp_path)}
        # A terminal's Ctrl-C: SIGINT at its default disposition in the child. A runner started as a background
        # job (`cmd &` in a non-interactive shell) passes SIGINT down *ignored*, and Python then keeps ignoring it.
        proc = subprocess.Popen([sys.executable, "-m", "cardio", "record", "--simulate", "--quiet", "--no-sync"],
                                cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_default_sigint)
        first = proc.stderr.readline() if proc.stderr else ""
        assert "Starting the simulated device" in first  # progress from the first second
        deadline = time.monotonic() + 60
        seen = ""
        while "Recording" not in seen and time.monotonic() < deadline:  # recording under way
            seen += proc.stderr.readline() if proc.stderr else ""
        time.sleep(4.0)  # a few seconds recorded (and checkpointed)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Stopped. Kept recording 1" in err and "Too short — record again" in err
        assert "Record again with `cardio record`" in err and "Traceback" not in err
        shown = subprocess.run([sys.executable, "-m", "cardio", "show", "1", "--json"], cwd=repo, env=env,
                               capture_output=True, text=True, check=True)
        doc = json.loads(shown.stdout)
        assert doc["verdict"]["category"] == "too_short" and doc["complete"] is False and doc["samples"] > 0
