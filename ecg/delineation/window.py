"""Beat searches on one gathered window per beat and region (few numpy calls per search).

A :class:`Window` reads, for every beat (a row), the positions ``origin + c`` (``c <
width``) of one region of its lead, clipped into the lead as :func:`~.vec.ranges` clips
them, once per view (:meth:`Window.read`). The searches of that region then run on column
masks of those matrices instead of building and gathering an index matrix each: a search
over positions ``[lo, hi]`` of a row reads columns ``lo - origin … hi - origin``.

Each search gives, row by row, what a scalar walk over the same positions gives (same
values in the same order, same tie-breaking: first index wins; ``tests/ecg/test_vec.py``
compares them), provided every position it reads lies inside the row's window. Searches
that walk backwards (``step = -1``) run on the column-reversed matrix, where "first" is
again the lowest column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .vec import any_reduce, first_true, max_reduce, min_reduce, ranges, window_rows

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .filters import StackedViews

__all__ = ["Window", "argmax_in", "columns", "walk_down_in", "settled_run"]

class Window:
    """Positions ``[lo, hi]`` of each row's region (its lead at offset ``base`` of ``sv``).

    Attributes
    ----------
    origin : numpy.ndarray
        Per row, the position of column 0 (``lo``).
    valid : numpy.ndarray
        ``(rows, width)``: the columns inside ``[lo, hi]`` of each row.
    length : numpy.ndarray
        Per row, how many columns are inside (``valid``'s row sums).
    cols : numpy.ndarray
        ``0 … width - 1``.
    """

    def __init__(self, sv: StackedViews, base: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.sv = sv
        self.origin = np.asarray(lo, dtype=np.int64)
        n = sv.n_samples
        length = np.maximum(np.asarray(hi, dtype=np.int64) - self.origin + 1, 0)
        width = int(max_reduce(length)) if length.size else 0
        self.cols = np.arange(width, dtype=np.int64)
        self.length = length  # per row, the columns inside [lo, hi] (= ``valid.sum(axis=1)``)
        self.valid = self.cols[None, :] < length[:, None]
        self._first: np.ndarray | None = None
        self._idx: np.ndarray | None = None
        if width and int(min_reduce(self.origin)) >= 0 and int(max_reduce(self.origin)) + width - 1 <= n - 1:
            # no position to clip (the usual case): every row is ``width`` consecutive samples
            # of one lead, read as rows of a strided view of the flat views (no index matrix)
            self._first = self.origin + base if bool(any_reduce(base)) else self.origin
        else:
            self._idx = ranges(self.origin, length, n, base=base)[0]
        self._read: dict[str, np.ndarray] = {}

    @property
    def width(self) -> int:
        return int(self.cols.size)

    def read(self, name: str) -> np.ndarray:
        """The ``(rows, width)`` values of view ``name`` (or ``abs_<view>``), gathered once."""
        if name not in self._read:
            if name.startswith("abs_") and name[4:] in self._read:
                self._read[name] = np.abs(self._read[name[4:]])  # |x| of the gathered values: the same numbers
            elif self._first is not None:
                self._read[name] = window_rows(self.sv.flat(name), self._first, self.cols.size)
            else:
                self._read[name] = self.sv.flat(name)[self._idx]
        return self._read[name]

    def take(self, rows: np.ndarray) -> Window:
        """The window of some rows (their views read so far taken along)."""
        out = object.__new__(Window)
        out.sv, out.origin, out.valid, out.cols = self.sv, self.origin[rows], self.valid[rows], self.cols
        out.length = self.length[rows]
        out._first = None if self._first is None else self._first[rows]
        out._idx = None if self._idx is None else self._idx[rows]
        out._read = {k: v[rows] for k, v in self._read.items()}
        return out

    def span(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The columns of positions ``[lo, hi]`` of each row (empty where ``hi < lo``)."""
        return (self.cols >= (lo - self.origin)[:, None]) & (self.cols <= (hi - self.origin)[:, None])


def argmax_in(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row, the first column of the largest value inside ``mask`` (0 for a row with none)."""
    return np.where(mask, values, -np.inf).argmax(axis=1)  # type: ignore[no-any-return]


def columns(values: np.ndarray, first: np.ndarray, width: int) -> np.ndarray:
    """Per row of the C-contiguous ``values``, the ``width`` columns from ``first`` on
    (clipped into the row): a narrow search inside a wide window reads only these."""
    rows, cols = values.shape
    if rows and width and int(min_reduce(first)) >= 0 and int(max_reduce(first)) + width <= cols:
        return window_rows(values.reshape(-1), first + np.arange(0, rows * cols, cols), width)  # nothing to clip
    at = first[:, None] + np.arange(width)
    np.minimum(at, cols - 1, out=at)
    np.maximum(at, 0, out=at)
    at += (np.arange(rows) * cols)[:, None]
    return values.reshape(-1)[at]  # type: ignore[no-any-return]


def walk_down_in(values: np.ndarray, origin: np.ndarray, start: np.ndarray, step: int, threshold: np.ndarray,
                 stop: np.ndarray) -> np.ndarray:
    """Walk from ``start`` by ``step`` towards ``stop`` until the values fall below ``threshold``.

    Per row of the window rows ``values`` (column 0 at position ``origin``): the first
    position whose value is below the threshold, or the position before a rise that
    starts below 1.5 × the threshold (a local minimum just above it); ``stop`` when
    neither happens (``start`` when ``stop`` lies behind it). Positions ``start … stop``
    must lie inside each row's window.
    """
    start = np.asarray(start, dtype=np.int64)
    n_steps = np.maximum((np.asarray(stop, dtype=np.int64) - start) * step, 0)
    if start.size == 0 or values.shape[1] < 2:
        return start + step * n_steps
    v, cs = (values, start - origin) if step > 0 else (values[:, ::-1], origin + (values.shape[1] - 1) - start)
    c0, c1 = int(min_reduce(cs)), int(max_reduce(cs + n_steps))  # the walks read columns c0 … c1 only
    if c0 > 0 or c1 < v.shape[1] - 1:
        v, cs = v[:, max(c0, 0) : c1 + 1], cs - max(c0, 0)
        if v.shape[1] < 2:  # no walk takes a step
            return start + step * n_steps
    thr = np.asarray(threshold, dtype=np.float64)[:, None]
    nxt, cur = v[:, 1:], v[:, :-1]  # column c of the walk: the step from c to c + 1 (c = cs: the start)
    below = nxt < thr
    stop_here = nxt > cur  # a turn …
    stop_here &= cur < 1.5 * thr  # … just above the threshold
    stop_here |= below
    pair = np.arange(below.shape[1], dtype=np.int64)
    stop_here &= pair >= cs[:, None]
    stop_here &= pair < (cs + n_steps)[:, None]
    has, c = first_true(stop_here)
    c += below[np.arange(c.size), c]  # one more step where the walk stopped on a value below
    return np.where(has, start + step * (c - cs), start + step * n_steps)


def settled_run(v: np.ndarray, threshold: np.ndarray, gap: int, stop_col: np.ndarray, resume: np.ndarray,
                look: int, room: np.ndarray) -> np.ndarray:
    """The edge of the first quiet run after the start, past the turning points of a slurred wave.

    ``v`` holds rows that begin at the walk's start and run in its direction (column ``c``:
    ``c`` steps from the start). Per row: the first column after 0 that begins ``gap``
    consecutive values below ``threshold`` ending by ``stop_col``; if a value of at least
    ``resume`` follows within ``look`` values of that edge (the edge included), the wave
    goes on: the search starts again from there (at most four times). ``stop_col`` when
    there is no such run.

    ``room`` is per row how many samples of the lead lie from the start on in this
    direction (the resume check reads no further). Each row must reach ``stop_col`` and
    ``look`` - 1 values beyond it (or the lead's end).
    """
    width = v.shape[1]
    below = v < threshold[:, None]
    n_run = max(width - gap + 1, 0)  # columns where a run of ``gap`` can start
    runs = below[:, :n_run].copy()
    for s in range(1, gap):
        runs &= below[:, s : n_run + s]
    cols = np.arange(width, dtype=np.int64)
    runs &= cols[:n_run] <= (stop_col - gap + 1)[:, None]  # a quiet run ends by the stop
    has, c = first_true(runs[:, 1:])  # the walk looks from column 1 on
    edge = np.where(has, c + 1, stop_col)
    again = v >= resume[:, None]
    active = np.ones(edge.size, dtype=bool)
    for _ in range(4):
        active &= edge != stop_col
        if not any_reduce(active):
            break
        ahead = np.minimum(look, room - edge)
        has, c = first_true(again & (cols >= edge[:, None]) & (cols < (edge + ahead)[:, None]))
        active &= has
        if not any_reduce(active):
            break
        has, q = first_true(runs & (cols[:n_run] > c[:, None]))
        edge = np.where(active, np.where(has, q, stop_col), edge)
    return edge
