"""Delineate every beat of one lead: QRS, then T, then P, then sanity checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .filters import LeadViews, make_views
from .pt import isoelectric_mv, p_wave, t_wave
from .qrs import locate_beats, qrs_bounds

__all__ = ["LeadWaves", "delineate_lead", "WAVE_KEYS", "MISSING"]

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
    mask = np.ones(views.clean_mv.size, dtype=bool)
    pad = int(0.03 * fs)
    for a, b in zip(on, off, strict=True):
        mask[max(a - pad, 0) : b + pad + 1] = False
    resid = (views.clean_mv - views.smooth_mv)[mask]
    if resid.size < int(0.5 * fs):
        return float("inf")
    mad = float(np.median(np.abs(resid - np.median(resid))))
    return 1.4826 * mad


def _qrs_similarity(views: LeadViews, r_peaks: np.ndarray) -> float:
    """Median correlation of ±60 ms windows around the beats with their median."""
    half = int(0.06 * views.fs_hz)
    segs = [views.clean_mv[r - half : r + half + 1] for r in r_peaks if r - half >= 0 and r + half < views.clean_mv.size]
    if len(segs) < 3:
        return 1.0
    m = np.asarray(segs)
    tpl = np.median(m, axis=0)
    corr = [float(np.corrcoef(seg, tpl)[0, 1]) if np.std(seg) > 0 and np.std(tpl) > 0 else 0.0 for seg in m]
    return float(np.median(corr))


def _qrs_all(views: LeadViews, r_peaks: np.ndarray, w: dict[str, np.ndarray]) -> list[float]:
    n = views.clean_mv.size
    amps: list[float] = []
    for i, r in enumerate(r_peaks):
        lo = (int(r_peaks[i - 1]) + int(r)) // 2 if i > 0 else 0
        hi = (int(r) + int(r_peaks[i + 1])) // 2 if i + 1 < r_peaks.size else n - 1
        on, off, _ = qrs_bounds(views, int(r), lo, hi)
        w["qrs_on"][i], w["r_peak"][i], w["qrs_off"][i] = on, r, off
        seg = views.clean_mv[on : off + 1]
        amps.append(float(seg.max() - seg.min()) if seg.size else 0.0)
    return amps


def _rr_s(r_peaks: np.ndarray, i: int, fs: float) -> float:
    if r_peaks.size < 2:
        return 1.0
    if i + 1 < r_peaks.size:
        return float(r_peaks[i + 1] - r_peaks[i]) / fs
    return float(r_peaks[i] - r_peaks[i - 1]) / fs


def _t_windows(views: LeadViews, w: dict[str, np.ndarray]) -> list[tuple[int, int, int, int] | None]:
    """Per beat: ``(qrs_off, start, stop, qrs_on)`` of the T search, or None."""
    fs = views.fs_hz
    n = views.clean_mv.size
    r_peaks = w["r_peak"]
    out: list[tuple[int, int, int, int] | None] = []
    for i in range(r_peaks.size):
        r, on, off = int(r_peaks[i]), int(w["qrs_on"][i]), int(w["qrs_off"][i])
        rr = _rr_s(r_peaks, i, fs)
        start = max(off + int(_T_START_AFTER_QRS_S * fs), r + int(_T_START_AFTER_R_S * fs))
        stop = r + int(min(max(_T_STOP_RR_FRACTION * rr, 0.25), 0.65) * fs)
        if i + 1 < r_peaks.size:
            stop = min(stop, int(w["qrs_on"][i + 1]) - int(0.04 * fs))
        elif stop >= n:
            out.append(None)  # the T wave may run past the end of the record
            continue
        out.append((off, start, min(stop, n - 1), on))
    return out


def _t_all(views: LeadViews, w: dict[str, np.ndarray]) -> None:
    windows = _t_windows(views, w)
    # first pass without preference gives the lead's usual T polarity
    first = [None if win is None else t_wave(views, win[0], win[1], win[2], isoelectric_mv(views, win[3])) for win in windows]
    amps = [t[2] for t in first if t is not None]
    polarity = 0.0
    if amps:
        polarity = 1.0 if np.sum(np.asarray(amps) > 0) >= 0.5 * len(amps) else -1.0
    for i, win in enumerate(windows):
        if win is None:
            continue
        t = t_wave(views, win[0], win[1], win[2], isoelectric_mv(views, win[3]), polarity)
        if t is not None:
            w["t_peak"][i], w["t_off"][i] = t[0], t[1]
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


def _p_all(views: LeadViews, w: dict[str, np.ndarray], qrs_amp: float, noise: float) -> list[float]:
    fs = views.fs_hz
    amps: list[float] = []
    for i in range(w["r_peak"].size):
        on = int(w["qrs_on"][i])
        start = on - int(0.30 * fs)
        if i > 0:
            prev_end = int(w["t_off"][i - 1]) if w["t_off"][i - 1] != MISSING else int(w["qrs_off"][i - 1]) + int(0.25 * fs)
            start = max(start, prev_end + int(0.01 * fs))
        if start < int(0.04 * fs):
            amps.append(0.0)
            continue
        p = p_wave(views, start, on - int(0.03 * fs), isoelectric_mv(views, on))
        if p is None or abs(p[3]) < max(_P_MIN_SNR * noise, _P_MIN_QRS_FRACTION * qrs_amp):
            amps.append(0.0)
            continue
        if p[2] >= on:
            amps.append(0.0)
            continue
        w["p_on"][i], w["p_peak"][i], w["p_off"][i] = p[0], p[1], p[2]
        amps.append(abs(p[3]))
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


def _tp_activity(views: LeadViews, w: dict[str, np.ndarray], p_amps: list[float]) -> str | None:
    """Reject P waves when the T–P stretch holds waves as large (flutter/fibrillation).

    In sinus rhythm the stretch from the end of T to the start of P is flat; flutter
    and coarse fibrillation waves fill it with deflections the size of the "P wave".
    """
    fs = views.fs_hz
    ratios: list[float] = []
    for i in range(1, w["r_peak"].size):
        if w["p_on"][i] == MISSING or w["t_off"][i - 1] == MISSING or p_amps[i] <= 0:
            continue
        lo, hi = int(w["t_off"][i - 1]) + int(0.02 * fs), int(w["p_on"][i]) - int(0.02 * fs)
        if hi - lo < int(_TP_MIN_S * fs):
            continue
        seg = views.smooth_mv[lo : hi + 1]
        ratios.append(float(seg.max() - seg.min()) / p_amps[i])
    if len(ratios) >= 2 and float(np.median(ratios)) > _TP_MAX_RATIO:
        return "waves between T and P as large as the P wave (e.g. atrial flutter or fibrillation)"
    return None


def delineate_lead(x_mv: np.ndarray, fs_hz: float) -> LeadWaves:
    """Delineate every beat of one lead.

    Parameters
    ----------
    x_mv : numpy.ndarray
        One lead, shape ``(n_samples,)``, millivolts, finite (validated by the caller).
    fs_hz : float
        Sample rate, Hz.

    Returns
    -------
    LeadWaves
    """
    views = make_views(x_mv, fs_hz)
    r_peaks, polarity = locate_beats(x_mv, views)
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
