"""Simulated analog front end and sample clock.

:class:`SimulatedFrontEnd` plays an :class:`~simulator.sources.EcgSignal` through an
ADC: ``counts = clip(round(mV * gain_counts_per_mv + baseline), 0, 2**adc_bits - 1)``.
While the fingers are off it reports lead-off and the output sits at the positive rail,
as the AD8232's does. It keeps a log of every sample it delivered, so a test can
regenerate the exact stream the device saw.

:class:`SimClock` is simulated time running ``speed`` times faster than the event loop.
"""

from __future__ import annotations

import asyncio
import numpy as np

from simulator.sources import Source

__all__ = ["SimClock", "SimulatedFrontEnd", "mv_to_counts"]

#: length of source rendered at once (played in a loop beyond it), s
RENDER_SPAN_S = 120.0


def mv_to_counts(signal_mv: np.ndarray, gain_counts_per_mv: float, baseline: int, adc_bits: int) -> np.ndarray:
    """Millivolts to ADC counts (rounded, clipped to the ADC range).

    Examples
    --------
    >>> mv_to_counts(np.array([0.0, 1.0, 99.0]), 1000.0, 2048, 12).tolist()
    [2048, 3048, 4095]
    """
    counts = np.rint(np.asarray(signal_mv, dtype=float) * gain_counts_per_mv + baseline)
    return np.clip(counts, 0, (1 << adc_bits) - 1).astype(np.int64)


class SimClock:
    """Simulated seconds since :meth:`start`, running ``speed`` × the loop's clock.

    Parameters
    ----------
    speed : float
        1 is real time; 30 runs 30 s of recording in one second.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = float(speed)
        self._t0: float | None = None

    def start(self) -> None:
        """Set simulated time zero to now."""
        self._t0 = asyncio.get_running_loop().time()

    def now_s(self) -> float:
        """Simulated seconds since :meth:`start` (0 before it)."""
        if self._t0 is None:
            return 0.0
        return (asyncio.get_running_loop().time() - self._t0) * self.speed

    async def sleep_s(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)


class SimulatedFrontEnd:
    """A front end whose electrodes see ``source``.

    Parameters
    ----------
    source : Source
        What the fingers present (mV and contact).
    gain_counts_per_mv, baseline, adc_bits
        The ADC as the firmware describes it (GET_INFO reply).
    """

    def __init__(self, source: Source, *, gain_counts_per_mv: float, baseline: int, adc_bits: int) -> None:
        self.source = source
        self.gain_counts_per_mv = gain_counts_per_mv
        self.baseline = baseline
        self.adc_bits = adc_bits
        self._fs_hz: float | None = None
        self._counts = np.zeros(0, dtype=np.int64)
        self._lead_off = np.zeros(0, dtype=bool)
        self._position = 0
        self.delivered_counts: list[int] = []
        self.delivered_lead_off: list[bool] = []

    def set_rate(self, fs_hz: float) -> None:
        """(Re)render the source at ``fs_hz`` if the rate changed; the position is kept."""
        if self._fs_hz == fs_hz:
            return
        rendered = self.source.render(RENDER_SPAN_S, fs_hz)
        self._counts = mv_to_counts(rendered.signal_mv, self.gain_counts_per_mv, self.baseline, self.adc_bits)
        self._counts[rendered.lead_off] = (1 << self.adc_bits) - 1
        self._lead_off = rendered.lead_off.copy()
        if self._fs_hz is not None:
            self._position = int(self._position * fs_hz / self._fs_hz)
        self._fs_hz = fs_hz

    @property
    def fs_hz(self) -> float | None:
        """Current sample rate (None before :meth:`set_rate`)."""
        return self._fs_hz

    def read(self, n_samples: int) -> list[tuple[list[int], bool]]:
        """The next ``n_samples`` as runs of ``(counts, lead_off)`` with one contact state.

        Raises
        ------
        RuntimeError
            Called before :meth:`set_rate`.
        """
        if self._fs_hz is None:
            raise RuntimeError("set_rate() first")
        size = len(self._counts)
        idx = (self._position + np.arange(n_samples)) % size
        self._position = (self._position + n_samples) % size
        counts = self._counts[idx].tolist()
        lead_off = self._lead_off[idx]
        self.delivered_counts += counts
        self.delivered_lead_off += lead_off.tolist()
        if n_samples == 0:
            return []
        edges = np.flatnonzero(np.diff(lead_off.astype(np.int8))) + 1
        runs: list[tuple[list[int], bool]] = []
        start = 0
        for stop in [*edges.tolist(), n_samples]:
            runs.append((counts[start:stop], bool(lead_off[start])))
            start = stop
        return runs
