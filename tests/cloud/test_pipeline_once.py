"""The cloud's analysis computes each step once per lead, and answers as the phone does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cloud.pipeline import PipelineSettings, analyse, analyse_many
from cloud.validation import parse_request
from ecg import beats
from ecg.screening import screen


@pytest.fixture
def detections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lengths of the signals given to the R-peak seam, ``ecg.beats.detect_r_peaks`` (one
    per call) and its rows form ``detect_r_peaks_many`` (one per row)."""
    seen: list[int] = []
    real, real_many = beats.detect_r_peaks, beats.detect_r_peaks_many

    def counting(sig_mv: np.ndarray, fs_hz: float, **kwargs: Any) -> np.ndarray:
        seen.append(int(np.asarray(sig_mv).shape[0]))
        return real(sig_mv, fs_hz, **kwargs)

    def counting_many(rows_mv: np.ndarray, fs_hz: float, **kwargs: Any) -> list[np.ndarray]:
        seen.extend([int(np.asarray(rows_mv).shape[1])] * int(np.asarray(rows_mv).shape[0]))
        return real_many(rows_mv, fs_hz, **kwargs)

    monkeypatch.setattr(beats, "detect_r_peaks", counting)
    monkeypatch.setattr(beats, "detect_r_peaks_many", counting_many)
    return seen


class TestEveryStepOnce:
    def test_single_lead_detects_r_peaks_once(self, cinc_payload: Callable[..., dict[str, Any]],
                                               detections: list[int]) -> None:
        body = analyse(parse_request(cinc_payload("A00001", record_id="once")), PipelineSettings())
        assert body["heartRate"] is not None
        assert detections == [9000]  # was 3 (screening, measurement, premature beats)

    def test_twelve_leads_detect_in_the_rhythm_leads_only(self, ludb_payload: Callable[[str], dict[str, Any]],
                                               detections: list[int]) -> None:
        payload = {**ludb_payload("2"), "recordId": "twelve"}
        body = analyse(parse_request(payload), PipelineSettings())
        assert body["measurements"]["qrsMs"] is not None
        # was 16 (3 rhythm leads + 12 delineated + ectopy), then 12: now the three rhythm
        # leads only; the other leads are delineated from lead II's beats (share_beat_marks)
        assert detections == [5000] * 3

    def test_a_batch_detects_once_per_record(self, cinc_payload: Callable[..., dict[str, Any]],
                                             detections: list[int]) -> None:
        requests = [parse_request(cinc_payload(name, record_id=name, seconds=20)) for name in ("A00001", "A00004")]
        assert all(o.body is not None for o in analyse_many(requests, PipelineSettings()))
        assert detections == [6000, 6000]

    def test_a_rate_outside_the_measurement_range_screens_at_the_recording_rate(
        self, cinc_payload: Callable[..., dict[str, Any]], detections: list[int]
    ) -> None:
        payload = cinc_payload("A00001", record_id="slow")
        counts = np.asarray(payload["dataI"])[::2]  # 150 Hz: measured at 250 Hz, screened at 150 Hz
        payload.update(sampleRate=150.0, dataI=counts.tolist())
        analyse(parse_request(payload), PipelineSettings())
        assert sorted(detections) == [4500, 7500]


def test_cloud_probabilities_are_the_phones(cinc_payload: Callable[..., dict[str, Any]]) -> None:
    payload = cinc_payload("A00004", record_id="same")
    body = analyse(parse_request(payload), PipelineSettings())
    mv = (np.asarray(payload["dataI"], dtype=float) - payload["baseline"]) / payload["adcGain"]
    phone = screen(mv, payload["sampleRate"]).probabilities
    cloud = {d["code"]: d["probability"] for d in body["diagnoses"] if d["probability"] is not None}
    assert cloud == {code: round(p, 4) for code, p in phone.items()}
