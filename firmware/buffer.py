# Recording buffer: keeps the whole recording for resends (pure; MicroPython and CPython).
#
# Memory budget (allocated once at boot, reused by every recording; docs/firmware.md):
#   samples: capacity_samples x 2 B as array('h'); default 18,000 samples = 36 kB
#            (30 s at 500 Hz = 15,000 samples, or 60 s at 300 Hz).
#   frame index: first sample of every frame sent, 2 B each as array('H'), sized for the
#            smallest MTU: capacity_samples // 3 + 256 entries (a compact frame at MTU 23
#            holds at least 3 samples; partial frames add at most one per second and
#            one per break) = 12.5 kB for 18,000 samples.
#   breaks: at most MAX_BREAKS discontinuities (index + flag), 0.3 kB.
# A frame's count is the next frame's first sample minus its own; its flags are the
# break flags at its first sample.

from array import array
import binascii
import sys

try:
    from micropython import const
except ImportError:  # CPython
    const = lambda x: x  # noqa: E731

MAX_BREAKS = const(64)


class Recording:
    """Samples of one recording (int16) plus the index of the frames sent so far."""

    def __init__(self, capacity_samples):
        if capacity_samples > 65535:
            raise ValueError("capacity_samples over 65535")
        self.capacity = capacity_samples
        self.samples = array("h", bytes(2 * capacity_samples))
        self.frame_capacity = capacity_samples // 3 + 256
        self.frame_first = array("H", bytes(2 * self.frame_capacity))
        self.break_at = array("H", bytes(2 * MAX_BREAKS))
        self.break_flags = bytearray(MAX_BREAKS)
        self.reset(0)

    def reset(self, target_samples):
        self.n = 0  # samples stored
        self.target = target_samples
        self.nframes = 0
        self._sent = 0  # samples covered by the frames sent
        self.nbreaks = 0
        self.lost = 0  # samples the front end lost (estimated), for the summary

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

    def mark_break(self, flag):
        """A discontinuity (wire.FLAG_LEAD_OFF or FLAG_GAP) precedes the next sample stored.

        Returns False when the break table is full (the caller ends the recording).
        """
        k = self.nbreaks
        if k and self.break_at[k - 1] == self.n:
            self.break_flags[k - 1] |= flag
            return True
        if k == MAX_BREAKS:
            return False
        self.break_at[k] = self.n
        self.break_flags[k] = flag
        self.nbreaks = k + 1
        return True

    def segment_end(self, start):
        """First break after ``start`` (frames never straddle one), else samples stored."""
        for i in range(self.nbreaks):
            b = self.break_at[i]
            if b > start:
                return b
        return self.n

    def break_flag(self, index):
        """Break flags of the discontinuity just before sample ``index`` (0 if none)."""
        for i in range(self.nbreaks):
            if self.break_at[i] == index:
                return self.break_flags[i]
        return 0

    def index_full(self):
        return self.nframes >= self.frame_capacity

    def add_frame(self, first, count):
        """Record a newly sent frame; returns its sequence number."""
        seq = self.nframes
        self.frame_first[seq] = first
        self.nframes = seq + 1
        self._sent = first + count
        return seq

    def frames(self):
        return self.nframes

    def frame(self, seq):
        """(first sample, sample count, break flags) of frame ``seq``."""
        first = self.frame_first[seq]
        stop = self.frame_first[seq + 1] if seq + 1 < self.nframes else self._sent
        return first, stop - first, self.break_flag(first)

    def sent_upto(self):
        return self._sent

    def crc32(self):
        """CRC-32 of samples[0:n] as int16 little-endian (see wire.samples_crc32)."""
        if sys.byteorder != "little":  # pragma: no cover - every supported target is LE
            from firmware.wire import samples_crc32

            return samples_crc32(self.samples[: self.n])
        return binascii.crc32(memoryview(self.samples)[: self.n]) & 0xFFFFFFFF
