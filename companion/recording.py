"""The Recording: what one session with the device produced.

Samples are raw ADC counts exactly as the device sent them (``int32``), so that the
stored stream can be compared bit for bit with the device's. Millivolts are derived:
``(counts - baseline_counts) / adc_gain_counts_per_mv``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np

#: recordings shorter than this are kept as "too short" and never screened, seconds
MIN_SCREENED_S = 20.0

#: contact event kinds (the device's lead-off status): ``contact`` at the start, then a
#: ``lost``/``regained`` pair per pause (both at the sample where the trace resumes, since the
#: device records nothing while contact is lost), and a last ``lost`` when the session ended
#: without contact (at ``n_samples``)
CONTACT_ON = "contact"
CONTACT_LOST = "lost"
CONTACT_REGAINED = "regained"


@dataclasses.dataclass(frozen=True, slots=True)
class ContactEvent:
    """A change of electrode contact during the session.

    Attributes
    ----------
    sample_index : int
        Index of the first sample the change applies to (0 = start of recording).
    kind : str
        ``"contact"``, ``"lost"`` or ``"regained"``.
    """

    sample_index: int
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"sample_index": self.sample_index, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContactEvent:
        return cls(sample_index=int(d["sample_index"]), kind=str(d["kind"]))


def contact_events_from(resumed_at: list[int], n_samples: int, lost_at_end: bool) -> list[ContactEvent]:
    """The contact events of a session, from where the device flagged a pause.

    Parameters
    ----------
    resumed_at : list of int
        Sample indices of the frames flagged ``LEAD_OFF`` (contact was lost just before
        that sample and regained before it was recorded).
    n_samples : int
        Samples in the recording.
    lost_at_end : bool
        The session ended while contact was lost (aborted after too long a pause, or
        stopped while paused).

    Returns
    -------
    list of ContactEvent
        ``contact`` at 0, a ``lost``/``regained`` pair at each resume index, and a final
        ``lost`` at ``n_samples`` when ``lost_at_end``.
    """
    events = [ContactEvent(0, CONTACT_ON)]
    for index in sorted(set(resumed_at)):
        events += [ContactEvent(index, CONTACT_LOST), ContactEvent(index, CONTACT_REGAINED)]
    if lost_at_end:
        events.append(ContactEvent(n_samples, CONTACT_LOST))
    return events


def normalised_contact_events(events: list[ContactEvent], n_samples: int) -> list[ContactEvent]:
    """Contact events with the ``regained`` that older recordings left implicit.

    Recordings stored before ``regained`` existed hold only ``lost`` at the sample where
    the trace resumed; a ``lost`` before the end without a ``regained`` at the same sample
    gets one.
    """
    regained = {e.sample_index for e in events if e.kind == CONTACT_REGAINED}
    out: list[ContactEvent] = []
    for e in events:
        out.append(e)
        if e.kind == CONTACT_LOST and e.sample_index < n_samples and e.sample_index not in regained:
            out.append(ContactEvent(e.sample_index, CONTACT_REGAINED))
    return out


@dataclasses.dataclass(slots=True)
class Recording:
    """One recording: samples, their scale, and how the session went.

    Attributes
    ----------
    samples : np.ndarray
        ADC counts, ``int32``, shape ``(n_samples,)``. Samples that never arrived (see
        ``gaps``) hold ``baseline_counts``.
    sample_rate_hz : float
        Sampling rate.
    adc_gain_counts_per_mv : float
        ADC counts per millivolt.
    baseline_counts : int
        ADC count that corresponds to 0 mV.
    started_at : datetime
        Wall-clock start of the recording (UTC, timezone aware).
    device : dict
        Device information (name, address, firmware version, front end, serial ...).
    session_id : int or None
        The device's session id.
    expected_samples : int or None
        How many samples the device announced (summary) or was asked for.
    contact_events : list of ContactEvent
    gaps : list of (start, stop)
        Half-open sample ranges that never arrived.
    complete : bool
        True when every expected sample arrived.
    verified : bool
        True when the device's summary CRC matched the received samples.
    frames_resent : int
        Frames the companion had to ask for again.
    reconnects : int
        Reconnections during the session.
    frames_malformed : int
        Frames that were malformed or unexpected and were ignored.
    """

    samples: np.ndarray
    sample_rate_hz: float
    adc_gain_counts_per_mv: float
    baseline_counts: int = 0
    started_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    device: dict[str, Any] = dataclasses.field(default_factory=dict)
    session_id: int | None = None
    expected_samples: int | None = None
    contact_events: list[ContactEvent] = dataclasses.field(default_factory=list)
    gaps: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    complete: bool = False
    verified: bool = False
    frames_resent: int = 0
    reconnects: int = 0
    frames_malformed: int = 0

    def __post_init__(self) -> None:
        self.samples = np.ascontiguousarray(self.samples, dtype=np.int32).reshape(-1)
        if not self.sample_rate_hz > 0:
            raise ValueError(f"sample_rate_hz must be > 0, got {self.sample_rate_hz}")
        if not self.adc_gain_counts_per_mv > 0:
            raise ValueError(f"adc_gain_counts_per_mv must be > 0, got {self.adc_gain_counts_per_mv}")
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be timezone aware (UTC)")

    @property
    def n_samples(self) -> int:
        """Number of samples held."""
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration of the held samples, seconds."""
        return self.n_samples / self.sample_rate_hz

    def signal_mv(self) -> np.ndarray:
        """Samples in millivolts, float64."""
        return (self.samples.astype(np.float64) - self.baseline_counts) / self.adc_gain_counts_per_mv
