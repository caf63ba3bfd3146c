"""The page's "Record (simulated)" button: the real recording code against the simulator.

:func:`make_recorder` returns the coroutine ``cardio serve --simulate`` runs when the
button is pressed: it starts the simulator's virtual device (:mod:`simulator.harness`),
then runs :func:`companion.recorder.record_and_store` — exactly what ``cardio record
--simulate`` does: BLE link, resends, checkpoints, history, screening — with a
:class:`~companion.web.live_listener.LiveListener` publishing to the live view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from companion.config import CompanionConfig
from companion.discovery import RadioBackends
from companion.link_options import LinkOptions
from companion.recorder import record_and_store
from companion.store import Store
from companion.web.live import SimulatedRecorder
from companion.web.live_listener import LiveListener

#: default simulated source (see ``simulator.sources.parse_source``)
DEFAULT_SOURCE = "synthetic:normal"


def make_recorder(config: CompanionConfig, *, source: str = DEFAULT_SOURCE, speed: float = 1.0,
                  duration_s: int = 30) -> SimulatedRecorder:
    """A simulated recording runner for :func:`companion.web.app.create_app`.

    Parameters
    ----------
    config : CompanionConfig
        History to store the recording in.
    source : str
        Simulator source spec, e.g. ``"synthetic:af"`` or a WFDB/CSV path.
    speed : float
        Simulated-time factor (1 = real time; the countdown follows simulated time).
    duration_s : int
        Recording length asked of the device.

    Returns
    -------
    callable
        ``await recorder(publish) -> recording id or None``.
    """
    if not (0 < speed <= 1000):
        raise ValueError(f"speed must be within (0, 1000], got {speed}")

    async def record(publish: Callable[[dict[str, Any]], None]) -> int | None:
        from simulator.harness import VirtualWorld  # only behind --simulate

        listener = LiveListener(publish)
        listener.prompt("Starting the simulated device…")
        async with VirtualWorld(source=source, speed=speed) as world:
            backends = RadioBackends(client=world.client_backend, scanner=world.scanner_backend)
            options = LinkOptions(address=world.address, duration_s=duration_s)
            with Store.open(config) as store:
                outcome = await record_and_store(store, config.recovery_dir, backends, options, listener)
        listener.report(outcome)
        return outcome.recording_id

    return record
