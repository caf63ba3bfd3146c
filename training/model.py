"""Keras definition of the rhythm model (TensorFlow only here, never at run time).

One fold model: a residual 1-D CNN with large kernels and shortcut connections on a 20 s,
150 Hz window (in the spirit of CardioLearn's and torch_ecg's ResNets), global average
and max pooling, and beside it a small dense branch on the standardised RR features.
The shipped graph (:func:`build_ensemble`) averages the fold models' logits, divides them
by a fitted temperature and applies the softmax, inside one TFLite file.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow import keras
from keras import layers

from ecg.model import CLASSES, WINDOW_SAMPLES
from ecg.rr_features import FEATURE_NAMES

__all__ = ["build_model", "build_ensemble", "logits_model", "STAGES"]

#: (channels, kernel, stride) of the residual stages after the stem
STAGES: tuple[tuple[int, int, int], ...] = (
    (16, 9, 2),
    (20, 9, 2),
    (28, 7, 2),
    (40, 7, 2),
    (48, 5, 2),
)


def _res_block(x: tf.Tensor, channels: int, kernel: int, stride: int, name: str) -> tf.Tensor:
    shortcut = x
    y = layers.Conv1D(channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_c1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_r1")(y)
    y = layers.Conv1D(channels, kernel, padding="same", use_bias=False, name=f"{name}_c2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != channels:
        if stride != 1:
            shortcut = layers.AveragePooling1D(stride, padding="same", name=f"{name}_pool")(shortcut)
        shortcut = layers.Conv1D(channels, 1, use_bias=False, name=f"{name}_sc")(shortcut)
        shortcut = layers.BatchNormalization(name=f"{name}_bnsc")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_model(name: str = "fold", *, dropout: float = 0.3,
                stages: tuple[tuple[int, int, int], ...] = STAGES) -> keras.Model:
    """One fold model: inputs ``signal`` (None, WINDOW_SAMPLES, 1) and ``rr``; softmax over CLASSES."""
    sig = keras.Input((WINDOW_SAMPLES, 1), name="signal")
    rr = keras.Input((len(FEATURE_NAMES),), name="rr")
    x = layers.Conv1D(16, 15, strides=2, padding="same", use_bias=False, name="stem_conv")(sig)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, (ch, k, s) in enumerate(stages):
        x = _res_block(x, ch, k, s, name=f"s{i}")
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
    """One graph: softmax of the members' mean logits divided by ``temperature``; batch 1.

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
