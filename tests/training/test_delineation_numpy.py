"""Tests of the TensorFlow-free parts of training/delineation: labels, folds, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg.delineation.segmenter_input import CLIP, MODEL_FS_HZ, prepare
from training.delineation.augment import CROP_SAMPLES, augmented_lead, clean_input, make_batch
from training.delineation.data import BoundaryWeight, Lead, folds_by_record, label_vector, load_ludb, wave_intervals

_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _lead() -> Lead:
    t = np.arange(5000) / 500.0
    sig = np.sin(2 * np.pi * 1.1 * t) ** 21
    waves = np.array([[1, 600, 650], [2, 700, 740], [3, 820, 950], [2, 1150, 1190]])
    return Lead("x", "i", sig, waves, (600, 1190))


class TestLabels:
    def test_triplets_only(self) -> None:
        sym = ["(", "p", ")", "N", "(", "N", ")", "(", "t", ")", "t"]
        rows = wave_intervals(sym, np.arange(len(sym)) * 10)
        assert rows.tolist() == [[1, 0, 20], [2, 40, 60], [3, 70, 90]]

    def test_vector_and_weights(self) -> None:
        y, w = label_vector(np.array([[2, 100, 120]]), (90, 200), 150, 0.5)
        assert y[50:61].tolist() == [2] * 11 and y[49] == 0 and y[61] == 0
        assert w[45:101].all() and not w[:45].any() and not w[101:].any()

    def test_boundary_weights_near_onsets_and_offsets_only(self) -> None:
        waves = np.array([[1, 100, 140], [2, 180, 220]])
        y0, w0 = label_vector(waves, (90, 300), 150, 0.5)
        y, w = label_vector(waves, (90, 300), 150, 0.5, BoundaryWeight(3.0, 2))
        np.testing.assert_array_equal(y, y0)
        heavy = np.flatnonzero(w == 3.0).tolist()
        # edges at model samples 50, 70 (P) and 90, 110 (QRS), each ± 2 samples
        assert heavy == [s for e in (50, 70, 90, 110) for s in range(e - 2, e + 3)]
        assert set(np.unique(w[w != 3.0]).tolist()) == {0.0, 1.0}
        assert not w[:45].any()  # outside the span stays unweighted

    def test_boundary_weight_validated(self) -> None:
        with pytest.raises(ValueError):
            BoundaryWeight(0.5, 2)
        with pytest.raises(ValueError):
            BoundaryWeight(3.0, -1)


class TestFolds:
    def test_disjoint_cover_and_fixed(self) -> None:
        recs = [str(i) for i in range(1, 161)]
        folds = folds_by_record(recs)
        flat = [r for f in folds for r in f]
        assert sorted(flat, key=int) == recs and len(folds) == 5
        assert all(30 <= len(f) <= 34 for f in folds)
        assert folds == folds_by_record(list(reversed(recs)))


class TestAugment:
    def test_labels_follow_the_stretch(self) -> None:
        lead = _lead()
        rng = np.random.default_rng(3)
        for _ in range(5):
            x, y, w = augmented_lead(lead, rng)
            assert x.dtype == np.float32 and np.abs(x).max() <= CLIP
            n = 5000 * MODEL_FS_HZ / 500.0
            assert 0.85 * n <= x.size <= 1.15 * n and y.size == x.size == w.size
            qrs = np.flatnonzero(y == 2)
            assert qrs.size > 0 and w[qrs].all()

    def test_boundary_weight_leaves_the_crops_alone(self) -> None:
        x0, y0, w0 = make_batch([_lead(), _lead()], np.random.default_rng(5))
        x, y, w = make_batch([_lead(), _lead()], np.random.default_rng(5), BoundaryWeight(3.0, 2))
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)
        assert (w >= w0).all() and (w == 3.0).any() and ((w0 > 0) == (w > 0)).all()

    def test_batch_shapes(self) -> None:
        x, y, w = make_batch([_lead(), _lead()], np.random.default_rng(0))
        assert x.shape == (2, CROP_SAMPLES, 1) and y.shape == w.shape == (2, CROP_SAMPLES)
        assert w.sum() > 0

    def test_clean_input_is_the_runtime_preparation(self) -> None:
        lead = _lead()
        x, _, _ = clean_input(lead)
        np.testing.assert_array_equal(x, prepare(lead.sig_mv, 500.0))
        assert x.size == int(5000 * MODEL_FS_HZ / 500.0)


def test_loads_the_ludb_fixture(tmp_path: Path) -> None:
    (tmp_path / "ludb").mkdir()
    (tmp_path / "ludb" / "data").symlink_to(_FIXTURES / "ludb", target_is_directory=True)
    leads = load_ludb(tmp_path, ["2"])
    assert [ld.lead for ld in leads] == ["i", "ii"]  # the fixture keeps two leads' annotations
    for ld in leads:
        assert ld.sig_mv.size == 5000 and ld.span[0] < ld.span[1]
        assert set(ld.waves[:, 0].tolist()) == {1, 2, 3}


def test_a_run_folder_refuses_another_recipe(tmp_path: Path) -> None:
    from training.delineation.train import _check_recipe

    recipe = {"epochs": 30, "boundary_weight": BoundaryWeight(3.0, 2).as_dict()}
    _check_recipe(tmp_path, recipe)
    _check_recipe(tmp_path, dict(recipe))  # the same recipe resumes
    with pytest.raises(SystemExit, match="started with"):
        _check_recipe(tmp_path, {**recipe, "boundary_weight": BoundaryWeight().as_dict()})


def test_a_pt_pair_loads_as_one_segmenter_with_its_member(tmp_path: Path) -> None:
    import json

    from ecg.delineation.segmenter import DEFAULT_SEGMENTER_PATH, WaveSegmenter
    from training.delineation.export import pt_pair_job

    meta = {k: v for k, v in json.loads(DEFAULT_SEGMENTER_PATH.with_suffix(".json").read_text()).items()
            if k != "pt_members"}
    folds = [["1", "2"], ["3"]]
    for run, version in (("base", "b"), ("s8", "m")):
        (tmp_path / run / "fold1").mkdir(parents=True)
        (tmp_path / run / "folds.json").write_text(json.dumps(folds))
        (tmp_path / run / "fold1" / "delineation.tflite").write_bytes(DEFAULT_SEGMENTER_PATH.read_bytes())
        (tmp_path / run / "fold1" / "delineation.json").write_text(json.dumps({**meta, "version": version}))
    path = pt_pair_job(tmp_path / "pair", tmp_path / "base", [tmp_path / "s8"], "fold1")
    seg = WaveSegmenter(path)
    assert seg.version == "b-pt" and [m.version for m in seg.pt_members] == ["m"]
    assert json.loads((tmp_path / "pair" / "folds.json").read_text()) == folds
    (tmp_path / "s8" / "folds.json").write_text(json.dumps([["1"], ["2", "3"]]))
    with pytest.raises(SystemExit):  # members must share the base's folds
        pt_pair_job(tmp_path / "pair2", tmp_path / "base", [tmp_path / "s8"], "fold1")
