"""The patient's commands: plain words, annotate, profile, delete asks, numbers never reused,
cloud login, CSV scale from the export's parameter file or --units mv, fast help."""

from __future__ import annotations

import io
import json
import re
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cardio.cli.main import COMMANDS, main
from companion.config import CompanionConfig
from companion.recording import Recording
from companion.store import Store
from ecg.classes import SAFETY_TEXT
from ecg.io import read_record

REPO = Path(__file__).resolve().parents[2]
UNREADABLE = {"label": "~", "category": "unreadable", "heart_rate_bpm": 143.0, "flags": [],
              "probabilities": {"N": 0.1, "A": 0.1, "O": 0.1, "~": 0.7}, "model_version": "t",
              "quality": {"readable": True, "reasons": []}}


@pytest.fixture
def config(tmp_path: Path) -> CompanionConfig:
    return CompanionConfig.resolve(data_dir=tmp_path / "data")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestWords:
    def test_unreadable_shows_no_numbers_and_never_good_quality(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str]
    ) -> None:
        with Store.open(config) as store:
            rid = store.add_recording(make_recording())
            store.set_local_result(rid, UNREADABLE)
            store.set_measurements(rid, {"pr_ms": 177.0, "qrs_ms": 90.0, "qt_ms": 300.0, "qtc_ms": 499.0,
                                         "heart_rate_bpm": 143.0, "findings": ["Long QTc"]})
            stored = store.get_recording(rid)
        code, out, _ = run(capsys, "show", str(rid), "--data-dir", str(config.data_dir))
        assert code == 0 and "Unreadable — try again" in out and "record again" in out
        for number in ("143", "177", "499"):  # not inside the record's hex uuid, which `show` prints too
            assert not re.search(rf"(?<![0-9a-fA-F]){number}(?![0-9a-fA-F])", out), number
        assert "Long QTc" not in out
        assert not re.search(r"quality\s+good", out)
        from companion.web.present import report_header

        header = report_header(stored)
        assert header.result == "Unreadable — try again" and header.heart_rate_bpm is None
        assert header.pr_ms is header.qtc_ms is None and header.quality != "good" and header.safety == SAFETY_TEXT
        assert header.findings == ()

    def test_too_short_is_kept_and_says_so(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str]
    ) -> None:
        with Store.open(config) as store:
            rid = store.add_recording(make_recording(n=2550, complete=False))  # 8.5 s, as after a Ctrl-C
        code, out, _ = run(capsys, "show", str(rid), "--data-dir", str(config.data_dir), "--json")
        doc = json.loads(out)
        assert doc["verdict"]["category"] == "too_short" and doc["verdict"]["heart_rate_bpm"] is None
        code, out, _ = run(capsys, "history", "--data-dir", str(config.data_dir))
        assert "Too short — record again" in out

    def test_too_short_is_not_screened(self, make_recording: Callable[..., Recording]) -> None:
        from companion.recorder import screen_recording

        local, measurements, error = screen_recording(make_recording(n=19 * 300))
        assert local is None and measurements is None and error and "too short" in error


class TestAnnotateAndProfile:
    def test_symptoms_and_note_in_show_json(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str]
    ) -> None:
        with Store.open(config) as store:
            rid = store.add_recording(make_recording())
        dd = ["--data-dir", str(config.data_dir)]
        code, out, _ = run(capsys, "annotate", str(rid), "--symptom", "palpitations", "--symptom", "chest pain",
                           "--note", "after climbing stairs", *dd)
        assert code == 0 and "Palpitations, Chest pain" in out
        doc = json.loads(run(capsys, "show", str(rid), "--json", *dd)[1])
        assert doc["symptoms"] == ["palpitations", "chest_pain"] and doc["note"] == "after climbing stairs"
        code, _, err = run(capsys, "annotate", str(rid), "--symptom", "headache", *dd)
        assert code == 1 and "unknown symptom" in err and "palpitations" in err
        code, _, err = run(capsys, "annotate", str(rid), "--symptom", "none", "--symptom", "fatigue", *dd)
        assert code == 1 and "'none'" in err
        rows = json.loads(run(capsys, "history", "--symptom", "chest_pain", "--json", *dd)[1])
        assert [r["id"] for r in rows] == [rid]
        assert json.loads(run(capsys, "history", "--symptom", "fatigue", "--json", *dd)[1]) == []

    def test_profile_keys_and_validation(self, config: CompanionConfig, capsys: pytest.CaptureFixture[str]) -> None:
        dd = ["--data-dir", str(config.data_dir)]
        code, out, _ = run(capsys, "profile", "--json", *dd)
        assert code == 0 and json.loads(out) == {"name": None, "sex": None, "birth_date": None}
        code, out, _ = run(capsys, "profile", "--name", "Ada L", "--sex", "f", "--birth-date", "1960-05-01",
                           "--json", *dd)
        assert json.loads(out) == {"name": "Ada L", "sex": "F", "birth_date": "1960-05-01"}
        code, _, err = run(capsys, "profile", "--birth-date", "1960-13-01", *dd)
        assert code == 1 and "YYYY-MM-DD" in err
        assert json.loads(run(capsys, "profile", "--json", *dd)[1])["name"] == "Ada L"  # unchanged by the error


class TestDeleteAndNumbers:
    def test_delete_asks_and_numbers_are_never_reused(
        self, config: CompanionConfig, make_recording: Callable[..., Recording], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        with Store.open(config) as store:
            first = store.add_recording(make_recording(seed=1))
            second = store.add_recording(make_recording(seed=2))
        dd = ["--data-dir", str(config.data_dir)]
        monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
        code, _, err = run(capsys, "delete", str(second), *dd)
        assert code == 1 and "[y/N]" in err and "kept" in err
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no answer at all: nothing deleted
        assert run(capsys, "delete", str(second), *dd)[0] == 1
        monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
        code, out, _ = run(capsys, "delete", str(second), *dd)
        assert code == 0 and f"deleted recording {second}" in out
        with Store.open(config) as store:
            third = store.add_recording(make_recording(seed=3))
        assert third == second + 1 and first < second  # the deleted number points to nothing, forever
        code, _, err = run(capsys, "show", str(second), *dd)
        assert code == 1 and f"no recording with id {second}" in err
        assert run(capsys, "delete", str(third), "--yes", *dd)[0] == 0


class TestCloudLogin:
    def test_login_saves_0600_and_a_refused_token_is_clear(
        self, config: CompanionConfig, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        import asyncio

        from cardio.local_cloud import local_cloud

        dd = ["--data-dir", str(config.data_dir)]

        async def with_cloud() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
            async with local_cloud(tmp_path / "cloudhome") as settings:
                bad = await asyncio.to_thread(run, capsys, "cloud", "login", settings.url, "--token", "clk_wrong", *dd)
                good = await asyncio.to_thread(run, capsys, "cloud", "login", settings.url, "--token",
                                               settings.token, *dd)
            return bad, good

        bad, good = asyncio.run(with_cloud())
        assert bad[0] == 1 and "refused this token" in bad[2] and "clk_wrong" not in bad[1] + bad[2]
        assert good[0] == 0 and "saved" in good[1]
        path = config.data_dir / "cloud.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert set(json.loads(path.read_text())) == {"url", "token"}
        code, out, _ = run(capsys, "cloud", "status", *dd)
        assert code == 0 and "127.0.0.1" in out and json.loads(path.read_text())["token"] not in out
        assert run(capsys, "cloud", "logout", *dd)[0] == 0 and not path.exists()


class TestCsvInput:
    def test_exported_csv_screens_with_its_parameter_file(
        self, config: CompanionConfig, cinc2017_fixture: dict[str, tuple[Path, str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        import numpy as np
        import wfdb

        counts = wfdb.rdrecord(str(cinc2017_fixture["A00004"][0]), physical=False).d_signal[:, 0]
        with Store.open(config) as store:
            rid = store.add_recording(Recording(counts.astype(np.int32), 300.0, 1000.0, 7, complete=True))
        dd = ["--data-dir", str(config.data_dir)]
        code, out, _ = run(capsys, "export", str(rid), "--format", "csv", "-o", str(tmp_path / "out"), *dd)
        csv_path = next(Path(line) for line in out.split() if line.endswith(".csv"))
        code, out, _ = run(capsys, "screen", str(csv_path), "--json")  # no --fs, no --adc-gain: from the .json
        from_params = json.loads(out)
        code, out, _ = run(capsys, "screen", str(cinc2017_fixture["A00004"][0]), "--json")
        direct = json.loads(out)
        assert code == 0 and from_params["label"] == direct["label"]
        assert from_params["probabilities"] == pytest.approx(direct["probabilities"], abs=0.02)

    def test_units_mv(self, cinc2017_fixture: dict[str, tuple[Path, str]], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
        import numpy as np

        rec = read_record(cinc2017_fixture["A00001"][0])
        path = tmp_path / "mv.csv"
        np.savetxt(path, rec.signals_mv[:, 0], fmt="%.4f")
        code, out, _ = run(capsys, "screen", str(path), "--units", "mv", "--fs", "300")
        assert code == 0 and out.startswith("mv: ")
        code, _, err = run(capsys, "screen", str(path), "--units", "mv", "--adc-gain", "1000", "--fs", "300")
        assert code == 1 and "contradict" in err
        code, _, err = run(capsys, "screen", str(path), "--units", "mv")
        assert code == 1 and "--fs" in err


class TestFastHelp:
    def test_help_lists_every_command_without_importing_them(self) -> None:
        code = ("import sys, time; t0 = time.process_time(); from cardio.cli.main import main; "
                "rc = main(['--help']); cpu = time.process_time() - t0; "
                "print(sorted(m for m in sys.modules if m.startswith(('cardio.cli.', 'companion', 'ecg', 'numpy')))); "
                "print(cpu, file=sys.stderr); sys.exit(rc)")
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        listed = out.stdout.splitlines()
        assert listed[-1] == "['cardio.cli.main']"
        for command in COMMANDS:
            assert any(line.strip().startswith(command + " ") for line in listed)

    def test_help_cpu_time(self) -> None:
        """`cardio --help` (interpreter start included) in under 0.3 s of CPU."""
        best = min(_cpu_of([sys.executable, "-m", "cardio", "--help"]) for _ in range(3))
        assert best < 0.3, f"cardio --help took {best:.3f} s of CPU"

    def test_unknown_command_is_a_clear_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "recrod")
        assert code == 2 and "unknown command 'recrod'" in err and "record" in err


def _cpu_of(cmd: list[str]) -> float:
    t0 = os.times()
    subprocess.run(cmd, cwd=REPO, capture_output=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    t1 = os.times()
    return (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)


def test_the_dpi_default_matches_the_report_module() -> None:
    from cardio.cli.report import DEFAULT_DPI
    from ecg.report import DEFAULT_DPI as REPORT_DPI

    assert DEFAULT_DPI == REPORT_DPI


def test_time_is_local(config: CompanionConfig, make_recording: Callable[..., Recording],
                       capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        with Store.open(config) as store:
            rid = store.add_recording(make_recording())  # 2026-01-02 03:04:05 UTC
        out = run(capsys, "show", str(rid), "--data-dir", str(config.data_dir))[1]
        assert "2026-01-02 08:34 IST" in out
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_profile_sex_reaches_the_measurements(cinc2017_fixture: dict[str, tuple[Path, str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The sex from the profile selects the long-QTc limit of the measurements made after a recording."""
    import ecg.delineate
    from companion.recorder import screen_recording

    seen: list[object] = []
    real = ecg.delineate.measure

    def spy(sig_mv: object, fs_hz: float, **kwargs: object) -> object:
        seen.append(kwargs.get("sex"))
        return real(sig_mv, fs_hz, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ecg.delineate, "measure", spy)
    import numpy as np
    import wfdb

    counts = wfdb.rdrecord(str(cinc2017_fixture["A00001"][0]), physical=False).d_signal[:, 0].astype(np.int32)
    screen_recording(Recording(counts, 300.0, 1000.0, 0, complete=True), sex="F")
    assert seen == ["F"]


def test_serve_on_a_busy_port_is_one_clear_line(config: CompanionConfig, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port), "--data-dir", str(config.data_dir))
    assert code == 1 and f"port {port} on 127.0.0.1 is already in use" in err and "--port N" in err
    assert "Starting the cardiolink app" in err and "Traceback" not in err
