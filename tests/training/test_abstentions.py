"""Tests of training/abstentions.py: each record's source of abstention matches the rule's category."""

from __future__ import annotations

import numpy as np
import pytest

from training.abstentions import ANSWERED, BAND, FLOOR, GATE, MODEL_NOISE, in_order_of, sources
from training.rule import INCONCLUSIVE, UNREADABLE, apply_gate_and_rule, cross_validate, make_params, parts

PRM = make_params(np.ones(4), af_call_min=0.7, af_band_min=0.3, min_n=0.5, min_o=0.5)


def test_each_source_on_one_rule() -> None:
    probs = np.array([
        [0.9, 0.05, 0.03, 0.02],   # sinus
        [0.1, 0.8, 0.05, 0.05],    # AF call
        [0.1, 0.05, 0.1, 0.75],    # model ~
        [0.3, 0.4, 0.2, 0.1],      # AF band
        [0.45, 0.1, 0.4, 0.05],    # N under its floor
        [0.9, 0.05, 0.03, 0.02],   # stopped by the gate
    ])
    readable = np.array([True] * 5 + [False])
    _, cat = apply_gate_and_rule(probs, readable, PRM)
    src = sources(probs, readable, cat, [PRM], np.zeros(6, dtype=int))
    assert src.tolist() == [ANSWERED, ANSWERED, MODEL_NOISE, BAND, FLOOR, GATE]


def test_sources_agree_with_cross_validated_categories() -> None:
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), [300, 60, 120, 30])
    logits = rng.normal(size=(y.size, 4)) + 2.5 * np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    readable = rng.random(y.size) > 0.03
    _, cat, rules = cross_validate(y, probs, readable)
    src = sources(probs, readable, cat, rules, parts(y))
    assert np.array_equal(src != ANSWERED, cat >= UNREADABLE)
    assert np.array_equal(np.isin(src, (BAND, FLOOR)), cat == INCONCLUSIVE)
    assert np.array_equal(src == GATE, ~readable)


def test_a_reference_pooled_in_another_fold_order_is_aligned_by_record() -> None:
    names = np.array(["A3", "A1", "A2", "A5", "A4"])
    ref = np.array(["A1", "A2", "A3", "A4", "A5"])
    idx = in_order_of(names, ref)
    assert ref[idx].tolist() == names.tolist()
    with pytest.raises(SystemExit, match="differ"):
        in_order_of(names, np.array(["A1", "A2", "A3", "A4", "A6"]))
    with pytest.raises(SystemExit, match="differ"):
        in_order_of(names[:4], ref)
