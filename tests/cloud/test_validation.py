"""Request checking: every rule of the CardioLearn form gives a clear 4xx."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cloud.errors import RequestError
from cloud.validation import decode_json, parse_request


def _payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sampleRate": 100, "adcGain": 200.0, "dataI": list(range(600))}
    body.update(overrides)
    return body


def _fields(payload: Any) -> set[str]:
    with pytest.raises(RequestError) as info:
        parse_request(payload)
    assert info.value.status == 422
    return {e["field"] for e in info.value.errors}


class TestParse:
    def test_valid_single_lead(self) -> None:
        req = parse_request(_payload(baseline=10, recordId="abc-1"))
        assert req.lead_names == ("I",)
        assert req.record_id == "abc-1"
        assert req.duration_s == 6.0
        np.testing.assert_allclose(req.signals_mv()[:3, 0], (np.arange(3) - 10) / 200.0)

    def test_record_id_generated_when_absent(self) -> None:
        assert len(parse_request(_payload()).record_id) == 36

    def test_twelve_leads_in_standard_order(self) -> None:
        fields = ["dataV6", "dataI", "dataAVR", "dataII"]
        req = parse_request({"sampleRate": 100, "adcGain": 1, **{f: [0] * 600 for f in fields}})
        assert req.lead_names == ("I", "II", "aVR", "V6")
        assert req.samples_counts.shape == (600, 4)

    def test_null_leads_ignored(self) -> None:
        assert parse_request(_payload(dataII=None, baseline=None)).lead_names == ("I",)

    def test_unknown_fields_reported_each(self) -> None:
        assert _fields(_payload(foo=1, bar=2)) == {"foo", "bar"}

    @pytest.mark.parametrize("value", ["100", True, None, [], 99.9, 2000.5])
    def test_bad_sample_rate(self, value: Any) -> None:
        assert "sampleRate" in _fields(_payload(sampleRate=value))

    @pytest.mark.parametrize("value", [0, -1, "1", False])
    def test_bad_gain(self, value: Any) -> None:
        assert "adcGain" in _fields(_payload(adcGain=value))

    @pytest.mark.parametrize("samples", [[1.5] * 600, ["1"] * 600, [True] * 600, [2**40] * 600, "123", {"a": 1}])
    def test_bad_samples(self, samples: Any) -> None:
        assert "dataI" in _fields(_payload(dataI=samples))

    def test_leads_of_different_lengths(self) -> None:
        assert "leads" in _fields(_payload(dataII=[0] * 599))

    @pytest.mark.parametrize("n", [0, 499, 60_001])
    def test_duration_limits(self, n: int) -> None:
        assert "dataI" in _fields(_payload(dataI=[0] * n))

    def test_duration_bounds_inclusive(self) -> None:
        assert parse_request(_payload(dataI=[0] * 500)).duration_s == 5.0
        assert parse_request(_payload(dataI=[0] * 60_000)).duration_s == 600.0

    def test_no_lead(self) -> None:
        assert "dataI" in _fields({"sampleRate": 100, "adcGain": 1})

    @pytest.mark.parametrize("record_id", ["", "a" * 65, "has space", "ü", 5, None, "abc\n"])
    def test_bad_record_id(self, record_id: Any) -> None:
        assert "recordId" in _fields(_payload(recordId=record_id))

    @pytest.mark.parametrize("payload", [[], "x", 3, None])
    def test_not_an_object(self, payload: Any) -> None:
        with pytest.raises(RequestError):
            parse_request(payload)


class TestDecode:
    @pytest.mark.parametrize("body", [b"{", b"", b"\xff\xfe", b'{"a": NaN}', b'{"a": Infinity}', b"[-Infinity]"])
    def test_malformed(self, body: bytes) -> None:
        with pytest.raises(RequestError) as info:
            decode_json(body)
        assert info.value.status == 400
        assert info.value.problem == "malformed-json"

    def test_valid(self) -> None:
        assert decode_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
