"""Input preparation of the learned wave segmenter, shared by training and runtime.

The segmenter (a small 1-D U-Net, ``ecg/models/delineation.tflite``) labels every sample
of one lead as background, P wave, QRS complex or T wave. It works at
:data:`MODEL_FS_HZ` whatever the recording's rate: the lead is band-limited exactly as the
delineator's ``clean_mv`` view (0.5–40 Hz zero phase, :func:`ecg.delineation.filters.band_limit`;
at run time that view is reused, not recomputed), resampled (polyphase, anti-aliased) and
divided by its typical QRS amplitude (the median over 1-s blocks of the largest absolute
value), then clipped to ``±CLIP``. Training (``training/delineation``) calls this very
function, so the model never sees a different preparation at run time.
"""

from __future__ import annotations

import numpy as np

from ecg.delineation.filters import band_limit
from ecg.preprocess import resample

__all__ = ["MODEL_FS_HZ", "CLIP", "CLASSES", "prepare", "prepare_many", "resample_to", "typical_amplitude"]

#: the segmenter's own sampling rate (Hz): the 0.5–40 Hz band fits below its Nyquist rate
MODEL_FS_HZ = 125.0
#: prepared samples are clipped to ±CLIP typical QRS amplitudes
CLIP = 3.0
#: output channels, in order
CLASSES = ("background", "p", "qrs", "t")

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


def typical_amplitude(x: np.ndarray, fs_hz: float) -> np.ndarray | float:
    """Median over 1-s blocks of the largest absolute value (about one QRS amplitude);
    per row for a 2-D ``(n_leads, n_samples)`` input."""
    x = np.asarray(x)
    rows = np.atleast_2d(x)
    block = max(1, int(round(_BLOCK_S * fs_hz)))
    n = (rows.shape[1] // block) * block
    if n == 0:
        amp = np.max(np.abs(rows), axis=1) if rows.shape[1] else np.zeros(rows.shape[0])
    else:
        amp = np.median(np.max(np.abs(rows[:, :n].reshape(rows.shape[0], -1, block)), axis=2), axis=1)
    return float(amp[0]) if x.ndim == 1 else amp


def prepare_many(clean_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Band-limited leads ``(n_leads, n_samples)`` (the delineator's ``clean_mv`` views) →
    float32 segmenter input ``(n_leads, m)`` at :data:`MODEL_FS_HZ`, one resampling call."""
    rows = np.atleast_2d(np.asarray(clean_mv, dtype=np.float64))
    x = resample(rows.T, fs_hz, MODEL_FS_HZ)[0].T
    scale = np.maximum(np.atleast_1d(typical_amplitude(x, MODEL_FS_HZ)), _MIN_SCALE)
    return np.clip(x / scale[:, None], -CLIP, CLIP).astype(np.float32)


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
    (500,)
    """
    return prepare_many(band_limit(np.asarray(sig_mv, dtype=np.float64).reshape(1, -1), fs_hz), fs_hz)[0]
