"""The nested cross-validation that chooses the learned delineator's settings (benchmarks/delineation_nested.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nested() -> ModuleType:
    spec = importlib.util.spec_from_file_location("delineation_nested", REPO / "benchmarks" / "delineation_nested.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["delineation_nested"] = mod
    spec.loader.exec_module(mod)
    return mod


def _rows(sd: float, n_rec: int, se: float, seed: int) -> list[tuple[np.ndarray, int, int, int]]:
    rng = np.random.default_rng(seed)
    tp = int(round(10 * se))
    return [(rng.normal(0.0, sd, tp), tp, 10 - tp, 0) for _ in range(n_rec)]


def test_each_fold_is_scored_with_a_choice_made_without_it(nested: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(nested.GRID, "x", [{"A": 0}, {"A": 1}])
    fold = np.repeat(np.arange(5), 4)
    # candidate 1 is better everywhere except on fold 4's records, where it is terrible
    good, bad = _rows(5.0, 20, 1.0, 1), _rows(10.0, 20, 1.0, 2)
    one = [*good[:16], *_rows(60.0, 4, 1.0, 3)]
    out = nested.nested({"x": [bad, one]}, {"x": bad}, fold)["x"]
    # the other folds see fold 4's bad records among theirs and keep 0; fold 4 never sees them
    assert out["per_fold_choice"] == [{"A": 0}] * 4 + [{"A": 1}]
    assert out["nested"]["sd_ms"] > 20.0  # ...so they count, unhidden, in the nested figure
    assert out["all_folds_choice"] == {"A": 0}  # with them in, candidate 0 wins


def test_sensitivity_floor_excludes_a_tighter_but_blinder_candidate(nested: ModuleType,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(nested.GRID, "p_on", [{"A": 0}, {"A": 1}])
    fold = np.repeat(np.arange(5), 4)
    loose, tight_blind = _rows(15.0, 20, 1.0, 4), _rows(5.0, 20, 0.8, 5)  # Se 100 % vs 80 % (floor 96 %)
    out = nested.nested({"p_on": [loose, tight_blind]}, {"p_on": loose}, fold)["p_on"]
    assert out["per_fold_choice"] == [{"A": 0}] * 5 and out["nested"]["se"] == 100.0


def test_settings_are_restored(nested: ModuleType) -> None:
    from ecg.delineation import learned

    before = (dict(learned.QRS_SOURCE), learned.P_MIN_SCORE)
    with nested.settings({"QRS_SOURCE.qrs_on": "rule", "P_MIN_SCORE": 0.99}):
        assert learned.QRS_SOURCE["qrs_on"] == "rule" and learned.P_MIN_SCORE == 0.99
    assert (dict(learned.QRS_SOURCE), learned.P_MIN_SCORE) == before


def test_every_candidate_names_its_whole_group_and_the_shipped_setting_is_one(nested: ModuleType) -> None:
    from ecg.delineation import learned, learned_refine

    def shipped(key: str) -> object:
        head, _, sub = key.partition(".")
        value = getattr(learned, head)  # a typo in the grid fails here
        return value[sub] if sub else value

    modes = {"P_ON_REFINE": learned_refine.P_ON_MODES, "T_OFF_REFINE": learned_refine.T_OFF_MODES,
             "P_ON_ALIGN": learned_refine.P_ALIGN_MODES,
             "QRS_SOURCE.qrs_on": ("learned", "mean", "rule", "min"), "QRS_SOURCE.qrs_off": ("learned", "mean", "rule")}
    for group, candidates in nested.GRID.items():
        keys = set(candidates[0])
        assert all(set(c) == keys for c in candidates), group  # no candidate leans on the shipped values
        for c in candidates:
            for key, value in c.items():
                shipped(key)
                assert value in modes.get(key, (value,)), (group, key, value)
        ships = {k: shipped(k) for k in keys}
        calibrated = nested.CAL_KEY in ships and ships[nested.CAL_KEY] in nested.CAL_VALUES \
            and {**ships, nested.CAL_KEY: "calibrated"} in candidates
        assert ships in candidates or calibrated, group  # what ships was a candidate (or its calibrated value)


def test_the_qrs_choice_of_a_qrs_run_is_used_for_the_p_and_t_steps(nested: ModuleType,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ecg.delineation import learned

    monkeypatch.setattr(learned, "QRS_SOURCE", {**learned.QRS_SOURCE, "qrs_on": "learned", "qrs_off": "mean"})
    result = {"boundaries": {"qrs_on": {"all_folds_choice": {"QRS_SOURCE.qrs_on": "rule"}},
                             "qrs_off": {"all_folds_choice": {"QRS_SOURCE.qrs_off": "learned"}}}}
    source = nested.use_qrs_choice(result)
    assert learned.QRS_SOURCE["qrs_on"] == "rule" and learned.QRS_SOURCE["qrs_off"] == "learned"
    assert source == learned.QRS_SOURCE


def test_a_calibrated_threshold_is_set_on_the_selection_records_only(nested: ModuleType,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Per outer fold, the highest value whose sensitivity on the other folds' records reaches
    the floor (the rule delineator's T Se there); fold 4's own records never move it."""
    monkeypatch.setattr(nested, "CAL_VALUES", (0.5, 0.6, 0.7))
    grid = {"t_off": [{"T_MIN_SCORE": "calibrated", "T_OFF_REFINE": "net"}]}
    fold = np.repeat(np.arange(5), 4)
    rules = _rows(30.0, 20, 0.9, 6)  # floor: Se 90 %
    sweep = [_rows(20.0, 20, 1.0, 7), _rows(15.0, 20, 0.9, 8), _rows(10.0, 20, 0.8, 9)]
    # on fold 4's records value 0.7 keeps every T wave: only fold 4 could see that
    sweep[2] = [*sweep[2][:16], *_rows(10.0, 4, 1.0, 10)]
    out = nested.nested({"t_off": [sweep]}, {"t_off": rules}, fold, grid)["t_off"]
    values = [c["calibrated_value"] for c in out["per_fold_choice"]]
    assert values == [0.6] * 4 + [0.6]  # fold 4's selection records: 0.7 gives Se 80 % < 90 %
    assert out["nested"]["sd_ms"] < 20.0 and out["all_folds_choice"]["calibrated_value"] == 0.6
    one = nested.calibrate(sweep, rules, "t_off", fold == 4)  # fold 4 alone: 0.7 would pass
    assert nested.CAL_VALUES[one] == 0.7


def test_calibrated_candidates_compete_with_the_fixed_ones(nested: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nested, "CAL_VALUES", (0.5, 0.9))
    grid = {"t_off": [{"T_MIN_SCORE": 0.83, "T_OFF_REFINE": "net"}, {"T_MIN_SCORE": "calibrated", "T_OFF_REFINE": "net"}]}
    fold = np.repeat(np.arange(5), 4)
    rules, fixed = _rows(30.0, 20, 0.9, 11), _rows(8.0, 20, 0.9, 12)
    sweep = [_rows(12.0, 20, 1.0, 13), _rows(9.0, 20, 0.9, 14)]
    out = nested.nested({"t_off": [fixed, sweep]}, {"t_off": rules}, fold, grid)["t_off"]
    assert out["per_fold_choice"] == [grid["t_off"][0]] * 5  # tighter fixed candidate wins
    assert out["candidates"][1]["setting"]["calibrated_value"] == 0.9
