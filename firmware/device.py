# The device's logic without any I/O (pure; MicroPython and CPython).
#
# Drivers around it: the real radio (firmware/radio.py) or the simulator's Bumble
# server, and a front end (real driver or simulated). Time is counted in samples, so
# the same input always gives the same bytes.
#
# API:
#   dev = Device(front_end=wire.FRONT_END_AD8232, rates_hz=(250, 300, 500), adc_bits=12,
#                gain_counts_per_mv=1365.33, baseline=2048)       # or Device.for_front_end(fe)
#   reply = dev.handle_control(data)       # control-point write -> reply bytes (never raises)
#   dev.feed(samples, lead_off)            # samples (ints) from the front end at dev.fs_hz
#   dev.acquiring                          # True while the front end must run (at dev.fs_hz)
#   dev.next_notification(payload_max)     # next data-characteristic value or None
#                                          #   (resends first, then new frames, then summary)
#   dev.status()                           # status characteristic value
#   dev.status_changed()                   # True once after every state/contact change
#   dev.on_connect() / dev.on_disconnect() # link events: drop queued resends, keep recording;
#                                          #   no data until the central's first write (§8)
#   dev.note_lost(n)                       # the front end lost n samples: flag a gap
#   dev.tick(now_ms)                       # wall-clock liveness (waiting, pause, stall)
#   dev.fault()                            # a driver failed: end the session cleanly

from firmware import wire
from firmware.buffer import Recording
from firmware.session import (
    Session,
    ACQUIRING,
    FINISHED,
    EV_START,
    EV_STOP,
    EV_CONTACT,
    EV_LEAD_OFF,
    EV_FULL,
    EV_LEAD_OFF_TIMEOUT,
    EV_WAIT_TIMEOUT,
    EV_FAULT,
)

FW_VERSION = (0, 2)
STALL_MS = 2000  # acquiring and no samples for this long (wall clock): the front end stalled


class Device:
    """One ECG recorder: session state, recording buffer, framing and resends."""

    def __init__(
        self,
        front_end=wire.FRONT_END_SIMULATED,
        rates_hz=(250, 300, 500),
        adc_bits=12,
        gain_counts_per_mv=1365.33,
        baseline=2048,
        default_fs_hz=300,
        default_duration_s=30,
        capacity_samples=18000,
        settle_ms=500,
        lead_off_abort_ms=5000,
        wait_timeout_ms=60000,
        max_latency_ms=1000,
        first_session_id=1,
        stall_ms=STALL_MS,
    ):
        if default_fs_hz not in rates_hz:
            raise ValueError("default_fs_hz not in rates_hz")
        if not 0 < len(rates_hz) <= wire.MAX_RATES:
            raise ValueError("1 to 8 rates")
        self.front_end = front_end
        self.rates_hz = tuple(rates_hz)
        self.adc_bits = adc_bits
        self.gain_counts_per_mv = gain_counts_per_mv
        self.baseline = baseline
        self.default_fs_hz = default_fs_hz
        self.default_duration_s = default_duration_s
        self.settle_ms = settle_ms
        self.lead_off_abort_ms = lead_off_abort_ms
        self.wait_timeout_ms = wait_timeout_ms
        self.max_latency_ms = max_latency_ms
        self.stall_ms = stall_ms
        self.battery_pct = wire.BATTERY_UNKNOWN
        self.session = Session()
        self.rec = Recording(capacity_samples)
        self.session_id = 0
        # session ids run 1..255 from here; a random start after boot keeps a receiver
        # from taking a new recording for one it saw before a reboot
        self._next_session_id = (first_session_id - 1) % 255 + 1
        self.fs_hz = default_fs_hz
        self.duration_s = default_duration_s
        self.end_reason = wire.END_NONE
        self.crc32 = 0  # of the finished recording
        self.contact = False
        self._run = 0  # samples of unchanged contact state (settle timer)
        self._waited = 0  # samples fed while waiting for contact
        self._paused = 0  # samples fed since the recording paused
        self._resend = []  # queued RESEND ranges: [next seq, last seq, next first sample]
        self._summary_due = False
        self._fill_hint = 0
        self._changed = True
        self._armed = False  # the central wrote on this connection: it is subscribed
        self._last_cmd = None  # (write, reply) of the last control write: retries repeat it
        self._state_ms = None  # wall clock when the state last changed (tick)
        self._fed_ms = None  # wall clock of the last samples fed (tick)
        self._fed = False

    @classmethod
    def for_front_end(cls, fe, **kw):
        """Device described by a front-end driver's attributes (see frontend.py).

        A default_fs_hz the front end does not offer is replaced by its closest rate.
        """
        want = kw.get("default_fs_hz", 300)
        best = fe.RATES_HZ[0]
        for r in fe.RATES_HZ:
            if abs(r - want) < abs(best - want):
                best = r
        kw["default_fs_hz"] = best
        return cls(fe.FRONT_END, fe.RATES_HZ, fe.ADC_BITS, fe.GAIN_COUNTS_PER_MV, fe.BASELINE, **kw)

    # ---- state --------------------------------------------------------------------
    @property
    def state(self):
        return self.session.state

    @property
    def acquiring(self):
        return self.session.state in ACQUIRING

    @property
    def armed(self):
        return self._armed

    def credits(self):
        return wire.RESEND_CREDITS - len(self._resend)

    def status(self):
        return wire.encode_status(
            self.session.state,
            wire.STATUS_CONTACT if self.contact else 0,
            self.battery_pct,
            self.session_id,
            self.rec.n,
            self.rec.frames(),
            self.fs_hz if self.session_id else 0,
            self.end_reason,
            self.credits(),
            self.rec.lost,
        )

    def status_changed(self):
        c = self._changed
        self._changed = False
        return c

    def _fire(self, event):
        if self.session.fire(event):
            self._changed = True
            self._state_ms = None
            return True
        return False

    def on_connect(self):
        self._resend = []
        self._armed = False
        self._last_cmd = None

    def on_disconnect(self):
        self.on_connect()

    # ---- control point ------------------------------------------------------------
    def handle_control(self, data):
        data = bytes(data)
        last = self._last_cmd
        if last is not None and last[0] == data:
            return last[1]  # a retry: same reply, no second action
        self._armed = True
        reply = self._control(data)
        self._last_cmd = (data, reply)
        return reply

    def _control(self, data):
        try:
            op, token, args = wire.decode_command(data)
        except wire.CommandError as e:
            return wire.encode_reply(e.opcode, e.token, e.code)
        if op == wire.OP_GET_INFO:
            return wire.encode_reply(op, token, wire.OK, wire.PROTOCOL_VERSION, FW_VERSION[0], FW_VERSION[1], self.front_end, self.adc_bits, self.gain_counts_per_mv, self.baseline, wire.RESEND_CREDITS, self.rec.capacity)
        if op == wire.OP_GET_RATES:
            return wire.encode_reply(op, token, wire.OK, self.rates_hz)
        if op == wire.OP_START:
            return self._start(token, args[0] or self.default_duration_s, args[1] or self.default_fs_hz)
        if op == wire.OP_STOP:
            if not self.session.can(EV_STOP):
                return wire.encode_reply(op, token, wire.ERR_NOT_RECORDING)
            self._stop(EV_STOP, wire.END_STOPPED)
            return wire.encode_reply(op, token, wire.OK, self.session_id, self.rec.n)
        return self._queue_resend(token, args[0], args[1])

    def _start(self, token, duration_s, fs_hz):
        if not self.session.can(EV_START):
            return wire.encode_reply(wire.OP_START, token, wire.ERR_BUSY)
        if fs_hz not in self.rates_hz or duration_s * fs_hz > self.rec.capacity:
            return wire.encode_reply(wire.OP_START, token, wire.ERR_BAD_PARAMETER)
        self._fire(EV_START)
        self.session_id = self._next_session_id
        self._next_session_id = self.session_id % 255 + 1
        self.fs_hz = fs_hz
        self.duration_s = duration_s
        self.rec.reset(duration_s * fs_hz)
        self.end_reason = wire.END_NONE
        self._run = 0
        self._waited = 0
        self._paused = 0
        self._resend = []
        self._summary_due = False
        self._fill_hint = 0
        self._fed_ms = None
        return wire.encode_reply(wire.OP_START, token, wire.OK, self.session_id, duration_s, fs_hz)

    def _stop(self, event, reason):
        self._fire(event)
        if self.session.state in FINISHED:
            self.end_reason = reason
            self.crc32 = self.rec.crc32()
            self._summary_due = True

    def fault(self):
        """A driver failed (or the front end stalled): end the session, keep what was recorded."""
        if self.session.state == wire.STATE_RECORDING or self.session.state == wire.STATE_PAUSED:
            self._stop(EV_FAULT, wire.END_FAULT)
        else:
            self._fire(EV_FAULT)

    def _queue_resend(self, token, first, last):
        state = self.session.state
        if self.session_id == 0 or state == wire.STATE_WAITING or state == wire.STATE_IDLE:
            return wire.encode_reply(wire.OP_RESEND, token, wire.ERR_NO_RECORDING)
        frames = self.rec.frames()
        # the summary may be asked for as seq == frame count once the recording ended
        top = frames if state in FINISHED else frames - 1
        if first > last or last > top:
            return wire.encode_reply(wire.OP_RESEND, token, wire.ERR_OUT_OF_RANGE)
        if len(self._resend) >= wire.RESEND_CREDITS:
            return wire.encode_reply(wire.OP_RESEND, token, wire.ERR_NO_CREDIT)
        count = last - first + 1
        if last == frames:
            self._summary_due = True
            last -= 1
        if first <= last:
            self._resend.append([first, last, self.rec.frame_first[first]])
            self._changed = True
        return wire.encode_reply(wire.OP_RESEND, token, wire.OK, count, self.credits())

    # ---- samples in ---------------------------------------------------------------
    def feed(self, samples, lead_off=False):
        """Take samples (all with the same contact state) from the front end."""
        n = len(samples)
        if not self.acquiring or n == 0:
            return
        self._fed = True
        if self.contact == lead_off:
            self.contact = not lead_off
            self._run = 0
            self._changed = True
            if lead_off and self._fire(EV_LEAD_OFF):
                self._paused = 0
                self._break(wire.FLAG_LEAD_OFF)
        k = 0
        while k < n and self.acquiring:
            k = self._step(samples, k, n)

    def note_lost(self, n):
        """The front end lost ``n`` samples (overflow, missed ticks): flag the gap, count it."""
        if n <= 0 or not self.acquiring:
            return
        self.rec.lost += n
        self._changed = True
        if self.session.state == wire.STATE_RECORDING:
            self._break(wire.FLAG_GAP)

    def _break(self, flag):
        if not self.rec.mark_break(flag):
            self._stop(EV_FAULT, wire.END_FAULT)  # more breaks than the table holds

    def tick(self, now_ms):
        """Wall-clock liveness (ms from any monotonic clock, e.g. time.ticks_ms()).

        Ends waiting after wait_timeout_ms, a pause after lead_off_abort_ms, and the
        session (fault) when acquiring but no samples came for stall_ms.
        """
        state = self.session.state
        if self._state_ms is None:
            self._state_ms = now_ms
        if self._fed or self._fed_ms is None:
            self._fed = False
            self._fed_ms = now_ms
        if state not in ACQUIRING:
            return
        in_state = now_ms - self._state_ms
        if state == wire.STATE_WAITING and in_state >= self.wait_timeout_ms:
            self._fire(EV_WAIT_TIMEOUT)
        elif state == wire.STATE_PAUSED and in_state >= self.lead_off_abort_ms:
            self._stop(EV_LEAD_OFF_TIMEOUT, wire.END_LEAD_OFF)
        elif now_ms - self._fed_ms >= self.stall_ms:
            self.fault()

    def _step(self, samples, k, n):
        # consumes part of samples[k:n] in the current state; returns the new k
        state = self.session.state
        if state == wire.STATE_RECORDING:
            k += self.rec.append(samples, k, n)
            if self.rec.n >= self.rec.target:
                self._stop(EV_FULL, wire.END_DURATION)
            return k
        per_ms = self.fs_hz / 1000
        if state == wire.STATE_PAUSED:
            self._paused += n - k  # the whole pause counts, brief contacts included
            if self._paused >= self.lead_off_abort_ms * per_ms:
                self._stop(EV_LEAD_OFF_TIMEOUT, wire.END_LEAD_OFF)
                return n
        else:
            self._waited += n - k
            if self._waited >= self.wait_timeout_ms * per_ms:
                self._fire(EV_WAIT_TIMEOUT)
                return n
        if not self.contact:
            return n
        need = int(self.settle_ms * per_ms) - self._run
        if n - k < need:
            self._run += n - k
            return n
        self._run += need
        self._fire(EV_CONTACT)
        return k + max(need, 0)

    # ---- notifications out --------------------------------------------------------
    def next_notification(self, payload_max):
        """Next value for the data characteristic, or None when nothing is due.

        Nothing is sent on a connection before the central's first control write.
        """
        if not self._armed:
            return None
        if self._resend:
            return self._next_resend(payload_max)
        if self.session_id == 0:
            return None
        rec = self.rec
        start = rec.sent_upto()
        finished = self.session.state in FINISHED
        if start < rec.n:
            return self._next_frame(rec, start, finished, payload_max)
        if self._summary_due and finished:
            self._summary_due = False
            return wire.encode_summary(self.session_id, rec.frames(), rec.n, self.crc32, self.end_reason, rec.lost)
        return None

    def _next_frame(self, rec, start, finished, payload_max):
        if rec.index_full():
            rec.n = start  # nothing more can be framed: end with what was sent
            self.fault()
            self.crc32 = rec.crc32()
            return None
        end = rec.segment_end(start)
        closed = finished or end < rec.n or self.session.state == wire.STATE_PAUSED
        avail = end - start
        latency = self.max_latency_ms * self.fs_hz // 1000
        if not closed and avail < self._fill_hint and avail < latency:
            return None  # a frame would not be full yet: wait for more samples
        flags = rec.break_flag(start)
        data, n = wire.encode_frame(self.session_id, rec.frames(), rec.samples, start, end, payload_max, flags)
        if n < avail:
            self._fill_hint = n - (n >> 3)
        elif not closed:
            self._fill_hint = avail + (avail >> 3) + 1
            if avail < latency:
                return None
        rec.add_frame(start, n)
        return data

    def _next_resend(self, payload_max):
        # one frame, or one piece of it if the MTU shrank since (same seq; flags MORE on
        # every piece but the last, CONT on every piece but the first)
        rec = self.rec
        item = self._resend[0]
        seq, last, first = item
        f0, count, flags = rec.frame(seq)
        stop = f0 + count
        if first != f0:
            flags = wire.FLAG_CONT
        data, n = wire.encode_frame(self.session_id, seq, rec.samples, first, stop, payload_max, flags)
        if first + n < stop:
            data = wire.with_flags(data, wire.FLAG_MORE)
            item[2] = first + n
        elif seq < last:
            item[0] = seq + 1
            item[2] = rec.frame_first[seq + 1]
        else:
            self._resend.pop(0)
            self._changed = True  # a resend credit came back: the status says so
        return data
