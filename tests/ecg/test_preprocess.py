"""Tests of ecg.preprocess steps and pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from ecg.errors import SignalError
from ecg.preprocess import (
    BandPass,
    BaselineRemoval,
    Normalise,
    Notch,
    Pipeline,
    Resample,
    Step,
    check_signal,
    default_pipeline,
)

FS = 300.0


def _sine(freq_hz: float, duration_s: float = 10.0, fs_hz: float = FS, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(int(duration_s * fs_hz)) / fs_hz)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def _core(x: np.ndarray, fs: float = FS) -> np.ndarray:
    """Drop 1 s at each end (filter edges)."""
    n = int(fs)
    return x[n:-n]


class TestBandPass:
    def test_passes_band_and_removes_dc_wander_and_hf(self) -> None:
        bp = BandPass()
        y, fs = bp.apply(_sine(10.0) + 3.0, FS)
        assert fs == FS
        assert _rms(_core(y)) == pytest.approx(1 / np.sqrt(2), rel=0.03)
        wander, _ = bp.apply(_sine(0.05, duration_s=60.0), FS)
        assert _rms(_core(wander)) < 0.02
        hf, _ = bp.apply(_sine(100.0), FS)
        assert _rms(_core(hf)) < 0.02

    def test_zero_phase_keeps_peak_position(self) -> None:
        x = np.zeros(3000)
        x[1500] = 1.0
        x = np.convolve(x, np.hanning(21), "same")
        y, _ = BandPass().apply(x, FS)
        assert int(np.argmax(y)) == 1500

    def test_two_dimensional_filters_each_lead(self) -> None:
        x = np.column_stack([_sine(10.0), _sine(10.0) + 5])
        y, _ = BandPass().apply(x, FS)
        assert y.shape == x.shape
        np.testing.assert_allclose(_core(y[:, 0]), _core(y[:, 1]), atol=1e-6)

    def test_low_rate_lowers_high_edge(self) -> None:
        y, fs = BandPass().apply(_sine(5.0, fs_hz=50.0), 50.0)
        assert fs == 50.0 and np.all(np.isfinite(y))


class TestResample:
    def test_rate_length_and_frequency(self) -> None:
        y, fs = Resample(300.0).apply(_sine(5.0, fs_hz=360.0), 360.0)
        assert fs == 300.0
        assert y.shape == (3000,)
        spectrum = np.abs(np.fft.rfft(y))
        assert np.fft.rfftfreq(y.size, 1 / fs)[np.argmax(spectrum)] == pytest.approx(5.0, abs=0.1)

    def test_same_rate_is_identity(self) -> None:
        x = _sine(3.0)
        y, fs = Resample(FS).apply(x, FS)
        assert fs == FS
        np.testing.assert_array_equal(x, y)

    def test_bad_target(self) -> None:
        with pytest.raises(SignalError):
            Resample(0.0).apply(_sine(3.0), FS)


class TestBaselineRemoval:
    def test_removes_slow_drift_keeps_spikes(self) -> None:
        n = int(20 * FS)
        drift = np.linspace(-2, 2, n) + 0.5 * _sine(0.2, 20.0)
        spikes = np.zeros(n)
        spikes[::300] = 1.0
        spikes = np.convolve(spikes, np.hanning(13) / np.hanning(13).max(), "same")
        y, fs = BaselineRemoval().apply(drift + spikes, FS)
        assert fs == FS
        assert np.median(np.abs(_core(y) - _core(spikes))) < 0.02
        assert y[1500] == pytest.approx(1.0, abs=0.1)


class TestNotch:
    def test_removes_mains_keeps_ecg_band(self) -> None:
        y, _ = Notch(50.0).apply(_sine(50.0) + _sine(10.0), FS)
        assert _rms(_core(y) - _core(_sine(10.0))) < 0.03

    def test_above_nyquist_is_noop(self) -> None:
        x = _sine(10.0, fs_hz=90.0)
        y, _ = Notch(50.0).apply(x, 90.0)
        np.testing.assert_array_equal(x, y)


class TestNormalise:
    @pytest.mark.parametrize("method", ["zscore", "robust"])
    def test_scale_free(self, method: str) -> None:
        x = _sine(7.0) * 3 + 2
        y, _ = Normalise(method).apply(x, FS)
        z, _ = Normalise(method).apply(x * 10, FS)
        np.testing.assert_allclose(y, z, atol=1e-9)
        assert abs(float(np.median(y))) < 0.1

    def test_flat_is_centred_not_nan(self) -> None:
        y, _ = Normalise().apply(np.full(600, 4.0), FS)
        np.testing.assert_array_equal(y, np.zeros(600))

    def test_unknown_method(self) -> None:
        with pytest.raises(ValueError, match="unknown"):
            Normalise("minmax").apply(_sine(1.0), FS)


class TestPipelineAndChecks:
    def test_pipeline_chains_and_is_a_step(self) -> None:
        pipe = Pipeline([BandPass(), Resample(150.0), Normalise()])
        assert isinstance(pipe, Step)
        y, fs = pipe.apply(_sine(10.0) + 1, FS)
        assert fs == 150.0 and y.shape == (1500,)
        assert float(np.std(y)) == pytest.approx(1.0)

    def test_default_pipeline(self) -> None:
        y, fs = default_pipeline(250.0, notch_hz=60.0).apply(_sine(10.0) + _sine(60.0), FS)
        assert fs == 250.0
        assert _rms(_core(y, fs)) == pytest.approx(1 / np.sqrt(2), rel=0.05)

    @pytest.mark.parametrize(
        ("sig", "fs", "reason"),
        [
            (np.array([0.0, np.nan, 1.0] * 100), FS, "non_finite"),
            (np.array([0.0, np.inf] * 100), FS, "non_finite"),
            (np.zeros(300), 0.0, "bad_fs"),
            (np.zeros(300), -300.0, "bad_fs"),
            (np.zeros(300), 1e6, "bad_fs"),
            (np.zeros((2, 2, 2)), FS, "bad_shape"),
            (np.zeros(0), FS, "bad_shape"),
        ],
    )
    def test_bad_signals(self, sig: np.ndarray, fs: float, reason: str) -> None:
        with pytest.raises(SignalError) as info:
            Pipeline([BandPass()]).apply(sig, fs)
        assert info.value.reason == reason

    def test_too_short(self) -> None:
        with pytest.raises(SignalError) as info:
            check_signal(np.zeros(100), FS, min_duration_s=5.0)
        assert info.value.reason == "too_short"
        assert info.value.n_samples == 100
