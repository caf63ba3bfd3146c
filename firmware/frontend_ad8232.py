# AD8232 analog front end on the ESP32 ADC, sampled from a hardware timer.
#
# Wiring (see config.py): AD8232 OUTPUT -> ADC pin, LO+ / LO- -> digital inputs (high
# when that electrode has no contact), SDN -> output (low = shutdown), REF at mid-supply.
# Gain: the AD8232 heart-rate reference circuit amplifies 1100 V/V; the ESP32 ADC at
# 11 dB attenuation spans about 0..3.3 V in 12 bits, so
#   gain = 1100 * 4096 / 3300 mV = 1365.33 counts/mV, baseline = 2048 (mid-supply REF).
# Only this module and main.py touch `machine`; pass a fake `hw` module in tests.

from firmware import wire
from firmware.frontend import FrontEnd, SampleRing


class AD8232(FrontEnd):
    FRONT_END = wire.FRONT_END_AD8232
    RATES_HZ = (250, 300, 500)
    ADC_BITS = 12
    GAIN_COUNTS_PER_MV = 1100 * 4096 / 3300
    BASELINE = 2048

    def __init__(self, adc_pin, lo_plus_pin, lo_minus_pin, sdn_pin=None, timer_id=0, ring_samples=512, hw=None):
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

    def _tick(self, _timer):
        # timer callback: one sample; no allocation (read_u16 scales to 16 bits)
        off = self.lo_plus.value() or self.lo_minus.value()
        self.ring.put(self.adc.read_u16() >> 4, off)

    def start(self, fs_hz):
        super().start(fs_hz)
        self.ring.clear()
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
        self.overruns = self.ring.dropped
        return r
