# cardiolink BLE wire format: the single source of truth (see docs/protocol.md).
#
# Sans-IO and MicroPython-clean: struct, binascii, collections.namedtuple only. The
# same file runs on the device (MicroPython) and is imported on CPython as
# ``firmware.wire`` by the simulator and the companion.
#
# API (device side / receiver side):
#   encode_frame(session_id, seq, samples, start, stop, payload_max, flags) -> (bytes, n)
#   decode_frame(data) -> DataFrame(session_id, seq, first_sample, flags, samples)
#   encode_summary(session_id, frame_count, total_samples, crc32, end_reason) -> bytes
#   decode_summary(data) -> Summary(...);  decode_notification(data) -> DataFrame|Summary
#   encode_command(opcode, token, *args) -> bytes;  decode_command(data) -> (op, token, args)
#   encode_reply(opcode, token, code, *fields) -> bytes;  decode_reply(data) -> Reply
#   encode_status(...) -> bytes;  decode_status(data) -> Status
#   samples_crc32(samples) -> int   (CRC-32 of the samples as int16 little-endian)
# Decoders raise WireError (a FirmwareError, itself a ValueError) with a ``reason``.

import struct
import binascii
from collections import namedtuple

from firmware.errors import FirmwareError  # noqa: F401  (re-exported)
from firmware.codec import WireError, BLOCK_SAMPLES, pack_samples, unpack_samples  # noqa: F401

try:
    from micropython import const
except ImportError:  # CPython
    const = lambda x: x  # noqa: E731


PROTOCOL_VERSION = const(1)

# GATT layout: lower-case 128-bit UUID strings; 16-bit SIG UUIDs as ints.
ECG_SERVICE_UUID = "c1a70001-5e3d-4a8b-9f2e-6c0d1b7a4e10"
DATA_CHAR_UUID = "c1a70002-5e3d-4a8b-9f2e-6c0d1b7a4e10"  # notify: frames, summary
CONTROL_CHAR_UUID = "c1a70003-5e3d-4a8b-9f2e-6c0d1b7a4e10"  # write w/ response + notify
STATUS_CHAR_UUID = "c1a70004-5e3d-4a8b-9f2e-6c0d1b7a4e10"  # read + notify
DEVICE_INFO_SERVICE_UUID16 = const(0x180A)
MANUFACTURER_NAME_UUID16 = const(0x2A29)
MODEL_NUMBER_UUID16 = const(0x2A24)
FIRMWARE_REVISION_UUID16 = const(0x2A26)
BATTERY_SERVICE_UUID16 = const(0x180F)
BATTERY_LEVEL_UUID16 = const(0x2A19)
DEFAULT_DEVICE_NAME = "cardiolink"


def uuid_to_bytes_le(uuid_str):
    """128-bit UUID string -> 16 bytes little-endian (advertising / bluetooth.UUID)."""
    h = uuid_str.replace("-", "")
    if len(h) != 32:
        raise WireError("bad_uuid")
    return bytes(reversed(binascii.unhexlify(h)))


# ---- data notifications -------------------------------------------------------------
KIND_DATA = const(1)
KIND_SUMMARY = const(2)
FLAG_LEAD_OFF = const(0x1000)  # contact was lost just before this frame's first sample
FLAG_LAST = const(0x2000)  # last data frame of the recording
_FLAGS_MASK = const(0xF000)
_COUNT_MASK = const(0x0FFF)
MAX_FRAME_SAMPLES = const(0x0FFF)
ATT_HEADER_BYTES = const(3)  # opcode + handle in front of every notification
# data header: <B ver<<4|kind><B session><H seq><I first_sample><H flags|count>
_DATA_HDR = "<BBHIH"
DATA_HEADER_BYTES = const(10)
# summary: <B ver<<4|kind><B session><H frame_count><I total_samples><I crc32><B end_reason>
_SUMMARY_FMT = "<BBHIIB"
SUMMARY_BYTES = const(13)
END_DURATION = const(0)  # recorded the requested duration
END_STOPPED = const(1)  # stopped by the STOP command
END_LEAD_OFF = const(2)  # aborted: contact lost for too long
END_NONE = const(255)  # status only: recording not finished

DataFrame = namedtuple("DataFrame", ("session_id", "seq", "first_sample", "flags", "samples"))
Summary = namedtuple("Summary", ("session_id", "frame_count", "total_samples", "crc32", "end_reason"))


ECG_SERVICE_UUID_LE = uuid_to_bytes_le(ECG_SERVICE_UUID)
DATA_CHAR_UUID_LE = uuid_to_bytes_le(DATA_CHAR_UUID)
CONTROL_CHAR_UUID_LE = uuid_to_bytes_le(CONTROL_CHAR_UUID)
STATUS_CHAR_UUID_LE = uuid_to_bytes_le(STATUS_CHAR_UUID)


def encode_frame(session_id, seq, samples, start, stop, payload_max, flags=0):
    """Pack samples[start:stop] (or as many as fit) into one data frame.

    payload_max is the ATT payload limit (MTU - 3). Returns (frame bytes, samples packed);
    packs at least one sample, else raises WireError("payload_too_small").
    """
    if stop - start > MAX_FRAME_SAMPLES:
        stop = start + MAX_FRAME_SAMPLES
    if stop <= start:
        raise WireError("no_samples")
    out = bytearray(DATA_HEADER_BYTES)
    n = pack_samples(samples, start, stop, (payload_max - DATA_HEADER_BYTES) * 8, out)
    if n == 0:
        raise WireError("payload_too_small", str(payload_max))
    word = (flags & _FLAGS_MASK) | n
    struct.pack_into(_DATA_HDR, out, 0, (PROTOCOL_VERSION << 4) | KIND_DATA, session_id & 0xFF, seq & 0xFFFF, start, word)
    return bytes(out), n


def _check_header(data, kind):
    if len(data) < 1:
        raise WireError("too_short")
    if data[0] >> 4 != PROTOCOL_VERSION:
        raise WireError("bad_version", str(data[0] >> 4))
    if data[0] & 0x0F != kind:
        raise WireError("bad_kind", str(data[0] & 0x0F))


def decode_frame(data):
    """Bytes of a data notification -> DataFrame (samples as a list of ints)."""
    _check_header(data, KIND_DATA)
    if len(data) < DATA_HEADER_BYTES + 1:
        raise WireError("too_short")
    _, session, seq, first, word = struct.unpack_from(_DATA_HDR, data, 0)
    count = word & _COUNT_MASK
    if count == 0:
        raise WireError("bad_count")
    out = unpack_samples(data, DATA_HEADER_BYTES, count)
    return DataFrame(session, seq, first, word & _FLAGS_MASK, out)


def encode_summary(session_id, frame_count, total_samples, crc32, end_reason):
    """End-of-recording summary notification (sent after the last data frame)."""
    return struct.pack(_SUMMARY_FMT, (PROTOCOL_VERSION << 4) | KIND_SUMMARY, session_id & 0xFF, frame_count, total_samples, crc32, end_reason)


def decode_summary(data):
    """Bytes of a summary notification -> Summary."""
    _check_header(data, KIND_SUMMARY)
    if len(data) != SUMMARY_BYTES:
        raise WireError("bad_length", str(len(data)))
    return Summary(*struct.unpack(_SUMMARY_FMT, data)[1:])


def decode_notification(data):
    """Data-characteristic notification -> DataFrame or Summary by its kind nibble."""
    if len(data) >= 1 and data[0] & 0x0F == KIND_SUMMARY:
        return decode_summary(data)
    return decode_frame(data)


def samples_crc32(samples, crc=0):
    """CRC-32 (IEEE 802.3, as zlib) of samples serialised as int16 little-endian.

    Pass the previous result as ``crc`` to continue over further samples.
    """
    n = len(samples)
    step = 256
    for i in range(0, n, step):
        chunk = samples[i : i + step]
        crc = binascii.crc32(struct.pack("<%dh" % len(chunk), *chunk), crc)
    return crc & 0xFFFFFFFF



# ---- control point: commands (central -> device) and replies (device -> central) ----
# command: <B opcode><B token> + params;  reply: <B 0x80|opcode><B token><B code> + fields
# (fields only when code == OK). The token is chosen by the central and echoed back.
OP_GET_INFO = const(0x01)  # no params
OP_START = const(0x02)  # <H duration_s (0 = default)><H fs_hz (0 = default)>
OP_STOP = const(0x03)  # no params
OP_RESEND = const(0x04)  # <H first_seq><H last_seq>, inclusive
REPLY_BIT = const(0x80)
OK = const(0)
ERR_UNKNOWN_OPCODE = const(1)
ERR_BAD_LENGTH = const(2)  # command too short or too long for its opcode
ERR_BAD_PARAMETER = const(3)  # rate not offered, duration 0 or over the buffer
ERR_BUSY = const(4)  # START while a recording is in progress
ERR_NO_RECORDING = const(5)  # RESEND with nothing recorded
ERR_OUT_OF_RANGE = const(6)  # RESEND of frames never sent
ERR_NOT_RECORDING = const(7)  # STOP while idle
ERROR_NAMES = {
    OK: "ok",
    ERR_UNKNOWN_OPCODE: "unknown_opcode",
    ERR_BAD_LENGTH: "bad_length",
    ERR_BAD_PARAMETER: "bad_parameter",
    ERR_BUSY: "busy",
    ERR_NO_RECORDING: "no_recording",
    ERR_OUT_OF_RANGE: "out_of_range",
    ERR_NOT_RECORDING: "not_recording",
}
_CMD_FMT = {OP_GET_INFO: "<", OP_START: "<HH", OP_STOP: "<", OP_RESEND: "<HH"}
# reply fields when OK; GET_INFO is followed by the offered rates, <H fs_hz> each
_REPLY_FMT = {OP_GET_INFO: "<BBBBBfh", OP_START: "<BHH", OP_STOP: "<BI", OP_RESEND: "<H"}
FRONT_END_SIMULATED = const(0)
FRONT_END_AD8232 = const(1)
FRONT_END_MAX30003 = const(2)
FRONT_END_NAMES = {FRONT_END_SIMULATED: "simulated", FRONT_END_AD8232: "AD8232", FRONT_END_MAX30003: "MAX30003"}

Reply = namedtuple("Reply", ("opcode", "token", "code", "fields"))
Info = namedtuple("Info", ("protocol_version", "fw_major", "fw_minor", "front_end", "adc_bits", "gain_counts_per_mv", "baseline", "rates_hz"))
Started = namedtuple("Started", ("session_id", "duration_s", "fs_hz"))
Stopped = namedtuple("Stopped", ("session_id", "total_samples"))
ResendQueued = namedtuple("ResendQueued", ("frame_count",))
_REPLY_TYPES = {OP_START: Started, OP_STOP: Stopped, OP_RESEND: ResendQueued}


class CommandError(WireError):
    """A control-point write the device refuses; ``code`` is the reply's error code."""

    def __init__(self, code, opcode=0, token=0):
        super().__init__(ERROR_NAMES.get(code, "error"), "opcode 0x%02x" % opcode)
        self.code = code
        self.opcode = opcode
        self.token = token


def encode_command(opcode, token=0, *args):
    """Control-point write, e.g. encode_command(OP_START, 7, 30, 300)."""
    fmt = _CMD_FMT.get(opcode)
    if fmt is None:
        raise WireError("unknown_opcode", str(opcode))
    return struct.pack("<BB", opcode, token & 0xFF) + struct.pack(fmt, *args)


def decode_command(data):
    """Control-point write -> (opcode, token, args tuple); raises CommandError."""
    if len(data) < 2:
        raise CommandError(ERR_BAD_LENGTH, data[0] if data else 0, 0)
    opcode = data[0]
    token = data[1]
    fmt = _CMD_FMT.get(opcode)
    if fmt is None:
        raise CommandError(ERR_UNKNOWN_OPCODE, opcode, token)
    if len(data) - 2 != struct.calcsize(fmt):
        raise CommandError(ERR_BAD_LENGTH, opcode, token)
    return opcode, token, struct.unpack_from(fmt, data, 2)


def encode_reply(opcode, token, code, *fields):
    """Reply notification; ``fields`` only with code OK (GET_INFO: rates as a tuple last)."""
    head = struct.pack("<BBB", REPLY_BIT | (opcode & 0x7F), token & 0xFF, code)
    if code != OK or opcode not in _REPLY_FMT:
        return head
    if opcode == OP_GET_INFO:
        rates = fields[-1]
        return head + struct.pack(_REPLY_FMT[opcode], *fields[:-1]) + struct.pack("<%dH" % len(rates), *rates)
    return head + struct.pack(_REPLY_FMT[opcode], *fields)


def decode_reply(data):
    """Reply notification -> Reply(opcode, token, code, fields); fields None on error."""
    if len(data) < 3 or not data[0] & REPLY_BIT:
        raise WireError("bad_reply")
    opcode = data[0] & 0x7F
    token = data[1]
    code = data[2]
    if code != OK:
        if len(data) != 3:
            raise WireError("bad_length", "error reply")
        return Reply(opcode, token, code, None)
    fmt = _REPLY_FMT.get(opcode)
    if fmt is None:
        raise WireError("unknown_opcode", str(opcode))
    size = struct.calcsize(fmt)
    if opcode == OP_GET_INFO:
        extra = len(data) - 3 - size
        if extra < 2 or extra % 2:
            raise WireError("bad_length", "info reply")
        head = struct.unpack_from(fmt, data, 3)
        rates = struct.unpack_from("<%dH" % (extra // 2), data, 3 + size)
        fields = list(head)
        fields.append(rates)
        return Reply(opcode, token, code, Info(*fields))
    if len(data) != 3 + size:
        raise WireError("bad_length", "reply")
    return Reply(opcode, token, code, _REPLY_TYPES[opcode](*struct.unpack_from(fmt, data, 3)))


# ---- status characteristic (read + notify) -----------------------------------------
# <B state><B flags><B battery_pct (255 unknown)><B session><I samples_recorded>
# <H frames_sent><H fs_hz><B end_reason>
_STATUS_FMT = "<BBBBIHHB"
STATUS_BYTES = const(13)
STATE_IDLE = const(0)
STATE_WAITING = const(1)  # started, waiting for finger contact
STATE_RECORDING = const(2)
STATE_PAUSED = const(3)  # contact lost mid-recording
STATE_COMPLETE = const(4)
STATE_ABORTED = const(5)  # contact lost for too long; what was recorded is kept
STATE_NAMES = ("idle", "waiting", "recording", "paused", "complete", "aborted")
STATUS_CONTACT = const(0x01)  # electrodes touched now
BATTERY_UNKNOWN = const(255)
Status = namedtuple("Status", ("state", "flags", "battery_pct", "session_id", "samples_recorded", "frames_sent", "fs_hz", "end_reason"))


def encode_status(state, flags, battery_pct, session_id, samples_recorded, frames_sent, fs_hz, end_reason):
    """Status characteristic value."""
    return struct.pack(_STATUS_FMT, state, flags, battery_pct, session_id & 0xFF, samples_recorded, frames_sent, fs_hz, end_reason)


def decode_status(data):
    """Status characteristic value -> Status."""
    if len(data) != STATUS_BYTES:
        raise WireError("bad_length", "status")
    return Status(*struct.unpack(_STATUS_FMT, data))
