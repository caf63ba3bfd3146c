"""``cardio history/show/export/delete`` and the recovery files, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import wfdb

from companion import recovery
from cardio.cli.main import main
from companion.config import CompanionConfig
from companion.errors import RecoveryError
from companion.recording import Recording
from companion.store import Store
from ecg.classes import SAFETY_TEXT
from ecg.io import read_csv


@pytest.fixture
def config(tmp_path: Path) -> CompanionConfig:
    return CompanionConfig.resolve(data_dir=tmp_path / "data")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestHistoryCommands:
    def test_history_show_delete_json(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str]
    ) -> None:
        with Store.open(config) as store:
            rid = store.add_recording(make_recording())
            store.set_local_result(rid, {"label": "N", "category": "sinus_rhythm", "heart_rate_bpm": 72.0})
        dd = ["--data-dir", str(config.data_dir)]
        code, out, _ = _run(capsys, "history", *dd, "--json")
        rows = json.loads(out)
        assert code == 0 and [r["id"] for r in rows] == [rid]
        assert rows[0]["duration_s"] == 30.0 and rows[0]["complete"] is True
        assert rows[0]["result"]["label"] == "N"
        code, out, _ = _run(capsys, "show", str(rid), *dd, "--json")
        shown = json.loads(out)
        assert shown["samples"] == 9000 and shown["sample_rate_hz"] == 300.0 and shown["verified"] is True
        assert shown["results"]["local"]["category"] == "sinus_rhythm"
        assert shown["verdict"]["label"] == "Sinus rhythm" and shown["verdict"]["safety"] == SAFETY_TEXT
        code, out, _ = _run(capsys, "show", str(rid), *dd)
        assert code == 0 and "Sinus rhythm" in out and "9000 at 300 Hz" in out
        assert "not a diagnosis" in out and out.index("Sinus rhythm") < out.index("Details")
        assert _run(capsys, "delete", str(rid), *dd, "--yes")[0] == 0
        code, out, err = _run(capsys, "show", str(rid), *dd)
        assert code == 1 and f"no recording with id {rid}" in err

    def test_db_flag_overrides_data_dir(
        self, tmp_path: Path, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "elsewhere" / "my.sqlite3"
        with Store(db) as store:
            store.add_recording(make_recording(300))
        code, out, _ = _run(capsys, "history", "--db", str(db), "--json")
        assert code == 0 and len(json.loads(out)) == 1
        code, out, _ = _run(capsys, "history", "--json")  # default (CARDIOLINK_HOME) is another db
        assert json.loads(out) == []


class TestExport:
    def test_wfdb_round_trip_bit_exact(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        rec = make_recording()
        with Store.open(config) as store:
            rid = store.add_recording(rec)
        out_dir = tmp_path / "out"
        code, out, _ = _run(capsys, "export", str(rid), "--format", "wfdb", "-o", str(out_dir),
                            "--data-dir", str(config.data_dir), "--json")
        files = [Path(f) for f in json.loads(out)["files"]]
        assert code == 0 and all(f.exists() for f in files)
        raw = wfdb.rdrecord(str(files[0].with_suffix("")), physical=False)
        np.testing.assert_array_equal(raw.d_signal[:, 0], rec.samples)
        assert raw.fs == 300.0 and raw.adc_gain == [1000.0] and raw.baseline == [5]
        phys = wfdb.rdrecord(str(files[0].with_suffix("")))
        np.testing.assert_allclose(phys.p_signal[:, 0], rec.signal_mv(), atol=1e-9)

    def test_csv_round_trip_with_ecg_io(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        rec = make_recording()
        with Store.open(config) as store:
            rid = store.add_recording(rec)
        code, out, _ = _run(capsys, "export", str(rid), "--format", "csv", "-o", str(tmp_path),
                            "--data-dir", str(config.data_dir))
        csv_path, json_path = (Path(line) for line in out.split())
        params = json.loads(json_path.read_text())
        back = read_csv(csv_path, fs_hz=params["sampleRate"], adc_gain=params["adcGain"], baseline=params["baseline"])
        np.testing.assert_allclose(back.signals_mv[:, 0], rec.signal_mv(), atol=1e-12)


class TestRecovery:
    def test_write_then_import_on_next_run(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str]
    ) -> None:
        rec = make_recording(complete=False)
        path = recovery.write_recovery(rec, config.recovery_dir)
        assert path.exists()
        code, out, err = _run(capsys, "history", "--data-dir", str(config.data_dir), "--json")
        assert code == 0 and "imported 1 recording" in err
        assert not path.exists()
        (row,) = json.loads(out)
        with Store.open(config) as store:
            got = store.get_recording(row["id"]).recording
        np.testing.assert_array_equal(got.samples, rec.samples)
        assert got.complete is False and got.session_id == rec.session_id

    def test_unwritable_folder_falls_back(self, make_recording: Callable[..., Recording], tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        path = recovery.write_recovery(make_recording(30), blocker / "sub")
        assert path.parent == recovery.FALLBACK_DIR

    def test_corrupt_file_is_set_aside(self, config: CompanionConfig, tmp_path: Path) -> None:
        config.recovery_dir.mkdir(parents=True)
        bad = config.recovery_dir / "recording-x.npz"
        bad.write_bytes(b"garbage")
        with pytest.raises(RecoveryError):
            recovery.read_recovery(bad)
        with Store.open(config) as store:
            assert recovery.import_pending(store, config.recovery_dir) == []
        assert not bad.exists() and bad.with_suffix(".npz.bad").exists()
