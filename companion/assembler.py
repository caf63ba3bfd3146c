"""Frame assembly for one recording session: bytes in, samples and gap lists out (sans-IO).

The link feeds every data-characteristic notification to :meth:`FrameAssembler.feed`.
The assembler decodes it with :mod:`firmware.wire`, rejects what does not belong
(malformed, wrong protocol version, another session), keeps the first copy of each
frame sequence number, and answers the questions the link asks:

- which frame sequence numbers are missing (to request a resend),
- whether the recording is complete (summary received, every frame present, sample
  indices contiguous) and verified (summary CRC matches),
- the samples assembled so far.

Frame sequence numbers are 16-bit on the wire; a recording holds at most 65,535 samples
and frames, so they are used as they come (no wrap-around handling). A resent frame may
come split in pieces (flags ``MORE``/``CONT``, docs/protocol.md section 3): a sequence
number counts as held only when its pieces join from its first sample to its last.
"""

from __future__ import annotations

import bisect
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
     "bad_padding", "bad_varint", "bad_flags", "bad_seq", "sample_index", "sample_range", "bad_summary",
     "wrong_session", "inconsistent", "summary_mismatch"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Piece:
    seq: int
    first_sample: int
    samples: tuple[int, ...]
    lead_off: bool
    gap: bool = False

    @property
    def stop(self) -> int:
        return self.first_sample + len(self.samples)


class FrameAssembler:
    """Collects the frames of one session.

    A resent frame may arrive in pieces (same sequence number, later first sample) when
    the MTU shrank after a reconnection; pieces are kept by their first sample index.

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
        self._pieces: dict[int, _Piece] = {}  # first sample -> piece
        self._starts: list[int] = []  # sorted first samples
        self._seqs: dict[int, int] = {}  # seq -> number of pieces held
        self._heads: dict[int, int] = {}  # seq -> its first sample (a piece without CONT came)
        self._tails: dict[int, int] = {}  # seq -> its end sample (a piece without MORE came)
        self.summary: wire.Summary | None = None
        self.rejected: Counter[str] = Counter()
        self.duplicates = 0
        self.out_of_order = 0
        self.max_seq = -1
        self.samples_received = 0
        self._prefix: list[int] = []  # samples from index 0 up to the first hole

    # -- input -----------------------------------------------------------------------

    def feed(self, data: bytes) -> Feed:
        """Take one data-characteristic notification."""
        data = bytes(data)
        try:
            item = wire.decode_notification(data)
        except wire.WireError as exc:
            self.rejected[exc.reason] += 1
            return Feed.REJECTED
        if isinstance(item, wire.Summary):
            if item.session_id != self.session_id:
                self.rejected["wrong_session"] += 1
                return Feed.REJECTED
            return self._take_summary(item)
        if not wire.session_matches(data[0] & 0x0F, item.session_id, self.session_id):
            self.rejected["wrong_session"] += 1
            return Feed.REJECTED
        return self._take_frame(item)

    def _take_summary(self, summary: wire.Summary) -> Feed:
        if self.summary is not None:
            if self.summary == summary:
                self.duplicates += 1
                return Feed.DUPLICATE
            self.rejected["summary_mismatch"] += 1
            return Feed.REJECTED
        if self._starts and (self.max_seq >= summary.frame_count or self._max_stop() > summary.total_samples):
            self.rejected["summary_mismatch"] += 1
            return Feed.REJECTED
        self.summary = summary
        return Feed.SUMMARY

    def _take_frame(self, frame: wire.DataFrame) -> Feed:
        flags = frame.flags
        stop = frame.first_sample + len(frame.samples)
        new = self._uncovered(frame.seq, frame.first_sample, tuple(frame.samples))
        head, tail = self._heads.get(frame.seq), self._tails.get(frame.seq)
        if (new is None or (not flags & wire.FLAG_CONT and head not in (None, frame.first_sample))
                or (not flags & wire.FLAG_MORE and tail not in (None, stop))):
            self.rejected["inconsistent"] += 1
            return Feed.REJECTED
        pieces = [_Piece(frame.seq, a, tuple(frame.samples[a - frame.first_sample : b - frame.first_sample]),
                         a == frame.first_sample and bool(flags & wire.FLAG_LEAD_OFF),
                         a == frame.first_sample and bool(flags & wire.FLAG_GAP)) for a, b in new]
        if not all(self._consistent(p) for p in pieces):
            self.rejected["inconsistent"] += 1
            return Feed.REJECTED
        if not flags & wire.FLAG_CONT:
            self._heads[frame.seq] = frame.first_sample
        if not flags & wire.FLAG_MORE:
            self._tails[frame.seq] = stop
        if not pieces:
            self.duplicates += 1
            return Feed.DUPLICATE
        if frame.seq < self.max_seq:
            self.out_of_order += 1
        for piece in pieces:
            self._pieces[piece.first_sample] = piece
            bisect.insort(self._starts, piece.first_sample)
            self._seqs[piece.seq] = self._seqs.get(piece.seq, 0) + 1
            self.samples_received += len(piece.samples)
        self.max_seq = max(self.max_seq, frame.seq)
        self._advance_prefix()
        return Feed.FRAME

    def _uncovered(self, seq: int, first: int, samples: tuple[int, ...]) -> list[tuple[int, int]] | None:
        """Half-open parts of [first, first + len) not held yet; None if a held overlap disagrees."""
        stop = first + len(samples)
        out: list[tuple[int, int]] = []
        pos = first
        i = max(0, bisect.bisect_right(self._starts, first) - 1)
        while i < len(self._starts) and self._starts[i] < stop:
            held = self._pieces[self._starts[i]]
            i += 1
            if held.stop <= pos:
                continue
            lo, hi = max(held.first_sample, first), min(held.stop, stop)
            if held.seq != seq or held.samples[lo - held.first_sample : hi - held.first_sample] != samples[lo - first : hi - first]:
                return None
            if lo > pos:
                out.append((pos, lo))
            pos = hi
        if pos < stop:
            out.append((pos, stop))
        return out

    def whole(self, seq: int) -> bool:
        """True when frame ``seq`` is held from its first sample to its last."""
        head, tail = self._heads.get(seq), self._tails.get(seq)
        if head is None or tail is None:
            return False
        pos = head
        i = bisect.bisect_left(self._starts, head)
        while pos < tail and i < len(self._starts) and self._starts[i] == pos:
            pos = self._pieces[self._starts[i]].stop
            i += 1
        return pos >= tail

    def _consistent(self, piece: _Piece) -> bool:
        """Pieces must not overlap, and sample order must follow sequence order."""
        i = bisect.bisect_left(self._starts, piece.first_sample)
        if i > 0:
            before = self._pieces[self._starts[i - 1]]
            if before.stop > piece.first_sample or before.seq > piece.seq:
                return False
        if i < len(self._starts):
            after = self._pieces[self._starts[i]]
            if piece.stop > after.first_sample or after.seq < piece.seq:
                return False
        s = self.summary
        return s is None or (piece.seq < s.frame_count and piece.stop <= s.total_samples)

    def _advance_prefix(self) -> None:
        while (piece := self._pieces.get(len(self._prefix))) is not None:
            self._prefix.extend(piece.samples)

    # -- questions -------------------------------------------------------------------

    @property
    def frames_held(self) -> int:
        """Distinct frame sequence numbers held (whole or in part)."""
        return len(self._seqs)

    @property
    def frames_malformed(self) -> int:
        """Notifications rejected as malformed or not belonging to the session."""
        return sum(n for reason, n in self.rejected.items() if reason in MALFORMED_REASONS)

    def missing_seqs(self, frame_count: int | None = None) -> list[tuple[int, int]]:
        """Frame sequence numbers to ask for again, as inclusive ``(first, last)`` ranges.

        A sequence number is missing when no piece of it arrived, or when a hole in the
        sample index follows its last piece while the next frame is already here.

        Parameters
        ----------
        frame_count : int, optional
            Frames the device says it sent (status); defaults to the summary's count, or
            to the highest sequence number seen + 1.
        """
        if frame_count is None:
            frame_count = self.summary.frame_count if self.summary is not None else self.max_seq + 1
        wanted = {seq for seq in range(frame_count) if seq not in self._seqs}
        # held in part (a split resend lost a piece): ask again once later frames are here
        wanted.update(seq for seq in self._seqs if seq < frame_count and (seq < self.max_seq or self.summary is not None)
                      and not self.whole(seq))
        for a, _ in self.sample_gaps():
            if a > 0 and (left := self._piece_ending_at(a)) is not None and left.seq + 1 in self._seqs:
                wanted.add(left.seq)
        out: list[tuple[int, int]] = []
        for seq in sorted(wanted):
            if out and out[-1][1] == seq - 1:
                out[-1] = (out[-1][0], seq)
            else:
                out.append((seq, seq))
        return out

    def _piece_ending_at(self, index: int) -> _Piece | None:
        i = bisect.bisect_left(self._starts, index)
        if i == 0:
            return None
        piece = self._pieces[self._starts[i - 1]]
        return piece if piece.stop == index else None

    def sample_gaps(self, total_samples: int | None = None) -> list[tuple[int, int]]:
        """Half-open ranges of sample indices not covered by any frame held."""
        if total_samples is None:
            total_samples = self.summary.total_samples if self.summary is not None else self._max_stop()
        gaps: list[tuple[int, int]] = []
        pos = 0
        for first in self._starts:
            if first > pos:
                gaps.append((pos, min(first, total_samples)))
            pos = max(pos, self._pieces[first].stop)
        if pos < total_samples:
            gaps.append((pos, total_samples))
        return [g for g in gaps if g[0] < g[1]]

    def _max_stop(self) -> int:
        return self._pieces[self._starts[-1]].stop if self._starts else 0

    @property
    def complete(self) -> bool:
        """Summary received and every frame and sample present."""
        s = self.summary
        return (
            s is not None and len(self._prefix) == s.total_samples and len(self._seqs) == s.frame_count
            and self.max_seq == s.frame_count - 1
        )

    def verified(self) -> bool:
        """True when complete and the samples' CRC-32 equals the summary's."""
        return self.complete and self.summary is not None and wire.samples_crc32(self._prefix) == self.summary.crc32

    @property
    def contiguous_count(self) -> int:
        """Samples from index 0 up to the first missing one."""
        return len(self._prefix)

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
        for piece in self._pieces.values():
            out[piece.first_sample:piece.stop] = piece.samples
        return out, self.sample_gaps(total)

    def lead_off_samples(self) -> list[int]:
        """Sample indices of frames flagged "contact lost just before this frame"."""
        return [first for first in self._starts if self._pieces[first].lead_off]
