# MAX30003 ECG front end (SPI, its own sample clock and 32-word FIFO).
#
# Register facts from the MAX30003 datasheet: every SPI transaction is 32 bits, a
# command byte (address << 1 | R/W, 1 = read) then 24 data bits MSB first (SPI mode 0,
# up to 12 MHz). ECG FIFO words: [23:6] ECG sample (18-bit two's complement),
# [5:3] ETAG, [2:0] PTAG. With FMSTR = 00 (32,768 Hz) CNFG_ECG.RATE gives 512/256/128 sps.
# Samples are kept as int16 (>> 2): at gain 20 V/V one count is 4 x 0.38 uV = 1.53 uV
# (VREF 1000 mV / (2**17 x 20) per 18-bit LSB), range +/- 50 mV.
# Clock: FMSTR = 00 needs 32.768 kHz on FCLK; nothing on the board makes it, so the
# driver drives it from an ESP32 PWM pin (config.MAX30003_FCLK_PIN; wiring in
# docs/firmware.md). FIFO overflow (EOVF / ETAG 7) loses at least the 32-word FIFO: the
# driver adds FIFO_WORDS to `lost` (the receiver sees a GAP flag, counted in the summary).
# DC lead-off is flagged ~115 ms after the electrode leaves (datasheet lead-off timing at
# the 10 nA current): the driver holds back holdback_ms of samples and drops them when
# lead-off appears, so samples taken without contact are not recorded.

try:
    from micropython import const
except ImportError:  # CPython

    const = lambda x: x  # noqa: E731


from array import array

from firmware import wire
from firmware.errors import FirmwareError
from firmware.frontend import FrontEnd

REG_STATUS = const(0x01)
REG_EN_INT = const(0x02)
REG_MNGR_INT = const(0x04)
REG_SW_RST = const(0x08)
REG_SYNCH = const(0x09)
REG_FIFO_RST = const(0x0A)
REG_INFO = const(0x0F)
REG_CNFG_GEN = const(0x10)
REG_CNFG_EMUX = const(0x14)
REG_CNFG_ECG = const(0x15)
REG_ECG_FIFO = const(0x21)
# STATUS bits
STATUS_EINT = const(1 << 23)  # FIFO reached its interrupt threshold
STATUS_EOVF = const(1 << 22)  # FIFO overflowed: samples lost
STATUS_DCLOFFINT = const(1 << 20)  # DC lead-off detected
STATUS_LDOFF_MASK = const(0x00000F)  # LDOFF_PH, LDOFF_PL, LDOFF_NH, LDOFF_NL
# CNFG_GEN fields
GEN_EN_ECG = const(1 << 19)
GEN_FMSTR_32768 = const(0 << 20)
GEN_EN_DCLOFF = const(1 << 12)  # DC lead-off on ECGP/ECGN
GEN_IMAG_10NA = const(2 << 8)  # lead-off test current
GEN_VTH_300MV = const(0 << 6)  # VMID +/- 300 mV threshold
GEN_EN_RBIAS = const(1 << 4)  # resistive bias on ECG inputs
GEN_RBIASV_100M = const(1 << 2)
GEN_RBIASP = const(1 << 1)
GEN_RBIASN = const(1 << 0)
# CNFG_ECG fields
ECG_RATE_SHIFT = const(22)
ECG_GAIN_SHIFT = const(16)
ECG_DHPF_05HZ = const(1 << 14)
ECG_DLPF_40HZ = const(1 << 12)
MNGR_EFIT_SHIFT = const(19)  # FIFO interrupt threshold - 1
# ETAG values
ETAG_VALID = const(0)
ETAG_FAST = const(1)
ETAG_VALID_EOF = const(2)
ETAG_FAST_EOF = const(3)
ETAG_EMPTY = const(6)
ETAG_OVERFLOW = const(7)
INFO_ID = const(0x5)  # INFO[23:20]
FIFO_WORDS = const(32)
FCLK_HZ = const(32768)

RATE_CODES = {512: 0, 256: 1, 128: 2}  # CNFG_ECG.RATE with FMSTR = 00
GAIN_CODES = {20: 0, 40: 1, 80: 2, 160: 3}  # CNFG_ECG.GAIN, V/V


class FrontEndError(FirmwareError):
    """The MAX30003 did not answer as the datasheet says (wiring, power)."""

    def __init__(self, register, value):
        super().__init__("MAX30003 register 0x%02x read 0x%06x" % (register, value))
        self.register = register
        self.value = value


class MAX30003(FrontEnd):
    FRONT_END = wire.FRONT_END_MAX30003
    RATES_HZ = (128, 256, 512)
    ADC_BITS = 16
    BASELINE = 0

    def __init__(self, spi, cs, gain_v_per_v=20, fclk_pin=None, holdback_ms=0, hw=None):
        super().__init__()
        self.fclk = None
        if fclk_pin is not None:
            if hw is None:
                import machine as hw
            self.fclk = hw.PWM(hw.Pin(fclk_pin), freq=FCLK_HZ, duty_u16=32768)
        self.holdback_ms = holdback_ms
        self._hold = 0  # samples held back at the running rate
        self._held = array("h", bytes(2 * (FIFO_WORDS + 80)))  # 115 ms at 512 sps = 59
        self._nheld = 0
        if gain_v_per_v not in GAIN_CODES:
            raise ValueError("gain must be 20, 40, 80 or 160 V/V")
        self.spi = spi
        self.cs = cs
        self.gain_v_per_v = gain_v_per_v
        # 18-bit counts per mV = 2**17 * gain / 1000 mV; stored >> 2
        self.GAIN_COUNTS_PER_MV = 131072 * gain_v_per_v / 1000 / 4
        self._cmd = bytearray(1)
        self._word = bytearray(3)
        self._lead_off = False
        self.cs.value(1)

    def write_reg(self, reg, value):
        self._cmd[0] = reg << 1
        self._word[0] = (value >> 16) & 0xFF
        self._word[1] = (value >> 8) & 0xFF
        self._word[2] = value & 0xFF
        self.cs.value(0)
        self.spi.write(self._cmd)
        self.spi.write(self._word)
        self.cs.value(1)

    def read_reg(self, reg):
        self._cmd[0] = (reg << 1) | 1
        self.cs.value(0)
        self.spi.write(self._cmd)
        self.spi.readinto(self._word)
        self.cs.value(1)
        w = self._word
        return (w[0] << 16) | (w[1] << 8) | w[2]

    def check(self):
        info = self.read_reg(REG_INFO)
        if info >> 20 != INFO_ID:
            raise FrontEndError(REG_INFO, info)

    def start(self, fs_hz):
        super().start(fs_hz)
        self._hold = min(self.holdback_ms * fs_hz // 1000, len(self._held) - FIFO_WORDS)
        self._nheld = 0
        self.write_reg(REG_SW_RST, 0)
        self.check()
        gen = GEN_FMSTR_32768 | GEN_EN_ECG | GEN_EN_DCLOFF | GEN_IMAG_10NA | GEN_VTH_300MV
        gen |= GEN_EN_RBIAS | GEN_RBIASV_100M | GEN_RBIASP | GEN_RBIASN
        self.write_reg(REG_CNFG_GEN, gen)
        self.write_reg(REG_CNFG_EMUX, 0)  # inputs connected, no calibration
        ecg = (RATE_CODES[fs_hz] << ECG_RATE_SHIFT) | (GAIN_CODES[self.gain_v_per_v] << ECG_GAIN_SHIFT)
        self.write_reg(REG_CNFG_ECG, ecg | ECG_DHPF_05HZ | ECG_DLPF_40HZ)
        self.write_reg(REG_MNGR_INT, (8 - 1) << MNGR_EFIT_SHIFT)
        self.write_reg(REG_EN_INT, STATUS_EINT | STATUS_DCLOFFINT | 3)  # INTB open drain + pull-up
        self.write_reg(REG_SYNCH, 0)
        self.write_reg(REG_FIFO_RST, 0)

    def stop(self):
        self.write_reg(REG_CNFG_GEN, 0)  # ECG channel off
        super().stop()

    def read(self, out):
        status = self.read_reg(REG_STATUS)
        self._lead_off = bool(status & (STATUS_DCLOFFINT | STATUS_LDOFF_MASK))
        if status & STATUS_EOVF:
            self._overflow()
            return 0, self._lead_off
        if not self._hold:
            return self._drain(out, len(out)), self._lead_off
        held = self._held
        self._nheld += self._drain_into(held, self._nheld, len(held) - self._nheld)
        if self._lead_off:
            self._nheld = 0  # taken in the detection latency: contact was already gone
            return 0, True
        n = self._nheld - self._hold
        if n <= 0:
            return 0, False
        if n > len(out):
            n = len(out)
        for i in range(n):
            out[i] = held[i]
        for i in range(n, self._nheld):
            held[i - n] = held[i]
        self._nheld -= n
        return n, False

    def _overflow(self):
        self.overruns += 1
        self.lost += FIFO_WORDS  # at least the FIFO's worth vanished
        self.write_reg(REG_FIFO_RST, 0)

    def _drain(self, out, limit):
        return self._drain_into(out, 0, limit)

    def _drain_into(self, out, at, limit):
        # reads up to `limit` FIFO samples into out[at:]; returns how many
        n = 0
        while n < limit:
            word = self.read_reg(REG_ECG_FIFO)
            etag = (word >> 3) & 7
            if etag == ETAG_EMPTY:
                break
            if etag == ETAG_OVERFLOW:
                self._overflow()
                break
            v = word >> 6
            if v & 0x20000:  # sign of the 18-bit sample
                v -= 0x40000
            out[at + n] = v >> 2
            n += 1
            if etag == ETAG_VALID_EOF or etag == ETAG_FAST_EOF:
                break
        return n
