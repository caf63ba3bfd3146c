# Device logic (session table, buffer, framing, resends, bad input).
# Runs under CPython (pytest) and MicroPython (tests/firmware/mp_run.py): keep it plain.
from firmware import wire
from firmware.device import Device
from firmware.session import TRANSITIONS, Session, EV_START, EV_STOP, EV_FULL

FS = 300


def _signal(n, seed=1):
    # deterministic ECG-like integers around the AD8232 baseline
    out = []
    v = 2048
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v += (x >> 16) % 9 - 4
        if i % FS == 100:
            v += 400
        elif i % FS == 104:
            v -= 400
        out.append(v)
    return out


class Central:
    """The receiving side, as a companion would do it, joined to a Device in memory."""

    def __init__(self, dev, payload_max=244):
        self.dev = dev
        self.payload_max = payload_max
        self.samples = {}
        self.frames = {}  # seq -> raw bytes (first time seen)
        self.summary = None
        self.token = 0
        self.lost = set()  # seqs to drop on first delivery

    def command(self, op, *args):
        self.token = (self.token + 1) & 0xFF
        r = wire.decode_reply(self.dev.handle_control(wire.encode_command(op, self.token, *args)))
        assert r.token == self.token and r.opcode == op
        return r

    def pump(self):
        got = []
        while True:
            data = self.dev.next_notification(self.payload_max)
            if data is None:
                return got
            assert len(data) <= self.payload_max
            got.append(data)
            x = wire.decode_notification(data)
            if isinstance(x, wire.Summary):
                self.summary = x
                continue
            if x.seq in self.lost:
                self.lost.discard(x.seq)
                continue
            self.frames.setdefault(x.seq, data)
            for j in range(len(x.samples)):
                self.samples[x.first_sample + j] = x.samples[j]

    def run(self, sig, lead_off=None, chunk=25):
        # feeds sig in chunks (lead_off: function(index) -> bool) and pumps after each
        i = 0
        while i < len(sig) and self.dev.acquiring:
            off = lead_off(i) if lead_off else False
            self.dev.feed(sig[i : i + chunk], off)
            i += chunk
            self.pump()
        return i

    def ordered(self):
        return [self.samples[k] for k in range(len(self.samples))]


def _recorded(duration_s=2, payload_max=244, **kw):
    dev = Device(**kw)
    c = Central(dev, payload_max)
    r = c.command(wire.OP_START, duration_s, FS)
    assert r.code == wire.OK
    sig = _signal(FS * (duration_s + 2))
    c.run(sig)
    return dev, c, sig


class TestSession:
    def test_table_drives_states(self):
        s = Session()
        assert s.fire(EV_START) and s.state == wire.STATE_WAITING
        assert not s.fire(EV_FULL) and s.state == wire.STATE_WAITING
        assert s.fire(EV_STOP) and s.state == wire.STATE_IDLE

    def test_every_transition_lands_on_a_known_state(self):
        for (src, ev), dst in TRANSITIONS.items():
            assert 0 <= src < len(wire.STATE_NAMES) and 0 <= dst < len(wire.STATE_NAMES)


class TestRecording:
    def test_full_recording_bit_for_bit(self):
        for payload_max in (20, 244):
            dev, c, sig = _recorded(2, payload_max)
            settle = FS // 2
            assert dev.state == wire.STATE_COMPLETE
            assert c.ordered() == sig[settle : settle + 2 * FS]
            s = c.summary
            assert s.total_samples == 2 * FS and s.end_reason == wire.END_DURATION
            assert s.crc32 == wire.samples_crc32(c.ordered())
            assert s.frame_count == len(c.frames) == dev.rec.frames() and s.lost_samples == 0
            for seq in range(s.frame_count):
                assert wire.decode_frame(c.frames[seq]).flags == 0

    def test_status_reports_progress(self):
        dev, c, _ = _recorded(1)
        st = wire.decode_status(dev.status())
        assert st.state == wire.STATE_COMPLETE and st.samples_recorded == FS
        assert st.frames_sent == c.summary.frame_count and st.fs_hz == FS
        assert st.flags & wire.STATUS_CONTACT and st.end_reason == wire.END_DURATION

    def test_frames_wait_to_fill_but_not_longer_than_latency(self):
        dev = Device()
        c = Central(dev, 244)
        c.command(wire.OP_START, 10, FS)
        sig = _signal(FS * 4)
        c.run(sig[: FS // 2 + 10])  # settle + a few samples: no frame yet
        assert c.frames == {}
        c.run(sig[FS // 2 + 10 : FS * 3])
        assert len(c.frames) >= 2
        assert len(c.samples) >= FS * 3 - FS // 2 - FS  # at most ~1 s behind

    def test_session_ids_wrap_and_can_start_anywhere(self):
        for first, expected in ((1, [1, 2]), (255, [255, 1]), (0, [255, 1]), (300, [45, 46])):
            c = Central(Device(first_session_id=first))
            got = [c.command(wire.OP_START, 1, FS).fields.session_id]
            c.command(wire.OP_STOP)
            got.append(c.command(wire.OP_START, 1, FS).fields.session_id)
            assert got == expected, (first, got)

    def test_restart_drops_old_recording(self):
        dev, c, _ = _recorded(1)
        r = c.command(wire.OP_START, 1, 250)
        assert r.code == wire.OK and r.fields.session_id == 2 and r.fields.fs_hz == 250
        assert dev.rec.n == 0 and dev.rec.frames() == 0


class TestLeadOff:
    def test_pause_flags_discontinuity(self):
        dev = Device()
        c = Central(dev, 244)
        c.command(wire.OP_START, 2, FS)
        sig = _signal(FS * 6)
        off = lambda i: FS <= i < FS + 150  # 0.5 s without contact after 0.5 s recording
        c.run(sig, off)
        assert dev.state == wire.STATE_COMPLETE
        got = c.ordered()
        assert len(got) == 2 * FS
        # recorded: [150, 300) then, after 0.5 s of settling, from 450+150 = 600 on
        assert got[:150] == sig[150:300] and got[150:] == sig[600 : 600 + 2 * FS - 150]
        starts = [wire.decode_frame(f) for f in c.frames.values()]
        flagged = [f.first_sample for f in starts if f.flags & wire.FLAG_LEAD_OFF]
        assert flagged == [150]
        for f in starts:  # no frame straddles the break
            assert not (f.first_sample < 150 < f.first_sample + len(f.samples))

    def test_long_lead_off_aborts_and_keeps_samples(self):
        dev = Device(lead_off_abort_ms=2000)
        c = Central(dev, 244)
        c.command(wire.OP_START, 10, FS)
        sig = _signal(FS * 10)
        c.run(sig, lambda i: i >= FS)
        assert dev.state == wire.STATE_ABORTED
        assert c.summary.end_reason == wire.END_LEAD_OFF
        assert c.ordered() == sig[150:300] and c.summary.total_samples == 150
        assert c.summary.crc32 == wire.samples_crc32(sig[150:300])
        assert c.command(wire.OP_RESEND, 0, 0).code == wire.OK

    def test_no_contact_times_out_to_idle(self):
        dev = Device(wait_timeout_ms=1000)
        c = Central(dev)
        c.command(wire.OP_START, 2, FS)
        c.run(_signal(FS * 2), lambda i: True)
        assert dev.state == wire.STATE_IDLE and not dev.acquiring
        assert c.command(wire.OP_RESEND, 0, 0).code == wire.ERR_NO_RECORDING


class TestResend:
    def test_resent_frames_are_identical(self):
        dev, c, _ = _recorded(2, 20)
        n = c.summary.frame_count
        r = c.command(wire.OP_RESEND, 3, n - 1)
        assert r.code == wire.OK and r.fields.frame_count == n - 3
        again = c.pump()
        assert again == [c.frames[s] for s in range(3, n)]

    def test_summary_resend_as_seq_frame_count(self):
        dev, c, _ = _recorded(1)
        n = c.summary.frame_count
        assert c.command(wire.OP_RESEND, n, n).code == wire.OK
        out = c.pump()
        assert len(out) == 1 and wire.decode_summary(out[0]) == c.summary

    def test_lost_frames_recovered_during_recording(self):
        dev = Device()
        c = Central(dev, 20)
        c.lost = set([2, 5, 6])
        c.command(wire.OP_START, 2, FS)
        sig = _signal(FS * 4)
        i = c.run(sig[: 2 * FS])
        assert dev.state == wire.STATE_RECORDING and dev.rec.frames() > 7
        assert c.command(wire.OP_RESEND, 2, 2).code == wire.OK
        assert c.command(wire.OP_RESEND, 5, 6).code == wire.OK
        c.run(sig[i:])
        assert c.ordered() == sig[150 : 150 + 2 * FS]
        assert c.summary.crc32 == wire.samples_crc32(c.ordered())

    def test_smaller_mtu_splits_a_resent_frame_keeping_its_seq(self):
        dev, c, sig = _recorded(2, 244)
        c.payload_max = 20
        c.samples = {}
        assert c.command(wire.OP_RESEND, 0, 0).code == wire.OK
        parts = [wire.decode_frame(b) for b in c.pump()]
        first = wire.decode_frame(c.frames[0])
        assert len(parts) > 1 and set(p.seq for p in parts) == set([0])
        joined = []
        for k, p in enumerate(parts):
            assert p.first_sample == first.first_sample + len(joined)
            assert bool(p.flags & wire.FLAG_MORE) == (k < len(parts) - 1)
            assert bool(p.flags & wire.FLAG_CONT) == (k > 0)
            joined += p.samples
        assert joined == first.samples


class TestBadInput:
    def _busy_device(self):
        dev = Device()
        c = Central(dev, 20)
        c.command(wire.OP_START, 3, FS)
        sig = _signal(FS * 5)
        i = c.run(sig[: FS * 2])
        assert dev.state == wire.STATE_RECORDING
        return dev, c, sig, i

    def test_malformed_writes_get_error_replies_and_keep_recording(self):
        dev, c, sig, i = self._busy_device()
        before = (dev.rec.n, dev.rec.crc32(), dev.session_id)
        cases = [
            (b"", wire.ERR_BAD_LENGTH),
            (b"\x02", wire.ERR_BAD_LENGTH),
            (b"\x7f\x01", wire.ERR_UNKNOWN_OPCODE),
            (b"\x00\x01", wire.ERR_UNKNOWN_OPCODE),
            (b"\x02\x01\x1e\x00", wire.ERR_BAD_LENGTH),
            (b"\x04\x01\x00\x00\x00", wire.ERR_BAD_LENGTH),
            (wire.encode_command(wire.OP_START, 9, 30, FS), wire.ERR_BUSY),
            (wire.encode_command(wire.OP_RESEND, 9, 0, 60000), wire.ERR_OUT_OF_RANGE),
            (wire.encode_command(wire.OP_RESEND, 9, 5, 4), wire.ERR_OUT_OF_RANGE),
            (bytes(range(200)), wire.ERR_UNKNOWN_OPCODE),
        ]
        for data, code in cases:
            r = wire.decode_reply(dev.handle_control(data))
            assert r.code == code, (data, r)
        assert (dev.rec.n, dev.rec.crc32(), dev.session_id) == before
        assert dev.state == wire.STATE_RECORDING
        c.run(sig[i:])
        assert c.ordered() == sig[150 : 150 + 3 * FS]
        assert c.summary.crc32 == wire.samples_crc32(c.ordered())

    def test_bad_start_parameters(self):
        c = Central(Device())
        assert c.command(wire.OP_START, 30, 301).code == wire.ERR_BAD_PARAMETER
        assert c.command(wire.OP_START, 600, 500).code == wire.ERR_BAD_PARAMETER
        assert c.command(wire.OP_STOP).code == wire.ERR_NOT_RECORDING
        assert c.command(wire.OP_RESEND, 0, 0).code == wire.ERR_NO_RECORDING
        r = c.command(wire.OP_START, 0, 0)
        assert r.code == wire.OK and (r.fields.duration_s, r.fields.fs_hz) == (30, 300)

    def test_resend_credits_run_out_and_come_back(self):
        dev, c, sig, i = self._busy_device()
        replies = [wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_RESEND, k, 0, 1))) for k in range(12)]
        assert [r.code for r in replies] == [wire.OK] * 8 + [wire.ERR_NO_CREDIT] * 4
        assert [r.fields.credits for r in replies[:8]] == [7, 6, 5, 4, 3, 2, 1, 0]
        assert wire.decode_status(dev.status()).resend_credits == 0
        dev.status_changed()
        c.pump()
        assert dev.status_changed() and wire.decode_status(dev.status()).resend_credits == 8
        assert c.command(wire.OP_RESEND, 0, 0).fields.credits == 7

    def test_disconnect_mid_recording_does_not_stop_it(self):
        dev, c, sig, i = self._busy_device()
        dev.on_disconnect()
        k = i
        while k < len(sig) and dev.acquiring:  # nobody pulls notifications meanwhile
            dev.feed(sig[k : k + 25], False)
            k += 25
        assert dev.state == wire.STATE_COMPLETE
        dev.on_connect()
        assert c.pump() == []  # reconnected but not yet subscribed: nothing is sent
        c.command(wire.OP_GET_INFO)  # the central's first write after subscribing
        c.pump()  # the rest streams, then the summary
        assert c.ordered() == sig[150 : 150 + 3 * FS]
        assert c.summary.crc32 == wire.samples_crc32(c.ordered())

    def test_stop_mid_recording_completes_with_reason(self):
        dev, c, sig, i = self._busy_device()
        r = c.command(wire.OP_STOP)
        assert r.code == wire.OK and r.fields.total_samples == dev.rec.n
        c.pump()
        assert dev.state == wire.STATE_COMPLETE and c.summary.end_reason == wire.END_STOPPED
        assert c.ordered() == sig[150 : 150 + dev.rec.n]
        dev.feed(sig[:10], False)  # late samples after the end are ignored
        assert dev.rec.n == r.fields.total_samples


class TestV2:
    def test_a_retried_write_gets_the_same_reply_and_acts_once(self):
        dev = Device()
        start = wire.encode_command(wire.OP_START, 5, 2, FS)
        first = dev.handle_control(start)
        assert dev.handle_control(start) == first and dev.session_id == 1
        again = wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_START, 6, 2, FS)))
        assert again.code == wire.ERR_BUSY
        dev.on_disconnect()  # a retry on a new connection is a new command
        assert wire.decode_reply(dev.handle_control(start)).code == wire.ERR_BUSY

    def test_rates_come_from_get_rates(self):
        c = Central(Device(rates_hz=(125, 128, 250, 256, 300, 360, 500, 512)))
        r = c.command(wire.OP_GET_RATES)
        assert r.fields.rates_hz == (125, 128, 250, 256, 300, 360, 500, 512)
        info = c.command(wire.OP_GET_INFO).fields
        assert info.protocol_version == 2 and info.resend_credits == 8 and info.max_samples == 18000

    def test_intermittent_contact_aborts_after_the_pause_limit(self):
        dev = Device(lead_off_abort_ms=3000)
        c = Central(dev, 244)
        c.command(wire.OP_START, 20, FS)
        sig = _signal(FS * 20)
        # 1 s of contact, then 400 ms on / 200 ms off: never settles (500 ms) again
        c.run(sig, lambda i: i >= FS and (i - FS) % 180 >= 120, chunk=30)
        assert dev.state == wire.STATE_ABORTED and c.summary.end_reason == wire.END_LEAD_OFF

    def test_wall_clock_ends_waiting_and_a_stalled_front_end(self):
        dev = Device(wait_timeout_ms=1000)
        dev.handle_control(wire.encode_command(wire.OP_START, 1, 2, FS))
        dev.tick(0)
        dev.tick(999)
        assert dev.state == wire.STATE_WAITING
        dev.tick(1000)  # no samples at all: the timeout still fires
        assert dev.state == wire.STATE_IDLE
        dev = Device(settle_ms=0, stall_ms=500)
        c = Central(dev)
        c.command(wire.OP_START, 2, FS)
        dev.tick(0)
        c.run(_signal(100))
        dev.tick(100)
        assert dev.state == wire.STATE_RECORDING
        dev.tick(700)  # the front end stopped delivering
        c.pump()
        assert dev.state == wire.STATE_ABORTED and c.summary.end_reason == wire.END_FAULT
        assert c.ordered() == _signal(100) and c.summary.crc32 == wire.samples_crc32(_signal(100))

    def test_lost_samples_flag_a_gap_and_are_counted(self):
        dev = Device(settle_ms=0)
        c = Central(dev, 20)
        c.command(wire.OP_START, 1, FS)
        sig = _signal(FS)
        c.run(sig[:100])
        dev.note_lost(7)
        c.run(sig[100:])
        frames = [wire.decode_frame(f) for f in c.frames.values()]
        assert [f.first_sample for f in frames if f.flags & wire.FLAG_GAP] == [100]
        assert c.summary.lost_samples == 7 and wire.decode_status(dev.status()).lost_samples == 7
        assert c.ordered() == sig

    def test_fault_ends_the_session_cleanly(self):
        dev, c, sig, i = TestBadInput()._busy_device()
        dev.fault()
        c.pump()
        assert dev.state == wire.STATE_ABORTED and c.summary.end_reason == wire.END_FAULT
        assert c.ordered() == sig[150 : 150 + dev.rec.n]
        assert c.command(wire.OP_START, 1, FS).code == wire.OK  # a new session can start
