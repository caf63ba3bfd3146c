"""Bad input never gets a confident rhythm from the shipped model and decision values (issue 16).

Noise without an ECG, an ECG drowned in noise, lead-off, clipping, spikes and too-short
recordings must come back ``unreadable`` (or at worst ``inconclusive``) — never sinus
rhythm, AF or other rhythm — with the shipped ``rhythm.json`` decision section.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from ecg.io import read_record
from ecg.screening import screen

FS_HZ = 300.0
N_SAMPLES = int(30 * FS_HZ)
NOT_A_RHYTHM = {"unreadable", "inconclusive"}
_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cinc2017"


def _ecg() -> np.ndarray:
    rec = read_record(_FIXTURES / "A00001.hea")
    return rec.signals_mv[:N_SAMPLES, 0].astype(np.float64)


def _motion(rng: np.random.Generator, sd_mv: float) -> np.ndarray:
    b, a = sps.butter(2, [1.0, 10.0], btype="bandpass", fs=FS_HZ)
    x = sps.lfilter(b, a, rng.normal(0.0, 1.0, N_SAMPLES))
    return sd_mv * x / np.std(x)


def _case(name: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(N_SAMPLES) / FS_HZ
    if name == "white_noise":
        return rng.normal(0.0, rng.uniform(0.02, 1.0), N_SAMPLES)
    if name == "motion_only":
        return _motion(rng, rng.uniform(0.1, 2.0))
    if name == "mains":
        return 0.3 * np.sin(2 * np.pi * 50.0 * t) + rng.normal(0.0, 0.05, N_SAMPLES)
    if name == "spikes":
        return np.where(rng.random(N_SAMPLES) < 0.003, 3.0, 0.0) + rng.normal(0.0, 0.02, N_SAMPLES)
    ecg = _ecg()
    if name == "ecg_drowned_in_noise":
        return ecg + rng.normal(0.0, 2.0 * np.std(ecg), N_SAMPLES)
    if name == "half_lead_off":
        ecg[N_SAMPLES // 2:] = 0.0
        return ecg
    if name == "clipped":
        return np.clip(ecg, np.percentile(ecg, 10), np.percentile(ecg, 90))
    if name == "too_short":
        return ecg[: int(4 * FS_HZ)]
    raise AssertionError(name)


CASES = ["white_noise", "motion_only", "mains", "spikes", "ecg_drowned_in_noise", "half_lead_off", "clipped", "too_short"]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_never_a_rhythm(name: str, seed: int) -> None:
    res = screen(_case(name, seed), FS_HZ)
    assert res.category in NOT_A_RHYTHM, (name, res.category, res.probabilities, res.quality.reasons)
    if res.category == "unreadable":
        assert res.heart_rate_bpm is None


def test_the_clean_recording_itself_is_a_rhythm() -> None:
    """The control: the same fixture without damage gets a rhythm answer (so the cases above test the damage)."""
    assert screen(_ecg(), FS_HZ).category in {"sinus_rhythm", "other_rhythm", "atrial_fibrillation"}
