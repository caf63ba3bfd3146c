"""Property tests of the wire decoders and encoders (CPython only: hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import wire

samples_st = st.lists(st.integers(-32768, 32767), min_size=1, max_size=600)


class TestFuzzDecoders:
    @given(st.binary(max_size=300))
    @settings(max_examples=400, deadline=None)
    def test_decode_notification_only_raises_wire_error(self, data: bytes) -> None:
        try:
            wire.decode_notification(data)
        except wire.WireError:
            pass

    @given(st.binary(max_size=40))
    @settings(max_examples=300, deadline=None)
    def test_decode_command_reply_status(self, data: bytes) -> None:
        for fn in (wire.decode_command, wire.decode_reply, wire.decode_status):
            try:
                fn(data)
            except wire.WireError:
                pass


class TestFuzzRoundTrip:
    @given(samples_st, st.integers(8, 300), st.integers(0, 255), st.integers(0, 65534), st.integers(0, 15))
    @settings(max_examples=200, deadline=None)
    def test_frames_round_trip_and_fit(self, samples: list[int], payload_max: int, session: int, seq: int, flags: int) -> None:
        i = 0
        while i < len(samples):
            try:
                frame, n = wire.encode_frame(session, seq, samples, i, len(samples), payload_max, flags)
            except wire.WireError as e:
                # only a sample whose varint does not fit may be refused
                assert e.reason == "payload_too_small" and payload_max < wire.COMPACT_HEADER_BYTES + 3
                return
            assert 1 <= n and len(frame) <= min(payload_max, wire.MAX_PAYLOAD)
            if flags & wire.FLAG_CONT and flags & (wire.FLAG_LEAD_OFF | wire.FLAG_GAP):
                try:
                    wire.decode_frame(frame)
                except wire.WireError as e:
                    assert e.reason == "bad_flags"
                    return
                raise AssertionError("bad flags accepted")
            f = wire.decode_frame(frame)
            kind, wire_session, *_ = wire.frame_header(frame)
            assert wire.session_matches(kind, wire_session, session)
            assert (f.seq, f.first_sample, f.flags) == (seq, i, flags)
            assert f.samples == samples[i : i + n]
            i += n

    @given(samples_st)
    @settings(max_examples=100, deadline=None)
    def test_flipped_byte_never_crashes(self, samples: list[int]) -> None:
        frame, _ = wire.encode_frame(1, 2, samples, 0, len(samples), 244)
        for k in range(len(frame)):
            bad = bytearray(frame)
            bad[k] ^= 0x5A
            try:
                wire.decode_frame(bytes(bad))
            except wire.WireError:
                pass
