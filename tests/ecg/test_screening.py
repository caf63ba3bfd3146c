"""Tests of ecg.screening, ecg.model and ecg.rr_features with the shipped TFLite model."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecg.classes import CATEGORIES as ALL_CATEGORIES
from ecg.errors import SignalError
from ecg.io import read_record
from ecg.model import (
    CLASSES,
    DEFAULT_MODEL_PATH,
    STRIDE_SAMPLES,
    WINDOW_SAMPLES,
    DecisionParams,
    ModelError,
    RhythmModel,
    decide,
    load_model,
    prepare_signal,
    signal_windows,
)
from ecg.rr_features import FEATURE_NAMES, rr_features
from ecg.screening import CATEGORIES, MODEL_NOISE, Verdict, apply_rule, screen
from ecg.screening import decide as decide_rule

_SHIPPED = load_model().decision
LOW_HR_BPM = _SHIPPED.low_heart_rate_bpm
HIGH_HR_BPM = _SHIPPED.high_heart_rate_bpm
#: fixed rule values for the mechanism tests (the shipped values are tuned and change with the model)
_PARAMS = dataclasses.replace(_SHIPPED, class_weights=(1.0, 1.0, 1.0, 1.0), af_call_min=0.38, af_band_min=0.38,
                              min_probability=(0.45, 0.0, 0.45, 0.0))
INCONCLUSIVE_BELOW = _PARAMS.min_probability[0]


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


def _reference_rule(p: np.ndarray, params: DecisionParams) -> tuple[str, str]:
    """Rule af-band-v1 as written in docs/screening.md, one step after the other."""
    best = CLASSES[int(np.argmax(p * np.asarray(params.class_weights)))]
    prob = dict(zip(CLASSES, p))
    if prob["A"] >= params.af_call_min:
        return "A", "atrial_fibrillation"
    if best == "~":
        return "~", "unreadable"
    if params.af_band_min <= prob["A"] or best == "A":
        return best, "inconclusive"
    if prob[best] < dict(zip(CLASSES, params.min_probability))[best]:
        return best, "inconclusive"
    return best, CATEGORIES[best]


class _FixedModel:
    """Test double with the RhythmModel interface returning fixed probabilities."""

    version = "fixed-test"
    needs_atrial = False  # no second stage

    def __init__(self, probs: list[float]) -> None:
        self.probs = np.asarray(probs, dtype=np.float64)
        self.decision = _PARAMS

    def predict(self, sig_mv: np.ndarray, fs_hz: float, rr: np.ndarray, quality: object = None) -> np.ndarray:
        return self.probs

    def predict_many(self, sigs_mv: list[np.ndarray], fs_hz: list[float], rr: list[np.ndarray],
                     qualities: object = None, atrial: object = None) -> list[np.ndarray]:
        return [self.probs for _ in sigs_mv]

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

    def test_windows_one_invoke_each_averaged_in_order(self) -> None:
        """predict_windows (one batched invoke) gives the bytes of the file run as stored, one
        window per invoke, averaged in order (tests/ecg/test_model_batch.py: many recordings)."""
        from ai_edge_litert.interpreter import Interpreter

        m = load_model()
        one = Interpreter(model_path=str(DEFAULT_MODEL_PATH), num_threads=1)  # batch 1, as stored
        one.allocate_tensors()
        ins = one.get_input_details()
        sig_in = next(d for d in ins if len(d["shape"]) == 3)
        rr_in = next(d for d in ins if len(d["shape"]) == 2)
        out = one.get_output_details()[0]
        rng = np.random.default_rng(10)
        rr = rng.normal(0.0, 1.0, len(FEATURE_NAMES))
        for n_win in (1, 2, 3):
            wins = rng.normal(0.0, 1.0, (n_win, WINDOW_SAMPLES)).astype(np.float32)
            total = np.zeros(len(CLASSES))
            for w in wins:
                one.set_tensor(rr_in["index"], m._q_rr.quantise(m.standardise_rr(rr).reshape(1, -1)))
                one.set_tensor(sig_in["index"], m._q_sig.quantise(w.reshape(1, -1, 1)))
                one.invoke()
                total += m._q_out.dequantise(one.get_tensor(out["index"]))[0]
            want = np.clip(total / n_win, 0.0, None)
            want = want / max(float(want.sum()), 1e-9)
            assert m.predict_windows(wins, rr).tobytes() == want.tobytes()

    def test_loaded_once(self) -> None:
        assert load_model() is load_model(DEFAULT_MODEL_PATH)

    def test_sidecar_without_decision_is_refused(self, tmp_path: Path) -> None:
        meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "m.tflite")
        for key, value in (("decision", None), ("band_hz", None), ("window_samples", 1500)):
            bad = dict(meta)
            if value is None:
                del bad[key]
            else:
                bad[key] = value
            (tmp_path / "m.json").write_text(json.dumps(bad))
            with pytest.raises(ModelError, match="m.json"):
                RhythmModel(tmp_path / "m.tflite")

    def test_preprocessing_comes_from_the_sidecar(self, tmp_path: Path) -> None:
        meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "m.tflite")
        (tmp_path / "m.json").write_text(json.dumps(meta | {"band_hz": [5.0, 15.0], "input_fs_hz": 90.0}))
        other = RhythmModel(tmp_path / "m.tflite")
        assert (other.band_hz, other.input_fs_hz) == ((5.0, 15.0), 90.0)
        x = _synthetic_ecg(70)
        w = other.windows(x, 300.0)
        assert w.shape == (1, WINDOW_SAMPLES) and np.count_nonzero(w[0]) == 2700  # 30 s at 90 Hz, zero-padded
        shipped = load_model().windows(x, 300.0)
        assert shipped.shape[0] == 2  # 30 s at 150 Hz: two windows

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
            if res.probabilities:
                assert sum(res.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
            else:  # the model does not run on an unreadable signal
                assert res.category == "unreadable" and res.heart_rate_bpm is None
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

    @settings(max_examples=40, deadline=None)
    @given(n=st.integers(500, 4000), fs=st.sampled_from([128.0, 150.0, 250.0, 300.0, 360.0, 500.0]),
           seed=st.integers(0, 10**6),
           decimals=st.sampled_from([2, 3, 12]))
    def test_prepare_is_the_numpy_formulation(self, n: int, fs: float, seed: int, decimals: int) -> None:
        """``prepare_signal``'s cheaper median, mean, std and clip give numpy's bits
        (rounded signals: many ties, as in ADC counts; spikes that reach the clip)."""
        from ecg.filters import zero_phase
        from ecg.preprocess import resample

        rng = np.random.default_rng(seed)
        sig = rng.standard_normal(n) * 3.0
        sig[rng.integers(0, n, 3)] += 400.0  # spikes beyond the clip
        sig = np.round(sig, decimals)
        ref = zero_phase(sig - np.median(sig), 3, (0.5, 40.0), "bandpass", fs)
        ref, _ = resample(ref, fs, 150.0)
        ref = ref - np.mean(ref)
        ref = np.clip(ref / max(float(np.std(ref)), 1e-6), -8.0, 8.0).astype(np.float32)
        assert np.array_equal(prepare_signal(sig, fs), ref)

    def test_std_is_numpys(self) -> None:
        """The standard deviation of ``prepare_signal`` is ``np.std``'s to the bit, also on a reversed view
        (fails with the squares summed exactly, math.fsum, instead of pairwise)."""
        from ecg.model_input import _std

        rng = np.random.default_rng(3)
        for n in (2, 7, 8, 9, 127, 129, 1500, 3000, 4500, 9001):
            x = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3) + rng.uniform(-5, 5)
            for view in (x, x[::-1]):
                assert _std(view) == float(np.std(view)), n

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

    def test_nan_samples_unreadable(self) -> None:
        x = _synthetic_ecg(70)
        x[100] = np.nan
        res = screen(x, 300.0)
        assert (res.label, res.category, res.heart_rate_bpm) == ("~", "unreadable", None)
        assert res.quality.reasons == ["non_finite"] and res.probabilities == {}

    def test_infinite_samples_unreadable(self) -> None:
        x = _synthetic_ecg(70)
        x[5] = np.inf
        res = screen(x, 300.0)
        assert res.category == "unreadable" and res.quality.reasons == ["non_finite"]

    @pytest.mark.parametrize("duration_s", [0.0, 0.5, 4.0])
    def test_too_short_unreadable(self, duration_s: float) -> None:
        res = screen(_synthetic_ecg(70, duration_s), 300.0)
        assert (res.category, res.heart_rate_bpm, res.probabilities) == ("unreadable", None, {})
        assert "too_short" in res.quality.reasons

    def test_several_leads(self) -> None:
        with pytest.raises(SignalError):
            screen(np.zeros((9000, 2)), 300.0)

    def test_flat_is_unreadable(self) -> None:
        res = screen(np.zeros(9000), 300.0)
        assert (res.label, res.category) == ("~", "unreadable")
        assert not res.quality.readable and res.flags == []

    def test_clipped_is_unreadable(self) -> None:
        x = np.clip(_synthetic_ecg(70) * 4.0, -0.3, 0.3)
        res = screen(x, 300.0)
        assert (res.label, res.heart_rate_bpm) == ("~", None) and "clipped" in res.quality.reasons

    def test_lead_off_is_unreadable(self) -> None:
        x = _synthetic_ecg(70)
        x[3000:6000] = 0.0  # 10 s without contact
        res = screen(x, 300.0)
        assert (res.label, res.heart_rate_bpm) == ("~", None) and "lead_off" in res.quality.reasons

    @pytest.mark.parametrize("noise_mv", [0.0, 0.05])
    def test_square_wave_is_unreadable(self, noise_mv: float) -> None:
        t = np.arange(9000) / 300.0
        x = np.sign(np.sin(2 * np.pi * 1.2 * t)) + np.random.default_rng(3).normal(0, noise_mv, t.size)
        res = screen(x, 300.0)
        assert (res.label, res.category, res.heart_rate_bpm) == ("~", "unreadable", None)
        assert "implausible_morphology" in res.quality.reasons
        assert res.quality.heart_rate_bpm is None and res.rhythm()["probability"] is None

    def test_model_noise_is_unreadable_without_heart_rate(self) -> None:
        res = screen(_synthetic_ecg(70), 300.0, model=_FixedModel([0.1, 0.05, 0.05, 0.8]))  # type: ignore[arg-type]
        assert (res.label, res.category, res.heart_rate_bpm) == ("~", "unreadable", None)
        assert not res.quality.readable and res.quality.reasons == [MODEL_NOISE]
        assert res.rhythm() == {"code": "~", "category": "unreadable", "probability": 0.8,
                                "label": "Unreadable — try again"}


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

    def test_rule_takes_its_parameters_from_the_sidecar(self) -> None:
        probs = {"N": 0.5, "A": 0.3, "O": 0.2, "~": 0.0}
        assert decide_rule(probs, 70.0, _PARAMS) == Verdict("N", "sinus_rhythm", ())
        stricter = dataclasses.replace(_PARAMS, min_probability=(0.6, 0.0, 0.45, 0.0))
        assert decide_rule(probs, 70.0, stricter) == Verdict("N", "inconclusive", ("inconclusive",))
        band = dataclasses.replace(_PARAMS, af_band_min=0.25)
        assert decide_rule(probs, 70.0, band) == Verdict("N", "inconclusive", ("inconclusive",))
        called = dataclasses.replace(_PARAMS, af_call_min=0.25, af_band_min=0.25)
        assert decide_rule(probs, 130.0, called) == Verdict("A", "atrial_fibrillation", ())
        assert decide_rule(None, 70.0, _PARAMS) == Verdict("~", "unreadable", ())

    def test_best_guess_af_below_the_call_is_inconclusive(self) -> None:
        probs = {"N": 0.3, "A": 0.35, "O": 0.2, "~": 0.15}
        assert decide_rule(probs, 70.0, _PARAMS) == Verdict("A", "inconclusive", ("inconclusive",))

    def test_noise_best_guess_is_unreadable_even_in_the_af_band(self) -> None:
        probs = {"N": 0.1, "A": 0.3, "O": 0.1, "~": 0.5}
        band = dataclasses.replace(_PARAMS, af_band_min=0.2)
        assert decide_rule(probs, 70.0, band) == Verdict("~", "unreadable", ())

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4), st.floats(0.05, 0.95), st.floats(0.0, 1.0),
           st.floats(0.0, 1.0), st.floats(0.0, 1.0))
    def test_vectorised_rule_matches_the_spec(self, raw: list[float], call: float, band_frac: float,
                                              floor_n: float, floor_o: float) -> None:
        p = np.asarray(raw) + 1e-6
        p = p / p.sum()
        params = dataclasses.replace(_PARAMS, af_call_min=call, af_band_min=call * band_frac,
                                     min_probability=(floor_n, 0.0, floor_o, 0.0))
        got = decide_rule(dict(zip(CLASSES, p)), None, params)
        assert (got.code, got.category) == _reference_rule(p, params)
        codes, cats = apply_rule(np.stack([p, p]), params)
        assert [CLASSES[codes[0]], ALL_CATEGORIES[cats[1]]] == list(_reference_rule(p, params))

    def test_to_dict_contract(self) -> None:
        d = screen(_synthetic_ecg(70), 300.0).to_dict()
        assert set(d) == {"label", "category", "probabilities", "heart_rate_bpm", "quality", "flags", "model_version",
                          "rhythm"}
        assert d["rhythm"]["code"] == d["label"] and d["rhythm"]["category"] == d["category"]
        assert d["rhythm"]["probability"] == d["probabilities"][d["label"]]
        assert list(d["probabilities"]) == list(CLASSES)
        assert d["heart_rate_bpm"] == pytest.approx(70, abs=2)
        json.dumps(d, allow_nan=False)
