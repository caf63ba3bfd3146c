"""What the rhythm model is fed: its input constants, :func:`prepare_signal` and :func:`signal_windows`.

Training (``training/``) and screening call these same functions, so a model is trained on
exactly what it sees at run time; training's input cache is keyed on this file
(``training.data.PREPARATION_SOURCES``). The constants are what training writes into a new
sidecar; at run time the loaded sidecar's values are passed in. Re-exported by
:mod:`ecg.model`.
"""

from __future__ import annotations

import math

import numpy as np

from ecg.delineation.vec import median1d
from ecg.errors import SignalError
from ecg.filters import zero_phase
from ecg.preprocess import resample

__all__ = ["MODEL_FS_HZ", "WINDOW_SAMPLES", "STRIDE_SAMPLES", "BAND_HZ", "MIN_FS_HZ", "CLIP_SD",
           "prepare_signal", "signal_windows"]

#: sample rate of the model's input (Hz)
MODEL_FS_HZ = 150.0
#: samples per model window (20 s at 150 Hz)
WINDOW_SAMPLES = 3000
#: hop between windows (10 s at 150 Hz)
STRIDE_SAMPLES = 1500
#: band of the model's input (Hz)
BAND_HZ: tuple[float, float] = (0.5, 40.0)
#: lowest sample rate accepted: the 40 Hz band edge needs some head-room
MIN_FS_HZ = 100.0
#: clip of the standardised signal (in standard deviations)
CLIP_SD = 8.0


def prepare_signal(sig_mv: np.ndarray, fs_hz: float, *, fs_out_hz: float = MODEL_FS_HZ,
                   band_hz: tuple[float, float] = BAND_HZ) -> np.ndarray:
    """Turn a single-lead ECG into the model's standardised input signal.

    Parameters
    ----------
    sig_mv : np.ndarray
        1-D ECG in millivolts (finite samples).
    fs_hz : float
        Its sample rate, at least :data:`MIN_FS_HZ`.
    fs_out_hz : float
        The model's input rate (the sidecar's ``input_fs_hz``).
    band_hz : (float, float)
        Band-pass corners (the sidecar's ``band_hz``).

    Returns
    -------
    np.ndarray
        ``float32`` signal at ``fs_out_hz``, zero mean, unit standard deviation,
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
    if x.size < fs or not np.isfinite(x).all():
        raise SignalError("signal must hold at least 1 s of finite samples", reason="too_short",
                          fs_hz=fs, n_samples=int(x.size))
    x = zero_phase(x - median1d(x), 3, (float(band_hz[0]), float(band_hz[1])), "bandpass", fs)  # np.median's value
    x, _ = resample(x, fs, fs_out_hz)  # a new array (the filter's output when no resampling): changed in place
    x -= float(x.sum()) / x.size  # np.mean's value (the same sum and division)
    x /= max(_std(x), 1e-6)
    np.maximum(x, -CLIP_SD, out=x)  # np.clip's values (no NaN here) without its per-call overhead
    np.minimum(x, CLIP_SD, out=x)
    return x.astype(np.float32)


def _std(x: np.ndarray) -> float:
    """``np.std(x)`` of a 1-D float64 array: numpy's mean, squared deviations and their mean."""
    d = x - float(x.sum()) / x.size
    np.multiply(d, d, out=d)
    return math.sqrt(float(d.sum()) / x.size)


def signal_windows(x: np.ndarray, window_samples: int = WINDOW_SAMPLES,
                   stride_samples: int = STRIDE_SAMPLES) -> np.ndarray:
    """Cut a prepared signal into overlapping model windows.

    Windows start every ``stride_samples``; the last one is aligned to the end so no
    sample is left out. A signal shorter than one window is zero-padded at the end.

    Returns
    -------
    np.ndarray
        ``(n_windows, window_samples)`` ``float32``.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if x.size <= window_samples:
        out = np.zeros((1, window_samples), dtype=np.float32)
        out[0, : x.size] = x
        return out
    starts = list(range(0, x.size - window_samples + 1, stride_samples))
    if starts[-1] != x.size - window_samples:
        starts.append(x.size - window_samples)
    out = np.empty((len(starts), window_samples), dtype=np.float32)  # np.stack's copies without its wrapper
    for row, s in zip(out, starts):
        row[:] = x[s : s + window_samples]
    return out
