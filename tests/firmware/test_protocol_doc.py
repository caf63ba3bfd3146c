"""A receiver written from docs/protocol.md alone (no firmware.codec/wire decoding), checked
against the vectors and against frames from the real encoder: the document is complete."""

import json
import random
import struct
import zlib
from pathlib import Path

from firmware import wire

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


def unzigzag(z: int) -> int:
    return (z >> 1) ^ -(z & 1)


def doc_decode_frame(data: bytes) -> tuple[int, int, int, int, list[int]]:
    """(session, seq, first_sample, flags, samples) following protocol.md section 3."""
    assert data[0] == 0x11
    session, seq, first, flags_count = struct.unpack_from("<BHIH", data, 1)
    count = flags_count & 0x0FFF
    pos = 10
    z = shift = 0
    while True:
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    v = unzigzag(z)
    out = [v]
    bits = "".join(f"{b:08b}" for b in data[pos:])
    at = 0

    def read(n: int) -> int:
        nonlocal at
        val = int(bits[at : at + n], 2) if n else 0
        at += n
        return val

    d_prev = 0
    remaining = count - 1
    while remaining:
        n = min(8, remaining)
        order = read(1)
        w = read(5)
        for _ in range(n):
            r = unzigzag(read(w))
            d = r + d_prev if order else r
            v += d
            out.append(v)
            d_prev = d
        remaining -= n
    assert len(bits) - at < 8 and set(bits[at:]) <= {"0"}
    return session, seq, first, flags_count & 0xF000, out


class TestProtocolDocument:
    def test_vectors(self) -> None:
        for v in VECTORS["frames"]:
            got = doc_decode_frame(bytes.fromhex(v["hex"]))
            assert got == (v["session_id"], v["seq"], v["first_sample"], v["flags"], v["input"][: v["packed"]])

    def test_random_frames_from_the_encoder(self) -> None:
        rnd = random.Random(7)
        for _ in range(200):
            n = rnd.randint(1, 400)
            step = rnd.choice([1, 5, 50, 3000])
            x = rnd.randint(-2000, 2000)
            samples = []
            for _ in range(n):
                x = max(-32768, min(32767, x + rnd.randint(-step, step)))
                samples.append(x)
            frame, k = wire.encode_frame(3, 77, samples, 0, n, rnd.choice([20, 60, 182, 244]), wire.FLAG_LEAD_OFF)
            assert doc_decode_frame(frame) == (3, 77, 0, wire.FLAG_LEAD_OFF, samples[:k])

    def test_crc_recipe(self) -> None:
        s = [1, -1, 2048, -32768, 32767]
        raw = struct.pack("<5h", *s)
        assert raw.hex(" ") == "01 00 ff ff 00 08 00 80 ff 7f"
        assert zlib.crc32(raw) == 988712448 == wire.samples_crc32(s)

    def test_summary_status_and_info_layouts(self) -> None:
        s = bytes.fromhex("12016400282300007856341200")
        assert struct.unpack("<BBHIIB", s) == (0x12, 1, 100, 9000, 0x12345678, 0)
        st = bytes.fromhex("020157119411000028002c01ff")
        assert struct.unpack("<BBBBIHHB", st) == (2, 1, 87, 17, 4500, 40, 300, 255)
        info = bytes.fromhex("810100010001010cabaaaa440008fa002c01f401")
        head = struct.unpack_from("<BBBBBBBBfh", info)
        assert head[:8] == (0x81, 1, 0, 1, 0, 1, 1, 12) and round(head[8], 2) == 1365.33 and head[9] == 2048
        assert struct.unpack_from("<3H", info, 14) == (250, 300, 500)

    def test_advertising_bytes(self) -> None:
        from firmware.adv import advertising_payload, scan_response

        assert advertising_payload(wire.ECG_SERVICE_UUID_LE).hex(" ") == "02 01 06 11 07 10 4e 7a 1b 0d 6c 2e 9f 8b 4a 3d 5e 01 00 a7 c1"
        assert scan_response("cardiolink").hex(" ") == "0b 09 63 61 72 64 69 6f 6c 69 6e 6b"
