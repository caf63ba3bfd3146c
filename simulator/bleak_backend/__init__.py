"""A bleak backend over a Bumble central on the virtual link.

:func:`make_backends` returns a client and a scanner backend class bound to one
:class:`VirtualCentral`; pass them to bleak as ``backend=``. Normally you get them from
``simulator.harness.VirtualWorld`` (``world.client_backend``, ``world.scanner_backend``).
"""

from __future__ import annotations

from simulator.bleak_backend.central import VirtualCentral
from simulator.bleak_backend.client import SimBleakClient
from simulator.bleak_backend.scanner import SimBleakScanner

__all__ = ["VirtualCentral", "SimBleakClient", "SimBleakScanner", "make_backends"]


def make_backends(central: VirtualCentral) -> tuple[type[SimBleakClient], type[SimBleakScanner]]:
    """Client and scanner backend classes bound to ``central``.

    Examples
    --------
    >>> client_cls, scanner_cls = make_backends(central)  # doctest: +SKIP
    >>> BleakClient(address, backend=client_cls)  # doctest: +SKIP
    """
    client_cls = type("SimBleakClient", (SimBleakClient,), {"central": central})
    scanner_cls = type("SimBleakScanner", (SimBleakScanner,), {"central": central})
    return client_cls, scanner_cls
