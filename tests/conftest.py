"""Shared pytest fixtures: paths to the small real records committed under
``tests/fixtures/`` and to the optional full datasets in ``../shared/data``.

- ``fixtures_dir``: ``tests/fixtures`` (always present).
- ``cinc2017_fixture``: ``{record_name: (path_without_extension, label)}`` for the five
  CinC 2017 records (labels N, N, A, O, ~).
- ``mitdb_fixture``: ``{excerpt_name: path_without_extension}`` for the MIT-BIH
  excerpts (``100_2min``, ``208_1min``), each with an ``atr`` annotation file.
- ``shared_data_dir``: the real dataset folder (env ``CARDIOLINK_DATA`` or
  ``../shared/data``); the test is skipped when it does not exist.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

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
