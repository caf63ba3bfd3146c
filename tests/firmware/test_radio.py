# The radio adapter against a fake `bluetooth` module (runs under both interpreters).
import sys

from firmware import wire
from firmware.device import Device

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21


class _UUID:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return self.value == other.value


class _FakeBluetoothModule:
    UUID = _UUID


class FakeBLE:
    def __init__(self):
        self.values = {}
        self.notified = []  # (conn, handle, data)
        self.advertising = []
        self.services = None
        self.congested = False
        self.handler = None

    def active(self, on):
        self.on = on

    def config(self, **kw):
        self.cfg = kw

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        self.services = services
        handles = []
        h = 1
        for _, chars in services:
            row = []
            for _c in chars:
                row.append(h)
                h += 1
            handles.append(tuple(row))
        return tuple(handles)

    def gatts_write(self, handle, data, send_update=False):
        self.values[handle] = bytes(data)
        if send_update:
            self.notified.append((None, handle, bytes(data)))

    def gatts_read(self, handle):
        return self.values.get(handle, b"")

    def gatts_set_buffer(self, handle, n):
        self.buffer = (handle, n)

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None):
        self.advertising.append((interval_us, adv_data, resp_data))

    def gatts_notify(self, conn, handle, data):
        if self.congested:
            raise OSError(12)
        self.notified.append((conn, handle, bytes(data)))

    # central side
    def write(self, handle, data):
        self.values[handle] = data
        self.handler(_IRQ_GATTS_WRITE, (0, handle))


def _radio_class():
    sys.modules["bluetooth"] = _FakeBluetoothModule()
    try:
        from firmware.radio import Radio
    finally:
        del sys.modules["bluetooth"]
    return Radio


def _setup():
    ble = FakeBLE()
    dev = Device()
    radio = _radio_class()(ble, dev, "cardiolink", "maker", "model", "0.1")
    return ble, dev, radio


def _data(ble, handle):
    return [d for c, h, d in ble.notified if h == handle and c is not None]


class TestRadio:
    def test_gatt_table_and_advertising(self):
        ble, dev, radio = _setup()
        ecg, dis, bas = ble.services
        assert ecg[0].value == wire.ECG_SERVICE_UUID
        assert [c[0].value for c in ecg[1]] == [wire.DATA_CHAR_UUID, wire.CONTROL_CHAR_UUID, wire.STATUS_CHAR_UUID]
        assert dis[0].value == 0x180A and bas[0].value == 0x180F
        assert ble.values[4] == b"maker" and ble.values[6] == b"0.1"
        interval, adv, resp = ble.advertising[-1]
        assert wire.ECG_SERVICE_UUID_LE in adv and len(adv) <= 31
        assert b"cardiolink" in resp and len(resp) <= 31
        assert wire.decode_status(ble.values[3]).state == wire.STATE_IDLE

    def test_control_write_gets_reply_and_frames_flow(self):
        ble, dev, radio = _setup()
        ble.handler(_IRQ_CENTRAL_CONNECT, (7, 0, b"\x00" * 6))
        ble.handler(_IRQ_MTU_EXCHANGED, (7, 247))
        ble.write(2, wire.encode_command(wire.OP_START, 5, 1, 300))
        radio.pump()
        reply = wire.decode_reply(_data(ble, 2)[0])
        assert reply.code == wire.OK and reply.token == 5
        statuses = [d for c, h, d in ble.notified if h == 3]
        assert wire.decode_status(statuses[-1]).state == wire.STATE_WAITING
        dev.feed([2048] * 600, False)
        for _ in range(10):
            radio.pump()
        frames = _data(ble, 1)
        assert max(len(f) for f in frames) > 20  # the exchanged MTU is used
        got = []
        for f in frames[:-1]:
            got += wire.decode_frame(f).samples
        assert got == [2048] * 300 and wire.decode_summary(frames[-1]).total_samples == 300

    def test_congestion_keeps_the_frame_and_disconnect_keeps_recording(self):
        ble, dev, radio = _setup()
        ble.handler(_IRQ_CENTRAL_CONNECT, (1, 0, b"\x00" * 6))
        ble.write(2, wire.encode_command(wire.OP_START, 1, 2, 300))
        radio.pump()
        dev.feed(list(range(1000, 1400)), False)
        ble.congested = True
        radio.pump()
        assert _data(ble, 1) == [] and radio._pending is not None
        ble.congested = False
        radio.pump()
        first = wire.decode_frame(_data(ble, 1)[0])
        assert first.seq == 0 and first.first_sample == 0
        ble.handler(_IRQ_CENTRAL_DISCONNECT, (1, 0, b"\x00" * 6))
        assert len(ble.advertising) == 2  # advertising again
        dev.feed(list(range(2000, 2400)), False)
        radio.pump()
        assert dev.state == wire.STATE_COMPLETE and dev.rec.n == 600

    def test_flood_of_writes_is_bounded(self):
        ble, dev, radio = _setup()
        ble.handler(_IRQ_CENTRAL_CONNECT, (1, 0, b"\x00" * 6))
        for _ in range(20):
            ble.write(2, b"\x7f\x00")
        radio.pump()
        replies = _data(ble, 2)
        assert len(replies) == 8
        assert all(wire.decode_reply(r).code == wire.ERR_UNKNOWN_OPCODE for r in replies)

    def test_battery_level_published(self):
        from firmware.power import battery_percent

        assert [battery_percent(mv) for mv in (3000, 3300, 3750, 4200, 4500)] == [0, 0, 50, 100, 100]
        ble, dev, radio = _setup()
        radio.set_battery(battery_percent(3750))
        assert ble.values[7] == bytes((50,))
        assert wire.decode_status(ble.values[3]).battery_pct == 50
