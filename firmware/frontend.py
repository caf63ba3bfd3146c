# Front-end interface shared by the drivers (pure; MicroPython and CPython).
#
# A front end turns electrode voltage into int16 samples at a rate the Device chose:
#   FRONT_END            wire.FRONT_END_* id reported by GET_INFO
#   RATES_HZ             sample rates it offers
#   ADC_BITS             bits per sample as delivered (after any scaling)
#   GAIN_COUNTS_PER_MV   counts per millivolt at the electrodes
#   BASELINE             count that means 0 mV
#   start(fs_hz)         power up and sample at fs_hz
#   stop()               power down
#   read(out) -> (n, lead_off)
#                        move up to len(out) buffered samples into out (array('h')),
#                        all sharing one contact state; n == 0 when nothing is waiting
#   overruns             samples dropped because read() came too late (diagnostics)
#   lost                 samples lost since main.py last took the count (it resets it to 0
#                        and hands it to Device.note_lost: the receiver sees a GAP flag)

from firmware import wire


class FrontEnd:
    FRONT_END = wire.FRONT_END_SIMULATED
    RATES_HZ = (250, 300, 500)
    ADC_BITS = 12
    GAIN_COUNTS_PER_MV = 1365.33
    BASELINE = 2048

    def __init__(self):
        self.fs_hz = 0
        self.overruns = 0
        self.lost = 0

    def start(self, fs_hz):
        if fs_hz not in self.RATES_HZ:
            raise ValueError("rate not offered")
        self.fs_hz = fs_hz

    def stop(self):
        self.fs_hz = 0

    def read(self, out):
        raise NotImplementedError


class SampleRing:
    """Fixed ring of (sample, lead-off) filled by an interrupt, drained by read().

    put() does not allocate, so it may run in a timer callback.
    """

    def __init__(self, size):
        from array import array

        self.values = array("h", bytes(2 * size))
        self.off = bytearray(size)
        self.size = size
        self.head = 0  # next write
        self.tail = 0  # next read
        self.dropped = 0

    def put(self, value, lead_off):
        nxt = self.head + 1
        if nxt == self.size:
            nxt = 0
        if nxt == self.tail:
            self.dropped += 1  # full: the newest sample is dropped, older ones are kept
            return
        self.values[self.head] = value
        self.off[self.head] = lead_off
        self.head = nxt

    def read(self, out):
        n = 0
        t = self.tail
        h = self.head
        if t == h:
            return 0, False
        first_off = self.off[t]
        limit = len(out)
        while t != h and n < limit and self.off[t] == first_off:
            out[n] = self.values[t]
            n += 1
            t += 1
            if t == self.size:
                t = 0
        self.tail = t
        return n, bool(first_off)

    def clear(self):
        self.head = self.tail = 0
