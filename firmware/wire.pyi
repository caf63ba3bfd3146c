# Typed stub of firmware/wire.py for CPython type checkers (pyright over companion and
# simulator). wire.py itself stays MicroPython-clean (no typing); tests/firmware/test_wire_stub.py
# checks that this stub names every public name of the module.
from typing import NamedTuple, Sequence

from firmware.errors import FirmwareError

class WireError(FirmwareError):
    reason: str
    detail: str
    def __init__(self, reason: str, detail: str = ...) -> None: ...

class CommandError(WireError):
    code: int
    opcode: int
    token: int
    def __init__(self, code: int, opcode: int = ..., token: int = ...) -> None: ...

class DataFrame(NamedTuple):
    session_id: int
    seq: int
    first_sample: int
    flags: int
    samples: list[int]

class Summary(NamedTuple):
    session_id: int
    frame_count: int
    total_samples: int
    crc32: int
    end_reason: int
    lost_samples: int

class Reply(NamedTuple):
    opcode: int
    token: int
    code: int
    fields: Info | Started | Stopped | ResendQueued | Rates | None

class Info(NamedTuple):
    protocol_version: int
    fw_major: int
    fw_minor: int
    front_end: int
    adc_bits: int
    gain_counts_per_mv: float
    baseline: int
    resend_credits: int
    max_samples: int

class Started(NamedTuple):
    session_id: int
    duration_s: int
    fs_hz: int

class Stopped(NamedTuple):
    session_id: int
    total_samples: int

class ResendQueued(NamedTuple):
    frame_count: int
    credits: int

class Rates(NamedTuple):
    rates_hz: tuple[int, ...]

class Status(NamedTuple):
    state: int
    flags: int
    battery_pct: int
    session_id: int
    samples_recorded: int
    frames_sent: int
    fs_hz: int
    end_reason: int
    resend_credits: int
    lost_samples: int

ATT_HEADER_BYTES: int
BATTERY_LEVEL_UUID16: int
BATTERY_SERVICE_UUID16: int
BATTERY_UNKNOWN: int
COMPACT_HEADER_BYTES: int
COMPACT_PAYLOAD_MAX: int
CONTROL_CHAR_UUID: str
CONTROL_CHAR_UUID_LE: bytes
CONTROL_MAX_BYTES: int
DATA_CHAR_UUID: str
DATA_CHAR_UUID_LE: bytes
DATA_HEADER_BYTES: int
DEFAULT_DEVICE_NAME: str
DEVICE_INFO_SERVICE_UUID16: int
ECG_SERVICE_UUID: str
ECG_SERVICE_UUID_LE: bytes
END_DURATION: int
END_FAULT: int
END_LEAD_OFF: int
END_NONE: int
END_STOPPED: int
ERR_BAD_LENGTH: int
ERR_BAD_PARAMETER: int
ERR_BUSY: int
ERR_NOT_RECORDING: int
ERR_NO_CREDIT: int
ERR_NO_RECORDING: int
ERR_OUT_OF_RANGE: int
ERR_UNKNOWN_OPCODE: int
FIRMWARE_REVISION_UUID16: int
FLAG_CONT: int
FLAG_GAP: int
FLAG_LEAD_OFF: int
FLAG_MORE: int
FRONT_END_AD8232: int
FRONT_END_MAX30003: int
FRONT_END_SIMULATED: int
KIND_DATA: int
KIND_DATA_COMPACT: int
KIND_SUMMARY: int
MANUFACTURER_NAME_UUID16: int
MAX_COMPACT_SAMPLES: int
MAX_FRAMES: int
MAX_FRAME_SAMPLES: int
MAX_PAYLOAD: int
MAX_RATES: int
MAX_RECORDING_SAMPLES: int
MIN_PAYLOAD: int
MODEL_NUMBER_UUID16: int
OK: int
OP_GET_INFO: int
OP_GET_RATES: int
OP_RESEND: int
OP_START: int
OP_STOP: int
PROP_NOTIFY: int
PROP_READ: int
PROP_WRITE: int
PROTOCOL_VERSION: int
REPLY_ATTEMPTS: int
REPLY_BIT: int
REPLY_TIMEOUT_MS: int
RESEND_CREDITS: int
STATE_ABORTED: int
STATE_COMPLETE: int
STATE_IDLE: int
STATE_PAUSED: int
STATE_RECORDING: int
STATE_WAITING: int
STATUS_BYTES: int
STATUS_CHAR_UUID: str
STATUS_CHAR_UUID_LE: bytes
STATUS_CONTACT: int
SUMMARY_BYTES: int

FLAG_NAMES: dict[int, str]
END_REASON_NAMES: dict[int, str]
OPCODE_NAMES: dict[int, str]
ERROR_NAMES: dict[int, str]
FRONT_END_NAMES: dict[int, str]
STATE_NAMES: tuple[str, ...]
GATT_TABLE: tuple[tuple[str | int, tuple[tuple[str | int, int], ...]], ...]

def uuid_to_bytes_le(uuid_str: str) -> bytes: ...
def pack_samples(samples: Sequence[int], start: int, stop: int, budget_bits: int, out: bytearray) -> int: ...
def unpack_samples(data: bytes, pos: int, count: int) -> list[int]: ...
def encode_frame(session_id: int, seq: int, samples: Sequence[int], start: int, stop: int, payload_max: int, flags: int = ...) -> tuple[bytes, int]: ...
def frame_header(data: bytes) -> tuple[int, int, int, int, int, int, int]: ...
def session_matches(kind: int, wire_session: int, session_id: int) -> bool: ...
def decode_frame(data: bytes) -> DataFrame: ...
def with_flags(frame: bytes, flags: int) -> bytes: ...
def encode_summary(session_id: int, frame_count: int, total_samples: int, crc32: int, end_reason: int, lost_samples: int = ...) -> bytes: ...
def decode_summary(data: bytes) -> Summary: ...
def decode_notification(data: bytes) -> DataFrame | Summary: ...
def samples_crc32(samples: Sequence[int], crc: int = ...) -> int: ...
def encode_command(opcode: int, token: int = ..., *args: int) -> bytes: ...
def decode_command(data: bytes) -> tuple[int, int, tuple[int, ...]]: ...
def encode_reply(opcode: int, token: int, code: int, *fields: object) -> bytes: ...
def decode_reply(data: bytes) -> Reply: ...
def encode_status(state: int, flags: int, battery_pct: int, session_id: int, samples_recorded: int, frames_sent: int, fs_hz: int, end_reason: int, resend_credits: int = ..., lost_samples: int = ...) -> bytes: ...
def decode_status(data: bytes) -> Status: ...
