"""Random control-point writes never crash the Device nor damage a recording (CPython: hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import wire
from firmware.device import Device

FS = 300
SIGNAL = [2048 + (i * 37) % 101 - 50 for i in range(FS * 4)]


def _record(dev: Device, writes: list[bytes]) -> dict[int, int]:
    """Feed SIGNAL in chunks, interleaving the writes; return samples the receiver got."""
    got: dict[int, int] = {}
    w = iter(writes)
    for k in range(0, len(SIGNAL), 30):
        if dev.acquiring:
            dev.feed(SIGNAL[k : k + 30], False)
        data = next(w, None)
        if data is not None:
            reply = wire.decode_reply(dev.handle_control(data))
            assert reply.code in wire.ERROR_NAMES
        while (n := dev.next_notification(20)) is not None:
            x = wire.decode_notification(n)
            if isinstance(x, wire.DataFrame):
                for j, v in enumerate(x.samples):
                    got[x.first_sample + j] = v
    return got


not_start_or_stop = st.binary(max_size=12).filter(lambda b: not b or b[0] not in (wire.OP_START, wire.OP_STOP))


class TestDeviceFuzz:
    @given(st.lists(not_start_or_stop, max_size=40))
    @settings(max_examples=60, deadline=None)
    def test_garbage_writes_leave_the_recording_intact(self, writes: list[bytes]) -> None:
        dev = Device()
        assert wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_START, 1, 2, FS))).code == wire.OK
        got = _record(dev, writes)
        assert dev.state == wire.STATE_COMPLETE
        assert [got[i] for i in range(2 * FS)] == SIGNAL[FS // 2 : FS // 2 + 2 * FS]
        assert dev.crc32 == wire.samples_crc32(SIGNAL[FS // 2 : FS // 2 + 2 * FS])

    @given(st.lists(st.binary(max_size=12), max_size=40))
    @settings(max_examples=60, deadline=None)
    def test_any_writes_never_raise(self, writes: list[bytes]) -> None:
        dev = Device()
        dev.handle_control(wire.encode_command(wire.OP_START, 1, 1, FS))
        _record(dev, writes)
        wire.decode_status(dev.status())
