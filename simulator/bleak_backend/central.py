"""The simulated phone: one Bumble ``Device`` on the virtual link acting as central.

The bleak backend classes of :mod:`simulator.bleak_backend` are bound to one
:class:`VirtualCentral`; it owns scanning (shared by every scanner object) and opens
connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bumble import core
from bumble.device import Advertisement, Connection, Device
from bumble.link import LocalLink

from simulator.link import new_device

__all__ = ["VirtualCentral"]

_log = logging.getLogger(__name__)

AdvertisementListener = Callable[[Advertisement], None]

#: longest single connection attempt; the emulated link connects within milliseconds
_ATTEMPT_S = 1.0


class VirtualCentral:
    """A Bumble central on ``link``.

    Parameters
    ----------
    link : LocalLink
        The shared virtual link.
    address : str
        The phone's random static address.
    mtu : int
        ATT MTU the central asks for after connecting (the peripheral may offer less).
    """

    def __init__(self, link: LocalLink, *, address: str = "C0:DE:CA:4D:FF:01", mtu: int = 247) -> None:
        self._link = link
        self.device: Device = new_device(link, "cardiolink-phone", address)
        self._controller = next(c for c in link.controllers if c.public_address.to_string(False) == address.upper())
        self.mtu = mtu
        self._listeners: list[AdvertisementListener] = []
        self._powered = False
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)

    async def power_on(self) -> None:
        """Bring the host stack up (idempotent)."""
        if not self._powered:
            await self.device.power_on()
            self._powered = True

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._listeners):
            listener(advertisement)

    async def add_scan_listener(self, listener: AdvertisementListener) -> None:
        """Start delivering advertisements to ``listener`` (starts scanning if needed)."""
        await self.power_on()
        async with self._scan_lock:
            self._listeners.append(listener)
            if not self.device.is_scanning:
                await self.device.start_scanning(active=True, filter_duplicates=False)

    async def remove_scan_listener(self, listener: AdvertisementListener) -> None:
        """Stop delivering to ``listener`` (stops scanning when nobody listens)."""
        async with self._scan_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if not self._listeners and self.device.is_scanning:
                await self.device.stop_scanning()

    def _advertiser_present(self, address: str) -> bool:
        # The emulated controller ignores LE Create Connection Cancel, so a connection
        # attempt to nobody would hang: look on the link for a connectable advertiser.
        wanted = address.upper()
        for controller in self._link.controllers:
            legacy = controller.le_legacy_advertiser
            if legacy.enabled and legacy.address.to_string(False) == wanted:
                return True
            for adv_set in controller.advertising_sets.values():
                adv_address = adv_set.address
                if adv_set.enabled and adv_address is not None and adv_address.to_string(False) == wanted:
                    return True
        return False

    async def connect(self, address: str, timeout_s: float) -> Connection:
        """Open an LE connection to ``address``.

        Raises
        ------
        asyncio.TimeoutError
            Nobody connectable answered at that address within ``timeout_s``.
        """
        await self.power_on()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._connect_lock:
            was_scanning = self.device.is_scanning
            if was_scanning:
                await self.device.stop_scanning()
            try:
                while True:
                    while not self._advertiser_present(address):
                        if loop.time() >= deadline:
                            raise asyncio.TimeoutError(f"no connectable device at {address}")
                        await asyncio.sleep(0.01)
                    # short attempts: one that races a device re-starting its advertising
                    # (or a link still being torn down) is abandoned and tried again
                    attempt_s = min(_ATTEMPT_S, max(deadline - loop.time(), 0.05))
                    try:
                        return await asyncio.wait_for(self.device.connect(address, timeout=None), attempt_s)
                    except (asyncio.TimeoutError, core.TimeoutError):
                        self._controller.pending_le_connection = None  # see _advertiser_present
                        if loop.time() >= deadline:
                            raise asyncio.TimeoutError(f"no connectable device at {address}") from None
                        _log.debug("connection attempt to %s timed out; retrying", address)
            finally:
                if was_scanning and self._listeners and not self.device.is_scanning:
                    await self.device.start_scanning(active=True, filter_duplicates=False)
