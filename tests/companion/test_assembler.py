"""Sans-IO frame assembly: gaps, duplicates, reordering, malformed and foreign frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.assembler import Feed, FrameAssembler
from firmware import wire

SESSION = 9


def _stream(n: int = 3000, seed: int = 4) -> list[int]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 300.0
    return [int(v) for v in np.rint(900 * np.sin(2 * np.pi * t) + rng.normal(0, 40, n)).clip(-32000, 32000)]


def _frames(samples: list[int], payload_max: int = 20, session: int = SESSION) -> tuple[list[bytes], bytes]:
    frames: list[bytes] = []
    pos = 0
    while pos < len(samples):
        data, n = wire.encode_frame(session, len(frames), samples, pos, len(samples), payload_max)
        frames.append(data)
        pos += n
    summary = wire.encode_summary(session, len(frames), len(samples), wire.samples_crc32(samples), wire.END_DURATION)
    return frames, summary


class TestAssembly:
    def test_in_order_stream_is_complete_and_verified(self) -> None:
        samples = _stream()
        frames, summary = _frames(samples)
        asm = FrameAssembler(SESSION)
        assert all(asm.feed(f) is Feed.FRAME for f in frames)
        assert not asm.complete
        assert asm.feed(summary) is Feed.SUMMARY
        assert asm.complete and asm.verified()
        assert asm.contiguous_samples().tolist() == samples
        got, gaps = asm.assemble()
        assert got.tolist() == samples and gaps == []

    def test_drops_are_reported_then_filled_by_resends(self) -> None:
        samples = _stream()
        frames, summary = _frames(samples)
        dropped = {0, 5, 6, 7, len(frames) - 1}
        asm = FrameAssembler(SESSION)
        for seq, f in enumerate(frames):
            if seq not in dropped:
                asm.feed(f)
        assert asm.missing_seqs() == [(0, 0), (5, 7)]  # the tail is unknown until the summary
        asm.feed(summary)
        assert asm.missing_seqs() == [(0, 0), (5, 7), (len(frames) - 1, len(frames) - 1)]
        _, gaps = asm.assemble()
        assert len(gaps) == 3 and not asm.complete and not asm.verified()
        for seq in sorted(dropped):
            assert asm.feed(frames[seq]) is Feed.FRAME
        assert asm.out_of_order == len(dropped) - 1  # the last one was beyond every seq seen
        assert asm.missing_seqs() == [] and asm.verified()
        assert asm.contiguous_samples().tolist() == samples

    def test_duplicates_are_counted_not_kept_twice(self) -> None:
        samples = _stream(500)
        frames, summary = _frames(samples)
        asm = FrameAssembler(SESSION)
        for f in frames + frames[:3]:
            asm.feed(f)
        asm.feed(summary)
        assert asm.duplicates == 3 and asm.frames_malformed == 0 and asm.verified()

    def test_crc_mismatch_is_not_verified(self) -> None:
        samples = _stream(500)
        frames, _ = _frames(samples)
        bad_summary = wire.encode_summary(SESSION, len(frames), len(samples), 12345, wire.END_DURATION)
        asm = FrameAssembler(SESSION)
        for f in frames:
            asm.feed(f)
        asm.feed(bad_summary)
        assert asm.complete and not asm.verified()


class TestBadInput:
    @pytest.mark.parametrize(
        ("mangle", "reason"),
        [
            (lambda f: bytes([(1 << 4) | (f[0] & 0x0F)]) + f[1:], "bad_version"),
            (lambda f: f[:12], "truncated"),
            (lambda f: f[:4], "too_short"),
            (lambda f: b"", "too_short"),
            (lambda f: f + b"\x00\x00", "trailing_bytes"),
            (lambda f: bytes([f[0], f[1] ^ 0x01]) + f[2:], "wrong_session"),
        ],
    )
    def test_malformed_frames_are_counted_and_ignored(self, mangle, reason: str) -> None:  # type: ignore[no-untyped-def]
        samples = _stream(400)
        frames, summary = _frames(samples, payload_max=60)
        asm = FrameAssembler(SESSION)
        assert asm.feed(mangle(frames[1])) is Feed.REJECTED
        assert asm.rejected[reason] == 1 and asm.frames_malformed == 1
        for f in frames:
            asm.feed(f)
        asm.feed(summary)
        assert asm.verified()  # the good copy still lands: nothing corrupted

    def test_frame_overlapping_its_neighbour_is_rejected(self) -> None:
        samples = _stream(400)
        frames, _ = _frames(samples, payload_max=60)
        asm = FrameAssembler(SESSION)
        asm.feed(frames[0])
        first_len = len(wire.decode_frame(frames[0]).samples)
        liar, _ = wire.encode_frame(SESSION, 1, samples, first_len - 2, len(samples), 60)
        assert asm.feed(liar) is Feed.REJECTED and asm.rejected["inconsistent"] == 1
        assert asm.feed(frames[1]) is Feed.FRAME

    def test_random_bytes_never_crash(self) -> None:
        rng = np.random.default_rng(0)
        asm = FrameAssembler(SESSION)
        results = []
        for _ in range(2000):
            data = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
            results.append(asm.feed(data))
        assert results.count(Feed.REJECTED) == sum(asm.rejected.values()) > 1900
        assert results.count(Feed.FRAME) == asm.frames_held
        # whatever was kept must be self-consistent
        got, gaps = asm.assemble()
        assert got.dtype == np.int32 and all(a < b for a, b in gaps)


class TestPieces:
    def test_resent_frame_split_by_a_smaller_mtu(self) -> None:
        samples = _stream(600)
        frames, summary = _frames(samples, payload_max=120)
        asm = FrameAssembler(SESSION)
        for seq, f in enumerate(frames):
            if seq != 2:
                asm.feed(f)
        asm.feed(summary)
        assert asm.missing_seqs() == [(2, 2)]
        lost = wire.decode_frame(frames[2])
        stop = lost.first_sample + len(lost.samples)
        first_piece, n = wire.encode_frame(SESSION, 2, samples, lost.first_sample, stop, 20, wire.FLAG_MORE)
        assert n < len(lost.samples)
        assert asm.feed(first_piece) is Feed.FRAME
        assert asm.missing_seqs() == [(2, 2)]  # a hole remains after the first piece
        assert not asm.complete
        pos = lost.first_sample + n
        while pos < stop:
            piece, k = wire.encode_frame(SESSION, 2, samples, pos, stop, 20, wire.FLAG_CONT)
            if pos + k < stop:
                piece = wire.with_flags(piece, wire.FLAG_MORE)
            assert asm.feed(piece) is Feed.FRAME
            pos += k
        assert asm.missing_seqs() == [] and asm.verified()
        assert asm.feed(first_piece) is Feed.DUPLICATE


class TestProperties:
    @settings(max_examples=60, deadline=None)
    @given(
        seed=st.integers(0, 2**16),
        payload_max=st.sampled_from([20, 60, 244]),
        drop=st.floats(0.0, 0.5),
    )
    def test_any_order_any_loss_then_resends_gives_the_stream(self, seed: int, payload_max: int, drop: float) -> None:
        rng = np.random.default_rng(seed)
        samples = _stream(int(rng.integers(50, 1500)), seed=seed)
        frames, summary = _frames(samples, payload_max=payload_max)
        order = rng.permutation(len(frames))
        asm = FrameAssembler(SESSION)
        kept = [int(i) for i in order if rng.random() >= drop]
        extra = [int(i) for i in rng.choice(len(frames), 3)]  # duplicates, or late arrivals
        for i in kept + extra:
            asm.feed(frames[i])
        asm.feed(summary)
        expected_missing = sorted(set(range(len(frames))) - set(kept) - set(extra))
        assert [seq for a, b in asm.missing_seqs() for seq in range(a, b + 1)] == expected_missing
        assert asm.complete == (not expected_missing)
        for a, b in asm.missing_seqs():
            for seq in range(a, b + 1):
                asm.feed(frames[seq])
        assert asm.complete and asm.verified() and asm.missing_seqs() == []
        assert asm.contiguous_samples().tolist() == samples
        assert asm.frames_malformed == 0


class TestSplitResends:
    def _pieces(self, samples: list[int]) -> tuple[list[bytes], list[bytes]]:
        from firmware.device import Device

        dev = Device(settle_ms=0, first_session_id=SESSION)
        dev.handle_control(wire.encode_command(wire.OP_START, 1, 1, 300))
        dev.feed(samples, False)
        whole = [d for d in iter(lambda: dev.next_notification(244), None)]
        dev.handle_control(wire.encode_command(wire.OP_RESEND, 2, 0, 0))
        pieces = [d for d in iter(lambda: dev.next_notification(20), None)]
        return whole, pieces

    def test_a_lost_piece_makes_the_frame_missing_until_it_is_whole(self) -> None:
        samples = _stream(300)
        sent, pieces = self._pieces(samples)
        frame0 = sent[0]
        assert len(pieces) > 3
        for lost in (0, 1, len(pieces) - 1):  # the first, a middle and the last piece
            asm = FrameAssembler(SESSION)
            for other in sent[1:]:  # later frames and the summary
                asm.feed(other)
            for k, p in enumerate(pieces):
                if k != lost:
                    assert asm.feed(p) is Feed.FRAME
            assert not asm.whole(0) and asm.missing_seqs() == [(0, 0)]
            assert asm.feed(pieces[lost]) is Feed.FRAME and asm.whole(0)
            assert asm.feed(frame0) is Feed.DUPLICATE  # the unsplit original adds nothing
            assert asm.missing_seqs() == [] and asm.verified()

    def test_pieces_over_a_held_frame_are_duplicates(self) -> None:
        sent, pieces = self._pieces(_stream(300))
        asm = FrameAssembler(SESSION)
        assert asm.feed(sent[0]) is Feed.FRAME
        assert all(asm.feed(p) is Feed.DUPLICATE for p in pieces) and asm.frames_malformed == 0
