"""The learned wave segmenter at run time (LiteRT) and its per-beat boundaries.

The model (``ecg/models/delineation.tflite``, trained by ``training/delineation``) labels
every sample of one lead, prepared by :func:`ecg.delineation.segmenter_input.prepare_many`
at :data:`~ecg.delineation.segmenter_input.MODEL_FS_HZ`, as background, P, QRS or T. It is
fully convolutional: all leads of a recording run in one invoke of shape
``(leads, samples, 1)`` (one interpreter per input shape, a few kept); leads longer than
:data:`MAX_SAMPLES` run in overlapping chunks whose centres are stitched.
:func:`beat_boundaries` turns the per-sample probabilities into per-beat onsets and offsets
at the recording's own rate: each R peak takes the QRS segment around it, the first T
segment after that QRS and the last P segment before it (never across a neighbouring
beat). A boundary falls where the wave's probability meets the strongest other class's,
interpolated between samples; each P wave also gets a confidence (its largest P
probability).

With ``"shifts": S`` in the sidecar (default 1), every lead is run S times, shifted by
0 … S−1 model samples, and the realigned probabilities are averaged (test-time averaging
over the U-Net's pooling phases: pooling by 2 three times makes its output depend on where a
wave falls on an 8-sample grid; the average over all 8 shifts does not).

With ``"pt_members": [file, ...]`` in the sidecar (segmenter files beside it, same rate and
classes, without members of their own), the P and T waves come from the mean of this model's
and the members' per-sample probabilities while the QRS complexes still come from this model
alone (:meth:`WaveSegmenter.wave_probabilities_many`, ``probs_pt`` of
:func:`beat_boundaries_many`); without the key the path is unchanged.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ecg.delineation.filters import band_limit
from ecg.delineation.segmenter_input import CLASSES, MODEL_FS_HZ, prepare_many
from ecg.litert import quant_of
from ecg.model import ModelError, _interpreter_class

__all__ = ["WaveSegmenter", "load_segmenter", "beat_boundaries", "beat_boundaries_many", "DEFAULT_SEGMENTER_PATH",
           "segmenter_available", "MAX_SAMPLES"]

DEFAULT_SEGMENTER_PATH = Path(__file__).resolve().parent.parent / "models" / "delineation.tflite"
#: longest lead (samples at the model rate, ≈ 2.2 min) run in one piece; longer ones are chunked
MAX_SAMPLES = 16384
_MARGIN = 256  # samples at the model rate discarded at each inner chunk edge
_MULTIPLE = 8  # the U-Net pools by 2 three times
_SHAPES_KEPT = 4
_MAX_SHIFTS = 16
_P, _QRS, _T = CLASSES.index("p"), CLASSES.index("qrs"), CLASSES.index("t")
#: shortest segment kept per wave (s)
_MIN_S = {_P: 0.03, _QRS: 0.03, _T: 0.06}
#: an R peak takes a QRS segment within this distance (s)
_QRS_REACH_S = 0.06


class WaveSegmenter:
    """A loaded segmenter with its JSON sidecar (thread-safe; one thread per invoke)."""

    def __init__(self, tflite_path: Path, *, _member: bool = False) -> None:
        path = Path(tflite_path)
        if not path.is_file():
            raise ModelError("segmenter model not found", path=str(path))
        try:
            self.meta: dict[str, Any] = json.loads(path.with_suffix(".json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read segmenter sidecar ({exc})", path=str(path.with_suffix(".json"))) from exc
        if float(self.meta.get("fs_hz", -1)) != MODEL_FS_HZ or list(self.meta.get("classes", [])) != list(CLASSES):
            raise ModelError("segmenter sidecar does not match this code (rate or classes)", path=str(path))
        self.version = str(self.meta.get("version", "?"))
        #: runs averaged per lead, shifted by 0 … shifts−1 model samples (see the module notes)
        self.shifts = int(self.meta.get("shifts", 1))
        if not 1 <= self.shifts <= _MAX_SHIFTS:
            raise ModelError(f"segmenter sidecar: shifts must be 1..{_MAX_SHIFTS}", path=str(path))
        members = self.meta.get("pt_members", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ModelError("segmenter sidecar: pt_members must be a list of file names", path=str(path))
        if members and _member:
            raise ModelError("segmenter sidecar: a P/T member has members of its own", path=str(path))
        #: segmenters whose probabilities are averaged with this one's for the P and T waves
        self.pt_members: list[WaveSegmenter] = [WaveSegmenter(path.parent / m, _member=True) for m in members]
        self._content = path.read_bytes()
        self._lock = threading.Lock()
        self._interps: OrderedDict[tuple[int, int], Any] = OrderedDict()
        probe = self._interpreter((1, int(self.meta.get("window", 1280))))
        self._in, self._out = probe.get_input_details()[0], probe.get_output_details()[0]
        self._q_in, self._q_out = quant_of(self._in), quant_of(self._out)

    def _interpreter(self, shape: tuple[int, int]) -> Any:
        """An interpreter allocated for input ``(batch, samples, 1)`` (a few shapes kept)."""
        it = self._interps.get(shape)
        if it is None:
            it = _interpreter_class()(model_content=self._content, num_threads=1)
            detail = it.get_input_details()[0]
            if tuple(detail["shape"][:2]) != shape:
                it.resize_tensor_input(detail["index"], [shape[0], shape[1], 1], strict=False)
            it.allocate_tensors()
            self._interps[shape] = it
            while len(self._interps) > _SHAPES_KEPT:
                self._interps.popitem(last=False)
        self._interps.move_to_end(shape)
        return it

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, L)`` prepared float32 rows, L a multiple of 8 → ``(b, L, 4)`` probabilities."""
        it = self._interpreter((batch.shape[0], batch.shape[1]))
        it.set_tensor(self._in["index"], self._q_in.quantise(batch[..., None]))
        it.invoke()
        return self._q_out.dequantise(it.get_tensor(self._out["index"])).astype(np.float32)

    def run_prepared(self, x: np.ndarray) -> np.ndarray:
        """Prepared input ``(leads, m)`` → probabilities ``(leads, m, 4)`` at the model rate
        (averaged over :attr:`shifts` shifted runs when that is above 1)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        if self.shifts > 1:
            return self._shift_averaged(x, self.shifts)
        return self._run_any(x)

    def _shift_averaged(self, x: np.ndarray, shifts: int) -> np.ndarray:
        """Every lead run ``shifts`` times with 0 … shifts−1 zeros prepended (one batch),
        the outputs realigned on the lead's samples and averaged."""
        n_leads, m = x.shape
        batch = np.zeros((n_leads, shifts, m + shifts - 1), dtype=np.float32)
        for j in range(shifts):
            batch[:, j, j : j + m] = x
        p = self._run_any(batch.reshape(n_leads * shifts, -1)).reshape(n_leads, shifts, m + shifts - 1, -1)
        out = np.zeros((n_leads, m, p.shape[-1]), dtype=np.float32)
        for j in range(shifts):
            out += p[:, j, j : j + m]
        return out / np.float32(shifts)

    def _run_any(self, x: np.ndarray) -> np.ndarray:
        """Prepared ``(rows, m)`` float32 → ``(rows, m, 4)``, in one piece or chunked."""
        n_leads, m = x.shape
        with self._lock:
            if m <= MAX_SAMPLES:
                width = -(-max(m, _MULTIPLE) // _MULTIPLE) * _MULTIPLE
                batch = np.zeros((n_leads, width), dtype=np.float32)
                batch[:, :m] = x
                return self._run(batch)[:, :m]
            return self._chunked(x)

    def _chunked(self, x: np.ndarray) -> np.ndarray:
        n_leads, m = x.shape
        w, step = MAX_SAMPLES, MAX_SAMPLES - 2 * _MARGIN
        starts = list(range(0, max(m - w, 0) + step, step))
        out = np.zeros((n_leads, m, len(CLASSES)), dtype=np.float32)
        for s in starts:
            lo = min(s, max(m - w, 0))
            chunk = np.zeros((n_leads, w), dtype=np.float32)
            seg = x[:, lo : lo + w]
            chunk[:, : seg.shape[1]] = seg
            p = self._run(chunk)
            keep_lo = 0 if lo == 0 else _MARGIN
            keep_hi = min(w, m - lo) if lo + w >= m else w - _MARGIN
            out[:, lo + keep_lo : lo + keep_hi] = p[:, keep_lo:keep_hi]
        return out

    def probabilities_many(self, clean_mv: np.ndarray, fs_hz: float) -> np.ndarray:
        """Per-sample class probabilities ``(leads, m, 4)`` at the model rate from the
        leads' band-limited views ``(leads, n)`` (the delineator's ``clean_mv``)."""
        return self.run_prepared(prepare_many(clean_mv, fs_hz))

    def wave_probabilities_many(self, clean_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities the QRS complexes are taken from (this model's,
        :meth:`probabilities_many`) and those the P and T waves are taken from: the mean of
        this model's and its :attr:`pt_members`' (the same array when it has none)."""
        probs = self.probabilities_many(clean_mv, fs_hz)
        if not self.pt_members:
            return probs, probs
        total = probs.astype(np.float32, copy=True)
        for member in self.pt_members:
            total += member.probabilities_many(clean_mv, fs_hz)
        return probs, total / np.float32(1 + len(self.pt_members))

    def probabilities(self, sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
        """Per-sample class probabilities ``(m, 4)`` at the model rate for one raw lead (mV)."""
        clean = band_limit(np.asarray(sig_mv, dtype=np.float64).reshape(1, -1), fs_hz)
        return self.probabilities_many(clean, fs_hz)[0]


def _segments(label: np.ndarray, cls: int) -> np.ndarray:
    """``(k, 2)`` inclusive index ranges where ``label == cls``, long enough for the wave."""
    on = np.concatenate(([False], label == cls, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    seg = edges.reshape(-1, 2) - np.array([0, 1])
    return seg[(seg[:, 1] - seg[:, 0] + 1) >= _MIN_S[cls] * MODEL_FS_HZ]


def _edge(margin: np.ndarray, inside: np.ndarray, step: int) -> np.ndarray:
    """Where the class margin (its probability minus the strongest other's) crosses zero
    between ``inside`` and its neighbour ``inside + step``, as a wave boundary: the labels
    mark a sample as inside when the boundary is within half a sample of it, so the
    crossing is moved back by half a sample."""
    a = margin[inside]
    b = margin[inside + step]  # the neighbour exists: every lead is followed by a gap (see _flat)
    rising = a > b
    frac = np.where(rising, a / np.where(rising, a - b, 1.0), 0.5)  # in [0, 1]: a >= 0 >= b where rising
    return inside + step * (np.minimum(frac, 1.0) - 0.5)


def _segment_reduce(v: np.ndarray, seg: np.ndarray, how: str) -> np.ndarray:
    """Per inclusive segment ``(k, 2)``, the largest (``"max"``) or mean (``"mean"``) value
    of ``v`` inside it."""
    if seg.size == 0:
        return np.zeros(0)
    idx = (seg + np.array([0, 1])).reshape(-1)
    if idx[-1] >= v.size:
        idx = idx[:-1]
    if how == "max":
        return np.maximum.reduceat(v, idx)[::2].astype(np.float64)
    return np.add.reduceat(v.astype(np.float64), idx)[::2] / (seg[:, 1] - seg[:, 0] + 1)


#: samples of "no class" between leads in the flattened labels (longer than any reach)
_GAP = 64


def _flat(probs: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Leads ``(L, m, 4)`` → flat labels with a gap after every lead, per-class margins
    (probability minus the strongest other class) and the flat P and T probabilities."""
    n_leads, m, _ = probs.shape
    label = np.full((n_leads, m + _GAP), -1, dtype=np.int64)
    label[:, :m] = np.argmax(probs, axis=2)
    ch = [probs[:, :, c] for c in range(probs.shape[2])]
    bg_or = {_P: np.maximum(ch[0], np.maximum(ch[_QRS], ch[_T])), _QRS: np.maximum(ch[0], np.maximum(ch[_P], ch[_T])),
             _T: np.maximum(ch[0], np.maximum(ch[_P], ch[_QRS]))}
    margins = {}
    for c, strongest_other in bg_or.items():
        mc = np.full((n_leads, m + _GAP), -1.0, dtype=np.float32)
        mc[:, :m] = ch[c] - strongest_other
        margins[c] = mc.reshape(-1)
    prob = {}
    for c in (_P, _T):
        pc = np.zeros((n_leads, m + _GAP), dtype=np.float32)
        pc[:, :m] = ch[c]
        prob[c] = pc.reshape(-1)
    return label.reshape(-1), margins, prob


def beat_boundaries_many(probs: np.ndarray, r_peaks: list[np.ndarray], fs_hz: float,
                         n_samples: int, probs_pt: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`beat_boundaries` of several leads at once: probabilities ``(L, m, 4)`` and one
    array of R peaks per lead → per-beat arrays, the beats of lead 0 first. With
    ``probs_pt`` (same shape) the P and T waves — their segments, boundaries and
    confidences — are taken from it, the QRS complexes still from ``probs``."""
    n_leads, m, _ = probs.shape
    width = m + _GAP
    scale = fs_hz / MODEL_FS_HZ
    counts = [int(np.asarray(r).size) for r in r_peaks]
    lead = np.repeat(np.arange(n_leads), counts)
    nb = lead.size
    r = np.concatenate([np.asarray(x, dtype=np.float64) for x in r_peaks]) / scale if nb else np.zeros(0)
    r = r + lead * width
    out: dict[str, np.ndarray] = {k: np.full(nb, -1, dtype=np.int64)
                                  for k in ("p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off")}
    out["p_score"] = np.zeros(nb)
    out["t_score"] = np.zeros(nb)
    label, margin, prob = _flat(probs)
    q = _segments(label, _QRS)
    if probs_pt is not None and probs_pt is not probs:
        if probs_pt.shape != probs.shape:
            raise ValueError(f"probs_pt has shape {probs_pt.shape}, probs {probs.shape}")
        label_pt, margin_pt, prob = _flat(probs_pt)
        margin = {**margin, _P: margin_pt[_P], _T: margin_pt[_T]}
    else:
        label_pt = label
    t, p = (_segments(label_pt, c) for c in (_T, _P))
    if nb == 0 or q.size == 0:
        return out
    origin = lead * width

    def to_fs(v: np.ndarray, at: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(np.rint((v - origin[at]) * scale), 0), n_samples - 1).astype(np.int64)

    # the QRS segment nearest each R peak (at most one beat per segment)
    j0 = np.clip(np.searchsorted(q[:, 0], r, side="right") - 1, 0, len(q) - 1)
    cand = np.stack([j0, np.minimum(j0 + 1, len(q) - 1)], axis=1)
    dist = np.maximum(0.0, np.maximum(q[cand, 0] - r[:, None], r[:, None] - q[cand, 1]))
    pick = np.argmin(dist, axis=1)
    j = cand[np.arange(nb), pick]
    ok = dist[np.arange(nb), pick] <= _QRS_REACH_S * MODEL_FS_HZ
    ok[1:] &= ~(ok[:-1] & (j[1:] == j[:-1]))
    qs, qe = q[j, 0], q[j, 1]
    at = np.flatnonzero(ok)
    out["qrs_on"][at] = to_fs(_edge(margin[_QRS], qs[at], -1), at)
    out["qrs_off"][at] = to_fs(_edge(margin[_QRS], qe[at], +1), at)
    # neighbouring found QRS complexes of the same lead bound each beat's T and P
    nxt = origin + m
    prv = origin - 1
    same = lead[at[1:]] == lead[at[:-1]]
    nxt[at[:-1][same]] = qs[at[1:][same]]
    prv[at[1:][same]] = qe[at[:-1][same]]
    t_off_model = np.full(nb, -np.inf)
    if t.size:
        k = np.minimum(np.searchsorted(t[:, 0], qe, side="right"), len(t) - 1)
        has = ok & (t[k, 0] > qe) & (t[k, 1] < nxt)
        at = np.flatnonzero(has)
        out["t_on"][at] = to_fs(_edge(margin[_T], t[k[at], 0], -1), at)
        t_off_model[at] = _edge(margin[_T], t[k[at], 1], +1)
        out["t_off"][at] = to_fs(t_off_model[at], at)
        out["t_score"][at] = _segment_reduce(prob[_T], t, "mean")[k[at]]
    if p.size:
        k = np.searchsorted(p[:, 1], qs, side="left") - 1
        kk = np.maximum(k, 0)
        prev_t = np.concatenate(([-np.inf], t_off_model[:-1]))
        prev_t[np.concatenate(([True], lead[1:] != lead[:-1]))] = -np.inf
        has = ok & (k >= 0) & (p[kk, 0] > prv) & (p[kk, 0] > prev_t)
        at = np.flatnonzero(has)
        out["p_on"][at] = to_fs(_edge(margin[_P], p[kk[at], 0], -1), at)
        out["p_off"][at] = to_fs(_edge(margin[_P], p[kk[at], 1], +1), at)
        out["p_score"][at] = _segment_reduce(prob[_P], p, "max")[kk[at]]
    return out


def beat_boundaries(probs: np.ndarray, r_peaks: np.ndarray, fs_hz: float,
                    n_samples: int) -> dict[str, np.ndarray]:
    """Per-beat ``p_on, p_off, qrs_on, qrs_off, t_on, t_off`` (sample indices at ``fs_hz``,
    -1 where absent), ``p_score`` (the P wave's largest probability) and ``t_score`` (the T
    wave's mean probability; both 0 without the wave) from one lead's segmenter
    probabilities ``(m, 4)`` and its beats' R peaks."""
    return beat_boundaries_many(np.asarray(probs)[None], [np.asarray(r_peaks)], fs_hz, n_samples)


_LOAD_LOCK = threading.Lock()
_CACHE: dict[str, WaveSegmenter] = {}


def load_segmenter(path: str | Path | None = None) -> WaveSegmenter:
    """Load (once per process) and return the segmenter; the shipped one by default.

    Raises
    ------
    ModelError
        Model or sidecar missing or unreadable, or no TFLite runtime installed.
    """
    key = str(Path(path or DEFAULT_SEGMENTER_PATH).resolve())
    with _LOAD_LOCK:
        if key not in _CACHE:
            _CACHE[key] = WaveSegmenter(Path(key))
        return _CACHE[key]


def segmenter_available(path: str | Path | None = None) -> bool:
    """True when the segmenter loads (the rule delineator is used otherwise)."""
    try:
        load_segmenter(path)
    except ModelError:
        return False
    return True
