"""The P/T-wave tests of the R-peak detector and the QRS-like rule that overrides them.

See :mod:`ecg.beats` (step 5): the tests below only name *suspects*; a suspect is removed
by the detector only when :func:`qrs_like` says it does not look like a QRS complex of
its recording, so no beat is deleted for its timing alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ecg.beat_rows import gather, last_of_row, per_beat, row_counts, same_row, seg_arange, seg_median, within_rows
from ecg.beat_split import remove_split_beats, remove_split_beats_rows, running_median, weak_edges
from ecg.delineation.vec import median1d, row_median

__all__ = ["QrsLikeRule", "DEFAULT_QRS_LIKE", "qrs_like", "qrs_marks", "shallow_neighbours", "satellite_suspects",
           "remove_split_beats", "remove_split_beats_rows", "weak_edges", "running_median", "repeated_waves",
           "gather"]

_CONFLICT_S = 0.36
_PAIR_SLOPE_RATIO = 0.5
_SATELLITE_MIN_COUNT = 4
_SATELLITE_OUTER_FACTOR = 2.0
_SATELLITE_MIN_SHARE = 0.15
_SATELLITE_TOLERANCE_S = 0.03
_SATELLITE_TIED_SHARE = 0.7
_TEMPLATE_MIN_BEATS = 8
_AMPLITUDE_HALF_S = 0.06
_RECURRENCE_MAX = 4000
_ECHO_MAX_LAG_S = 0.5  # a T wave ends within a QT interval of its beat
_ECHO_MIN_CORR = 0.9
_ECHO_REFERENCES = 16


@dataclass(frozen=True)
class QrsLikeRule:
    """When a beat looks like a QRS complex of its recording (then no P/T test removes it).

    Attributes
    ----------
    min_corr : float
        Least |correlation| of the beat's slope waveform with the record's QRS template.
    min_amplitude : float
        Least peak-to-peak amplitude, as a fraction of the template beats' median.
    min_sharpness : float
        Least sharpness (largest slope / amplitude), as a fraction of the template's.
    max_sharpness : float
        Most sharpness, as a multiple of the template's: spikier is noise, not a beat.
    min_recurrence : int
        A beat of its own shape counts only when that shape recurs in at least this many
        other beats (an ectopic focus repeats itself; artefacts do not).
    noisy : float
        A beat is in a noisy stretch when the median QRS envelope within ±1 s reaches this
        fraction of the typical beat's envelope (0.1: clean ECG stays near 0.05).
    noisy_span : float
        In a noisy stretch, a beat that is not QRS-like and splits less than this many
        usual RR intervals in two is removed whatever its score (elsewhere: 1.2, and only
        weak beats).
    own_wave_gate : float
        The repeated-wave test by the predecessor's own QRS-T template
        (:func:`repeated_waves` with ``shape``) judges beats less than this many times as
        steep as their predecessor; 0 turns it off. Declared and scored on 2 December 2026
        (``benchmarks/rpeaks_loro.py --own-wave-lever``) and **not adopted** (its CPSC
        condition failed; docs/performance.md): the shipped rule has it off.
    """

    min_corr: float = 0.8
    min_amplitude: float = 0.4
    min_sharpness: float = 0.2
    max_sharpness: float = 2.0
    min_recurrence: int = 8
    noisy: float = 0.1
    noisy_span: float = 1.5
    own_wave_gate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("min_corr", "min_amplitude", "min_sharpness", "max_sharpness", "min_recurrence", "noisy",
                     "noisy_span", "own_wave_gate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 10.0):
                raise ValueError(f"QrsLikeRule.{name} must be within [0, 10], got {v!r}")


#: The shipped rule (validated by leave-one-record-out on MIT-BIH: benchmarks/rpeaks_loro.py).
DEFAULT_QRS_LIKE = QrsLikeRule()

def shallow_neighbours(beats: np.ndarray, slope: np.ndarray, fs: float, within_s: float = _CONFLICT_S,
                       row: np.ndarray | None = None) -> np.ndarray:
    """Of two beats closer than ``within_s`` (360 ms), the one less than half as steep (a T
    or P wave?). ``row``: each beat's row (:mod:`ecg.beat_rows`; only beats of one row pair)."""
    if beats.size < 2:
        return np.zeros(beats.size, dtype=bool)
    close = within_rows((beats[1:] - beats[:-1]) < int(within_s * fs), row)
    drop = np.zeros(beats.size, dtype=bool)
    drop[:-1] |= close & (slope[:-1] < _PAIR_SLOPE_RATIO * slope[1:])
    drop[1:] |= close & (slope[1:] < _PAIR_SLOPE_RATIO * slope[:-1])
    return drop


def satellite_suspects(beats: np.ndarray, score: np.ndarray, fs: float, group: np.ndarray | None = None) -> np.ndarray:
    """Mask of the weaker waves that sit at a fixed lag before (P) or after (T) many beats.

    A P or T wave is tied to its QRS: the lag varies by a few ms, while a genuine close
    pair of beats (couplet, early ectopic beat) has a varying coupling interval. Only
    pairs whose other interval is ≥ 2 × the lag count, so a fast regular rhythm (every
    interval short) is never halved. ``group``: each beat's group (non-decreasing ids; the
    detector's 30-s chunks of each row), judged each on its own.
    """
    drop = np.zeros(beats.size, dtype=bool)
    if beats.size < 2 * _SATELLITE_MIN_COUNT:
        return drop
    if group is not None and group[0] == group[-1]:
        group = None  # one group
    gap = beats[1:] - beats[:-1]
    same = same_row(group)
    close = (gap < int(_CONFLICT_S * fs)) & same
    if np.count_nonzero(close) < _SATELLITE_MIN_COUNT:  # too few close pairs to tie any wave
        return drop
    g = np.zeros(beats.size, dtype=np.int64) if group is None else group - group[0]
    n_groups = int(g[-1]) + 1
    pair_group = g[:-1]
    size = np.bincount(g, minlength=n_groups)
    ok = (size >= 2 * _SATELLITE_MIN_COUNT) & (np.bincount(pair_group[close], minlength=n_groups) >= _SATELLITE_MIN_COUNT)
    close &= ok[pair_group]
    # the satellite's other interval must be much longer (not a fast regular rhythm)
    inside = gap if group is None else np.where(same, gap, 0)  # (no interval across groups)
    before = np.concatenate(([0], inside[:-1]))  # interval ending at the pair's first beat
    after = np.concatenate((inside[1:], [0]))  # interval starting at the pair's second beat
    for first_weaker in (True, False):
        outer = before if first_weaker else after
        sel = close & (outer >= _SATELLITE_OUTER_FACTOR * gap)
        sel &= (score[:-1] < score[1:]) if first_weaker else (score[1:] < score[:-1])
        count = np.bincount(pair_group[sel], minlength=n_groups)
        sel &= (count >= np.maximum(_SATELLITE_MIN_COUNT, _SATELLITE_MIN_SHARE * size))[pair_group]
        if not sel.any():
            continue
        lag, lag_group = gap[sel], pair_group[sel]
        centre = seg_median(lag, None if group is None else lag_group, n_groups)
        tied = np.abs(lag - centre[lag_group]) <= _SATELLITE_TOLERANCE_S * fs
        enough = np.bincount(lag_group[tied], minlength=n_groups) >= _SATELLITE_TIED_SHARE * count
        idx = np.flatnonzero(sel)[tied & enough[lag_group]]
        drop[idx if first_weaker else idx + 1] = True
    return drop


def qrs_like(wide: np.ndarray, beats: np.ndarray, fs: float, rule: QrsLikeRule,
             noisy: np.ndarray | None = None, seg: np.ndarray | None = None,
             row: np.ndarray | None = None, n_rows: int = 1) -> np.ndarray:
    """Beats whose morphology is that of a QRS complex of this recording.

    Against the record's QRS template (its taller half of beats): a beat is QRS-like when
    its slope waveform (±60 ms) correlates with the template's (|r| ≥ 0.8: a normally
    conducted beat, whatever its size), or when its peak-to-peak amplitude reaches 40 %
    of the template's, its sharpness (largest slope / amplitude) 20–200 % of it, and its
    shape recurs in at least ``min_recurrence`` other such beats (an ectopic or paced focus
    with its own shape; random artefacts do not repeat) — for a beat in a ``noisy``
    stretch, other such beats outside noisy stretches (noise spikes resemble each other).
    A P wave is too small and a T wave too smooth for either. ``seg``: the beats' ±60 ms
    waveforms of ``wide``, when the caller holds them (gathered here otherwise). With
    ``row`` (each beat's row of a 2-D ``wide``, :mod:`ecg.beat_rows`) every row is judged
    against its own template; rows of fewer than 8 beats are all QRS-like.
    """
    out = np.ones(beats.size, dtype=bool)
    big = _enough_beats(beats, row, n_rows)
    if big is None:
        return out
    if seg is None:
        half = max(1, int(_AMPLITUDE_HALF_S * fs))
        seg = gather(wide, beats, np.arange(-half, half + 1), row)
    judged = None if row is None or big.all() else np.flatnonzero(big[row])  # type: ignore[union-attr]
    if judged is not None:
        seg, beats, row = seg[judged], beats[judged], row[judged]  # type: ignore[index]
        noisy = None if noisy is None else noisy[judged]
    amp = seg.max(axis=1) - seg.min(axis=1)
    slope = seg[:, 1:] - seg[:, :-1]
    sharp = np.abs(slope).max(axis=1) / np.maximum(amp, 1e-12)
    tall = amp >= per_beat(seg_median(amp, row, n_rows), row)
    template = _templates(slope, tall, row, n_rows)
    norm = np.sqrt(np.add.reduce(slope * slope, axis=1)) * (
        np.sqrt(template[0].dot(template[0])) if row is None else np.sqrt(np.array([t.dot(t) for t in template]))[row])
    corr = _dots(slope, template, row, n_rows) / np.maximum(norm, 1e-12)  # norm: = linalg.norm
    tall_row = None if row is None else row[tall]
    sized = amp >= rule.min_amplitude * per_beat(seg_median(amp[tall], tall_row, n_rows), row)
    sharp_ratio = sharp / per_beat(np.maximum(seg_median(sharp[tall], tall_row, n_rows), 1e-12), row)
    sharp_enough = (sharp_ratio >= rule.min_sharpness) & (sharp_ratio <= rule.max_sharpness)
    normal = np.abs(corr) >= rule.min_corr
    ectopic = sized & sharp_enough & ~normal
    for r in [None] if row is None else np.unique(row[ectopic]):
        mine = ectopic if r is None else ectopic & (row == r)
        ectopic[mine] = _recurring(slope[mine], rule.min_corr, rule.min_recurrence, None if noisy is None else noisy[mine])
    if judged is None:
        return normal | ectopic
    out[judged] = normal | ectopic
    return out


def _enough_beats(beats: np.ndarray, row: np.ndarray | None, n_rows: int) -> np.ndarray | bool | None:
    """Which rows have the template's least beats: True for one row that has, a mask over
    several rows, None when no row has."""
    if row is None:
        return True if beats.size >= _TEMPLATE_MIN_BEATS else None
    big = row_counts(row, n_rows, beats.size) >= _TEMPLATE_MIN_BEATS
    return big if big.any() else None


def _templates(slope: np.ndarray, tall: np.ndarray, row: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Per row the sample-wise median slope waveform of its tall beats: ``(n_rows, width)``
    (``row_median`` of each row's tall waveforms)."""
    if row is None:
        return row_median(slope[tall].T)[None, :]
    tall_row = row[tall]
    counts = np.bincount(tall_row, minlength=n_rows)
    stack = np.full((n_rows, max(1, int(counts.max())), slope.shape[1]), np.inf)
    stack[tall_row, seg_arange(counts)] = slope[tall]
    stack.sort(axis=1)  # unused places (inf) last
    rows = np.arange(n_rows)
    return (stack[rows, np.maximum(counts - 1, 0) // 2] + stack[rows, counts // 2]) / 2.0


def _dots(slope: np.ndarray, template: np.ndarray, row: np.ndarray | None, n_rows: int) -> np.ndarray:
    """``slope @ template`` of each row's beats with the row's template (one matrix-vector
    product per row, as for the row alone)."""
    if row is None:
        return slope @ template[0]
    out = np.empty(slope.shape[0])
    bounds = np.searchsorted(row, np.arange(n_rows + 1))
    for r in range(n_rows):
        if bounds[r + 1] > bounds[r]:
            out[bounds[r] : bounds[r + 1]] = slope[bounds[r] : bounds[r + 1]] @ template[r]
    return out


def _recurring(slopes: np.ndarray, min_corr: float, min_others: int, noisy: np.ndarray | None = None) -> np.ndarray:
    """Which of these waveforms match at least ``min_others`` others (|r| ≥ ``min_corr``):
    an ectopic focus repeats its shape, random artefacts do not. A waveform in a ``noisy``
    stretch counts only matches outside noisy stretches (noise resembles noise)."""
    if slopes.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    if slopes.shape[0] > _RECURRENCE_MAX:  # so many wide beats: a rhythm of its own
        return np.ones(slopes.shape[0], dtype=bool)
    unit = slopes / np.maximum(np.sqrt(np.add.reduce(slopes * slopes, axis=1, keepdims=True)), 1e-12)
    alike = np.abs(unit @ unit.T) >= min_corr
    matches = alike.sum(axis=1) - 1  # = np.count_nonzero(alike, axis=1) - 1, less overhead
    if noisy is not None and noisy.any():
        matches[noisy] = alike[noisy][:, ~noisy].sum(axis=1)
    return matches >= min_others


def repeated_waves(wide: np.ndarray, beats: np.ndarray, slope: np.ndarray, fs: float,
                   among: np.ndarray | None = None, row: np.ndarray | None = None, n_rows: int = 1,
                   gate: float = _PAIR_SLOPE_RATIO, shape: np.ndarray | None = None,
                   min_shape_corr: float = 0.8) -> np.ndarray:
    """Beats that are the wave following their predecessor: the same waveform lies at the
    same lag after the predecessor's neighbours that have no beat there (their own T wave).

    Only a beat less than half as steep as its predecessor and within 500 ms of it (a QT
    interval) is judged. Its ±100 ms waveform is compared (correlation ≥ 0.9, amplitude
    within 0.5–1.5 ×) with the median waveform at the same lag after the 16 nearest other
    beats as steep as the predecessor whose next beat comes later. With ``among``, only
    those beats are judged. A premature beat (bigeminy, couplets) differs from
    what follows the other beats and stays; so does one in a rhythm where every beat is
    followed that early (nothing to compare with). With ``row`` (:mod:`ecg.beat_rows`),
    each row's beats against their own row's; rows of fewer than 8 beats judge none.

    With ``shape`` (the beats' unit slope waveforms, one row each) the references are the
    predecessor's *own kind* of beat instead — beats whose waveform correlates with the
    predecessor's (|r| ≥ ``min_shape_corr``), the judged beat itself excluded — and the
    judged beats are those less than ``gate`` × as steep as their predecessor: a T wave
    after an ectopic beat is compared with what follows the other ectopic beats.
    """
    out = np.zeros(beats.size, dtype=bool)
    big = _enough_beats(beats, row, n_rows)
    if big is None:
        return out
    gap = beats[1:] - beats[:-1]
    close = (gap < int(_ECHO_MAX_LAG_S * fs)) & (slope[1:] < gate * slope[:-1])
    if row is not None and isinstance(big, np.ndarray):
        close &= same_row(row) & big[row[1:]]
    judged = np.flatnonzero(close if among is None else close & among[1:]) + 1
    if judged.size == 0:
        return out
    half = max(1, int(0.1 * fs))
    lag = gap[judged - 1]
    # samples to the next beat of the row
    following = np.where(last_of_row(row, beats.size), np.iinfo(np.int64).max // 4, np.concatenate((gap, [0])))
    # references per judged beat: as steep as its predecessor, no beat within its lag (+100 ms)
    if shape is None:
        free = (following[None, :] > (lag + half)[:, None]) & (
            slope[None, :] >= _PAIR_SLOPE_RATIO * slope[judged - 1][:, None])
    else:  # shaped like the predecessor (its own kind of beat), the judged beat excluded
        free = (following[None, :] > (lag + half)[:, None]) & (np.abs(shape[judged - 1] @ shape.T) >= min_shape_corr)
        free[np.arange(judged.size), judged] = False
    if row is not None:
        free &= row[None, :] == row[judged][:, None]
    free[np.arange(judged.size), judged - 1] = False
    distance = np.where(free, np.abs(np.arange(beats.size)[None, :] - judged[:, None]), np.iinfo(np.int64).max)
    near = np.argsort(distance, axis=1, kind="stable")[:, :_ECHO_REFERENCES]  # nearest first, earlier on ties
    valid = np.take_along_axis(free, near, axis=1)
    k = np.arange(-half, half + 1)
    refs = (beats[near] + lag[:, None]).ravel()
    windows = gather(wide, refs, k, None if row is None else row[near].ravel()).reshape(near.shape + (k.size,))
    use = valid | ~valid.any(axis=1, keepdims=True)  # a row without references is rejected below
    expected = _masked_median(windows, use)
    seen = gather(wide, beats[judged], k, None if row is None else row[judged])
    e = expected - expected.mean(axis=1, keepdims=True)
    c = seen - seen.mean(axis=1, keepdims=True)
    den = np.sqrt((e * e).sum(axis=1) * (c * c).sum(axis=1))
    corr = np.where(den > 0, (e * c).sum(axis=1) / np.maximum(den, 1e-300), 0.0)
    amp = np.ptp(seen, axis=1) / np.maximum(np.ptp(expected, axis=1), 1e-12)
    out[judged] = (valid.sum(axis=1) >= 4) & (corr >= _ECHO_MIN_CORR) & (amp >= 0.5) & (amp <= 1.5)
    return out


def _masked_median(windows: np.ndarray, use: np.ndarray) -> np.ndarray:
    """``np.nanmedian`` over axis 1 of ``(rows, refs, samples)`` with the references
    ``use`` (``(rows, refs)``, at least one per row) and the others NaN: per row the sorted
    used values' middle one, or the mean of the middle pair (numpy's arithmetic, without
    its masked-array path)."""
    ordered = np.sort(np.where(use[:, :, None], windows, np.inf), axis=1)  # unused last
    count = np.add.reduce(use, axis=1)
    rows = np.arange(windows.shape[0])
    low, high = ordered[rows, (count - 1) // 2], ordered[rows, count // 2]
    return (low + high) / 2.0


def _unit_slopes(wide: np.ndarray, beats: np.ndarray, fs: float, seg: np.ndarray | None,
                 row: np.ndarray | None) -> np.ndarray:
    """The beats' ±60 ms slope waveforms of ``wide`` scaled to unit length (one row each)."""
    if seg is None:
        half = max(1, int(_AMPLITUDE_HALF_S * fs))
        seg = gather(wide, beats, np.arange(-half, half + 1), row)
    d = seg[:, 1:] - seg[:, :-1]
    return d / np.maximum(np.sqrt(np.add.reduce(d * d, axis=1, keepdims=True)), 1e-12)


def qrs_marks(wide: np.ndarray, beats: np.ndarray, slope: np.ndarray, fs: float, rule: QrsLikeRule,
              noisy: np.ndarray, seg: np.ndarray | None, row: np.ndarray | None, k: int
              ) -> Callable[[np.ndarray], np.ndarray]:
    """The beats' QRS-like marks (:func:`qrs_like`, less the waves that :func:`repeated_waves`
    finds: T waves) as a function of the beats' indices (``ecg.beat_split.Marks``), computed
    for all beats on the first call: the detector asks only when a timing test names a
    suspect."""
    done: list[np.ndarray] = []

    def at(idx: np.ndarray) -> np.ndarray:
        if not done:
            marks = qrs_like(wide, beats, fs, rule, noisy, seg, row, k)
            marks &= ~repeated_waves(wide, beats, slope, fs, among=marks, row=row, n_rows=k)
            if rule.own_wave_gate > 0.0:
                marks &= ~repeated_waves(wide, beats, slope, fs, among=marks, row=row, n_rows=k,
                                         gate=rule.own_wave_gate, shape=_unit_slopes(wide, beats, fs, seg, row),
                                         min_shape_corr=rule.min_corr)
            done.append(marks)
        return done[0][idx]
    return at
