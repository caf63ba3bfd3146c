"""training.atrial_look: the AUC and its bootstrap interval (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
import pytest

from training.atrial_look import auc, auc_ci


class TestAuc:
    def test_perfect_reversed_and_tied(self) -> None:
        assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
        assert auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
        assert auc(np.array([1.0, 1.0]), np.array([1.0, 1.0, 1.0])) == 0.5

    def test_equals_the_pair_count(self) -> None:
        rng = np.random.default_rng(2)
        pos, neg = rng.normal(0.5, 1, 40), rng.normal(0, 1, 60)
        pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
        assert auc(pos, neg) == pytest.approx(pairs)

    def test_interval_holds_the_point_and_narrows_with_more_records(self) -> None:
        rng = np.random.default_rng(3)
        small = auc_ci(rng.normal(1, 1, 20), rng.normal(0, 1, 20), n_boot=300)
        large = auc_ci(rng.normal(1, 1, 400), rng.normal(0, 1, 400), n_boot=300)
        for point, lo, hi in (small, large):
            assert lo <= point <= hi
        assert large[2] - large[1] < small[2] - small[1]
