"""The segmenter: a small fully convolutional 1-D U-Net (Keras; training only).

Four resolution levels (pooling by 2 three times, then a dilated bottleneck), convolution
+ batch-norm + ReLU blocks per level, nearest-neighbour up-sampling and skip
concatenations, a per-sample softmax over background / P / QRS / T. Every layer maps to a
TFLite built-in with int8 kernels. The size is one of :data:`ARCHS` (chosen for run-time
cost: the shipped one must cost about what the rule delineator does, see the model card).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["build_model", "Arch", "ARCHS", "DEFAULT_ARCH", "N_CLASSES"]

N_CLASSES = 4


@dataclass(frozen=True)
class Arch:
    """Channel widths per level (the last is the bottleneck), kernel size, depthwise-separable
    convolutions or not, and convolutions per encoder / decoder block."""

    widths: tuple[int, ...]
    kernel: int
    separable: bool
    n_encoder: int = 2
    n_decoder: int = 2

    def as_dict(self) -> dict[str, Any]:
        return {"type": "1-D U-Net", "widths": list(self.widths), "kernel": self.kernel,
                "separable": self.separable, "n_encoder": self.n_encoder, "n_decoder": self.n_decoder}


ARCHS = {
    "wide": Arch((16, 24, 32, 48), 9, False),          # the first model (250 Hz, 9.6 ms per 10-s lead)
    "small": Arch((8, 12, 16, 24), 7, False),
    "sep": Arch((8, 16, 24, 32), 9, True),
    "sep16": Arch((16, 24, 32, 48), 9, True),
}
DEFAULT_ARCH = "sep"


def _conv(x: Any, width: int, kernel: int, separable: bool, dilation: int) -> Any:
    from tensorflow import keras

    if separable and int(x.shape[-1]) > 1:
        return keras.layers.SeparableConv1D(width, kernel, padding="same", dilation_rate=dilation, use_bias=False)(x)
    return keras.layers.Conv1D(width, kernel, padding="same", dilation_rate=dilation, use_bias=False)(x)


def _block(x: Any, width: int, arch: Arch, n: int, dilation: int = 1) -> Any:
    from tensorflow import keras

    for _ in range(n):
        x = _conv(x, width, arch.kernel, arch.separable, dilation)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    return x


def build_model(length: int | None = None, arch: Arch | str = DEFAULT_ARCH) -> Any:
    """Keras model ``(batch, length, 1) → (batch, length, 4)`` softmax; length a multiple of 8."""
    from tensorflow import keras

    a = ARCHS[arch] if isinstance(arch, str) else arch
    inp = keras.Input(shape=(length, 1), name="signal")
    skips = []
    x = inp
    for width in a.widths[:-1]:
        x = _block(x, width, a, a.n_encoder)
        skips.append(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = _block(x, a.widths[-1], a, a.n_encoder, dilation=2)
    for width, skip in zip(reversed(a.widths[:-1]), reversed(skips), strict=True):
        x = keras.layers.UpSampling1D(2)(x)
        x = keras.layers.Concatenate()([x, skip])
        x = _block(x, width, a, a.n_decoder)
    out = keras.layers.Conv1D(N_CLASSES, 1, activation="softmax", name="waves")(x)
    return keras.Model(inp, out, name="wave_segmenter")
