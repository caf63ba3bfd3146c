"""What every ECG source gives the simulated front end: millivolts plus contact.

A source is deterministic: the same source object (same seed) renders the same signal
every time, so a test can regenerate the exact stream the device sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simulator.errors import SourceSpecError

__all__ = ["EcgSignal", "Source", "parse_periods", "periods_mask"]


@dataclass(frozen=True)
class EcgSignal:
    """A rendered single-lead ECG as the electrodes would present it.

    Attributes
    ----------
    signal_mv : numpy.ndarray
        1-D float64, millivolts.
    fs_hz : float
        Sample rate in Hz.
    lead_off : numpy.ndarray
        1-D bool, same length: ``True`` where the fingers do not touch the electrodes.
    description : str
        Human-readable summary (kind, rate, parameters).
    """

    signal_mv: np.ndarray
    fs_hz: float
    lead_off: np.ndarray
    description: str

    @property
    def duration_s(self) -> float:
        """Length of the signal in seconds."""
        return len(self.signal_mv) / self.fs_hz


class Source(Protocol):
    """Anything that renders an :class:`EcgSignal` at a requested rate."""

    @property
    def description(self) -> str:
        """Human-readable summary of the source."""
        ...

    def render(self, duration_s: float, fs_hz: float) -> EcgSignal:
        """Render ``duration_s`` seconds at ``fs_hz``."""
        ...


def parse_periods(text: str, *, spec: str) -> tuple[tuple[float, float], ...]:
    """Parse lead-off periods ``"0:3,14:16.5"`` (seconds, start:end) into tuples.

    Parameters
    ----------
    text : str
        Comma-separated ``start:end`` pairs in seconds; empty means none.
    spec : str
        The whole spec, for error messages.

    Returns
    -------
    tuple of (float, float)
        Sorted ``(start_s, end_s)`` pairs.

    Examples
    --------
    >>> parse_periods("0:3,14:16.5", spec="x")
    ((0.0, 3.0), (14.0, 16.5))
    """
    periods: list[tuple[float, float]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            start_text, end_text = part.split(":")
            start_s, end_s = float(start_text), float(end_text)
        except ValueError:
            raise SourceSpecError(
                f"lead-off period {part!r} is not START:END in seconds (e.g. 14:16.5)", spec=spec
            ) from None
        if not (0 <= start_s < end_s) or not np.isfinite(end_s):
            raise SourceSpecError(f"lead-off period {part!r} must have 0 <= START < END", spec=spec)
        periods.append((start_s, end_s))
    return tuple(sorted(periods))


def periods_mask(periods: tuple[tuple[float, float], ...], n_samples: int, fs_hz: float) -> np.ndarray:
    """Boolean mask, ``True`` inside any ``(start_s, end_s)`` period."""
    mask = np.zeros(n_samples, dtype=bool)
    for start_s, end_s in periods:
        mask[int(round(start_s * fs_hz)) : int(round(end_s * fs_hz))] = True
    return mask
