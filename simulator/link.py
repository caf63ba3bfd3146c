"""The in-process radio: Bumble controllers on one shared link, with optional latency.

Every simulated device and the simulated phone is a real Bumble ``Device`` (host stack:
L2CAP, ATT, GATT, advertising) on its own Bumble ``Controller``; the controllers talk
over one :class:`VirtualLink`, a ``bumble.link.LocalLink`` that can delay every ACL
packet by a fixed latency while keeping their order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from bumble import core, hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

__all__ = ["VirtualLink", "new_device"]

#: link-layer payload with Data Length Extension
_LE_DATA_LENGTH_BYTES = 251


class VirtualLink(LocalLink):
    """A ``LocalLink`` that delivers ACL data ``latency_ms`` late, in order.

    Parameters
    ----------
    latency_ms : float
        One-way delay added to every ACL packet (ATT requests, responses,
        notifications) in milliseconds; 0 delivers on the next loop iteration.
    """

    def __init__(self, latency_ms: float = 0.0) -> None:
        super().__init__()
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self.latency_s = latency_ms / 1000.0
        self._pending: deque[tuple[float, Callable[[], None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        if self.latency_s <= 0:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.latency_s

        def deliver() -> None:
            LocalLink.send_acl_data(self, sender_controller, destination_address, transport, data)

        self._pending.append((due, deliver))
        if self._timer is None:
            self._timer = loop.call_at(due, self._drain)

    def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = None
        now = loop.time()
        while self._pending and self._pending[0][0] <= now:
            _, deliver = self._pending.popleft()
            deliver()
        if self._pending:
            self._timer = loop.call_at(self._pending[0][0], self._drain)

    def close(self) -> None:
        """Forget undelivered packets (the world is shutting down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()


def new_device(link: LocalLink, name: str, address: str) -> Device:
    """A Bumble ``Device`` with its own controller on ``link``.

    Parameters
    ----------
    link : LocalLink
        The shared link.
    name : str
        GAP device name.
    address : str
        Random static address, e.g. ``"C0:DE:00:00:00:01"``.

    Notes
    -----
    Must be called with an asyncio loop running (the HCI pipe uses it).
    """
    controller = Controller(f"ctrl-{name}", link=link, public_address=address)
    # LE Data Length Extension (BLE 4.2+, ESP32 and current phones): 251-byte link-layer
    # payloads, so a 247-byte ATT MTU notification is not cut into 27-byte fragments
    controller.le_acl_data_packet_length = _LE_DATA_LENGTH_BYTES
    host = Host(controller, AsyncPipeSink(controller))
    return Device(name=name, address=hci.Address(address), host=host)
