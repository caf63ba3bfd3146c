"""Beats that split one RR interval in two, and weak beats at a recording's edges.

Step 5 of :mod:`ecg.beats` (after :mod:`ecg.beat_morphology`'s P/T tests): a weak beat
between two strong ones that splits their usual RR interval in two is a P wave or an
artefact unless it looks like a QRS complex; so is a weak first or last beat. Every
function takes the beats of one row, or of several rows laid end to end (``row``, see
:mod:`ecg.beat_rows`), each row judged as if alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ecg.beat_rows import first_of_row, last_of_row, row_counts, row_starts, seg_arange, seg_median, within_rows
from ecg.delineation.vec import median1d

__all__ = ["remove_split_beats", "remove_split_beats_rows", "weak_edges", "running_median"]

_SPLIT_RR_FACTOR = 1.2
_SPLIT_SCORE_RATIO = 0.5
_SPLIT_TIGHT_RR_FACTOR = 1.05
_SPLIT_TIGHT_SCORE_RATIO = 0.8
_STRONG_FRACTION = 0.3
_MIN_BEATS_FOR_EDGES = 8  # = the QRS template's least beats (ecg.beat_morphology)

#: QRS-like marks of the beats: the mask itself, or a function giving the marks of the beats
#: at the given indices (the detector computes the morphology only when a beat is in question)
Marks = np.ndarray | Callable[[np.ndarray], np.ndarray]


def marks_at(marks: Marks, at: np.ndarray) -> np.ndarray:
    """The QRS-like marks of the beats at indices ``at``."""
    return marks(at) if callable(marks) else marks[at]


def _kept(marks: Marks, keep: np.ndarray) -> Marks:
    """The marks of the beats kept by the mask ``keep``."""
    if not callable(marks):
        return marks[keep]
    at = keep.nonzero()[0]
    return lambda sub: marks(at[sub])


def remove_split_beats(
    beats: np.ndarray, score: np.ndarray, qrs_like: np.ndarray, noisy: np.ndarray | None = None,
    noisy_span: float = _SPLIT_RR_FACTOR,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop weak beats that split one normal RR interval into two and do not look like a
    QRS complex (P waves, artefacts); QRS-like ones stay whatever their timing. Beats in a
    ``noisy`` stretch that are not QRS-like are dropped whatever their score when their two
    intervals together are under ``noisy_span`` usual RRs (noise spikes between beats).
    One row of :func:`remove_split_beats_rows`."""
    beats, score, qrs_like, _ = remove_split_beats_rows(beats, score, qrs_like, noisy, noisy_span)
    return beats, score, qrs_like


def remove_split_beats_rows(
    beats: np.ndarray, score: np.ndarray, qrs_like: Marks, noisy: np.ndarray | None = None,
    noisy_span: float = _SPLIT_RR_FACTOR, row: np.ndarray | None = None, n_rows: int = 1,
) -> tuple[np.ndarray, np.ndarray, Marks, np.ndarray | None]:
    """:func:`remove_split_beats` of each row of a flat array (``row``: each beat's row,
    :mod:`ecg.beat_rows`), in rounds over all rows at once: a row stops where it would
    stop alone. ``qrs_like``: the marks, or a function of the beats' indices giving them
    (:data:`Marks`; asked only for flagged beats). Returns the kept beats, scores, QRS-like
    marks (of the same kind) and rows."""
    active = np.ones(n_rows, dtype=bool)
    for _ in range(10):
        if row is None:
            if beats.size < 4:
                break
            is_strong = score >= _STRONG_FRACTION * median1d(score)
            found = _reference_rr_one(beats, is_strong, _split_limit(noisy, noisy_span))
        else:
            active &= row_counts(row, n_rows, beats.size) >= 4
            is_strong = score >= _STRONG_FRACTION * seg_median(score, row, n_rows)[row]
            found = _reference_rr(beats, is_strong, row, n_rows, active)
        if found is None:
            break
        rr_ref, inner = found
        flag = _split_flags(beats, score, is_strong, inner, rr_ref, noisy, noisy_span, row)
        if not flag.any():
            break
        flag[flag] = ~marks_at(qrs_like, flag.nonzero()[0])  # & ~qrs_like, read where flagged
        if not flag.any():
            break
        if row is not None:
            active &= np.bincount(row[flag], minlength=n_rows) > 0  # a row without flags is done
        # of two neighbouring flagged beats, remove only the weaker one this round
        weaker_left = np.zeros(beats.size, dtype=bool)
        weaker_left[1:] = within_rows(flag[:-1] & (score[:-1] < score[1:]), row)
        weaker_right = np.zeros(beats.size, dtype=bool)
        weaker_right[:-1] = within_rows(flag[1:] & (score[1:] <= score[:-1]), row)
        keep = ~(flag & ~weaker_left & ~weaker_right)
        beats, score, qrs_like = beats[keep], score[keep], _kept(qrs_like, keep)
        noisy = None if noisy is None else noisy[keep]
        row = None if row is None else row[keep]
    return beats, score, qrs_like, row


def _reference_rr_one(beats: np.ndarray, is_strong: np.ndarray, limit: float
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_reference_rr` of one row (fewer calls); None also when no inner beat's two
    intervals together come under ``limit`` reference RRs (then none can be flagged)."""
    pair = is_strong[:-1] & is_strong[1:]
    if np.count_nonzero(pair) >= 3:
        rr = (beats[1:] - beats[:-1])[pair]
        mid = ((beats[1:] + beats[:-1]) / 2)[pair]
    else:
        strong = beats[is_strong]
        if strong.size < 3:
            return None
        rr, mid = strong[1:] - strong[:-1], (strong[1:] + strong[:-1]) / 2
    gap = beats[2:] - beats[:-2]  # each inner beat's two intervals together
    # the reference RR (a running median of rr, interpolated) is at most rr's largest value
    # (interpolation rounding: within the margin), so no span gap / reference can be that small
    if np.minimum.reduce(gap) >= limit * float(np.maximum.reduce(rr)) * (1.0 + 1e-9):
        return None
    rr_ref = np.interp(beats[1:-1], mid, running_median(rr, 9))
    if np.minimum.reduce(gap / rr_ref) >= limit:  # :func:`_split_flags`' spans: none under the limit
        return None
    return rr_ref, np.arange(1, beats.size - 1)


def _split_limit(noisy: np.ndarray | None, noisy_span: float) -> float:
    """The span under which :func:`_split_flags` may flag an inner beat of one row (the
    noisy-stretch span when an inner beat is in one and that span is the larger)."""
    if noisy is not None and noisy_span > _SPLIT_RR_FACTOR and bool(noisy[1:-1].any()):
        return noisy_span
    return _SPLIT_RR_FACTOR


def _reference_rr(beats: np.ndarray, is_strong: np.ndarray, row: np.ndarray, n_rows: int,
                  active: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per active row the reference RR at each inner beat (the running median of 9
    intervals between adjacent strong beats — or between strong beats when fewer than 3
    such pairs —, interpolated at the beat); ``active`` loses the rows without enough
    strong beats. Returns the references and the inner beats' indices, or None."""
    at = row
    pair = within_rows(is_strong[:-1] & is_strong[1:], row)
    by_pairs = np.bincount(at[:-1][pair], minlength=n_rows) >= 3
    active &= by_pairs | (np.bincount(at[is_strong], minlength=n_rows) >= 3)
    if not active.any():
        return None
    pair &= (active & by_pairs)[at[:-1]]
    lone = is_strong & (active & ~by_pairs)[at]  # rows judged by their strong beats alone
    strong, strong_row = beats[lone], at[lone]
    consecutive = strong_row[1:] == strong_row[:-1]
    rr = np.concatenate(((beats[1:] - beats[:-1])[pair], (strong[1:] - strong[:-1])[consecutive]))
    mid = np.concatenate((((beats[1:] + beats[:-1]) / 2)[pair], ((strong[1:] + strong[:-1]) / 2)[consecutive]))
    rr_row = np.concatenate((at[:-1][pair], strong_row[:-1][consecutive]))
    order = np.argsort(rr_row, kind="stable")
    rr, mid, rr_row = rr[order], mid[order], rr_row[order]
    smooth = running_median(rr, 9, rr_row)
    inner = np.flatnonzero(~first_of_row(row, beats.size) & ~last_of_row(row, beats.size) & active[at])
    rr_ref = np.empty(inner.size)
    starts = row_starts(np.bincount(rr_row, minlength=n_rows))
    ends = starts + np.bincount(rr_row, minlength=n_rows)
    inner_row = at[inner]
    for r in np.flatnonzero(active):
        sel = slice(*np.searchsorted(inner_row, [r, r + 1]))
        rr_ref[sel] = np.interp(beats[inner[sel]], mid[starts[r]:ends[r]], smooth[starts[r]:ends[r]])
    return rr_ref, inner


def _split_flags(beats: np.ndarray, score: np.ndarray, is_strong: np.ndarray, inner: np.ndarray,
                 rr_ref: np.ndarray, noisy: np.ndarray | None, noisy_span: float, row: np.ndarray | None) -> np.ndarray:
    """Inner beats that split their reference RR in two while weak against their strong
    neighbours (or, in a noisy stretch, whatever their score)."""
    flag = np.zeros(beats.size, dtype=bool)
    span = (beats[inner + 1] - beats[inner - 1]) / rr_ref
    left, right = _strong_neighbours(is_strong, inner, row)
    rel = score[inner] / np.minimum(score[left], score[right])
    flag[inner] = ((span < _SPLIT_RR_FACTOR) & (rel < _SPLIT_SCORE_RATIO)) | (
        (span < _SPLIT_TIGHT_RR_FACTOR) & (rel < _SPLIT_TIGHT_SCORE_RATIO)
    )
    if noisy is not None:
        flag[inner] |= noisy[inner] & (span < noisy_span)
    return flag


def _strong_neighbours(is_strong: np.ndarray, inner: np.ndarray, row: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """For the ``inner`` beats: the nearest strong beat of the row before and after (the
    adjacent beat when there is none), so two artefacts in one RR cannot shield each other."""
    n = is_strong.size
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(is_strong, idx, -1))  # last strong at or before i
    nxt = np.minimum.accumulate(np.where(is_strong, idx, n)[::-1])[::-1]  # first strong at or after i
    left, right = last[inner - 1], nxt[inner + 1]
    left_ok, right_ok = left >= 0, right < n
    if row is not None:
        left_ok &= row[np.maximum(left, 0)] == row[inner]
        right_ok &= row[np.minimum(right, n - 1)] == row[inner]
    return np.where(left_ok, left, inner - 1), np.where(right_ok, right, inner + 1)


def weak_edges(score: np.ndarray, qrs_like: Marks, row: np.ndarray | None = None, n_rows: int = 1) -> np.ndarray:
    """The first or last beat (of each row) when it is neither QRS-like nor half as strong
    as the row's median beat (noise cut at the recording's edge, which has no neighbour
    to be judged against); rows of fewer than 8 beats keep theirs. ``qrs_like``: as for
    :func:`remove_split_beats_rows` (asked only for weak edge beats)."""
    drop = np.zeros(score.size, dtype=bool)
    if score.size == 0:
        return drop
    if row is None:
        if score.size >= _MIN_BEATS_FOR_EDGES:
            level = _SPLIT_SCORE_RATIO * median1d(score)
            edges = np.array([0, score.size - 1])
            weak = score[edges] < level
            if weak[0] or weak[1]:
                drop[edges] = weak & ~marks_at(qrs_like, edges)
        return drop
    big = row_counts(row, n_rows, score.size) >= _MIN_BEATS_FOR_EDGES
    weak = (score < _SPLIT_SCORE_RATIO * seg_median(score, row, n_rows)[row]) & big[row]
    weak &= first_of_row(row, score.size) | last_of_row(row, score.size)  # at an edge
    if weak.any():
        at = weak.nonzero()[0]
        drop[at] = ~marks_at(qrs_like, at)
    return drop


def running_median(x: np.ndarray, size: int, row: np.ndarray | None = None) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size, mode="nearest")`` of a non-empty 1-D array for
    an odd ``size`` (of each row's run when ``row`` gives it, :mod:`ecg.beat_rows`): the
    same values, by one partial sort of the sliding windows (less per-call overhead on the
    few dozen values it gets here)."""
    half = size // 2
    if row is None:
        padded = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
        windows = padded[np.arange(x.size)[:, None] + np.arange(size)[None, :]]  # a small gather
    else:
        counts = np.bincount(row)[row]
        local = seg_arange(np.bincount(row)[np.unique(row)])
        start = np.arange(x.size) - local
        windows = x[start[:, None] + np.minimum(np.maximum(local[:, None] + np.arange(-half, half + 1)[None, :], 0),
                                                (counts - 1)[:, None])]
    windows.partition(half, axis=1)
    return windows[:, half]
