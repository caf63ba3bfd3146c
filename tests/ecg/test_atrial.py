"""ecg.atrial: P waves vs f waves vs a flat TQ, read from the context's view and R peaks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg.atrial import ABSENT, FEATURE_NAMES, MIN_BEATS, atrial_features, context_features
from ecg.context import LeadContext
from simulator.sources import waves

FS_HZ = 300.0
N = int(30 * FS_HZ)


def _record(kind: str, seed: int, *, hr_bpm: float = 80.0, regular: bool = False, f_mv: float = 0.06,
            fs_hz: float = FS_HZ) -> np.ndarray:
    """30 s of ``sinus`` (P waves), ``af`` (f waves at 4.8–7.2 Hz, irregular or ``regular`` RR) or
    ``flat`` (no P, no f: a junctional-like rhythm), all with the same QRST and 10 µV noise."""
    rng = np.random.default_rng(seed)
    n = int(30 * fs_hz)
    rr = waves.af_rr_s(30, hr_bpm, rng) if kind == "af" and not regular else waves.sinus_rr_s(30, hr_bpm, 0.03, rng)
    t = np.cumsum(rr) - 0.5 * rr[0]
    sig = waves.render_beats(t, rr, np.zeros(rr.size, dtype=bool), with_p=kind == "sinus", n_samples=n, fs_hz=fs_hz,
                             amplitude_scale=1.0)
    if kind == "af":
        sig = sig + waves.f_waves_mv(n, fs_hz, f_mv, rng)
    return sig + 0.01 * rng.standard_normal(n)


def _features(kind: str, seed: int, **kw: float | bool) -> dict[str, float]:
    fs = float(kw.get("fs_hz", FS_HZ))
    ctx = LeadContext.of(_record(kind, seed, **kw), fs)  # type: ignore[arg-type]
    return dict(zip(FEATURE_NAMES, context_features(ctx).tolist()))


class TestSeparation:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_sinus_has_a_locked_p_wave_and_no_f_waves(self, seed: int) -> None:
        f = _features("sinus", seed)
        assert f["p_corr"] > 0.9 and f["p_locked_share"] > 0.9
        assert math.exp(f["log_p_rel"]) == pytest.approx(0.12 / 1.2, rel=0.5)  # P 0.12 mV over a ~1.2 mV QRS
        assert f["log_f_rel"] < math.log(0.01)

    @pytest.mark.parametrize("regular", [False, True])
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_af_has_unlocked_f_waves_whatever_the_rr(self, seed: int, regular: bool) -> None:
        f = _features("af", seed, regular=regular)
        assert f["p_locked_share"] < 0.2 and f["p_corr"] < 0.6
        assert f["log_f_rel"] > math.log(0.03)  # f waves 0.06 mV (×1.4 envelope) over a ~1.2 mV QRS
        assert 3.0 <= f["f_dominant_hz"] <= 8.0

    @pytest.mark.parametrize("seed", [0, 1])
    def test_flat_tq_has_neither(self, seed: int) -> None:
        f = _features("flat", seed)
        assert f["p_locked_share"] < 0.2
        assert f["log_p_rel"] < math.log(0.01) and f["log_f_rel"] < math.log(0.01)

    def test_f_wave_size_is_measured(self) -> None:
        small, large = _features("af", 3, regular=True, f_mv=0.03), _features("af", 3, regular=True, f_mv=0.12)
        assert large["log_f_rel"] - small["log_f_rel"] == pytest.approx(math.log(4.0), abs=0.2)

    @pytest.mark.parametrize("fs_hz", [250.0, 500.0])
    def test_other_rates_read_alike(self, fs_hz: float) -> None:
        sinus, af = _features("sinus", 4, fs_hz=fs_hz), _features("af", 4, fs_hz=fs_hz)
        assert sinus["p_locked_share"] > 0.9 > 0.2 > af["p_locked_share"]
        assert af["log_f_rel"] - sinus["log_f_rel"] > 2.0


class TestEdges:
    def test_too_few_beats_give_absent(self) -> None:
        x = _record("sinus", 0)
        r = np.arange(300, 300 + 240 * (MIN_BEATS - 1), 240)
        assert np.array_equal(atrial_features(x, r, FS_HZ), ABSENT)
        assert atrial_features(x, np.array([], dtype=np.int64), FS_HZ).tolist() == ABSENT.tolist()

    def test_flat_signal_gives_absent(self) -> None:
        assert np.array_equal(atrial_features(np.zeros(N), np.arange(150, N, 240), FS_HZ), ABSENT)

    def test_a_sloping_baseline_is_not_atrial_activity(self) -> None:
        r = np.arange(150, N - 100, 240)
        spikes = np.zeros(N)
        spikes[r] = 1.0
        sloped = spikes + np.linspace(-2.0, 2.0, N)  # 0.4 mV/s drift: a line in every window
        f = dict(zip(FEATURE_NAMES, atrial_features(sloped, r, FS_HZ).tolist()))
        assert f["log_f_rel"] == pytest.approx(ABSENT[FEATURE_NAMES.index("log_f_rel")])
        assert f["log_p_rel"] == pytest.approx(ABSENT[FEATURE_NAMES.index("log_p_rel")])

    def test_beats_at_the_edges_are_left_out(self) -> None:
        ctx = LeadContext.of(_record("sinus", 5), FS_HZ)
        r = ctx.r_peaks
        inner = atrial_features(ctx.wide_mv, r, FS_HZ)
        with_edges = atrial_features(ctx.wide_mv, np.concatenate([[3], r, [N - 2]]), FS_HZ)
        assert np.array_equal(inner, with_edges)

    def test_reads_the_context_without_recomputing(self) -> None:
        ctx = LeadContext.of(_record("af", 6), FS_HZ)
        _ = ctx.r_peaks
        before = dict(ctx.computed)
        out = context_features(ctx)
        assert dict(ctx.computed) == before
        assert out.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(out))
