"""The sans-IO central against the firmware's Device, joined in memory (h11's ConnectionPair).

No Bumble, no event loop: a fault-injecting link between ``companion.central.Central`` and
``firmware.device.Device`` with its own clock. The Bumble tests (test_link_sim.py) keep
the real ATT path; these cover the protocol's fault cases quickly and deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from companion import central as proto
from firmware import wire
from firmware.device import Device

FS = 300


def signal(n: int, seed: int = 1) -> list[int]:
    rnd = random.Random(seed)
    v, out = 2048, []
    for i in range(n):
        v += rnd.randint(-4, 4) + (300 if i % FS == 100 else -300 if i % FS == 104 else 0)
        out.append(v)
    return out


class Pair:
    """A Device and a Central joined by a lossy in-memory link."""

    def __init__(self, dev: Device, central: proto.Central, payload_max: int = 244, loss: float = 0.0,
                 reply_loss: float = 0.0, seed: int = 0) -> None:
        self.dev, self.central = dev, central
        self.payload_max = payload_max
        self.loss, self.reply_loss = loss, reply_loss
        self.rnd = random.Random(seed)
        self.now = 0.0
        self.linked = False
        self.events: list[proto.Event] = []
        self.writes: list[bytes] = []
        self.deaf = False  # the device ignores writes (a hung control point)

    def connect(self, payload_max: int | None = None) -> None:
        if payload_max is not None:
            self.payload_max = payload_max
        self.dev.on_connect()
        self.linked = True
        self.central.connected(self.now)
        self.exchange()

    def drop(self) -> None:
        self.dev.on_disconnect()
        self.linked = False
        self.central.disconnected(self.now)
        self.exchange()

    def exchange(self) -> None:
        for _ in range(10_000):
            busy = False
            while (ev := self.central.next_event()) is not None:
                busy = True
                if isinstance(ev, proto.Write):
                    self.writes.append(ev.data)
                    if self.linked and not self.deaf:
                        reply = self.dev.handle_control(ev.data)
                        if self.rnd.random() >= self.reply_loss:
                            self.central.control_received(reply, self.now)
                elif isinstance(ev, proto.ReadStatus):
                    if self.linked:
                        self.central.status_received(self.dev.status(), self.now)
                else:
                    self.events.append(ev)
            while self.linked and (data := self.dev.next_notification(self.payload_max)) is not None:
                busy = True
                assert len(data) <= self.payload_max
                if self.rnd.random() >= self.loss:
                    self.central.data_received(data, self.now)
            if self.linked and self.dev.status_changed():
                busy = True
                self.central.status_received(self.dev.status(), self.now)
            if not busy:
                return
        raise AssertionError("the pair never went quiet")

    def run(self, sig: list[int], lead_off: Callable[[int], bool] | None = None, chunk: int = 30,
            at: dict[int, Callable[[], None]] | None = None, after_s: float = 30.0) -> None:
        """Feed ``sig`` at FS in chunks (0.1 s apart), then let time pass until done."""
        k = 0
        step = 0
        while self.central.failed is None and not self.central.finished and self.now < 400:
            if at and step in at:
                at[step]()
            if k < len(sig) and self.dev.acquiring:
                self.dev.feed(sig[k : k + chunk], bool(lead_off and lead_off(k)))
                k += chunk
            self.now += chunk / FS
            self.dev.tick(int(self.now * 1000))
            self.exchange()
            self.central.tick(self.now)
            self.exchange()
            step += 1
            if k >= len(sig) and not self.dev.acquiring and after_s <= 0:
                break


def make(duration_s: int = 3, **kw: float) -> proto.Central:
    return proto.Central(proto.CentralOptions(duration_s=duration_s, fs_hz=FS, **kw))


def recorded(pair: Pair) -> list[int]:
    return list(pair.dev.rec.samples[: pair.dev.rec.n])


def assembled(central: proto.Central) -> list[int]:
    assert central.assembler is not None
    samples, gaps = central.assembler.assemble()
    assert gaps == []
    return samples.tolist()


class TestClean:
    @pytest.mark.parametrize("payload_max", [20, 244])
    def test_recording_is_verified_bit_for_bit(self, payload_max: int) -> None:
        pair = Pair(Device(settle_ms=0), make(), payload_max)
        pair.connect()
        pair.run(signal(FS * 4))
        c = pair.central
        assert c.finished and c.failed is None and c.assembler is not None and c.assembler.verified()
        assert assembled(c) == recorded(pair) and len(recorded(pair)) == 3 * FS
        kinds = [type(e).__name__ for e in pair.events]
        assert kinds[:2] == ["Described", "Started"] and "Finished" in kinds and "Failed" not in kinds
        assert c.rates_hz == (250, 300, 500) and c.planner.frames_requested == 0


class TestFaults:
    @pytest.mark.parametrize("seed", range(6))
    def test_loss_disconnects_and_an_mtu_change_mid_resend(self, seed: int) -> None:
        pair = Pair(Device(settle_ms=0), make(10), 244, loss=0.2, reply_loss=0.2, seed=seed)
        pair.connect()
        resending = {"at_drop": 0}

        def last_drop() -> None:  # while resends are under way (20 % loss keeps some in flight)
            resending["at_drop"] = pair.central.planner.frames_requested
            pair.drop()

        at = {30: pair.drop, 35: lambda: pair.connect(20), 60: pair.drop, 62: lambda: pair.connect(244),
              97: last_drop, 98: lambda: pair.connect(20)}
        pair.run(signal(FS * 12, seed), at=at)
        c = pair.central
        assert c.failed is None and c.finished and c.assembler is not None and c.assembler.verified(), c.failed
        assert assembled(c) == recorded(pair) and c.reconnects == 3 and resending["at_drop"] > 0

    def test_a_lost_start_reply_is_retried_with_the_same_bytes(self) -> None:
        dev = Device(settle_ms=0)
        pair = Pair(dev, make(), 244)
        real = dev.handle_control
        lost = {"start": 1}

        def flaky(data: bytes) -> bytes:
            reply = real(data)
            if data[0] == wire.OP_START and lost["start"]:
                lost["start"] -= 1
                return b""  # the reply notification is lost (decoding it fails)
            return reply

        dev.handle_control = flaky  # type: ignore[method-assign]
        pair.connect()
        pair.run(signal(FS * 4))
        starts = [w for w in pair.writes if w[0] == wire.OP_START]
        assert len(starts) == 2 and starts[0] == starts[1]  # same token: a retry
        assert pair.central.finished and dev.session_id == 1 and pair.central.session_id == 1

    def test_intermittent_contact_ends_with_what_was_recorded(self) -> None:
        pair = Pair(Device(settle_ms=500, lead_off_abort_ms=3000), make(20), 244)
        pair.connect()
        # 1.5 s on, then 400 ms on / 200 ms off: never settles again
        pair.run(signal(FS * 25), lead_off=lambda i: i >= 450 and (i - 450) % 180 >= 120)
        c = pair.central
        assert c.finished and c.assembler is not None and c.assembler.verified()
        assert c.assembler.summary is not None and c.assembler.summary.end_reason == wire.END_LEAD_OFF
        assert assembled(c) == recorded(pair) and 0 < len(recorded(pair)) < 20 * FS
        assert any(isinstance(e, proto.StatusChanged) and e.status.state == wire.STATE_PAUSED for e in pair.events)

    def test_contact_lost_and_regained_are_both_recorded_where_the_trace_resumes(self) -> None:
        """Issue 14: each pause is a lost/regained pair at the splice; no "lost" without "regained"."""
        pair = Pair(Device(settle_ms=500, lead_off_abort_ms=3000), make(20), 244)
        pair.connect()
        off = [(900, 1200), (2400, 2700)]  # two 1 s pauses, each followed by a settled contact
        pair.run(signal(FS * 30), lead_off=lambda i: any(a <= i < b for a, b in off))
        c = pair.central
        assert c.finished and c.assembler is not None and c.assembler.verified()
        dev = pair.dev.rec
        splices = [dev.break_at[i] for i in range(dev.nbreaks) if dev.break_flags[i] & wire.FLAG_LEAD_OFF]
        assert len(splices) == 2 and c.assembler.lead_off_samples() == splices
        events = [(e.sample_index, e.kind) for e in c.contact_events(len(recorded(pair)))]
        assert events == [(0, "contact")] + [(i, k) for i in splices for k in ("lost", "regained")]
        assert not c.contact_lost and c.assembler.summary is not None
        assert c.assembler.summary.end_reason == wire.END_DURATION

    def test_a_session_aborted_without_contact_ends_lost(self) -> None:
        pair = Pair(Device(settle_ms=500, lead_off_abort_ms=3000), make(20), 244)
        pair.connect()
        pair.run(signal(FS * 25), lead_off=lambda i: i >= 1500)  # contact never comes back
        c = pair.central
        n = len(recorded(pair))
        assert c.finished and c.assembler is not None and 0 < n < 20 * FS
        events = [(e.sample_index, e.kind) for e in c.contact_events(n)]
        assert events == [(0, "contact"), (n, "lost")]

    def test_a_stalled_front_end_ends_the_session_with_reason_fault(self) -> None:
        pair = Pair(Device(settle_ms=0, stall_ms=2000), make(10), 244)
        pair.connect()
        sig = signal(FS * 2)  # the front end stops after 2 s of a 10 s recording
        pair.run(sig)
        c = pair.central
        assert c.finished and c.assembler is not None and c.assembler.verified()
        assert c.assembler.summary is not None and c.assembler.summary.end_reason == wire.END_FAULT
        assert assembled(c) == recorded(pair) == sig

    def test_a_deaf_device_fails_after_three_attempts(self) -> None:
        pair = Pair(Device(settle_ms=0), make(), 244)
        pair.deaf = True
        pair.connect()
        pair.run([])
        c = pair.central
        assert c.failed is not None and "did not answer GET_INFO" in c.failed.message
        assert pair.writes == [wire.encode_command(wire.OP_GET_INFO, 1)] * 3

    def test_nothing_flows_before_the_first_write_after_a_reconnection(self) -> None:
        dev = Device(settle_ms=0)
        pair = Pair(dev, make(5), 244)
        pair.connect()
        pair.run(signal(FS * 2)[: FS], after_s=0)
        pair.drop()
        dev.feed(signal(FS * 3, 2)[:FS], False)
        dev.on_connect()
        assert dev.next_notification(244) is None  # not yet written: nothing is sent
        pair.linked = True
        pair.central.connected(pair.now)
        pair.exchange()
        assert pair.writes[-1][0] == wire.OP_GET_INFO and dev.armed
