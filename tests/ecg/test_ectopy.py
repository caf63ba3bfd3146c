"""PVC/PAC from beat timing and morphology, on real MIT-BIH excerpts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg.context import LeadContext
from ecg.ectopy import Ectopy, find_ectopy, find_ectopy_in
from ecg.findings import Finding
from ecg.beats import detect_r_peaks
from ecg.io import read_record
from ecg.preprocess import BandPass, Pipeline, Resample

FS_HZ = 300.0


def _segments(path: Path) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
    """30-s segments at 300 Hz with their R peaks and the reference beat symbols there."""
    rec = read_record(path)
    ann = wfdb.rdann(str(path), "atr")
    x, fs = Pipeline([BandPass(0.5, 40.0), Resample(FS_HZ)]).apply(rec.signals_mv, rec.fs_hz)
    ref = np.round(np.asarray(ann.sample) * FS_HZ / rec.fs_hz).astype(int)
    out = []
    step = int(30 * fs)
    for start in range(0, x.shape[0] - step + 1, step):
        seg = x[start : start + step]
        r = detect_r_peaks(seg[:, 0], fs)
        out.append((seg, r, [s for s, at in zip(ann.symbol, ref) if start <= at < start + step]))
    return out


class TestFindEctopy:
    def test_sinus_rhythm_with_one_pac(self, mitdb_fixture: dict[str, Path]) -> None:
        pvc = pac = 0
        for seg, r, symbols in _segments(mitdb_fixture["100_2min"]):
            found = find_ectopy(seg, FS_HZ, r)
            pvc += len(found.pvc)
            pac += len(found.pac)
        assert (pvc, pac) == (0, 1)  # the reference has exactly one APC and no PVC

    def test_frequent_pvcs(self, mitdb_fixture: dict[str, Path]) -> None:
        found_pvc = ref_pvc = 0
        for seg, r, symbols in _segments(mitdb_fixture["208_1min"]):
            found = find_ectopy(seg, FS_HZ, r)
            found_pvc += len(found.pvc)
            ref_pvc += symbols.count("V")
            assert found.pac == ()
        assert ref_pvc == 30
        assert 0.6 * ref_pvc <= found_pvc <= ref_pvc + 3  # 12 fusion beats may count either way

    def test_findings_form(self, mitdb_fixture: dict[str, Path]) -> None:
        seg, r, _ = _segments(mitdb_fixture["208_1min"])[0]
        findings = find_ectopy(seg, FS_HZ, r).findings()
        assert [f.code for f in findings] == ["pvc"]
        assert isinstance(findings[0], Finding) and findings[0].unit == "beats"
        assert "Premature ventricular complexes" in findings[0].label

    def test_atrial_fibrillation_keeps_pvcs_only(self) -> None:
        found = Ectopy(n_beats=30, pvc=(100, 900), pac=(500,))
        assert [f.code for f in found.findings()] == ["pvc", "pac"]
        assert [f.code for f in found.findings(atrial_fibrillation=True)] == ["pvc"]

    def test_contexts_give_the_same_answer(self, mitdb_fixture: dict[str, Path]) -> None:
        rec = read_record(mitdb_fixture["208_1min"])
        x, fs = rec.signals_mv[: int(30 * rec.fs_hz), :1], rec.fs_hz
        ctx = LeadContext.of(x[:, 0], fs)
        found = find_ectopy_in([ctx])
        assert found == find_ectopy(ctx.wide_mv, fs, detect_r_peaks(x[:, 0], fs))
        assert len(found.pvc) >= 5 and ctx.computed["r_peaks"] == 1

    @pytest.mark.parametrize("n_beats", [0, 3])
    def test_too_few_beats(self, n_beats: int) -> None:
        x = np.random.default_rng(0).normal(size=(3000, 1))
        found = find_ectopy(x, FS_HZ, np.linspace(300, 2700, n_beats).astype(int))
        assert (found.pvc, found.pac) == ((), ())

    def test_noise_reports_nothing(self) -> None:
        x = np.random.default_rng(1).normal(size=(9000, 1))
        r = np.arange(150, 8850, 250) + np.random.default_rng(2).integers(-60, 60, 35)
        found = find_ectopy(x, FS_HZ, np.sort(r))
        assert (found.pvc, found.pac) == ((), ())
