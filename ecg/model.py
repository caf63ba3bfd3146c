"""The shipped rhythm model: its input preparation and its LiteRT runtime.

The model sees two inputs:

1. ``signal``: the ECG band-passed (0.5–40 Hz, zero-phase), resampled to
   :data:`MODEL_FS_HZ`, divided by its standard deviation and clipped, cut into windows of
   :data:`WINDOW_SAMPLES` samples (20 s) every :data:`STRIDE_SAMPLES` (10 s). Shorter
   recordings are zero-padded. The window probabilities are averaged (shared weights over
   time).
2. ``rr``: the RR irregularity features of :mod:`ecg.rr_features`, standardised with the
   training statistics stored in the model's JSON sidecar.

This module owns that preparation so that training (``training/``) and screening use the
very same code. TensorFlow is never imported here: the runtime is ``ai-edge-litert``
(fallback ``tflite_runtime``). The interpreter is loaded once per process and cached.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal as sps

from ecg.classes import CLASS_CODES, ClassTableError, check_model_metadata
from ecg.errors import EcgError, SignalError

__all__ = [
    "CLASSES",
    "MODEL_FS_HZ",
    "WINDOW_SAMPLES",
    "STRIDE_SAMPLES",
    "MIN_FS_HZ",
    "DEFAULT_MODEL_PATH",
    "ModelError",
    "RhythmModel",
    "prepare_signal",
    "signal_windows",
    "load_model",
    "decide",
]

#: CinC 2017 class codes, in the order of the model's output (the table in :mod:`ecg.classes`)
CLASSES: tuple[str, ...] = CLASS_CODES
#: sample rate of the model's input (Hz)
MODEL_FS_HZ = 150.0
#: samples per model window (20 s at 150 Hz)
WINDOW_SAMPLES = 3000
#: hop between windows (10 s at 150 Hz)
STRIDE_SAMPLES = 1500
#: lowest sample rate accepted: the 40 Hz band edge needs some head-room
MIN_FS_HZ = 100.0
#: clip of the standardised signal (in standard deviations)
CLIP_SD = 8.0

_MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = _MODELS_DIR / "rhythm.tflite"


class ModelError(EcgError):
    """The model file or its sidecar is missing or unusable.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    path : str
        The file involved.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@lru_cache(maxsize=16)
def _bandpass_sos(fs_hz: float) -> np.ndarray:
    return np.asarray(sps.butter(3, [0.5, 40.0], btype="bandpass", fs=fs_hz, output="sos"))


def prepare_signal(sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Turn a single-lead ECG into the model's standardised 150 Hz signal.

    Parameters
    ----------
    sig_mv : np.ndarray
        1-D ECG in millivolts (finite samples).
    fs_hz : float
        Its sample rate, at least :data:`MIN_FS_HZ`.

    Returns
    -------
    np.ndarray
        ``float32`` signal at :data:`MODEL_FS_HZ`, zero mean, unit standard deviation,
        clipped to ±:data:`CLIP_SD`.

    Raises
    ------
    SignalError
        Sample rate below :data:`MIN_FS_HZ`, non-finite samples, or fewer than one second.

    Examples
    --------
    >>> x = prepare_signal(np.sin(np.arange(3000) / 30.0), 300.0)
    >>> x.shape, x.dtype
    ((1500,), dtype('float32'))
    """
    x = np.asarray(sig_mv, dtype=np.float64).reshape(-1)
    fs = float(fs_hz)
    if not np.isfinite(fs) or fs < MIN_FS_HZ:
        raise SignalError(f"sample rate {fs_hz!r} Hz is below the model's minimum {MIN_FS_HZ:g} Hz",
                          reason="bad_fs", fs_hz=fs if np.isfinite(fs) else None)
    if x.size < fs or not np.all(np.isfinite(x)):
        raise SignalError("signal must hold at least 1 s of finite samples", reason="too_short",
                          fs_hz=fs, n_samples=int(x.size))
    x = sps.sosfiltfilt(_bandpass_sos(fs), x - np.median(x))
    ratio = Fraction(MODEL_FS_HZ / fs).limit_denominator(1000)
    if ratio != 1:
        x = sps.resample_poly(x, ratio.numerator, ratio.denominator)
    x = x - np.mean(x)
    sd = float(np.std(x))
    x = x / max(sd, 1e-6)
    return np.clip(x, -CLIP_SD, CLIP_SD).astype(np.float32)


def signal_windows(x: np.ndarray) -> np.ndarray:
    """Cut a prepared signal into overlapping model windows.

    Windows start every :data:`STRIDE_SAMPLES`; the last one is aligned to the end so no
    sample is left out. A signal shorter than one window is zero-padded at the end.

    Returns
    -------
    np.ndarray
        ``(n_windows, WINDOW_SAMPLES)`` ``float32``.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if x.size <= WINDOW_SAMPLES:
        out = np.zeros((1, WINDOW_SAMPLES), dtype=np.float32)
        out[0, : x.size] = x
        return out
    starts = list(range(0, x.size - WINDOW_SAMPLES + 1, STRIDE_SAMPLES))
    if starts[-1] != x.size - WINDOW_SAMPLES:
        starts.append(x.size - WINDOW_SAMPLES)
    return np.stack([x[s : s + WINDOW_SAMPLES] for s in starts])


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the install
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError as exc:
            raise ModelError("neither ai-edge-litert nor tflite-runtime is installed",
                             path="<runtime>") from exc
    return Interpreter


@dataclass(frozen=True)
class _Quant:
    scale: float
    zero_point: int
    dtype: Any

    def quantise(self, x: np.ndarray) -> np.ndarray:
        if self.scale == 0.0:
            return x.astype(self.dtype)
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        if self.scale == 0.0:
            return q.astype(np.float64)
        return (q.astype(np.float64) - self.zero_point) * self.scale


class RhythmModel:
    """A loaded TFLite rhythm model with its JSON sidecar (one interpreter, thread-safe).

    Parameters
    ----------
    tflite_path : Path
        The ``.tflite`` file. Its sidecar is the same path with suffix ``.json``.
    """

    def __init__(self, tflite_path: Path) -> None:
        path = Path(tflite_path)
        meta_path = path.with_suffix(".json")
        if not path.is_file():
            raise ModelError("model file not found", path=str(path))
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model sidecar ({exc})", path=str(meta_path)) from exc
        try:
            check_model_metadata(self.meta)
        except ClassTableError as exc:
            raise ModelError(str(exc), path=str(meta_path)) from None
        self.path = path
        self.version: str = str(self.meta["version"])
        self.rr_mean = np.asarray(self.meta["rr_mean"], dtype=np.float64)
        self.rr_std = np.asarray(self.meta["rr_std"], dtype=np.float64)
        self.class_weights = np.asarray(self.meta.get("class_weights", [1.0] * 4), dtype=np.float64)
        thr = self.meta.get("af_threshold")
        self.af_threshold: float | None = None if thr is None else float(thr)
        self._lock = threading.Lock()
        self._interp = _interpreter_class()(model_path=str(path), num_threads=1)
        self._interp.allocate_tensors()
        inputs = self._interp.get_input_details()  # names are stripped: tell them by rank
        try:
            self._sig_in = next(d for d in inputs if len(d["shape"]) == 3)
            self._rr_in = next(d for d in inputs if len(d["shape"]) == 2)
        except StopIteration:
            raise ModelError("expected a (1, n, 1) signal input and a (1, k) RR input", path=str(path)) from None
        self._out = self._interp.get_output_details()[0]
        self._q_sig = _quant_of(self._sig_in)
        self._q_rr = _quant_of(self._rr_in)
        self._q_out = _quant_of(self._out)

    def standardise_rr(self, features: np.ndarray) -> np.ndarray:
        """Standardise raw RR features with the training statistics (clipped to ±5)."""
        z = (np.asarray(features, dtype=np.float64) - self.rr_mean) / self.rr_std
        return np.clip(z, -5.0, 5.0).astype(np.float32)

    def predict_windows(self, windows: np.ndarray, rr_features: np.ndarray) -> np.ndarray:
        """Class probabilities (order :data:`CLASSES`) averaged over the windows.

        Parameters
        ----------
        windows : np.ndarray
            ``(n_windows, WINDOW_SAMPLES)`` from :func:`signal_windows`.
        rr_features : np.ndarray
            Raw features from :func:`ecg.rr_features.rr_features`.
        """
        rr = self.standardise_rr(rr_features).reshape(1, -1)
        probs = np.zeros(len(CLASSES), dtype=np.float64)
        with self._lock:
            self._interp.set_tensor(self._rr_in["index"], self._q_rr.quantise(rr))
            for w in np.asarray(windows, dtype=np.float32):
                self._interp.set_tensor(self._sig_in["index"], self._q_sig.quantise(w.reshape(1, -1, 1)))
                self._interp.invoke()
                probs += self._q_out.dequantise(self._interp.get_tensor(self._out["index"]))[0]
        probs = np.clip(probs / max(len(windows), 1), 0.0, None)
        return probs / max(float(probs.sum()), 1e-9)

    def predict(self, sig_mv: np.ndarray, fs_hz: float, rr_features: np.ndarray) -> np.ndarray:
        """Class probabilities of one recording (see :meth:`predict_windows`)."""
        return self.predict_windows(signal_windows(prepare_signal(sig_mv, fs_hz)), rr_features)

    def decide(self, probs: np.ndarray) -> int:
        """Index of the decided class (see :func:`decide`), with the sidecar's tuned parameters."""
        return int(decide(np.asarray(probs)[None, :], self.class_weights, self.af_threshold)[0])


def decide(probs: np.ndarray, class_weights: np.ndarray, af_threshold: float | None = None) -> np.ndarray:
    """Decided class index per row of ``probs`` (``(n, 4)``, order :data:`CLASSES`).

    AF first: a row whose ``p(A) >= af_threshold`` is AF (the threshold is tuned for a
    target specificity); the others take the arg-max of ``probs * class_weights`` over
    N, O and ~. Without a threshold: the plain weighted arg-max over all four classes.
    """
    p = np.asarray(probs, dtype=np.float64) * np.asarray(class_weights, dtype=np.float64)
    a = CLASSES.index("A")
    if af_threshold is None:
        return np.argmax(p, axis=1)
    p[:, a] = -1.0
    out = np.argmax(p, axis=1)
    out[np.asarray(probs)[:, a] >= af_threshold] = a
    return out


def _quant_of(detail: dict[str, Any]) -> _Quant:
    scale, zero = detail.get("quantization", (0.0, 0))
    return _Quant(float(scale), int(zero), detail["dtype"])


_LOAD_LOCK = threading.Lock()
_CACHE: dict[str, RhythmModel] = {}


def load_model(path: str | Path | None = None) -> RhythmModel:
    """Load (once per process) and return the rhythm model.

    Parameters
    ----------
    path : str or Path, optional
        A ``.tflite`` file with its ``.json`` sidecar; the shipped model by default.

    Raises
    ------
    ModelError
        The file or sidecar is missing or unreadable, or no TFLite runtime is installed.
    """
    key = str(Path(path or DEFAULT_MODEL_PATH).resolve())
    with _LOAD_LOCK:
        if key not in _CACHE:
            _CACHE[key] = RhythmModel(Path(key))
        return _CACHE[key]
