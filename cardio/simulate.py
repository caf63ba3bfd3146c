"""The simulated radio: the companion's real recording code against the simulator's device.

This is one of the two places that wire :mod:`simulator` to :mod:`companion` (the
other is :mod:`cardio.local_cloud` for :mod:`cloud`); the companion itself imports
neither. Both ``cardio record --simulate`` and the "Record (simulated)" button of
``cardio serve --simulate`` get their bleak backends from :func:`simulated_radio`.

- :func:`simulated_radio` — async context manager yielding the
  :class:`~companion.discovery.RadioBackends` of a running
  :class:`simulator.harness.VirtualWorld` (and the world itself).
- :func:`make_recorder` — the coroutine the page's button runs: it starts a simulated
  device, then :func:`companion.recorder.record_and_store` — exactly what ``cardio record
  --simulate`` does (BLE link, resends, checkpoints, history, screening) — with a
  :class:`~companion.web.live_listener.LiveListener` publishing to the live view.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from companion.config import CompanionConfig
from companion.discovery import RadioBackends
from companion.errors import SimulationSetupError
from companion.link_options import LinkOptions
from companion.recorder import record_and_store
from companion.store import Store
from companion.web.live import SimulatedRecorder
from companion.web.live_listener import LiveListener

#: default simulated source (see ``simulator.sources.parse_source``)
DEFAULT_SOURCE = "synthetic:normal"


@contextlib.asynccontextmanager
async def simulated_radio(**world_options: Any) -> AsyncIterator[tuple[RadioBackends, Any]]:
    """Run a simulated device on a virtual link; yield its bleak backends and the world.

    Parameters
    ----------
    **world_options
        Keyword options of :class:`simulator.harness.VirtualWorld` (``source``,
        ``speed``, ``mtu``, ``drop_fraction``, ``disconnect_at_s``, ``seed``,
        ``with_ecg_service``...).

    Raises
    ------
    SimulationSetupError
        An option the simulator refuses (``option`` names it when known).
    """
    from simulator.errors import SimulatorError  # the simulator loads only when asked for
    from simulator.harness import VirtualWorld

    try:
        world = VirtualWorld(**world_options)
        await world.__aenter__()
    except SimulatorError as exc:
        raise SimulationSetupError(getattr(exc, "option", None), str(exc)) from exc
    try:
        yield RadioBackends(client=world.client_backend, scanner=world.scanner_backend), world
    finally:
        await world.close()


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
        listener = LiveListener(publish)
        listener.prompt("Starting the simulated device…")
        async with simulated_radio(source=source, speed=speed) as (backends, world):
            options = LinkOptions(address=world.address, duration_s=duration_s)
            with Store.open(config) as store:
                outcome = await record_and_store(store, config.recovery_dir, backends, options, listener)
        listener.report(outcome)
        return outcome.recording_id

    return record
