# Front-end drivers against fake buses. MicroPython-clean (runs under both interpreters).
from array import array

from firmware import wire
from firmware.device import Device
from firmware.frontend import SampleRing
from firmware.frontend_ad8232 import AD8232
from firmware import frontend_max30003 as mx


class FakePin:
    IN = 1
    OUT = 3

    def __init__(self, pin_id, mode=None, value=None):
        self.id = pin_id
        self.level = value or 0
        self.history = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.history.append(v)


class FakeHW:
    """Stands in for the `machine` module: ADC, Pin, Timer."""

    def __init__(self):
        self.pins = {}
        self.adc_values = []
        self.timer = None
        hw = self

        class Pin(FakePin):
            def __init__(self, pin_id, mode=None, value=None):
                FakePin.__init__(self, pin_id, mode, value)
                hw.pins[pin_id] = self

        class ADC:
            ATTN_11DB = 3

            def __init__(self, pin, atten=None):
                self.pin = pin
                self.atten = atten

            def read_u16(self):
                return hw.adc_values.pop(0) << 4

            def read_uv(self):
                return hw.adc_values.pop(0) * 806 + 403  # calibrated microvolts

        class Timer:
            PERIODIC = 1

            def __init__(self, timer_id):
                self.id = timer_id
                self.freq = 0
                self.callback = None
                hw.timer = self

            def init(self, freq, mode, callback):
                self.freq = freq
                self.callback = callback

            def deinit(self):
                self.callback = None

        self.Pin = Pin
        self.ADC = ADC
        self.Timer = Timer

    def tick(self, value, lo_plus=0, lo_minus=0):
        self.pins[32].level = lo_plus
        self.pins[33].level = lo_minus
        self.adc_values.append(value)
        self.timer.callback(self.timer)


def _ad8232(ring=64):
    hw = FakeHW()
    fe = AD8232(34, 32, 33, sdn_pin=25, timer_id=1, ring_samples=ring, hw=hw)
    return hw, fe


class TestAD8232:
    def test_start_programs_timer_and_wakes_chip(self):
        hw, fe = _ad8232()
        assert hw.pins[25].level == 0  # shut down until started
        fe.start(300)
        assert hw.timer.freq == 300 and hw.timer.callback is not None
        assert hw.pins[25].level == 1
        fe.stop()
        assert hw.timer.callback is None and hw.pins[25].level == 0

    def test_rejects_rate_not_offered(self):
        hw, fe = _ad8232()
        try:
            fe.start(360)
        except ValueError:
            return
        raise AssertionError("no ValueError")

    def test_samples_split_by_contact_state(self):
        hw, fe = _ad8232()
        fe.start(500)
        for i in range(10):
            hw.tick(2000 + i)
        for i in range(5):
            hw.tick(4095, lo_plus=1)
        for i in range(3):
            hw.tick(100 + i, lo_minus=1)
        hw.tick(7)
        out = array("h", bytes(2 * 64))
        assert fe.read(out) == (10, False) and list(out[:10]) == list(range(2000, 2010))
        assert fe.read(out) == (8, True) and list(out[5:8]) == [100, 101, 102]
        assert fe.read(out) == (1, False) and out[0] == 7
        assert fe.read(out) == (0, False)

    def test_full_ring_drops_newest_and_counts(self):
        hw, fe = _ad8232(ring=8)
        fe.start(250)
        for i in range(20):
            hw.tick(i)
        out = array("h", bytes(2 * 32))
        n, off = fe.read(out)
        assert n == 7 and list(out[:7]) == list(range(7)) and fe.overruns == 13

    def test_late_or_dropped_ticks_are_counted_as_lost(self):
        hw = FakeHW()
        now = [0]
        fe = AD8232(34, 32, 33, sdn_pin=25, timer_id=1, ring_samples=8, hw=hw, clock_us=lambda: now[0])
        fe.start(250)  # 4000 us per sample
        for t in (0, 4000, 8100, 20000, 24000):  # 8100: jitter only; 20000: two ticks never ran
            now[0] = t
            hw.tick(100)
        assert fe.lost == 2
        for _ in range(6):  # 5 + 6 samples in a ring of 7: 4 dropped
            hw.tick(100)
        out = array("h", bytes(2 * 16))
        assert fe.read(out)[0] == 7 and fe.lost == 2 + 4

    def test_device_from_driver_reports_its_facts(self):
        hw, fe = _ad8232()
        dev = Device.for_front_end(fe)
        info = wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_GET_INFO, 1))).fields
        assert info.front_end == wire.FRONT_END_AD8232 and info.adc_bits == 12
        assert abs(info.gain_counts_per_mv - 1364.76) < 0.01 and info.baseline == 2047
        rates = wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_GET_RATES, 2))).fields
        assert rates.rates_hz == (250, 300, 500)

    def test_ring_read_respects_out_size(self):
        ring = SampleRing(16)
        for i in range(10):
            ring.put(i, 0)
        out = array("h", [0, 0, 0, 0])
        assert ring.read(out) == (4, False) and list(out) == [0, 1, 2, 3]


class FakeMAX30003:
    """Register model of a MAX30003 behind a fake SPI bus and chip-select pin."""

    def __init__(self):
        self.regs = {mx.REG_INFO: 0x512345}
        self.fifo = []
        self.writes = []
        self.cs = FakePin(5, value=1)
        self._reg = None
        self._read = False
        self.status = 0

    # SPI bus
    def write(self, buf):
        assert self.cs.level == 0, "SPI traffic without chip select"
        if self._reg is None or len(buf) == 1:
            self._reg = buf[0] >> 1
            self._read = bool(buf[0] & 1)
            return
        value = (buf[0] << 16) | (buf[1] << 8) | buf[2]
        self.writes.append((self._reg, value))
        if self._reg == mx.REG_FIFO_RST:
            self.fifo = []
        elif self._reg == mx.REG_SW_RST:
            self.regs = {mx.REG_INFO: self.regs[mx.REG_INFO]}
        else:
            self.regs[self._reg] = value

    def readinto(self, buf):
        assert self._read and self.cs.level == 0
        if self._reg == mx.REG_ECG_FIFO:
            v = self.fifo.pop(0) if self.fifo else mx.ETAG_EMPTY << 3
        elif self._reg == mx.REG_STATUS:
            v = self.status
        else:
            v = self.regs.get(self._reg, 0)
        buf[0] = (v >> 16) & 0xFF
        buf[1] = (v >> 8) & 0xFF
        buf[2] = v & 0xFF

    def push(self, sample_18bit, etag=mx.ETAG_VALID):
        self.fifo.append(((sample_18bit & 0x3FFFF) << 6) | (etag << 3))


def _max():
    chip = FakeMAX30003()
    fe = mx.MAX30003(chip, chip.cs, gain_v_per_v=40)
    # every transaction ends with chip select released
    return chip, fe


class TestMAX30003:
    def test_start_programs_rate_gain_and_ecg_channel(self):
        chip, fe = _max()
        fe.start(256)
        ecg = chip.regs[mx.REG_CNFG_ECG]
        assert (ecg >> 22) & 3 == 1 and (ecg >> 16) & 3 == 1  # 256 sps, 40 V/V
        assert ecg & mx.ECG_DHPF_05HZ
        gen = chip.regs[mx.REG_CNFG_GEN]
        assert gen & mx.GEN_EN_ECG and (gen >> 20) & 3 == 0 and gen & mx.GEN_EN_DCLOFF
        assert chip.cs.level == 1
        assert (mx.REG_SYNCH, 0) in chip.writes
        fe.stop()
        assert not chip.regs[mx.REG_CNFG_GEN] & mx.GEN_EN_ECG

    def test_wrong_chip_is_reported(self):
        chip, fe = _max()
        chip.regs[mx.REG_INFO] = 0xFFFFFF
        try:
            fe.start(512)
        except wire.FirmwareError as e:
            assert isinstance(e, mx.FrontEndError)
            assert e.register == mx.REG_INFO and e.value == 0xFFFFFF
            return
        raise AssertionError("no FrontEndError")

    def test_fifo_words_become_int16_samples(self):
        chip, fe = _max()
        fe.start(512)
        for v in (1000, -1000, 131071, -131072, 0):
            chip.push(v)
        chip.push(8, mx.ETAG_VALID_EOF)
        chip.push(12)
        out = array("h", bytes(2 * 32))
        assert fe.read(out) == (6, False)
        assert list(out[:6]) == [250, -250, 32767, -32768, 0, 2]
        assert fe.read(out) == (1, False) and out[0] == 3
        assert fe.read(out) == (0, False)

    def test_overflow_resets_fifo_and_counts(self):
        chip, fe = _max()
        fe.start(128)
        chip.push(4)
        chip.push(0, mx.ETAG_OVERFLOW)
        chip.push(4)
        out = array("h", bytes(2 * 8))
        assert fe.read(out) == (1, False)
        assert fe.overruns == 1 and chip.fifo == [] and fe.lost == mx.FIFO_WORDS

    def test_lead_off_status(self):
        chip, fe = _max()
        fe.start(128)
        chip.status = mx.STATUS_DCLOFFINT | 0x2
        chip.push(40)
        out = array("h", bytes(2 * 8))
        assert fe.read(out) == (1, True)

    def test_lead_off_latency_drops_the_held_back_samples(self):
        chip = FakeMAX30003()
        fe = mx.MAX30003(chip, chip.cs, gain_v_per_v=40, holdback_ms=125)  # 16 samples at 128 sps
        fe.start(128)
        out = array("h", bytes(2 * 64))
        for v in range(20):
            chip.push(4 * v)
        assert fe.read(out) == (4, False) and list(out[:4]) == [0, 1, 2, 3]
        for v in range(20, 30):
            chip.push(4 * v)
        chip.status = mx.STATUS_DCLOFFINT  # detected late: the 16 + 10 held samples go
        assert fe.read(out) == (0, True)
        chip.status = 0
        for v in range(30, 50):
            chip.push(4 * v)
        assert fe.read(out) == (4, False) and list(out[:4]) == [30, 31, 32, 33]

    def test_fclk_pwm_at_32768_hz(self):
        chip = FakeMAX30003()
        made = []

        class HW:
            class Pin:
                def __init__(self, n):
                    self.n = n

            class PWM:
                def __init__(self, pin, freq, duty_u16):
                    made.append((pin.n, freq, duty_u16))

        mx.MAX30003(chip, chip.cs, fclk_pin=26, hw=HW)
        assert made == [(26, 32768, 32768)]

    def test_gain_matches_datasheet(self):
        chip, fe = _max()
        # 40 V/V: 2**17 * 40 / 1000 mV = 5242.88 counts/mV at 18 bits, /4 at 16 bits
        assert abs(fe.GAIN_COUNTS_PER_MV - 1310.72) < 1e-9
        dev = Device.for_front_end(fe, default_fs_hz=300)  # not offered: closest is 256
        assert dev.default_fs_hz == 256
        info = wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_GET_INFO, 1))).fields
        rates = wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_GET_RATES, 2))).fields
        assert info.front_end == wire.FRONT_END_MAX30003 and rates.rates_hz == (128, 256, 512)
