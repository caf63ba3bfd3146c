"""Rows at once: ``detect_r_peaks_many`` gives every row exactly what ``detect_r_peaks``
gives it alone, and the flat-array helpers of ``ecg.beat_rows`` equal their one-row forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecg.beat_morphology import running_median, satellite_suspects
from ecg.beat_rows import seg_median
from ecg.beats import band_envelope, detect_r_peaks, detect_r_peaks_many, detector_bands
from ecg.delineation.vec import median1d
from ecg.errors import SignalError
from .synthetic_ecg import add_noise, beat_train, pattern


def _one_by_one(rows: np.ndarray, fs: float) -> list[np.ndarray]:
    return [detect_r_peaks(r, fs) for r in rows]


def _assert_same(many: list[np.ndarray], alone: list[np.ndarray]) -> None:
    assert len(many) == len(alone)
    for got, want in zip(many, alone, strict=True):
        assert got.dtype == np.int64 and np.array_equal(got, want)


def _row(kind: str, beats: int, rr_s: float, fs: float, n: int, seed: int, emg_mv: float) -> np.ndarray:
    """One synthetic lead of ``n`` samples: a beat pattern (or flat, or noise only)."""
    if kind == "flat":
        return np.full(n, 0.3)
    if kind == "noise":
        return add_noise(np.zeros(n), fs, emg_mv=0.05, wander_mv=0.2, seed=seed)
    kinds, rr = pattern(kind, beats, rr_s, 0.62 * rr_s) if kind != "N" else ("N" * beats, [rr_s] * (beats - 1))
    x, _ = beat_train(kinds, rr, fs)
    x = add_noise(x, fs, emg_mv=emg_mv, wander_mv=0.1, seed=seed)
    out = np.zeros(n)
    out[: min(n, x.size)] = x[:n]
    return out


_ROW = st.tuples(st.sampled_from(["N", "NV", "NNV", "NA", "flat", "noise"]), st.integers(2, 14),
                 st.floats(0.45, 1.4), st.integers(0, 10_000), st.sampled_from([0.0, 0.01, 0.05]))


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=5), fs=st.sampled_from([125.0, 250.0, 360.0]),
       seconds=st.floats(4.0, 25.0))
def test_rows_at_once_equal_one_by_one(rows: list[tuple[str, int, float, int, float]], fs: float, seconds: float) -> None:
    """Different beat counts per row, flat rows and noise-only rows: each row's answer is
    the one it gets alone (with and without the views handed in)."""
    n = int(seconds * fs)
    x = np.stack([_row(kind.replace("A", "N"), beats, rr, fs, n, seed, emg) for kind, beats, rr, seed, emg in rows])
    alone = _one_by_one(x, fs)
    _assert_same(detect_r_peaks_many(x, fs), alone)
    wide = detector_bands(x, fs)
    _assert_same(detect_r_peaks_many(x, fs, wide_mv=wide, envelope=band_envelope(wide, fs)), alone)


def test_rows_of_one_recording_and_of_several() -> None:
    """The 12 leads of one recording (scaled, inverted, noisier copies) and 8 one-lead
    recordings of 30 s: every row as alone, and beats are found in each."""
    fs = 300.0
    kinds, rr = pattern("NNNV", 9, 0.8, 0.5)
    clean, _ = beat_train(kinds, rr, fs)
    leads = np.stack([add_noise(s * clean, fs, emg_mv=0.01 * (i % 4), wander_mv=0.1, seed=i)
                      for i, s in enumerate(np.linspace(-1.5, 1.5, 12))])
    many = detect_r_peaks_many(leads, fs)
    _assert_same(many, _one_by_one(leads, fs))
    assert all(p.size >= 30 for p in many)
    records = np.stack([_row("NV" if i % 2 else "N", 40, 0.6 + 0.05 * i, fs, int(30 * fs), i, 0.02) for i in range(8)])
    _assert_same(detect_r_peaks_many(records, fs), _one_by_one(records, fs))


def test_rows_reject_bad_input() -> None:
    """Not 2-D, NaN in a row, too short, or views of the wrong shape: a SignalError; no rows: no answers."""
    fs = 250.0
    with pytest.raises(SignalError):
        detect_r_peaks_many(np.zeros(1000), fs)
    x = np.zeros((3, 1000))
    x[1, 10] = np.nan
    with pytest.raises(SignalError):
        detect_r_peaks_many(x, fs)
    with pytest.raises(SignalError):
        detect_r_peaks_many(np.zeros((2, 100)), fs)
    with pytest.raises(SignalError):
        detect_r_peaks_many(np.ones((2, 1000)), fs, wide_mv=np.zeros((2, 999)))
    assert detect_r_peaks_many(np.zeros((0, 1000)), fs) == []


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=12), min_size=1, max_size=6))
def test_segment_median_is_each_rows_median(parts: list[list[float]]) -> None:
    values = np.array([v for p in parts for v in p], dtype=np.float64)
    row = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    got = seg_median(values, row, len(parts))
    for i, p in enumerate(parts):
        assert (np.isnan(got[i]) and not p) or got[i] == median1d(np.asarray(p))


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.lists(st.integers(50, 400), min_size=1, max_size=30), min_size=1, max_size=5))
def test_running_median_of_each_row(parts: list[list[int]]) -> None:
    values = np.array([v for p in parts for v in p], dtype=np.int64)
    row = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    want = np.concatenate([running_median(np.asarray(p, dtype=np.int64), 9) for p in parts])
    assert np.array_equal(running_median(values, 9, row), want)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), groups=st.integers(1, 4))
def test_satellite_suspects_of_each_group(seed: int, groups: int) -> None:
    """Beats with P-like satellites at a fixed lag, several groups laid end to end: each
    group's suspects are those it has alone."""
    rng = np.random.default_rng(seed)
    fs = 250.0
    parts, scores = [], []
    for _ in range(groups):
        beats = np.cumsum(rng.integers(150, 260, size=int(rng.integers(4, 20))))
        lag = int(rng.integers(30, 60))
        sat = beats[rng.random(beats.size) < rng.random()] + lag + rng.integers(-3, 4)
        b = np.unique(np.concatenate((beats, sat)))
        parts.append(b)
        scores.append(np.where(np.isin(b, beats), 1.0, 0.2) * rng.uniform(0.8, 1.2, b.size))
    offset = np.cumsum([0] + [int(p[-1]) + 1000 for p in parts[:-1]])
    flat = np.concatenate([p + o for p, o in zip(parts, offset, strict=True)])
    group = np.repeat(np.arange(groups), [p.size for p in parts])
    want = np.concatenate([satellite_suspects(p, s, fs) for p, s in zip(parts, scores, strict=True)])
    assert np.array_equal(satellite_suspects(flat, np.concatenate(scores), fs, group), want)


class TestRecords:
    """On the shared records when present: 8 CinC 2017 recordings of 30 s and LUDB's 12 leads."""

    def test_cinc_and_ludb_rows(self, shared_data_dir: Path) -> None:
        from ecg.io import read_record

        cinc = sorted((shared_data_dir / "cinc2017").glob("A*.hea"))
        ludb = sorted((shared_data_dir / "ludb" / "data").glob("*.hea"))
        if not cinc or not ludb:
            pytest.skip("cinc2017 / ludb not in shared data")
        thirty = [r for r in (read_record(f.with_suffix("")) for f in cinc[:60]) if r.n_samples == 9000][:8]
        rows = np.stack([r.signals_mv[:, 0] for r in thirty])
        _assert_same(detect_r_peaks_many(rows, 300.0), _one_by_one(rows, 300.0))
        for f in ludb[:3]:
            r = read_record(f.with_suffix(""))
            leads = np.ascontiguousarray(r.signals_mv.T)
            _assert_same(detect_r_peaks_many(leads, r.fs_hz), _one_by_one(leads, r.fs_hz))
