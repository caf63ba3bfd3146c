"""Shared pytest fixtures: paths to the small real records committed under
``tests/fixtures/`` and to the optional full datasets in ``../shared/data``.

- ``fixtures_dir``: ``tests/fixtures`` (always present).
- ``cinc2017_fixture``: ``{record_name: (path_without_extension, label)}`` for the five
  CinC 2017 records (labels N, N, A, O, ~).
- ``mitdb_fixture``: ``{excerpt_name: path_without_extension}`` for the MIT-BIH
  excerpts (``100_2min``, ``208_1min``), each with an ``atr`` annotation file.
- ``shared_data_dir``: the real dataset folder (env ``CARDIOLINK_DATA`` or
  ``../shared/data``); the test is skipped when it does not exist.
- ``isolated_companion_env``: a data folder and recovery fallback of the test's own (the
  companion and cardio test folders use it for every test).
- ``make_recording``: factory of deterministic companion recordings.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from companion import recovery
from companion.recording import ContactEvent, Recording

_TESTS_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _TESTS_DIR.parent


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Folder holding the committed real-signal fixtures."""
    return _TESTS_DIR / "fixtures"


@pytest.fixture(scope="session")
def cinc2017_fixture(fixtures_dir: Path) -> dict[str, tuple[Path, str]]:
    """CinC 2017 fixture records: name -> (record path without extension, label)."""
    folder = fixtures_dir / "cinc2017"
    with (folder / "REFERENCE.csv").open(newline="") as fh:
        return {name: (folder / name, label) for name, label in csv.reader(fh)}


@pytest.fixture(scope="session")
def mitdb_fixture(fixtures_dir: Path) -> dict[str, Path]:
    """MIT-BIH excerpts: name -> record path without extension (``.hea``/``.dat``/``.atr``)."""
    folder = fixtures_dir / "mitdb"
    return {p.stem: folder / p.stem for p in sorted(folder.glob("*.hea"))}


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The full real datasets (``CARDIOLINK_DATA`` or ``../shared/data``); skip if absent."""
    path = Path(os.environ.get("CARDIOLINK_DATA", _REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"real datasets not available at {path}")
    return path


@pytest.fixture
def isolated_companion_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
