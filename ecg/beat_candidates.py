"""Steps 2–4 of the R-peak detector (:mod:`ecg.beats`): candidates and their conflicts.

Candidates are the QRS envelope's maxima at least 200 ms apart that stand above the local
level (20 % of the 3rd-largest height within ±5 s) and the noise background (1.5 × the
median envelope within ±1 s); each is scored (envelope height × peak-to-peak of the
0.5–40 Hz signal within ±60 ms). Conflicts: strongest first, a close (< 360 ms), much
weaker neighbour of an accepted beat is dropped unless it scores like a typical beat.
Every function takes one row, or several rows laid end to end (``row``, see
:mod:`ecg.beat_rows`), each row judged as if alone.
"""

from __future__ import annotations

import bisect

import numpy as np
from scipy import signal as _sps

from ecg.beat_rows import gather, per_beat, seg_arange, seg_median, within_rows
from ecg.beat_signal import noise_background

__all__ = ["candidates_rows", "resolve_rows", "resolve_conflicts_walk", "TYPICAL_FRACTION"]

_REFRACTORY_S = 0.20
_AMPLITUDE_HALF_S = 0.06
_LEVEL_HALF_WINDOW_S = 5.0
_LEVEL_RANK = 3
_MIN_RELATIVE_HEIGHT = 0.20
_MIN_PROMINENCE = 1.5
_CONFLICT_RATIO = 0.20
#: a candidate scoring at least this fraction of its row's median score is never vetoed
TYPICAL_FRACTION = 0.5


def candidates_rows(wide: np.ndarray, env: np.ndarray, fs: float
                     ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Steps 2–3: maxima of each row's QRS envelope ``env`` above the local level and
    background, with their row (None for one row), score, envelope height, background
    (median envelope within ±1 s) and ±60 ms waveform of ``wide`` (None below 17 Hz); None
    when there are none."""
    k, n = env.shape
    distance = max(1, int(_REFRACTORY_S * fs))
    if k == 1:
        cand, row = _sps.find_peaks(env[0], distance=distance)[0].astype(np.int64, copy=False), None
        if cand.size == 0:
            return None
        height = env[0][cand]
    else:
        peaks = [_sps.find_peaks(e, distance=distance)[0] for e in env]
        counts = np.array([p.size for p in peaks])
        if counts.sum() == 0:
            return None
        cand = np.concatenate(peaks).astype(np.int64, copy=False)
        row = np.repeat(np.arange(k), counts)
        height = env.ravel()[cand + row * n]
    background = noise_background(env[0], fs, cand) if row is None else noise_background(env, fs, cand, rows=row)
    keep = (height >= _MIN_RELATIVE_HEIGHT * _local_level(cand, row, height, fs, n, k)) & (
        height >= _MIN_PROMINENCE * background
    )
    cand, row, height = cand[keep], None if row is None else row[keep], height[keep]
    half = int(_AMPLITUDE_HALF_S * fs)
    seg = gather(wide, cand, np.arange(-half, half + 1), row)  # of the kept candidates only
    return cand, row, height * _ptp(seg, 1), height, background[keep], seg if half >= 1 else None


def _ptp(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.ptp`` without its per-call overhead (same values)."""
    return a.max(axis=axis) - a.min(axis=axis)


def _local_level(cand: np.ndarray, row: np.ndarray | None, height: np.ndarray, fs: float, n: int, k: int
                 ) -> np.ndarray:
    """Per candidate, the k-th largest height within ±5 s of its row (computed on a 1 s
    grid of each row; rows ``n`` samples long, laid ``stride`` apart so no window reaches
    another row)."""
    step = int(fs)
    half = int(_LEVEL_HALF_WINDOW_S * fs)
    if row is None:
        grid, key = np.arange(0, int(cand[-1]) + step, step), cand
        at = np.minimum((cand + step // 2) // step, grid.size - 1)  # each candidate's grid point
    else:
        stride = n + half + 2 * step + 1
        counts = np.bincount(row, minlength=k)
        present = np.flatnonzero(counts)
        grid_count = (cand[np.cumsum(counts)[present] - 1] + 2 * step - 1) // step  # = len(range(0, last + step, step))
        grid = np.repeat(present * stride, grid_count) + seg_arange(grid_count) * step
        key = cand + row * stride
        first, size = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
        first[present], size[present] = np.cumsum(grid_count) - grid_count, grid_count
        at = first[row] + np.minimum((cand + step // 2) // step, size[row] - 1)
    lo = key.searchsorted(grid - half)
    count = key.searchsorted(grid + half) - lo
    idx = lo[:, None] + np.arange(max(1, int(np.maximum.reduce(count))))[None, :]
    vals = np.where(idx < (lo + count)[:, None], height[np.minimum(idx, height.size - 1)], -np.inf)
    top = vals.shape[1]  # the k largest in place (ascending, padding below): a partial sort
    vals.partition(list(range(max(0, top - _LEVEL_RANK), top)), axis=1)
    rank = np.minimum(count, _LEVEL_RANK) - 1
    level = np.where(count > 0, vals[np.arange(grid.size), vals.shape[1] - 1 - np.maximum(rank, 0)], np.inf)
    return level[at]


def resolve_rows(cand: np.ndarray, row: np.ndarray | None, score: np.ndarray, near: int, k: int) -> np.ndarray:
    """Step 4 on each row (``row`` None: one row): mask of the candidates accepted
    (strongest first, a close, much weaker neighbour of an accepted beat is dropped unless
    it scores like a typical beat of its row)."""
    accepted = np.ones(cand.size, dtype=bool)
    if cand.size == 0:
        return accepted
    typical = TYPICAL_FRACTION * seg_median(score, row, k)
    crowded = within_rows(cand[2:] - cand[:-2] < near, row, lag=2)
    walk = np.zeros(0, dtype=np.int64)
    if crowded.any():
        walk = np.zeros(1, dtype=np.int64) if row is None else np.unique(row[2:][crowded])
    # Candidates are ≥ 200 ms apart and ``near`` < 2 × that, so only the two adjacent
    # candidates can conflict with a beat; a veto needs a neighbour ≥ 5 × stronger, which
    # the strongest-first walk has judged before: iterate "vetoed by an accepted
    # neighbour" to its (unique) fixed point, the walk's answer.
    close = within_rows((cand[1:] - cand[:-1]) < near, row)
    if walk.size:
        close &= False if row is None else ~np.isin(row[1:], walk)
    weak = score < per_beat(typical, row)
    by_left = np.zeros(cand.size, dtype=bool)
    by_left[1:] = close & weak[1:] & (score[1:] < _CONFLICT_RATIO * score[:-1])
    by_right = np.zeros(cand.size, dtype=bool)
    by_right[:-1] = close & weak[:-1] & (score[:-1] < _CONFLICT_RATIO * score[1:])
    while True:
        vetoed = np.zeros(cand.size, dtype=bool)
        vetoed[1:] |= by_left[1:] & accepted[:-1]
        vetoed[:-1] |= by_right[:-1] & accepted[1:]
        if not np.logical_or.reduce(vetoed == accepted):  # np.any
            break
        accepted = ~vetoed
    for r in walk:  # several neighbours may conflict (rates under ≈ 50 Hz): candidate by candidate
        sel = slice(None) if row is None else slice(*np.searchsorted(row, [r, r + 1]))
        kept, _ = resolve_conflicts_walk(cand[sel], score[sel], near, float(typical[r]))
        accepted[sel] = np.isin(cand[sel], kept)
    return accepted


def resolve_conflicts_walk(cand: np.ndarray, score: np.ndarray, near: int, typical: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resolve_rows` of one row candidate by candidate (when several may conflict)."""
    accepted: list[int] = []
    accepted_score: list[float] = []
    for i in np.argsort(-score, kind="stable"):
        pos = int(cand[i])
        j = bisect.bisect_left(accepted, pos)
        ok = True
        if score[i] < typical:
            for k in (j - 1, j):
                if 0 <= k < len(accepted) and abs(accepted[k] - pos) < near:
                    if score[i] < _CONFLICT_RATIO * accepted_score[k]:
                        ok = False
        if ok:
            accepted.insert(j, pos)
            accepted_score.insert(j, float(score[i]))
    return np.asarray(accepted, dtype=np.int64), np.asarray(accepted_score)
