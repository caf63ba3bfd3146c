# AD8232 analog front end on the ESP32 ADC, sampled from a hardware timer.
#
# Wiring (docs/firmware.md has the diagram; pins in config.py): AD8232 OUTPUT -> ADC1 pin
# (GPIO34), LO+ / LO- -> digital inputs (high when that electrode has no contact), SDN ->
# output (low = shutdown), REF at mid-supply (1.65 V).
# Scale: the ADC is read calibrated (read_uv, ESP-IDF eFuse calibration; at 11 dB the
# documented accurate range is 150..2450 mV, and the AD8232 output sits at 1.65 V +/- a
# few hundred mV). One count is UV_PER_COUNT = 806 uV at the ADC (3.3 V / 4096), so with
# the heart-rate reference circuit's 1100 V/V
#   gain = 1100 * 1000 / 806 = 1364.76 counts/mV at the electrodes, baseline 1.65 V = 2047.
# On the ESP32 machine.Timer callbacks are soft (scheduled): a busy interpreter runs them
# late or drops them. Each tick stamps ticks_us; a gap longer than 1.5 periods counts the
# missed samples in `lost` (main.py hands them to the Device: a GAP flag, counted in the
# summary), as do samples dropped by a full ring.
# Only this module and main.py touch `machine`; pass a fake `hw` module in tests.

import time

_TICKS_US = getattr(time, "ticks_us", None)  # MicroPython; CPython (tests) has none
_TICKS_DIFF = getattr(time, "ticks_diff", None)


def ticks_us():
    return _TICKS_US() if _TICKS_US is not None else time.time_ns() // 1000


def ticks_diff(a, b):
    return _TICKS_DIFF(a, b) if _TICKS_DIFF is not None else a - b


from firmware import wire
from firmware.frontend import FrontEnd, SampleRing

UV_PER_COUNT = 806


class AD8232(FrontEnd):
    FRONT_END = wire.FRONT_END_AD8232
    RATES_HZ = (250, 300, 500)
    ADC_BITS = 12
    GAIN_COUNTS_PER_MV = 1100 * 1000 / UV_PER_COUNT
    BASELINE = 1650000 // UV_PER_COUNT

    def __init__(self, adc_pin, lo_plus_pin, lo_minus_pin, sdn_pin=None, timer_id=0, ring_samples=512, hw=None, clock_us=None):
        super().__init__()
        if hw is None:
            import machine as hw
        self._hw = hw
        self.adc = hw.ADC(hw.Pin(adc_pin), atten=hw.ADC.ATTN_11DB)
        self.lo_plus = hw.Pin(lo_plus_pin, hw.Pin.IN)
        self.lo_minus = hw.Pin(lo_minus_pin, hw.Pin.IN)
        self.sdn = hw.Pin(sdn_pin, hw.Pin.OUT, value=0) if sdn_pin is not None else None
        self.timer = hw.Timer(timer_id)
        self.ring = SampleRing(ring_samples)
        self._clock = clock_us or ticks_us
        self._last_us = -1
        self._period_us = 0
        self._dropped_seen = 0

    def _tick(self, _timer):
        # timer callback: one sample; no allocation
        now = self._clock()
        if self._last_us >= 0:
            # whole periods since the last tick, rounded: more than one means ticks were lost
            missed = (ticks_diff(now, self._last_us) + (self._period_us >> 1)) // self._period_us - 1
            if missed > 0:
                self.lost += missed
        self._last_us = now
        off = self.lo_plus.value() or self.lo_minus.value()
        self.ring.put(self.adc.read_uv() // UV_PER_COUNT, off)

    def start(self, fs_hz):
        super().start(fs_hz)
        self.ring.clear()
        self._last_us = -1
        self._period_us = 1000000 // fs_hz
        if self.sdn is not None:
            self.sdn.value(1)
        self.timer.init(freq=fs_hz, mode=self._hw.Timer.PERIODIC, callback=self._tick)

    def stop(self):
        self.timer.deinit()
        if self.sdn is not None:
            self.sdn.value(0)
        super().stop()

    def read(self, out):
        r = self.ring.read(out)
        dropped = self.ring.dropped
        if dropped != self._dropped_seen:
            self.lost += dropped - self._dropped_seen
            self._dropped_seen = dropped
        self.overruns = dropped
        return r
