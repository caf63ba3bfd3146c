"""The segmenter's export graph (training venv only: needs TensorFlow, skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from training.delineation.inference import check_equal, ensemble_model, inference_model  # noqa: E402
from training.delineation.model import ARCHS, build_model  # noqa: E402


@pytest.mark.parametrize("arch", ["sep", "small"])
def test_folded_batch_norms_compute_what_the_trained_model_does(arch: str) -> None:
    tf.keras.utils.set_random_seed(1)
    trained = build_model(None, ARCHS[arch])
    x = np.random.default_rng(0).normal(0, 0.5, (4, 512, 1)).astype(np.float32)
    for layer in trained.layers:  # non-trivial batch-norm statistics
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            rng = np.random.default_rng(len(g))
            layer.set_weights([g * rng.uniform(0.5, 2, g.shape), b + rng.normal(0, 0.1, b.shape),
                               m + rng.normal(0, 0.1, m.shape), v * rng.uniform(0.5, 2, v.shape)])
    folded = inference_model(trained, ARCHS[arch])
    assert not any(isinstance(ly, tf.keras.layers.BatchNormalization) for ly in folded.layers)
    assert check_equal(trained, folded, x) < 1e-4
    with pytest.raises(AssertionError):
        check_equal(trained, folded, x, atol=-1.0)


def _randomised(arch: str, seed: int) -> object:
    tf.keras.utils.set_random_seed(seed)
    trained = build_model(None, ARCHS[arch])
    for layer in trained.layers:  # non-trivial batch-norm statistics
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            rng = np.random.default_rng(len(g) + seed)
            layer.set_weights([g * rng.uniform(0.5, 2, g.shape), b + rng.normal(0, 0.1, b.shape),
                               m + rng.normal(0, 0.1, m.shape), v * rng.uniform(0.5, 2, v.shape)])
    return trained


def test_an_ensemble_graph_is_the_mean_of_its_members_probabilities() -> None:
    a, b = _randomised("sep", 1), _randomised("sep", 2)
    x = np.random.default_rng(0).normal(0, 0.5, (3, 512, 1)).astype(np.float32)
    graph = ensemble_model([(a, ARCHS["sep"]), (b, ARCHS["sep"])])
    mean = (a.predict(x, verbose=0) + b.predict(x, verbose=0)) / 2
    got = graph.predict(x, verbose=0)
    assert np.max(np.abs(got - mean)) < 1e-4
    assert np.max(np.abs(got - a.predict(x, verbose=0))) > 1e-3  # not just one member
    assert check_equal([a, b], graph, x) < 1e-4
    with pytest.raises(AssertionError):
        check_equal(a, graph, x, atol=1e-3)
    with pytest.raises(ValueError):
        ensemble_model([(a, ARCHS["sep"])])
