"""The learned wave segmenter: runtime, per-beat boundaries, and the learned delineator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg.context import LeadContext
from ecg.delineate import measure
from ecg.delineation import learned
from ecg.delineation.lead import delineate_context
from ecg.delineation.segmenter import DEFAULT_SEGMENTER_PATH, beat_boundaries, load_segmenter
from ecg.delineation.segmenter_input import CLASSES, MODEL_FS_HZ, prepare
from ecg.io import read_record
from ecg.model import ModelError


def _probs(labels: list[tuple[int, int, int]], n: int) -> np.ndarray:
    p = np.zeros((n, 4))
    p[:, 0] = 1.0
    for cls, a, b in labels:
        p[a : b + 1] = 0.0
        p[a : b + 1, cls] = 1.0
    return p


class TestBoundaries:
    def test_each_beat_takes_its_own_waves_at_the_recording_rate(self) -> None:
        # at 250 Hz: P 100-120, QRS 140-160, T 200-240; second beat 300/340-360/400-440
        labels = [(1, 100, 120), (2, 140, 160), (3, 200, 240), (1, 300, 320), (2, 340, 360), (3, 400, 440)]
        p = _probs(labels, 600)
        b = beat_boundaries(p, np.array([300, 700]), 500.0, 1200)  # R peaks at 500 Hz
        # onsets fall half a model sample before the first labelled sample, offsets after the last
        assert b["qrs_on"].tolist() == [279, 679] and b["qrs_off"].tolist() == [321, 721]
        assert b["p_on"].tolist() == [199, 599] and b["t_off"].tolist() == [481, 881]

    def test_no_wave_across_a_neighbouring_beat(self) -> None:
        labels = [(2, 140, 160), (2, 340, 360), (3, 400, 440)]  # the first beat has no T of its own
        b = beat_boundaries(_probs(labels, 600), np.array([300, 700]), 500.0, 1200)
        assert b["t_off"][0] == -1 and b["t_off"][1] > 0
        assert (b["p_on"] == -1).all()

    def test_a_beat_without_qrs_segment_gets_nothing(self) -> None:
        b = beat_boundaries(_probs([(2, 140, 160)], 600), np.array([300, 1000]), 500.0, 1200)
        assert b["qrs_on"][1] == -1 and b["t_off"][1] == -1


class TestRuntime:
    def test_missing_model_is_a_model_error(self, tmp_path: Path) -> None:
        with pytest.raises(ModelError):
            load_segmenter(tmp_path / "none.tflite")

    def test_shipped_model_and_sidecar(self) -> None:
        meta = json.loads(DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text())
        assert DEFAULT_SEGMENTER_PATH.stat().st_size <= 300 * 1024
        assert meta["fs_hz"] == MODEL_FS_HZ and meta["classes"] == list(CLASSES)
        seg = load_segmenter()
        x = np.sin(np.arange(7500) / 30.0)
        for fs, n in ((250.0, 7500), (500.0, 7500), (360.0, 4000)):
            p = seg.probabilities(x[:n], fs)
            assert p.shape == (prepare(x[:n], fs).size, 4)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=0.05)


class TestLearnedDelineator:
    def test_ludb_fixture_close_to_cardiologists(self, fixtures_dir: Path) -> None:
        path = fixtures_dir / "ludb" / "2"
        rec = read_record(path.with_suffix(".hea"))
        ann = wfdb.rdann(str(path), "i")
        sym, at = list(ann.symbol), np.asarray(ann.sample)
        ref_on = np.array([at[i - 1] for i in range(1, len(sym) - 1) if sym[i] == "N" and sym[i - 1] == "("])
        m = measure(rec.lead(rec.lead_index("i")), rec.fs_hz, delineator=learned.delineate_learned)
        on = np.array([b.qrs_on for b in m.beats if b.qrs_on is not None])
        err_ms = [np.min(np.abs(on - r)) * 2.0 for r in ref_on]
        assert np.median(err_ms) <= 12.0
        assert m.qrs_ms is not None and m.qt_ms is not None

    def test_without_model_the_rule_answer(self, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        x = rec.lead(rec.lead_index("i"))

        def broken(path: object = None) -> None:
            raise ModelError("gone", path="x")

        monkeypatch.setattr(learned, "load_segmenter", broken)
        got = learned.delineate_learned(LeadContext.of(x, rec.fs_hz))
        want = delineate_context(LeadContext.of(x, rec.fs_hz))
        for k, v in want.waves.items():
            np.testing.assert_array_equal(got.waves[k], v)

    def test_flat_lead_stays_null_with_a_reason(self) -> None:
        got = learned.delineate_learned(LeadContext.of(np.full(5000, 0.01), 500.0))
        assert "all" in got.reasons

    def test_mean_of_both_where_both_else_the_one_that_found_it(self) -> None:
        rule = np.array([100, -1, 300, 400])
        seg = np.array([110, 205, -1, 401])
        np.testing.assert_array_equal(learned._combine(rule, seg, "mean"), [105, 205, 300, 400])
        np.testing.assert_array_equal(learned._combine(rule, seg, "rule"), rule)
        np.testing.assert_array_equal(learned._combine(rule, seg, "learned"), seg)

    def test_af_record_gets_no_p_from_either_source(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "38.hea")  # atrial fibrillation
        m = measure(rec.lead(rec.lead_index("i")), rec.fs_hz, delineator=learned.delineate_learned)
        assert m.pr_ms is None and "pr_ms" in m.reasons and all(b.p_on is None for b in m.beats)
