"""``cardio measure``: JSON lines on LUDB and CinC records, errors per record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardio.cli.main import main

BEAT_KEYS = {"p_on", "p_peak", "p_off", "qrs_on", "r_peak", "qrs_off", "t_peak", "t_off"}
FIELDS = {"lead", "fs_hz", "beats", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "heart_rate_bpm", "findings"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:
    rc = main(["measure", *argv])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()], err


class TestMeasureCli:
    def test_ludb_and_cinc_json_lines(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        rc, lines, _ = run(capsys, "--json", str(fixtures_dir / "ludb" / "2.hea"), str(fixtures_dir / "cinc2017" / "A00001"))
        assert rc == 0 and len(lines) == 2
        ludb, cinc = lines
        for d in lines:
            assert FIELDS <= set(d)
            assert all(set(b) == BEAT_KEYS for b in d["beats"])
            assert d["qrs_ms"] is not None
        assert ludb["lead"] == "i" and ludb["fs_hz"] == 500.0  # default lead: the first
        assert cinc["fs_hz"] == 300.0 and len(cinc["beats"]) > 25

    def test_lead_option(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        rc, (d,), _ = run(capsys, "--json", "--lead", "II", str(fixtures_dir / "ludb" / "2"))
        assert rc == 0 and d["lead"] == "ii"

    def test_bad_record_reported_and_others_measured(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path, tmp_path: Path) -> None:
        missing = tmp_path / "nothing.hea"
        rc, lines, err = run(capsys, "--json", str(missing), str(fixtures_dir / "ludb" / "38.hea"))
        assert rc == 1
        assert lines[0]["error"] and "nothing" in lines[0]["record"]
        assert lines[1]["pr_ms"] is None and "pr_ms" in lines[1]["reasons"]
        assert "nothing" in err

    def test_unknown_lead_is_an_error(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        rc, (d,), _ = run(capsys, "--json", "--lead", "v9", str(fixtures_dir / "ludb" / "2"))
        assert rc == 1 and "v9" in d["message"]

    def test_all_leads(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        rc, (d,), _ = run(capsys, "--json", "--all-leads", str(fixtures_dir / "ludb" / "2"))
        assert rc == 0 and d["lead"] == "global" and len(d["leads"]) == 12 and "axis_deg" in d

    def test_one_qtc_formula_with_the_limits_used(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        rc, (d,), _ = run(capsys, "--json", "--all-leads", "--sex", "M", str(fixtures_dir / "ludb" / "2"))
        assert rc == 0 and d["qtc_formula"] == "Fridericia" and d["qtc_ms"] == d["qtc_fridericia_ms"]
        assert d["qtc_limits"]["sex"] == "M" and d["qtc_limits"]["long_ms"] == 450.0
        assert all(m["qtc_limits"]["long_ms"] == 450.0 for m in d["leads"])
        assert main(["measure", str(fixtures_dir / "ludb" / "2")]) == 0
        out = capsys.readouterr().out
        assert "QTc (Fridericia) " in out and "long ≥ 460 ms: sex not given" in out

    def test_human_output(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        assert main(["measure", str(fixtures_dir / "ludb" / "34")]) == 0
        out = capsys.readouterr().out
        assert out.startswith("34 [i]") and "pacing" in out

    def test_csv_input(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path, tmp_path: Path) -> None:
        from ecg.io import read_record

        rec = read_record(fixtures_dir / "cinc2017" / "A00002")
        csv = tmp_path / "a.csv"
        csv.write_text("\n".join(f"{v:.5f}" for v in rec.signals_mv[:, 0]))
        rc, (d,), _ = run(capsys, "--json", "--fs-hz", "300", str(csv))
        assert rc == 0 and d["qrs_ms"] is not None


class TestLearnedDelineator:
    def test_learned_delineator_is_a_user_option(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        path = str(fixtures_dir / "ludb" / "2.hea")
        rc, (rules,), _ = run(capsys, "--json", "--delineator", "rules", path)
        rc2, (learned,), _ = run(capsys, "--json", "--delineator", "learned", path)
        assert rc == rc2 == 0
        assert rules["delineator"] == "rules" and learned["delineator"] == "learned"
        assert FIELDS <= set(learned) and all(set(b) == BEAT_KEYS for b in learned["beats"])
        assert [b["r_peak"] for b in learned["beats"]] == [b["r_peak"] for b in rules["beats"]]  # same beats
        assert learned["qrs_ms"] is not None and abs(learned["qrs_ms"] - rules["qrs_ms"]) < 40
        # a different path, not a relabelled copy: at least one boundary differs
        assert [b["qrs_on"] for b in learned["beats"]] != [b["qrs_on"] for b in rules["beats"]] or \
            [b["t_off"] for b in learned["beats"]] != [b["t_off"] for b in rules["beats"]]

    def test_default_is_what_phone_and_cloud_use(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        from ecg.delineation.learned import LEARNED_IS_DEFAULT

        path = str(fixtures_dir / "ludb" / "2.hea")
        rc, (d,), _ = run(capsys, "--json", path)
        name = "learned" if LEARNED_IS_DEFAULT else "rules"
        rc2, (named,), _ = run(capsys, "--json", "--delineator", name, path)
        assert rc == rc2 == 0 and d["delineator"] == name
        assert [b["qrs_on"] for b in d["beats"]] == [b["qrs_on"] for b in named["beats"]]

    def test_learned_all_leads(self, capsys: pytest.CaptureFixture[str], fixtures_dir: Path) -> None:
        rc, (d,), _ = run(capsys, "--json", "--all-leads", "--delineator", "learned", str(fixtures_dir / "ludb" / "2"))
        assert rc == 0 and d["delineator"] == "learned" and d["qrs_ms"] is not None
