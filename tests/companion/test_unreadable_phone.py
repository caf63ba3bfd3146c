"""The phone path (companion recorder → ecg.screening) on unreadable recordings: ``~``/unreadable, no heart
rate, no intervals."""

from __future__ import annotations

import numpy as np
import pytest

from companion.recorder import screen_recording
from companion.recording import Recording

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
