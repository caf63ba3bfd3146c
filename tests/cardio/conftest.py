"""Fixtures of the `cardio` command tests (the same isolation as the companion tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from companion import recovery
from companion.recording import ContactEvent, Recording


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's real data folder or the shared recovery fallback."""
    monkeypatch.setenv("CARDIOLINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDIOLINK_DB", raising=False)
    monkeypatch.setattr(recovery, "FALLBACK_DIR", tmp_path / "fallback-recovery")


@pytest.fixture
def make_recording() -> Callable[..., Recording]:
    """Factory of deterministic recordings: ``make_recording(n=9000, complete=True, seed=1)``."""

    def make(n: int = 9000, *, complete: bool = True, seed: int = 1) -> Recording:
        rng = np.random.default_rng(seed)
        t = np.arange(n) / 300.0
        sig = 800 * np.sin(2 * np.pi * 1.2 * t) + rng.normal(0, 20, n)
        return Recording(
            samples=np.rint(sig).astype(np.int32) + 5,
            sample_rate_hz=300.0,
            adc_gain_counts_per_mv=1000.0,
            baseline_counts=5,
            started_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            device={"name": "CardioLink-sim"},
            session_id=seed,
            expected_samples=n,
            contact_events=[ContactEvent(0, "contact")],
            complete=complete,
            verified=complete,
        )

    return make
