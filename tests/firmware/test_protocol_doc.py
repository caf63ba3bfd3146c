"""A receiver written from docs/protocol.md alone (no firmware.codec/wire decoding), checked
against the vectors and against frames from the real encoder: the document is complete."""

import json
import random
import struct
import zlib
from pathlib import Path

from firmware import wire
from firmware.device import Device

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


def unzigzag(z: int) -> int:
    return (z >> 1) ^ -(z & 1)


class Bits:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.at = 0

    def read(self, n: int) -> int:
        assert self.at + n <= len(self.bits), "truncated"
        val = int(self.bits[self.at : self.at + n], 2) if n else 0
        self.at += n
        return val


def doc_decode_frame(data: bytes) -> tuple[int, int, int, int, list[int]]:
    """(session field, seq, first_sample, flags, samples) following protocol.md section 3."""
    assert len(data) <= 244 and data[0] >> 4 == 2
    if data[0] == 0x21:
        session, seq, first, flags_count = struct.unpack_from("<BHIH", data, 1)
        count, flags, pos = flags_count & 0x0FFF, flags_count >> 12, 10
    else:
        assert data[0] == 0x23
        fs, seq, first, count = struct.unpack_from("<BHHB", data, 1)
        session, flags, pos = fs & 0x0F, fs >> 4, 7
    assert count >= 1 and first + count <= 65535 and seq <= 65534
    assert not (flags & 0x8 and flags & 0x3)
    z = shift = 0
    for _ in range(3):
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    else:
        raise AssertionError("varint over 3 bytes")
    assert z <= 65535
    v = unzigzag(z)
    out = [v]
    bits = Bits(data[pos:])
    if count > 1:
        a = 4 << bits.read(4)
        d_prev = 0
        for _ in range(count - 1):
            k = (a >> 3).bit_length()
            q = 0
            while q < 14 and bits.read(1) == 0:
                q += 1
            z = bits.read(18) if q == 14 else (q << k) | bits.read(k)
            d = unzigzag(z) + d_prev
            v += d
            assert -32768 <= v <= 32767
            out.append(v)
            d_prev = d
            a = a + z - (a >> 2)
    rest = bits.bits[bits.at :]
    assert len(rest) < 8 and set(rest) <= {"0"}
    return session, seq, first, flags, out


class TestProtocolDocument:
    def test_vectors(self) -> None:
        for v in VECTORS["frames"]:
            session, *rest = doc_decode_frame(bytes.fromhex(v["hex"]))
            compact = v["payload_max"] <= 63
            assert session == (v["session_id"] & 0x0F if compact else v["session_id"]), v["name"]
            assert tuple(rest) == (v["seq"], v["first_sample"], v["flags"], v["input"][: v["packed"]]), v["name"]

    def test_bad_vectors_are_rejected(self) -> None:
        for v in VECTORS["bad_frames"]:
            try:
                doc_decode_frame(bytes.fromhex(v["hex"]))
            except (AssertionError, IndexError, struct.error):
                continue
            raise AssertionError(v["name"])

    def test_random_frames_from_the_encoder(self) -> None:
        rnd = random.Random(7)
        for _ in range(200):
            n = rnd.randint(1, 400)
            step = rnd.choice([1, 5, 50, 3000, 60000])
            x = rnd.randint(-2000, 2000)
            samples = []
            for _ in range(n):
                x = max(-32768, min(32767, x + rnd.randint(-step, step)))
                samples.append(x)
            pm = rnd.choice([20, 60, 63, 64, 182, 244])
            frame, k = wire.encode_frame(3, 77, samples, 0, n, pm, wire.FLAG_LEAD_OFF)
            assert doc_decode_frame(frame) == (3, 77, 0, wire.FLAG_LEAD_OFF, samples[:k])

    def test_lossy_recording_with_disconnects_and_mtu_change(self) -> None:
        for seed in range(4):
            got, sent = record_lossy(seed)
            assert got == sent

    def test_crc_recipe(self) -> None:
        s = [1, -1, 2048, -32768, 32767]
        raw = struct.pack("<5h", *s)
        assert raw.hex(" ") == "01 00 ff ff 00 08 00 80 ff 7f"
        assert zlib.crc32(raw) == 988712448 == wire.samples_crc32(s)

    def test_summary_status_and_info_layouts(self) -> None:
        s = bytes.fromhex("220164002823000078563412000000")
        assert struct.unpack("<BBHIIBH", s) == (0x22, 1, 100, 9000, 0x12345678, 0, 0)
        st = bytes.fromhex("020157119411000028002c01ff060000")
        assert struct.unpack("<BBBBIHHBBH", st) == (2, 1, 87, 17, 4500, 40, 300, 255, 6, 0)
        info = bytes.fromhex("810100020002010cabaaaa440008085046")
        head = struct.unpack("<BBBBBBBBfhBH", info)
        assert head[:8] == (0x81, 1, 0, 2, 0, 2, 1, 12) and round(head[8], 2) == 1365.33 and head[9:] == (2048, 8, 18000)
        rates = bytes.fromhex("85020003fa002c01f401")
        assert struct.unpack("<BBBB3H", rates) == (0x85, 2, 0, 3, 250, 300, 500)
        for v in VECTORS["summaries"] + VECTORS["statuses"] + VECTORS["replies"]:
            assert len(bytes.fromhex(v["hex"])) <= 20

    def test_advertising_bytes(self) -> None:
        from firmware.adv import advertising_payload, scan_response

        assert advertising_payload(wire.ECG_SERVICE_UUID_LE).hex(" ") == "02 01 06 11 07 10 4e 7a 1b 0d 6c 2e 9f 8b 4a 3d 5e 01 00 a7 c1"
        assert scan_response("cardiolink").hex(" ") == "0b 09 63 61 72 64 69 6f 6c 69 6e 6b"


# ---- a receiver following section 8, over a lossy in-memory link -------------------
# 20 % of notifications and of replies lost, two disconnections, the MTU shrinking from
# 247 to 23 and growing again; it uses struct, zlib and doc_decode_frame only.

def _signal(n: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    v, out = 2048, []
    for i in range(n):
        v += rnd.randint(-4, 4) + (300 if i % 300 == 100 else -300 if i % 300 == 104 else 0)
        out.append(v)
    return out


class DocReceiver:
    def __init__(self, dev: Device, rnd: random.Random) -> None:
        self.dev, self.rnd = dev, rnd
        self.payload = 244
        self.token = 0
        self.session = 0
        self.credits = 0
        self.pieces: dict[int, list[tuple[int, int, list[int]]]] = {}
        self.summary: tuple[int, ...] | None = None

    # control point: new token per command, same bytes on a lost reply (5.5)
    def command(self, opcode: int, params: bytes = b"") -> bytes:
        self.token = (self.token + 1) & 0xFF
        data = bytes((opcode, self.token)) + params
        for _ in range(10):
            reply = self.dev.handle_control(data)
            if self.rnd.random() >= 0.2:
                assert reply[0] == 0x80 | opcode and reply[1] == self.token
                return reply
        raise AssertionError("no reply")

    def status(self) -> tuple[int, ...]:
        return struct.unpack("<BBBBIHHBBH", self.dev.status())

    def connect(self) -> None:
        self.dev.on_connect()
        info = self.command(0x01)
        self.credits = struct.unpack("<BBBBBBBBfhBH", info)[10]

    def pump(self) -> None:
        while (data := self.dev.next_notification(self.payload)) is not None:
            if self.rnd.random() < 0.2:
                continue  # lost on air
            if data[0] == 0x22:
                self.summary = struct.unpack("<BBHIIBH", data)
                continue
            session, seq, first, flags, samples = doc_decode_frame(data)
            if session == (self.session & 0x0F if data[0] == 0x23 else self.session):
                self.pieces.setdefault(seq, []).append((first, flags, samples))

    def whole(self, seq: int) -> list[tuple[int, list[int]]] | None:
        pieces = self.pieces.get(seq, [])
        for first, flags, samples in pieces:
            if not flags & 0xC:
                return [(first, samples)]
        chain: list[tuple[int, list[int]]] = []
        at = [p for p in pieces if p[1] & 0x4 and not p[1] & 0x8]
        while at:
            first, flags, samples = at[0]
            chain.append((first, samples))
            if not flags & 0x4:
                return chain
            nxt = first + len(samples)
            at = [p for p in pieces if p[0] == nxt and p[1] & 0x8]
        return None

    def ask_missing(self, upto: int) -> None:
        self.credits = self.status()[8]  # as a status notification would tell (5.4)
        run: list[int] = []
        for seq in range(upto + 1):
            if seq < upto and self.whole(seq) is None:
                run.append(seq)
            elif run:
                if self.credits <= 0:
                    return
                reply = self.command(0x04, struct.pack("<HH", run[0], run[-1]))
                if reply[2] == 0:
                    self.credits = reply[5]
                elif reply[2] == 8:
                    self.credits = 0
                run = []

    def samples(self) -> list[int]:
        assert self.summary is not None
        out: dict[int, int] = {}
        for seq in range(self.summary[2]):
            pieces = self.whole(seq)
            assert pieces is not None
            for first, samples in pieces:
                for i, x in enumerate(samples):
                    out[first + i] = x
        return [out[i] for i in range(self.summary[3])]


def record_lossy(seed: int) -> tuple[list[int], list[int]]:
    """(samples the doc receiver verified, samples the device recorded)."""
    dev = Device(settle_ms=0)
    rnd = random.Random(seed)
    rx = DocReceiver(dev, rnd)
    rx.connect()
    started = rx.command(0x02, struct.pack("<HH", 10, 300))
    assert started[2] == 0
    rx.session = started[3]
    sig = _signal(3000, seed)
    linked = True
    for chunk, k in enumerate(range(0, len(sig), 30)):
        dev.feed(sig[k : k + 30], False)
        if chunk in (20, 60):  # the link drops for 1 s; the recording goes on
            dev.on_disconnect()
            linked = False
        elif chunk in (30, 70):
            rx.payload = 20 if chunk == 30 else 244
            rx.connect()
            rx.ask_missing(rx.status()[5])
            linked = True
        if linked:
            rx.pump()
    for _ in range(200):
        rx.pump()
        st = rx.status()
        rx.credits = st[8]  # the status notification after the resends drained
        if rx.summary is None:
            if rx.credits > 0:
                reply = rx.command(0x04, struct.pack("<HH", st[5], st[5]))  # the summary again
                rx.credits = reply[5] if reply[2] == 0 else rx.credits
            continue
        if all(rx.whole(s) is not None for s in range(rx.summary[2])):
            break
        rx.ask_missing(rx.summary[2])
    got = rx.samples()
    assert zlib.crc32(struct.pack("<%dh" % len(got), *got)) == rx.summary[4]
    return got, list(dev.rec.samples[: dev.rec.n])
