"""bleak scanner backend over the simulated phone's Bumble central.

Use through bleak's public API::

    async with world.bleak_scanner(service_uuids=[wire.ECG_SERVICE_UUID]) ...
    await BleakScanner.find_device_by_filter(f, backend=world.scanner_backend)

``world.scanner_backend`` is a subclass of :class:`SimBleakScanner` bound to one
:class:`~simulator.bleak_backend.central.VirtualCentral`.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any, ClassVar

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import AdvertisingData
from bumble.device import Advertisement

from simulator.bleak_backend.central import VirtualCentral

__all__ = ["SimBleakScanner", "advertisement_to_bleak", "address_of"]

_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"
_UUID_LISTS = {
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {
    AdvertisingData.SERVICE_DATA_16_BIT_UUID: 2,
    AdvertisingData.SERVICE_DATA_32_BIT_UUID: 4,
    AdvertisingData.SERVICE_DATA_128_BIT_UUID: 16,
}


def _uuid_from_le(raw: bytes) -> str:
    """Little-endian 16/32/128-bit UUID bytes -> bleak's lower-case 128-bit string."""
    if len(raw) == 16:
        return str(uuid.UUID(bytes=bytes(reversed(raw))))
    value = int.from_bytes(raw, "little")
    return f"{value:08x}{_BASE_UUID_TAIL}"


def address_of(advertisement: Advertisement) -> str:
    """The advertiser's address as bleak shows it (``AA:BB:CC:DD:EE:FF``)."""
    return advertisement.address.to_string(with_type_qualifier=False)


def advertisement_to_bleak(advertisement: Advertisement) -> AdvertisementData:
    """Translate a Bumble advertisement (adv + scan response merged) for bleak."""
    local_name: str | None = None
    service_uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer_data: dict[int, bytes] = {}
    tx_power: int | None = None
    for ad_type, value in advertisement.data.ad_structures:
        value = bytes(value)
        if ad_type in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
            if local_name is None or ad_type == AdvertisingData.COMPLETE_LOCAL_NAME:
                local_name = value.decode("utf-8", errors="replace")
        elif ad_type in _UUID_LISTS:
            size = _UUID_LISTS[ad_type]
            for i in range(0, len(value) - size + 1, size):
                service_uuid = _uuid_from_le(value[i : i + size])
                if service_uuid not in service_uuids:
                    service_uuids.append(service_uuid)
        elif ad_type in _SERVICE_DATA and len(value) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            service_data[_uuid_from_le(value[:size])] = value[size:]
        elif ad_type == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(value) >= 2:
            manufacturer_data[struct.unpack_from("<H", value)[0]] = value[2:]
        elif ad_type == AdvertisingData.TX_POWER_LEVEL and len(value) == 1:
            tx_power = struct.unpack("<b", value)[0]
    rssi = advertisement.rssi if advertisement.rssi != Advertisement.RSSI_NOT_AVAILABLE else -127
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(advertisement,),
    )


class SimBleakScanner(BaseBleakScanner):
    """bleak scanner backend: advertisements heard by a :class:`VirtualCentral`.

    Subclass with ``central`` set (see ``VirtualWorld.scanner_backend``); bleak
    instantiates it with its usual arguments.
    """

    central: ClassVar[VirtualCentral]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement_to_bleak(advertisement)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = address_of(advertisement)
        # details deliberately not a BlueZ dict: bleak-retry-connector then skips D-Bus
        device = self.create_or_update_device(address, address, data.local_name, {"simulated": True}, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        """Start scanning (clears the devices seen so far)."""
        self.seen_devices = {}
        if not self._scanning:
            self._scanning = True
            await self.central.add_scan_listener(self._on_advertisement)

    async def stop(self) -> None:
        """Stop scanning."""
        if self._scanning:
            self._scanning = False
            await self.central.remove_scan_listener(self._on_advertisement)
