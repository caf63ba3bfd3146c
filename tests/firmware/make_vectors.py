"""Writes tests/firmware/vectors.json, the protocol v2 test vectors (docs/protocol.md).

Run: PYTHONPATH=. .venv/bin/python tests/firmware/make_vectors.py
The vectors are produced by firmware.wire / firmware.device and then frozen: the tests
check the encoder and decoder against them under CPython and MicroPython, and
tests/firmware/test_protocol_doc.py decodes them with a receiver written from the
document alone. Regenerate only when the protocol changes on purpose (bump the version).
"""

import json
import sys
from pathlib import Path

from firmware import wire
from firmware.device import Device

OUT = Path(__file__).with_name("vectors.json")


def ecg_like(n, seed=1):
    """Deterministic ECG-like int16 samples (the same formula is in test_wire.py)."""
    out, v, x = [], 2048, seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v += (x >> 16) % 9 - 4
        if i % 300 == 100:
            v += 400
        elif i % 300 == 104:
            v -= 400
        out.append(v)
    return out


def frame(name, session_id, seq, first, flags, payload_max, samples):
    data, n = wire.encode_frame(session_id, seq, [0] * first + samples, first, first + len(samples), payload_max, flags)
    return {"name": name, "session_id": session_id, "seq": seq, "first_sample": first, "flags": flags,
            "payload_max": payload_max, "input": samples, "packed": n, "hex": data.hex()}


def frames():
    ramp = [1000 + 40 * i - i * i for i in range(30)]
    return [
        frame("small", 1, 0, 0, 0, 244, [100, 101, 99, 99]),
        frame("small_compact", 1, 0, 0, 0, 20, [100, 101, 99, 99]),
        frame("one_sample", 7, 3, 1234, 0, 20, [-5]),
        frame("flags_lead_off", 1, 9, 300, wire.FLAG_LEAD_OFF, 244, [2048, 2050, 2047, 2047, 2047, 2046, 2045, 2060, 2100, 2180]),
        frame("flags_gap_compact", 17, 12, 4000, wire.FLAG_GAP, 20, [2048, 2050, 2047, 2047, 2047, 2046, 2045, 2060]),
        frame("mtu23_fills", 1, 65534, 65000, 0, 20, ecg_like(200)),
        frame("mtu247_fills", 1, 1, 0, 0, 244, ecg_like(600)),
        frame("extremes_escape", 255, 0, 0, 0, 244, [32767, -32768, 32767, -32768, 0, 0, 1, -1, 0, 32767, 32767, -32768]),
        frame("constant", 1, 0, 0, 0, 244, [7] * 17),
        frame("second_order_ramp", 1, 4, 17, 0, 244, ramp),
        frame("compact_count_limit", 2, 0, 0, 0, 63, [5] * 300),
    ]


def bad_frames():
    good = bytes.fromhex(frames()[0]["hex"])
    return [
        {"name": "empty", "hex": "", "reason": "too_short"},
        {"name": "header_only", "hex": good[:10].hex(), "reason": "too_short"},
        {"name": "version_1", "hex": "11010000000000000400c8010ac0", "reason": "bad_version"},
        {"name": "summary_kind", "hex": "22010000000000000100000000", "reason": "bad_kind"},
        {"name": "unknown_kind", "hex": "2501000000000000010000", "reason": "bad_kind"},
        {"name": "zero_count", "hex": "2101000000000000000000", "reason": "bad_count"},
        {"name": "compact_zero_count", "hex": "230100000000000a", "reason": "bad_count"},
        {"name": "truncated_code", "hex": good[:-1].hex(), "reason": "truncated"},
        {"name": "varint_runs_off", "hex": "21010000000000000100ff", "reason": "truncated"},
        {"name": "varint_too_long", "hex": "2101000000000000010080808000", "reason": "bad_varint"},
        {"name": "first_sample_out_of_range", "hex": "21010000000000000100808004", "reason": "sample_range"},
        {"name": "trailing_bytes", "hex": good.hex() + "00", "reason": "trailing_bytes"},
        {"name": "nonzero_padding", "hex": good[:-1].hex() + "%02x" % (good[-1] | 1), "reason": "bad_padding"},
        {"name": "sample_index_over_limit", "hex": "21010000ffff00000100c801", "reason": "sample_index"},
        {"name": "cont_with_lead_off", "hex": "23910000000001c801", "reason": "bad_flags"},
        {"name": "escape_leaves_int16", "hex": "21010000000000000200feff0302", "reason": "sample_range"},
    ]


def summaries():
    rows = [(1, 100, 9000, 0x12345678, wire.END_DURATION, 0), (255, 0, 0, 0, wire.END_STOPPED, 0),
            (3, 65535, 65535, 0xFFFFFFFF, wire.END_LEAD_OFF, 65535), (9, 40, 3000, 7, wire.END_FAULT, 12)]
    return [{"session_id": a, "frame_count": b, "total_samples": c, "crc32": d, "end_reason": e, "lost_samples": f,
             "hex": wire.encode_summary(a, b, c, d, e, f).hex()} for a, b, c, d, e, f in rows]


def commands():
    rows = [(wire.OP_GET_INFO, 1, []), (wire.OP_START, 2, [30, 300]), (wire.OP_START, 255, [0, 0]),
            (wire.OP_STOP, 3, []), (wire.OP_RESEND, 4, [5, 65535]), (wire.OP_GET_RATES, 5, [])]
    return [{"opcode": o, "token": t, "args": a, "hex": wire.encode_command(o, t, *a).hex()} for o, t, a in rows]


def bad_commands():
    rows = [("empty", "", 2, 0, 0), ("opcode_only", "02", 2, 2, 0), ("unknown_opcode", "7f09", 1, 127, 9),
            ("start_short", "02051e00", 2, 2, 5), ("stop_long", "030600", 2, 3, 6), ("resend_short", "0407000001", 2, 4, 7),
            ("rates_long", "050800", 2, 5, 8)]
    return [{"name": n, "hex": h, "code": c, "opcode": o, "token": t} for n, h, c, o, t in rows]


def replies():
    rows = [
        (wire.OP_GET_INFO, 1, wire.OK, [2, 0, 2, wire.FRONT_END_AD8232, 12, 1100 * 4096 / 3300, 2048, 8, 18000]),
        (wire.OP_GET_INFO, 1, wire.OK, [2, 0, 2, wire.FRONT_END_MAX30003, 16, 655.36, 0, 8, 18000]),
        (wire.OP_GET_RATES, 2, wire.OK, [[250, 300, 500]]),
        (wire.OP_GET_RATES, 3, wire.OK, [[125, 128, 250, 256, 300, 360, 500, 512]]),
        (wire.OP_START, 2, wire.OK, [17, 30, 300]),
        (wire.OP_STOP, 3, wire.OK, [17, 4500]),
        (wire.OP_RESEND, 4, wire.OK, [12, 7]),
        (wire.OP_START, 5, wire.ERR_BUSY, []),
        (wire.OP_RESEND, 6, wire.ERR_OUT_OF_RANGE, []),
        (wire.OP_RESEND, 7, wire.ERR_NO_CREDIT, []),
        (0x7F, 9, wire.ERR_UNKNOWN_OPCODE, []),
    ]
    out = []
    for op, token, code, fields in rows:
        data = wire.encode_reply(op, token, code, *[tuple(f) if isinstance(f, list) else f for f in fields])
        decoded = wire.decode_reply(data).fields
        if decoded is not None:
            fields = [list(x) if isinstance(x, tuple) else x for x in decoded]
        out.append({"opcode": op, "token": token, "code": code, "fields": fields, "hex": data.hex()})
    return out


def statuses():
    rows = [[0, 0, 255, 0, 0, 0, 0, 255, 8, 0], [2, 1, 87, 17, 4500, 40, 300, 255, 6, 0],
            [4, 0, 86, 17, 9000, 80, 300, 0, 8, 3]]
    return [{"fields": f, "hex": wire.encode_status(*f).hex()} for f in rows]


def exchange(steps, payload_max=244, **kw):
    """Run writes / samples through a fresh Device; record every byte in and out."""
    dev = Device(settle_ms=0, **kw)
    out = [{"payload_max": payload_max}]
    for step in steps:
        if step[0] == "write":
            out.append({"write": step[1], "reply": dev.handle_control(bytes.fromhex(step[1])).hex()})
        elif step[0] == "writes":  # several writes before the device sends anything
            out.append({"writes": step[1], "replies": [dev.handle_control(bytes.fromhex(h)).hex() for h in step[1]]})
        elif step[0] == "feed":
            dev.feed(ecg_like(step[1], step[2]), False)
            out.append({"feed": step[1], "seed": step[2]})
        elif step[0] == "connect":
            dev.on_connect()
            out.append({"connect": True})
        elif step[0] == "payload_max":
            payload_max = step[1]
            out.append({"payload_max": payload_max})
        if step[0] != "payload_max":
            notes = []
            while (data := dev.next_notification(payload_max)) is not None:
                notes.append(data.hex())
            out[-1]["notify"] = notes
            out[-1]["status"] = dev.status().hex()
    return out


def exchanges():
    """Scripted sessions: both interpreters replay them on firmware.device and compare bytes."""
    start = wire.encode_command(wire.OP_START, 1, 1, 300).hex()
    return [
        {"name": "retry_and_flow_control", "steps": exchange([
            ("write", wire.encode_command(wire.OP_GET_INFO, 1).hex()),
            ("write", wire.encode_command(wire.OP_GET_RATES, 2).hex()),
            ("write", start), ("write", start),  # a retry: same reply, no second session
            ("write", wire.encode_command(wire.OP_START, 3, 1, 300).hex()),  # a new START: busy
            ("feed", 300, 5),
            ("write", wire.encode_command(wire.OP_RESEND, 4, 0, 0).hex()),
            ("write", wire.encode_command(wire.OP_RESEND, 5, 1, 1).hex()),
            ("write", wire.encode_command(wire.OP_RESEND, 6, 0, 9).hex()),
        ])},
        {"name": "split_resend_after_reconnect", "steps": exchange([
            ("write", start), ("feed", 300, 6),
            ("connect",),  # a new connection: nothing is sent before the central writes
            ("feed", 1, 6),
            ("payload_max", 20),
            ("write", wire.encode_command(wire.OP_RESEND, 7, 0, 1).hex()),
        ])},
        {"name": "credits_run_out", "steps": exchange([
            ("write", start), ("feed", 300, 7),
            ("writes", [wire.encode_command(wire.OP_RESEND, 10 + i, i, i).hex() for i in range(wire.RESEND_CREDITS + 1)]),
            ("write", wire.encode_command(wire.OP_RESEND, 30, 2, 2).hex()),  # credits came back
        ], payload_max=20)},
    ]


def crc32():
    rows = [[], [0], [1, -1, 2048, -32768, 32767], ecg_like(86)]
    return [{"samples": s, "crc32": wire.samples_crc32(s)} for s in rows]


def uuids():
    names = ("ECG_SERVICE_UUID", "DATA_CHAR_UUID", "CONTROL_CHAR_UUID", "STATUS_CHAR_UUID")
    return {n: {"str": getattr(wire, n), "le_hex": getattr(wire, n + "_LE").hex()} for n in names}


def main():
    doc = {
        "comment": "cardiolink wire test vectors, protocol v2 (docs/protocol.md). hex = exact bytes. "
                   "Read by tests under CPython and MicroPython; written by tests/firmware/make_vectors.py.",
        "protocol_version": wire.PROTOCOL_VERSION,
        "uuids": uuids(), "frames": frames(), "bad_frames": bad_frames(), "summaries": summaries(),
        "commands": commands(), "bad_commands": bad_commands(), "replies": replies(), "statuses": statuses(),
        "exchanges": exchanges(), "crc32": crc32(),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
