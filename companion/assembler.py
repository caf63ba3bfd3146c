"""Frame assembly for one recording session: bytes in, samples and gap lists out (sans-IO).

The link feeds every data-characteristic notification to :meth:`FrameAssembler.feed`.
The assembler decodes it with :mod:`firmware.wire`, rejects what does not belong
(malformed, wrong protocol version, another session), keeps the first copy of each
frame sequence number, and answers the questions the link asks:

- which frame sequence numbers are missing (to request a resend),
- whether the recording is complete (summary received, every frame present, sample
  indices contiguous) and verified (summary CRC matches),
- the samples assembled so far.

Frame sequence numbers are 16-bit on the wire; a 30 s recording needs far fewer than
65,536 frames, so they are used as they come (no wrap-around handling).
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter

import numpy as np

from firmware import wire


class Feed(enum.Enum):
    """What :meth:`FrameAssembler.feed` did with a notification."""

    FRAME = "frame"  # a new data frame was kept
    SUMMARY = "summary"  # the end-of-recording summary arrived
    DUPLICATE = "duplicate"  # a frame already held (e.g. an unneeded resend)
    REJECTED = "rejected"  # malformed, another session, or inconsistent: ignored


#: rejection reasons counted as malformed frames (duplicates are not malformed)
MALFORMED_REASONS = frozenset(
    {"too_short", "truncated", "bad_version", "bad_kind", "bad_count", "trailing_bytes", "bad_length",
     "wrong_session", "inconsistent", "summary_mismatch"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Frame:
    first_sample: int
    samples: tuple[int, ...]
    lead_off: bool

    @property
    def stop(self) -> int:
        return self.first_sample + len(self.samples)


class FrameAssembler:
    """Collects the frames of one session.

    Parameters
    ----------
    session_id : int
        The session id the device returned for START (only its low 8 bits are on the wire).

    Examples
    --------
    >>> data, n = wire.encode_frame(3, 0, [5, 6, 7], 0, 3, 244)
    >>> asm = FrameAssembler(3)
    >>> asm.feed(data)
    <Feed.FRAME: 'frame'>
    >>> asm.contiguous_samples().tolist()
    [5, 6, 7]
    """

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id & 0xFF
        self._frames: dict[int, _Frame] = {}
        self._starts: dict[int, int] = {}  # first_sample -> seq (detects overlapping frames)
        self.summary: wire.Summary | None = None
        self.rejected: Counter[str] = Counter()
        self.duplicates = 0
        self.out_of_order = 0
        self.max_seq = -1
        self.samples_received = 0
        self._prefix_seq = 0  # all seqs below this are held
        self._prefix: list[int] = []  # samples of frames 0.._prefix_seq-1, in order

    # -- input -----------------------------------------------------------------------

    def feed(self, data: bytes) -> Feed:
        """Take one data-characteristic notification."""
        try:
            item = wire.decode_notification(bytes(data))
        except wire.WireError as exc:
            self.rejected[exc.reason] += 1
            return Feed.REJECTED
        if item.session_id != self.session_id:
            self.rejected["wrong_session"] += 1
            return Feed.REJECTED
        if isinstance(item, wire.Summary):
            return self._take_summary(item)
        return self._take_frame(item)

    def _take_summary(self, summary: wire.Summary) -> Feed:
        if self.summary is not None and self.summary != summary:
            self.rejected["summary_mismatch"] += 1
            return Feed.REJECTED
        self.summary = summary
        return Feed.SUMMARY

    def _take_frame(self, frame: wire.DataFrame) -> Feed:
        seq = frame.seq
        if seq in self._frames:
            self.duplicates += 1
            return Feed.DUPLICATE
        held = _Frame(frame.first_sample, tuple(frame.samples), bool(frame.flags & wire.FLAG_LEAD_OFF))
        if not self._consistent(seq, held):
            self.rejected["inconsistent"] += 1
            return Feed.REJECTED
        if seq < self.max_seq:
            self.out_of_order += 1
        self._frames[seq] = held
        self._starts[held.first_sample] = seq
        self.max_seq = max(self.max_seq, seq)
        self.samples_received += len(held.samples)
        self._advance_prefix()
        return Feed.FRAME

    def _consistent(self, seq: int, frame: _Frame) -> bool:
        """A frame must not overlap its neighbours' sample ranges or another seq's start."""
        if frame.first_sample in self._starts:
            return False
        before = self._frames.get(seq - 1)
        after = self._frames.get(seq + 1)
        if before is not None and before.stop > frame.first_sample:
            return False
        if after is not None and frame.stop > after.first_sample:
            return False
        if self.summary is not None and (seq >= self.summary.frame_count or frame.stop > self.summary.total_samples):
            return False
        return True

    def _advance_prefix(self) -> None:
        while self._prefix_seq in self._frames:
            frame = self._frames[self._prefix_seq]
            if frame.first_sample != len(self._prefix):
                break  # a hole in the sample index: the prefix stops here
            self._prefix.extend(frame.samples)
            self._prefix_seq += 1

    # -- questions -------------------------------------------------------------------

    @property
    def frames_held(self) -> int:
        return len(self._frames)

    @property
    def frames_malformed(self) -> int:
        """Notifications rejected as malformed or not belonging to the session."""
        return sum(n for reason, n in self.rejected.items() if reason in MALFORMED_REASONS)

    def missing_seqs(self, frame_count: int | None = None) -> list[tuple[int, int]]:
        """Missing frame sequence numbers as inclusive ``(first, last)`` ranges.

        Parameters
        ----------
        frame_count : int, optional
            Frames the device says it sent (status); defaults to the summary's count, or
            to the highest sequence number seen + 1.
        """
        if frame_count is None:
            frame_count = self.summary.frame_count if self.summary is not None else self.max_seq + 1
        ranges: list[tuple[int, int]] = []
        start: int | None = None
        for seq in range(self._prefix_seq, frame_count):
            if seq not in self._frames:
                if start is None:
                    start = seq
            elif start is not None:
                ranges.append((start, seq - 1))
                start = None
        if start is not None:
            ranges.append((start, frame_count - 1))
        return ranges

    def sample_gaps(self, total_samples: int | None = None) -> list[tuple[int, int]]:
        """Half-open ranges of sample indices not covered by any frame held."""
        if total_samples is None:
            total_samples = self.summary.total_samples if self.summary is not None else self._max_stop()
        gaps: list[tuple[int, int]] = []
        pos = 0
        for frame in sorted(self._frames.values(), key=lambda f: f.first_sample):
            if frame.first_sample > pos:
                gaps.append((pos, min(frame.first_sample, total_samples)))
            pos = max(pos, frame.stop)
        if pos < total_samples:
            gaps.append((pos, total_samples))
        return [g for g in gaps if g[0] < g[1]]

    def _max_stop(self) -> int:
        return max((f.stop for f in self._frames.values()), default=0)

    @property
    def complete(self) -> bool:
        """Summary received and every frame and sample present."""
        s = self.summary
        return s is not None and self._prefix_seq == s.frame_count and len(self._prefix) == s.total_samples

    def verified(self) -> bool:
        """True when complete and the samples' CRC-32 equals the summary's."""
        return self.complete and self.summary is not None and wire.samples_crc32(self._prefix) == self.summary.crc32

    def contiguous_samples(self) -> np.ndarray:
        """Samples from index 0 up to the first missing one, ``int32``."""
        return np.asarray(self._prefix, dtype=np.int32)

    def recent_samples(self, n: int) -> np.ndarray:
        """The last ``n`` samples of the contiguous prefix (for a live heart rate)."""
        return np.asarray(self._prefix[-n:], dtype=np.int32)

    def assemble(self, fill: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """All samples received, holes filled with ``fill``; returns ``(samples, gaps)``."""
        total = self.summary.total_samples if self.summary is not None else self._max_stop()
        total = max(total, self._max_stop())
        out = np.full(total, fill, dtype=np.int32)
        for frame in self._frames.values():
            out[frame.first_sample:frame.stop] = frame.samples
        return out, self.sample_gaps(total)

    def lead_off_samples(self) -> list[int]:
        """Sample indices of frames flagged "contact lost just before this frame"."""
        return sorted(f.first_sample for f in self._frames.values() if f.lead_off)
