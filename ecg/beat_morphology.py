"""The P/T-wave tests of the R-peak detector and the QRS-like rule that overrides them.

See :mod:`ecg.beats` (step 5): the tests below only name *suspects*; a suspect is removed
by the detector only when :func:`qrs_like` says it does not look like a QRS complex of
its recording, so no beat is deleted for its timing alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecg.delineation.vec import clip_index, median1d, row_median

__all__ = ["QrsLikeRule", "DEFAULT_QRS_LIKE", "qrs_like", "shallow_neighbours", "satellite_suspects",
           "remove_split_beats", "weak_edges", "running_median", "repeated_waves"]

_CONFLICT_S = 0.36
_SPLIT_RR_FACTOR = 1.2
_SPLIT_SCORE_RATIO = 0.5
_PAIR_SLOPE_RATIO = 0.5
_SATELLITE_MIN_COUNT = 4
_SATELLITE_OUTER_FACTOR = 2.0
_SATELLITE_MIN_SHARE = 0.15
_SATELLITE_TOLERANCE_S = 0.03
_SATELLITE_TIED_SHARE = 0.7
_SPLIT_TIGHT_RR_FACTOR = 1.05
_SPLIT_TIGHT_SCORE_RATIO = 0.8
_STRONG_FRACTION = 0.3
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
    """

    min_corr: float = 0.8
    min_amplitude: float = 0.4
    min_sharpness: float = 0.2
    max_sharpness: float = 2.0
    min_recurrence: int = 8
    noisy: float = 0.1
    noisy_span: float = 1.5

    def __post_init__(self) -> None:
        for name in ("min_corr", "min_amplitude", "min_sharpness", "max_sharpness", "min_recurrence", "noisy",
                     "noisy_span"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 10.0):
                raise ValueError(f"QrsLikeRule.{name} must be within [0, 10], got {v!r}")


#: The shipped rule (validated by leave-one-record-out on MIT-BIH: benchmarks/rpeaks_loro.py).
DEFAULT_QRS_LIKE = QrsLikeRule()

def shallow_neighbours(beats: np.ndarray, slope: np.ndarray, fs: float, within_s: float = _CONFLICT_S) -> np.ndarray:
    """Of two beats closer than ``within_s`` (360 ms), the one less than half as steep (a T
    or P wave?)."""
    if beats.size < 2:
        return np.zeros(beats.size, dtype=bool)
    close = (beats[1:] - beats[:-1]) < int(within_s * fs)
    drop = np.zeros(beats.size, dtype=bool)
    drop[:-1] |= close & (slope[:-1] < _PAIR_SLOPE_RATIO * slope[1:])
    drop[1:] |= close & (slope[1:] < _PAIR_SLOPE_RATIO * slope[:-1])
    return drop


def satellite_suspects(beats: np.ndarray, score: np.ndarray, fs: float) -> np.ndarray:
    """Mask of the weaker waves that sit at a fixed lag before (P) or after (T) many beats.

    A P or T wave is tied to its QRS: the lag varies by a few ms, while a genuine close
    pair of beats (couplet, early ectopic beat) has a varying coupling interval. Only
    pairs whose other interval is ≥ 2 × the lag count, so a fast regular rhythm (every
    interval short) is never halved.
    """
    if beats.size < 2 * _SATELLITE_MIN_COUNT:
        return np.zeros(beats.size, dtype=bool)
    gap = beats[1:] - beats[:-1]
    close = gap < int(_CONFLICT_S * fs)
    if np.count_nonzero(close) < _SATELLITE_MIN_COUNT:  # too few close pairs to tie any wave
        return np.zeros(beats.size, dtype=bool)
    # the satellite's other interval must be much longer (not a fast regular rhythm)
    before = np.concatenate(([0], gap[:-1]))  # interval ending at the pair's first beat
    after = np.concatenate((gap[1:], [0]))  # interval starting at the pair's second beat
    drop = np.zeros(beats.size, dtype=bool)
    for first_weaker in (True, False):
        outer = before if first_weaker else after
        sel = close & (outer >= _SATELLITE_OUTER_FACTOR * gap)
        sel &= (score[:-1] < score[1:]) if first_weaker else (score[1:] < score[:-1])
        if np.count_nonzero(sel) < max(_SATELLITE_MIN_COUNT, _SATELLITE_MIN_SHARE * beats.size):
            continue
        lag = gap[sel]
        centre = median1d(lag)
        tied = np.abs(lag - centre) <= _SATELLITE_TOLERANCE_S * fs
        if np.count_nonzero(tied) < _SATELLITE_TIED_SHARE * lag.size:
            continue
        idx = np.flatnonzero(sel)[tied]
        drop[idx if first_weaker else idx + 1] = True
    return drop


def remove_split_beats(
    beats: np.ndarray, score: np.ndarray, qrs_like: np.ndarray, noisy: np.ndarray | None = None,
    noisy_span: float = _SPLIT_RR_FACTOR,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop weak beats that split one normal RR interval into two and do not look like a
    QRS complex (P waves, artefacts); QRS-like ones stay whatever their timing. Beats in a
    ``noisy`` stretch that are not QRS-like are dropped whatever their score when their two
    intervals together are under ``noisy_span`` usual RRs (noise spikes between beats)."""
    for _ in range(10):
        if beats.size < 4:
            break
        is_strong = score >= _STRONG_FRACTION * median1d(score)
        # reference RR: intervals between two adjacent strong beats (none weak between)
        pair = is_strong[:-1] & is_strong[1:]
        if np.count_nonzero(pair) >= 3:
            rr = (beats[1:] - beats[:-1])[pair]
            mid = ((beats[1:] + beats[:-1]) / 2)[pair]
        else:
            strong = beats[is_strong]
            if strong.size < 3:
                break
            rr, mid = strong[1:] - strong[:-1], (strong[1:] + strong[:-1]) / 2
        rr_ref = np.interp(beats[1:-1], mid, running_median(rr, 9))
        flag = np.zeros(beats.size, dtype=bool)
        span = (beats[2:] - beats[:-2]) / rr_ref
        rel = score[1:-1] / np.minimum(*_strong_neighbour_scores(score, is_strong))
        flag[1:-1] = ((span < _SPLIT_RR_FACTOR) & (rel < _SPLIT_SCORE_RATIO)) | (
            (span < _SPLIT_TIGHT_RR_FACTOR) & (rel < _SPLIT_TIGHT_SCORE_RATIO)
        )
        if noisy is not None:
            flag[1:-1] |= noisy[1:-1] & (span < noisy_span)
        flag &= ~qrs_like
        if not flag.any():
            break
        # of two neighbouring flagged beats, remove only the weaker one this round
        weaker_left = np.zeros(beats.size, dtype=bool)
        weaker_left[1:] = flag[:-1] & (score[:-1] < score[1:])
        weaker_right = np.zeros(beats.size, dtype=bool)
        weaker_right[:-1] = flag[1:] & (score[1:] <= score[:-1])
        drop = flag & ~weaker_left & ~weaker_right
        beats, score, qrs_like = beats[~drop], score[~drop], qrs_like[~drop]
        noisy = None if noisy is None else noisy[~drop]
    return beats, score, qrs_like


def _strong_neighbour_scores(score: np.ndarray, is_strong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For beats 1..n-2: the score of the nearest strong beat before and after (the
    adjacent beat when there is none), so two artefacts in one RR cannot shield each other."""
    n = score.size
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(is_strong, idx, -1))  # last strong at or before i
    nxt = np.minimum.accumulate(np.where(is_strong, idx, n)[::-1])[::-1]  # first strong at or after i
    left, right = last[:-2], nxt[2:]
    left = np.where(left >= 0, left, idx[:-2])
    right = np.where(right < n, right, idx[2:])
    return score[left], score[right]


def weak_edges(score: np.ndarray, qrs_like: np.ndarray) -> np.ndarray:
    """The first or last beat when it is neither QRS-like nor half as strong as the median
    beat (noise cut at the recording's edge, which has no neighbour to be judged against)."""
    drop = np.zeros(score.size, dtype=bool)
    if score.size >= _TEMPLATE_MIN_BEATS:
        weak = ~qrs_like & (score < _SPLIT_SCORE_RATIO * median1d(score))
        drop[[0, -1]] = weak[[0, -1]]
    return drop


def qrs_like(wide: np.ndarray, beats: np.ndarray, fs: float, rule: QrsLikeRule,
             noisy: np.ndarray | None = None, seg: np.ndarray | None = None) -> np.ndarray:
    """Beats whose morphology is that of a QRS complex of this recording.

    Against the record's QRS template (its taller half of beats): a beat is QRS-like when
    its slope waveform (±60 ms) correlates with the template's (|r| ≥ 0.8: a normally
    conducted beat, whatever its size), or when its peak-to-peak amplitude reaches 40 %
    of the template's, its sharpness (largest slope / amplitude) 20–200 % of it, and its
    shape recurs in at least ``min_recurrence`` other such beats (an ectopic or paced focus
    with its own shape; random artefacts do not repeat) — for a beat in a ``noisy``
    stretch, other such beats outside noisy stretches (noise spikes resemble each other).
    A P wave is too small and a T wave too smooth for either. ``seg``: the beats' ±60 ms
    waveforms of ``wide``, when the caller holds them (gathered here otherwise).
    """
    if beats.size < _TEMPLATE_MIN_BEATS:
        return np.ones(beats.size, dtype=bool)
    if seg is None:
        half = max(1, int(_AMPLITUDE_HALF_S * fs))
        seg = wide[clip_index(beats[:, None] + np.arange(-half, half + 1)[None, :], wide.size)]
    amp = seg.max(axis=1) - seg.min(axis=1)
    slope = seg[:, 1:] - seg[:, :-1]
    sharp = np.abs(slope).max(axis=1) / np.maximum(amp, 1e-12)
    tall = amp >= median1d(amp)
    template = row_median(slope[tall].T)
    norm = np.sqrt(np.add.reduce(slope * slope, axis=1)) * np.sqrt(template.dot(template))  # = linalg.norm
    corr = (slope @ template) / np.maximum(norm, 1e-12)
    sized = amp >= rule.min_amplitude * median1d(amp[tall])
    sharp_ratio = sharp / max(median1d(sharp[tall]), 1e-12)
    sharp_enough = (sharp_ratio >= rule.min_sharpness) & (sharp_ratio <= rule.max_sharpness)
    normal = np.abs(corr) >= rule.min_corr
    ectopic = sized & sharp_enough & ~normal
    ectopic[ectopic] = _recurring(slope[ectopic], rule.min_corr, rule.min_recurrence,
                                  None if noisy is None else noisy[ectopic])
    return normal | ectopic


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


def running_median(x: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size, mode="nearest")`` of a non-empty 1-D array for
    an odd ``size``: the same values, by one partial sort of the sliding windows (less
    per-call overhead on the few dozen values it gets here)."""
    half = size // 2
    padded = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
    windows = padded[np.arange(x.size)[:, None] + np.arange(size)[None, :]]  # a small gather
    windows.partition(half, axis=1)
    return windows[:, half]


def repeated_waves(wide: np.ndarray, beats: np.ndarray, slope: np.ndarray, fs: float,
                   among: np.ndarray | None = None) -> np.ndarray:
    """Beats that are the wave following their predecessor: the same waveform lies at the
    same lag after the predecessor's neighbours that have no beat there (their own T wave).

    Only a beat less than half as steep as its predecessor and within 500 ms of it (a QT
    interval) is judged. Its ±100 ms waveform is compared (correlation ≥ 0.9, amplitude
    within 0.5–1.5 ×) with the median waveform at the same lag after the 16 nearest other
    beats as steep as the predecessor whose next beat comes later. With ``among``, only
    those beats are judged. A premature beat (bigeminy, couplets) differs from
    what follows the other beats and stays; so does one in a rhythm where every beat is
    followed that early (nothing to compare with).
    """
    out = np.zeros(beats.size, dtype=bool)
    if beats.size < _TEMPLATE_MIN_BEATS:
        return out
    gap = beats[1:] - beats[:-1]
    close = (gap < int(_ECHO_MAX_LAG_S * fs)) & (slope[1:] < _PAIR_SLOPE_RATIO * slope[:-1])
    judged = np.flatnonzero(close if among is None else close & among[1:]) + 1
    if judged.size == 0:
        return out
    half = max(1, int(0.1 * fs))
    lag = gap[judged - 1]
    following = np.concatenate((gap, [np.iinfo(np.int64).max // 4]))  # samples to the next beat
    # references per judged beat: as steep as its predecessor, no beat within its lag (+100 ms)
    free = (following[None, :] > (lag + half)[:, None]) & (slope[None, :] >= _PAIR_SLOPE_RATIO * slope[judged - 1][:, None])
    free[np.arange(judged.size), judged - 1] = False
    distance = np.where(free, np.abs(np.arange(beats.size)[None, :] - judged[:, None]), np.iinfo(np.int64).max)
    near = np.argsort(distance, axis=1, kind="stable")[:, :_ECHO_REFERENCES]  # nearest first, earlier on ties
    valid = np.take_along_axis(free, near, axis=1)
    k = np.arange(-half, half + 1)
    windows = wide[clip_index(beats[near][:, :, None] + lag[:, None, None] + k, wide.size)]
    use = valid | ~valid.any(axis=1, keepdims=True)  # a row without references is rejected below
    expected = _masked_median(windows, use)
    seen = wide[clip_index(beats[judged][:, None] + k, wide.size)]
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
