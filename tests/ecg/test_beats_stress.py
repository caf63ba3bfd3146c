"""Synthetic stress set for the R-peak detector: every beat kept, none invented.

Ectopy patterns (bigeminy, trigeminy, couplets, at two coupling intervals and three
ectopic amplitudes), paced rhythm with pacing spikes, bundle-branch block, baseline
wander with EMG and mains hum, fast rhythms, at two sampling rates. A beat counts as
found when a detection lies within 50 ms of its R wave.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecg.beats import detect_r_peaks, heart_rate_bpm

from .synthetic_ecg import add_noise, beat_train, pattern

TOLERANCE_S = 0.05


def _errors(r_true: np.ndarray, found: np.ndarray, fs_hz: float) -> tuple[int, int]:
    """Missed and extra beats (one-to-one within the tolerance)."""
    tol = TOLERANCE_S * fs_hz
    used = np.zeros(found.size, dtype=bool)
    missed = 0
    for r in r_true:
        d = np.abs(found - r).astype(float)
        d[used] = np.inf
        if d.size and d.min() <= tol:
            used[int(np.argmin(d))] = True
        else:
            missed += 1
    return missed, int(np.count_nonzero(~used))


@pytest.mark.parametrize("fs_hz", [250.0, 360.0])
@pytest.mark.parametrize("unit", ["NV", "NNV", "NNNVV"], ids=["bigeminy", "trigeminy", "couplets"])
@pytest.mark.parametrize("coupling_s", [0.36, 0.45])
@pytest.mark.parametrize("v_amp", [0.6, 1.0, 1.5])
def test_ectopy_patterns_keep_every_beat(fs_hz: float, unit: str, coupling_s: float, v_amp: float) -> None:
    kinds, rr = pattern(unit, 12, 0.85, coupling_s)
    x, r_true = beat_train(kinds, rr, fs_hz, v_amp=v_amp)
    assert _errors(r_true, detect_r_peaks(x, fs_hz), fs_hz) == (0, 0)


def test_bigeminy_heart_rate_not_halved() -> None:
    kinds, rr = pattern("NV", 20, 0.85, 0.42)
    x, r_true = beat_train(kinds, rr, 300.0, v_amp=0.7)
    hr = heart_rate_bpm(detect_r_peaks(x, 300.0), 300.0)
    assert hr == pytest.approx(heart_rate_bpm(r_true, 300.0), rel=0.02)


@pytest.mark.parametrize("fs_hz", [250.0, 360.0, 500.0])
@pytest.mark.parametrize("kind", ["P", "B"], ids=["paced", "bundle_branch_block"])
def test_paced_and_wide_beats(fs_hz: float, kind: str) -> None:
    x, r_true = beat_train(kind * 40, 0.8, fs_hz)
    assert _errors(r_true, detect_r_peaks(x, fs_hz), fs_hz) == (0, 0)


@pytest.mark.parametrize("fs_hz", [250.0, 360.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wander_emg_and_mains(fs_hz: float, seed: int) -> None:
    x, r_true = beat_train("N" * 40, 0.7, fs_hz)
    noisy = add_noise(x, fs_hz, wander_mv=0.8, emg_mv=0.08, mains_mv=0.05, seed=seed)
    assert _errors(r_true, detect_r_peaks(noisy, fs_hz), fs_hz) == (0, 0)


@pytest.mark.parametrize("rr_s", [0.33, 0.4, 1.5])
def test_fast_and_slow_regular_rhythms(rr_s: float) -> None:
    x, r_true = beat_train("N" * 40, rr_s, 300.0)
    assert _errors(r_true, detect_r_peaks(x, 300.0), 300.0) == (0, 0)


def test_inverted_ectopy_found_on_the_main_deflection() -> None:
    kinds, rr = pattern("NNV", 10, 0.8, 0.4)
    x, r_true = beat_train(kinds, rr, 360.0, v_amp=1.2)
    assert _errors(r_true, detect_r_peaks(-x, 360.0), 360.0) == (0, 0)



def test_two_artefacts_in_one_interval_do_not_shield_each_other() -> None:
    """Two weak waves between the same pair of beats: each is judged against the strong
    beats around it, not against the other weak wave (which would make it look strong)."""
    from ecg.beat_morphology import remove_split_beats

    beats = np.arange(0, 20 * 300, 300)  # one beat per second at 300 Hz
    score = np.ones(beats.size)
    extra = np.array([1130, 1190, 2130, 2190])  # two pairs of artefacts, 60 ms apart
    all_beats = np.sort(np.concatenate([beats, extra]))
    all_score = np.where(np.isin(all_beats, extra), 0.2, 1.0)
    kept, _, _ = remove_split_beats(all_beats, all_score, np.zeros(all_beats.size, dtype=bool))
    assert kept.tolist() == beats.tolist()
    qrs_like = np.isin(all_beats, extra)  # QRS-like waves are never removed for their timing
    kept, _, _ = remove_split_beats(all_beats, all_score, qrs_like)
    assert kept.tolist() == all_beats.tolist()


def test_shallow_wave_inside_the_refractory_period() -> None:
    from ecg.beat_morphology import shallow_neighbours

    beats = np.array([0, 57, 300, 390, 600])  # at 300 Hz: 190 ms and 300 ms after a beat
    slope = np.array([1.0, 0.4, 1.0, 0.4, 1.0])
    assert shallow_neighbours(beats, slope, 300.0, within_s=0.25).tolist() == [False, True, False, False, False]
    assert shallow_neighbours(beats, slope, 300.0).tolist() == [False, True, False, True, False]
