"""Combining leads: global boundaries per beat, frontal QRS axis, V1/V6 morphology."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecg.findings import QrsMorphology

from .filters import StackedViews
from .lead import MISSING, WAVE_KEYS, LeadWaves
from .pt import isoelectric_all
from .vec import masked_argmax, median1d, ranges

__all__ = ["global_waves", "frontal_axis_deg", "qrs_shape", "qrs_shapes", "QrsShape", "lead_index"]

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


def _row_percentile(vals: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the linear-interpolation percentile of the non-NaN values (as
    ``np.percentile`` of those values) and how many there are."""
    count = np.count_nonzero(~np.isnan(vals), axis=1)
    s = np.sort(vals, axis=1)  # NaN last
    pos = q / 100.0 * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    rows = np.arange(vals.shape[0])
    a, b = s[rows, lo], s[rows, hi]
    t = pos - lo
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t), count


def _nearest(r_lead: np.ndarray, r_ref: np.ndarray) -> np.ndarray:
    """Per reference beat, the index of the lead's closest beat (the earlier on a tie)."""
    hi = np.clip(np.searchsorted(r_lead, r_ref), 0, r_lead.size - 1)
    lo = np.maximum(hi - 1, 0)
    return np.where(np.abs(r_lead[lo] - r_ref) <= np.abs(r_lead[hi] - r_ref), lo, hi)


def _matched(usable: list[LeadWaves], r_ref: np.ndarray, tol: int) -> np.ndarray:
    """``(boundary, reference beat, lead)``: each lead's boundaries of its beat nearest to each
    reference beat (:func:`_nearest`, within ``tol`` samples; NaN where none or missing), all
    leads at once: the leads' beats laid end to end, lead ``j``'s at ``j * span`` on."""
    sizes = np.array([lw.n_beats for lw in usable], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    waves = np.stack([np.concatenate([lw.waves[key] for lw in usable]) for key in WAVE_KEYS])
    r_all = waves[WAVE_KEYS.index("r_peak")]
    span = int(max(r_all.max(), r_ref.max())) + 1  # beats of one lead never reach the next lead's keys
    lead = np.repeat(np.arange(len(usable), dtype=np.int64), sizes)
    at = np.arange(len(usable), dtype=np.int64)[:, None]
    found = np.searchsorted(lead * span + r_all, at * span + r_ref[None, :])  # per lead: searchsorted(r_lead, r_ref)
    hi = np.clip(found - starts[:, None], 0, (sizes - 1)[:, None]) + starts[:, None]
    lo = np.maximum(hi - 1, starts[:, None])
    k = np.where(np.abs(r_all[lo] - r_ref) <= np.abs(r_all[hi] - r_ref), lo, hi)  # (lead, reference beat)
    same = np.abs(r_all[k] - r_ref) <= tol
    v = waves[:, k]  # (boundary, lead, reference beat)
    return np.where(same & (v != MISSING), v, np.nan).transpose(0, 2, 1)


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
    out["r_peak"][:] = r_ref
    tol = int(_SAME_BEAT_S * fs_hz)
    usable = [lw for lw in leads if "all" not in lw.reasons and lw.n_beats > 0]
    min_p = max(2, len(usable) // 4)
    stacked = _matched(usable, r_ref, tol)  # boundary × reference beat × lead
    vals: dict[str, np.ndarray] = dict(zip(WAVE_KEYS, stacked))
    rules = {"qrs_on": _GLOBAL_PERCENTILE, "p_on": _GLOBAL_PERCENTILE, "qrs_off": 100.0 - _GLOBAL_PERCENTILE,
             "t_off": 100.0 - _GLOBAL_PERCENTILE, "p_peak": 50.0, "p_off": 50.0, "t_peak": 50.0}
    for key, q in rules.items():
        value, count = _row_percentile(vals[key], q)
        need = min_p if key.startswith("p") else 1
        ok = count >= need
        # extremes are rounded to the nearest sample, peaks truncated (as int(np.median(...)))
        value = np.round(value) if q != 50.0 else np.trunc(value)
        out[key][ok] = value[ok].astype(np.int64)
    return out


@dataclass(frozen=True)
class QrsShape:
    """Median QRS amplitudes of one lead relative to the isoelectric level."""

    morphology: QrsMorphology
    peak_sum_mv: float  # largest positive + largest negative deflection (net amplitude)


def qrs_shape(lw: LeadWaves, glob: dict[str, np.ndarray]) -> QrsShape | None:
    """Morphology of one lead inside the global QRS boundaries, or None."""
    return qrs_shapes([lw], glob)[0]


def qrs_shapes(leads: list[LeadWaves], glob: dict[str, np.ndarray]) -> list[QrsShape | None]:
    """:func:`qrs_shape` of several leads of one recording in one pass (the same global
    boundaries in every lead; lead by lead the same arithmetic)."""
    out: list[QrsShape | None] = [None] * len(leads)
    on, off = glob["qrs_on"], glob["qrs_off"]
    ok = (on != MISSING) & (off != MISSING) & (off - on >= 3)
    use = [j for j, lw in enumerate(leads) if lw.views is not None and "all" not in lw.reasons]
    if not ok.any() or not use:
        return out
    on, off = on[ok], off[ok]
    sv, row = StackedViews.of([leads[j].views for j in use])  # type: ignore[misc]
    nb = on.size
    base = np.repeat(row * sv.n_samples, nb)
    on_all, off_all = np.tile(on, len(use)), np.tile(off, len(use))
    iso = isoelectric_all(sv, on_all, base)  # the median over the 20 ms before each onset
    idx, valid = ranges(on_all, off_all - on_all + 1, sv.n_samples, base=base)
    seg = sv.flat("clean_mv")[idx] - iso[:, None]
    pos = np.maximum(np.where(valid, seg, -np.inf).max(axis=1), 0.0)
    neg = np.minimum(np.where(valid, seg, np.inf).min(axis=1), 0.0)
    order = (masked_argmax(seg, valid) > masked_argmax(-seg, valid)).astype(np.float64)
    for g, j in enumerate(use):
        beats = slice(g * nb, (g + 1) * nb)
        p, n = median1d(pos[beats]), median1d(neg[beats])
        out[j] = QrsShape(QrsMorphology(p, n, bool(np.mean(order[beats]) > 0.5)), p + n)
    return out

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
