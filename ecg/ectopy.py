"""Premature beats (PVC / PAC) from beat timing and QRS morphology.

A beat is *premature* when its RR interval is shorter than ``PREMATURE_RATIO`` times
the larger of the recording's median RR and the RR that follows it (the compensatory
pause), which keeps bigeminy from hiding its premature beats. Its QRS is compared
with the dominant beat (sample-wise median of the beats that are not premature) by
correlation, averaged over the leads:

- premature with a different QRS (correlation < ``PVC_MAX_CORR``) or a wide one, or a
  clearly different QRS (correlation < ``PVC_ANY_CORR``) followed by a pause
  → premature ventricular complex (PVC);
- premature with the dominant QRS (correlation ≥ ``PAC_MIN_CORR``) and an RR under
  ``PAC_RATIO`` times the reference (sinus arrhythmia rarely shortens that much) →
  premature atrial complex (PAC).

Beats closer than ``MIN_COUPLING_S`` to the previous one (detector errors), or with an
amplitude far from the dominant beat's, are not classified. Nothing is reported when
the dominant beats disagree among themselves (median correlation < ``CLEAN_MIN_CORR``:
noise) or with fewer than ``MIN_BEATS`` beats. In atrial fibrillation every beat looks
"premature": :meth:`Ectopy.findings` then keeps the PVCs only. These are screening
statements for a clinician to confirm.

:func:`find_ectopy_in` takes the analysis contexts of a recording (:mod:`ecg.context`):
the leads' 0.5–40 Hz views and the rhythm lead's R peaks, computed once, are reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecg.context import LeadContext
from ecg.filters import zero_phase
from ecg.findings import Finding

PREMATURE_RATIO = 0.85
PVC_MAX_CORR = 0.80
PVC_ANY_CORR = 0.75
PAC_MIN_CORR = 0.90
PAC_RATIO = 0.80
WIDE_QRS_MS = 120.0
MIN_BEATS = 6
SUDDEN_RATIO = 0.90
PAUSE_RATIO = 1.15
MIN_COUPLING_S = 0.24
CLEAN_MIN_CORR = 0.90
_WINDOW_S = (0.08, 0.12)  # QRS window around the QRS energy peak: before, after
_ALIGN_S = 0.03  # beats are aligned on the template within this shift
_SEARCH_S = (0.15, 0.05)  # QRS energy peak searched this far before/after the detector's mark


@dataclass(frozen=True)
class Ectopy:
    """Premature beats found: sample indices of their QRS energy peaks."""

    n_beats: int
    pvc: tuple[int, ...]
    pac: tuple[int, ...]

    def findings(self, *, atrial_fibrillation: bool = False) -> list[Finding]:
        """The premature beats as :class:`ecg.findings.Finding` (codes ``pvc``, ``pac``).

        With ``atrial_fibrillation`` (the rhythm decided for the recording) only PVCs are
        reported: a premature atrial beat means nothing without a regular sinus rhythm.
        """
        out = []
        for code, name, beats in (
            ("pvc", "Premature ventricular complexes", self.pvc),
            ("pac", "Premature atrial complexes", () if atrial_fibrillation else self.pac),
        ):
            if beats:
                out.append(Finding(
                    code=code,
                    label=f"{name}: {len(beats)} of {self.n_beats} beats",
                    value=float(len(beats)),
                    unit="beats",
                    threshold=PREMATURE_RATIO,
                    source="RR < 0.85 x median RR; QRS correlation with the dominant beat",
                ))
        return out


def find_ectopy(
    signals_mv: np.ndarray, fs_hz: float, r_peaks: np.ndarray, qrs_ms: list[float | None] | None = None
) -> Ectopy:
    """Classify premature beats.

    Parameters
    ----------
    signals_mv : np.ndarray
        Shape ``(n_samples, n_leads)`` (or 1-D), band-passed, millivolts.
    fs_hz : float
        Sample rate.
    r_peaks : np.ndarray
        R-peak sample indices, sorted (from any detector: each beat is re-centred on
        its QRS energy peak, and reported there).
    qrs_ms : list, optional
        QRS width per beat (None when unknown), aligned with *r_peaks*.

    Returns
    -------
    Ectopy

    Examples
    --------
    >>> fs = 300.0
    >>> x = np.zeros(int(20 * fs))
    >>> peaks = np.arange(150, x.size - 150, 300)
    >>> for p in peaks: x[p - 5:p + 6] += np.hanning(11)
    >>> find_ectopy(x, fs, peaks).pvc
    ()
    """
    x = np.asarray(signals_mv, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    r = _qrs_centres(x, fs_hz, np.asarray(r_peaks, dtype=np.int64))
    before, after = int(_WINDOW_S[0] * fs_hz), int(_WINDOW_S[1] * fs_hz)
    shift = max(1, int(_ALIGN_S * fs_hz))
    keep = (r - before - shift >= 0) & (r + after + shift < x.shape[0])
    if qrs_ms is not None:
        qrs_ms = [w for w, k in zip(qrs_ms, keep) if k]
    r = r[keep]
    if r.size < MIN_BEATS:
        return Ectopy(int(r.size), (), ())
    rr = np.diff(r).astype(np.float64)
    median_rr = float(np.median(rr))
    reference = np.fmax(median_rr, np.concatenate([rr, [median_rr]]))  # usual RR or the pause after
    premature = _premature(rr, reference)
    paused = np.concatenate([rr, [0.0]]) > PAUSE_RATIO * median_rr
    plausible = np.concatenate([[False], rr >= MIN_COUPLING_S * fs_hz])
    dominant = ~premature
    windows = _windows(x, r, before, after)
    template = np.median(windows[dominant] if dominant.sum() >= 3 else windows, axis=0)
    padded = _windows(x, r, before + shift, after + shift)  # one extraction, then shifted views
    span = before + after + 1
    corr = _best_shift_correlation(padded, template, span)
    if np.median(corr[dominant]) < CLEAN_MIN_CORR:  # beats disagree among themselves: noise
        return Ectopy(int(r.size), (), ())
    ratio = np.ptp(windows, axis=1).mean(axis=1) / max(float(np.ptp(template, axis=0).mean()), 1e-9)
    wide = np.array([w is not None and float(w) >= WIDE_QRS_MS for w in qrs_ms]) if qrs_ms is not None else False
    judged = plausible & (ratio >= 0.5) & (ratio <= 4.0)
    is_pvc = judged & ((premature & ((corr < PVC_MAX_CORR) | wide)) | ((corr < PVC_ANY_CORR) & paused))
    rr_in = np.concatenate([[np.inf], rr])  # the RR ending at each beat
    is_pac = judged & ~is_pvc & premature & (corr >= PAC_MIN_CORR) & (rr_in < PAC_RATIO * reference)
    return Ectopy(int(r.size), tuple(int(v) for v in r[is_pvc]), tuple(int(v) for v in r[is_pac]))


def find_ectopy_in(contexts: Sequence[LeadContext], rhythm_lead: int = 0) -> Ectopy:
    """:func:`find_ectopy` on the analysis contexts of one recording (one per lead, same rate).

    Uses each lead's 0.5–40 Hz view and the R peaks of ``contexts[rhythm_lead]``, all
    computed once per lead and shared with screening and measurement.
    """
    if not contexts:
        raise ValueError("find_ectopy_in needs at least one lead context")
    fs = contexts[0].fs_hz
    if any(c.fs_hz != fs or c.n_samples != contexts[0].n_samples for c in contexts):
        raise ValueError("the lead contexts of one recording must share rate and length")
    wide = np.column_stack([c.wide_mv for c in contexts])
    return find_ectopy(wide, fs, contexts[rhythm_lead].r_peaks)


def _premature(rr: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per beat: its RR is short against *reference* (the usual RR or the following
    pause) and shorter than the RR before it (a sudden, not gradual, shortening)."""
    rr_prev = np.concatenate([[np.inf], rr])
    rr_before = np.concatenate([[np.inf, np.inf], rr[:-1]])
    return (rr_prev < PREMATURE_RATIO * reference) & (rr_prev < SUDDEN_RATIO * rr_before)


def _qrs_centres(x: np.ndarray, fs_hz: float, r_peaks: np.ndarray) -> np.ndarray:
    """Move each beat's fiducial to the peak of its QRS energy (5-20 Hz, all leads)
    found from ``_SEARCH_S[0]`` before to ``_SEARCH_S[1]`` after the detector's mark
    (detectors tend to mark wide beats late), so beats are timed and compared alike."""
    if r_peaks.size == 0 or x.shape[0] < 64:
        return r_peaks
    band = zero_phase(x, 2, (5.0, min(20.0, 0.45 * fs_hz)), "bandpass", float(fs_hz), axis=0)
    energy = (band**2).sum(axis=1)
    width = max(1, int(0.04 * fs_hz))
    energy = np.convolve(energy, np.ones(width) / width, mode="same")
    search_before, search_after = int(_SEARCH_S[0] * fs_hz), int(_SEARCH_S[1] * fs_hz)
    lo = np.maximum(r_peaks - search_before, 0)
    hi = np.minimum(r_peaks + search_after + 1, x.shape[0])
    k = np.arange(search_before + search_after + 1)
    valid = k[None, :] < (hi - lo)[:, None]
    values = np.where(valid, energy[np.minimum(lo[:, None] + k[None, :], x.shape[0] - 1)], -np.inf)
    return np.unique(lo + np.argmax(values, axis=1))


def _windows(x: np.ndarray, r: np.ndarray, before: int, after: int) -> np.ndarray:
    """QRS windows, mean removed: shape (beats, samples, leads)."""
    index = r[:, None] + np.arange(-before, after + 1)[None, :]
    return _centred(x[index])


def _centred(windows: np.ndarray) -> np.ndarray:
    return windows - windows.mean(axis=1, keepdims=True)


def _best_shift_correlation(padded: np.ndarray, template: np.ndarray, span: int) -> np.ndarray:
    """Per beat, the best over shifts of :func:`_correlation` of its ``span``-sample window
    with the template (every shift in one call)."""
    win = np.lib.stride_tricks.sliding_window_view(padded, span, axis=1)  # (beats, shifts, leads, span)
    win = win - win.mean(axis=3, keepdims=True)
    num = np.einsum("bklt,tl->bkl", win, template)
    den = np.sqrt(np.einsum("bklt,bklt->bkl", win, win) * np.einsum("tl,tl->l", template, template))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(den > 0, num / den, 0.0)
    return corr.mean(axis=2).max(axis=1)
