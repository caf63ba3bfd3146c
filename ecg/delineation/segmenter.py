"""The learned wave segmenter at run time (LiteRT) and its per-beat boundaries.

The model (``ecg/models/delineation.tflite``, trained by ``training/delineation``) labels
every sample of one lead, prepared by :func:`ecg.delineation.segmenter_input.prepare`
at 250 Hz, as background, P, QRS or T. Longer leads run in overlapping windows whose
central parts are stitched. :func:`beat_boundaries` turns the per-sample probabilities into
per-beat onsets and offsets at the recording's own rate: each detected R peak takes the
QRS segment around it, the first T segment after that QRS and the last P segment before
it (never across a neighbouring beat). Boundaries fall where the wave's probability
crosses one half, interpolated between samples.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ecg.delineation.segmenter_input import CLASSES, MODEL_FS_HZ, prepare
from ecg.model import ModelError, _interpreter_class, _quant_of

__all__ = ["WaveSegmenter", "load_segmenter", "beat_boundaries", "DEFAULT_SEGMENTER_PATH", "segmenter_available"]

DEFAULT_SEGMENTER_PATH = Path(__file__).resolve().parent.parent / "models" / "delineation.tflite"
_MARGIN = 256  # samples at the model rate discarded at each inner window edge
_P, _QRS, _T = CLASSES.index("p"), CLASSES.index("qrs"), CLASSES.index("t")
#: shortest segment kept per wave (s)
_MIN_S = {_P: 0.03, _QRS: 0.03, _T: 0.06}
#: an R peak takes a QRS segment within this distance (s)
_QRS_REACH_S = 0.06


class WaveSegmenter:
    """A loaded segmenter with its JSON sidecar (one interpreter, thread-safe)."""

    def __init__(self, tflite_path: Path) -> None:
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
        self._lock = threading.Lock()
        self._interp = _interpreter_class()(model_path=str(path), num_threads=1)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        self.window = int(self._in["shape"][1])
        self._q_in, self._q_out = _quant_of(self._in), _quant_of(self._out)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        self._interp.set_tensor(self._in["index"], self._q_in.quantise(chunk.reshape(1, -1, 1)))
        self._interp.invoke()
        return self._q_out.dequantise(self._interp.get_tensor(self._out["index"]))[0]

    def probabilities(self, sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
        """Per-sample class probabilities ``(n, 4)`` at :data:`MODEL_FS_HZ` for one lead."""
        x = prepare(sig_mv, fs_hz)
        n, w = x.size, self.window
        step = w - 2 * _MARGIN
        out = np.zeros((n, len(CLASSES)), dtype=np.float64)
        with self._lock:
            start = 0
            while True:
                lo = max(0, start - _MARGIN)
                chunk = np.zeros(w, dtype=np.float32)
                seg = x[lo : lo + w]
                chunk[: seg.size] = seg
                p = self._run(chunk)
                keep_lo = start - lo
                keep_hi = min(n - lo, w if lo + w >= n else w - _MARGIN)
                out[lo + keep_lo : lo + keep_hi] = p[keep_lo:keep_hi]
                if lo + w >= n:
                    break
                start = lo + keep_hi
        return out


def _segments(label: np.ndarray, cls: int) -> np.ndarray:
    """``(k, 2)`` inclusive index ranges where ``label == cls``, long enough for the wave."""
    on = np.concatenate(([False], label == cls, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    seg = edges.reshape(-1, 2) - np.array([0, 1])
    return seg[(seg[:, 1] - seg[:, 0] + 1) >= _MIN_S[cls] * MODEL_FS_HZ]


def _crossing(p: np.ndarray, i_in: int, i_out: int) -> float:
    """Fractional index between neighbours ``i_in`` (inside the wave) and ``i_out`` where
    the probability crosses 0.5."""
    if not 0 <= i_out < p.size:
        return float(i_in)
    a, b = p[i_in], p[i_out]
    frac = 0.5 if a == b else float(np.clip((a - 0.5) / (a - b), 0.0, 1.0))
    return i_in + frac * (i_out - i_in)


def beat_boundaries(probs: np.ndarray, r_peaks: np.ndarray, fs_hz: float, n_samples: int) -> dict[str, np.ndarray]:
    """Per-beat ``p_on, p_off, qrs_on, qrs_off, t_on, t_off`` (sample indices at ``fs_hz``,
    -1 where absent) from segmenter probabilities and the beats' R peaks."""
    label = np.argmax(probs, axis=1)
    scale = fs_hz / MODEL_FS_HZ
    r = np.asarray(r_peaks, dtype=np.float64) / scale
    keys = ("p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off")
    out = {k: np.full(r.size, -1, dtype=np.int64) for k in keys}
    segs = {c: _segments(label, c) for c in (_P, _QRS, _T)}

    def to_fs(v: float) -> int:
        return int(np.clip(round(v * scale), 0, n_samples - 1))

    qrs_of = np.full(r.size, -1)
    reach = _QRS_REACH_S * MODEL_FS_HZ
    q = segs[_QRS]
    for i, ri in enumerate(r):
        if q.size:
            dist = np.maximum(0, np.maximum(q[:, 0] - ri, ri - q[:, 1]))
            j = int(np.argmin(dist))
            if dist[j] <= reach and j not in qrs_of[max(0, i - 1) : i]:
                qrs_of[i] = j
                out["qrs_on"][i] = to_fs(_crossing(probs[:, _QRS], int(q[j, 0]), int(q[j, 0]) - 1))
                out["qrs_off"][i] = to_fs(_crossing(probs[:, _QRS], int(q[j, 1]), int(q[j, 1]) + 1))
    for i, ri in enumerate(r):
        j = qrs_of[i]
        if j < 0:
            continue
        lo, hi = int(q[j, 1]), (int(q[qrs_of[i + 1], 0]) if i + 1 < r.size and qrs_of[i + 1] >= 0 else label.size)
        t = segs[_T][(segs[_T][:, 0] > lo) & (segs[_T][:, 1] < hi)]
        if t.size:
            out["t_on"][i] = to_fs(_crossing(probs[:, _T], int(t[0, 0]), int(t[0, 0]) - 1))
            out["t_off"][i] = to_fs(_crossing(probs[:, _T], int(t[0, 1]), int(t[0, 1]) + 1))
        prev = int(q[qrs_of[i - 1], 1]) if i > 0 and qrs_of[i - 1] >= 0 else -1
        p = segs[_P][(segs[_P][:, 0] > prev) & (segs[_P][:, 1] < int(q[j, 0]))]
        if p.size and (i == 0 or out["t_off"][i - 1] < 0 or p[-1, 0] * scale > out["t_off"][i - 1]):
            out["p_on"][i] = to_fs(_crossing(probs[:, _P], int(p[-1, 0]), int(p[-1, 0]) - 1))
            out["p_off"][i] = to_fs(_crossing(probs[:, _P], int(p[-1, 1]), int(p[-1, 1]) + 1))
    return out


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
