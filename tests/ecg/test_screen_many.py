"""``ecg.screening.screen_many``: each context gets what ``screen`` gives it alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecg.context import LeadContext
from ecg.io import read_record
from ecg.screening import screen, screen_many


def _contexts(cinc2017_fixture: dict[str, tuple[Path, str]]) -> list[tuple[np.ndarray, float]]:
    out = []
    for name in sorted(cinc2017_fixture):
        rec = read_record(cinc2017_fixture[name][0])
        out.append((rec.signals_mv[:, 0], rec.fs_hz))
    out.append((np.zeros(9000), 300.0))  # flat: unreadable before the model
    out.append((np.sin(np.arange(1200) / 10.0), 300.0))  # 4 s: too short
    return out


def test_each_as_alone(cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
    signals = _contexts(cinc2017_fixture)
    alone = [screen(x, fs).to_dict() for x, fs in signals]
    together = screen_many([LeadContext.of(x, fs) for x, fs in signals])
    assert [r.to_dict() for r in together] == alone
    assert [r.probabilities for r in together] == [screen(x, fs).probabilities for x, fs in signals]  # unrounded
    assert {r.label for r in together} >= {"N", "A", "~"}


def test_nothing_to_screen() -> None:
    assert screen_many([]) == []
