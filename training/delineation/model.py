"""The segmenter: a small fully convolutional 1-D U-Net (Keras; training only).

Four resolution levels (pooling by 2 three times, then a dilated bottleneck), two
convolution + batch-norm + ReLU blocks per level, nearest-neighbour up-sampling and skip
concatenations, a per-sample softmax over background / P / QRS / T. Every layer maps to a
TFLite built-in with int8 kernels.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_model", "WIDTHS", "KERNEL"]

WIDTHS = (16, 24, 32, 48)
KERNEL = 9
N_CLASSES = 4


def _block(x: Any, width: int, dilation: int = 1) -> Any:
    from tensorflow import keras

    for _ in range(2):
        x = keras.layers.Conv1D(width, KERNEL, padding="same", dilation_rate=dilation, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    return x


def build_model(length: int | None = None) -> Any:
    """Keras model ``(batch, length, 1) → (batch, length, 4)`` softmax; length a multiple of 8."""
    from tensorflow import keras

    inp = keras.Input(shape=(length, 1), name="signal")
    skips = []
    x = inp
    for width in WIDTHS[:-1]:
        x = _block(x, width)
        skips.append(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = _block(x, WIDTHS[-1], dilation=2)
    for width, skip in zip(reversed(WIDTHS[:-1]), reversed(skips), strict=True):
        x = keras.layers.UpSampling1D(2)(x)
        x = keras.layers.Concatenate()([x, skip])
        x = _block(x, width)
    out = keras.layers.Conv1D(N_CLASSES, 1, activation="softmax", name="waves")(x)
    return keras.Model(inp, out, name="wave_segmenter")
