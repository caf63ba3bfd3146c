"""Finding and connecting to a cardiolink device with bleak (any backend).

bleak's ``backend=`` argument is the companion's seam to the radio: ``None`` is the
platform's real Bluetooth stack; the simulator passes its own backend classes. Both the
scanner and client backends are handed through untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_16
from bleak_retry_connector import establish_connection

from companion.errors import DeviceNotFoundError, LinkError, NotAnEcgDeviceError
from firmware import wire

log = logging.getLogger(__name__)

#: Device Information characteristics read after connecting (name in Recording.device -> UUID)
DEVICE_INFO_CHARS = {
    "manufacturer": normalize_uuid_16(wire.MANUFACTURER_NAME_UUID16),
    "model": normalize_uuid_16(wire.MODEL_NUMBER_UUID16),
    "firmware_revision": normalize_uuid_16(wire.FIRMWARE_REVISION_UUID16),
}
#: after the first device matching only by name, wait this long for one advertising the service
_NAME_ONLY_GRACE_S = 1.5


@dataclasses.dataclass(frozen=True, slots=True)
class RadioBackends:
    """bleak backend classes: ``None`` means bleak's default for this platform."""

    client: type[Any] | None = None
    scanner: type[Any] | None = None

    def client_kwargs(self) -> dict[str, Any]:
        return {} if self.client is None else {"backend": self.client}

    def scanner_kwargs(self) -> dict[str, Any]:
        return {} if self.scanner is None else {"backend": self.scanner}


async def find_device(
    backends: RadioBackends,
    *,
    address: str | None = None,
    name_prefix: str = wire.DEFAULT_DEVICE_NAME,
    timeout_s: float = 10.0,
) -> BLEDevice:
    """Scan for a device: by ``address``, else by the ECG service UUID (or name prefix).

    A device advertising the ECG service wins; a device that only matches by name is
    returned when no such device shows up (it is then checked, and refused if needed,
    after connecting).

    Raises
    ------
    DeviceNotFoundError
    """
    if address is not None:
        try:
            found = await BleakScanner.find_device_by_address(address, timeout=timeout_s, **backends.scanner_kwargs())
        except (BleakError, OSError) as exc:
            raise _no_radio(exc) from exc
        if found is None:
            raise DeviceNotFoundError(f"address {address}", timeout_s)
        return found

    service_match: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()
    name_matches: list[BLEDevice] = []
    service = wire.ECG_SERVICE_UUID.lower()

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        if service in (u.lower() for u in adv.service_uuids):
            if not service_match.done():
                service_match.set_result(device)
        elif (adv.local_name or device.name or "").lower().startswith(name_prefix.lower()):
            if all(d.address != device.address for d in name_matches):
                name_matches.append(device)

    try:
        scanner = BleakScanner(on_advertisement, **backends.scanner_kwargs())
        await scanner.start()
    except (BleakError, OSError) as exc:
        raise _no_radio(exc) from exc
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        name_deadline: float | None = None
        while not service_match.done():
            now = loop.time()
            if name_matches and name_deadline is None:
                name_deadline = now + _NAME_ONLY_GRACE_S
            if now >= deadline or (name_deadline is not None and now >= name_deadline):
                break
            await asyncio.wait([service_match], timeout=0.05)
    finally:
        await scanner.stop()
    if service_match.done():
        return service_match.result()
    if name_matches:
        return name_matches[0]
    raise DeviceNotFoundError(f"service {wire.ECG_SERVICE_UUID} or name {name_prefix}*", timeout_s)


def _no_radio(exc: BaseException) -> LinkError:
    detail = str(exc) or type(exc).__name__
    return LinkError(
        f"cannot scan for Bluetooth devices ({detail}): is Bluetooth available and switched on? "
        "Without hardware, try `cardio record --simulate`"
    )


async def connect(
    device: BLEDevice,
    backends: RadioBackends,
    *,
    on_disconnect: Callable[[BleakClient], None] | None = None,
    attempts: int = 3,
) -> BleakClient:
    """Connect with retries (``bleak_retry_connector``) and check the ECG service is there.

    Raises
    ------
    NotAnEcgDeviceError
        The device has no cardiolink ECG service (it is disconnected again).
    LinkError
        The connection could not be made.
    """
    try:
        client = await establish_connection(
            BleakClient, device, device.name or device.address, disconnected_callback=on_disconnect,
            max_attempts=attempts, **backends.client_kwargs(),
        )
    except (BleakError, asyncio.TimeoutError, OSError) as exc:
        raise LinkError(f"cannot connect to {device.name or '?'} ({device.address}): {exc}") from exc
    if client.services.get_service(wire.ECG_SERVICE_UUID) is None:
        await _quiet_disconnect(client)
        raise NotAnEcgDeviceError(device.address, device.name, wire.ECG_SERVICE_UUID)
    return client


async def read_device_info(client: BleakClient) -> dict[str, str]:
    """Read the Device Information strings that exist (missing ones are skipped)."""
    info: dict[str, str] = {}
    for key, uuid in DEVICE_INFO_CHARS.items():
        if client.services.get_characteristic(uuid) is None:
            continue
        try:
            info[key] = bytes(await client.read_gatt_char(uuid)).decode("utf-8", "replace")
        except BleakError as exc:
            log.debug("cannot read %s: %s", key, exc)
    return info


async def _quiet_disconnect(client: BleakClient) -> None:
    try:
        await client.disconnect()
    except (BleakError, asyncio.TimeoutError):
        log.debug("disconnect failed", exc_info=True)
