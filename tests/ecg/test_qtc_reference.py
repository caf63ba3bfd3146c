"""The LUDB QTc reference of benchmarks/findings_ludb.py: annotated QT/RR, header sex, scoring."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import wfdb

from ecg.io import read_record

REPO = Path(__file__).resolve().parents[2]
LUDB = REPO / "tests" / "fixtures" / "ludb"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("findings_ludb", REPO / "benchmarks" / "findings_ludb.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_annotated_qt_and_rr_of_a_sinus_record(bench: ModuleType) -> None:
    qt, rr = bench.annotated_qt_rr(LUDB / "2", 500.0)
    ann = wfdb.rdann(str(LUDB / "2"), "ii")
    peaks = np.asarray(ann.sample)[np.asarray(ann.symbol) == "N"]
    assert rr == pytest.approx(float(np.median(np.diff(peaks))) * 2.0)
    assert 300.0 < qt < 480.0
    widest, _ = bench.annotated_qt_rr(LUDB / "2", 500.0, onset_pct=0.0, end_pct=100.0)
    assert widest >= qt  # earliest onset to latest T end is never shorter
    assert bench.header_sex(wfdb.rdheader(str(LUDB / "2")).comments) in ("M", "F")
    assert bench.header_sex(["<age>: 40"]) is None


def test_measured_qtc_near_the_annotated_one(bench: ModuleType) -> None:
    from ecg.delineate import measure

    rec = read_record(LUDB / "2.hea")
    qt, rr = bench.annotated_qt_rr(LUDB / "2", rec.fs_hz)
    m = measure(rec.signals_mv[:, 1], rec.fs_hz, lead="ii")
    assert m.qtc_ms is not None and abs(m.qtc_ms - qt / (rr / 1000.0) ** (1 / 3)) < 40.0


def test_scores_judge_reference_and_measurement_with_the_record_sex(bench: ModuleType) -> None:
    rows = [  # a man at 455 ms is long, a woman is not; 380 ms is short for both
        {"sex": "M", "qtc_ref_ms": 455.0, "measurements": {"qtcMs": 452.0}, "found": []},
        {"sex": "F", "qtc_ref_ms": 455.0, "measurements": {"qtcMs": 458.0}, "found": []},
        {"sex": "F", "qtc_ref_ms": 380.0, "measurements": {"qtcMs": 400.0}, "found": []},
        {"sex": None, "qtc_ref_ms": None, "measurements": {"qtcMs": 400.0}, "found": []},
    ]
    out = bench.qtc_scores(rows)
    assert (out["long_qtc"]["tp"], out["long_qtc"]["tn"], out["long_qtc"]["fp"], out["long_qtc"]["fn"]) == (1, 2, 0, 0)
    assert (out["short_qtc"]["fn"], out["short_qtc"]["tn"]) == (1, 2)
    assert out["long_qtc_cloud_no_sex"]["fn"] == 1  # the cloud (not told the sex) reported nothing here
    diff = out["qtc_difference_ms"]
    assert diff["n"] == 3 and diff["left_out"] == 1 and diff["mean"] == pytest.approx((-3 + 3 + 20) / 3, abs=0.05)
