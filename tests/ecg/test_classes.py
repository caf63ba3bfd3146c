"""Tests of ecg.classes: the one table of rhythm classes and words, checked against the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ecg import classes
from ecg.classes import (
    CLASS_CODES,
    INCONCLUSIVE,
    SAFETY_TEXT,
    ClassTableError,
    by_category,
    by_code,
    check_model_metadata,
)
from ecg.model import DEFAULT_MODEL_PATH, ModelError, RhythmModel


def test_codes_in_model_order_and_shipped_sidecar_matches() -> None:
    assert CLASS_CODES == ("N", "A", "O", "~")
    check_model_metadata(json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text()))


def test_lookups_round_trip() -> None:
    for entry in (*classes.RHYTHM_CLASSES, INCONCLUSIVE):
        assert by_code(entry.code) is entry
        assert by_category(entry.category) is entry
        assert entry.patient_label and entry.patient_meaning and entry.patient_advice and entry.clinician_label
    assert by_code("A").patient_label == "Possible atrial fibrillation"
    assert by_category("unreadable").code == "~"
    assert classes.CATEGORIES[-1] == "inconclusive"
    assert "emergency" in SAFETY_TEXT


@pytest.mark.parametrize("bad", ["X", "", None, "sinus_rhythm"])
def test_unknown_code_raises_with_data(bad: object) -> None:
    with pytest.raises(ClassTableError) as info:
        by_code(bad)  # type: ignore[arg-type]
    assert info.value.found == bad


def test_unknown_category_raises() -> None:
    with pytest.raises(ClassTableError):
        by_category("N")


@pytest.mark.parametrize("meta", [{}, {"classes": "NAO~"}, {"classes": ["N", "A", "O"]}, {"classes": ["A", "N", "O", "~"]}])
def test_check_model_metadata_refuses_mismatch(meta: dict) -> None:
    with pytest.raises(ClassTableError):
        check_model_metadata(meta)


def test_model_load_refuses_a_sidecar_with_other_classes(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "m.tflite")
    meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
    meta["classes"] = ["N", "O", "A", "~"]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="differ from the class table"):
        RhythmModel(tmp_path / "m.tflite")
