"""Delineation on real LUDB and CinC records, and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg.delineate import Measurements, measure, measure_leads
from ecg.errors import SignalError
from ecg.io import read_record

BEAT_KEYS = {"p_on", "p_peak", "p_off", "qrs_on", "r_peak", "qrs_off", "t_peak", "t_off"}


@pytest.fixture(scope="module")
def ludb_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "ludb"


def reference(path: Path, lead: str) -> dict[str, np.ndarray]:
    """Annotated onsets/offsets of one LUDB lead."""
    ann = wfdb.rdann(str(path), lead)
    out: dict[str, list[int]] = {"qrs_on": [], "qrs_off": [], "p_on": [], "t_off": [], "r_peak": []}
    sym, smp = list(ann.symbol), list(ann.sample)
    for j, s in enumerate(sym):
        if s == "N":
            out["r_peak"].append(smp[j])
            out["qrs_on"].append(smp[j - 1])
            out["qrs_off"].append(smp[j + 1])
        elif s == "p":
            out["p_on"].append(smp[j - 1])
        elif s == "t":
            out["t_off"].append(smp[j + 1])
    return {k: np.asarray(v) for k, v in out.items()}


def nearest_errors_ms(ref: np.ndarray, det: list[int | None], fs: float) -> np.ndarray:
    d = np.asarray([v for v in det if v is not None])
    return np.asarray([(d[np.argmin(np.abs(d - r))] - r) * 1000.0 / fs for r in ref])


class TestLudbSinus:
    def test_boundaries_match_cardiologists(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        m = measure(rec.signals_mv[:, 1], rec.fs_hz, lead="ii")
        ref = reference(ludb_dir / "2", "ii")
        for key, limit_ms in (("qrs_on", 20), ("qrs_off", 20), ("p_on", 25), ("t_off", 40)):
            err = nearest_errors_ms(ref[key], [getattr(b, key) for b in m.beats], rec.fs_hz)
            assert np.all(np.abs(err) < 150), key
            assert abs(float(np.median(err))) < limit_ms, (key, err)

    def test_intervals_close_to_annotated(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        m = measure(rec.signals_mv[:, 1], rec.fs_hz, lead="ii")
        ref = reference(ludb_dir / "2", "ii")
        fs = rec.fs_hz
        ref_qrs = float(np.median(ref["qrs_off"] - ref["qrs_on"])) * 1000 / fs
        assert m.qrs_ms is not None and abs(m.qrs_ms - ref_qrs) < 20
        assert m.pr_ms is not None and 120 < m.pr_ms < 260
        assert m.qt_ms is not None and 300 < m.qt_ms < 500
        rr = np.diff(ref["r_peak"]).mean() / fs
        assert m.heart_rate_bpm == pytest.approx(60 / rr, rel=0.05)
        assert m.qtc_bazett_ms == pytest.approx(m.qt_ms / np.sqrt(m.rr_ms / 1000), rel=1e-9)
        assert m.qtc_fridericia_ms == pytest.approx(m.qt_ms / np.cbrt(m.rr_ms / 1000), rel=1e-9)
        assert m.qtc_ms == m.qtc_fridericia_ms and m.qtc_limits.formula == "Fridericia"  # the one reported QTc
        assert m.p_waves and not m.paced

    def test_to_dict_contract_is_json(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        d = measure(rec.signals_mv[:, 0], rec.fs_hz, lead="i").to_dict()
        for key in ("lead", "fs_hz", "beats", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "heart_rate_bpm", "findings", "reasons"):
            assert key in d
        assert d["lead"] == "i" and d["fs_hz"] == 500.0
        assert d["beats"] and all(set(b) == BEAT_KEYS for b in d["beats"])
        json.dumps(d, allow_nan=False)
        assert d["qtc_formula"] == "Fridericia" and d["qtc_ms"] == d["qtc_fridericia_ms"]
        assert d["qtc_limits"]["sex"] is None and "sex not given" in d["qtc_limits"]["basis"]
        for b in d["beats"]:
            present = [b[k] for k in ("qrs_on", "r_peak", "qrs_off") if b[k] is not None]
            assert present == sorted(present)


class TestBadInput:
    def test_atrial_fibrillation_has_no_p_and_says_why(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "38.hea")
        for j in (0, 1):
            m = measure(rec.signals_mv[:, j], rec.fs_hz)
            assert m.pr_ms is None and "pr_ms" in m.reasons
            assert all(b.p_on is None and b.p_peak is None for b in m.beats)
            assert not m.p_waves
            assert not any(f.code.startswith("sinus") for f in m.findings)
            assert m.qrs_ms is not None

    def test_paced_beats_give_null_conduction_intervals(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "34.hea")
        m = measure(rec.signals_mv[:, 1], rec.fs_hz)
        assert m.paced
        for k in ("pr_ms", "qrs_ms", "qt_ms", "qtc_ms"):
            assert getattr(m, k) is None and "pacing" in m.reasons[k]
        assert m.heart_rate_bpm is not None
        assert not any(f.code in ("wide_qrs", "long_qtc", "first_degree_av_block") for f in m.findings)

    def test_very_low_amplitude_is_not_measured(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        m = measure(rec.signals_mv[:, 1] * 0.02, rec.fs_hz)
        assert m.qrs_ms is None and m.qt_ms is None and m.pr_ms is None and m.heart_rate_bpm is None
        assert "too low" in m.reasons["qrs_ms"]
        assert m.findings == () or all(f.unit == "bpm" for f in m.findings)

    def test_noise_gives_nulls_not_numbers(self) -> None:
        rng = np.random.default_rng(7)
        for _ in range(5):
            m = measure(rng.normal(0, 0.3, 5000), 500.0)
            assert m.pr_ms is None and m.qrs_ms is None and m.qt_ms is None and m.heart_rate_bpm is None
            assert {"pr_ms", "qrs_ms", "qt_ms", "heart_rate_bpm"} <= set(m.reasons)
            assert all(b.qrs_on is None for b in m.beats)

    def test_noisy_cinc_record_intervals_null(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, label = cinc2017_fixture["A00022"]
        assert label == "~"
        rec = read_record(path)
        m = measure(rec.signals_mv[:, 0], rec.fs_hz)
        assert m.qt_ms is None and m.qtc_ms is None and "qt_ms" in m.reasons

    @pytest.mark.parametrize(
        ("sig", "fs", "reason"),
        [
            (np.full(5000, np.nan), 500.0, "non_finite"),
            (np.zeros(100), 500.0, "too_short"),
            (np.zeros((5000, 2)), 500.0, "bad_shape"),
            (np.zeros(5000), -1.0, None),
        ],
    )
    def test_invalid_signals_raise(self, sig: np.ndarray, fs: float, reason: str | None) -> None:
        with pytest.raises(SignalError) as info:
            measure(sig, fs)
        if reason:
            assert info.value.reason == reason

    def test_flat_signal_measures_nothing(self) -> None:
        m = measure(np.zeros(5000), 500.0)
        assert isinstance(m, Measurements)
        assert m.qrs_ms is None and m.heart_rate_bpm is None and m.reasons


class TestCinc:
    @pytest.mark.parametrize("name", ["A00001", "A00002"])
    def test_normal_records_measured(self, cinc2017_fixture: dict[str, tuple[Path, str]], name: str) -> None:
        path, _ = cinc2017_fixture[name]
        rec = read_record(path)
        m = measure(rec.signals_mv[:, 0], rec.fs_hz)
        assert m.qrs_ms is not None and 60 < m.qrs_ms < 120
        if name == "A00001":
            assert m.pr_ms is not None and 100 < m.pr_ms < 220
            assert m.qt_ms is not None and 300 < m.qt_ms < 480
        else:  # A00002's P and T waves change shape from beat to beat: may be refused
            assert (m.pr_ms is not None and 100 < m.pr_ms < 220) or "pr_ms" in m.reasons
            assert (m.qt_ms is not None and 300 < m.qt_ms < 480) or "qt_ms" in m.reasons
        assert len(m.beats) > 25

    def test_af_record_has_no_pr(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, label = cinc2017_fixture["A00004"]
        assert label == "A"
        m = measure(read_record(path).signals_mv[:, 0], 300.0)
        assert m.pr_ms is None and not m.p_waves


class TestTwelveLeads:
    def test_global_measurements_and_axis(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        mm = measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names)
        assert len(mm.leads) == 12
        assert mm.axis_deg is not None and -30 <= mm.axis_deg <= 90  # ludb.csv: normal axis
        assert mm.qrs_ms is not None and mm.qt_ms is not None
        single = measure(rec.signals_mv[:, 1], rec.fs_hz)
        assert single.qrs_ms is not None and mm.qrs_ms >= single.qrs_ms - 10
        d = mm.to_dict()
        json.dumps(d, allow_nan=False)
        assert d["lead"] == "global" and len(d["leads"]) == 12
        glob = mm.to_dict(beats=False, leads=False)  # what the cloud reads: the global values only
        assert "leads" not in glob and "beats" not in glob
        assert glob == {k: v for k, v in mm.to_dict(beats=False).items() if k != "leads"}

    def test_af_record_has_no_global_pr(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "38.hea")
        mm = measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names)
        assert mm.pr_ms is None and "pr_ms" in mm.reasons
        assert not mm.p_waves

    @pytest.mark.parametrize("axis_deg", [-60.0, 0.0, 45.0, 75.0, 120.0])
    def test_axis_of_a_known_dipole(self, ludb_dir: Path, axis_deg: float) -> None:
        # LUDB's per-lead gains make its limb-lead amplitudes non-physical, so the axis
        # is checked on leads projected from one real beat train along a known axis
        rec = read_record(ludb_dir / "2.hea")
        s = rec.signals_mv[:, 1]
        th = np.radians(axis_deg)
        leads = np.column_stack([np.cos(th) * s, np.cos(th - np.radians(60)) * s, np.sqrt(3) / 2 * np.sin(th) * s])
        mm = measure_leads(leads, rec.fs_hz, ("I", "II", "aVF"))
        assert mm.axis_deg == pytest.approx(axis_deg, abs=3.0)
        codes = [f.code for f in mm.findings]
        assert ("left_axis_deviation" in codes) == (axis_deg < -30)
        assert ("right_axis_deviation" in codes) == (axis_deg > 90)
        without_avf = measure_leads(leads[:, :2], rec.fs_hz, ("I", "II"))
        assert without_avf.axis_deg == pytest.approx(axis_deg, abs=3.0)

    def test_names_must_match_columns(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        with pytest.raises(SignalError):
            measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names[:3])

    def test_without_limb_leads_no_axis(self, ludb_dir: Path) -> None:
        rec = read_record(ludb_dir / "2.hea")
        mm = measure_leads(rec.signals_mv[:, 6:], rec.fs_hz, rec.lead_names[6:])
        assert mm.axis_deg is None and "axis_deg" in mm.reasons


def test_beat_similarity_of_all_leads_at_once_is_each_leads_own(ludb_dir: Path) -> None:
    from ecg.context import contexts_of, share_beat_marks, share_views
    from ecg.delineation.batch import _qrs_similarity_all
    from ecg.delineation.filters import StackedViews
    from ecg.delineation.lead import _qrs_similarity
    from ecg.delineation.qrs import locate_many
    from ecg.delineation.vec import Rows

    rec = read_record(ludb_dir / "34.hea")
    ctxs = contexts_of(rec.signals_mv, rec.fs_hz, rec.lead_names)
    share_beat_marks(ctxs)
    share_views(ctxs)
    sv, stack_row = StackedViews.of([c.views for c in ctxs])
    located = locate_many([c.beat_marks for c in ctxs], sv, stack_row)
    lead = np.repeat(np.arange(len(ctxs)), [p.size for p, _ in located])
    r = np.concatenate([p for p, _ in located])
    r[lead == 3] = r[lead == 3][::-1].copy()  # another lead's beats in another order: still each lead's own
    corr = _qrs_similarity_all(sv, Rows(lead, stack_row[lead] * sv.n_samples, len(ctxs)), r)
    for j, c in enumerate(ctxs):
        assert corr[j] == _qrs_similarity(c.views, r[lead == j])


def test_interval_medians_of_all_leads_at_once_are_each_leads_own() -> None:
    from ecg.delineation.lead import MISSING
    from ecg.delineation.summary import median_interval_ms, median_intervals_many

    rng = np.random.default_rng(11)
    for trial in range(200):
        leads = []
        for _ in range(int(rng.integers(1, 13))):
            n = int(rng.integers(0, 25))
            start = np.cumsum(rng.integers(200, 600, n))
            # steady intervals, noisy ones (over the spread limit) and missing boundaries
            end = start + rng.integers(40, 60 if trial % 3 else 400, n)
            start = np.where(rng.random(n) < 0.2, MISSING, start)
            end = np.where(rng.random(n) < 0.2, MISSING, end)
            leads.append({"qrs_on": start, "qrs_off": end, "t_off": end})
        for a, b in (("qrs_on", "qrs_off"), ("qrs_on", "t_off")):
            fs = float(rng.choice([250.0, 300.0, 500.0]))
            assert median_intervals_many(leads, a, b, fs) == [median_interval_ms(w, a, b, fs) for w in leads]


def test_global_waves_match_each_leads_nearest_beat(ludb_dir: Path) -> None:
    """All leads matched to the reference beats at once = lead by lead with ``_nearest``."""
    from ecg.context import contexts_of
    from ecg.delineation.lead import MISSING, WAVE_KEYS
    from ecg.delineation.multilead import _matched, _nearest

    rng = np.random.default_rng(3)
    for name in ("2", "34", "38"):
        rec = read_record(ludb_dir / f"{name}.hea")
        ctxs = contexts_of(rec.signals_mv, rec.fs_hz, rec.lead_names)
        measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names, contexts=ctxs)
        leads = [c.lead_waves for c in ctxs if c.lead_waves.n_beats > 0]
        for lw in leads[::2]:  # other leads miss a beat or are shifted: still each its own nearest
            keep = np.sort(rng.choice(lw.n_beats, max(1, lw.n_beats - 1), replace=False))
            lw.waves = {k: v[keep] for k, v in lw.waves.items()}
            lw.waves["r_peak"] = np.maximum(lw.waves["r_peak"] + int(rng.integers(-60, 60)), 0)
        r_ref = leads[1].waves["r_peak"]
        tol = int(0.1 * rec.fs_hz)
        got = _matched(leads, r_ref, tol)
        for j, lw in enumerate(leads):
            k = _nearest(lw.waves["r_peak"], r_ref)
            same = np.abs(lw.waves["r_peak"][k] - r_ref) <= tol
            v = np.stack([lw.waves[key] for key in WAVE_KEYS])[:, k]
            assert np.array_equal(got[:, :, j], np.where(same & (v != MISSING), v, np.nan), equal_nan=True)


class TestAnswerDicts:
    """The answer's dicts are built field by field (cheaper than ``dataclasses.asdict``): same keys, order, values."""

    def test_findings_and_qtc_limits_equal_asdict(self) -> None:
        from dataclasses import asdict

        from ecg.findings import Finding, qtc_limits

        f = Finding("long_qtc", "prolonged QTc", 480.04999, "ms", 470.0, "a source")
        want = asdict(f)
        want["value"] = round(float(f.value), 1)
        assert f.to_dict() == want and list(f.to_dict()) == list(want)
        for sex in ("M", "F", None):
            q = qtc_limits(sex)
            assert q.to_dict() == asdict(q) and list(q.to_dict()) == list(asdict(q))

    def test_beats_carry_every_boundary_and_are_immutable(self) -> None:
        from ecg.delineate import Beat
        from ecg.delineation.lead import WAVE_KEYS

        b = Beat(1, 2, 3, 4, 5, 6, None, 8)
        assert tuple(b._fields) == tuple(WAVE_KEYS) and b.t_peak is None and b.r_peak == 5
        assert b.to_dict() == dict(zip(WAVE_KEYS, (1, 2, 3, 4, 5, 6, None, 8)))
        with pytest.raises(AttributeError):
            b.r_peak = 7  # type: ignore[misc]

    def test_without_beats_the_rest_is_the_same(self, cinc2017_fixture: dict[str, tuple[Path, str]],
                                                ludb_dir: Path) -> None:
        """``beats=False`` (the cloud's call) leaves only the per-beat tuples out."""
        rec = read_record(cinc2017_fixture["A00001"][0])
        full, lean = (measure(rec.signals_mv[:, 0], rec.fs_hz, beats=b) for b in (True, False))
        assert len(full.beats) > 25 and lean.beats == ()
        assert lean.to_dict(beats=False) == full.to_dict(beats=False)
        rec = read_record(ludb_dir / "2.hea")
        full12, lean12 = (measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names, beats=b) for b in (True, False))
        assert len(full12.beats) > 5 and lean12.beats == () and all(m.beats == () for m in lean12.leads)
        assert lean12.to_dict(beats=False) == full12.to_dict(beats=False)
