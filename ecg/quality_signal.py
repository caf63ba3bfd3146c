"""The quality gate's signal-wide measures (:mod:`ecg.quality`) of the leads of one recording.

Per lead: the 1st–99th percentile range, the share of samples in clipped runs at the rails,
the share of flat or railed 1-s blocks, and the power above 40 Hz over the 0.5–40 Hz power.

The percentiles of a long lead are read from its tails, not from a partial sort of the whole
lead: every 16th sample, partially sorted, gives two thresholds that hold (checked, not
assumed) at least as many samples as the 1st/99th percentiles need below and above them; the
order statistics are then those of the few samples beyond the thresholds — the same values,
so the same percentiles (numpy's "linear" method, :func:`ecg.delineation.vec.row_percentiles`'s
arithmetic). When a check fails the whole lead is sorted as before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ecg.delineation.vec import _plan, any_reduce, max_reduce, min_reduce, row_percentiles
from ecg.spectrum import welch_density

__all__ = ["percentile_range", "signal_measures", "SignalMeasures"]

_RANGE_Q = (1.0, 99.0)
_LEAD_OFF_RANGE_MV = 0.02
_CLIP_MIN_RUN = 3
_SAMPLE_STEP = 16  # the thresholds come from every 16th sample
_MIN_SAMPLED = 2048  # shorter leads are partially sorted whole


class _Tails(NamedTuple):
    """The samples of one lead at or below ``low_edge`` and at or above ``high_edge``."""

    low: np.ndarray
    high: np.ndarray
    low_edge: float
    high_edge: float


class _TailPlan(NamedTuple):
    """Where the 1st/99th percentiles of ``n`` values read (:func:`ecg.delineation.vec._plan`):
    the ranks read from the low tail and from the high tail, and per percentile its two
    order statistics and interpolation weights."""

    k_low: int  # the highest rank read from the low tail
    k_high: int  # the lowest rank read from the high tail
    low_kth: tuple[int, ...]
    high_kth: np.ndarray  # ranks in the whole lead; in the high tail: minus its offset
    a: int  # the sample ranks of the two thresholds
    b: int
    reads: tuple[tuple[int, int, np.float64, np.float64, bool], ...]  # per q: i, j, t, 1 - t, upper


@lru_cache(maxsize=64)
def _tail_plan(n: int) -> _TailPlan | None:
    """The tail plan of a lead of ``n`` samples (None: too short, sort it whole)."""
    plan = _plan(n, _RANGE_Q)
    k_low, k_high = int(max(plan.i[0], plan.j[0])), int(min(plan.i[1], plan.j[1]))
    n_sample = -(-n // _SAMPLE_STEP)
    # threshold ranks in the sample: expected 1.5 x the samples needed beyond each, plus 3
    a = (3 * (k_low + 1)) // (2 * _SAMPLE_STEP) + 3
    b = n_sample - 1 - ((3 * (n - k_high)) // (2 * _SAMPLE_STEP) + 3)
    if n < _MIN_SAMPLED or not k_low < k_high or not 0 <= a < b < n_sample:
        return None
    low_kth = tuple(int(k) for k in plan.kth if k <= k_low)
    high_kth = np.array([k for k in plan.kth if k >= k_high], dtype=np.intp)
    high_kth.setflags(write=False)
    reads = tuple((int(plan.i[q]), int(plan.j[q]), plan.t[q], plan.t_rest[q], bool(plan.upper[q])) for q in range(2))
    return _TailPlan(k_low, k_high, low_kth, high_kth, a, b, reads)


def _tails(row: np.ndarray, tp: _TailPlan) -> _Tails | None:
    """The two tails of ``row`` beyond the sample's thresholds, when the low one holds more
    than ``k_low`` samples and the high one at least ``n - k_high`` (else None)."""
    edges = row[::_SAMPLE_STEP].copy()
    edges.partition((tp.a, tp.b))
    low_edge, high_edge = edges[tp.a], edges[tp.b]
    low, high = row[row <= low_edge], row[row >= high_edge]
    if low.size <= tp.k_low or high.size < row.size - tp.k_high:
        return None
    return _Tails(low, high, float(low_edge), float(high_edge))


def _tail_range(tails: _Tails, tp: _TailPlan, n: int) -> float:
    """The 99th minus the 1st percentile from the order statistics in the tails, with
    :func:`ecg.delineation.vec._interpolate`'s arithmetic (numpy's ``_lerp``) per percentile."""
    low, high = tails.low, tails.high  # their own copies: sorted in place
    low.partition(tp.low_kth)
    offset = n - high.size  # rank of high's smallest value in the whole lead
    high.partition(tp.high_kth - offset)
    pct = []
    for i, j, t, t_rest, upper in tp.reads:
        a = low[i] if i <= tp.k_low else high[i - offset]
        b = low[j] if j <= tp.k_low else high[j - offset]
        diff = b - a
        pct.append(b - diff * t_rest if upper else a + diff * t)
    return float(pct[1] - pct[0])


def percentile_range(row: np.ndarray) -> float:
    """The 99th minus the 1st percentile of one 1-D lead without NaN (``np.percentile``'s
    values: from its tails when it is long, else :func:`ecg.delineation.vec.row_percentiles`)."""
    tp = _tail_plan(row.size)
    tails = None if tp is None else _tails(row, tp)
    if tails is None or tp is None:
        pct = row_percentiles(np.ascontiguousarray(row)[None, :], list(_RANGE_Q))[0]
        return float(pct[1] - pct[0])
    return _tail_range(tails, tp, row.size)


class SignalMeasures(NamedTuple):
    """Per lead (row) of :func:`signal_measures`."""

    range_mv: list[float]  # 1st–99th percentile range
    varies: list[bool]  # not one value throughout
    clipped_fraction: list[float]
    lead_off_fraction: list[float]
    hf_noise_ratio: list[float | None]


def signal_measures(x: np.ndarray, fs: float) -> SignalMeasures:
    """The signal-wide measures of the rows of ``x`` (``(leads, n)``, C-contiguous, finite)."""
    fast = _from_tails(x)
    if fast is None:  # a short lead or a failed check: the whole leads, sorted
        pct = row_percentiles(x, list(_RANGE_Q))
        ranges = (pct[:, 1] - pct[:, 0]).tolist()
        hi, lo = max_reduce(x, axis=1), min_reduce(x, axis=1)
        span = hi - lo  # np.ptp
        runs = _rail_runs(x, span, hi, lo)
    else:
        ranges, hi, lo, span, rail_bound = fast
        runs = None if rail_bound < _CLIP_MIN_RUN else _rail_runs(x, span, hi, lo)
    n_clipped = np.zeros(x.shape[0], dtype=np.int64)  # per row, the samples in clipped runs
    if runs is not None:
        np.add.at(n_clipped, runs[0], runs[2] - runs[1])
    clipped_fractions = [float(count) / x.shape[1] for count in n_clipped.tolist()]  # clipped mask's mean
    hf = _hf_ratios(x, fs) if x.shape[1] >= 16 else [None] * x.shape[0]
    lead_off = _lead_off_fractions(x, fs, runs, n_clipped)
    return SignalMeasures(ranges, (span > 0).tolist(), clipped_fractions, lead_off, hf)


def _from_tails(x: np.ndarray) -> tuple[list[float], np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Per row from its tails: percentile range, max, min, max - min, and (over all rows) an
    upper bound on the samples within 1e-6 of the span from the rails (None: sort whole)."""
    n = x.shape[1]
    tp = _tail_plan(n)
    if tp is None:
        return None
    ranges: list[float] = []
    his, los = np.empty(x.shape[0]), np.empty(x.shape[0])
    rail_bound = 0
    for r, row in enumerate(x):
        tails = _tails(row, tp)
        if tails is None:
            return None
        ranges.append(_tail_range(tails, tp, n))
        hi, lo = max_reduce(tails.high), min_reduce(tails.low)  # the row's max and min are in its tails
        tol = 1e-6 * (hi - lo)
        if lo + tol > tails.low_edge or hi - tol < tails.high_edge:  # rail samples beyond the tails
            rail_bound += n
        else:
            rail_bound += int(np.count_nonzero(tails.low <= lo + tol)) + int(np.count_nonzero(tails.high >= hi - tol))
        his[r], los[r] = hi, lo
    return ranges, his, los, his - los, rail_bound


def _rail_runs(x: np.ndarray, span: np.ndarray, hi: np.ndarray,
               lo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The runs of at least :data:`_CLIP_MIN_RUN` samples within 1e-6 of their row's span
    from its min or max (none in a flat row) in ``(leads, n)``: ``(row, start, stop)`` per
    run (stop after its last sample); None when there is none (the usual case)."""
    tol = 1e-6 * span
    at_rail = (x >= (hi - tol)[:, None]) | (x <= (lo + tol)[:, None])
    idx = np.flatnonzero(at_rail)
    if not any_reduce(idx[2:] - idx[:-2] == 2):  # no three in a row (rows laid end to end): no run
        return None
    n = x.shape[1]
    run_start = np.ones(idx.size, dtype=bool)  # each run of rail samples within a row, from their indices
    run_start[1:] = (idx[1:] != idx[:-1] + 1) | (idx[1:] % n == 0)
    first = np.flatnonzero(run_start)
    row, starts = np.divmod(idx[first], n)
    stops = idx[np.append(first[1:], idx.size) - 1] + 1 - row * n  # after each run's last sample
    keep = ((stops - starts) >= _CLIP_MIN_RUN) & (span[row] != 0)
    if not keep.any():
        return None
    return row[keep], starts[keep], stops[keep]


def _clipped_masks(shape: tuple[int, int], runs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The samples inside :func:`_rail_runs`' runs, per row of a ``shape`` array."""
    row, starts, stops = runs
    edges = np.zeros((shape[0], shape[1] + 1), dtype=np.int64)  # +1 at a start, -1 after its end
    np.add.at(edges, (row, starts), 1)
    np.add.at(edges, (row, stops), -1)
    return np.cumsum(edges[:, :-1], axis=1) > 0


def _lead_off_fractions(x: np.ndarray, fs: float, runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                        n_clipped: np.ndarray) -> list[float]:
    """Per row, the share of 1-s blocks that are flat or stuck at the rails (> 90 % of the
    block in :func:`_rail_runs`' runs; ``n_clipped``: the samples in them per row)."""
    win = max(2, int(fs))
    n_win = x.shape[1] // win
    if n_win == 0:
        return [0.0] * x.shape[0]
    blocks = x[:, : n_win * win].reshape(x.shape[0], n_win, win)
    off = max_reduce(blocks, axis=2) - min_reduce(blocks, axis=2) < _LEAD_OFF_RANGE_MV  # flat (np.ptp)
    if runs is not None and int(max_reduce(n_clipped)) / win > 0.9:  # else no block can be railed
        clipped = _clipped_masks(x.shape, runs)
        off |= clipped[:, : n_win * win].reshape(x.shape[0], n_win, win).mean(axis=2) > 0.9  # railed
    return [float(count) / n_win for count in np.add.reduce(off, axis=1, dtype=np.intp).tolist()]


def _hf_ratios(x: np.ndarray, fs: float) -> list[float | None]:
    """Per row, the power above 40 Hz over the 0.5–40 Hz power (None at or below 90 Hz)."""
    if fs <= 90:
        return [None] * x.shape[0]
    nperseg = min(x.shape[-1], int(2 * fs))
    p = welch_density(x - np.add.reduce(x, axis=-1, keepdims=True) / x.shape[-1], fs, nperseg)  # minus x.mean
    in_band, above = _hf_bands(nperseg, fs)
    out: list[float | None] = []
    for row in p:
        band = np.add.reduce(row[in_band])
        high = np.add.reduce(row[above])
        out.append((float("inf") if high > 0 else 0.0) if band <= 0 else float(high / band))
    return out


@lru_cache(maxsize=16)
def _hf_bands(nperseg: int, fs: float) -> tuple[slice, slice]:
    """Where :func:`welch_density`'s frequencies are in 0.5–40 Hz and ≥ 40 Hz (each a run of
    bins: the frequencies rise), once per segment length and rate."""
    f = np.fft.rfftfreq(nperseg, 1.0 / fs)
    return _run((f >= 0.5) & (f < 40)), _run(f >= 40)


def _run(mask: np.ndarray) -> slice:
    """The slice of the one run of True in ``mask`` (an empty slice for none)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return slice(0, 0)
    if idx[-1] - idx[0] + 1 != idx.size:  # pragma: no cover - rising frequencies make one run
        raise ValueError("frequency band is not one run of bins")
    return slice(int(idx[0]), int(idx[-1]) + 1)
