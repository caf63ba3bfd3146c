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
#   dev.on_disconnect()                    # link lost: drop queued resends, keep recording

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
)

FW_VERSION = (0, 1)
_MAX_RESEND_RANGES = 8  # queued RESEND commands; more get ERR_BUSY


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
    ):
        if default_fs_hz not in rates_hz:
            raise ValueError("default_fs_hz not in rates_hz")
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
        self._run = 0  # samples of unchanged contact state (settle / lead-off timer)
        self._waited = 0  # samples fed while waiting for contact
        self._resend = []  # queued RESEND ranges: [next seq, last seq, next first sample]
        self._summary_due = False
        self._fill_hint = 0
        self._changed = True

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
        )

    def status_changed(self):
        c = self._changed
        self._changed = False
        return c

    def _fire(self, event):
        if self.session.fire(event):
            self._changed = True
            return True
        return False

    def on_disconnect(self):
        self._resend = []

    # ---- control point ------------------------------------------------------------
    def handle_control(self, data):
        try:
            op, token, args = wire.decode_command(data)
        except wire.CommandError as e:
            return wire.encode_reply(e.opcode, e.token, e.code)
        if op == wire.OP_GET_INFO:
            return wire.encode_reply(op, token, wire.OK, wire.PROTOCOL_VERSION, FW_VERSION[0], FW_VERSION[1], self.front_end, self.adc_bits, self.gain_counts_per_mv, self.baseline, self.rates_hz)
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
        self._resend = []
        self._summary_due = False
        self._fill_hint = 0
        return wire.encode_reply(wire.OP_START, token, wire.OK, self.session_id, duration_s, fs_hz)

    def _stop(self, event, reason):
        self._fire(event)
        if self.session.state in FINISHED:
            self.end_reason = reason
            self.crc32 = self.rec.crc32()
            self._summary_due = True

    def _queue_resend(self, token, first, last):
        state = self.session.state
        if self.session_id == 0 or state == wire.STATE_WAITING or state == wire.STATE_IDLE:
            return wire.encode_reply(wire.OP_RESEND, token, wire.ERR_NO_RECORDING)
        frames = self.rec.frames()
        # the summary may be asked for as seq == frame count once the recording ended
        top = frames if state in FINISHED else frames - 1
        if first > last or last > top:
            return wire.encode_reply(wire.OP_RESEND, token, wire.ERR_OUT_OF_RANGE)
        if len(self._resend) >= _MAX_RESEND_RANGES:
            return wire.encode_reply(wire.OP_RESEND, token, wire.ERR_BUSY)
        count = last - first + 1
        if last == frames:
            self._summary_due = True
            last -= 1
        if first <= last:
            self._resend.append([first, last, self.rec.frame_first[first]])
        return wire.encode_reply(wire.OP_RESEND, token, wire.OK, count)

    # ---- samples in ---------------------------------------------------------------
    def feed(self, samples, lead_off=False):
        """Take samples (all with the same contact state) from the front end."""
        n = len(samples)
        if not self.acquiring or n == 0:
            return
        if self.contact == lead_off:
            self.contact = not lead_off
            self._run = 0
            self._changed = True
            if lead_off and self._fire(EV_LEAD_OFF):
                self.rec.mark_break()
        k = 0
        while k < n and self.acquiring:
            k = self._step(samples, k, n)

    def _step(self, samples, k, n):
        # consumes part of samples[k:n] in the current state; returns the new k
        state = self.session.state
        if state == wire.STATE_RECORDING:
            k += self.rec.append(samples, k, n)
            if self.rec.n >= self.rec.target:
                self._stop(EV_FULL, wire.END_DURATION)
            return k
        per_ms = self.fs_hz / 1000
        if not self.contact:
            limit = self.lead_off_abort_ms if state == wire.STATE_PAUSED else self.wait_timeout_ms
            if state == wire.STATE_WAITING:
                self._waited += n - k
                used = self._waited
            else:
                self._run += n - k
                used = self._run
            if used >= limit * per_ms:
                if state == wire.STATE_PAUSED:
                    self._stop(EV_LEAD_OFF_TIMEOUT, wire.END_LEAD_OFF)
                else:
                    self._fire(EV_WAIT_TIMEOUT)
            return n
        need = int(self.settle_ms * per_ms) - self._run
        if n - k < need:
            self._run += n - k
            if state == wire.STATE_WAITING:
                self._waited += n - k
            return n
        self._run += need
        self._fire(EV_CONTACT)
        return k + max(need, 0)

    # ---- notifications out --------------------------------------------------------
    def next_notification(self, payload_max):
        """Next value for the data characteristic, or None when nothing is due."""
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
            return wire.encode_summary(self.session_id, rec.frames(), rec.n, self.crc32, self.end_reason)
        return None

    def _next_frame(self, rec, start, finished, payload_max):
        end = rec.segment_end(start)
        closed = finished or end < rec.n or self.session.state == wire.STATE_PAUSED
        avail = end - start
        latency = self.max_latency_ms * self.fs_hz // 1000
        if not closed and avail < self._fill_hint and avail < latency:
            return None  # a frame would not be full yet: wait for more samples
        flags = wire.FLAG_LEAD_OFF if rec.is_break(start) else 0
        if finished and end == rec.n:
            flags |= wire.FLAG_LAST
        data, n = wire.encode_frame(self.session_id, rec.frames(), rec.samples, start, end, payload_max, 0)
        if n < avail:
            self._fill_hint = n - (n >> 3)
            flags &= ~wire.FLAG_LAST  # only the frame holding the final sample is last
        elif not closed:
            self._fill_hint = avail + (avail >> 3) + 1
            if avail < latency:
                return None
        rec.add_frame(start, n, flags)
        return _with_flags(data, flags)

    def _next_resend(self, payload_max):
        # one frame (or, if the MTU shrank since, one piece of it: same seq, later first)
        rec = self.rec
        item = self._resend[0]
        seq, last, first = item
        f0, count, flags = rec.frame(seq)
        stop = f0 + count
        if first != f0:
            flags &= ~wire.FLAG_LEAD_OFF
        data, n = wire.encode_frame(self.session_id, seq, rec.samples, first, stop, payload_max, 0)
        if first + n < stop:
            flags &= ~wire.FLAG_LAST
            item[2] = first + n
        elif seq < last:
            item[0] = seq + 1
            item[2] = rec.frame_first[seq + 1]
        else:
            self._resend.pop(0)
        return _with_flags(data, flags)


def _with_flags(frame, flags):
    # sets the flag bits of an encoded frame (they do not change the packing)
    if not flags:
        return frame
    b = bytearray(frame)
    b[9] |= flags >> 8
    return bytes(b)
