"""The learned wave segmenter: runtime, per-beat boundaries, and the learned delineator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfdb

from ecg.context import LeadContext
from ecg.delineate import measure
from ecg.delineation import learned, segmenter
from ecg.delineation.filters import band_limit
from ecg.delineation.lead import delineate_context
from ecg.delineation.segmenter import (DEFAULT_SEGMENTER_PATH, WaveSegmenter, beat_boundaries, beat_boundaries_many,
                                      load_segmenter)
from ecg.delineation.segmenter_input import CLASSES, MODEL_FS_HZ, prepare, prepare_many
from ecg.io import read_record
from ecg.model import ModelError


def _alone(meta: dict[str, Any]) -> dict[str, Any]:
    """A sidecar without P/T members (the shipped one names its member file)."""
    return {k: v for k, v in meta.items() if k != "pt_members"}


def _probs(labels: list[tuple[int, int, int]], n: int) -> np.ndarray:
    p = np.zeros((n, 4))
    p[:, 0] = 1.0
    for cls, a, b in labels:
        p[a : b + 1] = 0.0
        p[a : b + 1, cls] = 1.0
    return p


class TestBoundaries:
    def test_each_beat_takes_its_own_waves_at_the_recording_rate(self) -> None:
        # at the model rate (125 Hz): P 100-120, QRS 140-160, T 200-240; second beat 300/340-360/400-440
        labels = [(1, 100, 120), (2, 140, 160), (3, 200, 240), (1, 300, 320), (2, 340, 360), (3, 400, 440)]
        b = beat_boundaries(_probs(labels, 600), np.array([600, 1400]), 4 * MODEL_FS_HZ, 2400)  # R peaks at 500 Hz
        # a boundary is the first / last labelled sample (the labels' convention), at the recording's rate
        assert b["qrs_on"].tolist() == [560, 1360] and b["qrs_off"].tolist() == [640, 1440]
        assert b["p_on"].tolist() == [400, 1200] and b["t_off"].tolist() == [960, 1760]
        assert b["p_score"].tolist() == [1.0, 1.0]

    def test_boundary_interpolated_where_the_wave_meets_the_strongest_other_class(self) -> None:
        p = _probs([(2, 140, 160)], 600)
        p[139] = [0.7, 0.0, 0.3, 0.0]  # QRS margin -0.4 just before, +1 at 140: crossing 0.4/1.4 before 140
        b = beat_boundaries(p, np.array([600]), 4 * MODEL_FS_HZ, 2400)
        assert b["qrs_on"][0] == round(4 * (140 - 1.0 / 1.4 + 0.5))

    def test_no_wave_across_a_neighbouring_beat(self) -> None:
        labels = [(2, 140, 160), (2, 340, 360), (3, 400, 440)]  # the first beat has no T of its own
        b = beat_boundaries(_probs(labels, 600), np.array([600, 1400]), 500.0, 2400)
        assert b["t_off"][0] == -1 and b["t_off"][1] > 0
        assert (b["p_on"] == -1).all() and (b["p_score"] == 0).all()

    def test_a_beat_without_qrs_segment_gets_nothing(self) -> None:
        b = beat_boundaries(_probs([(2, 140, 160)], 600), np.array([600, 2000]), 500.0, 2400)
        assert b["qrs_on"][1] == -1 and b["t_off"][1] == -1

    def test_two_beats_never_share_one_qrs(self) -> None:
        b = beat_boundaries(_probs([(2, 140, 160)], 600), np.array([590, 610]), 500.0, 2400)
        assert b["qrs_on"][0] > 0 and b["qrs_on"][1] == -1


    def test_p_and_t_waves_from_probs_pt_the_qrs_from_probs(self) -> None:
        labels = [(1, 100, 120), (2, 140, 160), (3, 200, 240)]
        other = _probs([(1, 96, 118), (2, 137, 163), (3, 202, 250)], 600)  # every wave elsewhere
        other[96:119, 1], other[96:119, 0] = 0.8, 0.2
        r = np.array([600])
        mixed = beat_boundaries_many(_probs(labels, 600)[None], [r], 500.0, 2400, other[None])
        alone = beat_boundaries(_probs(labels, 600), r, 500.0, 2400)
        theirs = beat_boundaries(other, r, 500.0, 2400)
        for k in ("qrs_on", "qrs_off"):
            assert mixed[k][0] == alone[k][0] != theirs[k][0]
        for k in ("p_on", "p_off", "t_on", "t_off", "p_score", "t_score"):
            assert mixed[k][0] == theirs[k][0]
        assert mixed["p_on"][0] != alone["p_on"][0] and mixed["t_off"][0] != alone["t_off"][0]
        same = beat_boundaries_many(_probs(labels, 600)[None], [r], 500.0, 2400, _probs(labels, 600)[None])
        for k in alone:
            np.testing.assert_array_equal(same[k], alone[k])
        with pytest.raises(ValueError):
            beat_boundaries_many(_probs(labels, 600)[None], [r], 500.0, 2400, other[None, :500])


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
        for fs, n in ((250.0, 7500), (500.0, 7500), (360.0, 4000), (300.0, 9000)):
            p = seg.probabilities(x[:n], fs)
            assert p.shape == (prepare(x[:n], fs).size, 4)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=0.05)

    def test_leads_batched_in_one_invoke_equal_each_alone(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        seg = load_segmenter()
        clean = band_limit(rec.signals_mv[:, :3].T, rec.fs_hz)
        both = seg.probabilities_many(clean, rec.fs_hz)
        for j in range(3):
            np.testing.assert_array_equal(both[j], seg.probabilities_many(clean[j : j + 1], rec.fs_hz)[0])

    def test_long_leads_run_in_stitched_chunks(self, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        seg = load_segmenter()
        x = prepare_many(band_limit(rec.signals_mv[:, :1].T, rec.fs_hz), rec.fs_hz)
        whole = seg.run_prepared(x)
        monkeypatch.setattr(segmenter, "MAX_SAMPLES", 640)  # 1250 samples: three chunks
        chunked = seg.run_prepared(x)
        assert chunked.shape == whole.shape
        agree = np.mean(np.argmax(chunked[0], axis=1) == np.argmax(whole[0], axis=1))
        assert agree >= 0.98


class TestShiftAveraging:
    """Test-time averaging over the U-Net's pooling phases (sidecar ``"shifts"``)."""

    @staticmethod
    def _input(fixtures_dir: Path) -> np.ndarray:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        return prepare_many(band_limit(rec.signals_mv[:, :2].T, rec.fs_hz), rec.fs_hz)

    def test_the_eight_phase_average_moves_with_its_input(self, fixtures_dir: Path) -> None:
        x = self._input(fixtures_dir)
        later = np.concatenate([np.zeros((2, 3), dtype=np.float32), x], axis=1)  # 3 samples (24 ms) later
        inner = slice(256, x.shape[1] - 256)  # the receptive field reaches the zeros beyond the ends
        seg = WaveSegmenter(DEFAULT_SEGMENTER_PATH)  # not the cached one: its setting changes here
        plain = np.abs(seg.run_prepared(later)[:, 3:][:, inner] - seg.run_prepared(x)[:, inner]).max()
        seg.shifts = 8
        p, q = seg.run_prepared(x), seg.run_prepared(later)[:, 3:]
        assert plain > 0.01  # one run alone depends on the pooling phase...
        np.testing.assert_allclose(q[:, inner], p[:, inner], atol=1e-6)  # ...the average does not
        assert p.shape == (*x.shape, 4)
        np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=0.05)

    def test_it_is_the_mean_of_the_shifted_runs(self, fixtures_dir: Path) -> None:
        x = self._input(fixtures_dir)[:, :400]
        seg = WaveSegmenter(DEFAULT_SEGMENTER_PATH)
        runs = [seg.run_prepared(np.pad(x, ((0, 0), (j, 3 - j))))[:, j : j + 400] for j in range(4)]
        seg.shifts = 4
        np.testing.assert_allclose(seg.run_prepared(x), np.mean(runs, axis=0), atol=1e-6)

    def test_sidecar_setting_is_read_and_checked(self, tmp_path: Path) -> None:
        meta = _alone(json.loads(DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text()))
        (tmp_path / "m.tflite").write_bytes(DEFAULT_SEGMENTER_PATH.read_bytes())
        for shifts, ok in ((8, True), (0, False), (99, False)):
            (tmp_path / "m.json").write_text(json.dumps({**meta, "shifts": shifts}))
            if ok:
                assert WaveSegmenter(tmp_path / "m.tflite").shifts == shifts
            else:
                with pytest.raises(ModelError):
                    WaveSegmenter(tmp_path / "m.tflite")
        assert load_segmenter().shifts == int(meta.get("shifts", 1))

    def test_shipped_pt_members_load_and_fit_the_size_budget(self) -> None:
        meta = json.loads(DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text())
        seg = load_segmenter()
        assert [m.version for m in seg.pt_members] == [
            json.loads((DEFAULT_SEGMENTER_PATH.parent / f).with_suffix(".json").read_text())["version"]
            for f in meta.get("pt_members", [])]
        total = DEFAULT_SEGMENTER_PATH.stat().st_size + sum(
            (DEFAULT_SEGMENTER_PATH.parent / f).stat().st_size for f in meta.get("pt_members", []))
        assert total <= 300 * 1024


class TestPtMembers:
    """P and T waves from the mean with other segmenters (sidecar ``"pt_members"``)."""

    @staticmethod
    def _pair(tmp_path: Path, member_meta: dict[str, object]) -> WaveSegmenter:
        meta = _alone(json.loads(DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text()))
        tmp_path.mkdir(parents=True, exist_ok=True)
        for name in ("base", "member"):
            (tmp_path / f"{name}.tflite").write_bytes(DEFAULT_SEGMENTER_PATH.read_bytes())
        (tmp_path / "member.json").write_text(json.dumps({**meta, **member_meta}))
        (tmp_path / "base.json").write_text(json.dumps({**meta, "pt_members": ["member.tflite"]}))
        return WaveSegmenter(tmp_path / "base.tflite")

    @staticmethod
    def _single(tmp_path: Path) -> WaveSegmenter:
        tmp_path.mkdir(parents=True, exist_ok=True)
        (tmp_path / "one.tflite").write_bytes(DEFAULT_SEGMENTER_PATH.read_bytes())
        (tmp_path / "one.json").write_text(json.dumps(_alone(json.loads(
            DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text()))))
        return WaveSegmenter(tmp_path / "one.tflite")

    def test_the_p_t_probabilities_are_the_members_mean(self, fixtures_dir: Path, tmp_path: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        clean = band_limit(rec.signals_mv[:, :2].T, rec.fs_hz)
        seg = self._pair(tmp_path, {"shifts": 4})  # a member that answers differently
        base, pt = seg.wave_probabilities_many(clean, rec.fs_hz)
        single = self._single(tmp_path / "single")
        alone = single.probabilities_many(clean, rec.fs_hz)
        other = seg.pt_members[0].probabilities_many(clean, rec.fs_hz)
        np.testing.assert_array_equal(base, alone)
        assert np.abs(other - alone).max() > 0.01
        np.testing.assert_allclose(pt, (alone + other) / 2, atol=1e-6)
        plain = single.wave_probabilities_many(clean, rec.fs_hz)
        assert plain[0] is plain[1]  # no members: one array for both

    def test_learned_delineator_keeps_its_qrs_and_moves_p_t(self, fixtures_dir: Path, tmp_path: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        x = rec.lead(rec.lead_index("ii"))
        shipped = learned.delineate_learned(LeadContext.of(x, rec.fs_hz), self._single(tmp_path / "one")).waves
        twin = learned.delineate_learned(LeadContext.of(x, rec.fs_hz), self._pair(tmp_path / "a", {})).waves
        for k in shipped:  # a member equal to the model: the mean is the model's own answer
            np.testing.assert_array_equal(twin[k], shipped[k])
        moved = learned.delineate_learned(LeadContext.of(x, rec.fs_hz), self._pair(tmp_path / "b", {"shifts": 8})).waves
        for k in ("qrs_on", "qrs_off", "r_peak"):
            np.testing.assert_array_equal(moved[k], shipped[k])
        assert any(not np.array_equal(moved[k], shipped[k]) for k in ("p_on", "p_off", "t_off"))

    def test_sidecar_members_checked(self, tmp_path: Path) -> None:
        meta = _alone(json.loads(DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text()))
        (tmp_path / "base.tflite").write_bytes(DEFAULT_SEGMENTER_PATH.read_bytes())
        for members in ("member.tflite", [3], ["absent.tflite"]):
            (tmp_path / "base.json").write_text(json.dumps({**meta, "pt_members": members}))
            with pytest.raises(ModelError):
                WaveSegmenter(tmp_path / "base.tflite")
        with pytest.raises(ModelError):  # a member with members of its own
            self._pair(tmp_path / "deep", {"pt_members": ["base.tflite"]})


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

    def test_no_rule_p_or_t_search_runs(self, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from ecg.delineation import batch

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("the rule delineator's boundary search ran")

        for name in ("_t_all", "_p_all"):  # the rule T and P searches; only its QRS search runs
            monkeypatch.setattr(batch, name, forbidden)
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        got = learned.delineate_learned(LeadContext.of(rec.lead(rec.lead_index("ii")), rec.fs_hz))
        assert not got.reasons and (got.waves["qrs_on"] >= 0).all()

    def test_rule_only_slopes_are_never_computed(self, fixtures_dir: Path) -> None:
        # slope_wave / slope_t serve only the rule P/T searches: the learned path must not pay for them
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        ctx = LeadContext.of(rec.lead(rec.lead_index("ii")), rec.fs_hz)
        learned.delineate_learned(ctx)
        assert ctx.views.stack is not None and "_lazy_cache" not in ctx.views.stack.__dict__
        delineate_context(ctx)  # the rule delineator computes them when it needs them
        assert set(ctx.views.stack.__dict__["_lazy_cache"]) == {"slope_wave", "slope_t"}

    def test_refinements_move_only_p_onsets_and_t_ends(self, fixtures_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        x = rec.lead(rec.lead_index("ii"))
        monkeypatch.setattr(learned, "P_ON_REFINE", "mean_threshold")
        monkeypatch.setattr(learned, "T_OFF_REFINE", "mean_threshold")
        shipped = learned.delineate_learned(LeadContext.of(x, rec.fs_hz)).waves  # both refined
        monkeypatch.setattr(learned, "P_ON_REFINE", "net")
        monkeypatch.setattr(learned, "T_OFF_REFINE", "net")
        raw = learned.delineate_learned(LeadContext.of(x, rec.fs_hz)).waves
        for k in raw:
            if k not in ("p_on", "t_off"):
                np.testing.assert_array_equal(shipped[k], raw[k])
        for k in ("p_on", "t_off"):
            moved = shipped[k] != raw[k]
            assert moved.any() and ((shipped[k] >= 0) == (raw[k] >= 0)).all()
            assert np.abs(shipped[k] - raw[k])[moved].max() <= 0.04 * rec.fs_hz  # half of the 80-ms limit

    def test_unsure_p_waves_are_dropped(self, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        x = rec.lead(rec.lead_index("ii"))
        assert (learned.delineate_learned(LeadContext.of(x, rec.fs_hz)).waves["p_on"] >= 0).sum() >= 8
        monkeypatch.setattr(learned, "P_MIN_SCORE", 1.01)  # no P wave is ever that sure
        got = learned.delineate_learned(LeadContext.of(x, rec.fs_hz))
        assert (got.waves["p_on"] == -1).all() and "p" in got.reasons

    def test_all_leads_at_once_equal_each_alone(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        ctxs = [LeadContext.of(rec.signals_mv[:, j], rec.fs_hz) for j in range(rec.signals_mv.shape[1])]
        together = learned.delineate_learned_many(ctxs)
        for j, lw in enumerate(together):
            alone = learned.delineate_learned(LeadContext.of(rec.signals_mv[:, j], rec.fs_hz))
            assert lw.reasons == alone.reasons
            for k, v in alone.waves.items():
                np.testing.assert_array_equal(lw.waves[k], v)

    def test_noisy_cinc_record_gets_no_intervals(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, label = cinc2017_fixture["A00022"]  # labelled too noisy to classify
        assert label == "~"
        rec = read_record(path)
        x = rec.signals_mv[:, 0]
        m = measure(x, rec.fs_hz, delineator=learned.delineate_learned)
        for key in ("qrs_ms", "qt_ms", "qtc_ms"):
            assert getattr(m, key) is None and "unreliable" in m.reasons[key]
        assert m.pr_ms is None and "pr_ms" in m.reasons
        assert m.heart_rate_bpm == measure(x, rec.fs_hz, delineator=delineate_context).heart_rate_bpm  # R peaks alike

    def test_steady_lead_keeps_the_segmenter_qrs(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        x = rec.lead(rec.lead_index("i"))
        qrs = learned.delineate_learned(LeadContext.of(x, rec.fs_hz)).waves["qrs_on"]
        rule = delineate_context(LeadContext.of(x, rec.fs_hz)).waves["qrs_on"]
        assert (qrs >= 0).all() and not np.array_equal(qrs, rule)  # the unsteady-lead fallback did not fire

    def test_af_record_gets_no_p_from_either_source(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "38.hea")  # atrial fibrillation
        m = measure(rec.lead(rec.lead_index("i")), rec.fs_hz, delineator=learned.delineate_learned)
        assert m.pr_ms is None and "pr_ms" in m.reasons and all(b.p_on is None for b in m.beats)
