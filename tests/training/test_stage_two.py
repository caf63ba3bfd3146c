"""Tests of the second stage's fit (training.stage_two), numpy/scipy only."""

from __future__ import annotations

import numpy as np

from ecg.stage_two import FEATURES, StageTwo
from training.stage_two import choose_l2, cross_fit, fit_stage, parts_of


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the stage's width whose first columns carry the class (plus noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 1, (n, len(FEATURES)))
    x[np.arange(n), y] += 2.5
    return x, y


class TestFit:
    def test_learns_a_separable_signal(self) -> None:
        x, y = _data()
        stage = fit_stage(x, y, 1e-3)
        assert isinstance(stage, StageTwo)
        z = ((x - stage.mean) / stage.std) @ stage.weights + stage.bias
        assert np.mean(np.argmax(z, axis=1) == y) > 0.8

    def test_stronger_penalty_gives_smaller_weights(self) -> None:
        x, y = _data()
        assert np.abs(fit_stage(x, y, 1e-1).weights).sum() < np.abs(fit_stage(x, y, 1e-4).weights).sum()

    def test_section_is_valid_for_the_runtime(self) -> None:
        x, y = _data()
        d = fit_stage(x, y, 1e-2).to_dict()
        assert StageTwo.from_dict(d).weights.shape == (len(FEATURES), 4)


class TestCrossFit:
    def test_a_part_is_answered_by_stages_that_never_saw_it(self) -> None:
        x, y = _data(400)
        part = parts_of(y, 4)
        fit_on = np.ones(y.size, dtype=bool)
        before = cross_fit(x, y, fit_on, part, 1e-2)
        y2 = y.copy()
        y2[part == 0] = (y2[part == 0] + 1) % 4  # change only part 0's labels
        after = cross_fit(x, y2, fit_on, part, 1e-2)
        assert np.allclose(before[part == 0], after[part == 0])  # part 0's answers do not use its labels
        assert not np.allclose(before[part == 1], after[part == 1])

    def test_records_left_out_of_the_fit_are_still_answered(self) -> None:
        x, y = _data(400)
        part = parts_of(y, 4)
        fit_on = np.arange(y.size) % 5 != 0
        p = cross_fit(x, y, fit_on, part, 1e-2)
        assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0)

    def test_parts_are_stratified(self) -> None:
        y = np.repeat(np.arange(4), [100, 20, 40, 8])
        part = parts_of(y, 4)
        for c in range(4):
            counts = np.bincount(part[y == c], minlength=4)
            assert counts.max() - counts.min() <= 1

    def test_l2_comes_from_the_grid(self) -> None:
        x, y = _data(300)
        from training.stage_two import L2_GRID

        assert choose_l2(x, y, np.ones(y.size, dtype=bool), parts_of(y, 3)) in L2_GRID


class TestShip:
    def test_written_sidecar_loads_and_screens(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        import json
        import shutil

        from ecg.model import DEFAULT_MODEL_PATH, RhythmModel
        from training.stage_two import OofTable, ship

        rng = np.random.default_rng(5)
        n = 500
        y = rng.choice(4, n, p=[0.6, 0.15, 0.2, 0.05])
        probs = rng.dirichlet(np.ones(4), n) * 0.5 + 0.5 * np.eye(4)[y]
        t = OofTable(np.array([f"r{i}" for i in range(n)]), y, probs, np.tile(probs[:, [3, 1, 1]], 1),
                     rng.random(n) > 0.02, rng.normal(0, 1, (n, 14)), np.abs(rng.normal(1, 0.3, (n, 5))),
                     np.zeros((n, 2)))
        shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "m.tflite")
        meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        (tmp_path / "m.json").write_text(json.dumps(meta))
        ship(t, tmp_path / "m.tflite", (np.argmax(probs, axis=1), np.argmax(probs, axis=1)))
        model = RhythmModel(tmp_path / "m.tflite")
        assert model.stage_two is not None
        written = json.loads((tmp_path / "m.json").read_text())
        assert written["stage_two"]["l2"] in (1e-4, 1e-3, 1e-2, 1e-1)
        assert "nested_cross_validated_out_of_fold" in written["decision"]

    def test_atrial_variant_ships_a_stage_that_reads_atrial_features(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        import json
        import shutil

        import pytest

        from ecg.atrial import FEATURE_NAMES as ATRIAL_NAMES
        from ecg.model import DEFAULT_MODEL_PATH, RhythmModel
        from ecg.stage_two import ATRIAL_FEATURES
        from training.stage_two import OofTable, ship

        rng = np.random.default_rng(6)
        n = 500
        y = rng.choice(4, n, p=[0.6, 0.15, 0.2, 0.05])
        probs = rng.dirichlet(np.ones(4), n) * 0.5 + 0.5 * np.eye(4)[y]
        t = OofTable(np.array([f"r{i}" for i in range(n)]), y, probs, probs[:, [3, 1, 1]], rng.random(n) > 0.02,
                     rng.normal(0, 1, (n, 14)), np.abs(rng.normal(1, 0.3, (n, 5))), np.zeros((n, 2)),
                     rng.normal(0, 1, (n, len(ATRIAL_NAMES))))
        shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "m.tflite")
        (tmp_path / "m.json").write_text(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        codes = np.argmax(probs, axis=1)
        ship(t, tmp_path / "m.tflite", (codes, codes), "atrial")
        written = json.loads((tmp_path / "m.json").read_text())
        assert written["stage_two"]["features"] == list(FEATURES + ATRIAL_FEATURES)
        assert written["stage_two"]["variant"] == "atrial"
        model = RhythmModel(tmp_path / "m.tflite")
        assert model.needs_atrial
        with pytest.raises(ValueError, match="cannot be shipped"):
            ship(t, tmp_path / "m.tflite", (codes, codes), "atrial-keep-cnn-noise")
