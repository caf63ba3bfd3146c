"""Tests of the decision rule's vectorised twin, its figures and its tuning (training/rule.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecg.model import DEFAULT_MODEL_PATH, DecisionParams
from training.rule import (
    CATEGORY_NAMES,
    NOISE_WEIGHTS,
    TARGETS,
    apply_gate_and_rule,
    cross_validate,
    make_params,
    noise_cap,
    rule_figures,
    target_margins,
    tune,
)

SIN, AF, OTH, UNR, INC = (CATEGORY_NAMES.index(c) for c in (
    "sinus_rhythm", "atrial_fibrillation", "other_rhythm", "unreadable", "inconclusive"))
PRM = make_params(np.ones(4), af_call_min=0.7, af_band_min=0.3, min_n=0.5, min_o=0.5)


def _one(p: list[float], readable: bool = True, prm: DecisionParams = PRM) -> tuple[str, str]:
    code, cat = apply_gate_and_rule(np.array([p]), np.array([readable]), prm)
    return "NAO~"[code[0]], CATEGORY_NAMES[cat[0]]


class TestApplyRule:
    def test_each_step(self) -> None:
        assert _one([0.9, 0.05, 0.03, 0.02]) == ("N", "sinus_rhythm")
        assert _one([0.1, 0.8, 0.05, 0.05]) == ("A", "atrial_fibrillation")
        assert _one([0.05, 0.2, 0.7, 0.05]) == ("O", "other_rhythm")
        assert _one([0.05, 0.05, 0.1, 0.8]) == ("~", "unreadable")

    def test_af_band_is_inconclusive_and_keeps_the_best_guess(self) -> None:
        assert _one([0.6, 0.35, 0.03, 0.02]) == ("N", "inconclusive")
        assert _one([0.2, 0.5, 0.3, 0.0]) == ("A", "inconclusive")

    def test_low_probability_is_inconclusive(self) -> None:
        assert _one([0.45, 0.1, 0.4, 0.05]) == ("N", "inconclusive")
        assert _one([0.4, 0.1, 0.45, 0.05]) == ("O", "inconclusive")

    def test_gate_wins_over_a_confident_model(self) -> None:
        assert _one([0.0, 1.0, 0.0, 0.0], readable=False) == ("~", "unreadable")

    def test_af_call_beats_weights(self) -> None:
        prm = make_params(np.array([1.0, 0.5, 2.0, 1.0]), 0.4, 0.4, 0.0, 0.0)
        assert _one([0.1, 0.45, 0.45, 0.0], prm=prm) == ("A", "atrial_fibrillation")

    def test_params_validated_and_round_trip(self) -> None:
        with pytest.raises(ValueError):
            make_params(np.ones(4), af_call_min=0.3, af_band_min=0.5, min_n=0.0, min_o=0.0)
        with pytest.raises(ValueError):
            make_params(np.array([1, 0, 1, 1]), 0.5, 0.5, 0.0, 0.0)
        assert DecisionParams.from_dict(json.loads(json.dumps(PRM.to_dict()))) == PRM

    def test_shipped_sidecar_has_a_valid_decision_section(self) -> None:
        meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
        prm = DecisionParams.from_dict(meta["decision"])
        assert 0.0 < prm.af_band_min <= prm.af_call_min < 1.0


class TestFigures:
    def test_hand_counted(self) -> None:
        y = np.array([1, 1, 1, 0, 0, 2, 3, 0])
        code = np.array([1, 1, 0, 0, 1, 2, 3, 0])
        cat = np.array([AF, INC, SIN, SIN, AF, OTH, UNR, SIN])
        f = rule_figures(y, code, cat)
        # classifiable: all but the inconclusive and the unreadable one
        assert f["af_se"] == pytest.approx(1 / 2)  # AF records 0 (called) and 2 (missed)
        assert f["af_sp"] == pytest.approx(3 / 4)  # non-AF classifiable 3, 4, 5, 7: 4 is a false alarm
        assert f["not_classified"] == pytest.approx(2 / 8)
        assert f["cinc_f1_all"] > f["cinc_f1_strict"]
        assert f["noise_given_rhythm"] == 0.0  # the one ~ record is unreadable

    def test_margins_in_standard_errors(self) -> None:
        y = np.array([1] * 100 + [0] * 900)
        f = {"af_se": 0.93, "af_sp": 0.99 + np.sqrt(0.99 * 0.01 / 900), "not_classified": 0.2, "cinc_f1_all": 0.81}
        m = target_margins(y, f)
        assert m["af_se"] == pytest.approx(0.0) and m["af_sp"] == pytest.approx(1.0)
        assert m["not_classified"] == pytest.approx(-0.1 / np.sqrt(0.09 / 1000))
        assert m["cinc_f1_all"] == pytest.approx(-1.0)

    def test_noise_cap(self) -> None:
        assert noise_cap(0.2, 100) == pytest.approx(0.24)
        assert noise_cap(0.0, 10) == pytest.approx(0.1)  # at least one recording
        assert noise_cap(0.5, 0) == 1.0


def _synthetic(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.6, 0.1, 0.27, 0.03])
    logits = rng.normal(0, noise, (n, 4))
    logits[np.arange(n), y] += 3.0
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True)


class TestTuning:
    def test_separable_data_meet_every_target(self) -> None:
        y, p = _synthetic(1500, 0, noise=0.6)
        prm, f = tune(y, p, np.ones(y.size, bool))
        assert f["margin"] > 0
        assert f["af_se"] >= TARGETS["af_se"] and f["af_sp"] >= TARGETS["af_sp"]
        assert f["not_classified"] <= TARGETS["not_classified"]

    def test_hard_data_report_a_negative_margin(self) -> None:
        y, p = _synthetic(1500, 1, noise=2.5)
        _, f = tune(y, p, np.ones(y.size, bool))
        assert f["margin"] < 0

    def test_joint_noise_weight_search_keeps_the_guard_and_never_loses_margin(self) -> None:
        y, p = _synthetic(800, 3, noise=1.6)
        readable = np.ones(y.size, bool)
        ref_prm, ref = tune(y, p, readable)
        prm, f = tune(y, p, readable, noise_weights=NOISE_WEIGHTS)
        assert f["margin"] >= ref["margin"]  # the reference is one of the candidates
        assert f["noise_given_rhythm"] <= f["noise_cap"] + 1e-9
        assert f["noise_cap"] == pytest.approx(noise_cap(ref["noise_given_rhythm"], int((y == 3).sum())))
        if prm.class_weights[3] != ref_prm.class_weights[3]:
            assert f["margin"] > ref["margin"]  # a new ~ weight only on a strictly better margin

    def test_noise_weight_floor_keeps_more_noise_answers(self) -> None:
        y, p = _synthetic(800, 0, noise=1.6)  # the free F1 search picks a ~ weight of 0.5 here
        readable = np.ones(y.size, bool)
        free_prm, free = tune(y, p, readable)
        prm, f = tune(y, p, readable, noise_weight_min=1.0)
        assert free_prm.class_weights[3] < 1.0 <= prm.class_weights[3]
        assert f["noise_given_rhythm"] <= free["noise_given_rhythm"]
        code, _, fitted = cross_validate(y, p, readable, k=3, noise_weight_min=1.0)
        assert all(q.class_weights[3] >= 1.0 for q in fitted)

    def test_cross_validation_covers_every_record_once(self) -> None:
        y, p = _synthetic(600, 2, noise=1.0)
        readable = np.ones(y.size, bool)
        readable[:5] = False
        code, cat, fitted = cross_validate(y, p, readable, k=3)
        assert code.shape == cat.shape == y.shape and len(fitted) == 3
        assert np.all(cat[:5] == UNR) and np.all(code[:5] == 3)


    def test_partition_spread_is_cross_validate_under_each_seed(self) -> None:
        from training.tune_rule import partition_spread

        y, p = _synthetic(600, 4, noise=1.6)
        readable = np.ones(y.size, bool)
        rows = partition_spread(y, p, readable, [16, 17])
        code, cat, _ = cross_validate(y, p, readable)  # seed 16: the shipped partition
        want = rule_figures(y, code, cat)
        assert {k: rows[0][k] for k in want} == want
        margins = target_margins(y, want)
        assert rows[0]["smallest_margin"] == min(margins.values())
        code17, cat17, _ = cross_validate(y, p, readable, seed=17)
        assert rows[1]["af_se"] == rule_figures(y, code17, cat17)["af_se"]


class TestShippedRuleOnHeldOutSample:
    """Regression guard of the shipped decision values (skips without ../shared/data).

    A seeded, stratified sample of the validation split through ``screen()``; bars below
    the model card's cross-validated figures because the sample is small.
    """

    def test_classifiable_af_figures_and_unclassified_share(self, shared_data_dir) -> None:  # type: ignore[no-untyped-def]
        import scipy.io

        from ecg.screening import screen
        from training.data import read_labels, split_records

        cinc = shared_data_dir / "cinc2017"
        labels = read_labels(cinc)
        validation, _ = split_records(labels)
        rng = np.random.default_rng(16)
        sample: list[str] = []
        for cls, n in (("N", 90), ("A", 40), ("O", 45), ("~", 5)):
            sample += rng.choice([v for v in validation if labels[v] == cls], size=n, replace=False).tolist()
        y, code, cat = [], [], []
        for name in sample:
            res = screen(scipy.io.loadmat(str(cinc / f"{name}.mat"))["val"][0] / 1000.0, 300.0)
            y.append("NAO~".index(labels[name]))
            code.append("NAO~".index(res.label))
            cat.append(CATEGORY_NAMES.index(res.category))
        f = rule_figures(np.array(y), np.array(code), np.array(cat))
        assert f["af_sp"] >= 0.97 and f["af_se"] >= 0.85
        assert f["not_classified"] <= 0.2 and f["cinc_f1_all"] >= 0.72


def test_benchmark_answers_by_label_splits_the_unreadable_answers() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "rhythm_screening.py"
    spec = importlib.util.spec_from_file_location("rhythm_screening_under_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    y = np.array([0, 3, 3, 2, 1])
    cat = np.array([SIN, UNR, UNR, UNR, INC])
    readable = np.array([True, False, True, True, True])
    rows = bench.answers_by_label(y, cat, readable)
    assert rows["unreadable"] == {"N": 0, "A": 0, "O": 1, "~": 2}
    assert rows["unreadable: quality gate"] == {"N": 0, "A": 0, "O": 0, "~": 1}
    assert rows["unreadable: model_noise"] == {"N": 0, "A": 0, "O": 1, "~": 1}
    assert rows["inconclusive"]["A"] == 1 and rows["sinus_rhythm"]["N"] == 1
