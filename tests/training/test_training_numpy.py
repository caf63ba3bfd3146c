"""Tests of the TensorFlow-free parts of training/: split, metrics, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg.model import CLIP_SD, WINDOW_SAMPLES
from training.augment import Augmenter, add_noise_stretches, random_crop, sampling_probabilities
from training.data import N_FOLDS, VALIDATION_FRACTION, DataMissingError, read_labels, split_records
from training.metrics import (
    af_operating_point,
    af_sensitivity_at_specificity,
    bootstrap_ci,
    cinc_f1,
    f1_per_class,
    tune_class_weights,
)


def _labels(n_per_class: dict[str, int]) -> dict[str, str]:
    out, i = {}, 0
    for lab, n in n_per_class.items():
        for _ in range(n):
            out[f"A{i:05d}"] = lab
            i += 1
    return out


class TestSplit:
    def test_seeded_disjoint_stratified(self) -> None:
        labels = _labels({"N": 500, "A": 80, "O": 240, "~": 30})
        val, folds = split_records(labels)
        assert (val, folds) == split_records(labels)
        every = val + [n for f in folds for n in f]
        assert sorted(every) == sorted(labels) and len(set(every)) == len(every)
        assert len(folds) == N_FOLDS
        for lab, n in (("N", 500), ("A", 80), ("O", 240), ("~", 30)):
            assert sum(labels[v] == lab for v in val) == round(VALIDATION_FRACTION * n)
            sizes = [sum(labels[r] == lab for r in f) for f in folds]
            assert max(sizes) - min(sizes) <= 1

    def test_five_folds_keep_the_validation_records(self) -> None:
        labels = _labels({"N": 500, "A": 80, "O": 240, "~": 30})
        val3, folds3 = split_records(labels)
        val5, folds5 = split_records(labels, n_folds=5)
        assert val5 == val3 and len(folds5) == 5
        assert sorted(n for f in folds5 for n in f) == sorted(n for f in folds3 for n in f)
        for lab in ("N", "A", "O", "~"):
            sizes = [sum(labels[r] == lab for r in f) for f in folds5]
            assert max(sizes) - min(sizes) <= 1
        with pytest.raises(ValueError, match="n_folds"):
            split_records(labels, n_folds=1)

    def test_other_seed_other_split(self) -> None:
        labels = _labels({"N": 100, "A": 20, "O": 40, "~": 10})
        assert split_records(labels, seed=1)[0] != split_records(labels, seed=2)[0]

    def test_missing_data_is_clear(self, tmp_path: Path) -> None:
        with pytest.raises(DataMissingError, match="CARDIOLINK_DATA"):
            read_labels(tmp_path / "cinc2017")

    def test_real_split_sizes(self, shared_data_dir: Path) -> None:
        labels = read_labels(shared_data_dir / "cinc2017")
        val, folds = split_records(labels)
        assert len(val) == 1450 and sum(len(f) for f in folds) == 5799


class TestMetrics:
    def test_f1_and_cinc(self) -> None:
        y = np.array([0, 0, 1, 1, 2, 2, 3])
        assert cinc_f1(y, y) == 1.0
        pred = np.array([0, 1, 1, 1, 2, 0, 3])
        f1 = f1_per_class(y, pred)
        assert f1[0] == pytest.approx(2 * 1 / (2 + 2))
        assert f1[1] == pytest.approx(2 * 2 / (2 + 3))
        assert cinc_f1(y, pred) == pytest.approx(np.mean(f1[:3]))

    def test_af_operating_points(self) -> None:
        y = np.array([1] * 10 + [0] * 100)
        p = np.concatenate([np.linspace(0.5, 1.0, 10), np.linspace(0.0, 0.6, 100)])
        se, thr = af_sensitivity_at_specificity(y, p, 0.97)
        se_chk, sp_chk = af_operating_point(y, p >= thr)
        assert sp_chk >= 0.97 and se == pytest.approx(se_chk)
        assert 0.5 < se <= 1.0

    def test_tuned_weights_never_worse_than_argmax(self) -> None:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 4, 400)
        probs = rng.dirichlet(np.ones(4), 400) + 0.4 * np.eye(4)[y] * rng.uniform(0, 1, (400, 1))
        w = tune_class_weights(y, probs)
        assert w[0] == 1.0
        assert cinc_f1(y, (probs * w).argmax(1)) >= cinc_f1(y, probs.argmax(1))

    def test_bootstrap_ci_brackets_the_estimate(self) -> None:
        x = np.random.default_rng(3).normal(5.0, 1.0, 300)
        lo, hi = bootstrap_ci(lambda i: float(np.mean(x[i])), x.size, n_boot=300)
        assert lo < float(np.mean(x)) < hi and hi - lo < 0.5


class TestAugment:
    def test_balanced_sampling(self) -> None:
        y = np.array([0] * 90 + [1] * 10)
        p = sampling_probabilities(y, 4)
        assert p.sum() == pytest.approx(1.0)
        assert p[y == 1].sum() == pytest.approx(np.sqrt(10) / (np.sqrt(10) + np.sqrt(90)))

    def test_class_scale_multiplies_a_class_share(self) -> None:
        y = np.array([0] * 81 + [3] * 9)
        base = sampling_probabilities(y, 4)[y == 3].sum()  # sqrt 9 / (sqrt 9 + sqrt 81) = 0.25
        halved = sampling_probabilities(y, 4, class_scale=np.array([1.0, 1.0, 1.0, 0.5]))
        assert base == pytest.approx(0.25) and halved.sum() == pytest.approx(1.0)
        assert halved[y == 3].sum() == pytest.approx(1.5 / 10.5)  # 0.5·3 / (9 + 0.5·3)
        assert np.allclose(halved[y == 0], halved[0])  # within a class, draws stay uniform

    @pytest.mark.parametrize("scale", [np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 0.0])])
    def test_class_scale_rejected_when_malformed(self, scale: np.ndarray) -> None:
        with pytest.raises(ValueError, match="class_scale"):
            sampling_probabilities(np.array([0, 3]), 4, class_scale=scale)

    def test_crop_and_pad(self) -> None:
        rng = np.random.default_rng(0)
        long = np.arange(5000, dtype=np.float32)
        c = random_crop(long, rng)
        assert c.shape == (WINDOW_SAMPLES,) and np.all(np.diff(c) == 1)
        short = np.ones(1000, dtype=np.float32)
        assert random_crop(short, rng).sum() == 1000

    def test_batches(self) -> None:
        rng = np.random.default_rng(1)
        sigs = [rng.normal(size=int(rng.integers(2000, 6000))).astype(np.float32) for _ in range(20)]
        y = np.array([0, 1, 2, 3] * 5)
        aug = Augmenter(sigs, rng.normal(size=(20, 14)), y, 4, seed=0, mixup_p=1.0)
        x, lab = aug.batch(8)
        assert x["signal"].shape == (8, WINDOW_SAMPLES, 1) and x["rr"].shape == (8, 14)
        assert np.abs(x["signal"]).max() <= CLIP_SD
        assert lab.shape == (8, 4) and np.allclose(lab.sum(1), 1.0)
        assert (lab.max(1) >= 0.5).all()


class TestNoiseStretches:
    def test_stretches_are_local_and_keep_the_sd(self) -> None:
        rng = np.random.default_rng(3)
        w = np.sin(np.arange(WINDOW_SAMPLES) / 20.0).astype(np.float32)
        for _ in range(20):
            out = add_noise_stretches(w, rng, [])
            assert out.dtype == np.float32 and out.shape == w.shape and np.all(np.isfinite(out))
            assert float(out.std()) == pytest.approx(float(w.std()), rel=1e-4)
            ratio = out / np.where(np.abs(w) > 1e-3, w, np.nan)
            clean = np.isclose(ratio, np.nanmedian(ratio), rtol=1e-4)
            # untouched samples are only rescaled; one or two stretches of 1-4 s (150-1200 samples)
            assert 150 * 0.5 <= int((~clean).sum()) <= 2 * 600 + 10

    def test_the_recorded_kind_reads_the_pool(self) -> None:
        w = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
        w[::150] = 1.0
        big = [np.full(9000, 50.0, dtype=np.float32)]  # a pool crop is unmistakable
        outs = [add_noise_stretches(w, np.random.default_rng(s), big) for s in range(30)]
        assert any(float(np.abs(o - w * float(w.std()) / float(o.std())).max()) > 0.5 and
                   float(np.median(np.abs(np.diff(o)))) < 1e-3 for o in outs)

    def test_augmenter_adds_stretches_only_to_readable_labels(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import training.augment as augment

        calls: list[int] = []

        def spy(w: np.ndarray, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
            calls.append(len(pool))
            return w

        monkeypatch.setattr(augment, "add_noise_stretches", spy)
        rng = np.random.default_rng(4)
        sigs = [rng.normal(size=4000).astype(np.float32) for _ in range(8)]
        aug = Augmenter(sigs, np.zeros((8, 14)), np.array([0, 1, 2, 3] * 2), 4, seed=0, noise_stretch_p=1.0)
        for i in (3, 7):
            aug.sample(i)
        assert calls == []  # ~-labelled samples never get a stretch
        for i in (0, 1, 2, 4):
            aug.sample(i)
        assert calls == [2] * 4  # every readable one at p = 1, with the two ~ signals as the pool

    def test_zero_probability_draws_nothing(self) -> None:
        rng = np.random.default_rng(5)
        sigs = [rng.normal(size=4000).astype(np.float32) for _ in range(8)]
        y = np.array([0, 1, 2, 3] * 2)
        a = Augmenter(sigs, np.zeros((8, 14)), y, 4, seed=9)
        b = Augmenter(sigs, np.zeros((8, 14)), y, 4, seed=9, noise_stretch_p=0.0)
        assert np.array_equal(a.batch(16)[0]["signal"], b.batch(16)[0]["signal"])


class TestTuneWithAfThreshold:
    def test_af_weight_untouched_and_within_bounds(self) -> None:
        rng = np.random.default_rng(4)
        y = rng.integers(0, 4, 300)
        probs = rng.dirichlet(np.ones(4), 300) + 0.5 * np.eye(4)[y]
        w = tune_class_weights(y, probs, af_threshold=0.5, max_factor=2.0)
        assert w[1] == 1.0 and np.all((w >= 0.5 - 1e-9) & (w <= 2.0 + 1e-9))


def test_read_cinc_mv_equals_the_ecg_reader(fixtures_dir: Path) -> None:
    """The training/benchmark CinC reader gives exactly what ecg.io.read_record gives."""
    from ecg.io import read_record
    from training.data import CINC_FS_HZ, read_cinc_mv

    cinc = fixtures_dir / "cinc2017"
    names = sorted(p.stem for p in cinc.glob("*.hea"))
    assert names
    for name in names:
        rec = read_record(cinc / f"{name}.hea")
        got = read_cinc_mv(cinc, name)
        assert rec.fs_hz == CINC_FS_HZ and got.dtype == np.float64
        assert np.array_equal(got, rec.signals_mv[:, 0])
