# cardiolink BLE wire format: the single source of truth (see docs/protocol.md).
#
# Sans-IO and MicroPython-clean: struct, binascii, collections.namedtuple only. The
# same file runs on the device (MicroPython) and is imported on CPython as
# ``firmware.wire`` by the simulator and the companion.
#
# API (device side / receiver side):
#   encode_frame(session_id, seq, samples, start, stop, payload_max, flags) -> (bytes, n)
#   decode_frame(data) -> DataFrame(session_id, seq, first_sample, flags, samples)
#   frame_header(data) -> (kind, session, seq, first_sample, flags, count, header bytes)
#   session_matches(kind, wire_session, session_id);  with_flags(frame, flags) -> bytes
#   encode_summary(session_id, frame_count, total_samples, crc32, end_reason, lost) -> bytes
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
from firmware.codec import WireError, pack_samples, unpack_samples  # noqa: F401

try:
    from micropython import const
except ImportError:  # CPython
    const = lambda x: x  # noqa: E731


PROTOCOL_VERSION = const(2)  # v1 (2026, 10-byte headers, fixed-width blocks) is retired

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
KIND_DATA = const(1)  # data frame, full header (10 bytes)
KIND_SUMMARY = const(2)
KIND_DATA_COMPACT = const(3)  # data frame, compact header (7 bytes), for small MTUs
# frame flags (4 bits; the same values in both headers)
FLAG_LEAD_OFF = const(0x1)  # discontinuity: contact was lost just before the first sample
FLAG_GAP = const(0x2)  # discontinuity: the front end lost samples just before the first sample
FLAG_MORE = const(0x4)  # a piece of a split resend: more pieces of this seq follow
FLAG_CONT = const(0x8)  # a piece of a split resend that continues the previous piece
FLAG_NAMES = {FLAG_LEAD_OFF: "lead_off", FLAG_GAP: "gap", FLAG_MORE: "more", FLAG_CONT: "cont"}
ATT_HEADER_BYTES = const(3)  # opcode + handle in front of every notification
MIN_PAYLOAD = const(20)  # ATT_MTU 23 - 3: every message fits here
MAX_PAYLOAD = const(244)  # ATT_MTU 247 - 3: the largest notification the device sends
# full data header: <B ver<<4|kind><B session><H seq><I first_sample><H flags<<12|count>
_DATA_HDR = "<BBHIH"
DATA_HEADER_BYTES = const(10)
MAX_FRAME_SAMPLES = const(0x0FFF)
# compact data header: <B ver<<4|3><B flags<<4|session&0x0F><H seq><H first_sample><B count>
_COMPACT_HDR = "<BBHHB"
COMPACT_HEADER_BYTES = const(7)
MAX_COMPACT_SAMPLES = const(255)
COMPACT_PAYLOAD_MAX = const(63)  # the device uses compact frames when payload_max <= this
MAX_RECORDING_SAMPLES = const(65535)  # samples per recording (first_sample + count <= this)
MAX_FRAMES = const(65535)  # frames per recording (seq <= 65534)
# summary: <B ver<<4|kind><B session><H frame_count><I total_samples><I crc32>
#          <B end_reason><H lost_samples>
_SUMMARY_FMT = "<BBHIIBH"
SUMMARY_BYTES = const(15)
END_DURATION = const(0)  # recorded the requested duration
END_STOPPED = const(1)  # stopped by the STOP command
END_LEAD_OFF = const(2)  # aborted: contact lost for too long
END_FAULT = const(3)  # aborted: the device restarted the session after an internal fault
END_NONE = const(255)  # status only: recording not finished
END_REASON_NAMES = {END_DURATION: "duration", END_STOPPED: "stopped", END_LEAD_OFF: "lead_off", END_FAULT: "fault", END_NONE: "none"}

DataFrame = namedtuple("DataFrame", ("session_id", "seq", "first_sample", "flags", "samples"))
Summary = namedtuple("Summary", ("session_id", "frame_count", "total_samples", "crc32", "end_reason", "lost_samples"))


ECG_SERVICE_UUID_LE = uuid_to_bytes_le(ECG_SERVICE_UUID)
DATA_CHAR_UUID_LE = uuid_to_bytes_le(DATA_CHAR_UUID)
CONTROL_CHAR_UUID_LE = uuid_to_bytes_le(CONTROL_CHAR_UUID)
STATUS_CHAR_UUID_LE = uuid_to_bytes_le(STATUS_CHAR_UUID)


def encode_frame(session_id, seq, samples, start, stop, payload_max, flags=0):
    """Pack samples[start:stop] (or as many as fit) into one data frame.

    payload_max is the ATT payload limit (MTU - 3); at most COMPACT_PAYLOAD_MAX the
    compact header is used. Returns (frame bytes, samples packed); packs at least one
    sample, else raises WireError("payload_too_small").
    """
    compact = payload_max <= COMPACT_PAYLOAD_MAX
    limit = MAX_COMPACT_SAMPLES if compact else MAX_FRAME_SAMPLES
    if stop - start > limit:
        stop = start + limit
    if stop <= start:
        raise WireError("no_samples")
    if stop > MAX_RECORDING_SAMPLES or start < 0:
        raise WireError("sample_index", str(stop))
    head = COMPACT_HEADER_BYTES if compact else DATA_HEADER_BYTES
    if payload_max > MAX_PAYLOAD:
        payload_max = MAX_PAYLOAD
    out = bytearray(head)
    n = pack_samples(samples, start, stop, (payload_max - head) * 8, out)
    if n == 0:
        raise WireError("payload_too_small", str(payload_max))
    flags &= 0x0F
    if compact:
        struct.pack_into(_COMPACT_HDR, out, 0, (PROTOCOL_VERSION << 4) | KIND_DATA_COMPACT, (flags << 4) | (session_id & 0x0F), seq & 0xFFFF, start, n)
    else:
        struct.pack_into(_DATA_HDR, out, 0, (PROTOCOL_VERSION << 4) | KIND_DATA, session_id & 0xFF, seq & 0xFFFF, start, (flags << 12) | n)
    return bytes(out), n


def frame_header(data):
    """(kind, session_id, seq, first_sample, flags, count, header bytes) of a data frame.

    Reads the header only (no sample decoding); session_id of a compact frame is its
    low 4 bits. Raises WireError on a malformed header.
    """
    if len(data) < 1:
        raise WireError("too_short")
    if data[0] >> 4 != PROTOCOL_VERSION:
        raise WireError("bad_version", str(data[0] >> 4))
    kind = data[0] & 0x0F
    if kind == KIND_DATA:
        if len(data) < DATA_HEADER_BYTES + 1:
            raise WireError("too_short")
        _, session, seq, first, word = struct.unpack_from(_DATA_HDR, data, 0)
        flags = word >> 12
        count = word & MAX_FRAME_SAMPLES
        head = DATA_HEADER_BYTES
    elif kind == KIND_DATA_COMPACT:
        if len(data) < COMPACT_HEADER_BYTES + 1:
            raise WireError("too_short")
        _, fs, seq, first, count = struct.unpack_from(_COMPACT_HDR, data, 0)
        flags = fs >> 4
        session = fs & 0x0F
        head = COMPACT_HEADER_BYTES
    else:
        raise WireError("bad_kind", str(kind))
    if len(data) > MAX_PAYLOAD:
        raise WireError("bad_length", str(len(data)))
    if count == 0:
        raise WireError("bad_count")
    if first + count > MAX_RECORDING_SAMPLES:
        raise WireError("sample_index", str(first + count))
    if seq >= MAX_FRAMES:
        raise WireError("bad_seq")
    if flags & FLAG_CONT and flags & (FLAG_LEAD_OFF | FLAG_GAP):  # breaks mark a frame's start
        raise WireError("bad_flags")
    return kind, session, seq, first, flags, count, head


def session_matches(kind, wire_session, session_id):
    """True when a frame's session field belongs to session_id (compact frames: low 4 bits)."""
    if kind == KIND_DATA_COMPACT:
        return wire_session == session_id & 0x0F
    return wire_session == session_id & 0xFF


def decode_frame(data):
    """Bytes of a data notification (either header) -> DataFrame (samples as a list).

    session_id is the field as sent: the low 4 bits only for a compact frame.
    """
    kind, session, seq, first, flags, count, head = frame_header(data)
    out = unpack_samples(data, head, count)
    return DataFrame(session, seq, first, flags, out)


def with_flags(frame, flags):
    """An encoded data frame with extra flag bits set (they do not change the packing)."""
    if not flags:
        return frame
    b = bytearray(frame)
    if b[0] & 0x0F == KIND_DATA_COMPACT:
        b[1] |= (flags & 0x0F) << 4
    else:
        b[9] |= (flags & 0x0F) << 4
    return bytes(b)


def encode_summary(session_id, frame_count, total_samples, crc32, end_reason, lost_samples=0):
    """End-of-recording summary notification (sent after the last data frame)."""
    if lost_samples > 0xFFFF:
        lost_samples = 0xFFFF
    return struct.pack(_SUMMARY_FMT, (PROTOCOL_VERSION << 4) | KIND_SUMMARY, session_id & 0xFF, frame_count, total_samples, crc32, end_reason, lost_samples)


def decode_summary(data):
    """Bytes of a summary notification -> Summary."""
    if len(data) < 1:
        raise WireError("too_short")
    if data[0] >> 4 != PROTOCOL_VERSION:
        raise WireError("bad_version", str(data[0] >> 4))
    if data[0] & 0x0F != KIND_SUMMARY:
        raise WireError("bad_kind", str(data[0] & 0x0F))
    if len(data) != SUMMARY_BYTES:
        raise WireError("bad_length", str(len(data)))
    s = Summary(*struct.unpack(_SUMMARY_FMT, data)[1:])
    if s.total_samples > MAX_RECORDING_SAMPLES or s.frame_count > MAX_FRAMES:
        raise WireError("bad_summary")
    return s


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
# (fields only when code == OK). The token is chosen by the central and echoed back; a
# write equal to the previous one (same bytes) is a retry: the device repeats its reply.
OP_GET_INFO = const(0x01)  # no params
OP_START = const(0x02)  # <H duration_s (0 = default)><H fs_hz (0 = default)>
OP_STOP = const(0x03)  # no params
OP_RESEND = const(0x04)  # <H first_seq><H last_seq>, inclusive
OP_GET_RATES = const(0x05)  # no params
OPCODE_NAMES = {OP_GET_INFO: "GET_INFO", OP_START: "START", OP_STOP: "STOP", OP_RESEND: "RESEND", OP_GET_RATES: "GET_RATES"}
REPLY_BIT = const(0x80)
OK = const(0)
ERR_UNKNOWN_OPCODE = const(1)
ERR_BAD_LENGTH = const(2)  # command too short or too long for its opcode
ERR_BAD_PARAMETER = const(3)  # rate not offered, duration 0 or over the buffer
ERR_BUSY = const(4)  # START while a recording is in progress
ERR_NO_RECORDING = const(5)  # RESEND with nothing recorded
ERR_OUT_OF_RANGE = const(6)  # RESEND of frames never sent
ERR_NOT_RECORDING = const(7)  # STOP while idle
ERR_NO_CREDIT = const(8)  # RESEND while every resend credit is in use
ERROR_NAMES = {
    OK: "ok",
    ERR_UNKNOWN_OPCODE: "unknown_opcode",
    ERR_BAD_LENGTH: "bad_length",
    ERR_BAD_PARAMETER: "bad_parameter",
    ERR_BUSY: "busy",
    ERR_NO_RECORDING: "no_recording",
    ERR_OUT_OF_RANGE: "out_of_range",
    ERR_NOT_RECORDING: "not_recording",
    ERR_NO_CREDIT: "no_credit",
}
_CMD_FMT = {OP_GET_INFO: "<", OP_START: "<HH", OP_STOP: "<", OP_RESEND: "<HH", OP_GET_RATES: "<"}
# reply fields when OK; GET_RATES: <B count> then count x <H fs_hz>
_REPLY_FMT = {OP_GET_INFO: "<BBBBBfhBH", OP_START: "<BHH", OP_STOP: "<BI", OP_RESEND: "<HB", OP_GET_RATES: "<B"}
MAX_RATES = const(8)  # GET_RATES lists at most 8 rates (a 20-byte reply)
RESEND_CREDITS = const(8)  # RESEND ranges a device queues at once (GET_INFO reports its own)
# central timing (docs/protocol.md 5.5): wait this long for a reply, then retry the same bytes
REPLY_TIMEOUT_MS = const(1000)
REPLY_ATTEMPTS = const(3)
FRONT_END_SIMULATED = const(0)
FRONT_END_AD8232 = const(1)
FRONT_END_MAX30003 = const(2)
FRONT_END_NAMES = {FRONT_END_SIMULATED: "simulated", FRONT_END_AD8232: "AD8232", FRONT_END_MAX30003: "MAX30003"}

Reply = namedtuple("Reply", ("opcode", "token", "code", "fields"))
Info = namedtuple("Info", ("protocol_version", "fw_major", "fw_minor", "front_end", "adc_bits", "gain_counts_per_mv", "baseline", "resend_credits", "max_samples"))
Started = namedtuple("Started", ("session_id", "duration_s", "fs_hz"))
Stopped = namedtuple("Stopped", ("session_id", "total_samples"))
ResendQueued = namedtuple("ResendQueued", ("frame_count", "credits"))
Rates = namedtuple("Rates", ("rates_hz",))
_REPLY_TYPES = {OP_GET_INFO: Info, OP_START: Started, OP_STOP: Stopped, OP_RESEND: ResendQueued}


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
    """Reply notification; ``fields`` only with code OK (GET_RATES: the rates tuple)."""
    head = struct.pack("<BBB", REPLY_BIT | (opcode & 0x7F), token & 0xFF, code)
    if code != OK or opcode not in _REPLY_FMT:
        return head
    if opcode == OP_GET_RATES:
        rates = fields[0][:MAX_RATES]
        return head + struct.pack("<B%dH" % len(rates), len(rates), *rates)
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
    if opcode == OP_GET_RATES:
        if len(data) < 4 or not 1 <= data[3] <= MAX_RATES or len(data) != 4 + 2 * data[3]:
            raise WireError("bad_length", "rates reply")
        return Reply(opcode, token, code, Rates(struct.unpack_from("<%dH" % data[3], data, 4)))
    if len(data) != 3 + struct.calcsize(fmt):
        raise WireError("bad_length", "reply")
    return Reply(opcode, token, code, _REPLY_TYPES[opcode](*struct.unpack_from(fmt, data, 3)))


# ---- status characteristic (read + notify) -----------------------------------------
# <B state><B flags><B battery_pct (255 unknown)><B session><I samples_recorded>
# <H frames_sent><H fs_hz><B end_reason><B resend_credits><H lost_samples>
_STATUS_FMT = "<BBBBIHHBBH"
STATUS_BYTES = const(16)
STATE_IDLE = const(0)
STATE_WAITING = const(1)  # started, waiting for finger contact
STATE_RECORDING = const(2)
STATE_PAUSED = const(3)  # contact lost mid-recording
STATE_COMPLETE = const(4)
STATE_ABORTED = const(5)  # contact lost for too long (or a fault); what was recorded is kept
STATE_NAMES = ("idle", "waiting", "recording", "paused", "complete", "aborted")
STATUS_CONTACT = const(0x01)  # electrodes touched now
BATTERY_UNKNOWN = const(255)
Status = namedtuple("Status", ("state", "flags", "battery_pct", "session_id", "samples_recorded", "frames_sent", "fs_hz", "end_reason", "resend_credits", "lost_samples"))


def encode_status(state, flags, battery_pct, session_id, samples_recorded, frames_sent, fs_hz, end_reason, resend_credits=RESEND_CREDITS, lost_samples=0):
    """Status characteristic value."""
    if lost_samples > 0xFFFF:
        lost_samples = 0xFFFF
    return struct.pack(_STATUS_FMT, state, flags, battery_pct, session_id & 0xFF, samples_recorded, frames_sent, fs_hz, end_reason, resend_credits, lost_samples)


def decode_status(data):
    """Status characteristic value -> Status."""
    if len(data) != STATUS_BYTES:
        raise WireError("bad_length", "status")
    st = Status(*struct.unpack(_STATUS_FMT, data))
    if st.state >= len(STATE_NAMES):
        raise WireError("bad_state", str(st.state))
    return st


# ---- GATT table (the radio and the simulator build theirs from this) -----------------
PROP_READ = const(0x02)
PROP_WRITE = const(0x08)
PROP_NOTIFY = const(0x10)
# (service uuid, ((characteristic uuid, properties), ...)); ints are 16-bit SIG UUIDs
GATT_TABLE = (
    (ECG_SERVICE_UUID, ((DATA_CHAR_UUID, PROP_NOTIFY), (CONTROL_CHAR_UUID, PROP_WRITE | PROP_NOTIFY), (STATUS_CHAR_UUID, PROP_READ | PROP_NOTIFY))),
    (DEVICE_INFO_SERVICE_UUID16, ((MANUFACTURER_NAME_UUID16, PROP_READ), (MODEL_NUMBER_UUID16, PROP_READ), (FIRMWARE_REVISION_UUID16, PROP_READ))),
    (BATTERY_SERVICE_UUID16, ((BATTERY_LEVEL_UUID16, PROP_READ | PROP_NOTIFY),)),
)
CONTROL_MAX_BYTES = const(32)  # the device keeps at most this much of one write
