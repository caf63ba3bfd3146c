"""Paced beats (issue 11 bad input "paced records: fields null with a reason, never an invented
boundary"): on a lead judged paced, the beats a pacing spike precedes get null QRS (and P)
boundaries with the reason, with either delineator; R peaks, T ends and the heart rate stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg.delineate import measure, measure_leads
from ecg.delineation.learned import delineate_learned
from ecg.delineation.lead import delineate_context
from ecg.delineation.summary import PACED_BEAT_REASON, pacing_many, paced_global_beats
from ecg.io import read_record
from .synthetic_ecg import beat_train

LUDB = Path(__file__).resolve().parents[1] / "fixtures" / "ludb"
DELINEATORS = pytest.mark.parametrize("delineator", [delineate_context, delineate_learned], ids=["rules", "learned"])


@DELINEATORS
def test_paced_ludb_lead_gives_no_qrs_boundary(delineator: object) -> None:
    rec = read_record(LUDB / "34.hea")  # LUDB 34: unipolar ventricular pacing, III degree AV block
    m = measure(rec.signals_mv[:, 0], rec.fs_hz, delineator=delineator)  # type: ignore[arg-type]
    assert m.paced and len(m.beats) >= 8
    assert all(b.qrs_on is None and b.qrs_off is None and b.p_on is None for b in m.beats)
    # T ends stay (the paced rule never nulls them); the learned path with its P/T members keeps
    # 5 of LUDB 34's 10 lead-I T waves (d125 alone kept 6: the averaged T probabilities, not the rule)
    assert all(b.r_peak is not None for b in m.beats) and sum(b.t_off is not None for b in m.beats) >= 5
    for k in ("qrs_on", "qrs_off"):
        assert PACED_BEAT_REASON in m.reasons[k] and m.reasons[k].startswith(f"{len(m.beats)} of {len(m.beats)}")
    assert m.heart_rate_bpm is not None and m.qrs_ms is None and m.qt_ms is None
    d = m.to_dict()
    assert all(b["qrs_on"] is None for b in d["beats"]) and "qrs_on" in d["reasons"]


@DELINEATORS
def test_unpaced_ludb_lead_keeps_its_boundaries(delineator: object) -> None:
    rec = read_record(LUDB / "2.hea")
    m = measure(rec.signals_mv[:, 0], rec.fs_hz, delineator=delineator)  # type: ignore[arg-type]
    assert not m.paced and "qrs_on" not in m.reasons
    assert all(b.qrs_on is not None for b in m.beats)


def test_twelve_leads_global_beats_of_a_paced_record() -> None:
    rec = read_record(LUDB / "34.hea")
    names = [n.lower() for n in rec.lead_names]
    m = measure_leads(rec.signals_mv, rec.fs_hz, names)
    assert m.paced and all(b.qrs_on is None and b.qrs_off is None for b in m.beats)
    assert PACED_BEAT_REASON in m.reasons["qrs_on"] and m.axis_deg is None and "paced" in m.reasons["axis_deg"]
    assert not any(f.code in ("lbbb_pattern", "rbbb_pattern", "first_degree_av_block") for f in m.findings)


def test_only_the_spiked_beats_of_a_paced_lead() -> None:
    fs = 500.0
    kinds = "PPNPPNPP"  # 6 paced beats (a 2-ms spike 40 ms before a wide QRS), 2 conducted
    x, r = beat_train(kinds, 0.9, fs)
    m = measure(x, fs)
    assert m.paced and len(m.beats) == len(kinds)
    got = np.array([b.qrs_on is None for b in m.beats])
    np.testing.assert_array_equal(got, np.array([k == "P" for k in kinds]))
    assert m.reasons["qrs_on"].startswith("6 of 8 beats")


def test_spikes_before_a_minority_of_beats_null_nothing() -> None:
    fs = 500.0
    x, _ = beat_train("NNNPNNNN", 0.9, fs)  # one spike: the lead is not judged paced
    m = measure(x, fs)
    assert not m.paced and "qrs_on" not in m.reasons and all(b.qrs_on is not None for b in m.beats)
    (lead_paced, beats), = pacing_many(x[:, None], fs, [np.array([b.qrs_on for b in m.beats])])
    assert not lead_paced and beats is None  # a lead not paced has no paced beats
    x7, _ = beat_train("NPPPNPPP", 0.9, fs)  # the same spike, now on a paced lead
    m7 = measure(x7, fs)
    assert m7.paced and [b.qrs_on is None for b in m7.beats] == [k == "P" for k in "NPPPNPPP"]


def test_global_beat_matching() -> None:
    r_glob = np.array([100, 600, 1100])
    leads = [(np.array([98, 603, 1102]), np.array([False, True, False])),
             (np.array([140, 1180]), np.array([True, True]))]  # 1180: 80 samples = 160 ms away at 500 Hz
    np.testing.assert_array_equal(paced_global_beats(r_glob, leads, 500.0), [True, True, False])


def _spike_beats_reference(x: np.ndarray, fs: float, qrs_on: list[np.ndarray | None]
                           ) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """``spike_beats_many`` as an index matrix per beat window (the formulation before the
    ``reduceat`` pass): the second difference read at every window position."""
    from ecg.delineation.lead import MISSING
    from ecg.delineation.vec import ranges, row_percentile

    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(qrs_on)
    for j, on_all in enumerate(qrs_on):
        if on_all is None or fs < 250.0:
            continue
        keep = on_all != MISSING
        on = on_all[keep]
        if on.size < 2:
            continue
        d1 = np.diff(x[:, j])
        scale = float(row_percentile(np.abs(d1)[None, :], 99.0)[0])
        size = d1.size - 1
        lo = np.maximum(on - int(0.30 * fs), 0)
        hi = np.minimum(on + int(0.05 * fs), size)
        idx, valid = ranges(lo, hi - lo, size)
        dd = np.where(valid, np.abs(d1[idx + 1] - d1[idx]), -np.inf)
        col = dd.argmax(axis=1) if dd.shape[1] else np.zeros(on.size, dtype=np.int64)
        top = dd[np.arange(on.size), col] if dd.shape[1] else np.full(on.size, -np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            spike = np.where(valid.any(axis=1), top / scale, 0.0) > 3.0
        beats = np.zeros(keep.size, dtype=bool)
        beats[keep] = spike
        samples = np.full(keep.size, MISSING, dtype=np.int64)
        samples[keep] = np.where(spike, lo + col + 1, MISSING)
        if scale > 0:
            out[j] = (beats, samples)
    return out


def test_spike_beats_match_the_window_matrix_formulation() -> None:
    """Every beat's spike flag and spike sample equal the per-window index-matrix search, on
    paced and unpaced LUDB leads (all 12, onsets near both ends, a missing onset) and on a
    synthetic train with spikes before some beats and single-sample spikes at the windows' ends;
    fails when a window's end or the spike sample moves by one."""
    from ecg.delineation.lead import MISSING
    from ecg.delineation.summary import spike_beats_many

    cases = []
    for name in ("34", "2", "38"):
        rec = read_record(LUDB / f"{name}.hea")
        m = measure_leads(rec.signals_mv, rec.fs_hz, [n.lower() for n in rec.lead_names])
        ons = [np.array([MISSING if b.qrs_on is None else b.qrs_on for b in lead.beats], dtype=np.int64)
               if lead.beats else None for lead in m.leads]
        ons = [np.array([b.r_peak - 20 for b in lead.beats], dtype=np.int64) if on is not None and
               (on == MISSING).all() else on for on, lead in zip(ons, m.leads)]  # paced leads: onsets near R
        ons[1] = None if ons[1] is None else np.concatenate(([3, MISSING], ons[1], [rec.signals_mv.shape[0] - 2]))
        cases.append((rec.signals_mv, rec.fs_hz, ons))
    x, r = beat_train("PPNPPNPP", 0.9, 500.0)
    cases.append((x[:, None], 500.0, [r - 10]))
    on = np.arange(400, 4600, 400)  # single-sample spikes just outside and just inside the windows' ends
    edge = np.sin(np.arange(5000) * 2 * np.pi / 700.0) * 0.5
    edge[on[::2] + int(0.05 * 500.0) + 1] += 0.01  # ≈ 2.2 x the scale, its largest |2nd difference| (4.5 x) one past
    edge[on[1::2] - int(0.30 * 500.0) + 1] += 1.0  # at the window's first position
    cases.append((edge[:, None], 500.0, [on]))
    small = np.sin(np.arange(5000) * 2 * np.pi / 700.0) * 0.5
    small[on - 50] += 0.01  # spikes ≈ 4.5 x the scale: just above the limit of 3
    cases.append((small[:, None], 500.0, [on]))
    spiked = 0
    for sig, fs, ons in cases:
        got, want = spike_beats_many(sig, fs, ons), _spike_beats_reference(sig, fs, ons)
        for g, w in zip(got, want, strict=True):
            assert (g is None) == (w is None)
            if g is not None and w is not None:
                np.testing.assert_array_equal(g[0], w[0])
                np.testing.assert_array_equal(g[1], w[1])
                spiked += int(g[0].sum())
    assert spiked >= 20  # the spike samples were compared, not only "no spike"


def test_spike_scale_is_skipped_only_when_no_spike_is_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    """On an unpaced lead the count alone proves that no beat is a spike (the percentile is not
    computed) and the answer is the reference's; with spikes the percentile is computed."""
    from ecg.delineation import summary

    rec = read_record(LUDB / "2.hea")
    x = rec.signals_mv[:, :1]
    on = [np.asarray([b.qrs_on for b in measure(x[:, 0], rec.fs_hz).beats], dtype=np.int64)]
    want = _spike_beats_reference(x, rec.fs_hz, on)
    calls: list[int] = []
    real = summary.row_percentile
    monkeypatch.setattr(summary, "row_percentile", lambda a, q: calls.append(1) or real(a, q))
    got = summary.spike_beats_many(x, rec.fs_hz, on)
    assert not calls and got[0] is not None and want[0] is not None
    np.testing.assert_array_equal(got[0][0], want[0][0])
    np.testing.assert_array_equal(got[0][1], want[0][1])
    paced, r = beat_train("PPNPPNPP", 0.9, 500.0)
    summary.spike_beats_many(paced[:, None], 500.0, [r - 10])
    assert calls
