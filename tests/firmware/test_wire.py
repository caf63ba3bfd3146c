# Wire-format vectors: runs under CPython (pytest) and MicroPython (tests/firmware/mp_run.py).
# Keep this file MicroPython-clean: plain asserts, no pytest import.
import json

from firmware import codec, wire


def _vectors():
    try:
        here = __file__.rsplit("/", 1)[0]
    except NameError:
        here = "tests/firmware"
    with open(here + "/vectors.json") as f:
        return json.load(f)


V = _vectors()


def _raises(fn, *args):
    try:
        fn(*args)
    except wire.WireError as e:
        return e
    raise AssertionError("no WireError from %r" % (args,))


class TestFrames:
    def test_encode_matches_vectors(self):
        for v in V["frames"]:
            first = v["first_sample"]
            samples = [0] * first + v["input"]
            frame, n = wire.encode_frame(v["session_id"], v["seq"], samples, first, len(samples), v["payload_max"], v["flags"])
            assert frame.hex() == v["hex"], v["name"]
            assert n == v["packed"], v["name"]
            assert len(frame) <= v["payload_max"], v["name"]

    def test_decode_matches_vectors(self):
        for v in V["frames"]:
            f = wire.decode_frame(bytes.fromhex(v["hex"]))
            kind = wire.frame_header(bytes.fromhex(v["hex"]))[0]
            assert wire.session_matches(kind, f.session_id, v["session_id"]) and f.seq == v["seq"], v["name"]
            assert f.first_sample == v["first_sample"] and f.flags == v["flags"], v["name"]
            assert f.samples == v["input"][: v["packed"]], v["name"]
            assert wire.decode_notification(bytes.fromhex(v["hex"])) == f

    def test_bad_frames_rejected_with_reason(self):
        for v in V["bad_frames"]:
            e = _raises(wire.decode_frame, bytes.fromhex(v["hex"]))
            assert e.reason == v["reason"], (v["name"], e.reason)

    def test_frames_fit_mtu_23_and_247(self):
        samples = [2048 + ((i * 37) % 200) - 100 for i in range(3000)]
        for mtu in (23, 247):
            i = 0
            seq = 0
            while i < len(samples):
                frame, n = wire.encode_frame(1, seq, samples, i, len(samples), mtu - wire.ATT_HEADER_BYTES)
                assert len(frame) <= mtu - 3
                assert wire.decode_frame(frame).samples == samples[i : i + n]
                i += n
                seq += 1

    def test_compact_header_below_64_bytes_full_above(self):
        sig = [2048 + (i % 7) for i in range(100)]
        small, _ = wire.encode_frame(18, 5, sig, 0, 100, wire.COMPACT_PAYLOAD_MAX)
        big, _ = wire.encode_frame(18, 5, sig, 0, 100, wire.COMPACT_PAYLOAD_MAX + 1)
        assert small[0] == 0x23 and small[1] & 0x0F == 18 & 0x0F
        assert big[0] == 0x21 and big[1] == 18
        assert wire.frame_header(small)[1] == 2 and wire.session_matches(wire.KIND_DATA_COMPACT, 2, 18)
        assert not wire.session_matches(wire.KIND_DATA, 2, 18)

    def test_flags_set_afterwards_equal_flags_encoded(self):
        sig = [100 + i for i in range(40)]
        for pm in (20, 244):
            a, _ = wire.encode_frame(3, 1, sig, 0, 40, pm, wire.FLAG_MORE | wire.FLAG_GAP)
            b, _ = wire.encode_frame(3, 1, sig, 0, 40, pm, wire.FLAG_GAP)
            assert wire.with_flags(b, wire.FLAG_MORE) == a
            assert wire.decode_frame(a).flags == wire.FLAG_MORE | wire.FLAG_GAP

    def test_payload_too_small_is_an_error(self):
        e = _raises(wire.encode_frame, 1, 0, [30000], 0, 1, wire.COMPACT_HEADER_BYTES + 2)
        assert e.reason == "payload_too_small"


class TestSummary:
    def test_vectors_round_trip(self):
        for v in V["summaries"]:
            args = (v["session_id"], v["frame_count"], v["total_samples"], v["crc32"], v["end_reason"], v["lost_samples"])
            assert wire.encode_summary(*args).hex() == v["hex"]
            s = wire.decode_summary(bytes.fromhex(v["hex"]))
            assert tuple(s) == args
            assert wire.decode_notification(bytes.fromhex(v["hex"])) == s

    def test_bad_length(self):
        good = bytes.fromhex(V["summaries"][0]["hex"])
        assert _raises(wire.decode_summary, good[:-1]).reason == "bad_length"
        assert _raises(wire.decode_summary, bytes.fromhex(V["frames"][0]["hex"])).reason == "bad_kind"

    def test_crc32_vectors(self):
        for v in V["crc32"]:
            assert wire.samples_crc32(v["samples"]) == v["crc32"]

    def test_crc32_is_incremental(self):
        s = list(range(-1000, 1000, 3))
        assert wire.samples_crc32(s[300:], wire.samples_crc32(s[:300])) == wire.samples_crc32(s)


class TestControl:
    def test_commands(self):
        for v in V["commands"]:
            data = bytes.fromhex(v["hex"])
            assert wire.encode_command(v["opcode"], v["token"], *v["args"]) == data
            op, token, args = wire.decode_command(data)
            assert (op, token, list(args)) == (v["opcode"], v["token"], v["args"])

    def test_bad_commands(self):
        for v in V["bad_commands"]:
            try:
                wire.decode_command(bytes.fromhex(v["hex"]))
            except wire.CommandError as e:
                assert (e.code, e.opcode, e.token) == (v["code"], v["opcode"], v["token"]), v["name"]
            else:
                raise AssertionError(v["name"])

    def test_replies(self):
        for v in V["replies"]:
            data = bytes.fromhex(v["hex"])
            fields = v["fields"]
            if v["opcode"] == wire.OP_GET_RATES and fields:
                fields = [tuple(fields[0])]
            assert wire.encode_reply(v["opcode"], v["token"], v["code"], *fields) == data
            r = wire.decode_reply(data)
            assert (r.opcode, r.token, r.code) == (v["opcode"], v["token"], v["code"])
            if v["code"] == wire.OK:
                assert list(r.fields) == fields, v
            else:
                assert r.fields is None and len(data) == 3

    def test_every_reply_fits_mtu_23(self):
        for v in V["replies"]:
            assert len(bytes.fromhex(v["hex"])) <= 20

    def test_bad_replies(self):
        assert _raises(wire.decode_reply, b"\x81\x01").reason == "bad_reply"
        assert _raises(wire.decode_reply, b"\x01\x01\x00").reason == "bad_reply"
        assert _raises(wire.decode_reply, b"\x82\x01\x00\x01").reason == "bad_length"
        assert _raises(wire.decode_reply, b"\x81\x01\x00" + bytes(13)).reason == "bad_length"
        assert _raises(wire.decode_reply, b"\x85\x01\x00\x00").reason == "bad_length"  # no rates
        assert _raises(wire.decode_reply, b"\x85\x01\x00\x02\x01\x00").reason == "bad_length"
        assert _raises(wire.decode_reply, b"\x85\x01\x00\x09" + bytes(18)).reason == "bad_length"  # > 8 rates

    def test_status(self):
        for v in V["statuses"]:
            data = bytes.fromhex(v["hex"])
            assert wire.encode_status(*v["fields"]) == data
            assert list(wire.decode_status(data)) == v["fields"]
        assert _raises(wire.decode_status, b"\x00" * 15).reason == "bad_length"
        assert _raises(wire.decode_status, b"\x06" + b"\x00" * 15).reason == "bad_state"

    def test_error_hierarchy(self):
        assert issubclass(wire.CommandError, wire.WireError)
        assert issubclass(wire.WireError, wire.FirmwareError) and issubclass(wire.FirmwareError, ValueError)
        e = wire.CommandError(wire.ERR_BUSY, wire.OP_START, 5)
        assert (e.code, e.opcode, e.token, e.reason) == (wire.ERR_BUSY, wire.OP_START, 5, "busy")

    def test_uuids(self):
        for name, v in V["uuids"].items():
            assert getattr(wire, name) == v["str"] and v["str"] == v["str"].lower()
            assert getattr(wire, name + "_LE").hex() == v["le_hex"]


class TestExchanges:
    """Scripted sessions from the vectors replayed on firmware.device: same bytes out."""

    def test_exchanges_replay_byte_for_byte(self):
        from firmware.device import Device

        for ex in V["exchanges"]:
            dev = Device(settle_ms=0)
            payload_max = 244
            for step in ex["steps"]:
                if "payload_max" in step:
                    payload_max = step["payload_max"]
                    continue
                if "write" in step:
                    assert dev.handle_control(bytes.fromhex(step["write"])).hex() == step["reply"], ex["name"]
                elif "writes" in step:
                    got = [dev.handle_control(bytes.fromhex(h)).hex() for h in step["writes"]]
                    assert got == step["replies"], ex["name"]
                elif "feed" in step:
                    dev.feed(ecg_like(step["feed"], step["seed"]), False)
                elif "connect" in step:
                    dev.on_connect()
                notes = []
                while True:
                    data = dev.next_notification(payload_max)
                    if data is None:
                        break
                    notes.append(data.hex())
                assert notes == step["notify"], (ex["name"], step)
                assert dev.status().hex() == step["status"], (ex["name"], step)


def ecg_like(n, seed=1):
    # the formula of tests/firmware/make_vectors.py
    out = []
    v = 2048
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v += (x >> 16) % 9 - 4
        if i % 300 == 100:
            v += 400
        elif i % 300 == 104:
            v -= 400
        out.append(v)
    return out
