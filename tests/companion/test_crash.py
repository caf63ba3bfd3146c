"""``kill -9`` of ``cardio record`` mid-recording leaves a sound database with the partial recording."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from companion.store import Store

REPO = Path(__file__).resolve().parents[2]


def _checkpointed_samples(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            row = conn.execute("SELECT max(n_samples) FROM recordings").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0)


@pytest.mark.timeout(120)
class TestKill:
    def test_kill_9_mid_recording(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "data"
        db = data_dir / "history.sqlite3"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "cardio", "record", "--simulate", "--sim-speed", "3", "--no-sync",
               "--quiet", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 90
            while _checkpointed_samples(db) < 600:  # at least 2 s of ECG saved
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "no checkpoint within 90 s"
                time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        with Store(db) as store:
            assert store.integrity_check() == "ok"
            (row,) = store.list_recordings()
            assert row.state == "recording" and not row.complete
            partial = store.get_recording(row.id).recording
            assert 600 <= partial.n_samples < 9000
            assert partial.sample_rate_hz == 300.0 and partial.samples.std() > 0
            store.add_recording(partial)  # the database keeps working after the crash
