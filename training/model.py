"""Keras definition of the rhythm model (TensorFlow only here, never at run time).

A residual 1-D CNN on a 20 s, 150 Hz window (in the spirit of CardioLearn's and torch_ecg's
ResNets): a strided stem convolution, residual stages (two convolutions + batch norm,
average-pool + 1×1-conv shortcuts), global average and max pooling, and beside it a small
dense branch on the standardised RR features.

Architectures are named :class:`ArchSpec` entries of :data:`ARCHS`:

- ``r3``: the 2026.11 ensemble member (stem 16×15 stride 2, five stages 16–48 channels),
  ≈ 72 k parameters, ≈ 10.8 M multiply-accumulates (MACs) per window;
- ``s1``: the cheap single model of issue 10/16 (stem stride 4, kernels 9–3, stages 16–64),
  ≈ 5.4 M MACs per window (:func:`count_macs`), so that two windows of a 30 s record stay
  well inside 2 ms of int8 CPU.

The shipped graph (:func:`build_ensemble`) divides the logits of one model — or the mean
logits of several — by a fitted temperature and applies the softmax, inside one TFLite file.
"""

from __future__ import annotations


import tensorflow as tf
from tensorflow import keras
from keras import layers

from ecg.model import CLASSES, WINDOW_SAMPLES
from ecg.rr_features import FEATURE_NAMES
from training.arch import ARCHS, STAGES, ArchSpec, Stage

__all__ = ["ArchSpec", "ARCHS", "STAGES", "build_model", "build_ensemble", "logits_model", "count_macs"]

def _conv(x: tf.Tensor, channels: int, kernel: int, stride: int, name: str, separable: bool) -> tf.Tensor:
    if separable:
        return layers.SeparableConv1D(channels, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    return layers.Conv1D(channels, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)


def _res_block(x: tf.Tensor, stage: Stage, name: str, separable: bool) -> tf.Tensor:
    channels, kernel, stride = stage
    shortcut = x
    y = _conv(x, channels, kernel, stride, f"{name}_c1", separable)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_r1")(y)
    y = _conv(y, channels, kernel, 1, f"{name}_c2", separable)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != channels:
        if stride != 1:
            shortcut = layers.AveragePooling1D(stride, padding="same", name=f"{name}_pool")(shortcut)
        shortcut = layers.Conv1D(channels, 1, use_bias=False, name=f"{name}_sc")(shortcut)
        shortcut = layers.BatchNormalization(name=f"{name}_bnsc")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_model(name: str = "fold", *, dropout: float = 0.3, arch: ArchSpec | None = None,
                stages: tuple[Stage, ...] | None = None) -> keras.Model:
    """One model: inputs ``signal`` (None, WINDOW_SAMPLES, 1) and ``rr``; softmax over CLASSES.

    Parameters
    ----------
    name : str
        Keras model name.
    dropout : float
        Dropout before the head.
    arch : ArchSpec, optional
        Architecture (default ``ARCHS["r3"]``).
    stages : tuple, optional
        Legacy form: the r3 stem with these stages (runs written before ``arch`` existed).
    """
    if arch is None:
        arch = ArchSpec(ARCHS["r3"].stem, stages) if stages is not None else ARCHS["r3"]
    sig = keras.Input((WINDOW_SAMPLES, 1), name="signal")
    rr = keras.Input((len(FEATURE_NAMES),), name="rr")
    ch, k, s = arch.stem
    x = layers.Conv1D(ch, k, strides=s, padding="same", use_bias=False, name="stem_conv")(sig)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, stage in enumerate(arch.stages):
        x = _res_block(x, stage, f"s{i}", arch.separable)
    pooled = layers.Concatenate(name="pool")(
        [layers.GlobalAveragePooling1D(name="gap")(x), layers.GlobalMaxPooling1D(name="gmp")(x)]
    )
    r = layers.Dense(32, activation="relu", name="rr_dense")(rr)
    h = layers.Concatenate(name="merge")([pooled, r])
    h = layers.Dropout(dropout, name="drop")(h)
    h = layers.Dense(32, activation="relu", name="head")(h)
    logits = layers.Dense(len(CLASSES), name="probs")(h)
    out = layers.Softmax(name="softmax")(logits)
    return keras.Model([sig, rr], out, name=name)


def logits_model(model: keras.Model) -> keras.Model:
    """The same network up to its pre-softmax ``probs`` layer (shared weights)."""
    return keras.Model(model.inputs, model.get_layer("probs").output, name=f"{model.name}_logits")


def build_ensemble(members: list[keras.Model], temperature: float = 1.0) -> keras.Model:
    """One graph: softmax of the members' mean logits (or the one member's) divided by ``temperature``; batch 1.

    The temperature is fitted on out-of-fold predictions (``training.calibrate``) so the
    probabilities are calibrated; it changes no arg-max.
    """
    sig = keras.Input((WINDOW_SAMPLES, 1), batch_size=1, name="signal")
    rr = keras.Input((len(FEATURE_NAMES),), batch_size=1, name="rr")
    outs = [logits_model(m)([sig, rr], training=False) for m in members]
    z = outs[0] if len(outs) == 1 else layers.Average(name="mean")(outs)
    z = layers.Rescaling(1.0 / float(temperature), name="temperature")(z)
    out = layers.Softmax(name="calibrated")(z)
    return keras.Model([sig, rr], out, name="rhythm_ensemble")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass (batch 1) over convolutions and dense layers.

    Batch norm folds into the convolutions at conversion; pooling, adds and activations
    are not counted.
    """
    total = 0
    for layer in _flat_layers(model):
        if isinstance(layer, (layers.Conv1D, layers.SeparableConv1D, layers.Dense)):
            out_len = int(layer.output.shape[1]) if len(layer.output.shape) == 3 else 1
            cin = int(layer.input.shape[-1])
            cout = int(layer.output.shape[-1])
            if isinstance(layer, layers.SeparableConv1D):
                total += out_len * cin * int(layer.kernel_size[0]) + out_len * cin * cout
            elif isinstance(layer, layers.Conv1D):
                total += out_len * cin * cout * int(layer.kernel_size[0])
            else:
                total += cin * cout
    return total


def _flat_layers(model: keras.Model) -> list[layers.Layer]:
    out = []
    for layer in model.layers:
        out += _flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return out
