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

Steps 1 (the band and the envelope) live in :mod:`ecg.beat_signal`, steps 2–4 in
:mod:`ecg.beat_candidates`, the P/T-wave tests of step 5 in :mod:`ecg.beat_morphology` and
:mod:`ecg.beat_split`; the band's public names are re-exported here.

:func:`detect_r_peaks_many` runs all of it on several rows at once (the leads of one
recording, or same-shaped one-lead recordings): their candidates and beats lie in flat
arrays with a row id (:mod:`ecg.beat_rows`), every per-recording statistic is taken per
row, and each row gets bit for bit what :func:`detect_r_peaks` (one row) gives it.

The QRS-like rule and the noisy-stretch span (:class:`QrsLikeRule`) are the one tuned
part: chosen by leave-one-record-out on MIT-BIH (``benchmarks/rpeaks_loro.py``); the
synthetic stress set in ``tests/ecg/test_beats_stress.py`` checks ectopy, pacing, BBB,
tall T waves and noise.

Everything is vectorised numpy/scipy (per call a few dozen array operations, whatever the
number of beats); a walk candidate by candidate resolves conflicts only at rates under
≈ 50 Hz, where more than one neighbour can conflict.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ecg.beat_candidates import TYPICAL_FRACTION as _TYPICAL_FRACTION  # noqa: F401 - tests read it here
from ecg.beat_candidates import candidates_rows, resolve_rows
from ecg.beat_candidates import resolve_conflicts_walk as _resolve_conflicts_walk  # noqa: F401 - tests
from ecg.beat_morphology import (
    DEFAULT_QRS_LIKE,
    QrsLikeRule,
    qrs_like,
    qrs_marks,
    remove_split_beats_rows,
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
from ecg.beat_rows import gather, per_beat, seg_median
from ecg.delineation.vec import clip_index, max_reduce, median1d, min_reduce, row_median
from ecg.errors import SignalError
from ecg.preprocess import check_signal

__all__ = [
    "detect_r_peaks",
    "detect_r_peaks_many",
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


_CONFLICT_S = 0.36
_BURST_FACTOR = 2.0  # a noise burst: background at least twice the record's median background
_REFRACTORY_ECHO_S = 0.25  # ventricular absolute refractory period (physiology, not tuned)
_SATELLITE_CHUNK_S = 30.0
_LOCATE_HALF_S = 0.08
_FLIP_FACTOR = 1.5
_LOCATE_BASELINE_HALF_S = 0.2


def detect_r_peaks(sig_mv: np.ndarray, fs_hz: float, *, rule: QrsLikeRule = DEFAULT_QRS_LIKE,
                   wide_mv: np.ndarray | None = None, envelope: np.ndarray | None = None) -> np.ndarray:
    """Detect R peaks in a single-lead ECG (one row of :func:`detect_r_peaks_many`).

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
    wide = None if wide_mv is None else _view_of(wide_mv, x.shape, "wide_mv")
    env = None if envelope is None else _view_of(envelope, x.shape, "envelope")
    return _detect_rows(x[None, :], fs, rule, wide, env, live=np.zeros(1, dtype=np.int64))[0]


def detect_r_peaks_many(signals_mv: np.ndarray, fs_hz: float, *, rule: QrsLikeRule = DEFAULT_QRS_LIKE,
                        wide_mv: np.ndarray | None = None, envelope: np.ndarray | None = None) -> list[np.ndarray]:
    """:func:`detect_r_peaks` of every row of ``(n_rows, n_samples)`` in one pass.

    The rows are the leads of one recording or same-shaped one-lead recordings; each row
    gets exactly (bit for bit) what :func:`detect_r_peaks` gives it alone, while the
    filters, envelopes, backgrounds and candidate tests run once over all rows (the
    per-call overhead of numpy, which dominates one lead's cost, is paid once).

    Parameters
    ----------
    signals_mv : numpy.ndarray
        ``(n_rows, n_samples)`` in mV.
    fs_hz : float
        Sample rate of every row (Hz).
    rule : QrsLikeRule, optional
        As for :func:`detect_r_peaks`.
    wide_mv, envelope : numpy.ndarray, optional
        The rows' :func:`detector_bands` and their :func:`band_envelope`, when the
        caller holds them (same shape as ``signals_mv``).

    Returns
    -------
    list of numpy.ndarray
        Per row, its sorted R-peak sample indices (int64).

    Raises
    ------
    SignalError
        As :func:`detect_r_peaks` (any row), or not 2-D.

    Examples
    --------
    >>> x = np.zeros((2, 2500)); x[0, 125::250] = 1.0; x[1, 100::200] = 1.0
    >>> x = np.stack([np.convolve(r, np.hanning(15), "same") for r in x])
    >>> [p.size for p in detect_r_peaks_many(x, 250.0)]
    [10, 12]
    """
    x = np.asarray(signals_mv, dtype=np.float64)
    if x.ndim != 2:
        raise SignalError(f"expected (n_rows, n_samples), got shape {x.shape}", reason="bad_shape")
    if x.shape[0] == 0:
        return []
    x = np.ascontiguousarray(check_signal(x.T, fs_hz, min_duration_s=MIN_DURATION_S)[0].T)
    wide = None if wide_mv is None else _view_of(wide_mv, x.shape, "wide_mv")
    env = None if envelope is None else _view_of(envelope, x.shape, "envelope")
    return _detect_rows(x, float(fs_hz), rule, wide, env)


def _view_of(view: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A handed-in view as float64 rows, checked against the signal's shape."""
    v = np.asarray(view, dtype=np.float64)
    if v.shape != shape:
        raise SignalError(f"{name} has shape {v.shape}, the lead {shape}", reason="bad_shape")
    return v if v.ndim == 2 else v[None, :]


def _detect_rows(x: np.ndarray, fs: float, rule: QrsLikeRule, wide: np.ndarray | None,
                 env: np.ndarray | None, live: np.ndarray | None = None) -> list[np.ndarray]:
    """Steps 1–6 on the rows of ``x`` (checked): per row its R peaks (none for a flat row;
    ``live``: the rows known not to be flat)."""
    out = [np.zeros(0, dtype=np.int64) for _ in range(x.shape[0])]
    if live is None:
        live = np.flatnonzero(x.max(axis=1) != x.min(axis=1))
    if live.size == 0:
        return out
    every = live.size == x.shape[0]
    wide = wide_band(x if every else x[live], fs) if wide is None else (wide if every else wide[live])
    wide = np.ascontiguousarray(wide)
    env = envelope_of(wide, fs) if env is None else np.ascontiguousarray(env if every else env[live])
    found = candidates_rows(wide, env, fs)
    if found is None:
        return out
    pos, row, score, height, background, seg = found  # row: None for one row
    k = live.size
    acc = resolve_rows(pos, row, score, int(_CONFLICT_S * fs), k)
    pos, row = _reject_waves(wide, pos[acc], None if row is None else row[acc], score[acc], height[acc],
                             background[acc], fs, rule, None if seg is None else seg[acc], k)
    if pos.size:
        pos, row = _locate(wide, pos, row, fs, k)
    if row is None:
        out[live[0]] = pos
        return out
    bounds = np.searchsorted(row, np.arange(k + 1))
    for i, r in enumerate(live):
        out[r] = pos[bounds[i] : bounds[i + 1]]
    return out


def _candidates(wide: np.ndarray, env: np.ndarray, fs: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Steps 2–3 on one lead (:func:`_candidates_rows` of one row): candidates, scores,
    heights, backgrounds and waveforms, or None when there are none."""
    found = candidates_rows(wide[None, :], env[None, :], fs)
    return None if found is None else (found[0], *found[2:])


def _reject_waves(wide: np.ndarray, beats: np.ndarray, row: np.ndarray | None, score: np.ndarray, slope: np.ndarray,
                  background: np.ndarray, fs: float, rule: QrsLikeRule, seg: np.ndarray | None, k: int
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Step 5: P/T waves and noise out by morphology (with timing, never by timing alone);
    ``seg``: the beats' ±60 ms waveforms, when the caller holds them. Returns the kept
    beats and their rows. The morphology (QRS-like, repeated waves) is computed only when
    a timing test names a suspect: it decides about suspects only."""
    if beats.size == 0:
        return beats, row
    # a noisy stretch: its envelope against the typical beat's, and a burst — noisier than the
    # record's usual background (a recording noisy throughout has no stretch to tell apart)
    noisy = (background >= rule.noisy * per_beat(seg_median(slope, row, k), row)) & (
        background >= _BURST_FACTOR * per_beat(seg_median(background, row, k), row))
    looks_qrs = qrs_marks(wide, beats, slope, fs, rule, noisy, seg, row, k)
    # inside the ventricles' refractory period, a wave less than half as steep as its beat is
    # that beat's own tail or T wave, whatever its shape
    keep = ~shallow_neighbours(beats, slope, fs, within_s=_REFRACTORY_ECHO_S, row=row)
    suspect = shallow_neighbours(beats, slope, fs, row=row) & keep
    if suspect.any():
        keep[suspect] = looks_qrs(suspect.nonzero()[0])
    at = keep.nonzero()[0]  # the beats left, as indices of the first ones
    beats, score, noisy = beats[at], score[at], noisy[at]
    row = None if row is None else row[at]
    chunk = int(_SATELLITE_CHUNK_S * fs)  # P/T satellites are judged per 30 s of each row
    if row is None:
        group = None if beats.size == 0 or beats[-1] < chunk else beats // chunk
    else:
        group = row * (wide.shape[1] // chunk + 1) + beats // chunk
    suspect = satellite_suspects(beats, score, fs, group)
    if suspect.any():
        keep = ~suspect
        keep[suspect] = looks_qrs(at[suspect])
        at, beats, score, noisy = at[keep], beats[keep], score[keep], noisy[keep]
        row = None if row is None else row[keep]
    beats, score, marks, row = remove_split_beats_rows(beats, score, lambda sub: looks_qrs(at[sub]), noisy,
                                                       rule.noisy_span, row, k)
    keep = ~weak_edges(score, marks, row, k)
    return beats[keep], None if row is None else row[keep]


def _background(env: np.ndarray, cand: np.ndarray, fs: float) -> np.ndarray:
    """Median envelope over ±1 s around each candidate (:func:`ecg.beat_signal.noise_background`)."""
    return noise_background(env, fs, cand)


def _resolve_conflicts(cand: np.ndarray, score: np.ndarray, near: int) -> tuple[np.ndarray, np.ndarray]:
    """Strongest first: a close, much weaker neighbour of an accepted beat is dropped,
    unless it scores like a typical beat of the recording (:func:`_resolve_rows` of one row)."""
    acc = resolve_rows(cand, None, score, near, 1)
    return cand[acc].astype(np.int64), score[acc].astype(np.float64)


def _locate(wide: np.ndarray, beats: np.ndarray, row: np.ndarray | None, fs: float, k: int
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Step 6: move each beat onto its R wave (largest deflection of its row's dominant
    polarity); returns the beats and their rows (None for one row)."""
    n = wide.shape[1]
    half = max(1, int(_LOCATE_HALF_S * fs))
    win = clip_index(beats[:, None] + _offsets(-half, half + 1, 1)[None, :], n)
    seg = wide[0][win] if row is None else wide.ravel()[win + (row * n)[:, None]]
    wide_half = max(half, int(_LOCATE_BASELINE_HALF_S * fs))
    around = gather(wide, beats, _offsets(-wide_half, wide_half + 1, 2), row)
    seg -= row_median(around)[:, None]  # minus the baseline around the beat (seg: a fresh gather)
    up = max_reduce(seg, axis=1)
    down = -min_reduce(seg, axis=1)
    if row is None:
        polarity = 1.0 if median1d(up) >= median1d(down) else -1.0
        dominant, opposite = (up, down) if polarity > 0 else (down, up)
    else:
        polarity = np.where(seg_median(up, row, k) >= seg_median(down, row, k), 1.0, -1.0)[row]
        dominant = np.where(polarity > 0, up, down)
        opposite = np.where(polarity > 0, down, up)
    sign = np.where(opposite > _FLIP_FACTOR * dominant, -polarity, polarity)
    peaks = win[np.arange(win.shape[0]), (sign[:, None] * seg).argmax(axis=1)].astype(np.int64)
    ordered = peaks[1:] > peaks[:-1]
    if all_reduce(ordered if row is None else ordered | (row[1:] != row[:-1])):
        return peaks, row
    if row is None:
        return np.unique(peaks), None
    key = np.unique(row * (n + 1) + peaks)  # sorted and unique within each row
    return key % (n + 1), key // (n + 1)


all_reduce = np.logical_and.reduce  # ``np.all`` of a 1-D mask (True when empty) without its wrapper


@lru_cache(maxsize=32)
def _offsets(start: int, stop: int, step: int) -> np.ndarray:
    """``np.arange(start, stop, step)`` (cached, read-only)."""
    out = np.arange(start, stop, step)
    out.setflags(write=False)
    return out


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
    return (r[1:] - r[:-1]) * 1000.0 / fs  # np.diff


def median_rr_ms(r_peaks: np.ndarray, fs_hz: float) -> float | None:
    """Median RR interval (ms), or None with fewer than 2 beats.

    Examples
    --------
    >>> median_rr_ms(np.array([0, 300, 570, 900]), 300.0)
    1000.0
    """
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
