"""Terminal interface of ``cardio record``: prompts, a progress bar, a live heart rate.

Everything goes to stderr, so ``cardio record --json`` keeps stdout for the JSON result.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from companion.assembler import FrameAssembler
from companion.link_options import PROMPT_RECONNECTING, LinkListener
from companion.recording import Recording

#: seconds of recent signal used for the live heart rate
HR_WINDOW_S = 8.0
#: how often the live heart rate is recomputed, wall-clock seconds
HR_PERIOD_S = 1.0


def live_heart_rate_bpm(samples: np.ndarray, fs_hz: float, gain: float, baseline: int) -> float | None:
    """Heart rate of a recent stretch of ADC counts via ``ecg.beats``, or None."""
    if samples.size < 3 * fs_hz:
        return None
    from ecg.beats import detect_r_peaks, heart_rate_bpm

    try:
        sig_mv = (samples.astype(np.float64) - baseline) / gain
        return heart_rate_bpm(detect_r_peaks(sig_mv, fs_hz), fs_hz)
    except Exception:  # noqa: BLE001 - a live estimate must never stop the recording
        return None


def connected_text(device: dict[str, Any]) -> str:
    """``connected to NAME (ADDRESS), firmware X.Y`` for the terminal."""
    return (f"connected to {device.get('name') or '?'} ({device.get('address')}), "
            f"firmware {device.get('firmware_revision') or device.get('firmware')}")


class RichRecordUI(LinkListener):
    """Shows the session on the terminal (stderr)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[elapsed]:>4.1f} s / {task.fields[total_s]:.0f} s"),
            TextColumn("remaining {task.fields[remaining]:>4.1f} s"),
            TextColumn("♥ {task.fields[hr]}"),
            console=self.console,
            transient=False,
        )
        self._task: Any = None
        self._fs_hz = 0.0
        self._gain = 1.0
        self._baseline = 0
        self._hr_at = 0.0
        self._hr_text = "-- bpm"
        self._description = "connecting"
        self._count_at_prompt = 0  # samples when "Connection lost" was shown (cleared once more arrive)
        self._last_count = 0

    def prompt(self, text: str) -> None:
        self._description = text
        if text == PROMPT_RECONNECTING:
            self._count_at_prompt = self._last_count
        if self._task is not None:
            self._bar.update(self._task, description=text)
        self.console.print(f"[yellow]» {text}[/yellow]")

    def connected(self, device: dict[str, Any]) -> None:
        self.console.print(connected_text(device))

    def started(
        self, session_id: int, fs_hz: float, expected_samples: int, adc_gain_counts_per_mv: float, baseline_counts: int
    ) -> None:
        self._fs_hz, self._gain, self._baseline = fs_hz, adc_gain_counts_per_mv, baseline_counts
        total_s = expected_samples / fs_hz
        self._bar.start()
        self._task = self._bar.add_task(
            self._description, total=expected_samples, elapsed=0.0, total_s=total_s, remaining=total_s, hr="-- bpm"
        )

    def progress(self, assembler: FrameAssembler, expected_samples: int) -> None:
        if self._task is None:
            return
        n = assembler.contiguous_count
        if self._description == PROMPT_RECONNECTING and n > self._count_at_prompt:
            self._description = "Recording — keep still and relaxed"  # samples flow again: not lost any more
            self._bar.update(self._task, description=self._description)
        self._last_count = n
        now = time.monotonic()
        if now - self._hr_at >= HR_PERIOD_S:
            self._hr_at = now
            hr = live_heart_rate_bpm(
                assembler.recent_samples(int(HR_WINDOW_S * self._fs_hz)), self._fs_hz, self._gain, self._baseline
            )
            self._hr_text = "-- bpm" if hr is None else f"{hr:3.0f} bpm"
        elapsed = n / self._fs_hz
        self._bar.update(
            self._task, completed=n, elapsed=elapsed, remaining=max(expected_samples / self._fs_hz - elapsed, 0.0),
            hr=self._hr_text,
        )

    def checkpoint(self, snapshot: Recording) -> None:
        pass

    def close(self) -> None:
        """Stop the live display."""
        if self._task is not None:
            self._bar.stop()
            self._task = None


class QuietUI(LinkListener):
    """Prompts as plain lines on stderr, no progress bar (for ``--quiet`` and pipes)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    def prompt(self, text: str) -> None:
        self.console.print(f"» {text}", highlight=False)

    def connected(self, device: dict[str, Any]) -> None:
        self.console.print(connected_text(device), highlight=False)

    def close(self) -> None:
        pass
