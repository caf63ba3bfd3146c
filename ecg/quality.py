"""Signal quality: can this recording be read at all?

:func:`assess` returns a :class:`Quality` whose ``readable`` is False when any of these
holds (the ``reasons`` list names each one found):

==========================  =========================================================
reason                      rule
==========================  =========================================================
``non_finite``              any NaN or infinite sample
``too_short``               shorter than :data:`MIN_DURATION_S` (5 s)
``flat``                    whole-trace 1st–99th percentile range < 0.05 mV
``lead_off``                ≥ 1 s stretches flat (range < 0.02 mV) or stuck at the
                            rails cover > 10 % of the trace (electrode contact lost)
``clipped``                 > 1 % of samples at the trace's min/max in runs of ≥ 3
                            (ADC saturation)
``implausible_amplitude``   1st–99th percentile range of the 0.5–40 Hz signal > 10 mV
``high_frequency_noise``    power above 40 Hz > 50 % of the 0.5–40 Hz power (muscle,
                            mains)
``implausible_heart_rate``  fewer than 2 beats, or median heart rate < 25 or > 220 bpm
``irregular_morphology``    median correlation of beats with their median template
                            < 0.6 (beats are not alike: noise taken for beats)
``no_distinct_qrs``         QRS envelope (RMS slope, 5–30 Hz) at the beats < 2 × its
                            median over the trace (no sharp complexes: noise, a
                            smooth wave, or an electrode picking up motion only)
``implausible_morphology``  the "beats" are steps, not complexes: on the median beat
                            (±100 ms, beats grouped by the sign of their net level
                            change, 10 ms smoothing) the steepest slope of one sign is
                            < 0.08 × the steepest of the other. A QRS rises and falls;
                            a square or sawtooth wave only jumps. (Lowest real values:
                            0.11 in 1,439 otherwise-readable CinC 2017 records, 0.26 in
                            954 LUDB leads; square waves ≤ 0.07 at 125–1000 Hz;
                            ``benchmarks/quality_slope_balance.py``.) Or the median
                            beat's net level change over ±100 ms is > 0.8 of its
                            whole swing: it jumps and stays (noisy square waves can
                            reach a balance of 0.08; their share is ≥ 0.90, real
                            beats' ≤ 0.43 in 1,495 readable CinC 2017 records and
                            ≤ 0.64 in 1,912 readable LUDB leads; same script).
==========================  =========================================================

These thresholds are set from physiology and hardware facts (ECG amplitudes 0.1–5 mV,
QRS band below 40 Hz, heart rates 25–220 bpm), not fitted to a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ecg.delineation.vec import max_reduce, median1d, min_reduce, row_median
from ecg.errors import SignalError
from ecg.io import validate_fs
from ecg.quality_signal import percentile_range, signal_measures

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["Quality", "assess", "assess_context", "assess_many", "MIN_DURATION_S"]

#: Shortest readable recording (s).
MIN_DURATION_S = 5.0

_FLAT_RANGE_MV = 0.05
_LEAD_OFF_FRACTION = 0.10
_CLIP_FRACTION = 0.01
_MAX_RANGE_MV = 10.0
_HF_RATIO = 0.5
_HR_MIN_BPM = 25.0
_HR_MAX_BPM = 220.0
_MIN_TEMPLATE_CORR = 0.6
_MIN_QRS_PROMINENCE = 2.0
_MIN_SLOPE_BALANCE = 0.08
_SLOPE_HALF_WINDOW_S = 0.1
_MAX_STEP_SHARE = 0.8


@dataclass(frozen=True)
class Quality:
    """Result of :func:`assess`.

    Attributes
    ----------
    readable : bool
        False when any reason was found.
    reasons : list of str
        Codes of the problems found (see the module table); empty when readable.
    duration_s : float
    n_beats : int
        R peaks found (0 when not computed).
    heart_rate_bpm : float or None
    clipped_fraction : float
        Fraction of samples in saturated runs.
    lead_off_fraction : float
        Fraction of the trace in flat or railed ≥ 1 s stretches.
    hf_noise_ratio : float or None
        Power above 40 Hz over power in 0.5–40 Hz (None when fs ≤ 90 Hz).
    template_corr : float or None
        Median correlation of beats with the median beat.
    qrs_prominence : float or None
        Median QRS envelope at the beats over its median over the whole trace.
    """

    readable: bool
    reasons: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    n_beats: int = 0
    heart_rate_bpm: float | None = None
    clipped_fraction: float = 0.0
    lead_off_fraction: float = 0.0
    hf_noise_ratio: float | None = None
    template_corr: float | None = None
    qrs_prominence: float | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (floats rounded to 4 decimals)."""
        out: dict[str, object] = {}
        for k in _QUALITY_FIELDS:  # ``dataclasses.asdict`` without its recursion (a tenth of the cost)
            v = getattr(self, k)
            out[k] = round(v, 4) if isinstance(v, float) else list(v) if isinstance(v, list) else v
        return out


#: :class:`Quality`'s field names in order (the keys of :meth:`Quality.to_dict`)
_QUALITY_FIELDS = tuple(f.name for f in fields(Quality))


@lru_cache(maxsize=16)
def _offsets(half: int) -> np.ndarray:
    """``np.arange(-half, half + 1)`` (read-only, once per half-width)."""
    offsets = np.arange(-half, half + 1)
    offsets.setflags(write=False)
    return offsets


@lru_cache(maxsize=16)
def _box(width: int) -> np.ndarray:
    """The ``width``-sample moving-average kernel ``np.ones(width) / width`` (read-only)."""
    kernel = np.ones(width) / width
    kernel.setflags(write=False)
    return kernel


def _template_corr(wide: np.ndarray, peaks: np.ndarray, fs: float) -> float | None:
    half = int(0.1 * fs)
    inner = peaks[(peaks >= half) & (peaks < wide.size - half)]
    if inner.size < 3:
        return None
    beats = wide[inner[:, None] + _offsets(half)]  # a fresh array: changed in place below
    beats -= np.add.reduce(beats, axis=1, keepdims=True) / beats.shape[1]  # minus beats.mean(axis=1)
    template = _column_median(beats)
    num = beats @ template
    den = np.sqrt(np.add.reduce(beats * beats, axis=1)) * np.sqrt(template.dot(template))  # np.linalg.norm's
    positive = den > 0
    if min_reduce(positive):  # the usual case: no flat beat
        return median1d(num / den)
    return median1d(np.where(positive, num / np.where(positive, den, 1.0), 0.0))


def _step_shape(x: np.ndarray, peaks: np.ndarray, fs: float) -> tuple[float, float] | None:
    """Slope balance and step share of the median beat (±100 ms): ``(balance, step)``.

    Beats are grouped by the sign of their net level change (a square wave's up and down
    edges apart); each group of ≥ 3 beats gives a median beat (unfiltered signal: a
    band-pass would ring after a step). ``balance`` is min(rise, fall) / max(rise, fall) of
    its steepest slopes (10 ms moving average: noise averages out), ``step`` its net level
    change over its whole swing; the most complex-like group counts for each. Real QRS
    complexes, even wide ones with a slow return, rise and fall and come back towards their
    baseline; a square or sawtooth wave only jumps and stays.
    """
    half = int(_SLOPE_HALF_WINDOW_S * fs)
    inner = peaks[(peaks > half) & (peaks < x.size - half - 1)]
    if inner.size < 3 or half < 2:
        return None
    beats = x[inner[:, None] + _offsets(half)]
    net = _net_change(beats, max(1, int(0.02 * fs)))
    kernel = _box(max(1, int(round(0.01 * fs))))
    best: tuple[float, float] | None = None
    rising = net >= 0
    n_rising = int(np.count_nonzero(rising))
    for up, count in ((True, n_rising), (False, net.size - n_rising)):
        if count < 3:
            continue
        group = rising if up else ~rising  # ~rising: net < 0 (no NaN)
        median_beat = _column_median(beats if count == net.size else beats[group])
        smooth = np.convolve(median_beat, kernel, mode="valid")
        slopes = smooth[1:] - smooth[:-1]  # np.diff
        rise, fall = float(max_reduce(slopes)), float(-min_reduce(slopes))
        balance = min(rise, fall) / max(rise, fall) if max(rise, fall) > 0 else 0.0
        swing = float(max_reduce(median_beat) - min_reduce(median_beat))
        step = abs(float(median1d(net if count == net.size else net[group]))) / swing if swing > 0 else 1.0
        best = (balance, step) if best is None else (max(best[0], balance), min(best[1], step))
    return best


def _column_median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=0)`` of a 2-D array without NaN: the middle order statistics of
    each column, as :func:`row_median` of ``a.T`` (same values, no transposed copy)."""
    k = a.shape[0]
    lo, hi = (k - 1) // 2, k // 2
    part = a.copy()
    part.partition((lo, hi) if hi != lo else lo, axis=0)
    return (part[lo] + part[hi]) / 2.0


def _net_change(beats: np.ndarray, edge: int) -> np.ndarray:
    """Per beat (row), the median of its last ``edge`` samples minus that of its first
    ``edge``: both medians in one call (:func:`row_median` is row by row)."""
    ends = np.concatenate((beats[:, -edge:], beats[:, :edge]), axis=1).reshape(-1, edge)
    medians = row_median(ends)
    return medians[0::2] - medians[1::2]


def _prominence(env: np.ndarray, peaks: np.ndarray, base: float) -> float | None:
    """Median QRS envelope at the beats over ``base``, the envelope's median over the trace."""
    if peaks.size == 0:
        return None
    if base <= 0:
        return None
    at_beats = env[peaks[peaks < env.size]]
    return float(median1d(at_beats) / base) if at_beats.size else float("nan")


def assess(sig_mv: np.ndarray, fs_hz: float, *, r_peaks: np.ndarray | None = None) -> Quality:
    """Assess whether a single-lead ECG can be read.

    Parameters
    ----------
    sig_mv : numpy.ndarray
        One lead in mV, shape ``(n_samples,)`` or ``(n_samples, 1)``.
    fs_hz : float
        Sample rate (Hz).
    r_peaks : numpy.ndarray, optional
        R peaks already found by :func:`ecg.beats.detect_r_peaks` (saves time).

    Returns
    -------
    Quality

    Raises
    ------
    SignalError
        Impossible ``fs_hz`` or more than one lead (a caller error, not a bad signal).

    Examples
    --------
    >>> import numpy as np
    >>> assess(np.zeros(3000), 300.0).reasons
    ['flat', 'lead_off', 'implausible_heart_rate']
    """
    from ecg.context import LeadContext

    fs = validate_fs(fs_hz)
    x = np.asarray(sig_mv, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise SignalError(f"expected one lead (1-D), got shape {x.shape}", reason="bad_shape")
    if x.size == 0 or not np.all(np.isfinite(x)):
        reasons = ["non_finite"] if x.size else ["too_short"]
        return Quality(readable=False, reasons=reasons, duration_s=x.size / fs)
    ctx = LeadContext.of(x, fs)
    if r_peaks is not None:
        ctx.provide("r_peaks", np.asarray(r_peaks, dtype=np.int64))
    return assess_context(ctx)


def assess_context(ctx: LeadContext) -> Quality:
    """:func:`assess` on an analysis context (its filtered view and R peaks are reused)."""
    return assess_many([ctx])[0]


def assess_many(contexts: list[LeadContext]) -> list[Quality]:
    """:func:`assess_context` of the leads of one recording (same rate and length): the
    signal-wide measures of all leads in one pass, row by row the same arithmetic."""
    ctx0 = contexts[0]
    fs, duration_s = ctx0.fs_hz, ctx0.duration_s
    sm = signal_measures(_rows([c.signal_mv for c in contexts]), fs)
    out = []
    for j, ctx in enumerate(contexts):
        by_beats = duration_s >= 1.0 and sm.varies[j]  # the leads judged by their beats
        wide_range = percentile_range(ctx.wide_mv) if by_beats else float("nan")
        env_median = median1d(ctx.qrs_envelope) if by_beats else float("nan")  # np.median
        sw = _SignalWide(sm.range_mv[j], float(sm.clipped_fraction[j]), sm.lead_off_fraction[j],
                         sm.hf_noise_ratio[j], wide_range, env_median)
        out.append(_judge(ctx, sw, sm.varies[j]))
    return out


def _rows(arrays: list[np.ndarray]) -> np.ndarray:
    """Equal-length 1-D arrays as the rows of one C-contiguous array (one array: a view)."""
    return np.ascontiguousarray(arrays[0])[None, :] if len(arrays) == 1 else np.stack(arrays)


class _SignalWide(NamedTuple):
    """One lead's signal-wide measures (:func:`assess_many`)."""

    range_mv: float
    clipped_fraction: float
    lead_off: float
    hf: float | None
    wide_range_mv: float
    env_median: float


def _judge(ctx: LeadContext, sw: _SignalWide, varies: bool) -> Quality:
    """One lead's :class:`Quality` from its signal-wide measures and its beats."""
    x, fs = ctx.signal_mv, ctx.fs_hz
    duration_s = ctx.duration_s
    reasons: list[str] = []
    if duration_s < MIN_DURATION_S:
        reasons.append("too_short")
    if sw.range_mv < _FLAT_RANGE_MV:
        reasons.append("flat")
    if sw.lead_off > _LEAD_OFF_FRACTION:
        reasons.append("lead_off")
    if sw.clipped_fraction > _CLIP_FRACTION and "flat" not in reasons:
        reasons.append("clipped")
    n_beats, hr, corr, prominence, shape = 0, None, None, None, None
    if duration_s >= 1.0 and varies:
        if sw.wide_range_mv > _MAX_RANGE_MV:
            reasons.append("implausible_amplitude")
        if sw.hf is not None and sw.hf > _HF_RATIO:
            reasons.append("high_frequency_noise")
        peaks = ctx.r_peaks
        n_beats = int(peaks.size)
        hr = ctx.heart_rate_bpm
        corr = _template_corr(ctx.wide_mv, peaks, fs)
        prominence = _prominence(ctx.qrs_envelope, peaks, sw.env_median)
        shape = _step_shape(x, peaks, fs)
    if hr is None or not _HR_MIN_BPM <= hr <= _HR_MAX_BPM:
        reasons.append("implausible_heart_rate")
    if corr is not None and corr < _MIN_TEMPLATE_CORR:
        reasons.append("irregular_morphology")
    if prominence is not None and prominence < _MIN_QRS_PROMINENCE:
        reasons.append("no_distinct_qrs")
    if shape is not None and (shape[0] < _MIN_SLOPE_BALANCE or shape[1] > _MAX_STEP_SHARE):
        reasons.append("implausible_morphology")
    return Quality(
        readable=not reasons,
        reasons=reasons,
        duration_s=duration_s,
        n_beats=n_beats,
        heart_rate_bpm=hr,
        clipped_fraction=sw.clipped_fraction,
        lead_off_fraction=sw.lead_off,
        hf_noise_ratio=sw.hf,
        template_corr=corr,
        qrs_prominence=prominence,
    )
