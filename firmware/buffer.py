# Recording buffer: keeps the whole recording for resends (pure; MicroPython and CPython).
#
# Memory budget (allocated once at boot, reused by every recording):
#   samples: capacity_samples x 2 B as array('h'); default 18,000 samples = 36 kB
#            (30 s at 500 Hz = 15,000 samples, or 60 s at 300 Hz).
#   frame index: 7 B per frame sent (first sample, count, flags); at MTU 23 about
#            14 samples per frame -> <= 9 kB for a full buffer, at MTU 247 < 0.4 kB.
# An ESP32 running MicroPython with BLE active has roughly 100 kB of free heap.

from array import array
import binascii
import sys


class Recording:
    """Samples of one recording (int16) plus the index of the frames sent so far."""

    def __init__(self, capacity_samples):
        self.capacity = capacity_samples
        self.samples = array("h", bytes(2 * capacity_samples))
        self.reset(0)

    def reset(self, target_samples):
        self.n = 0  # samples stored
        self.target = target_samples
        self.breaks = []  # sample indices where contact had been lost just before
        self.frame_first = array("I")
        self.frame_count = array("H")
        self.frame_flags = bytearray()  # wire flags >> 8

    def append(self, samples, k, m):
        """Store samples[k:m], stopping at the target; returns how many were stored."""
        room = self.target - self.n
        if m - k > room:
            m = k + room
        buf = self.samples
        n = self.n
        for i in range(k, m):
            buf[n] = samples[i]
            n += 1
        stored = n - self.n
        self.n = n
        return stored

    def mark_break(self):
        """Contact was lost: the next stored sample follows a discontinuity."""
        if not self.breaks or self.breaks[-1] != self.n:
            self.breaks.append(self.n)

    def segment_end(self, start):
        """First break after ``start`` (frames never straddle one), else samples stored."""
        for b in self.breaks:
            if b > start:
                return b
        return self.n

    def is_break(self, index):
        return index in self.breaks

    def add_frame(self, first, count, flags):
        """Record a newly sent frame; returns its sequence number."""
        self.frame_first.append(first)
        self.frame_count.append(count)
        self.frame_flags.append(flags >> 8)
        return len(self.frame_count) - 1

    def frames(self):
        return len(self.frame_count)

    def frame(self, seq):
        """(first sample, sample count, wire flags) of frame ``seq``."""
        return self.frame_first[seq], self.frame_count[seq], self.frame_flags[seq] << 8

    def sent_upto(self):
        k = len(self.frame_count)
        if not k:
            return 0
        return self.frame_first[k - 1] + self.frame_count[k - 1]

    def crc32(self):
        """CRC-32 of samples[0:n] as int16 little-endian (see wire.samples_crc32)."""
        if sys.byteorder != "little":  # pragma: no cover - every supported target is LE
            from firmware.wire import samples_crc32

            return samples_crc32(self.samples[: self.n])
        return binascii.crc32(memoryview(self.samples)[: self.n]) & 0xFFFFFFFF
