"""Settings, prompts and the listener interface of the BLE link (:mod:`companion.link`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from companion.assembler import FrameAssembler
from companion.recording import Recording
from firmware import wire

PROMPT_CONNECTING = "Connecting to {device}…"  # between finding the device and "connected"
PROMPT_PLACE = "Place both fingers on the electrodes"
PROMPT_RECORDING = "Recording — keep still and relaxed"
PROMPT_LOST = "Contact lost — keep your fingers on the electrodes"
PROMPT_RECONNECTING = "Connection lost — reconnecting"
PROMPT_FINISHING = "Recording done — collecting missing data"
#: device state -> prompt shown when the device enters it
STATE_PROMPTS = {
    wire.STATE_WAITING: PROMPT_PLACE,
    wire.STATE_RECORDING: PROMPT_RECORDING,
    wire.STATE_PAUSED: PROMPT_LOST,
}
END_REASONS = {code: name for code, name in wire.END_REASON_NAMES.items() if code != wire.END_NONE}
DONE_STATES = (wire.STATE_COMPLETE, wire.STATE_ABORTED)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkOptions:
    """Settings of one recording session (times in wall-clock seconds).

    Attributes
    ----------
    address : str or None
        Connect to this address instead of scanning for the ECG service.
    name_prefix : str
        Advertised name that also counts as a candidate (checked after connecting).
    duration_s : int
        Recording length asked of the device (0 = the device's default).
    fs_hz : int
        Sampling rate asked of the device (0 = the device's default).
    scan_timeout_s, command_timeout_s : float
        Limits for finding the device and for a control-point reply.
    resend_timeout_s : float
        How long to wait for a requested frame before asking again.
    idle_poll_s : float
        Without any notification for this long, read the status characteristic.
    finish_timeout_s : float
        After the device finished, give up on missing frames when resends have brought
        nothing new for this long.
    max_reconnects : int
        Reconnections allowed in one session.
    reconnect_timeout_s : float
        How long one reconnection may take.
    session_timeout_s : float
        Upper bound for the whole session (contact wait included).
    checkpoint_interval_s : float
        How often the listener gets a snapshot to save.
    """

    address: str | None = None
    name_prefix: str = wire.DEFAULT_DEVICE_NAME
    duration_s: int = 30
    fs_hz: int = 0
    scan_timeout_s: float = 10.0
    command_timeout_s: float = 3.0
    resend_timeout_s: float = 1.0
    idle_poll_s: float = 1.0
    finish_timeout_s: float = 10.0
    max_reconnects: int = 10
    reconnect_timeout_s: float = 20.0
    session_timeout_s: float = 300.0
    checkpoint_interval_s: float = 0.5


class LinkListener:
    """Receives what the user interface shows; every method is optional (no-op here)."""

    def prompt(self, text: str) -> None:
        """A message for the patient (contact, reconnecting ...)."""

    def connected(self, device: dict[str, Any]) -> None:
        """Connected; ``device`` is the device information."""

    def started(
        self, session_id: int, fs_hz: float, expected_samples: int, adc_gain_counts_per_mv: float, baseline_counts: int
    ) -> None:
        """The device accepted START (scale given so a UI can show millivolts)."""

    def progress(self, assembler: FrameAssembler, expected_samples: int) -> None:
        """Called about every 0.1 s while data arrive."""

    def checkpoint(self, snapshot: Recording) -> None:
        """What arrived so far, to be saved (every ``checkpoint_interval_s``)."""
