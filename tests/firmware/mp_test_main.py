# firmware/main.py end to end under the MicroPython unix port, with fake `machine` and
# `bluetooth` modules: the asyncio tasks (acquire, radio, battery) record a session that a
# fake central starts and receives. MicroPython only (it needs asyncio.sleep_ms and
# ThreadSafeFlag), so pytest does not collect it; scripts/check-firmware runs it.
import sys
import asyncio

from firmware import wire

_IRQ_CENTRAL_CONNECT = 1
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21


class _Pin:
    IN = 1
    OUT = 3

    def __init__(self, pin_id, mode=None, value=None):
        self.id = pin_id
        self.level = value or 0

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


class _Machine:
    Pin = _Pin

    def __init__(self):
        self.adc_values = []
        self.timer = None
        m = self

        class ADC:
            ATTN_11DB = 3

            def __init__(self, pin, atten=None):
                self.pin = pin

            def read_u16(self):
                return m.adc_values.pop(0) << 4

            def read_uv(self):
                if self.pin.id == 34:  # the AD8232 output: calibrated microvolts
                    return m.adc_values.pop(0) * 806 + 403
                return 1875000  # 3.75 V through the 1:2 divider -> 50 %

        class Timer:
            PERIODIC = 1

            def __init__(self, timer_id):
                self.freq = 0
                self.callback = None
                m.timer = self

            def init(self, freq, mode, callback):
                self.freq = freq
                self.callback = callback

            def deinit(self):
                self.callback = None

        class WDT:
            def __init__(self, timeout=5000):
                m.wdt_timeout_ms = timeout
                m.wdt_feeds = 0

            def feed(self):
                m.wdt_feeds += 1

        self.ADC = ADC
        self.Timer = Timer
        self.WDT = WDT

    def tick(self, value):
        self.adc_values.append(value)
        self.timer.callback(self.timer)


class _UUID:
    def __init__(self, value):
        self.value = value


class _BLE:
    last = None

    def __init__(self):
        _BLE.last = self
        self.values = {}
        self.notified = []
        self.handler = None

    def active(self, on):
        pass

    def config(self, **kw):
        pass

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        return ((1, 2, 3), (4, 5, 6), (7,))

    def gatts_write(self, handle, data, send_update=False):
        self.values[handle] = bytes(data)

    def gatts_read(self, handle):
        return self.values.get(handle, b"")

    def gatts_set_buffer(self, handle, n):
        pass

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None):
        pass

    def gatts_notify(self, conn, handle, data):
        self.notified.append((handle, bytes(data)))


class _Bluetooth:
    UUID = _UUID
    BLE = _BLE


def _signal(i):
    return 2048 + (i * 13) % 41 - 20


async def _scenario(machine):
    from firmware import main as fw_main

    class _FastFrontEnd:
        RATES_HZ = (250, 300, 500)

    # the buffer is sized at boot to one recording at the front end's fastest rate
    assert fw_main.config.CAPACITY_SAMPLES == 0
    assert fw_main.capacity_samples(_FastFrontEnd) == 500 * fw_main.config.DEFAULT_DURATION_S
    task = asyncio.create_task(fw_main.run())
    await asyncio.sleep_ms(30)
    ble = _BLE.last
    ble.handler(_IRQ_CENTRAL_CONNECT, (0, 0, b"\x00" * 6))
    ble.handler(_IRQ_MTU_EXCHANGED, (0, 247))
    ble.values[2] = wire.encode_command(wire.OP_START, 9, 1, 300)
    ble.handler(_IRQ_GATTS_WRITE, (0, 2))
    await asyncio.sleep_ms(60)
    assert machine.timer.freq == 300 and machine.timer.callback is not None
    i = 0
    while i < 300 * 2 and machine.timer.callback is not None:
        for _ in range(100):
            machine.tick(_signal(i))
            i += 1
        await asyncio.sleep_ms(40)
    await asyncio.sleep_ms(100)
    task.cancel()
    return ble


class TestMain:
    def test_session_end_to_end_through_the_asyncio_tasks(self):
        machine = _Machine()
        sys.modules["machine"] = machine
        sys.modules["bluetooth"] = _Bluetooth()
        try:
            ble = asyncio.run(_scenario(machine))
        finally:
            del sys.modules["machine"]
            del sys.modules["bluetooth"]
        replies = [wire.decode_reply(d) for h, d in ble.notified if h == 2]
        assert replies[0].code == wire.OK and replies[0].token == 9
        data = [d for h, d in ble.notified if h == 1]
        summary = wire.decode_summary(data[-1])
        samples = []
        for d in data[:-1]:
            samples += wire.decode_frame(d).samples
        expected = [_signal(k) for k in range(150, 450)]  # after 0.5 s of settling
        assert samples == expected and summary.total_samples == 300
        assert summary.crc32 == wire.samples_crc32(expected)
        assert machine.timer.callback is None  # front end stopped after the recording
        assert machine.wdt_timeout_ms == 8000 and machine.wdt_feeds > 5  # watchdog fed by the acquire loop
        assert ble.values[7] == bytes((50,))  # battery level published
        assert wire.decode_status(ble.values[3]).state == wire.STATE_COMPLETE
