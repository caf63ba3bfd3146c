"""Tests of the extra MIT-BIH / CPSC 2021 training windows (training/extra.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from training.extra import MAX_N_PER_RECORD, MIN_ECTOPIC_FOR_O, _rhythm_at, extra_windows, label_windows

FS = 100.0
WIN = int(30 * FS)


def _beats(start: int, stop: int, symbol: str = "N", every: int = 80) -> tuple[list[int], list[str]]:
    pos = list(range(start + 10, stop, every))
    return pos, [symbol] * len(pos)


class TestLabelWindows:
    def test_rhythm_marks_become_labels(self) -> None:
        n = 4 * WIN
        rhythm = _rhythm_at(np.array([0, 2 * WIN]), ["(N", "(AFIB\x00"], n)
        pos, sym = _beats(0, n)
        got = label_windows(rhythm, np.array(pos), sym, FS)
        assert got == [(0, "N"), (WIN, "N"), (2 * WIN, "A"), (3 * WIN, "A")]

    def test_window_spanning_a_change_or_noise_is_skipped(self) -> None:
        n = 3 * WIN
        rhythm = _rhythm_at(np.array([0, WIN + 50]), ["(N", "(AFIB"], n)
        pos, sym = _beats(0, n)
        pos.append(2 * WIN + 100)
        sym.append("~")
        order = np.argsort(pos)
        got = label_windows(rhythm, np.array(pos)[order], [sym[i] for i in order], FS)
        assert got == [(0, "N")]

    def test_ectopy_and_other_rhythms_are_other(self) -> None:
        n = 3 * WIN
        rhythm = _rhythm_at(np.array([0, 2 * WIN]), ["(N", "(B"], n)
        pos, sym = _beats(0, n)
        for i in range(MIN_ECTOPIC_FOR_O):  # window 0: enough PVCs for "other"
            sym[3 * i + 1] = "V"
        sym[pos.index(next(p for p in pos if p > WIN)) + 2] = "V"  # window 1: one PVC → ambiguous, skipped
        got = label_windows(rhythm, np.array(pos), sym, FS)
        assert got == [(0, "O"), (2 * WIN, "O")]

    def test_sinus_windows_are_capped_per_record(self) -> None:
        n = 40 * WIN
        rhythm = _rhythm_at(np.array([0]), ["(N"], n)
        pos, sym = _beats(0, n)
        got = label_windows(rhythm, np.array(pos), sym, FS)
        assert len(got) == MAX_N_PER_RECORD and {c for _, c in got} == {"N"}


class TestSharedRecords:
    def test_every_source_gives_windows(self, shared_data_dir: Path) -> None:
        wins = extra_windows(shared_data_dir)
        groups = {w.group.split(":")[0] for w in wins}
        assert groups == {"mitdb", "cpsc"}
        labels = [w.label for w in wins]
        assert labels.count("A") > 150 and labels.count("O") > 30 and labels.count("N") > 50
        assert all(w.sig_mv.size == int(30 * w.fs_hz) for w in wins)
        assert "~" not in labels
