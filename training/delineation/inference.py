"""The segmenter's inference graph for export: the trained U-Net with every batch norm
folded into the convolution before it (same arithmetic, fewer TFLite ops).

The converter keeps a batch norm after a ``SeparableConv1D`` as a multiply and an add over
the whole activation tensor; folded into the pointwise convolution's weights and bias it
costs nothing at run time. :func:`check_equal` proves the folded graph computes what the
trained model does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.delineation.model import N_CLASSES, Arch

__all__ = ["inference_model", "ensemble_model", "check_equal"]


def _bn_fold(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (np.asarray(v) for v in bn.get_weights())
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - mean * scale


def inference_model(trained: Any, arch: Arch, length: int | None = None) -> Any:
    """A Keras model ``(batch, length, 1) → (batch, length, 4)`` with the weights of
    ``trained`` (built by :func:`training.delineation.model.build_model` with ``arch``)
    and no batch-norm layers."""
    from tensorflow import keras

    inp = keras.Input(shape=(length, 1), name="signal")
    return keras.Model(inp, _folded(trained, arch, inp, "waves"), name="wave_segmenter_inference")


def ensemble_model(members: list[tuple[Any, Arch]], length: int | None = None) -> Any:
    """One Keras graph ``(batch, length, 1) → (batch, length, 4)``: every member's folded
    network on the same input, their per-sample class probabilities averaged (so one
    int8 conversion and one invoke serve the whole ensemble)."""
    from tensorflow import keras

    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    inp = keras.Input(shape=(length, 1), name="signal")
    outs = [_folded(trained, arch, inp, f"waves_m{i}") for i, (trained, arch) in enumerate(members)]
    return keras.Model(inp, keras.layers.Average(name="waves")(outs), name="wave_segmenter_ensemble")


def _folded(trained: Any, arch: Arch, inp: Any, head_name: str) -> Any:
    """The output tensor of ``trained`` rebuilt on ``inp`` with its batch norms folded."""
    from tensorflow import keras

    convs = [ly for ly in trained.layers if isinstance(ly, (keras.layers.Conv1D, keras.layers.SeparableConv1D))]
    bns = [ly for ly in trained.layers if isinstance(ly, keras.layers.BatchNormalization)]
    head = convs.pop()  # the 1x1 softmax classifier
    pairs = iter(zip(convs, bns, strict=True))

    def conv_relu(x: Any, width: int, dilation: int) -> Any:
        conv, bn = next(pairs)
        scale, bias = _bn_fold(bn)
        if isinstance(conv, keras.layers.SeparableConv1D):
            dw, pw = conv.get_weights()  # (k, in, 1), (1, in, out)
            layer = keras.layers.SeparableConv1D(width, arch.kernel, padding="same", dilation_rate=dilation)
            x = layer(x)
            layer.set_weights([dw, pw * scale, bias])
        else:
            (w,) = conv.get_weights()  # (k, in, out)
            layer = keras.layers.Conv1D(width, arch.kernel, padding="same", dilation_rate=dilation)
            x = layer(x)
            layer.set_weights([w * scale, bias])
        return keras.layers.ReLU()(x)

    def block(x: Any, width: int, n: int, dilation: int = 1) -> Any:
        for _ in range(n):
            x = conv_relu(x, width, dilation)
        return x

    x, skips = inp, []
    for width in arch.widths[:-1]:
        x = block(x, width, arch.n_encoder)
        skips.append(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = block(x, arch.widths[-1], arch.n_encoder, dilation=2)
    for width, skip in zip(reversed(arch.widths[:-1]), reversed(skips), strict=True):
        x = keras.layers.UpSampling1D(2)(x)
        x = keras.layers.Concatenate()([x, skip])
        x = block(x, width, arch.n_decoder)
    out_layer = keras.layers.Conv1D(N_CLASSES, 1, activation="softmax", name=head_name)
    out = out_layer(x)
    out_layer.set_weights(head.get_weights())
    return out


def check_equal(trained: Any, inference: Any, windows: np.ndarray, atol: float = 1e-4) -> float:
    """Largest absolute difference of the probabilities of ``trained`` (one model, or a list
    of members whose probabilities are averaged) and ``inference`` on ``windows``
    ``(b, L, 1)``; raises ``AssertionError`` above ``atol``."""
    members = trained if isinstance(trained, list) else [trained]
    a = np.mean([m.predict(windows, verbose=0) for m in members], axis=0)
    b = inference.predict(windows, verbose=0)
    diff = float(np.max(np.abs(a - b)))
    if diff > atol:
        raise AssertionError(f"inference graph differs from the trained model by {diff:g}")
    return diff
