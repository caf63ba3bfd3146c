"""Tests of ecg.screening, ecg.model and ecg.rr_features with the shipped TFLite model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecg.errors import SignalError
from ecg.io import read_record
from ecg.model import (
    CLASSES,
    DEFAULT_MODEL_PATH,
    STRIDE_SAMPLES,
    WINDOW_SAMPLES,
    ModelError,
    RhythmModel,
    decide,
    load_model,
    prepare_signal,
    signal_windows,
)
from ecg.rr_features import FEATURE_NAMES, rr_features
from ecg.screening import CATEGORIES, HIGH_HR_BPM, INCONCLUSIVE_BELOW, LOW_HR_BPM, screen


def _synthetic_ecg(hr_bpm: float, duration_s: float = 30.0, fs_hz: float = 300.0, jitter: float = 0.0,
                   seed: int = 0) -> np.ndarray:
    """Gaussian-shaped P, QRS and T waves at the given rate (optionally irregular RR)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs_hz)) / fs_hz
    x = np.zeros_like(t)
    beat_t = 0.3
    while beat_t < duration_s:
        for offset_s, amp_mv, width_s in ((-0.16, 0.12, 0.025), (0.0, 1.2, 0.012), (0.25, 0.3, 0.05)):
            x += amp_mv * np.exp(-0.5 * ((t - beat_t - offset_s) / width_s) ** 2)
        beat_t += 60.0 / hr_bpm * (1.0 + jitter * rng.uniform(-1, 1))
    return x + rng.normal(0, 0.01, t.size)


class _FixedModel:
    """Test double with the RhythmModel interface returning fixed probabilities."""

    version = "fixed-test"

    def __init__(self, probs: list[float]) -> None:
        self.probs = np.asarray(probs, dtype=np.float64)

    def predict(self, sig_mv: np.ndarray, fs_hz: float, rr: np.ndarray) -> np.ndarray:
        return self.probs

    def decide(self, probs: np.ndarray) -> int:
        return int(np.argmax(probs))


class TestShippedModel:
    def test_files_and_size(self) -> None:
        assert DEFAULT_MODEL_PATH.is_file()
        assert DEFAULT_MODEL_PATH.stat().st_size <= 300 * 1024
        meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        assert meta["classes"] == list(CLASSES)
        assert meta["rr_features"] == list(FEATURE_NAMES)
        assert len(meta["rr_mean"]) == len(meta["rr_std"]) == len(FEATURE_NAMES)

    def test_full_int8(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(DEFAULT_MODEL_PATH))
        details = interp.get_input_details() + interp.get_output_details()
        assert {np.dtype(d["dtype"]) for d in details} == {np.dtype(np.int8)}
        shapes = sorted(tuple(d["shape"]) for d in interp.get_input_details())
        assert shapes == [(1, len(FEATURE_NAMES)), (1, WINDOW_SAMPLES, 1)]

    def test_loaded_once(self) -> None:
        assert load_model() is load_model(DEFAULT_MODEL_PATH)

    def test_missing_model_is_model_error(self, tmp_path: Path) -> None:
        with pytest.raises(ModelError):
            RhythmModel(tmp_path / "absent.tflite")

    def test_fixture_records(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        labels = {}
        for name, (path, truth) in cinc2017_fixture.items():
            rec = read_record(path)
            res = screen(rec.signals_mv[:, 0], rec.fs_hz)
            labels[name] = (truth, res.label)
            assert res.category in set(CATEGORIES.values()) | {"inconclusive"}
            assert sum(res.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
        correct = sum(t == p for t, p in labels.values())
        assert correct >= 4, labels
        assert labels["A00004"][1] == "A"

    def test_no_tensorflow_at_run_time(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path = cinc2017_fixture["A00001"][0]
        code = (
            "import sys; from ecg.io import read_record; from ecg.screening import screen; "
            f"r = read_record({str(path)!r}); screen(r.signals_mv[:, 0], r.fs_hz); "
            "print('tensorflow' in sys.modules)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False"


class TestInputPreparation:
    def test_prepare_resamples_and_standardises(self) -> None:
        x = prepare_signal(_synthetic_ecg(70, 20.0, 500.0), 500.0)
        assert x.shape == (3000,) and x.dtype == np.float32
        assert abs(float(np.std(x)) - 1.0) < 0.05

    def test_windows_cover_the_record(self) -> None:
        x = np.arange(4500, dtype=np.float32)
        w = signal_windows(x)
        assert w.shape == (2, WINDOW_SAMPLES)
        assert w[0, 0] == 0 and w[-1, -1] == 4499 and w[1, 0] == STRIDE_SAMPLES

    def test_short_record_zero_padded(self) -> None:
        w = signal_windows(np.ones(1000, dtype=np.float32))
        assert w.shape == (1, WINDOW_SAMPLES) and w[0, :1000].all() and not w[0, 1000:].any()

    def test_rr_features_regular_vs_irregular(self) -> None:
        fs = 300.0
        regular = np.arange(0, 9000, 240)
        rng = np.random.default_rng(1)
        irregular = np.cumsum(rng.uniform(150, 330, 40)).astype(int)
        f_reg = rr_features(regular, fs, duration_s=30.0)
        f_irr = rr_features(irregular, fs, duration_s=30.0)
        i = FEATURE_NAMES.index
        assert f_reg[i("rr_cv")] < 1e-6 and f_irr[i("rr_cv")] > 0.1
        assert f_irr[i("frac_drr_gt_50ms")] > 0.5 > f_reg[i("frac_drr_gt_50ms")]
        assert f_reg[i("rr_valid")] == 1.0

    def test_rr_features_too_few_beats(self) -> None:
        f = rr_features(np.array([10, 300]), 300.0, duration_s=30.0)
        assert f[FEATURE_NAMES.index("rr_valid")] == 0.0


class TestBadInput:
    @pytest.mark.parametrize("fs_hz", [0.0, -300.0, float("nan"), float("inf"), 50.0])
    def test_impossible_or_too_low_fs(self, fs_hz: float) -> None:
        with pytest.raises(SignalError) as info:
            screen(_synthetic_ecg(70), fs_hz)
        assert info.value.reason == "bad_fs"

    def test_nan_samples(self) -> None:
        x = _synthetic_ecg(70)
        x[100] = np.nan
        with pytest.raises(SignalError, match="NaN"):
            screen(x, 300.0)

    def test_infinite_samples(self) -> None:
        x = _synthetic_ecg(70)
        x[5] = np.inf
        with pytest.raises(SignalError):
            screen(x, 300.0)

    def test_too_short(self) -> None:
        with pytest.raises(SignalError) as info:
            screen(_synthetic_ecg(70, 4.0), 300.0)
        assert info.value.reason == "too_short"

    def test_several_leads(self) -> None:
        with pytest.raises(SignalError):
            screen(np.zeros((9000, 2)), 300.0)

    def test_flat_is_unreadable(self) -> None:
        res = screen(np.zeros(9000), 300.0)
        assert (res.label, res.category) == ("~", "unreadable")
        assert not res.quality.readable and res.flags == []

    def test_clipped_is_never_a_rhythm(self) -> None:
        x = np.clip(_synthetic_ecg(70) * 4.0, -0.3, 0.3)
        res = screen(x, 300.0)
        assert res.label == "~" or res.category == "inconclusive"


class TestDecisionRules:
    def test_af_first_then_weighted_argmax(self) -> None:
        p = np.array([[0.5, 0.3, 0.2, 0.0], [0.6, 0.1, 0.3, 0.0], [0.2, 0.1, 0.3, 0.4]])
        assert decide(p, np.ones(4)).tolist() == [0, 0, 3]
        assert decide(p, np.ones(4), 0.25).tolist() == [1, 0, 3]
        assert decide(p, np.array([1.0, 1.0, 2.5, 1.0]), 0.25).tolist() == [1, 2, 2]

    def test_low_heart_rate_flag(self) -> None:
        res = screen(_synthetic_ecg(40), 300.0, model=_FixedModel([0.9, 0.03, 0.05, 0.02]))  # type: ignore[arg-type]
        assert res.heart_rate_bpm is not None and res.heart_rate_bpm < LOW_HR_BPM
        assert res.category == "sinus_rhythm" and "low_heart_rate" in res.flags

    def test_high_heart_rate_flag_outside_af_only(self) -> None:
        x = _synthetic_ecg(130)
        sinus = screen(x, 300.0, model=_FixedModel([0.9, 0.03, 0.05, 0.02]))  # type: ignore[arg-type]
        af = screen(x, 300.0, model=_FixedModel([0.05, 0.9, 0.03, 0.02]))  # type: ignore[arg-type]
        assert sinus.heart_rate_bpm is not None and sinus.heart_rate_bpm > HIGH_HR_BPM
        assert "high_heart_rate" in sinus.flags
        assert af.category == "atrial_fibrillation" and "high_heart_rate" not in af.flags

    def test_inconclusive_when_unsure(self) -> None:
        p = INCONCLUSIVE_BELOW - 0.05
        res = screen(_synthetic_ecg(70), 300.0, model=_FixedModel([p, p - 0.05, 1 - 2 * p + 0.05, 0.0]))  # type: ignore[arg-type]
        assert res.label == "N" and res.category == "inconclusive" and "inconclusive" in res.flags

    def test_to_dict_contract(self) -> None:
        d = screen(_synthetic_ecg(70), 300.0).to_dict()
        assert set(d) == {"label", "category", "probabilities", "heart_rate_bpm", "quality", "flags", "model_version"}
        assert list(d["probabilities"]) == list(CLASSES)
        assert d["heart_rate_bpm"] == pytest.approx(70, abs=2)
        json.dumps(d, allow_nan=False)
