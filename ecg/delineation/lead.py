"""Delineate every beat of one lead: QRS, then T, then P, then sanity checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .filters import LeadViews
from .pt import isoelectric_all, p_waves, t_waves
from .qrs import locate_beats, qrs_bounds_all
from .vec import masked_ptp

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["LeadWaves", "delineate_lead", "delineate_context", "WAVE_KEYS", "MISSING"]

#: per-beat keys, in order
WAVE_KEYS = ("p_on", "p_peak", "p_off", "qrs_on", "r_peak", "qrs_off", "t_peak", "t_off")
#: marker of an absent boundary inside the integer arrays
MISSING = -1

#: a P wave must exceed this many noise SDs and this fraction of the QRS amplitude
_P_MIN_SNR = 2.0
_P_MIN_QRS_FRACTION = 0.015
#: P waves are reported only if at least this fraction of beats has one...
_P_MIN_BEAT_FRACTION = 0.6
#: ...and at least this fraction of them lies within ±_P_STEADY_BAND_S of the median
#: P-peak-to-QRS distance (the others are dropped)
_P_MIN_STEADY_FRACTION = 0.5
_P_STEADY_BAND_S = 0.03
#: T search window: from this long after the QRS offset and after the R peak (s) to
#: this fraction of the RR interval after the R peak (kept within 0.25–0.65 s)
_T_START_AFTER_QRS_S = 0.04
_T_START_AFTER_R_S = 0.15
_T_STOP_RR_FRACTION = 0.7
#: a T wave whose QT differs from the record's median QT by more than this is dropped, s
_T_MAX_QT_DEVIATION_S = 0.06
#: T–P stretch: judged when at least this long (s); P waves rejected if its
#: peak-to-peak range exceeds this multiple of the P amplitude (median over beats)
_TP_MIN_S = 0.08
_TP_MAX_RATIO = 1.0
#: QRS peak-to-peak amplitude below which nothing is measured, mV
MIN_QRS_MV = 0.05
#: QRS amplitude over noise SD below which nothing is measured
MIN_QRS_SNR = 12.0
#: median correlation of QRS complexes with their median below which beats are taken
#: for noise (real beats of one rhythm look alike, ectopics are a minority)
MIN_QRS_CORR = 0.7


@dataclass
class LeadWaves:
    """Per-beat sample indices of one lead (``MISSING`` where absent) and notes.

    Attributes
    ----------
    waves : dict
        ``WAVE_KEYS`` → int64 array, one entry per beat.
    fs_hz : float
    polarity : float
        +1 if the QRS is mainly positive, else -1.
    qrs_amplitude_mv : float
        Median QRS peak-to-peak amplitude.
    noise_mv : float
        Robust SD of the high-frequency residual outside QRS complexes.
    reasons : dict
        Keys ``"p"``, ``"qrs"``, ``"t"`` or ``"all"`` → why that wave is missing in
        every beat.
    views : LeadViews
    """

    waves: dict[str, np.ndarray]
    fs_hz: float
    polarity: float
    qrs_amplitude_mv: float
    noise_mv: float
    reasons: dict[str, str] = field(default_factory=dict)
    views: LeadViews | None = None

    @property
    def n_beats(self) -> int:
        return int(self.waves["r_peak"].size)


def _empty(n: int) -> dict[str, np.ndarray]:
    return {k: np.full(n, MISSING, dtype=np.int64) for k in WAVE_KEYS}


def _noise_mv(views: LeadViews, on: np.ndarray, off: np.ndarray) -> float:
    fs = views.fs_hz
    n = views.clean_mv.size
    pad = int(0.03 * fs)
    edges = np.zeros(n + 1, dtype=np.int64)  # +1 where a QRS span starts, -1 after it ends
    np.add.at(edges, np.clip(on - pad, 0, n), 1)
    np.add.at(edges, np.clip(off + pad + 1, 0, n), -1)
    mask = np.cumsum(edges[:-1]) == 0
    resid = (views.clean_mv - views.smooth_mv)[mask]
    if resid.size < int(0.5 * fs):
        return float("inf")
    mad = float(np.median(np.abs(resid - np.median(resid))))
    return 1.4826 * mad


def _qrs_similarity(views: LeadViews, r_peaks: np.ndarray) -> float:
    """Median correlation of ±60 ms windows around the beats with their median."""
    half = int(0.06 * views.fs_hz)
    inner = r_peaks[(r_peaks - half >= 0) & (r_peaks + half < views.clean_mv.size)]
    if inner.size < 3:
        return 1.0
    m = views.clean_mv[inner[:, None] + np.arange(-half, half + 1)[None, :]]
    tpl = np.median(m, axis=0)
    mc = m - m.mean(axis=1, keepdims=True)
    tc = tpl - tpl.mean()
    den = np.sqrt((mc * mc).sum(axis=1) * float(tc @ tc))
    ok = (m.std(axis=1) > 0) & (np.std(tpl) > 0) & (den > 0)
    corr = np.where(ok, (mc @ tc) / np.where(ok, den, 1.0), 0.0)
    return float(np.median(corr))


def _qrs_all(views: LeadViews, r_peaks: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """QRS onset/offset of every beat into ``w``; returns each QRS's peak-to-peak amplitude."""
    n = views.clean_mv.size
    mid = (r_peaks[:-1] + r_peaks[1:]) // 2
    lo = np.concatenate(([0], mid))
    hi = np.concatenate((mid, [n - 1]))
    on, off, _ = qrs_bounds_all(views, r_peaks, lo, hi)
    w["qrs_on"][:], w["r_peak"][:], w["qrs_off"][:] = on, r_peaks, off
    return masked_ptp(views.clean_mv, on, off)


def _t_windows(views: LeadViews, w: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per beat ``(start, stop, usable)`` of the T search window."""
    fs = views.fs_hz
    n = views.clean_mv.size
    r = w["r_peak"]
    rr_s = np.ones(r.size)
    if r.size >= 2:
        gaps = np.diff(r) / fs
        rr_s = np.concatenate((gaps, gaps[-1:]))  # the last beat takes the RR before it
    start = np.maximum(w["qrs_off"] + int(_T_START_AFTER_QRS_S * fs), r + int(_T_START_AFTER_R_S * fs))
    stop = r + (np.minimum(np.maximum(_T_STOP_RR_FRACTION * rr_s, 0.25), 0.65) * fs).astype(np.int64)
    usable = np.ones(r.size, dtype=bool)
    if r.size:
        stop[:-1] = np.minimum(stop[:-1], w["qrs_on"][1:] - int(0.04 * fs))
        usable[-1] = stop[-1] < n  # the T wave may run past the end of the record
    return start, np.minimum(stop, n - 1), usable


def _t_all(views: LeadViews, w: dict[str, np.ndarray]) -> None:
    start, stop, usable = _t_windows(views, w)
    start, stop = start[usable], stop[usable]
    iso = isoelectric_all(views, w["qrs_on"][usable])
    # first pass without preference gives the lead's usual T polarity
    first = t_waves(views, start, stop, iso)
    amps = first.amplitude_mv[first.found]
    polarity = 0.0
    if amps.size:
        polarity = 1.0 if np.sum(amps > 0) >= 0.5 * amps.size else -1.0
    t = t_waves(views, start, stop, iso, polarity)
    sel = np.flatnonzero(usable)[t.found]
    w["t_peak"][sel], w["t_off"][sel] = t.peak[t.found], t.offset[t.found]
    _drop_odd_t(w, views.fs_hz)


def _drop_odd_t(w: dict[str, np.ndarray], fs: float) -> None:
    """Drop T waves whose QT is far from the record's median QT (another wave was taken).

    Within one short recording QT changes little from beat to beat; a T end far from
    the others was set on noise or a different lobe, and is better left out.
    """
    has = w["t_off"] != MISSING
    if has.sum() < 4:
        return
    qt = (w["t_off"] - w["qrs_on"]) / fs
    odd = has & (np.abs(qt - float(np.median(qt[has]))) > _T_MAX_QT_DEVIATION_S)
    w["t_peak"][odd] = MISSING
    w["t_off"][odd] = MISSING


def _p_all(views: LeadViews, w: dict[str, np.ndarray], qrs_amp: float, noise: float) -> np.ndarray:
    """P waves of every beat into ``w``; returns each beat's P amplitude (0 without one)."""
    fs = views.fs_hz
    on = w["qrs_on"]
    start = on - int(0.30 * fs)
    if on.size > 1:
        t_off, qrs_off = w["t_off"][:-1], w["qrs_off"][:-1]
        prev_end = np.where(t_off != MISSING, t_off, qrs_off + int(0.25 * fs))
        start[1:] = np.maximum(start[1:], prev_end + int(0.01 * fs))
    amps = np.zeros(on.size)
    tried = np.flatnonzero(start >= int(0.04 * fs))
    if tried.size == 0:
        return amps
    p = p_waves(views, start[tried], on[tried] - int(0.03 * fs), isoelectric_all(views, on[tried]))
    keep = p.found & (np.abs(p.amplitude_mv) >= max(_P_MIN_SNR * noise, _P_MIN_QRS_FRACTION * qrs_amp))
    keep &= p.offset < on[tried]
    sel = tried[keep]
    w["p_on"][sel], w["p_peak"][sel], w["p_off"][sel] = p.onset[keep], p.peak[keep], p.offset[keep]
    amps[sel] = np.abs(p.amplitude_mv[keep])
    return amps


def _check_p_consistency(w: dict[str, np.ndarray], fs: float) -> str | None:
    has = w["p_on"] != MISSING
    n = w["r_peak"].size
    # beats too close to the record start have no P window: judge only the others
    eligible = n - int(np.sum((w["qrs_on"] < int(0.34 * fs))))
    if eligible <= 0 or has.sum() < max(2, _P_MIN_BEAT_FRACTION * eligible):
        return "no P wave found before most QRS complexes (e.g. atrial fibrillation or flutter)"
    pr = (w["qrs_on"] - w["p_peak"]) / fs
    dev = np.abs(pr - float(np.median(pr[has])))
    steady = has & (dev <= _P_STEADY_BAND_S)
    if steady.sum() < max(2, _P_MIN_STEADY_FRACTION * has.sum(), _P_MIN_BEAT_FRACTION * 0.8 * eligible):
        return "P-like waves at a varying distance from the QRS (no steady P wave, e.g. atrial fibrillation)"
    for k in ("p_on", "p_peak", "p_off"):  # the few off the steady P-QRS distance are something else
        w[k][has & ~steady] = MISSING
    return None


def _tp_activity(views: LeadViews, w: dict[str, np.ndarray], p_amps: np.ndarray) -> str | None:
    """Reject P waves when the T–P stretch holds waves as large (flutter/fibrillation).

    In sinus rhythm the stretch from the end of T to the start of P is flat; flutter
    and coarse fibrillation waves fill it with deflections the size of the "P wave".
    """
    fs = views.fs_hz
    t_off, p_on = w["t_off"][:-1], w["p_on"][1:]
    lo, hi = t_off + int(0.02 * fs), p_on - int(0.02 * fs)
    sel = (p_on != MISSING) & (t_off != MISSING) & (p_amps[1:] > 0) & (hi - lo >= int(_TP_MIN_S * fs))
    if np.count_nonzero(sel) < 2:
        return None
    ratios = masked_ptp(views.smooth_mv, lo[sel], hi[sel]) / p_amps[1:][sel]
    if float(np.median(ratios)) > _TP_MAX_RATIO:
        return "waves between T and P as large as the P wave (e.g. atrial flutter or fibrillation)"
    return None


def delineate_lead(x_mv: np.ndarray, fs_hz: float) -> LeadWaves:
    """Delineate every beat of one lead (builds a fresh analysis context).

    Parameters
    ----------
    x_mv : numpy.ndarray
        One lead, shape ``(n_samples,)``, millivolts, finite.
    fs_hz : float
        Sample rate, Hz.

    Returns
    -------
    LeadWaves
    """
    from ecg.context import LeadContext

    return delineate_context(LeadContext.of(x_mv, fs_hz))


def delineate_context(ctx: LeadContext) -> LeadWaves:
    """The rule-based delineator (the default :data:`ecg.context.Delineator`): every beat
    of the context's lead, from its R peaks and filtered views."""
    views = ctx.views
    fs_hz = ctx.fs_hz
    r_peaks, polarity = locate_beats(ctx.r_peaks, views)
    w = _empty(r_peaks.size)
    if r_peaks.size == 0:
        return LeadWaves(w, fs_hz, polarity, 0.0, float("inf"), {"all": "no QRS complex detected"}, views)
    amps = _qrs_all(views, r_peaks, w)
    qrs_amp = float(np.median(amps))
    noise = _noise_mv(views, w["qrs_on"], w["qrs_off"])
    reasons: dict[str, str] = {}
    if qrs_amp < MIN_QRS_MV:
        reasons["all"] = f"QRS amplitude {qrs_amp:.3f} mV below {MIN_QRS_MV} mV: too low to measure"
    elif noise > 0 and qrs_amp / noise < MIN_QRS_SNR:
        reasons["all"] = f"too noisy: QRS amplitude only {qrs_amp / noise:.1f} x the noise"
    elif (corr := _qrs_similarity(views, r_peaks)) < MIN_QRS_CORR:
        reasons["all"] = f"too noisy: detected beats are not alike (median correlation {corr:.2f})"
    if "all" in reasons:
        return LeadWaves(_empty(r_peaks.size), fs_hz, polarity, qrs_amp, noise, reasons, views)
    _t_all(views, w)
    p_amps = _p_all(views, w, qrs_amp, noise)
    why_no_p = _check_p_consistency(w, fs_hz) or _tp_activity(views, w, p_amps)
    if why_no_p is not None:
        for k in ("p_on", "p_peak", "p_off"):
            w[k][:] = MISSING
        reasons["p"] = why_no_p
    return LeadWaves(w, fs_hz, polarity, qrs_amp, noise, reasons, views)
