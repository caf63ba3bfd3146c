"""The simulated radio: the companion's real recording code against the simulator's device.

This is one of the two places that wire :mod:`simulator` to :mod:`companion` (the
other is :mod:`cardio.local_cloud` for :mod:`cloud`); the companion itself imports
neither. Both ``cardio record --simulate`` and the Record button of
``cardio serve --simulate`` get their bleak backends from :func:`simulated_radio`.

- :func:`simulated_radio` — async context manager yielding the
  :class:`~companion.discovery.RadioBackends` of a running
  :class:`simulator.harness.VirtualWorld` (and the world itself).

The page's Record button is wired in :mod:`cardio.recorders`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from companion.discovery import RadioBackends
from companion.errors import SimulationSetupError

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
