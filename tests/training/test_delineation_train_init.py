"""A training job's initial weights do not depend on which worker process trains it
(training venv only: needs TensorFlow, skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from training.delineation.model import build_model  # noqa: E402
from training.delineation.train import JOB_ORDER, seed_job_init  # noqa: E402


def _weights(model: object) -> np.ndarray:
    return np.concatenate([w.ravel() for w in model.get_weights()])  # type: ignore[attr-defined]


def test_a_job_seeded_alone_starts_as_in_the_single_process_run() -> None:
    tf.keras.utils.set_random_seed(7)  # the documented run: one process, jobs in JOB_ORDER
    sequential = []
    for _ in JOB_ORDER[:4]:
        model = build_model(arch="sep")
        model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        sequential.append(_weights(model))
    for k in (0, 3):  # a worker that starts with fold k
        seed_job_init(7, JOB_ORDER[k], "sep")
        np.testing.assert_array_equal(_weights(build_model(arch="sep")), sequential[k])
    assert not np.array_equal(sequential[2], sequential[3])  # the jobs' networks do differ


def test_the_seed_still_matters() -> None:
    seed_job_init(7, "fold1", "sep")
    a = _weights(build_model(arch="sep"))
    seed_job_init(8, "fold1", "sep")
    assert not np.array_equal(a, _weights(build_model(arch="sep")))
