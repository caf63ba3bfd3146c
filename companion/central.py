"""The central side of the cardiolink protocol, sans-IO (h11's shape).

:class:`Central` holds everything one recording needs to know about the protocol
(docs/protocol.md): the command sequence (GET_INFO, GET_RATES, START), reply matching,
timeouts and retries with the same bytes, resend credits, the frame assembler, when to
ask again for missing frames, the post-reconnect recovery, and when the recording is
done. It does no I/O and reads no clock: the driver (:mod:`companion.link` over bleak, or
an in-memory device in the tests) feeds it bytes and link events with the time, and
carries out the commands it emits.

Inputs: :meth:`connected`, :meth:`disconnected`, :meth:`data_received`,
:meth:`control_received`, :meth:`status_received`, :meth:`write_failed`, :meth:`tick`.
Outputs: :meth:`next_event` gives :class:`Write` (bytes for the control point),
:class:`ReadStatus`, and the protocol events :class:`Described`, :class:`Started`,
:class:`StatusChanged`, :class:`Finished`, :class:`Failed`.

Example
-------
>>> c = Central(CentralOptions(duration_s=30))
>>> c.connected(now=0.0)
>>> c.next_event()
Write(data=b'\\x01\\x01', opcode=1)
"""

from __future__ import annotations

import dataclasses

from companion.assembler import Feed, FrameAssembler
from companion.recording import ContactEvent, contact_events_from
from companion.resend import ResendPlanner
from firmware import wire

_ACQUIRING = (wire.STATE_WAITING, wire.STATE_RECORDING, wire.STATE_PAUSED)
_DONE = (wire.STATE_COMPLETE, wire.STATE_ABORTED)


@dataclasses.dataclass(frozen=True, slots=True)
class CentralOptions:
    """Protocol timing of one recording (seconds of the driver's clock)."""

    duration_s: int = 30
    fs_hz: int = 0
    command_timeout_s: float = wire.REPLY_TIMEOUT_MS / 1000
    command_attempts: int = wire.REPLY_ATTEMPTS
    resend_timeout_s: float = 1.0
    idle_poll_s: float = 1.0
    finish_timeout_s: float = 10.0
    session_timeout_s: float = 300.0
    max_reconnects: int = 10

    def __post_init__(self) -> None:
        if self.command_timeout_s <= 0 or self.command_attempts < 1 or self.resend_timeout_s <= 0:
            raise ValueError("timeouts must be > 0 and attempts >= 1")


# ---- events out -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Write:
    """Write ``data`` to the control point (with response)."""

    data: bytes
    opcode: int


@dataclasses.dataclass(frozen=True, slots=True)
class ReadStatus:
    """Read the status characteristic and hand the value to :meth:`Central.status_received`."""


@dataclasses.dataclass(frozen=True, slots=True)
class Described:
    """GET_INFO and GET_RATES answered."""

    info: wire.Info
    rates_hz: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Started:
    """The recording session this central follows (``adopted``: found running after a lost reply)."""

    session_id: int
    fs_hz: int
    duration_s: int
    adopted: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class StatusChanged:
    """The device's state changed (for prompts)."""

    status: wire.Status


@dataclasses.dataclass(frozen=True, slots=True)
class Finished:
    """Every frame and the summary are here (verified or not: see the assembler)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Failed:
    """The session cannot go on. ``device_fault``: the device refused or misbehaved."""

    message: str
    device_fault: bool = False


Event = Write | ReadStatus | Described | Started | StatusChanged | Finished | Failed


class Central:
    """Protocol state of one recording; see the module docstring."""

    def __init__(self, options: CentralOptions) -> None:
        self.options = options
        self.info: wire.Info | None = None
        self.rates_hz: tuple[int, ...] = ()
        self.assembler: FrameAssembler | None = None
        self.status: wire.Status | None = None
        self.session_id = 0
        self.fs_hz = 0
        self.expected_samples = 0
        self.reconnects = 0
        self.bad_replies = 0
        self.credits = 0
        self.planner = ResendPlanner(options.resend_timeout_s, wire.RESEND_CREDITS, 0.1)
        self.finished = False
        self.failed: Failed | None = None
        #: the last status seen while acquiring said "paused" (contact lost); stays set when
        #: the session then ends, so a recording stopped or aborted mid-pause ends "lost"
        self.contact_lost = False
        self._events: list[Event] = []
        self._token = 0
        self._pending: tuple[int, bytes] | None = None  # (opcode, bytes) awaiting a reply
        self._pending_deadline = 0.0
        self._attempts = 0
        self._link_up = False
        self._phase = "idle"  # idle, describing, starting, recording
        self._begun_at: float | None = None
        self._last_rx = 0.0
        self._last_poll = 0.0
        self._last_new_frame = 0.0
        self._done_at: float | None = None
        self._state_seen: int | None = None
        self._verify_session = False  # the first status after a reconnection must be ours

    # ---- outputs ----------------------------------------------------------------------
    def next_event(self) -> Event | None:
        """The next command or event, or None when there is nothing to do now."""
        return self._events.pop(0) if self._events else None

    @property
    def link_up(self) -> bool:
        return self._link_up

    # ---- inputs -----------------------------------------------------------------------
    def connected(self, now: float) -> None:
        """Subscribed to the three characteristics (on the first and every later connection)."""
        self._link_up = True
        self._last_rx = self._last_poll = now
        if self._begun_at is None:
            self._begun_at = now
        if self._phase == "idle":
            self._phase = "describing"
            self._command(wire.OP_GET_INFO, now)
            return
        # a reconnection (protocol 8): resends died with the link; read the status, then
        # write to tell the device we listen again (it sends nothing before)
        self.planner.link_lost()
        self._verify_session = True
        self._events.append(ReadStatus())
        if self._pending is not None:
            self._send_pending(now)  # the command in flight is written again
        else:
            self._command(wire.OP_GET_INFO, now)

    def disconnected(self, now: float) -> None:
        """The link dropped; the driver reconnects and calls :meth:`connected` again."""
        if not self._link_up:
            return
        self._link_up = False
        self.reconnects += 1
        if self.reconnects > self.options.max_reconnects:
            self._fail("too many disconnections")

    def write_failed(self, now: float) -> None:
        """The last :class:`Write` raised (link trouble): its timeout decides what happens."""

    def control_received(self, data: bytes, now: float) -> None:
        """A control-point notification (a reply)."""
        try:
            reply = wire.decode_reply(bytes(data))
        except wire.WireError:
            self.bad_replies += 1
            return
        if reply.opcode == wire.OP_RESEND:
            self._resend_reply(reply, now)
            return
        pending = self._pending
        if pending is None or reply.opcode != pending[0] or reply.token != pending[1][1]:
            return  # a late reply to a command already answered
        self._pending = None
        {wire.OP_GET_INFO: self._info_reply, wire.OP_GET_RATES: self._rates_reply,
         wire.OP_START: self._start_reply}.get(reply.opcode, lambda r, n: None)(reply, now)

    def status_received(self, data: bytes, now: float) -> None:
        """A status value (notification or the answer to :class:`ReadStatus`)."""
        try:
            status = wire.decode_status(bytes(data))
        except wire.WireError:
            self.bad_replies += 1
            return
        if self._phase == "starting" and self._adopting:
            if status.state not in _ACQUIRING:
                self._fail("the device is busy and not recording", device=True)
                return
            self._adopt(status, now)
        verify, self._verify_session = self._verify_session, False
        if self.assembler is None or status.session_id != self.session_id & 0xFF:
            if verify and self.assembler is not None:
                self._fail("the device lost the session (restarted?)")
            return
        self.status = status
        self.credits = status.resend_credits
        if status.state in _ACQUIRING:
            self.contact_lost = status.state == wire.STATE_PAUSED
        if status.state != self._state_seen:
            self._state_seen = status.state
            self._events.append(StatusChanged(status))
        if status.state == wire.STATE_IDLE and self.assembler.samples_received == 0:
            self._fail("no finger contact: the device stopped waiting")
        if status.state in _DONE and self._done_at is None:
            self._done_at = now

    def contact_events(self, n_samples: int) -> list[ContactEvent]:
        """Contact lost/regained events of the session so far (``n_samples`` = samples held).

        Each frame flagged ``LEAD_OFF`` is a pause (lost, then regained where the trace
        resumes); the session ends "lost" when the device aborted for lost contact or the
        last status seen while acquiring said paused.
        """
        if self.assembler is None:
            return []
        summary = self.assembler.summary
        lost_at_end = self.contact_lost or (summary is not None and summary.end_reason == wire.END_LEAD_OFF)
        return contact_events_from(self.assembler.lead_off_samples(), n_samples, lost_at_end)

    def data_received(self, data: bytes, now: float) -> Feed:
        """A data-characteristic notification; returns what the assembler did with it."""
        self._last_rx = now
        if self.assembler is None:
            return Feed.REJECTED
        fed = self.assembler.feed(data)
        if fed is Feed.FRAME:
            self._last_new_frame = now
        elif fed is Feed.SUMMARY and self._done_at is None:
            self._done_at = now
        self._check_finished()
        return fed

    def tick(self, now: float) -> None:
        """Time passed: command retries, status polls, resends, the session limits."""
        if self.failed is not None or self.finished:
            return
        if self._begun_at is not None and now - self._begun_at >= self.options.session_timeout_s:
            self._fail("session time limit reached")
            return
        if not self._link_up:
            return
        if self._pending is not None and now >= self._pending_deadline:
            if self._attempts >= self.options.command_attempts:
                self._fail(f"the device did not answer {wire.OPCODE_NAMES.get(self._pending[0], 'a command')}")
                return
            self._send_pending(now)
        if self.assembler is None:
            return
        if now - max(self._last_rx, self._last_poll) >= self.options.idle_poll_s:
            self._last_poll = now
            self._events.append(ReadStatus())
        self._chase_missing(now)
        if self._done_at is not None and now - max(self._done_at, self._last_new_frame) > self.options.finish_timeout_s:
            self._fail("missing frames never arrived")

    # ---- commands -----------------------------------------------------------------------
    def _command(self, opcode: int, now: float, *args: int) -> None:
        self._token = (self._token + 1) & 0xFF
        self._pending = (opcode, wire.encode_command(opcode, self._token, *args))
        self._attempts = 0
        self._send_pending(now)

    def _send_pending(self, now: float) -> None:
        assert self._pending is not None
        self._attempts += 1
        self._pending_deadline = now + self.options.command_timeout_s
        self._events.append(Write(self._pending[1], self._pending[0]))

    def _info_reply(self, reply: wire.Reply, now: float) -> None:
        if self._phase != "describing":
            return  # the GET_INFO that re-arms the link after a reconnection
        if reply.code != wire.OK or not isinstance(reply.fields, wire.Info):
            self._fail(f"GET_INFO refused: {wire.ERROR_NAMES.get(reply.code, reply.code)}", device=True)
            return
        info = reply.fields._replace(gain_counts_per_mv=float(f"{reply.fields.gain_counts_per_mv:.7g}"))
        if not info.gain_counts_per_mv > 0 or info.protocol_version != wire.PROTOCOL_VERSION:
            self._fail(f"unusable device: protocol {info.protocol_version}, gain {info.gain_counts_per_mv}", device=True)
            return
        self.info = info
        self.credits = info.resend_credits
        self._command(wire.OP_GET_RATES, now)

    def _rates_reply(self, reply: wire.Reply, now: float) -> None:
        if reply.code != wire.OK or self.info is None or not isinstance(reply.fields, wire.Rates):
            self._fail(f"GET_RATES refused: {wire.ERROR_NAMES.get(reply.code, reply.code)}", device=True)
            return
        self.rates_hz = tuple(reply.fields.rates_hz)
        self._events.append(Described(self.info, self.rates_hz))
        self._phase = "starting"
        self._adopting = False
        self._command(wire.OP_START, now, self.options.duration_s, self.options.fs_hz)

    _adopting = False

    def _start_reply(self, reply: wire.Reply, now: float) -> None:
        if reply.code == wire.ERR_BUSY:
            # our START may have run with its reply lost on an earlier connection: adopt it
            self._adopting = True
            self._events.append(ReadStatus())
            return
        if reply.code == wire.ERR_BAD_PARAMETER:
            self._fail(f"the device refused {self.options.duration_s} s at {self.options.fs_hz or 'its default'} Hz "
                       f"(it offers {', '.join(map(str, self.rates_hz))} Hz, and a limited buffer)", device=True)
            return
        if reply.code != wire.OK or not isinstance(reply.fields, wire.Started):
            self._fail(f"START refused: {wire.ERROR_NAMES.get(reply.code, reply.code)}", device=True)
            return
        self._begin(reply.fields.session_id, reply.fields.fs_hz, reply.fields.duration_s, False, now)

    def _adopt(self, status: wire.Status, now: float) -> None:
        self._adopting = False
        self._begin(status.session_id, status.fs_hz, self.options.duration_s or 30, True, now)

    def _begin(self, session_id: int, fs_hz: int, duration_s: int, adopted: bool, now: float) -> None:
        if fs_hz <= 0:
            self._fail(f"device reports a sample rate of {fs_hz} Hz", device=True)
            return
        self.session_id, self.fs_hz = session_id, fs_hz
        self.expected_samples = duration_s * fs_hz
        self.assembler = FrameAssembler(session_id)
        self._phase = "recording"
        self._last_new_frame = now
        self._events.append(Started(session_id, fs_hz, duration_s, adopted))

    # ---- resends ----------------------------------------------------------------------
    def _resend_reply(self, reply: wire.Reply, now: float) -> None:
        if reply.code == wire.OK and isinstance(reply.fields, wire.ResendQueued):
            self.planner.accepted(reply.token)
            self.credits = reply.fields.credits
        else:
            self.planner.refused(reply.token, now)
            if reply.code == wire.ERR_NO_CREDIT:
                self.credits = 0

    def _known_frame_count(self, now: float) -> int | None:
        asm = self.assembler
        assert asm is not None
        if asm.summary is not None:
            return None
        known = asm.max_seq + 1
        st = self.status
        if st is not None and st.state in _DONE and now - self._last_rx >= self.options.resend_timeout_s:
            known = max(known, st.frames_sent)
        return known

    def _chase_missing(self, now: float) -> None:
        asm = self.assembler
        assert asm is not None
        known = self._known_frame_count(now)
        ranges = asm.missing_seqs(known)
        st = self.status
        if not ranges and asm.summary is None and known is not None and st is not None and st.state in _DONE \
                and known == st.frames_sent:
            ranges = [(known, known)]  # every frame is here but the summary was lost: ask for it
        for first, last in self.planner.due(ranges, now)[: max(0, self.credits)]:
            self._token = (self._token + 1) & 0xFF
            self.credits -= 1
            self.planner.sent(self._token, (first, last), now)
            self._events.append(Write(wire.encode_command(wire.OP_RESEND, self._token, first, last), wire.OP_RESEND))

    # ---- end ----------------------------------------------------------------------------
    def _check_finished(self) -> None:
        if not self.finished and self.assembler is not None and self.assembler.complete:
            self.finished = True
            self._events.append(Finished())

    def _fail(self, message: str, device: bool = False) -> None:
        if self.failed is None and not self.finished:
            self.failed = Failed(message, device)
            self._events.append(self.failed)
