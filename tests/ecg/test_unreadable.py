"""Unreadable stretches inside a recording (ecg.unreadable) and what they keep out."""

from __future__ import annotations

import numpy as np
import pytest

from ecg.context import LeadContext
from ecg.unreadable import beats_in, unreadable_spans

from .synthetic_ecg import add_noise, beat_train
from .test_beats_stress import _noise_burst


@pytest.mark.parametrize("fs_hz", [250.0, 360.0])
def test_clean_and_wandering_ecg_has_no_unreadable_stretch(fs_hz: float) -> None:
    x, _ = beat_train("N" * 40, 0.8, fs_hz)
    for sig in (x, add_noise(x, fs_hz, wander_mv=0.8, emg_mv=0.02, mains_mv=0.05, seed=1)):
        ctx = LeadContext.of(sig, fs_hz)
        assert unreadable_spans(ctx.qrs_envelope, ctx.r_peaks, fs_hz).shape == (0, 2)


@pytest.mark.parametrize("fs_hz", [250.0, 360.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_noise_burst_is_marked_and_nothing_else(fs_hz: float, seed: int) -> None:
    """10 s of EMG with motion spikes: most of the burst is unreadable, the clean signal
    around it (beyond the ±1 s median) is not."""
    x, _, (start, stop) = _noise_burst(fs_hz, seed)
    ctx = LeadContext.of(x, fs_hz)
    spans = unreadable_spans(ctx.qrs_envelope, ctx.r_peaks, fs_hz)
    marked = np.zeros(x.size, dtype=bool)
    for a, b in spans:
        marked[a:b] = True
    assert marked[start:stop].mean() >= 0.8
    margin = int(1.5 * fs_hz)
    assert not marked[: start - margin].any() and not marked[stop + margin :].any()


@pytest.mark.parametrize("fs_hz", [100.0, 128.0, 300.0])
def test_the_background_is_the_detectors_own_edges_included(fs_hz: float) -> None:
    """One ±1 s noise background for the detector and the unreadable marks
    (``ecg.beat_signal.noise_background``, mirrored at the ends): 0.4 s of steep noise at the
    very start is no unreadable stretch (repeating the edge value, as the marks once did,
    made the first second unreadable)."""
    from ecg.beat_signal import background_step, noise_background

    env = np.full(int(20 * fs_hz), 0.01)
    peaks = np.arange(int(0.5 * fs_hz), env.size, int(fs_hz))
    env[peaks] = 1.0
    env[: int(0.4 * fs_hz)] = 0.5
    step = background_step(fs_hz)
    flagged = np.flatnonzero(noise_background(env, fs_hz) >= 0.25) * step
    spans = unreadable_spans(env, peaks, fs_hz)
    assert spans.shape == (0, 2) and flagged.size == 0
    env[: int(1.5 * fs_hz)] = 0.5  # 1.5 s of it is a stretch, on the same grid
    spans = unreadable_spans(env, peaks, fs_hz)
    flagged = np.flatnonzero(noise_background(env, fs_hz) >= 0.25) * step
    assert spans.tolist() == [[0, int(flagged[-1]) + step]]


@pytest.mark.parametrize("fs_hz", [90.0, 100.0, 250.0, 300.0, 1000.0])
def test_background_reaches_is_the_median_compared(fs_hz: float) -> None:
    from ecg.beat_signal import background_reaches, noise_background

    rng = np.random.default_rng(int(fs_hz))
    for trial in range(200):
        n = int(rng.integers(1, int(6 * fs_hz)))  # shorter and longer than one window
        env = rng.random(n) if trial % 2 else np.round(rng.random(n) * 4) / 4  # ties at the threshold
        threshold = float(rng.choice(env)) if trial % 3 else float(rng.random())
        assert np.array_equal(background_reaches(env, fs_hz, threshold), noise_background(env, fs_hz) >= threshold)


def test_nothing_is_judged_without_beats() -> None:
    env = np.ones(3000)
    assert unreadable_spans(env, np.array([100]), 300.0).shape == (0, 2)
    assert unreadable_spans(np.zeros(3000), np.array([100, 400, 700]), 300.0).shape == (0, 2)


def test_beats_in_spans() -> None:
    spans = np.array([[100, 200], [500, 520]])
    assert beats_in(np.array([0, 99, 100, 199, 200, 510, 520, 900]), spans).tolist() == [
        False, False, True, True, False, True, False, False]
    assert beats_in(np.array([5, 6]), np.zeros((0, 2), dtype=np.int64)).tolist() == [False, False]


def test_premature_beats_in_an_unreadable_stretch_are_not_judged() -> None:
    """The same PVCs are found, or not judged when an unreadable stretch covers them."""
    from ecg.ectopy import find_ectopy

    from .test_ectopy import FS_HZ, _sinus_with_early, _train

    kinds, rr = _sinus_with_early((6, 14, 22), coupling=0.5, pause=1.2)
    kinds = "".join("V" if i in (6, 14, 22) else k for i, k in enumerate(kinds))
    x, r = _train(kinds, rr)
    assert len(find_ectopy(x, FS_HZ, r).pvc) == 3
    around_14 = np.array([[r[13] + 10, r[15] - 10]])  # the 14th beat and its neighbours' edges
    found = find_ectopy(x, FS_HZ, r, unreadable=around_14)
    assert len(found.pvc) == 2 and not beats_in(np.array(found.pvc), around_14).any()
