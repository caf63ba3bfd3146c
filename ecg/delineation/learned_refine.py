"""Rule refinement of the learned delineator's P onsets and T ends at the recording's rate.

The segmenter labels samples at 125 Hz (8 ms apart) and learns where cardiologists put
boundaries from one database; two classic slope criteria, applied at the recording's own
rate on the smoothed signal (``smooth_mv``), may place a boundary better on the network's
own wave:

- **tangent** (T end: the tangent method of Lepeschkin & Surawicz; P onset: its mirror):
  the tangent at the steepest point of the wave's outer limb — the T wave's descending
  limb after its peak, the P wave's rising limb before its peak — meets the isoelectric
  level (the PR segment, :func:`ecg.delineation.pt.isoelectric_all`) at the boundary;
- **threshold** (P onset, as in wavelet delineators, Martínez et al. 2004): walking back
  from the steepest point of the rising limb, the first sample where the slope falls
  below a fraction of that steepest slope.

``"mean_*"`` modes average the network's boundary with the criterion's. A criterion that
finds no limb of the expected sign, or lands outside a window around the network's
boundary, leaves the network's boundary. Which mode ships is chosen by nested
cross-validation by record (``benchmarks/delineation_nested.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .filters import StackedViews
from .lead import MISSING
from .pt import P_ON_FRACTION, T_END_FRACTION, isoelectric_all
from .vec import Rows, ranges

__all__ = ["P_ON_MODES", "T_OFF_MODES", "P_ALIGN_MODES", "refine_p_on", "refine_t_off", "align_p_on", "isoelectric"]

#: P-onset modes: the network's own, the criteria, or their mean with the network's
P_ON_MODES = ("net", "tangent", "mean_tangent", "threshold", "mean_threshold")
#: T-end modes
T_OFF_MODES = ("net", "tangent", "mean_tangent", "threshold", "mean_threshold")
#: P-onset alignment modes (:func:`align_p_on`): none, the aligned onset, or its mean with the onset
P_ALIGN_MODES = ("none", "xcorr", "mean_xcorr")
#: half-width of the P-wave window compared with the lead's mean P wave (s; a P wave lasts ≤ 120 ms)
_P_HALF_S = 0.06
#: largest shift of a beat's P wave against the lead's mean P wave (s)
_P_LAG_S = 0.04
#: a lead's P onsets are aligned only with at least this many P waves
_P_ALIGN_MIN = 3

#: how far beyond the network's boundary the limb is searched (s)
_REACH_S = 0.04
#: how far from the network's boundary a criterion's boundary may land (s)
_MAX_SHIFT_S = 0.08


class _Limb(NamedTuple):
    """Per row, the steepest difference of ``sign * smooth_mv`` over ``[lo, hi]``."""

    ok: np.ndarray  # a difference of the expected sign exists
    j: np.ndarray  # its column in ``d``
    pos: np.ndarray  # its position: fractional sample, between its two samples
    level: np.ndarray  # the signal there (mV)
    slope: np.ndarray  # its slope (mV per sample, not multiplied by ``sign``)
    d: np.ndarray  # rows of differences of ``sign * smooth_mv``: ``d[:, k]`` from ``lo + k`` to ``lo + k + 1``
    valid: np.ndarray  # where ``d`` lies inside ``[lo, hi]``


def _limb(sv: StackedViews, base: np.ndarray, lo: np.ndarray, hi: np.ndarray, sign: np.ndarray,
          steepest: str) -> _Limb:
    """The steepest ``"rise"`` (largest difference) or ``"fall"`` (most negative) of
    ``sign * smooth_mv`` over ``[lo, hi]``, per row."""
    idx, valid = ranges(lo, hi - lo + 1, sv.n_samples, base=base)
    x = sv.flat("smooth_mv")[idx]
    d = np.diff(x, axis=1) * sign[:, None]
    ok_d = valid[:, 1:]
    if d.shape[1] == 0:
        z = np.zeros(lo.size)
        return _Limb(np.zeros(lo.size, dtype=bool), np.zeros(lo.size, dtype=np.int64), z, z, z, d, ok_d)
    score = np.where(ok_d, d if steepest == "rise" else -d, -np.inf)
    j = np.argmax(score, axis=1)
    rows = np.arange(lo.size)
    best = score[rows, j]
    ok = np.isfinite(best) & (best > 0)
    level = (x[rows, j] + x[rows, j + 1]) / 2.0
    return _Limb(ok, j, lo + j + 0.5, level, d[rows, j] * sign, d, ok_d)


def _tangent(pos: np.ndarray, level: np.ndarray, slope: np.ndarray, iso: np.ndarray) -> np.ndarray:
    """Where the tangent through ``(pos, level)`` with ``slope`` meets ``iso``."""
    return pos + (iso - level) / np.where(slope != 0, slope, np.inf)


def _apply(w: dict[str, np.ndarray], key: str, sel: np.ndarray, found: np.ndarray, mode: str,
           limit: float) -> None:
    """Write the criterion's boundaries ``found`` (fractional samples, rows ``sel``) into
    ``w[key]`` per ``mode``; those farther than ``limit`` samples from the network's stay."""
    net = w[key][sel].astype(np.float64)
    good = np.isfinite(found) & (np.abs(found - net) <= limit)
    value = found if not mode.startswith("mean_") else (found + net) / 2.0
    w[key][sel[good]] = np.rint(value[good]).astype(np.int64)


def isoelectric(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray]) -> np.ndarray:
    """Each beat's isoelectric level (the PR segment before its QRS onset), the level the
    criteria read (:func:`ecg.delineation.pt.isoelectric_all`)."""
    return isoelectric_all(sv, w["qrs_on"], rows.base)


def refine_t_off(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], mode: str,
                 iso: np.ndarray | None = None) -> None:
    """T ends in ``w`` by ``mode`` (:data:`T_OFF_MODES`), from each T wave's peak
    (``w["t_peak"]``) on the network's T wave; in place (``iso``: :func:`isoelectric`)."""
    if mode == "net":
        return
    if mode not in T_OFF_MODES:
        raise ValueError(f"unknown T-end mode {mode!r}")
    fs, n = sv.fs_hz, sv.n_samples
    sel = np.flatnonzero((w["t_off"] != MISSING) & (w["t_peak"] != MISSING) & (w["t_peak"] < w["t_off"]))
    if sel.size == 0:
        return
    base = rows.base[sel]
    level = (isoelectric(sv, rows, w) if iso is None else iso)[sel]
    peak = w["t_peak"][sel]
    sign = np.where(sv.flat("smooth_mv")[base + peak] >= level, 1.0, -1.0)
    hi = np.minimum(w["t_off"][sel] + int(_REACH_S * fs), n - 1)
    limb = _limb(sv, base, peak, hi, sign, "fall")
    if mode.endswith("tangent"):
        found = np.where(limb.ok, _tangent(limb.pos, limb.level, limb.slope, level), np.nan)
    else:
        found = np.where(limb.ok, peak + _fall_ends(limb), np.nan)
    found = np.where(found > peak, found, np.nan)
    _apply(w, "t_off", sel, found, mode, _MAX_SHIFT_S * fs)


def refine_p_on(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], mode: str,
                iso: np.ndarray | None = None) -> None:
    """P onsets in ``w`` by ``mode`` (:data:`P_ON_MODES`), from each P wave's peak
    (``w["p_peak"]``) on the network's P wave; in place (``iso``: :func:`isoelectric`)."""
    if mode == "net":
        return
    if mode not in P_ON_MODES:
        raise ValueError(f"unknown P-onset mode {mode!r}")
    fs = sv.fs_hz
    sel = np.flatnonzero((w["p_on"] != MISSING) & (w["p_peak"] != MISSING) & (w["p_peak"] > w["p_on"]))
    if sel.size == 0:
        return
    base = rows.base[sel]
    level = (isoelectric(sv, rows, w) if iso is None else iso)[sel]
    peak = w["p_peak"][sel]
    sign = np.where(sv.flat("smooth_mv")[base + peak] >= level, 1.0, -1.0)
    lo = np.maximum(w["p_on"][sel] - int(_REACH_S * fs), 0)
    limb = _limb(sv, base, lo, peak, sign, "rise")
    if mode.endswith("tangent"):
        found = np.where(limb.ok, _tangent(limb.pos, limb.level, limb.slope, level), np.nan)
    else:
        found = np.where(limb.ok, lo + _rise_starts(limb), np.nan)
    found = np.where(found < peak, found, np.nan)
    _apply(w, "p_on", sel, found, mode, _MAX_SHIFT_S * fs)


def _rise_starts(limb: _Limb) -> np.ndarray:
    """Per row, walking back from the steepest rise: the sample after the last difference
    whose rise falls below :data:`~ecg.delineation.pt.P_ON_FRACTION` (the rule
    delineator's P-onset fraction) of the steepest (columns of the limb; NaN when none
    does)."""
    steepest = limb.d[np.arange(limb.j.size), limb.j] if limb.d.shape[1] else np.zeros(limb.j.size)
    k = np.arange(limb.d.shape[1])[None, :]
    before = limb.valid & (k < limb.j[:, None]) & (limb.d < P_ON_FRACTION * steepest[:, None])
    last = limb.d.shape[1] - 1 - np.argmax(before[:, ::-1], axis=1)
    return np.where(before.any(axis=1), last + 1.0, np.nan)


def _fall_ends(limb: _Limb) -> np.ndarray:
    """Per row, walking on from the steepest fall: the first difference whose fall drops
    below :data:`~ecg.delineation.pt.T_END_FRACTION` (the rule delineator's T-end
    fraction) of the steepest (its first sample, a column of the limb; NaN when none
    does)."""
    fall = -limb.d
    steepest = fall[np.arange(limb.j.size), limb.j] if fall.shape[1] else np.zeros(limb.j.size)
    k = np.arange(fall.shape[1])[None, :]
    below = limb.valid & (k > limb.j[:, None]) & (fall < T_END_FRACTION * steepest[:, None])
    first = np.argmax(below, axis=1)
    return np.where(below.any(axis=1), first.astype(np.float64), np.nan)


def align_p_on(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], mode: str) -> None:
    """P onsets in ``w`` placed the same way within every P wave of a lead (``mode``:
    :data:`P_ALIGN_MODES`); in place.

    Per lead, the mean of its P waves (``smooth_mv``, ±:data:`_P_HALF_S` around each
    ``p_peak``, each less its own mean) is the template; each beat's P wave is aligned to
    it by the shift (within ±:data:`_P_LAG_S`) of largest correlation; its onset becomes its
    aligned position plus the lead's median (onset − aligned position). The onset follows
    the beat's own P wave, so PR changes between beats are kept; only where within the wave
    the onset lies is shared by the lead's beats. ``"mean_xcorr"`` averages that with the
    beat's onset. Leads with fewer than :data:`_P_ALIGN_MIN` P waves keep theirs.
    """
    if mode == "none":
        return
    if mode not in P_ALIGN_MODES:
        raise ValueError(f"unknown P-alignment mode {mode!r}")
    sel = np.flatnonzero((w["p_on"] != MISSING) & (w["p_peak"] != MISSING))
    lead = rows.lead[sel]
    enough = rows.count((w["p_on"] != MISSING) & (w["p_peak"] != MISSING)) >= _P_ALIGN_MIN
    sel, lead = sel[enough[lead]], lead[enough[lead]]
    if sel.size == 0:
        return
    half, lag = int(round(_P_HALF_S * sv.fs_hz)), int(round(_P_LAG_S * sv.fs_hz))
    width = 2 * half + 1
    idx, _ = ranges(w["p_peak"][sel] - half - lag, np.full(sel.size, width + 2 * lag), sv.n_samples,
                    base=rows.base[sel])
    seg = sv.flat("smooth_mv")[idx]  # (beats, width + 2 lag), clipped at the lead's ends
    shifted = np.lib.stride_tricks.sliding_window_view(seg, width, axis=1)  # (beats, 2 lag + 1, width)
    shifted = shifted - shifted.mean(axis=2, keepdims=True)
    centre = shifted[:, lag]
    template = np.zeros((rows.n_leads, width))
    np.add.at(template, lead, centre)
    template = template[lead] - template[lead].mean(axis=1, keepdims=True)
    num = np.einsum("bkw,bw->bk", shifted, template)
    den = np.sqrt(np.einsum("bkw,bkw->bk", shifted, shifted)) * np.sqrt(np.sum(template**2, axis=1))[:, None]
    corr = np.where(den > 0, num / np.where(den > 0, den, 1.0), -np.inf)
    aligned = w["p_peak"][sel] + np.argmax(corr, axis=1) - lag
    offset = w["p_on"][sel] - aligned
    sub = Rows(lead, rows.base[sel], rows.n_leads)
    found = aligned + sub.median(offset.astype(np.float64))[lead]
    value = found if mode == "xcorr" else (found + w["p_on"][sel]) / 2.0
    w["p_on"][sel] = np.clip(np.rint(value).astype(np.int64), 0, w["p_peak"][sel] - 1)
