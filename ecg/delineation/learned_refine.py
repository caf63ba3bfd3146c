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

import numpy as np

from .filters import StackedViews
from .lead import MISSING
from .pt import isoelectric_all
from .vec import Rows, ranges

__all__ = ["P_ON_MODES", "T_OFF_MODES", "refine_p_on", "refine_t_off"]

#: P-onset modes: the network's own, the criteria, or their mean with the network's
P_ON_MODES = ("net", "tangent", "mean_tangent", "threshold", "mean_threshold")
#: T-end modes
T_OFF_MODES = ("net", "tangent", "mean_tangent", "threshold", "mean_threshold")
#: how far beyond the network's boundary the limb is searched (s)
_REACH_S = 0.04
#: how far from the network's boundary a criterion's boundary may land (s)
_MAX_SHIFT_S = 0.08
#: threshold criterion: fraction of the steepest rising slope
_P_THRESHOLD_FRACTION = 0.3
#: threshold criterion: fraction of the steepest falling slope (the rule delineator's T end)
_T_THRESHOLD_FRACTION = 0.45


def _limb(sv: StackedViews, base: np.ndarray, lo: np.ndarray, hi: np.ndarray, sign: np.ndarray,
          steepest: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the steepest slope of ``sign * smooth_mv`` over ``[lo, hi]``: ``"rise"`` the
    largest, ``"fall"`` the most negative. Returns ``(ok, position, level, slope)``: the
    position (fractional sample, between the two samples of the difference), the signal
    there (mV) and the slope (mV per sample, not multiplied by ``sign``)."""
    idx, valid = ranges(lo, hi - lo + 1, sv.n_samples, base=base)
    x = sv.flat("smooth_mv")[idx]
    d = np.diff(x, axis=1) * sign[:, None]
    ok_d = valid[:, 1:]
    score = np.where(ok_d, d if steepest == "rise" else -d, -np.inf)
    if score.shape[1] == 0:
        z = np.zeros(lo.size)
        return np.zeros(lo.size, dtype=bool), z, z, z
    j = np.argmax(score, axis=1)
    rows = np.arange(lo.size)
    best = score[rows, j]
    ok = np.isfinite(best) & (best > 0)
    level = (x[rows, j] + x[rows, j + 1]) / 2.0
    slope = d[rows, j] * sign
    return ok, lo + j + 0.5, level, slope


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


def refine_t_off(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], mode: str) -> None:
    """T ends in ``w`` by ``mode`` (:data:`T_OFF_MODES`), from each T wave's peak
    (``w["t_peak"]``) on the network's T wave; in place."""
    if mode == "net":
        return
    if mode not in T_OFF_MODES:
        raise ValueError(f"unknown T-end mode {mode!r}")
    fs, n = sv.fs_hz, sv.n_samples
    sel = np.flatnonzero((w["t_off"] != MISSING) & (w["t_peak"] != MISSING) & (w["t_peak"] < w["t_off"]))
    if sel.size == 0:
        return
    base = rows.base[sel]
    iso = isoelectric_all(sv, w["qrs_on"][sel], base)
    peak = w["t_peak"][sel]
    sign = np.where(sv.flat("smooth_mv")[base + peak] >= iso, 1.0, -1.0)
    hi = np.minimum(w["t_off"][sel] + int(_REACH_S * fs), n - 1)
    ok, pos, level, slope = _limb(sv, base, peak, hi, sign, "fall")
    if mode.endswith("tangent"):
        found = np.where(ok, _tangent(pos, level, slope, iso), np.nan)
    else:
        found = np.where(ok, _walk_on(sv, base, pos, hi, -sign, -slope * sign), np.nan)
    found = np.where(found > peak, found, np.nan)
    _apply(w, "t_off", sel, found, mode, _MAX_SHIFT_S * fs)


def refine_p_on(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], mode: str) -> None:
    """P onsets in ``w`` by ``mode`` (:data:`P_ON_MODES`), from each P wave's peak
    (``w["p_peak"]``) on the network's P wave; in place."""
    if mode == "net":
        return
    if mode not in P_ON_MODES:
        raise ValueError(f"unknown P-onset mode {mode!r}")
    fs = sv.fs_hz
    sel = np.flatnonzero((w["p_on"] != MISSING) & (w["p_peak"] != MISSING) & (w["p_peak"] > w["p_on"]))
    if sel.size == 0:
        return
    base = rows.base[sel]
    iso = isoelectric_all(sv, w["qrs_on"][sel], base)
    peak = w["p_peak"][sel]
    sign = np.where(sv.flat("smooth_mv")[base + peak] >= iso, 1.0, -1.0)
    lo = np.maximum(w["p_on"][sel] - int(_REACH_S * fs), 0)
    ok, pos, level, slope = _limb(sv, base, lo, peak, sign, "rise")
    if mode.endswith("tangent"):
        found = np.where(ok, _tangent(pos, level, slope, iso), np.nan)
    else:
        found = np.where(ok, _walk_back(sv, base, lo, pos, sign, slope * sign), np.nan)
    found = np.where(found < peak, found, np.nan)
    _apply(w, "p_on", sel, found, mode, _MAX_SHIFT_S * fs)


def _walk_back(sv: StackedViews, base: np.ndarray, lo: np.ndarray, pos: np.ndarray, sign: np.ndarray,
               steepest: np.ndarray) -> np.ndarray:
    """Per row, walking back from the steepest rise at ``pos`` (of ``sign * smooth_mv``;
    ``steepest`` > 0: that rise per sample) to ``lo``: the sample after the last one whose
    rise falls below :data:`_P_THRESHOLD_FRACTION` of it (NaN when none does)."""
    start = np.floor(pos).astype(np.int64)  # the difference's first sample
    idx, valid = ranges(lo, start - lo + 2, sv.n_samples, base=base)
    x = sv.flat("smooth_mv")[idx]
    d = np.diff(x, axis=1) * sign[:, None]  # d[:, k] = rise from lo + k to lo + k + 1
    ok = valid[:, 1:]
    below = ok & (d < _P_THRESHOLD_FRACTION * steepest[:, None])
    k = np.arange(d.shape[1])[None, :]
    before = below & (k < (start - lo)[:, None])
    last = d.shape[1] - 1 - np.argmax(before[:, ::-1], axis=1)
    return np.where(before.any(axis=1), lo + last + 1.0, np.nan)


def _walk_on(sv: StackedViews, base: np.ndarray, pos: np.ndarray, hi: np.ndarray, sign: np.ndarray,
             steepest: np.ndarray) -> np.ndarray:
    """Per row, walking on from the steepest rise at ``pos`` (of ``sign * smooth_mv``;
    ``steepest`` > 0: that rise per sample) to ``hi``: the first sample whose rise falls below
    :data:`_T_THRESHOLD_FRACTION` of it (NaN when none does)."""
    start = np.floor(pos).astype(np.int64)  # the difference's first sample
    idx, valid = ranges(start, hi - start + 1, sv.n_samples, base=base)
    x = sv.flat("smooth_mv")[idx]
    d = np.diff(x, axis=1) * sign[:, None]  # d[:, k] = rise from start + k to start + k + 1
    k = np.arange(d.shape[1])[None, :]
    below = valid[:, 1:] & (k >= 1) & (d < _T_THRESHOLD_FRACTION * steepest[:, None])
    first = np.argmax(below, axis=1)
    return np.where(below.any(axis=1), start + first.astype(np.float64), np.nan)
