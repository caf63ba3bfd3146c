"""R-peak detection, RR intervals and heart rate.

The detector works on the whole recording at once (offline, not sample by sample):

1. **QRS envelope**: zero-phase 5–30 Hz band-pass, first difference, RMS over a
   centred 100 ms window (linear in amplitude, so weak beats are not crushed).
2. **Candidates**: envelope maxima at least 200 ms apart. Each gets a *score*:
   envelope height × peak-to-peak amplitude (±60 ms) of the 0.5–40 Hz signal, which
   favours QRS complexes (steep *and* tall) over P/T waves and spikes.
3. **Local level**: a candidate is kept when its envelope height is ≥ 20 % of the
   3rd-largest height within ±5 s (adapts to amplitude changes and large ectopic beats).
4. **Conflicts**: strongest first; a candidate within 360 ms of an accepted, stronger
   beat needs ≥ 20 % of its score (rejects T and P waves, keeps couplets and VT),
   unless it scores ≥ 50 % of the recording's median candidate score (a normal beat
   next to a large artefact stays).
5. **P/T rejection by morphology, never by timing alone.** The record's QRS template is
   built from its taller half of beats; a beat is *QRS-like* when its slope waveform
   correlates with the template's (|r| ≥ 0.8) or when it has at least 40 % of the
   template's amplitude and 20 % of its sharpness (largest slope / amplitude): an
   ectopic, aberrant or paced beat, whose shape recurs (in beats outside noisy stretches,
   for a beat in one) — unless it *repeats what follows the other beats*: a
   beat less than half as steep as its predecessor, within 500 ms of it, whose waveform
   (±100 ms) matches (r ≥ 0.9, 0.5–1.5 × the amplitude) the median waveform at the same
   lag after the nearest beats as steep as that predecessor with no beat there — their T
   wave (tall T waves beside small R waves; a premature beat differs from what follows
   the other beats). Three tests then name *suspects* — of two beats
   closer than 360 ms the one less than half as steep (Pan–Tompkins' T-wave test);
   weaker waves tied to beats at a fixed lag within each 30 s (±30 ms, ≥ 4 times and
   ≥ 15 % of beats); weak beats that split one normal RR interval in two (the two
   intervals together < 1.2 × the local reference RR with < 50 % of the score of the
   weaker of its nearest *strong* neighbours — beats of ≥ 30 % of the median score, so
   two artefacts in one interval cannot shield each other —, or < 1.05 × with < 80 %)
   — and a suspect is removed only when it is not QRS-like. A premature ventricular
   beat at a fixed coupling interval (bigeminy) is therefore kept. In a *noisy stretch*
   (median QRS envelope within ±1 s ≥ 10 % of the typical beat's and ≥ twice the
   recording's median: a burst of EMG, motion, baseline jumps — noise throughout the
   recording is no stretch, and there slope correlations fail) a beat that is not QRS-like and splits less than 1.5 usual RRs in two is
   removed whatever its score (noise spikes between beats; a premature beat with its
   pause spans ≈ 2). One exception to the
   QRS-like override, by physiology: within 250 ms of a beat (the ventricles' absolute
   refractory period) a wave less than half as steep is that beat's own tail, whatever
   its shape. The first and last beat are dropped when neither QRS-like nor half the
   median score (noise cut at an edge).
6. **Location**: each beat moves to the largest deflection (±80 ms, against the median
   of ±200 ms) of the recording's dominant QRS polarity, or to the opposite one when
   that is 1.5 × larger for this beat (inverted ECG, ectopic beats).

Steps 1 (the band and the envelope) live in :mod:`ecg.beat_signal`, the P/T-wave tests of
step 5 in :mod:`ecg.beat_morphology`; their public names are re-exported here.

The QRS-like rule and the noisy-stretch span (:class:`QrsLikeRule`) are the one tuned
part: chosen by leave-one-record-out on MIT-BIH (``benchmarks/rpeaks_loro.py``); the
synthetic stress set in ``tests/ecg/test_beats_stress.py`` checks ectopy, pacing, BBB,
tall T waves and noise.

Everything is vectorised numpy/scipy (per call a few dozen array operations, whatever the
number of beats); a walk candidate by candidate resolves conflicts only at rates under
≈ 50 Hz, where more than one neighbour can conflict.
"""

from __future__ import annotations

import bisect

import numpy as np
from scipy import signal as _sps

from ecg.beat_morphology import (
    DEFAULT_QRS_LIKE,
    QrsLikeRule,
    qrs_like,
    remove_split_beats,
    repeated_waves,
    satellite_suspects,
    shallow_neighbours,
    weak_edges,
)
from ecg.beat_signal import (
    MIN_DURATION_S,
    as_one_lead,
    band_envelope,
    detector_band,
    detector_bands,
    envelope_of,
    noise_background,
    qrs_envelope,
    wide_band,
)
from ecg.delineation.vec import clip_index, median1d, row_median
from ecg.errors import SignalError
from ecg.preprocess import check_signal

__all__ = [
    "detect_r_peaks",
    "qrs_envelope",
    "detector_band",
    "band_envelope",
    "rr_intervals_ms",
    "median_rr_ms",
    "heart_rate_bpm",
    "MIN_DURATION_S",
    "detector_bands",
    "QrsLikeRule",
    "DEFAULT_QRS_LIKE",
]


_REFRACTORY_S = 0.20
_AMPLITUDE_HALF_S = 0.06
_LEVEL_HALF_WINDOW_S = 5.0
_LEVEL_RANK = 3
_MIN_RELATIVE_HEIGHT = 0.20
_MIN_PROMINENCE = 1.5
_CONFLICT_S = 0.36
_BURST_FACTOR = 2.0  # a noise burst: background at least twice the record's median background
_REFRACTORY_ECHO_S = 0.25  # ventricular absolute refractory period (physiology, not tuned)
_CONFLICT_RATIO = 0.20
_SATELLITE_CHUNK_S = 30.0
_TYPICAL_FRACTION = 0.5
_LOCATE_HALF_S = 0.08
_FLIP_FACTOR = 1.5
_LOCATE_BASELINE_HALF_S = 0.2


def detect_r_peaks(sig_mv: np.ndarray, fs_hz: float, *, rule: QrsLikeRule = DEFAULT_QRS_LIKE,
                   wide_mv: np.ndarray | None = None, envelope: np.ndarray | None = None) -> np.ndarray:
    """Detect R peaks in a single-lead ECG.

    Parameters
    ----------
    sig_mv : numpy.ndarray
        One lead, shape ``(n_samples,)`` or ``(n_samples, 1)``, in mV (any scale works;
        the detector is amplitude-adaptive). Polarity does not matter.
    fs_hz : float
        Sample rate in Hz (tested 100–1000 Hz).
    rule : QrsLikeRule, optional
        Which beats count as QRS-like (benchmarks tune it; callers keep the default).
    wide_mv : numpy.ndarray, optional
        This lead's :func:`detector_band` view, when the caller holds it already
        (``ecg.context.LeadContext.wide_mv``); computed here otherwise. Same result.
    envelope : numpy.ndarray, optional
        :func:`band_envelope` of ``wide_mv``, when the caller holds it already
        (``ecg.context.LeadContext.qrs_envelope``); computed here otherwise. Same result.

    Returns
    -------
    numpy.ndarray
        Sorted, unique sample indices (int64) of the R peaks.

    Raises
    ------
    SignalError
        NaN/inf samples, impossible ``fs_hz``, not one lead, or shorter than
        :data:`MIN_DURATION_S`.

    Examples
    --------
    >>> import numpy as np
    >>> fs = 250.0
    >>> x = np.zeros(2500); x[125::250] = 1.0   # one spike per second
    >>> x = np.convolve(x, np.hanning(15), "same")
    >>> detect_r_peaks(x, fs).tolist()[:3]
    [125, 375, 625]
    """
    x, fs = check_signal(as_one_lead(sig_mv), fs_hz, min_duration_s=MIN_DURATION_S)
    if x.max() == x.min():
        return np.zeros(0, dtype=np.int64)
    wide = wide_band(x, fs) if wide_mv is None else np.asarray(wide_mv, dtype=np.float64)
    if wide.shape != x.shape:
        raise SignalError(f"wide_mv has shape {wide.shape}, the lead {x.shape}", reason="bad_shape")
    env = envelope_of(wide, fs) if envelope is None else np.asarray(envelope, dtype=np.float64)
    if env.shape != x.shape:
        raise SignalError(f"envelope has shape {env.shape}, the lead {x.shape}", reason="bad_shape")
    found = _candidates(wide, env, fs)
    if found is None:
        return np.zeros(0, dtype=np.int64)
    cand, score, height, background, seg = found
    beats, beat_scores = _resolve_conflicts(cand, score, int(_CONFLICT_S * fs))
    at = np.searchsorted(cand, beats)
    beats = _reject_waves(wide, beats, beat_scores, height[at], background[at], fs, rule,
                          None if seg is None else seg[at])
    return beats if beats.size == 0 else _locate(wide, beats, fs)


def _candidates(wide: np.ndarray, env: np.ndarray, fs: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Steps 2–3: maxima of the QRS envelope ``env`` above the local level and background,
    with their score, envelope height, background (median envelope within ±1 s) and ±60 ms
    waveform of ``wide`` (None below 17 Hz); None when there are none."""
    cand, _ = _sps.find_peaks(env, distance=max(1, int(_REFRACTORY_S * fs)))
    if cand.size == 0:
        return None
    height = env[cand]
    half = int(_AMPLITUDE_HALF_S * fs)
    seg = wide[clip_index(cand[:, None] + np.arange(-half, half + 1)[None, :], wide.size)]
    score = height * _ptp(seg, 1)
    background = _background(env, cand, fs)
    keep = (height >= _MIN_RELATIVE_HEIGHT * _local_level(cand, height, fs)) & (
        height >= _MIN_PROMINENCE * background
    )
    return cand[keep], score[keep], height[keep], background[keep], seg[keep] if half >= 1 else None


def _reject_waves(wide: np.ndarray, beats: np.ndarray, score: np.ndarray, slope: np.ndarray,
                  background: np.ndarray, fs: float, rule: QrsLikeRule, seg: np.ndarray | None = None) -> np.ndarray:
    """Step 5: P/T waves and noise out by morphology (with timing, never by timing alone);
    ``seg``: the beats' ±60 ms waveforms, when the caller holds them."""
    if beats.size == 0:
        return beats
    # a noisy stretch: its envelope against the typical beat's, and a burst — noisier than the
    # record's usual background (a recording noisy throughout has no stretch to tell apart)
    noisy = (background >= rule.noisy * median1d(slope)) & (background >= _BURST_FACTOR * median1d(background))
    # a wave that repeats what follows the other beats at the same lag is a T wave
    looks_qrs = qrs_like(wide, beats, fs, rule, noisy, seg)
    looks_qrs &= ~repeated_waves(wide, beats, slope, fs, among=looks_qrs)
    # inside the ventricles' refractory period, a wave less than half as steep as its beat is
    # that beat's own tail or T wave, whatever its shape
    echo = shallow_neighbours(beats, slope, fs, within_s=_REFRACTORY_ECHO_S)
    keep = (~shallow_neighbours(beats, slope, fs) | looks_qrs) & ~echo
    beats, score, looks_qrs, noisy = beats[keep], score[keep], looks_qrs[keep], noisy[keep]
    suspect = np.zeros(beats.size, dtype=bool)
    chunk = int(_SATELLITE_CHUNK_S * fs)
    for start in range(0, int(beats[-1]) + 1 if beats.size else 0, chunk):
        lo, hi = np.searchsorted(beats, [start, start + chunk])
        suspect[lo:hi] = satellite_suspects(beats[lo:hi], score[lo:hi], fs)
    keep = ~suspect | looks_qrs
    beats, score, looks_qrs = remove_split_beats(beats[keep], score[keep], looks_qrs[keep], noisy[keep], rule.noisy_span)
    return beats[~weak_edges(score, looks_qrs)]


def _ptp(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.ptp`` without its per-call overhead (same values)."""
    return a.max(axis=axis) - a.min(axis=axis)


def _local_level(cand: np.ndarray, height: np.ndarray, fs: float) -> np.ndarray:
    """Per candidate, the k-th largest height within ±5 s (computed on a 1 s grid)."""
    step = int(fs)
    half = int(_LEVEL_HALF_WINDOW_S * fs)
    grid = np.arange(0, int(cand[-1]) + step, step)
    lo = np.searchsorted(cand, grid - half)
    count = np.searchsorted(cand, grid + half) - lo
    idx = lo[:, None] + np.arange(max(1, int(count.max())))[None, :]
    vals = np.where(idx < (lo + count)[:, None], height[np.minimum(idx, height.size - 1)], -np.inf)
    top = vals.shape[1]  # the k largest in place (ascending, padding below): a partial sort
    vals.partition(list(range(max(0, top - _LEVEL_RANK), top)), axis=1)
    rank = np.minimum(count, _LEVEL_RANK) - 1
    level = np.where(count > 0, vals[np.arange(grid.size), vals.shape[1] - 1 - np.maximum(rank, 0)], np.inf)
    return level[np.minimum((cand + step // 2) // step, grid.size - 1)]


def _background(env: np.ndarray, cand: np.ndarray, fs: float) -> np.ndarray:
    """Median envelope over ±1 s around each candidate (:func:`ecg.beat_signal.noise_background`)."""
    return noise_background(env, fs, cand)


def _resolve_conflicts(cand: np.ndarray, score: np.ndarray, near: int) -> tuple[np.ndarray, np.ndarray]:
    """Strongest first: a close, much weaker neighbour of an accepted beat is dropped,
    unless it scores like a typical beat of the recording."""
    typical = _TYPICAL_FRACTION * median1d(score) if score.size else 0.0
    if cand.size > 2 and bool(np.any(cand[2:] - cand[:-2] < near)):
        return _resolve_conflicts_walk(cand, score, near, typical)
    # Candidates are ≥ 200 ms apart and ``near`` < 2 × that, so only the two adjacent
    # candidates can conflict with a beat; a veto needs a neighbour ≥ 5 × stronger, which
    # the strongest-first walk has judged before: iterate "vetoed by an accepted
    # neighbour" to its (unique) fixed point, the walk's answer.
    close = (cand[1:] - cand[:-1]) < near
    weak = score < typical
    by_left = np.zeros(cand.size, dtype=bool)
    by_left[1:] = close & weak[1:] & (score[1:] < _CONFLICT_RATIO * score[:-1])
    by_right = np.zeros(cand.size, dtype=bool)
    by_right[:-1] = close & weak[:-1] & (score[:-1] < _CONFLICT_RATIO * score[1:])
    accepted = np.ones(cand.size, dtype=bool)
    while True:
        vetoed = np.zeros(cand.size, dtype=bool)
        vetoed[1:] |= by_left[1:] & accepted[:-1]
        vetoed[:-1] |= by_right[:-1] & accepted[1:]
        if not np.any(vetoed == accepted):
            break
        accepted = ~vetoed
    return cand[accepted].astype(np.int64), score[accepted].astype(np.float64)


def _resolve_conflicts_walk(cand: np.ndarray, score: np.ndarray, near: int, typical: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_resolve_conflicts` candidate by candidate (when several may conflict)."""
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


def _locate(wide: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """Move each beat onto its R wave (largest deflection of the dominant polarity)."""
    half = max(1, int(_LOCATE_HALF_S * fs))
    win = clip_index(beats[:, None] + np.arange(-half, half + 1)[None, :], wide.size)
    seg = wide[win]
    wide_half = max(half, int(_LOCATE_BASELINE_HALF_S * fs))
    around = wide[clip_index(beats[:, None] + np.arange(-wide_half, wide_half + 1, 2)[None, :], wide.size)]
    seg = seg - row_median(around)[:, None]  # minus the baseline around the beat
    up = seg.max(axis=1)
    down = -seg.min(axis=1)
    polarity = 1.0 if median1d(up) >= median1d(down) else -1.0
    dominant, opposite = (up, down) if polarity > 0 else (down, up)
    sign = np.where(opposite > _FLIP_FACTOR * dominant, -polarity, polarity)
    peaks = win[np.arange(win.shape[0]), np.argmax(sign[:, None] * seg, axis=1)].astype(np.int64)
    return peaks if bool(np.all(peaks[1:] > peaks[:-1])) else np.unique(peaks)


def rr_intervals_ms(r_peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    """RR intervals in milliseconds from R-peak sample indices.

    Examples
    --------
    >>> rr_intervals_ms(np.array([0, 300, 570]), 300.0).tolist()
    [1000.0, 900.0]
    """
    from ecg.io import validate_fs

    fs = validate_fs(fs_hz)
    r = np.asarray(r_peaks, dtype=np.float64)
    if r.ndim != 1:
        raise SignalError("r_peaks must be 1-D", reason="bad_shape")
    return np.diff(r) * 1000.0 / fs


def median_rr_ms(r_peaks: np.ndarray, fs_hz: float) -> float | None:
    """Median RR interval (ms), or None with fewer than 2 beats.

    Examples
    --------
    >>> median_rr_ms(np.array([0, 300, 570, 900]), 300.0)
    1000.0
    """
    from ecg.delineation.vec import median1d

    rr = rr_intervals_ms(r_peaks, fs_hz)
    if rr.size == 0:
        return None
    med = median1d(rr)  # np.median's arithmetic without its per-call overhead
    return med if med > 0 else None


def heart_rate_bpm(r_peaks: np.ndarray, fs_hz: float) -> float | None:
    """Heart rate in beats per minute from the median RR, or None with fewer than 2 beats.

    60000 / median RR (ms): robust to a single missed or extra beat. This is the one
    heart-rate function of the project (screening, quality, measurements, cloud, app).

    Examples
    --------
    >>> heart_rate_bpm(np.array([0, 300, 600, 900]), 300.0)
    60.0
    """
    med = median_rr_ms(r_peaks, fs_hz)
    return None if med is None else 60000.0 / med
