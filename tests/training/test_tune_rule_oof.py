"""The pooled out-of-fold inputs of ``training.tune_rule`` (no data, no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import training.tune_rule as tune_rule
from training.calibrate import fit_temperature
from training.train import record_probs


def _fake_run(run: Path, rng: np.random.Generator) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Two folds of out-of-fold files with window logits; returns names, y, logits, owners (pooled)."""
    names, ys, zs, owners, n = [], [], [], [], 0
    for k, size in enumerate((5, 7)):
        y = rng.integers(0, 4, size)
        owner = np.repeat(np.arange(size), 2)
        z = rng.normal(size=(owner.size, 4)) * 3 + np.eye(4)[y[owner]] * 2
        fold_names = [f"R{k}{i}" for i in range(size)]
        (run / f"fold{k}").mkdir(parents=True)
        np.savez(run / f"fold{k}" / "oof.npz", names=np.array(fold_names), y=y,
                 probs=record_probs(z, owner, size), window_logits=z, window_owner=owner)
        names += fold_names
        ys.append(y)
        zs.append(z)
        owners.append(owner + n)
        n += size
    return names, np.concatenate(ys), np.concatenate(zs), np.concatenate(owners)


@pytest.fixture
def all_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tune_rule, "load_readable",
                        lambda data_dir, names: {n: not n.endswith("0") for n in names})


@pytest.mark.usefixtures("all_readable")
class TestPooledOutOfFold:
    def test_a_given_temperature_is_applied_to_the_pooled_window_logits(self, tmp_path: Path) -> None:
        names, y, z, owner = _fake_run(tmp_path, np.random.default_rng(0))
        got_y, probs, readable = tune_rule._oof(tmp_path, tmp_path, 0.5)
        assert np.array_equal(got_y, y)
        assert np.allclose(probs, record_probs(z, owner, len(names), 0.5))
        assert readable.tolist() == [not n.endswith("0") for n in names]

    def test_none_fits_the_temperature_on_the_run_itself(self, tmp_path: Path) -> None:
        names, y, z, owner = _fake_run(tmp_path, np.random.default_rng(1))
        fitted = fit_temperature(z, owner, y)
        assert fitted != pytest.approx(1.0, abs=0.05)  # the check below can tell it from no scaling
        _, probs, _ = tune_rule._oof(tmp_path, tmp_path, None)
        assert np.allclose(probs, record_probs(z, owner, len(names), fitted))
        assert not np.allclose(probs, record_probs(z, owner, len(names), 1.0))
