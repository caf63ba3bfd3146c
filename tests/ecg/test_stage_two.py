"""Tests of the rhythm model's second stage (ecg.stage_two) and how screening runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecg.atrial import context_features
from ecg.classes import CLASS_CODES
from ecg.context import LeadContext
from ecg.io import read_record
from ecg.model import DEFAULT_MODEL_PATH, ModelError, RhythmModel, load_model
from ecg.quality import Quality
from ecg.rr_features import rr_features
from ecg.screening import MODEL_NOISE, screen
from ecg.stage_two import ATRIAL_FEATURES, FEATURES, StageTwo, StageTwoError, design, quality_numbers

K, C = len(FEATURES), len(CLASS_CODES)


def _stage(bias: list[float] | None = None, seed: int = 0) -> StageTwo:
    rng = np.random.default_rng(seed)
    return StageTwo("logistic-v1", rng.normal(0, 1, K), rng.uniform(0.5, 2, K), rng.normal(0, 0.3, (K, C)),
                    np.asarray(bias if bias is not None else np.zeros(C), dtype=np.float64))


def _atrial_stage(seed: int = 0) -> StageTwo:
    rng = np.random.default_rng(seed)
    k = K + len(ATRIAL_FEATURES)
    return StageTwo("logistic-v1", rng.normal(0, 1, k), rng.uniform(0.5, 2, k), rng.normal(0, 0.3, (k, C)),
                    np.zeros(C), atrial=True)


def _model_with(tmp_path: Path, section: dict[str, object] | None) -> RhythmModel:
    """A copy of the shipped model whose sidecar's ``stage_two`` is ``section`` (None: removed)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
    meta.pop("stage_two", None)
    if section is not None:
        meta["stage_two"] = section
    shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "m.tflite")
    (tmp_path / "m.json").write_text(json.dumps(meta))
    return RhythmModel(tmp_path / "m.tflite")


def _record(cinc2017_fixture: dict[str, tuple[Path, str]], name: str) -> tuple[np.ndarray, float]:
    rec = read_record(cinc2017_fixture[name][0])
    return rec.signals_mv[:, 0], rec.fs_hz


class TestSection:
    def test_round_trip(self) -> None:
        stage = _stage()
        again = StageTwo.from_dict(json.loads(json.dumps(stage.to_dict())))
        p = np.array([[0.7, 0.1, 0.15, 0.05]])
        rr, q = np.zeros((1, 14)), np.array([[0.9, 5.0, 0.02, 0.0, 0.0]])
        assert np.allclose(again.probabilities(p, rr, q), stage.probabilities(p, rr, q))

    @pytest.mark.parametrize("change", [
        {"kind": "mlp-v9"}, {"features": list(FEATURES[:-1])}, {"features": list(reversed(FEATURES))},
        {"bias": [0.0, 0.0, 0.0]}, {"weights": [[0.0] * C] * (K - 1)}, {"std": [1.0] * (K - 1) + [0.0]},
        {"mean": [float("nan")] + [0.0] * (K - 1)}, {"mean": "abc"}, {"weights": None},
    ])
    def test_bad_section_is_refused_at_load(self, tmp_path: Path, change: dict[str, object]) -> None:
        bad = _stage().to_dict() | change
        with pytest.raises(StageTwoError):
            StageTwo.from_dict(bad)
        with pytest.raises(ModelError, match="m.json"):
            _model_with(tmp_path, bad)

    def test_atrial_section_round_trip_and_needs_the_features(self) -> None:
        stage = _atrial_stage()
        d = json.loads(json.dumps(stage.to_dict()))
        assert d["features"] == list(FEATURES + ATRIAL_FEATURES)
        again = StageTwo.from_dict(d)
        assert again.atrial
        p, rr, q = np.array([[0.7, 0.1, 0.15, 0.05]]), np.zeros((1, 14)), np.array([[0.9, 5.0, 0.02, 0.0, 0.0]])
        a = np.array([[0.8, 0.5, -2.0, -4.0, 5.0, 0.5]])
        assert np.allclose(again.probabilities(p, rr, q, a), stage.probabilities(p, rr, q, a))
        with pytest.raises(StageTwoError, match="reads"):
            stage.probabilities(p, rr, q)
        with pytest.raises(StageTwoError, match="does not read"):
            _stage().probabilities(p, rr, q, a)

    def test_atrial_section_with_base_shapes_is_refused(self) -> None:
        bad = _stage().to_dict() | {"features": list(FEATURES + ATRIAL_FEATURES)}
        with pytest.raises(StageTwoError, match="shapes"):
            StageTwo.from_dict(bad)

    def test_missing_key_is_refused(self, tmp_path: Path) -> None:
        bad = _stage().to_dict()
        del bad["bias"]
        with pytest.raises(ModelError, match="stage_two"):
            _model_with(tmp_path, bad)

    def test_design_columns(self) -> None:
        q = Quality(readable=True, template_corr=0.8, qrs_prominence=None, hf_noise_ratio=0.0, clipped_fraction=0.5)
        row = design(np.array([0.0, 0.2, 0.3, 0.5]), np.arange(14.0), quality_numbers(q))[0]
        assert row.shape == (K,)
        assert row[0] == pytest.approx(np.log(0.005))  # probability floor
        assert row[4:18].tolist() == list(range(14))
        assert dict(zip(FEATURES, row))["template_corr"] == 0.8
        assert dict(zip(FEATURES, row))["clipped_fraction"] == 0.5
        assert np.all(np.isfinite(row))  # absent quality numbers and zero ratios stay finite


class TestScreeningRunsIt:
    def test_screen_answers_with_the_stage_probabilities(self, tmp_path: Path,
                                                         cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        stage = _stage(seed=3)
        model = _model_with(tmp_path, stage.to_dict())
        plain = _model_with(tmp_path / "plain", None)
        for name in ("A00001", "A00004"):
            sig, fs = _record(cinc2017_fixture, name)
            ctx = LeadContext.of(sig, fs)
            rr = rr_features(ctx.r_peaks, fs, duration_s=ctx.duration_s)
            cnn = plain.predict(sig, fs, rr)
            want = stage.probabilities(cnn[None, :], plain.standardise_rr(rr)[None, :],
                                       quality_numbers(ctx.quality)[None, :])[0]
            got = screen(sig, fs, model=model)
            assert [got.probabilities[c] for c in CLASS_CODES] == pytest.approx(want.tolist(), abs=1e-9)
            assert screen(sig, fs, model=model, context=ctx).probabilities == got.probabilities

    def test_predict_needs_the_quality(self, tmp_path: Path) -> None:
        model = _model_with(tmp_path, _stage().to_dict())
        with pytest.raises(ValueError, match="quality"):
            model.predict(np.sin(np.arange(9000) / 40.0), 300.0, np.zeros(14))

    def test_predict_needs_the_atrial_features_when_the_stage_reads_them(self, tmp_path: Path) -> None:
        model = _model_with(tmp_path, _atrial_stage().to_dict())
        assert model.needs_atrial
        q = Quality(readable=True, template_corr=0.95, qrs_prominence=6.0, hf_noise_ratio=0.01)
        x = np.sin(np.arange(9000) / 40.0)
        with pytest.raises(ValueError, match="atrial"):
            model.predict(x, 300.0, np.zeros(14), q)
        assert model.predict(x, 300.0, np.zeros(14), q, np.zeros(len(ATRIAL_FEATURES))).shape == (C,)

    def test_screen_hands_an_atrial_stage_the_context_features(self, tmp_path: Path,
                                                               cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        stage = _atrial_stage(seed=5)
        model = _model_with(tmp_path, stage.to_dict())
        plain = _model_with(tmp_path / "plain", None)
        sig, fs = _record(cinc2017_fixture, "A00004")
        ctx = LeadContext.of(sig, fs)
        rr = rr_features(ctx.r_peaks, fs, duration_s=ctx.duration_s)
        want = stage.probabilities(plain.predict(sig, fs, rr)[None, :], plain.standardise_rr(rr)[None, :],
                                   quality_numbers(ctx.quality)[None, :], context_features(ctx)[None, :])[0]
        got = screen(sig, fs, model=model, context=ctx)
        assert [got.probabilities[c] for c in CLASS_CODES] == pytest.approx(want.tolist(), abs=1e-9)

    def test_a_stage_that_answers_noise_makes_it_unreadable(self, tmp_path: Path,
                                                            cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        model = _model_with(tmp_path, _stage(bias=[0.0, 0.0, 0.0, 50.0]).to_dict())
        sig, fs = _record(cinc2017_fixture, "A00001")
        res = screen(sig, fs, model=model)
        assert (res.label, res.category, res.heart_rate_bpm) == ("~", "unreadable", None)
        assert res.quality.reasons == [MODEL_NOISE] and not res.quality.readable

    @pytest.mark.parametrize("kind", ["flat", "lead_off", "noise", "nan", "short"])
    def test_unreadable_stays_unreadable_even_if_the_stage_says_sinus(self, tmp_path: Path, kind: str) -> None:
        model = _model_with(tmp_path, _stage(bias=[50.0, 0.0, 0.0, 0.0]).to_dict())
        rng = np.random.default_rng(1)
        x = {"flat": np.zeros(9000), "lead_off": np.r_[np.sin(np.arange(4500) / 9.0), np.zeros(4500)],
             "noise": rng.normal(0, 1.0, 9000), "nan": np.full(9000, np.nan),
             "short": np.sin(np.arange(900) / 9.0)}[kind]
        res = screen(x, 300.0, model=model)
        assert (res.category, res.heart_rate_bpm, res.probabilities) == ("unreadable", None, {})


class TestShippedSidecar:
    def test_shipped_model_loads_its_stage(self) -> None:
        model = load_model()
        meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        assert (model.stage_two is not None) == ("stage_two" in meta)
        if model.stage_two is not None:
            assert meta["stage_two"]["features"] == list(FEATURES)
