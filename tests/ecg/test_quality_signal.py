"""ecg.quality_signal: the quality gate's signal-wide measures equal their plain numpy/scipy definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from ecg.quality_signal import percentile_range, signal_measures


def _signals() -> list[tuple[str, np.ndarray]]:
    """Leads that take every path: long and short, ties, rails, flat, a sample-aliased period."""
    rng = np.random.default_rng(11)
    t = np.arange(9000) / 300.0
    ecg_like = np.sin(2 * np.pi * 1.2 * t) ** 15 + 0.05 * rng.normal(size=t.size)
    return [
        ("ecg-like", ecg_like),
        ("quantised", np.round(ecg_like * 20) / 20),  # many equal values at the percentiles
        ("clipped", np.clip(ecg_like, -0.02, 0.6)),  # long runs at both rails
        ("short runs at the max", np.where(np.arange(t.size) % 700 < 3, ecg_like.max(), ecg_like)),
        ("flat", np.full(t.size, 0.3)),
        ("period 16", np.tile(np.arange(16.0), t.size // 16)),  # every 16th sample equal: tails check fails
        ("smallest values sampled", _sampled_smallest(t.size)),  # tails check fails: whole-lead path
        ("one spike", np.where(np.arange(t.size) == 4000, 5.0, 0.0)),
        ("short", ecg_like[:1500].copy()),
        ("noise", rng.normal(size=20000)),
    ]


def _sampled_smallest(n: int) -> np.ndarray:
    """A lead whose every 16th sample holds its smallest values (the sample misjudges the tails)."""
    x = 1000.0 + np.arange(n, dtype=np.float64)
    x[::16] = np.arange(x[::16].size)
    return x


def test_the_tails_check_can_fail() -> None:
    from ecg.quality_signal import _tail_plan, _tails

    x = _sampled_smallest(9000)
    plan = _tail_plan(x.size)
    assert plan is not None and _tails(x, plan) is None
    assert _tails(_signals()[0][1], plan) is not None


@pytest.mark.parametrize(("name", "x"), _signals())
def test_percentile_range_is_numpys(name: str, x: np.ndarray) -> None:
    lo, hi = np.percentile(x, [1, 99])
    assert percentile_range(x) == float(hi - lo), name


def _runs_at_rails(x: np.ndarray) -> np.ndarray:
    """Samples within 1e-6 of the span from the min or max in runs of >= 3 (a plain loop)."""
    span = x.max() - x.min()
    at = (x >= x.max() - 1e-6 * span) | (x <= x.min() + 1e-6 * span)
    out = np.zeros(x.size, dtype=bool)
    i = 0
    while i < x.size:
        j = i
        while j < x.size and at[j]:
            j += 1
        if j - i >= 3 and span != 0:
            out[i:j] = True
        i = max(j, i + 1)
    return out


@pytest.mark.parametrize("rows", [1, 3])
def test_signal_measures_are_the_plain_definitions(rows: int) -> None:
    fs = 300.0
    leads = [x for _, x in _signals() if x.size == 9000]
    for start in range(0, len(leads), rows):
        x = np.stack([leads[(start + r) % len(leads)] for r in range(rows)])
        got = signal_measures(np.ascontiguousarray(x), fs)
        for r, row in enumerate(x):
            lo, hi = np.percentile(row, [1, 99])
            assert got.range_mv[r] == float(hi - lo)
            assert got.varies[r] == bool(np.ptp(row) > 0)
            runs = _runs_at_rails(row)
            assert got.clipped_fraction[r] == float(runs.mean())
            blocks = row.reshape(30, 300)
            off = (np.ptp(blocks, axis=1) < 0.02) | (runs.reshape(30, 300).mean(axis=1) > 0.9)
            assert got.lead_off_fraction[r] == float(off.sum()) / 30
            f, p = sps.welch(row - row.mean(), fs, nperseg=600)
            band, high = p[(f >= 0.5) & (f < 40)].sum(), p[f >= 40].sum()
            expected = (float("inf") if high > 0 else 0.0) if band <= 0 else float(high / band)
            assert got.hf_noise_ratio[r] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_rail_runs_stop_at_the_end_of_a_row() -> None:
    """Two samples at the rail at the end of one lead and two at the start of the next are
    not one run of four (the leads are laid end to end inside)."""
    leads = dict(_signals())
    a, b = leads["ecg-like"].copy(), leads["noise"][:9000].copy()
    a[-2:] = a.max()
    b[:2] = b.min()
    got = signal_measures(np.stack([a, b]), 300.0)
    assert got.clipped_fraction == [0.0, 0.0]
    a[-3:] = a.max()  # now a run of three
    got = signal_measures(np.stack([a, b]), 300.0)
    assert got.clipped_fraction == [3 / 9000, 0.0]
