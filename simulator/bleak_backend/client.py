"""bleak client backend over the simulated phone's Bumble central.

Real ATT over the virtual link: MTU exchange, service/characteristic/descriptor
discovery, reads, write with and without response, notifications and indications
(bleak's ``start_notify`` subscribes to notifications when a characteristic offers
both). Use through bleak's public API::

    client = BleakClient(device, backend=world.client_backend)
    await bleak_retry_connector.establish_connection(BleakClient, device, "ecg",
                                                     backend=world.client_backend)

``world.client_backend`` is a subclass of :class:`SimBleakClient` bound to one
:class:`~simulator.bleak_backend.central.VirtualCentral`. Like BlueZ, the
``disconnected_callback`` runs on every disconnection, requested or not.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core
from bumble.device import Connection, Peer
from bumble.gatt_client import CharacteristicProxy

from simulator.bleak_backend.central import VirtualCentral

__all__ = ["SimBleakClient"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _uuid_str(value: core.UUID) -> str:
    """Bumble UUID -> bleak's lower-case 128-bit string."""
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def _properties(flags: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if flags & bit]


class SimBleakClient(BaseBleakClient):
    """bleak client backend talking real ATT to a simulated device.

    Subclass with ``central`` set (see ``VirtualWorld.client_backend``); bleak
    instantiates it with its usual arguments (extra keyword arguments are ignored).
    """

    central: ClassVar[VirtualCentral]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._device_name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        ) or self.address.replace(":", "-")
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._lost: asyncio.Future[None] | None = None  # resolved when the link drops

    # ---- connection -----------------------------------------------------------------
    @property
    def name(self) -> str:
        """The advertised name (or the address with dashes)."""
        return self._device_name

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU."""
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        """Whether the ATT bearer is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange MTU and discover the whole GATT table.

        Raises
        ------
        BleakDeviceNotFoundError
            Nothing connectable at the address within the timeout.
        """
        timeout_s = float(kwargs.get("timeout", self._timeout))
        try:
            connection = await self.central.connect(self.address, timeout_s)
        except asyncio.TimeoutError:
            raise BleakDeviceNotFoundError(self.address, f"device {self.address} not found") from None
        self._connection = connection
        self._lost = asyncio.get_running_loop().create_future()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            self._peer = Peer(connection)
            await self._att(self._peer.request_mtu(self.central.mtu))
            self.services = await self._att(self._discover(self._peer))
        except Exception:
            await self.disconnect()
            raise
        if pair:
            await self.pair()

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service_proxy in peer.services:
            service = BleakGATTService(service_proxy, service_proxy.handle, _uuid_str(service_proxy.uuid))
            collection.add_service(service)
            await service_proxy.discover_characteristics()
            for char_proxy in service_proxy.characteristics:
                characteristic = BleakGATTCharacteristic(
                    char_proxy,
                    char_proxy.handle,
                    _uuid_str(char_proxy.uuid),
                    _properties(int(char_proxy.properties)),
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                await char_proxy.discover_descriptors()
                for desc_proxy in char_proxy.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc_proxy, desc_proxy.handle, _uuid_str(desc_proxy.type), characteristic)
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        _log.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (no-op when not connected)."""
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect()
        except core.BaseBumbleError:
            _log.debug("disconnect raced with a remote disconnection", exc_info=True)
        self._connection = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """The simulated device needs no pairing; accepted and ignored."""
        _log.info("pairing is not needed by the simulated device; ignored")

    async def unpair(self) -> None:
        """Nothing to unpair; accepted and ignored."""

    # ---- I/O ------------------------------------------------------------------------
    def _require_peer(self) -> Peer:
        if self._peer is None or self._connection is None:
            raise BleakError("Not connected")
        return self._peer

    async def _att(self, operation: Coroutine[Any, Any, _T]) -> _T:
        """Run one ATT operation, translating Bumble's failures into bleak's.

        The operation is abandoned when the link drops: a multi-step Bumble procedure
        (e.g. subscribe = discover descriptors, then write the CCCD) would otherwise send
        its next request on the dead link and wait for Bumble's 30 s GATT timeout.
        """
        lost = self._lost
        op_task = asyncio.ensure_future(operation)
        try:
            if lost is not None:
                await asyncio.wait({op_task, lost}, return_when=asyncio.FIRST_COMPLETED)
                if not op_task.done():
                    raise BleakError("Not connected: the link dropped during the operation")
            return await op_task
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._connection is None and current is not None and not current.cancelling():
                # Bumble cancels pending requests when the link drops
                raise BleakError("Not connected: the link dropped during the operation") from None
            raise
        except core.TimeoutError as exc:
            raise asyncio.TimeoutError(f"ATT request timed out: {exc}") from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"ATT operation failed: {exc}") from exc
        finally:
            if not op_task.done():
                op_task.cancel()

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value (long reads as needed)."""
        peer = self._require_peer()
        return bytearray(await self._att(peer.read_value(characteristic.obj)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        peer = self._require_peer()
        return bytearray(await self._att(peer.read_value(descriptor.obj)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write with response (ATT Write Request) or without (ATT Write Command)."""
        peer = self._require_peer()
        await self._att(peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        """Write a descriptor with response."""
        peer = self._require_peer()
        await self._att(peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribe (notifications preferred over indications) and deliver each value."""
        peer = self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        if characteristic.handle in self._subscribers:
            await self.stop_notify(characteristic)
        self._subscribers[characteristic.handle] = deliver
        try:
            await self._att(peer.subscribe(proxy, deliver, prefer_notify=True))
        except BaseException:
            self._subscribers.pop(characteristic.handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe."""
        peer = self._require_peer()
        deliver = self._subscribers.pop(characteristic.handle, None)
        await self._att(peer.unsubscribe(characteristic.obj, deliver))
