"""Combining leads: global boundaries per beat, frontal QRS axis, V1/V6 morphology."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecg.findings import QrsMorphology

from .lead import MISSING, WAVE_KEYS, LeadWaves

__all__ = ["global_waves", "frontal_axis_deg", "qrs_shape", "QrsShape", "lead_index"]

#: a beat of another lead is the same beat if its main deflection is this close, s
_SAME_BEAT_S = 0.10


def lead_index(names: tuple[str, ...], wanted: str) -> int | None:
    """Column of a lead by case-insensitive name, or None."""
    low = [n.strip().lower() for n in names]
    return low.index(wanted.lower()) if wanted.lower() in low else None


def _reference_lead(names: tuple[str, ...], leads: list[LeadWaves]) -> int | None:
    usable = [j for j, lw in enumerate(leads) if "all" not in lw.reasons and lw.n_beats > 0]
    if not usable:
        return None
    ii = lead_index(names, "ii")
    if ii is not None and ii in usable:
        return ii
    return max(usable, key=lambda j: leads[j].qrs_amplitude_mv / max(leads[j].noise_mv, 1e-9))


#: global onsets take this percentile of the leads' onsets, offsets its complement: an
#: early/late boundary seen in several leads, without one lead's outlier deciding
_GLOBAL_PERCENTILE = 25.0


def _robust_extreme(values: list[int], earliest: bool) -> int:
    q = _GLOBAL_PERCENTILE if earliest else 100.0 - _GLOBAL_PERCENTILE
    return int(round(float(np.percentile(values, q))))


def global_waves(names: tuple[str, ...], leads: list[LeadWaves], fs_hz: float) -> dict[str, np.ndarray]:
    """Per-beat boundaries combined over leads (``MISSING`` where absent).

    Beats follow the reference lead (II if usable, else the cleanest lead). Onsets of
    QRS and P take the 25th percentile over leads, offsets of QRS and T the 75th;
    peaks take the median. A P wave
    counts only if at least a quarter of the usable leads (and two) show it.
    """
    ref = _reference_lead(names, leads)
    if ref is None:
        return {k: np.zeros(0, dtype=np.int64) for k in WAVE_KEYS}
    r_ref = leads[ref].waves["r_peak"]
    out = {k: np.full(r_ref.size, MISSING, dtype=np.int64) for k in WAVE_KEYS}
    tol = int(_SAME_BEAT_S * fs_hz)
    usable = [lw for lw in leads if "all" not in lw.reasons and lw.n_beats > 0]
    min_p = max(2, len(usable) // 4)
    for i, r in enumerate(r_ref):
        vals: dict[str, list[int]] = {k: [] for k in WAVE_KEYS}
        for lw in usable:
            k = int(np.argmin(np.abs(lw.waves["r_peak"] - r)))
            if abs(int(lw.waves["r_peak"][k]) - int(r)) > tol:
                continue
            for key in WAVE_KEYS:
                v = int(lw.waves[key][k])
                if v != MISSING:
                    vals[key].append(v)
        out["r_peak"][i] = r
        for key in ("qrs_on", "p_on"):
            if vals[key] and (key != "p_on" or len(vals[key]) >= min_p):
                out[key][i] = _robust_extreme(vals[key], earliest=True)
        for key in ("qrs_off", "t_off"):
            if vals[key]:
                out[key][i] = _robust_extreme(vals[key], earliest=False)
        for key in ("p_peak", "p_off", "t_peak"):
            if vals[key] and (not key.startswith("p") or len(vals[key]) >= min_p):
                out[key][i] = int(np.median(vals[key]))
    return out


@dataclass(frozen=True)
class QrsShape:
    """Median QRS amplitudes of one lead relative to the isoelectric level."""

    morphology: QrsMorphology
    peak_sum_mv: float  # largest positive + largest negative deflection (net amplitude)


def qrs_shape(lw: LeadWaves, glob: dict[str, np.ndarray]) -> QrsShape | None:
    """Morphology of one lead inside the global QRS boundaries, or None."""
    if lw.views is None or "all" in lw.reasons:
        return None
    x = lw.views.clean_mv
    pos, neg, order = [], [], []
    for on, off in zip(glob["qrs_on"], glob["qrs_off"], strict=True):
        if on == MISSING or off == MISSING or off - on < 3:
            continue
        iso = float(np.median(lw.views.smooth_mv[max(on - int(0.02 * lw.fs_hz), 0) : on + 1]))
        seg = x[on : off + 1] - iso
        pos.append(max(float(seg.max()), 0.0))
        neg.append(min(float(seg.min()), 0.0))
        order.append(float(np.argmax(seg) > np.argmin(seg)))
    if not pos:
        return None
    p, n = float(np.median(pos)), float(np.median(neg))
    return QrsShape(QrsMorphology(p, n, bool(np.mean(order) > 0.5)), p + n)


def frontal_axis_deg(lead_i: QrsShape | None, lead_avf: QrsShape | None, lead_ii: QrsShape | None) -> float | None:
    """Frontal QRS axis in degrees (−180, 180] from net deflections.

    Lead I sees E·cos θ and aVF sees E·(√3/2)·sin θ, so θ = atan2(2·aVF/√3, I). Without
    aVF it is derived as aVF = II − I/2 (Einthoven).
    """
    if lead_i is None:
        return None
    if lead_avf is not None:
        avf = lead_avf.peak_sum_mv
    elif lead_ii is not None:
        avf = lead_ii.peak_sum_mv - lead_i.peak_sum_mv / 2.0
    else:
        return None
    i = lead_i.peak_sum_mv
    if i == 0.0 and avf == 0.0:
        return None
    return math.degrees(math.atan2(2.0 * avf / math.sqrt(3.0), i))
