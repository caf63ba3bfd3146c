"""One QTc per report, its formula named: new measurements, old stored ones, cloud values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from companion.recording import Recording
from companion.store_models import StoredRecording
from companion.web import present

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def stored(measurements: dict[str, Any] | None, cloud: dict[str, Any] | None = None) -> StoredRecording:
    rng = np.random.default_rng(3)
    rec = Recording(rng.integers(-200, 200, 9000).astype(np.int32), 300.0, 1000.0, 0, complete=True, verified=True,
                    started_at=NOW)
    local = {"label": "N", "category": "Normal", "heart_rate_bpm": 70.0, "quality": {"readable": True, "reasons": []}}
    return StoredRecording(1, "u-1", "complete", rec, NOW, NOW, local_result=local, measurements=measurements,
                           cloud_result=cloud)


@pytest.mark.parametrize(("measurements", "formula"), [
    ({"qtc_ms": 430.0, "qtc_formula": "Fridericia"}, "Fridericia"),
    ({"qtc_ms": 470.0}, "Bazett"),  # stored before the formula was named: qtc_ms was Bazett's then
    (None, "Fridericia"),  # a cloud value comes from the same ecg path
])
def test_the_qtc_row_names_its_formula(measurements: dict[str, Any] | None, formula: str) -> None:
    s = stored(measurements, cloud={"measurements": {"qtcMs": 440.0}})
    assert present.qtc_formula(s) == formula and present.qtc_label(s) == f"QTc ({formula})"


def test_report_header_carries_the_formula_and_drops_an_unknown_one() -> None:
    pytest.importorskip("matplotlib")
    header = present.report_header(stored({"qtc_ms": 430.0, "qtc_formula": "Fridericia"}))
    assert header.qtc_ms == 430.0 and header.qtc_formula == "Fridericia"
    header = present.report_header(stored({"qtc_ms": 430.0, "qtc_formula": "Hodges"}))
    assert header.qtc_ms is None  # never shown under another formula's name
