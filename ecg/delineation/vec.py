"""Vectorised searches over many beats at once (one numpy call per step, not per beat).

Every beat has its own search range; the ranges are laid out as the rows of one 2-D
index matrix with a validity mask, so one ``argmax`` or one cumulative sum serves all
beats. Each function here reproduces, row by row, a scalar walk the delineator used to
run in a Python loop per beat (same result, same tie-breaking: first index wins).

Beats of several leads are searched together: the leads' signals are laid end to end
(``size`` samples each) and each row carries the offset ``base`` of its lead. Positions
stay in the lead's own samples and are clipped into ``[0, size)``; only reading adds
``base``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np

__all__ = ["ranges", "masked_argmax", "first_true", "range_max", "range_ptp",
           "median1d", "row_median", "percentiles", "row_percentile", "row_percentiles", "clip_index", "Rows",
           "window_rows"]


#: the reductions behind ``a.max()``/``a.min()``/``a.any()`` without their Python wrappers
max_reduce, min_reduce, any_reduce = np.maximum.reduce, np.minimum.reduce, np.logical_or.reduce


def clip_index(idx: np.ndarray, size: int) -> np.ndarray:
    """``np.clip(idx, 0, size - 1)`` for integer indices, with two ufuncs (less overhead)."""
    return np.maximum(np.minimum(idx, size - 1), 0)


#: from this many values on, the lower of an even count's middle pair is read as the largest
#: value below the upper one (one partial sort instead of two: the same value, cheaper)
_ONE_PASS_MIN = 512


def median1d(values: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D array without NaN: the same arithmetic (the middle
    value, or the mean of the middle pair) without its per-call overhead."""
    n = values.size
    lo, hi = (n - 1) // 2, n // 2
    part = values.copy(order="K")  # np.partition's copy, then its in-place partial sort (no wrapper)
    if hi != lo and n >= _ONE_PASS_MIN:  # the lower middle value: the largest below the upper one
        part.partition(hi)
        return float((max_reduce(part[:hi]) + part[hi]) / 2.0)
    part.partition((lo, hi) if hi != lo else lo)
    return float((part[lo] + part[hi]) / 2.0)


def row_median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=1)`` of a 2-D array without NaN (same arithmetic, less overhead)."""
    w = a.shape[1]
    lo, hi = (w - 1) // 2, w // 2
    if hi != lo and w >= _ONE_PASS_MIN:  # as in median1d: the lower middle value is the largest below
        part = np.partition(a, hi, axis=1)
        return (part[:, :hi].max(axis=1) + part[:, hi]) / 2.0
    part = np.partition(a, [lo, hi] if hi != lo else lo, axis=1)
    return (part[:, lo] + part[:, hi]) / 2.0


class _Plan(NamedTuple):
    """Where numpy's "linear" percentiles of ``n`` values read and how they interpolate."""

    kth: tuple[int, ...]  # the order statistics to place (sorted, unique)
    i: np.ndarray  # per q, the lower and upper order statistic
    j: np.ndarray
    t: np.ndarray  # per q, the interpolation weight
    upper: np.ndarray  # per q, whether numpy interpolates down from the upper value (t >= 0.5)
    t_rest: np.ndarray  # 1 - t


@lru_cache(maxsize=64)
def _plan(n: int, q: tuple[float, ...]) -> _Plan:
    """``np.percentile``'s index arithmetic (``_quantile``, method "linear") for ``n``
    values, once per (n, q): the same float64 operations, done once instead of per call."""
    virtual = (n - 1) * (np.asarray(q, dtype=np.float64) / 100)
    below = np.floor(virtual)
    last = virtual >= n - 1
    i = np.where(last, n - 1, below).astype(np.intp)
    j = np.where(last, n - 1, below + 1).astype(np.intp)
    t = virtual - np.where(last, -1.0, below)
    kth = tuple(int(k) for k in np.unique(np.concatenate((i, j))))
    for a in (i, j, t):
        a.setflags(write=False)
    return _Plan(kth, i, j, t, t >= 0.5, 1 - t)


def _interpolate(a: np.ndarray, b: np.ndarray, plan: _Plan) -> np.ndarray:
    """numpy's ``_lerp`` of the order statistics ``a`` (lower) and ``b`` (upper)."""
    diff = b - a
    return np.where(plan.upper, b - diff * plan.t_rest, a + diff * plan.t)


def percentiles(values: np.ndarray, q: float | list[float]) -> np.ndarray:
    """``np.percentile(values, q)`` (method "linear") of a non-empty 1-D array without NaN:
    the same order statistics and interpolation, found by one partial sort."""
    plan = _plan(values.size, tuple(float(v) for v in np.atleast_1d(q)))
    part = np.partition(values, plan.kth)
    return _interpolate(part[plan.i], part[plan.j], plan)


def row_percentiles(a: np.ndarray, q: list[float]) -> np.ndarray:
    """:func:`percentiles` of each row of a 2-D array without NaN: ``(rows, len(q))``, the
    same order statistics (one partial sort per row) and interpolation."""
    plan = _plan(a.shape[1], tuple(float(v) for v in q))
    part = np.partition(a, plan.kth, axis=1)
    return _interpolate(part[:, plan.i], part[:, plan.j], plan)


def row_percentile(a: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(a, q, axis=1)`` (method "linear") of a 2-D array without NaN, with at
    least one column: the arithmetic of :func:`percentiles`, row by row."""
    plan = _plan(a.shape[1], (float(q),))
    part = np.partition(a, plan.kth, axis=1)
    lo, hi = part[:, int(plan.i[0])], part[:, int(plan.j[0])]
    diff = hi - lo
    return hi - diff * float(plan.t_rest[0]) if plan.upper[0] else lo + diff * float(plan.t[0])


def ranges(start: np.ndarray, length: np.ndarray, size: int, step: int = 1,
           base: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index rows ``start + step * k`` for ``k < length`` (per row), clipped into ``[0, size)``,
    plus each row's ``base`` when given.

    Returns
    -------
    (idx, valid) : (numpy.ndarray, numpy.ndarray)
        ``(m, max(length))`` int64 indices and the mask of the positions inside each row.
    """
    start = np.asarray(start, dtype=np.int64)
    length = np.maximum(np.asarray(length, dtype=np.int64), 0)
    width = int(max_reduce(length)) if length.size else 0
    k = np.arange(width, dtype=np.int64)
    valid = k[None, :] < length[:, None]
    shift = base is not None and bool(any_reduce(base))  # one lead at offset 0 needs no shift
    if width and int(min_reduce(start)) + min(0, step * (width - 1)) >= 0 \
            and int(max_reduce(start)) + max(0, step * (width - 1)) <= size - 1:
        # every index inside [0, size): the clip changes nothing, the shift goes to the starts
        first = start + base if shift else start  # type: ignore[operator]
        return first[:, None] + (k if step == 1 else step * k)[None, :], valid
    idx = start[:, None] + (k if step == 1 else step * k)[None, :]
    np.minimum(idx, max(size - 1, 0), out=idx)  # ufuncs: far cheaper than np.clip per call
    np.maximum(idx, 0, out=idx)
    if shift:
        idx += base[:, None]  # type: ignore[index]
    return idx, valid


def window_rows(flat: np.ndarray, first: np.ndarray, width: int) -> np.ndarray:
    """``flat[first[:, None] + np.arange(width)]`` for rows that lie inside the 1-D ``flat``
    (``0 <= first`` and ``first + width <= flat.size``): the rows of a strided view of it,
    copied — the same values as the index-matrix gather, without building and walking the
    index matrix."""
    step = flat.strides[0] if flat.ndim == 1 else 0
    if step != flat.itemsize or not flat.flags.c_contiguous:  # pragma: no cover - the flat views are contiguous
        return flat[first[:, None] + np.arange(width)]  # type: ignore[no-any-return]
    windows = np.ndarray((flat.size - width + 1, width), flat.dtype, flat, 0, (step, step))
    return windows[first]  # type: ignore[no-any-return]


def masked_argmax(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row, the first index of the largest valid value (0 for a row with none)."""
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=np.int64)
    return np.where(valid, values, -np.inf).argmax(axis=1)  # type: ignore[no-any-return]


def first_true(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether any entry is True, and the first such column (0 if none)."""
    if mask.shape[1] == 0:
        z = np.zeros(mask.shape[0], dtype=np.int64)
        return z.astype(bool), z
    return any_reduce(mask, axis=1), mask.argmax(axis=1)  # mask.any(axis=1), np.argmax without the wrappers


def _pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``reduceat`` indices of the segments ``[lo, hi)`` (``[lo]`` alone where lo == hi)."""
    at = np.empty(2 * lo.size, dtype=np.intp)
    at[0::2], at[1::2] = lo, hi
    return at


def range_max(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per pair, ``x[lo:hi + 1].max()`` of the 1-D ``x`` for ranges ``0 <= lo <= hi <
    x.size``: one ``reduceat`` pass (no index matrix)."""
    if lo.size == 0:
        return np.zeros(0, dtype=x.dtype)
    return np.maximum(np.maximum.reduceat(x, _pairs(lo, hi))[0::2], x[hi])  # type: ignore[no-any-return]


def range_ptp(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per pair, ``x[lo:hi + 1].max() - x[lo:hi + 1].min()`` of the 1-D ``x`` for ranges
    ``0 <= lo <= hi < x.size``: one ``reduceat`` pass per extremum (no index matrix)."""
    if lo.size == 0:
        return np.zeros(0)
    at, end = _pairs(lo, hi), x[hi]
    top = np.maximum(np.maximum.reduceat(x, at)[0::2], end)
    return top - np.minimum(np.minimum.reduceat(x, at)[0::2], end)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Rows:
    """Beats of several leads as rows, grouped by lead in lead order.

    Attributes
    ----------
    lead : numpy.ndarray
        Per row, the lead's position (0 … ``n_leads`` − 1).
    base : numpy.ndarray
        Per row, the offset of its lead in the stack's flat arrays.
    n_leads : int
    """

    lead: np.ndarray
    base: np.ndarray
    n_leads: int

    @cached_property
    def first(self) -> np.ndarray:
        """Rows that are the first beat of their lead."""
        return np.concatenate(([True], self.lead[1:] != self.lead[:-1]))[: self.lead.size]

    @cached_property
    def last(self) -> np.ndarray:
        """Rows that are the last beat of their lead."""
        return np.concatenate((self.lead[1:] != self.lead[:-1], [True]))[: self.lead.size]

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Per lead, the number of rows (where the boolean ``mask``)."""
        if self.n_leads == 1:  # one lead: bincount's one count, without its call
            return np.array([self.lead.size if mask is None else np.count_nonzero(mask)], dtype=np.intp)
        lead = self.lead if mask is None else self.lead[mask]
        return np.bincount(lead, minlength=self.n_leads)

    def median(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Per lead, ``np.median`` of its rows' ``values`` (where ``mask``); NaN for none."""
        lead = self.lead if mask is None else self.lead[mask]
        v = values if mask is None else values[mask]
        out = np.full(self.n_leads, np.nan)
        if v.size == 0:
            return out
        if self.n_leads == 1:
            out[0] = median1d(v)
            return out
        s = v[np.lexsort((v, lead))]
        counts = np.bincount(lead, minlength=self.n_leads)
        starts = np.cumsum(counts) - counts
        has = counts > 0
        lo = starts[has] + (counts[has] - 1) // 2
        hi = starts[has] + counts[has] // 2
        out[has] = (s[lo] + s[hi]) / 2.0  # as np.median: the mean of the middle pair
        return out

    def percentile(self, values: np.ndarray, q: float) -> np.ndarray:
        """Per lead, ``np.percentile`` (method "linear") of its rows' ``values``; NaN for
        none. Each lead's values are sorted in one call; the arithmetic is :func:`percentiles`'."""
        if self.n_leads == 1:  # one lead: one partial sort, the same order statistics and arithmetic
            return percentiles(values, q) if values.size else np.full(1, np.nan)
        counts = np.bincount(self.lead, minlength=self.n_leads)
        out = np.full(self.n_leads, np.nan)
        has = np.flatnonzero(counts)
        if has.size == 0:
            return out
        c = counts[has]
        starts = np.cumsum(counts) - counts
        order = np.argsort(self.lead, kind="stable")
        block = np.full((has.size, int(c.max())), np.inf)
        place = np.searchsorted(has, self.lead[order])
        block[place, np.arange(order.size) - starts[self.lead[order]]] = values[order]
        block.sort(axis=1)
        virtual = (c - 1) * (np.float64(q) / 100)
        below = np.floor(virtual)
        last = virtual >= c - 1
        i = np.where(last, c - 1, below).astype(np.intp)
        j = np.where(last, c - 1, below + 1).astype(np.intp)
        at = np.arange(has.size)
        a, b = block[at, i], block[at, j]
        t = virtual - np.where(last, -1.0, below)
        diff = b - a
        out[has] = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
        return out

    def take(self, keep: np.ndarray) -> Rows:
        return Rows(self.lead[keep], self.base[keep], self.n_leads)
