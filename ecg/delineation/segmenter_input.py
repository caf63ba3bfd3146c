"""Input preparation of the learned wave segmenter, shared by training and runtime.

The segmenter (a small 1-D U-Net, ``ecg/models/delineation.tflite``) labels every sample
of one lead as background, P wave, QRS complex or T wave. It works at
:data:`MODEL_FS_HZ` whatever the recording's rate: the lead is resampled (polyphase,
anti-aliased), high-passed at 0.5 Hz (zero phase) and divided by its typical QRS
amplitude (the median over 1-s blocks of the largest absolute value), then clipped to
``±CLIP``. Training (``training/delineation``) calls this very function, so the model
never sees a different preparation at run time.
"""

from __future__ import annotations

import numpy as np

from ecg.filters import zero_phase
from ecg.preprocess import resample

__all__ = ["MODEL_FS_HZ", "CLIP", "CLASSES", "prepare", "resample_to"]

#: the segmenter's own sampling rate (Hz)
MODEL_FS_HZ = 250.0
#: prepared samples are clipped to ±CLIP typical QRS amplitudes
CLIP = 3.0
#: output channels, in order
CLASSES = ("background", "p", "qrs", "t")

_HIGHPASS_HZ = 0.5
_BLOCK_S = 1.0
_MIN_SCALE = 1e-6


def resample_to(x: np.ndarray, fs_hz: float, target_fs_hz: float) -> np.ndarray:
    """Polyphase resampling of a 1-D signal from ``fs_hz`` to ``target_fs_hz``
    (the project's one resampler, :func:`ecg.preprocess.resample`).

    Examples
    --------
    >>> resample_to(np.zeros(500), 500.0, 250.0).shape
    (250,)
    """
    return resample(np.asarray(x, dtype=np.float64).reshape(-1), fs_hz, target_fs_hz)[0]


def typical_amplitude(x: np.ndarray, fs_hz: float) -> float:
    """Median over 1-s blocks of the largest absolute value (about one QRS amplitude)."""
    block = max(1, int(round(_BLOCK_S * fs_hz)))
    n = (x.size // block) * block
    if n == 0:
        return float(np.max(np.abs(x))) if x.size else 0.0
    return float(np.median(np.max(np.abs(x[:n].reshape(-1, block)), axis=1)))


def prepare(sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """One lead in millivolts at ``fs_hz`` → float32 segmenter input at :data:`MODEL_FS_HZ`.

    Parameters
    ----------
    sig_mv : np.ndarray
        One lead, 1-D, any rate of at least 100 Hz, at least 1 s long.
    fs_hz : float
        Its sampling rate.

    Returns
    -------
    np.ndarray
        float32, ``round(len * MODEL_FS_HZ / fs_hz)`` samples, in typical-QRS units.

    Examples
    --------
    >>> t = np.arange(2000) / 500.0
    >>> prepare(np.sin(2 * np.pi * 1.2 * t), 500.0).shape
    (1000,)
    """
    x = resample_to(sig_mv, fs_hz, MODEL_FS_HZ)
    pad = int(min(x.size - 1, MODEL_FS_HZ))
    x = zero_phase(x, 2, _HIGHPASS_HZ, "highpass", MODEL_FS_HZ, padlen=max(pad, 0))
    scale = max(typical_amplitude(x, MODEL_FS_HZ), _MIN_SCALE)
    return np.clip(x / scale, -CLIP, CLIP).astype(np.float32)
