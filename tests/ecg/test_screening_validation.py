"""Regression guard of the shipped model on held-out CinC 2017 records (skips without ../shared/data).

Screens a stratified, seeded sample of the validation split (never trained on) end to end.
It catches a change elsewhere (e.g. in ``ecg.beats``, which feeds the RR features, or in
``ecg.quality``) that silently degrades screening. The bar is below the model card's
figures because the sample is small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ecg.model import CLASSES
from ecg.screening import screen
from training.data import read_labels, split_records
from training.metrics import af_operating_point, cinc_f1


class TestValidationSample:
    def test_cinc_f1_and_af_on_held_out_sample(self, shared_data_dir: Path) -> None:
        cinc = shared_data_dir / "cinc2017"
        labels = read_labels(cinc)
        validation, _ = split_records(labels)
        rng = np.random.default_rng(0)
        sample: list[str] = []
        for cls, n in (("N", 60), ("A", 40), ("O", 50), ("~", 10)):
            names = [v for v in validation if labels[v] == cls]
            sample += rng.choice(names, size=n, replace=False).tolist()
        y, pred = [], []
        for name in sample:
            sig_mv = scipy.io.loadmat(str(cinc / f"{name}.mat"))["val"][0] / 1000.0
            y.append(CLASSES.index(labels[name]))
            pred.append(CLASSES.index(screen(sig_mv, 300.0).label))
        y_arr, pred_arr = np.array(y), np.array(pred)
        se, sp = af_operating_point(y_arr, pred_arr == 1)
        assert cinc_f1(y_arr, pred_arr) >= 0.72
        assert se >= 0.75 and sp >= 0.93
