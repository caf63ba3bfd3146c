"""The rule delineator on the beats of several leads at once.

Each step of :mod:`ecg.delineation.lead` runs once over the beats of every lead of a
recording (one 12-lead record: one numpy call per step instead of twelve): the beats
are rows grouped by lead, each row carries the offset of its lead in the stacked views
(:class:`ecg.delineation.filters.StackedViews`), and what the rules judge per lead
(QRS amplitude, noise, T polarity, median QT and PR, T–P activity) comes from
per-lead reductions over those rows. Row by row the arithmetic is that of one lead
delineated alone, so a lead gets the same boundaries whichever leads it is batched with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .filters import LeadViews, StackedViews
from .lead import (
    _P_MIN_BEAT_FRACTION,
    _P_MIN_QRS_FRACTION,
    _P_MIN_SNR,
    _P_MIN_STEADY_FRACTION,
    _P_STEADY_BAND_S,
    _T_MAX_QT_DEVIATION_S,
    _T_START_AFTER_QRS_S,
    _T_START_AFTER_R_S,
    _T_STOP_RR_FRACTION,
    _TP_MAX_RATIO,
    _TP_MIN_S,
    MIN_QRS_CORR,
    MIN_QRS_MV,
    MIN_QRS_SNR,
    MISSING,
    LeadWaves,
    WAVE_KEYS,
    _empty,
)
from .pt import isoelectric_all, p_waves, t_ends, t_prefer, t_search, t_turns
from .qrs import locate_many, qrs_bounds_all
from .vec import Rows, any_reduce, clip_index, median1d, range_ptp, row_median, window_rows

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["delineate_many", "Rows", "check_p_consistency", "drop_odd_t", "tp_activity"]


def _shift(a: np.ndarray, by: int) -> np.ndarray:
    """``a`` moved by one row (``by`` = +1: each row gets the previous row's value)."""
    if a.size == 0:
        return a.copy()
    return np.concatenate((a[:1], a[:-1])) if by > 0 else np.concatenate((a[1:], a[-1:]))


def _qrs_all(sv: StackedViews, rows: Rows, r: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """QRS onset/offset of every beat into ``w``; returns each QRS's peak-to-peak amplitude."""
    n = sv.n_samples
    lo = np.where(rows.first, 0, (_shift(r, 1) + r) // 2)
    hi = np.where(rows.last, n - 1, (r + _shift(r, -1)) // 2)
    on, off, _ = qrs_bounds_all(sv, rows.base, r, lo, hi)
    w["qrs_on"][:], w["r_peak"][:], w["qrs_off"][:] = on, r, off
    return range_ptp(sv.flat("clean_mv"), rows.base + on, rows.base + off)  # clean_mv's range over [on, off]


def _noise_mv(sv: StackedViews, rows: Rows, stack_row: np.ndarray, on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Per lead, the robust SD of the high-frequency residual outside the QRS complexes
    (inf when too little of it is left)."""
    fs = sv.fs_hz
    n = sv.n_samples
    pad = int(0.03 * fs)
    # per lead, +1 where a QRS span starts, -1 after it ends (counts: the same integers as np.add.at)
    at = rows.lead * (n + 1)
    edges = np.bincount(at + clip_index(on - pad, n + 1), minlength=rows.n_leads * (n + 1))
    edges -= np.bincount(at + clip_index(off + pad + 1, n + 1), minlength=rows.n_leads * (n + 1))
    outside = np.cumsum(edges.reshape(rows.n_leads, n + 1)[:, :-1], axis=1) == 0
    out = np.full(rows.n_leads, np.inf)
    for j in np.flatnonzero(rows.count() > 0):
        k = stack_row[j]
        resid = (sv.clean_mv[k] - sv.smooth_mv[k])[outside[j]]
        if resid.size >= int(0.5 * fs):
            out[j] = 1.4826 * median1d(np.abs(resid - median1d(resid)))
    return out


def _t_windows(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per beat ``(start, stop, usable)`` of the T search window."""
    fs = sv.fs_hz
    n = sv.n_samples
    r = w["r_peak"]
    first, last = rows.first, rows.last
    # the RR after each beat; the last beat of a lead takes the RR before it (1 s alone)
    rr_s = np.where(~last, (_shift(r, -1) - r) / fs, np.where(~first, (r - _shift(r, 1)) / fs, 1.0))
    start = np.maximum(w["qrs_off"] + int(_T_START_AFTER_QRS_S * fs), r + int(_T_START_AFTER_R_S * fs))
    stop = r + (np.minimum(np.maximum(_T_STOP_RR_FRACTION * rr_s, 0.25), 0.65) * fs).astype(np.int64)
    stop = np.where(last, stop, np.minimum(stop, _shift(w["qrs_on"], -1) - int(0.04 * fs)))
    usable = ~last | (stop < n)  # the T wave may run past the end of the record
    return start, np.minimum(stop, n - 1), usable


def _t_all(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], iso: np.ndarray) -> None:
    """T waves of every beat into ``w`` (``iso``: each beat's isoelectric level)."""
    start, stop, usable = _t_windows(sv, rows, w)
    u = usable.nonzero()[0]
    start, stop, base, lead = start[u], stop[u], rows.base[u], rows.lead[u]
    search = t_search(sv, base, start, stop, iso[u])
    if search is None:
        drop_odd_t(w, sv.fs_hz, rows)
        return
    # first pass without preference gives each lead's usual T polarity
    turns = t_turns(search, stop, search.k)
    found = np.bincount(lead[turns.found], minlength=rows.n_leads)
    positive = np.bincount(lead[turns.found & (turns.amplitude_mv > 0)], minlength=rows.n_leads)
    polarity = np.where(found == 0, 0.0, np.where(positive >= 0.5 * found, 1.0, -1.0))
    # the second pass, with it: only the beats whose peak it moves differ from the first;
    # the offsets (row by row) are searched once, after both
    k = t_prefer(search, polarity[lead])
    redo = (k != search.k).nonzero()[0]
    if redo.size:
        turns = turns.put(redo, t_turns(search.take(redo), stop[redo], k[redo]))
    t = t_ends(search, stop, turns)
    sel = u[t.found]
    w["t_peak"][sel], w["t_off"][sel] = t.peak[t.found], t.offset[t.found]
    drop_odd_t(w, sv.fs_hz, rows)


def drop_odd_t(w: dict[str, np.ndarray], fs: float, rows: Rows | None = None) -> None:
    """Drop T waves whose QT is far from their lead's median QT (another wave was taken).

    Within one short recording QT changes little from beat to beat; a T end far from
    the others was set on noise or a different lobe, and is better left out.
    """
    rows = rows or _one_lead(w)
    has = w["t_off"] != MISSING
    qt = (w["t_off"] - w["qrs_on"]) / fs
    median = rows.median(qt, has)
    enough = rows.count(has) >= 4
    with np.errstate(invalid="ignore"):
        odd = has & enough[rows.lead] & (np.abs(qt - median[rows.lead]) > _T_MAX_QT_DEVIATION_S)
    w["t_peak"][odd] = MISSING
    w["t_off"][odd] = MISSING


def _p_all(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], qrs_amp: np.ndarray,
           noise: np.ndarray, iso: np.ndarray) -> np.ndarray:
    """P waves of every beat into ``w`` (``iso``: each beat's isoelectric level); returns
    each beat's P amplitude (0 without one)."""
    fs = sv.fs_hz
    on = w["qrs_on"]
    t_off, qrs_off = _shift(w["t_off"], 1), _shift(w["qrs_off"], 1)
    prev_end = np.where(t_off != MISSING, t_off, qrs_off + int(0.25 * fs))
    start = on - int(0.30 * fs)
    start = np.where(rows.first, start, np.maximum(start, prev_end + int(0.01 * fs)))
    amps = np.zeros(on.size)
    tried = (start >= int(0.04 * fs)).nonzero()[0]
    if tried.size == 0:
        return amps
    base = rows.base[tried]
    p = p_waves(sv, base, start[tried], on[tried] - int(0.03 * fs), iso[tried])
    floor = np.maximum(_P_MIN_SNR * noise, _P_MIN_QRS_FRACTION * qrs_amp)[rows.lead[tried]]
    keep = p.found & (np.abs(p.amplitude_mv) >= floor) & (p.offset < on[tried])
    sel = tried[keep]
    w["p_on"][sel], w["p_peak"][sel], w["p_off"][sel] = p.onset[keep], p.peak[keep], p.offset[keep]
    amps[sel] = np.abs(p.amplitude_mv[keep])
    return amps


_NO_P = "no P wave found before most QRS complexes (e.g. atrial fibrillation or flutter)"
_VARYING_P = "P-like waves at a varying distance from the QRS (no steady P wave, e.g. atrial fibrillation)"
_TP_WAVES = "waves between T and P as large as the P wave (e.g. atrial flutter or fibrillation)"


def check_p_consistency(w: dict[str, np.ndarray], fs: float, rows: Rows | None = None) -> list[str | None]:
    """Per lead, why its P waves are not reported (None: they are); on the leads kept,
    the few P waves off the steady P–QRS distance are dropped from ``w``."""
    rows = rows or _one_lead(w)
    has = w["p_on"] != MISSING
    has_n = rows.count(has)
    # beats too close to the record start have no P window: judge only the others
    eligible = rows.count() - rows.count(w["qrs_on"] < int(0.34 * fs))
    few = (eligible <= 0) | (has_n < np.maximum(2, _P_MIN_BEAT_FRACTION * eligible))
    pr = (w["qrs_on"] - w["p_peak"]) / fs
    median = rows.median(pr, has)
    with np.errstate(invalid="ignore"):
        steady = has & (np.abs(pr - median[rows.lead]) <= _P_STEADY_BAND_S)
    need = np.maximum(np.maximum(2, _P_MIN_STEADY_FRACTION * has_n), _P_MIN_BEAT_FRACTION * 0.8 * eligible)
    varying = ~few & (rows.count(steady) < need)
    kept = ~few & ~varying
    drop = has & ~steady & kept[rows.lead]
    for k in ("p_on", "p_peak", "p_off"):  # the few off the steady P-QRS distance are something else
        w[k][drop] = MISSING
    return [_NO_P if f else _VARYING_P if v else None for f, v in zip(few.tolist(), varying.tolist())]


def tp_activity(sv: StackedViews, w: dict[str, np.ndarray], p_amps: np.ndarray, rows: Rows) -> list[str | None]:
    """Per lead, a reason to reject its P waves when the T–P stretch holds waves as large
    (flutter/fibrillation), else None.

    In sinus rhythm the stretch from the end of T to the start of P is flat; flutter
    and coarse fibrillation waves fill it with deflections the size of the "P wave".
    """
    fs = sv.fs_hz
    i = (~rows.last).nonzero()[0]  # beat i and the next beat of the same lead
    t_off, p_on, amp = w["t_off"][i], w["p_on"][i + 1], p_amps[i + 1]
    lo, hi = t_off + int(0.02 * fs), p_on - int(0.02 * fs)
    sel = (p_on != MISSING) & (t_off != MISSING) & (amp > 0) & (hi - lo >= int(_TP_MIN_S * fs))
    pairs = rows.take(i[sel])
    ratios = range_ptp(sv.flat("smooth_mv"), pairs.base + lo[sel], pairs.base + hi[sel]) / amp[sel]
    busy = (pairs.count() >= 2) & (pairs.median(ratios) > _TP_MAX_RATIO)
    return [_TP_WAVES if b else None for b in busy.tolist()]


def _one_lead(w: dict[str, np.ndarray]) -> Rows:
    m = w["r_peak"].size
    return Rows(np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64), 1)


def single_lead_rows(views: LeadViews, w: dict[str, np.ndarray]) -> tuple[StackedViews, Rows]:
    """The stack of one lead's views and the rows of its beats (for per-lead callers)."""
    sv, stack_row = StackedViews.of([views])
    m = w["r_peak"].size
    return sv, Rows(np.zeros(m, dtype=np.int64), np.full(m, int(stack_row[0]) * sv.n_samples, dtype=np.int64), 1)


def _qrs_similarity_all(sv: StackedViews, rows: Rows, r: np.ndarray) -> np.ndarray:
    """Per lead, :func:`~ecg.delineation.lead._qrs_similarity` of its beats (all leads in
    one pass; row by row and lead by lead the same arithmetic)."""
    n = sv.n_samples
    half = int(0.06 * sv.fs_hz)
    inner = ((r - half >= 0) & (r + half < n)).nonzero()[0]
    lead = rows.lead[inner]
    counts = np.bincount(lead, minlength=rows.n_leads)
    out = np.ones(rows.n_leads)
    judge = counts >= 3
    judged = judge.nonzero()[0]
    if judged.size == 0:
        return out
    use = inner[judge[lead]]
    lead = rows.lead[use]
    m = window_rows(sv.flat("clean_mv"), rows.base[use] + r[use] - half, 2 * half + 1)  # inner beats: inside their lead
    size = counts[judged]
    at = np.arange(judged.size)
    tpl = row_median(m.T)[None, :] if judged.size == 1 else _median_beats(m, size)
    width = m.shape[1]
    mc = m - np.add.reduce(m, axis=1, keepdims=True) / width  # m.mean(axis=1): its sum and division, no wrapper
    tc = tpl - np.add.reduce(tpl, axis=1, keepdims=True) / width
    ends = np.cumsum(size)
    dot = np.empty(use.size)
    tt = np.empty(judged.size)
    for g in range(judged.size):  # BLAS products lead by lead, as for one lead alone
        dot[ends[g] - size[g] : ends[g]] = mc[ends[g] - size[g] : ends[g]] @ tc[g]
        tt[g] = float(tc[g] @ tc[g])
    group = np.repeat(at, size)
    mm = (mc * mc).sum(axis=1)  # n x the variance, as ``m.std`` sums it: std > 0 where mm / n > 0
    den = np.sqrt(mm * tt[group])
    ok = (mm / width > 0) & ((tc * tc).sum(axis=1) / width > 0)[group] & (den > 0)
    corr = np.where(ok, dot / np.where(ok, den, 1.0), 0.0)
    out[judged] = Rows(group, np.zeros(use.size, dtype=np.int64), judged.size).median(corr)
    return out


def _median_beats(m: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Per group of ``size`` consecutive rows of ``m``, ``np.median(axis=0)``: each group's rows
    sorted column-wise (padding after them), the middle pair's mean."""
    slot = np.arange(m.shape[0]) - np.repeat(np.cumsum(size) - size, size)
    block = np.full((size.size, int(size.max()), m.shape[1]), np.inf)
    block[np.repeat(np.arange(size.size), size), slot] = m
    block.sort(axis=1)
    at = np.arange(size.size)
    return (block[at, (size - 1) // 2] + block[at, size // 2]) / 2.0  # type: ignore[no-any-return]


def _gate(qrs_amp: float, noise: float, corr: float) -> str | None:
    """Why nothing of this lead is measured (None: it is)."""
    if qrs_amp < MIN_QRS_MV:
        return f"QRS amplitude {qrs_amp:.3f} mV below {MIN_QRS_MV} mV: too low to measure"
    if noise > 0 and qrs_amp / noise < MIN_QRS_SNR:
        return f"too noisy: QRS amplitude only {qrs_amp / noise:.1f} x the noise"
    if corr < MIN_QRS_CORR:
        return f"too noisy: detected beats are not alike (median correlation {corr:.2f})"
    return None


def delineate_many(contexts: list[LeadContext]) -> list[LeadWaves]:
    """The rule delineator on the leads of one recording (same rate and length): one
    :class:`~ecg.delineation.lead.LeadWaves` per context, as each would get alone."""
    views = [c.views for c in contexts]
    sv, stack_row = StackedViews.of(views)
    fs = sv.fs_hz
    located = locate_many([c.beat_marks for c in contexts], sv, stack_row)
    counts = np.array([p.size for p, _ in located], dtype=np.int64)
    lead = np.repeat(np.arange(len(contexts), dtype=np.int64), counts)
    rows = Rows(lead, stack_row[lead] * sv.n_samples, len(contexts))
    r = np.concatenate([p for p, _ in located]) if located else np.zeros(0, dtype=np.int64)
    w = _empty(r.size)
    amps = _qrs_all(sv, rows, r, w)
    qrs_amp = rows.median(amps)
    noise = _noise_mv(sv, rows, stack_row, w["qrs_on"], w["qrs_off"])
    corr = _qrs_similarity_all(sv, rows, r)
    gates = [None if counts[j] == 0 else _gate(float(qrs_amp[j]), float(noise[j]), float(corr[j]))
             for j in range(len(contexts))]
    ok = np.array([counts[j] > 0 and gates[j] is None for j in range(len(contexts))])
    keep = ok[lead]
    sub, ws = (rows, w) if bool(ok.all()) else (rows.take(keep), {k: v[keep] for k, v in w.items()})
    iso = isoelectric_all(sv, ws["qrs_on"], sub.base)  # the level before each QRS: T and P both read it
    _t_all(sv, sub, ws, iso)
    p_amps = _p_all(sv, sub, ws, qrs_amp, noise, iso)
    why_no_p = check_p_consistency(ws, fs, sub)
    tp = tp_activity(sv, ws, p_amps, sub)  # read only where the P waves passed so far
    why_no_p = [why if why is not None else tp[j] for j, why in enumerate(why_no_p)]
    return lead_waves_of(located, views, ws, why_no_p, gates, qrs_amp, noise, fs)


def lead_waves_of(located: list[tuple[np.ndarray, float]], views: list[LeadViews], ws: dict[str, np.ndarray],
                  why_no_p: list[str | None], gates: list[str | None], qrs_amp: np.ndarray, noise: np.ndarray,
                  fs: float) -> list[LeadWaves]:
    """One :class:`LeadWaves` per lead from the measured leads' rows ``ws`` (in lead order).

    A lead without beats or stopped by its gate gets empty boundaries and the reason; a lead
    whose P waves were judged absent gets missing P boundaries and ``reasons["p"]``. Keys of
    ``ws`` outside ``WAVE_KEYS`` (such as the segmenter's ``t_on``) are left out.
    """
    out: list[LeadWaves] = []
    offset = 0
    for j, (peaks, polarity) in enumerate(located):
        if peaks.size == 0:
            out.append(LeadWaves(_empty(0), fs, polarity, 0.0, float("inf"), {"all": "no QRS complex detected"},
                                 views[j]))
            continue
        if gates[j] is not None:
            out.append(LeadWaves(_empty(peaks.size), fs, polarity, float(qrs_amp[j]), float(noise[j]),
                                 {"all": str(gates[j])}, views[j]))
            continue
        span = slice(offset, offset + peaks.size)
        offset += peaks.size
        waves = {k: v[span] for k, v in ws.items() if k in WAVE_KEYS}
        reasons: dict[str, str] = {}
        if why_no_p[j] is not None:
            for k in ("p_on", "p_peak", "p_off"):
                waves[k][:] = MISSING
            reasons["p"] = str(why_no_p[j])
        out.append(LeadWaves(waves, fs, polarity, float(qrs_amp[j]), float(noise[j]), reasons, views[j]))
    return out
