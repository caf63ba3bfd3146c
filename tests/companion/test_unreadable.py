"""Unreadable recordings on the companion: the phone path (recorder → ecg.screening) and the cloud
result stored by sync (a real in-process cloud over HTTP): ``~``/unreadable, no heart rate, no
intervals, in the stored dicts and in what the pages show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardio.local_cloud import local_cloud
from cloud_client import AnalysisResult, CloudClient
from companion.recorder import screen_recording
from companion.recording import Recording
from companion.store import Store
from companion.sync import cloud_result_record, sync_pending
from companion.web import present

FS_HZ = 300.0
GAIN = 1000.0


def _counts(kind: str) -> np.ndarray:
    t = np.arange(int(30 * FS_HZ)) / FS_HZ
    rng = np.random.default_rng(7)
    beats = np.sin(2 * np.pi * 1.2 * t) ** 31 + rng.normal(0, 0.01, t.size)
    mv = {
        "flat": np.zeros(t.size),
        "lead_off": np.where((t > 8) & (t < 20), 0.0, beats),
        "clipped": np.clip(beats * 4.0, -0.3, 0.3),
        "square": np.sign(np.sin(2 * np.pi * 1.2 * t)) + rng.normal(0, 0.03, t.size),
        "short": beats[: int(3 * FS_HZ)],
    }[kind]
    return np.round(mv * GAIN).astype(np.int32)


@pytest.mark.parametrize("kind", ["flat", "lead_off", "clipped", "square"])
def test_unreadable_recording_has_no_rhythm_heart_rate_or_intervals(kind: str) -> None:
    rec = Recording(_counts(kind), FS_HZ, GAIN, complete=True, verified=True)
    local, measurements, error = screen_recording(rec)
    assert error is None and local is not None
    assert (local["label"], local["category"], local["heart_rate_bpm"]) == ("~", "unreadable", None)
    assert local["rhythm"]["code"] == "~" and local["rhythm"]["probability"] is None
    assert local["quality"]["readable"] is False and local["quality"]["reasons"]
    assert local["quality"]["heart_rate_bpm"] is None
    assert measurements is None


def test_a_recording_under_20_s_is_kept_as_too_short_and_not_screened() -> None:
    """Issue 14: under 20 s the phone does not screen at all (no rhythm, no heart rate, no intervals)."""
    rec = Recording(_counts("short"), FS_HZ, GAIN, complete=True, verified=True)
    local, measurements, error = screen_recording(rec)
    assert local is None and measurements is None and error is not None and "too short" in error


async def test_stored_cloud_result_of_unreadable_recordings(tmp_path: Path) -> None:
    store = Store(tmp_path / "history.sqlite3")
    kinds = ["flat", "lead_off", "clipped", "square"]
    ids = {}
    for kind in kinds:
        rec = Recording(_counts(kind), FS_HZ, GAIN, complete=True, verified=True)
        rid = store.add_recording(rec)
        local, measurements, _ = screen_recording(rec)
        store.set_local_result(rid, local)
        ids[kind] = rid
    async with local_cloud(tmp_path) as settings:
        async with CloudClient(settings.url, settings.token, max_attempts=2, backoff_base_s=0.01) as client:
            report = await sync_pending(store, client)
    assert sorted(report.sent) == sorted(ids.values())
    for kind, rid in ids.items():
        stored = store.get_recording(rid)
        cloud = stored.cloud_result
        assert cloud is not None, kind
        assert (cloud["label"], cloud["category"], cloud["heart_rate_bpm"]) == ("~", "unreadable", None), kind
        assert cloud["quality"]["readable"] is False and cloud["quality"]["reasons"], kind
        assert set(cloud["measurements"].values()) == {None} and cloud["flags"] == []
        assert cloud["response"]["rhythm"]["category"] == "unreadable"
        assert present.heart_rate(stored) is None and set(present.intervals(stored).values()) == {None}
        assert present.result_words(cloud) == "Unreadable — try again"
    store.close()


def test_stored_record_trusts_quality_over_a_rhythm() -> None:
    """An answer whose quality is unreadable is stored unreadable whatever its other fields say."""
    body = {
        "status": "completed", "recordId": "r1", "modelVersion": "m", "leads": ["I"], "processingMs": 1.0,
        "rhythm": {"code": "N", "category": "sinus_rhythm", "probability": 0.9, "label": "Sinus rhythm"},
        "diagnoses": [{"code": "N", "label": "Sinus rhythm", "probability": 0.9},
                      {"code": "pvc", "label": "PVC", "probability": None}],
        "heartRate": 2.0, "measurements": {"prMs": 120.0, "qrsMs": 80.0, "qtMs": 300.0, "qtcMs": 400.0},
        "quality": {"readable": False, "reasons": ["flat"]},
    }
    stored = cloud_result_record(AnalysisResult.from_json(body))
    assert (stored["label"], stored["category"], stored["heart_rate_bpm"]) == ("~", "unreadable", None)
    assert set(stored["measurements"].values()) == {None} and stored["flags"] == []
    assert stored["quality"] == {"readable": False, "reasons": ["flat"]}
