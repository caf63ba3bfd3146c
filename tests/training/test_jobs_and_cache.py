"""TensorFlow-free parts of the 2026.12 training procedure: architectures, jobs, run config, cache key."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from training import data as data_mod
from training.arch import ARCHS, ArchSpec
from training.data import Dataset
from training.train import _job_sets, _write_config, class_scale, inputs_fingerprint


def _dataset(n: int) -> Dataset:
    names = [f"A{i:05d}" for i in range(n)]
    return Dataset(names, np.arange(n) % 4, [np.zeros(10, np.float32) for _ in names], np.zeros((n, 14)))


class TestArchSpec:
    @pytest.mark.parametrize("name", sorted(ARCHS))
    def test_round_trip(self, name: str) -> None:
        assert ArchSpec.from_dict(ARCHS[name].to_dict()) == ARCHS[name]

    def test_rejects_a_zero_stride(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            ArchSpec((16, 9, 0), ())


class TestJobSets:
    def test_fold_trains_on_the_other_folds_plus_extra_and_holds_out_its_own(self) -> None:
        ds, extra = _dataset(9), Dataset(["mitdb@0"], np.array([1]), [np.zeros(10, np.float32)], np.zeros((1, 14)))
        folds = [ds.names[0:3], ds.names[3:6], ds.names[6:9]]
        tr, va = _job_sets("fold1", ds, folds, extra)
        assert va is not None and va.names == folds[1]
        assert tr.names == folds[0] + folds[2] + ["mitdb@0"] and tr.rr.shape == (7, 14)

    def test_final_trains_on_every_training_record_and_holds_out_nothing(self) -> None:
        ds = _dataset(9)
        folds = [ds.names[0:3], ds.names[3:6], ds.names[6:9]]
        tr, va = _job_sets("final", ds, folds, None)
        assert va is None and sorted(tr.names) == sorted(ds.names)


class TestRunConfig:
    def _args(self, run: Path, epochs: int) -> argparse.Namespace:
        return argparse.Namespace(run=run, epochs=epochs, batch=64, lr=3e-3, seed=1, arch="s1", select="last",
                                  no_extra=False, data=Path("d"), arch_spec=ARCHS["s1"].to_dict())

    def test_resuming_with_other_options_is_refused(self, tmp_path: Path) -> None:
        _write_config(self._args(tmp_path, 40))
        _write_config(self._args(tmp_path, 40))  # same options: fine
        with pytest.raises(SystemExit, match="epochs"):
            _write_config(self._args(tmp_path, 30))

    def test_resuming_on_other_inputs_or_noise_share_is_refused(self, tmp_path: Path) -> None:
        args = self._args(tmp_path, 40)
        args.inputs, args.noise_draw_scale = "aaaa", 0.5
        _write_config(args)
        args.inputs = "bbbb"
        with pytest.raises(SystemExit, match="inputs"):
            _write_config(args)
        args.inputs, args.noise_draw_scale = "aaaa", 1.0
        with pytest.raises(SystemExit, match="noise_draw_scale"):
            _write_config(args)

    @pytest.mark.parametrize(("option", "first", "then"), [("noise_stretch_p", 0.3, 0.0), ("n_folds", 5, 3),
                                                         ("focal_gamma", 2.0, 0.0)])
    def test_resuming_with_another_setting_is_refused(self, tmp_path: Path, option: str, first: object,
                                                      then: object) -> None:
        args = self._args(tmp_path, 40)
        setattr(args, option, first)
        _write_config(args)
        setattr(args, option, then)
        with pytest.raises(SystemExit, match=option):
            _write_config(args)

    def test_a_run_configured_before_the_new_options_still_resumes(self, tmp_path: Path) -> None:
        _write_config(self._args(tmp_path, 40))  # no inputs, default noise share
        args = self._args(tmp_path, 40)
        args.noise_draw_scale, args.n_folds, args.focal_gamma = 1.0, 3, 0.0
        _write_config(args)  # the default noise share, fold count and loss are not written, so nothing differs


class TestLoss:
    """The loss of ``--focal-gamma`` (needs TensorFlow: runs in the training venv, skipped elsewhere)."""

    @pytest.mark.parametrize("gamma", [0.0, 2.0])
    def test_the_loss_is_the_documented_formula(self, gamma: float) -> None:
        pytest.importorskip("tensorflow")
        from training.train import make_loss

        rng = np.random.default_rng(3)
        y = rng.dirichlet(np.ones(4) * 0.3, size=16).astype(np.float32)  # mixup-like soft labels
        p = rng.dirichlet(np.ones(4), size=16).astype(np.float32)
        smooth = y * 0.95 + 0.05 / 4 if gamma == 0.0 else y  # the focal loss replaces label smoothing
        expected = np.mean(np.sum(-smooth * (1 - p) ** gamma * np.log(p), axis=1))
        assert float(make_loss(gamma)(y, p)) == pytest.approx(expected, rel=1e-5)

    def test_the_focal_loss_weighs_a_confident_miss_more_than_cross_entropy_does(self) -> None:
        pytest.importorskip("tensorflow")
        from training.train import make_loss

        y = np.array([[0, 1, 0, 0], [0, 1, 0, 0]], np.float32)
        p = np.array([[0.02, 0.03, 0.9, 0.05], [0.02, 0.9, 0.03, 0.05]], np.float32)  # a miss, a hit
        def ratio(gamma: float) -> float:
            return float(make_loss(gamma)(y[:1], p[:1])) / float(make_loss(gamma)(y[1:], p[1:]))
        assert ratio(2.0) > 5 * ratio(0.0)


class TestInputs:
    def test_fingerprint_follows_the_rr_features_and_signals(self) -> None:
        ds = _dataset(4)
        base = inputs_fingerprint(ds, None)
        assert inputs_fingerprint(_dataset(4), None) == base
        moved = _dataset(4)
        moved.rr[2, 5] = 0.001
        assert inputs_fingerprint(moved, None) != base
        noisy = _dataset(4)
        noisy.signals[1][3] = 0.5
        assert inputs_fingerprint(noisy, None) != base
        extra = Dataset(["mitdb@0"], np.array([1]), [np.zeros(10, np.float32)], np.zeros((1, 14)))
        assert inputs_fingerprint(ds, extra) != base

    def test_class_scale_changes_only_the_noise_class(self) -> None:
        assert class_scale(0.5).tolist() == [1.0, 1.0, 1.0, 0.5]


class TestCacheKey:
    @staticmethod
    def _fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: tuple[str, ...]) -> tuple[Path, Path]:
        """A repository holding *sources* under ``ecg/`` (the cache key reads them) and an empty cache folder."""
        repo = tmp_path / "repo"
        (repo / "ecg").mkdir(parents=True)
        for name in sources:
            (repo / "ecg" / name).write_text("x = 1\n")
        monkeypatch.setattr(data_mod, "_REPO", repo)
        cache = tmp_path / "cache"
        cache.mkdir()
        return repo, cache

    def test_a_changed_preparation_source_makes_the_cache_stale(self, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
        repo, cache = self._fake_repo(tmp_path, monkeypatch, data_mod.PREPARATION_SOURCES)
        assert not data_mod.cache_is_current(cache, "cinc")
        data_mod.mark_cache(cache, "cinc")
        assert data_mod.cache_is_current(cache, "cinc")
        (repo / "ecg" / "beats.py").write_text("x = 2\n")
        assert not data_mod.cache_is_current(cache, "cinc")

    def test_the_gate_verdicts_also_go_stale_when_the_quality_gate_changes(self, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        repo, cache = self._fake_repo(tmp_path, monkeypatch, data_mod.GATE_SOURCES)
        data_mod.mark_cache(cache, "cinc")
        data_mod.mark_cache(cache, "readable", data_mod.GATE_SOURCES)
        (repo / "ecg" / "quality.py").write_text("x = 2\n")
        assert data_mod.cache_is_current(cache, "cinc")
        assert not data_mod.cache_is_current(cache, "readable", data_mod.GATE_SOURCES)
