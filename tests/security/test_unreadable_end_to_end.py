"""Issue 13 #8 and #26 end to end: a flat / lead-off signal and a 1.2 Hz square wave get no
heart rate, no intervals and no rhythm from the real ``cardio-cloud serve``, and the
companion does not store one either (the screening itself is ``ecg.screening``'s)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest

from tests.security.conftest import Service

FS_HZ = 300
N = 30 * FS_HZ


def _signals() -> dict[str, list[int]]:
    t = np.arange(N) / FS_HZ
    rng = np.random.default_rng(8)
    return {
        "flat": [0] * N,
        "lead_off_rail": [32767] * N,  # saturated at the rail, as an open lead reads
        "flat_with_noise": rng.integers(-2, 3, N).tolist(),
        "square_1_2_hz": np.where(np.sin(2 * np.pi * 1.2 * t) >= 0, 800, -800).astype(int).tolist(),
    }


def _analyse(service: Service, counts: list[int], record_id: str) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"sampleRate": FS_HZ, "adcGain": 1000, "recordId": record_id, "dataI": counts}).encode()
    request = urllib.request.Request(service.url + "/v1/analyses", data=body, method="POST", headers={
        "Authorization": f"Bearer {service.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _numbers_absent(body: dict[str, Any]) -> None:
    assert body.get("heartRate") is None, body.get("heartRate")
    for key, value in (body.get("measurements") or {}).items():
        if key.endswith("Ms"):
            assert value is None, (key, value)


@pytest.mark.parametrize("name", sorted(_signals()))
def test_unreadable_signal_gets_no_medical_numbers_from_the_cloud(cloud_service: Service, name: str) -> None:
    status, body = _analyse(cloud_service, _signals()[name], f"unreadable-{name}")
    assert status in (200, 422), body
    if status == 200:
        assert (body.get("quality") or {}).get("readable") is False, body.get("quality")
        rhythm = body.get("rhythm")
        assert rhythm is None or (rhythm.get("category") == "unreadable" and rhythm.get("code") == "~"), rhythm
        codes = {d.get("code") for d in body.get("diagnoses") or [] if isinstance(d, dict)}
        assert not codes & {"N", "A", "O"}, body.get("diagnoses")  # no rhythm from an unreadable signal
        _numbers_absent(body)
    assert "sinus" not in json.dumps(body).lower()


@pytest.mark.parametrize("name", ["flat", "square_1_2_hz"])
def test_unreadable_signal_is_screened_unreadable_by_the_companion(name: str) -> None:
    from ecg.screening import screen

    signal_mv = np.asarray(_signals()[name], dtype=np.float64) / 1000.0
    result = screen(signal_mv, float(FS_HZ)).to_dict()
    assert result["category"] == "unreadable" and result["heart_rate_bpm"] is None, result
