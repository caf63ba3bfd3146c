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
    assert all(b.r_peak is not None for b in m.beats) and sum(b.t_off is not None for b in m.beats) >= 6
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
