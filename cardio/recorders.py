"""The Record button of ``cardio serve``: a recording from the configured device, synced like ``cardio record``.

:func:`make_recorder` returns the coroutine the web app runs when the button is pressed
(:data:`companion.web.live.Recorder`): it finds the device — the real one through bleak,
or the simulator's with ``simulate`` (:func:`cardio.simulate.simulated_radio`) — runs
:func:`companion.recorder.record_and_store` (link, resends, checkpoints, history,
screening) with a :class:`~companion.web.live_listener.LiveListener` feeding the live
view, tells the page the result, then sends the recording to the cloud exactly as
``cardio record`` does (:func:`cardio.local_cloud.after_record`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from companion.config import CompanionConfig
from companion.discovery import RadioBackends
from companion.link_options import LinkOptions
from companion.recorder import record_and_store
from companion.store import Store
from companion.web.live import Recorder
from companion.web.live_listener import LiveListener

log = logging.getLogger(__name__)

#: default simulated source (see ``simulator.sources.parse_source``)
DEFAULT_SOURCE = "synthetic:normal"


@dataclass(frozen=True)
class RecordSettings:
    """What the page's button records from, and where the result goes.

    Attributes
    ----------
    simulate : bool
        Record from the built-in simulator instead of the Bluetooth radio.
    source : str
        Simulator source spec (``synthetic:af``, a WFDB/CSV path...).
    speed : float
        Simulated-time factor (1 = real time).
    address : str or None
        Bluetooth address of the device (None: scan for the ECG service).
    duration_s : int
        Recording length asked of the device.
    sync : bool
        Send the recording to the cloud afterwards (like ``cardio record``).
    cloud_url, token : str or None
        Cloud settings (None: ``cardio cloud login``, the environment, or in-process).
    """

    simulate: bool = False
    source: str = DEFAULT_SOURCE
    speed: float = 1.0
    address: str | None = None
    duration_s: int = 30
    sync: bool = True
    cloud_url: str | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        if not (0 < self.speed <= 1000):
            raise ValueError(f"speed must be within (0, 1000], got {self.speed}")
        if not (1 <= self.duration_s <= 600):
            raise ValueError(f"duration must be within 1..600 s, got {self.duration_s}")

    @property
    def label(self) -> str:
        """Words on the button."""
        return "Record (simulated)" if self.simulate else "Record"


@contextlib.asynccontextmanager
async def _radio(settings: RecordSettings) -> AsyncIterator[tuple[RadioBackends, str | None]]:
    if not settings.simulate:
        yield RadioBackends(), settings.address
        return
    from cardio.simulate import simulated_radio

    async with simulated_radio(source=settings.source, speed=settings.speed) as (backends, world):
        yield backends, world.address


def make_recorder(config: CompanionConfig, settings: RecordSettings | None = None) -> Recorder:
    """A recorder for :func:`companion.web.app.create_app` (``recorder=``).

    Returns
    -------
    callable
        ``await recorder(publish) -> recording id or None``.
    """
    settings = settings or RecordSettings()

    async def record(publish: Callable[[dict[str, Any]], None]) -> int | None:
        listener = LiveListener(publish)
        listener.prompt("Starting the simulated device…" if settings.simulate else "Searching for your device…")
        async with _radio(settings) as (backends, address):
            timeout_s = max(60.0, (settings.duration_s + 120.0) / settings.speed)
            options = LinkOptions(address=address, duration_s=settings.duration_s, session_timeout_s=timeout_s)
            with Store.open(config) as store:
                outcome = await record_and_store(store, config.recovery_dir, backends, options, listener)
                listener.report(outcome)
                if settings.sync and outcome.recording_id is not None and outcome.recording.complete:
                    await _sync(store, config, settings, publish)
        return outcome.recording_id

    return record


async def _sync(store: Store, config: CompanionConfig, settings: RecordSettings,
                publish: Callable[[dict[str, Any]], None]) -> None:
    """Send the outbox like ``cardio record``; the recording is safe whatever happens here."""
    from cardio.local_cloud import after_record

    try:
        report = await after_record(store, config.data_dir, cloud_url=settings.cloud_url, token=settings.token)
        text = ("Sent to the cloud for analysis." if report.sent and not report.offline_reason else
                "The cloud could not be reached; the recording stays queued and is sent later.")
    except Exception as exc:  # noqa: BLE001 - a sync failure never loses the stored recording
        log.warning("sync after a recording from the page failed: %s", exc)
        text = "Not sent to the cloud yet (it stays queued); `cardio sync` sends it later."
    with contextlib.suppress(Exception):
        publish({"type": "status", "message": text})
