"""Every `cardio` command test runs in a data folder of its own (``isolated_companion_env``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(isolated_companion_env: None) -> None:
    """Never touch the user's real data folder or the shared recovery fallback."""
