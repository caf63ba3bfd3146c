# Advertising data (pure): the ECG service UUID in the advertisement, the name in the
# scan response (both together exceed the 31-byte legacy advertising limit).

import struct

_ADV_FLAGS = 0x01
_ADV_COMPLETE_128 = 0x07
_ADV_COMPLETE_NAME = 0x09
_LE_GENERAL_DISC_BR_EDR_NOT_SUPPORTED = 0x06


def _field(kind, value):
    return struct.pack("BB", len(value) + 1, kind) + value


def advertising_payload(service_uuid_le):
    """Flags + complete list of 128-bit service UUIDs (21 bytes)."""
    return _field(_ADV_FLAGS, bytes((_LE_GENERAL_DISC_BR_EDR_NOT_SUPPORTED,))) + _field(_ADV_COMPLETE_128, service_uuid_le)


def scan_response(name):
    """Complete local name; names longer than 29 bytes are cut."""
    return _field(_ADV_COMPLETE_NAME, name.encode()[:29])

