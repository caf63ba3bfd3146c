"""The simulated device's radio: a Bumble GATT server with the firmware's GATT table.

The table comes from :mod:`firmware.wire` (UUIDs) and is the one the real firmware's
``radio.py`` builds on MicroPython's ``bluetooth``:

- ECG service (128-bit): data (notify), control point (write with response + notify),
  status (read + notify);
- Device Information 0x180A (manufacturer, model, firmware revision);
- Battery 0x180F (battery level, read + notify).

Advertising carries flags, the ECG service UUID and the complete name. On a real
controller (``name_in_scan_response=True``, used with a real HCI transport) the name
goes into the scan response, because a legacy advertising payload holds 31 bytes; the
Bumble controller emulator answers scans with the advertising data instead of the scan
response, so on the virtual link the name rides in the (then 33-byte) advertising data.
``with_ecg_service=False`` builds a device that advertises the same name without the
ECG service (for "refuse" tests).

Notifications are queued and sent in order by one task, as a BLE stack's TX buffer
would; whatever is queued when the link drops is lost, as on a real radio.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bumble import gatt
from bumble.device import Connection, Device
from bumble.link import LocalLink
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from firmware import adv, wire
from simulator.link import new_device

__all__ = ["DeviceIdentity", "Peripheral"]

_log = logging.getLogger(__name__)

#: the largest ATT MTU a BLE 4.2+ stack usually offers
DEFAULT_MAX_MTU = 247
#: ACL packets the simulated stack lets into the controller before the sender waits
_TX_BUFFERS = 4


@dataclass(frozen=True)
class DeviceIdentity:
    """What the device says about itself over Device Information and advertising."""

    name: str = wire.DEFAULT_DEVICE_NAME
    address: str = "C0:DE:CA:4D:00:01"
    manufacturer: str = "cardiolink (simulated)"
    model: str = "cardiolink-sim"
    firmware_revision: str = "sim"


class Peripheral:
    """A Bumble peripheral serving the cardiolink GATT table.

    Parameters
    ----------
    link : LocalLink or bumble.device.Device
        The shared virtual link, or a ready Bumble ``Device`` on a real HCI transport
        (see ``cardio-sim --transport``).
    identity : DeviceIdentity
        Name, address and Device Information strings.
    on_control : callable, optional
        ``on_control(data: bytes)`` for each control-point write (may be async; the
        write response is sent when it returns).
    read_status : callable, optional
        Returns the current status characteristic value.
    battery_percent : callable, optional
        Returns the battery level 0..100.
    max_mtu : int
        Largest ATT MTU this device accepts (23 forces the minimum).
    with_ecg_service : bool
        False builds a look-alike without the ECG service.
    name_in_scan_response : bool
        Put the name in the scan response (real controllers) instead of the
        advertising data (the virtual link's emulated controller).
    """

    def __init__(
        self,
        link: LocalLink | Device,
        identity: DeviceIdentity,
        *,
        on_control: Callable[[bytes], Awaitable[None] | None] | None = None,
        read_status: Callable[[], bytes] | None = None,
        battery_percent: Callable[[], int] | None = None,
        max_mtu: int = DEFAULT_MAX_MTU,
        with_ecg_service: bool = True,
        name_in_scan_response: bool = False,
    ) -> None:
        if not 23 <= max_mtu <= 517:
            raise ValueError("max_mtu must be between 23 and 517")
        self.identity = identity
        self.with_ecg_service = with_ecg_service
        self.name_in_scan_response = name_in_scan_response
        self._on_control = on_control
        self._read_status = read_status or (lambda: b"")
        self._battery_percent = battery_percent or (lambda: 100)
        self.device: Device = link if isinstance(link, Device) else new_device(link, identity.name, identity.address)
        # the emulated controller, to check what is really on air (None on real hardware)
        self._controller = (
            None
            if isinstance(link, Device)
            else next(c for c in link.controllers if c.public_address.to_string(False) == identity.address.upper())
        )
        self.device.gatt_server.max_mtu = max_mtu
        self.connection: Connection | None = None
        self.on_connect: Callable[[], None] | None = None
        self.on_disconnect: Callable[[int], None] | None = None
        self.notifications_sent = 0
        self.connections_total = 0
        self._tx: asyncio.Queue[tuple[gatt.Characteristic[bytes], bytes]] = asyncio.Queue()
        self._tx_task: asyncio.Task[None] | None = None
        self.data_subscribed = False
        self._advertise_lock = asyncio.Lock()
        self._readvertise: asyncio.Task[None] | None = None
        self._build_gatt()
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        self.data_char.on(self.data_char.EVENT_SUBSCRIPTION, self._on_data_subscription)

    # ---- GATT table -----------------------------------------------------------------
    def _build_gatt(self) -> None:
        # the ECG characteristics' properties come from the one table in firmware/wire.py
        props = gatt.Characteristic.Properties
        ecg = dict(wire.GATT_TABLE[0][1])
        self.data_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            wire.DATA_CHAR_UUID, props(ecg[wire.DATA_CHAR_UUID]), gatt.Characteristic.READABLE, b""
        )
        self.control_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            wire.CONTROL_CHAR_UUID,
            props(ecg[wire.CONTROL_CHAR_UUID]),
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=lambda _c: b"", write=self._on_control_write),
        )
        self.status_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            wire.STATUS_CHAR_UUID,
            props(ecg[wire.STATUS_CHAR_UUID]),
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=lambda _c: bytes(self._read_status())),
        )
        services: list[gatt.Service] = []
        if self.with_ecg_service:
            services.append(gatt.Service(wire.ECG_SERVICE_UUID, [self.data_char, self.control_char, self.status_char]))
        services.append(
            DeviceInformationService(
                manufacturer_name=self.identity.manufacturer,
                model_number=self.identity.model,
                firmware_revision=self.identity.firmware_revision,
            )
        )
        self.battery_service = BatteryService(read_battery_level=lambda _c: int(self._battery_percent()))
        services.append(self.battery_service)
        self.device.add_services(services)

    def _advertising_data(self) -> tuple[bytes, bytes]:
        # the firmware's own advertising bytes (firmware/adv.py)
        name = adv.scan_response(self.identity.name)
        if not self.with_ecg_service:
            flags_only = adv.advertising_payload(wire.ECG_SERVICE_UUID_LE)[:3]  # the 3-byte flags field
            return (flags_only, name) if self.name_in_scan_response else (flags_only + name, b"")
        payload = adv.advertising_payload(wire.ECG_SERVICE_UUID_LE)
        return (payload, name) if self.name_in_scan_response else (payload + name, b"")

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Power on and start advertising (restarted after every disconnection)."""
        await self.device.power_on()
        self._tx_task = asyncio.create_task(self._tx_loop(), name=f"tx-{self.identity.name}")
        await self.advertise()

    async def advertise(self) -> None:
        """(Re)start connectable advertising (serialised; skipped while connected)."""
        async with self._advertise_lock:
            if self.connection is not None:
                return
            adv, scan_response = self._advertising_data()
            await self.device.start_advertising(
                advertising_data=adv,
                scan_response_data=scan_response,
                advertising_interval_min=20,
                advertising_interval_max=20,
            )

    def advertising_on_air(self) -> bool:
        """Whether the (emulated) controller is sending advertising PDUs now."""
        if self._controller is None:
            return bool(self.device.is_advertising)
        sets_on = any(adv_set.enabled for adv_set in self._controller.advertising_sets.values())
        return sets_on or self._controller.le_legacy_advertiser.enabled

    def ensure_advertising(self) -> None:
        """Restart advertising if nobody is connected and nothing is on air."""
        if self.connection is not None or self._tx_task is None or self.advertising_on_air():
            return
        if self._readvertise is None or self._readvertise.done():
            _log.debug("not connected and not advertising: advertising again")
            self._readvertise = asyncio.get_running_loop().create_task(self.advertise())

    async def stop(self) -> None:
        """Stop advertising, drop the connection and the TX task."""
        if self._readvertise is not None and not self._readvertise.done():
            # let it finish: cancelling mid-HCI-command leaves the host a stale response
            try:
                await asyncio.wait_for(asyncio.shield(self._readvertise), 2.0)
            except Exception:  # noqa: BLE001 - shutting down
                _log.debug("re-advertising did not finish cleanly", exc_info=True)
        if self._tx_task is not None:
            self._tx_task.cancel()
            try:
                await self._tx_task
            except asyncio.CancelledError:
                pass
            self._tx_task = None
        try:
            await self.device.stop_advertising()
        except Exception:  # noqa: BLE001 - shutting down; the controller may be gone
            _log.debug("stop_advertising failed during shutdown", exc_info=True)
        if self.connection is not None:
            await self.disconnect()

    # ---- connection -----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether a central is connected."""
        return self.connection is not None

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU of the current connection (23 if none)."""
        return self.connection.att_mtu if self.connection is not None else 23

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.connections_total += 1
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        _log.debug("central %s connected", connection.peer_address)
        if self.on_connect is not None:
            self.on_connect()

    def _on_data_subscription(self, _bearer: object, notify_enabled: bool, _indicate: bool) -> None:
        self.data_subscribed = bool(notify_enabled)

    def _on_disconnection(self, reason: int) -> None:
        self.connection = None
        self.data_subscribed = False
        while not self._tx.empty():
            self._tx.get_nowait()
        _log.debug("central disconnected (reason 0x%02X)", reason)
        if self.on_disconnect is not None:
            self.on_disconnect(reason)
        if self._tx_task is not None:
            self._readvertise = asyncio.get_running_loop().create_task(self.advertise())

    async def disconnect(self) -> None:
        """Device-side disconnection (e.g. the user walks away); advertising resumes."""
        connection = self.connection
        if connection is not None:
            await connection.disconnect()

    # ---- data out -------------------------------------------------------------------
    def notify_data(self, value: bytes) -> None:
        """Queue a notification on the data characteristic."""
        self._queue(self.data_char, value)

    def notify_control(self, value: bytes) -> None:
        """Queue a notification on the control point (command replies)."""
        self._queue(self.control_char, value)

    def notify_status(self, value: bytes) -> None:
        """Queue a notification on the status characteristic."""
        self._queue(self.status_char, value)

    def _queue(self, characteristic: gatt.Characteristic[bytes], value: bytes) -> None:
        if self.connection is not None:
            self._tx.put_nowait((characteristic, bytes(value)))

    @property
    def tx_backlog(self) -> int:
        """Notifications queued but not yet sent."""
        return self._tx.qsize()

    def _acl_pending(self) -> int:
        connection = self.connection
        if connection is None:
            return 0
        queue = self.device.host.get_data_packet_queue(connection.handle)
        return queue.pending if queue is not None else 0

    async def drain(self) -> None:
        """Wait until every queued notification has left the controller."""
        while self.connection is not None and (not self._tx.empty() or self._acl_pending() > 0):
            await asyncio.sleep(0.002)

    async def _wait_for_controller(self) -> None:
        # a real stack has a few TX buffers; beyond them the radio makes the sender wait
        connection = self.connection
        while connection is not None and connection is self.connection and self._acl_pending() >= _TX_BUFFERS:
            queue = self.device.host.get_data_packet_queue(connection.handle)
            if queue is None:
                return
            flowed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue.once("flow", lambda: flowed.done() or flowed.set_result(None))
            try:
                await asyncio.wait_for(flowed, 0.05)
            except asyncio.TimeoutError:
                pass

    async def _tx_loop(self) -> None:
        while True:
            characteristic, value = await self._tx.get()
            connection = self.connection
            if connection is None:
                continue
            try:
                await self._wait_for_controller()
                if connection is not self.connection:
                    continue
                await self.device.notify_subscriber(connection, characteristic, value)
                self.notifications_sent += 1
            except Exception:  # noqa: BLE001 - the link can drop between get() and send
                _log.debug("notification lost (link gone)", exc_info=True)

    async def _on_control_write(self, _connection: Connection, value: bytes) -> None:
        # the ATT write response goes out when this returns: never let an error escape,
        # or the central would wait for a response that never comes
        if self._on_control is None:
            return
        try:
            result = self._on_control(bytes(value))
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - device bug: log it, keep the link alive
            _log.exception("control-point handler failed for %s", bytes(value).hex())
