"""Beats of several rows (leads, or same-shaped recordings) as one flat array.

The R-peak detector (:mod:`ecg.beats`) judges the candidates of all rows in one set of
numpy calls: their sample positions lie in one flat array, sorted by row and then by
sample, with a parallel array of row ids. What a single row computes over *its* beats (a
median, a neighbour, a first or last beat) is computed here per run of equal ids, with
the same arithmetic as on the row alone — order statistics are exact values, so a
segment's median equals ``ecg.delineation.vec.median1d`` of the segment bit for bit.

``row`` None means one row (every helper then takes its one-row shortcut: the same values,
fewer calls).

Examples
--------
>>> import numpy as np
>>> seg_median(np.array([3.0, 1.0, 2.0, 10.0, 20.0]), np.array([0, 0, 0, 2, 2]), 3).tolist()
[2.0, nan, 15.0]
>>> same_row(np.array([0, 0, 1, 1])).tolist()
[True, False, True]
"""

from __future__ import annotations

import numpy as np

from ecg.delineation.vec import clip_index, median1d

__all__ = ["gather", "row_counts", "per_beat", "seg_median", "same_row", "within_rows", "row_starts", "seg_arange", "first_of_row", "last_of_row"]


def row_counts(row: np.ndarray | None, n_rows: int, size: int) -> np.ndarray:
    """How many entries each of ``n_rows`` rows holds (``size`` in one row when ``row`` is None)."""
    if row is None:
        return np.array([size], dtype=np.int64)
    return np.bincount(row, minlength=n_rows).astype(np.int64, copy=False)


def row_starts(counts: np.ndarray) -> np.ndarray:
    """Index of each row's first entry in the flat array, from the rows' counts."""
    return np.cumsum(counts) - counts


def seg_median(values: np.ndarray, row: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Per row the median of its values (NaN for a row without any): ``median1d`` of each
    row's values (the middle value, or the mean of the middle pair)."""
    if row is None or n_rows == 1:
        return np.array([median1d(values) if values.size else np.nan])
    out = np.full(n_rows, np.nan)
    if values.size == 0:
        return out
    ordered = values[np.lexsort((values, row))]
    counts = row_counts(row, n_rows, values.size)
    starts = row_starts(counts)
    has = counts > 0
    lo = (starts + (counts - 1) // 2)[has]
    hi = (starts + counts // 2)[has]
    out[has] = (ordered[lo] + ordered[hi]) / 2.0
    return out


def per_beat(per_row: np.ndarray, row: np.ndarray | None) -> np.ndarray | np.floating:
    """Each entry's value of its row (the one row's value, a scalar, when ``row`` is None)."""
    return per_row[0] if row is None else per_row[row]


def within_rows(pairs: np.ndarray, row: np.ndarray | None, lag: int = 1) -> np.ndarray:
    """``pairs`` (a mask over the pairs ``(i, i + lag)``) where both lie in one row."""
    return pairs if row is None else pairs & (row[lag:] == row[:-lag])


def same_row(row: np.ndarray | None, size: int | None = None, lag: int = 1) -> np.ndarray | bool:
    """For each pair ``(i, i + lag)`` of the flat array, whether both lie in one row
    (``True`` when ``row`` is None)."""
    if row is None:
        return True
    return row[lag:] == row[:-lag] if row.size > lag else np.zeros(0, dtype=bool)


def seg_arange(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` in a few calls."""
    total = int(counts.sum())
    starts = row_starts(counts)
    return np.arange(total) - np.repeat(starts, counts)


def first_of_row(row: np.ndarray | None, size: int) -> np.ndarray:
    """Mask of each row's first entry."""
    out = np.zeros(size, dtype=bool)
    if size:
        out[0] = True
        if row is not None:
            out[1:] = row[1:] != row[:-1]
    return out


def last_of_row(row: np.ndarray | None, size: int) -> np.ndarray:
    """Mask of each row's last entry."""
    out = np.zeros(size, dtype=bool)
    if size:
        out[-1] = True
        if row is not None:
            out[:-1] = row[1:] != row[:-1]
    return out


def gather(wide: np.ndarray, beats: np.ndarray, offsets: np.ndarray, row: np.ndarray | None = None) -> np.ndarray:
    """``wide`` at each beat plus ``offsets`` (clipped into the signal): ``(beats, offsets)``;
    with ``row``, ``wide`` is C-contiguous ``(rows, samples)`` and each beat reads its row."""
    n = wide.shape[-1]
    idx = clip_index(beats[:, None] + offsets[None, :], n)
    if row is None:
        return wide[idx] if wide.ndim == 1 else wide[0][idx]
    return wide.ravel()[idx + (row * n)[:, None]]
