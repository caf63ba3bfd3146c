"""A simulated cardiolink device: the firmware's own core driven by simulated parts.

:class:`SimulatedDevice` runs ``firmware.device.Device`` (session table, recording
buffer, framing, resends) unchanged, and drives it the way ``firmware/main.py`` does on
the board: samples from a front end at the recording rate, control-point writes in,
notifications out. Here the front end is :class:`~simulator.frontend.SimulatedFrontEnd`,
time is a :class:`~simulator.frontend.SimClock` (speed factor) and the radio is a
Bumble :class:`~simulator.peripheral.Peripheral`.

Faults (:class:`Faults`) are injected at the radio edge: a seeded fraction of data
frames is dropped (first transmissions only, unless ``drop_resends``), and the device
drops the link when its recording reaches given times. The firmware keeps recording
through a disconnection; frames queued in the radio when the link drops are lost, as
on a real device, and the central gets them back with RESEND.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware import wire
from firmware.device import Device
from simulator.frontend import SimClock, SimulatedFrontEnd
from simulator.peripheral import DEFAULT_MAX_MTU, DeviceIdentity, Peripheral
from simulator.sources import Source

__all__ = ["Faults", "DeviceStats", "SimulatedDevice"]

_log = logging.getLogger(__name__)

#: notifications the driver lets wait in the radio's queue before it stops pulling frames
_TX_QUEUE_LIMIT = 6
#: samples per feed() call (firmware/main.py reads the front end into a 64-sample buffer)
_FEED_CHUNK = 64
#: wall-clock period of the driver loop, s
_TICK_S = 0.005
#: driver-loop ticks between checks that an unconnected device is advertising
_ADVERTISING_CHECK_TICKS = 40
#: simulated period of progress status notifications while acquiring, s
_STATUS_PERIOD_S = 1.0


@dataclass(frozen=True)
class Faults:
    """Faults to inject (all off by default).

    Attributes
    ----------
    drop_fraction : float
        Fraction of data frames not sent (0..1), chosen with ``seed``.
    drop_resends : bool
        Also drop re-sent frames (default: resends always get through).
    disconnect_at_s : tuple of float
        Recording times (s of samples recorded) at which the device drops the link
        (if nobody is connected then, as soon as a central has subscribed again).
    seed : int
        Seed of the drop decisions.
    """

    drop_fraction: float = 0.0
    drop_resends: bool = False
    disconnect_at_s: tuple[float, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_fraction < 1.0:
            raise ValueError("drop_fraction must be in [0, 1)")
        if any(not t >= 0 for t in self.disconnect_at_s):
            raise ValueError("disconnect_at_s must be >= 0")


@dataclass
class DeviceStats:
    """What the simulated device did (for tests and the CLI)."""

    frames_sent: int = 0
    frames_dropped: int = 0
    resends_sent: int = 0
    summaries_sent: int = 0
    disconnects_injected: int = 0
    connections: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)


class SimulatedDevice:
    """Firmware core + simulated front end + clock + Bumble radio.

    Parameters
    ----------
    link
        The virtual link (``simulator.link.VirtualLink``) or a Bumble ``Device``
        on a real HCI transport.
    source : Source
        What the electrodes see.
    identity : DeviceIdentity
        Name, address, Device Information strings.
    speed : float
        Simulated-time speed factor.
    max_mtu : int
        Largest ATT MTU the device accepts (23 forces the minimum).
    faults : Faults
        Faults to inject.
    with_ecg_service : bool
        False gives a look-alike advertising the name without the ECG service.
    name_in_scan_response : bool
        Advertise the name in the scan response (real controllers).
    battery_pct : int
        Battery level reported (0..100).
    on_event : callable, optional
        ``on_event(sim_time_s, text)`` for every notable event (CLI printing).
    core_options : dict, optional
        Keyword arguments for ``firmware.device.Device`` (rates, gain, timeouts).
    """

    def __init__(
        self,
        link: object,
        source: Source,
        *,
        identity: DeviceIdentity | None = None,
        speed: float = 1.0,
        max_mtu: int = DEFAULT_MAX_MTU,
        faults: Faults | None = None,
        with_ecg_service: bool = True,
        name_in_scan_response: bool = False,
        battery_pct: int = 87,
        on_event: Callable[[float, str], None] | None = None,
        core_options: dict[str, object] | None = None,
    ) -> None:
        self.identity = identity or DeviceIdentity()
        self.faults = faults or Faults()
        self.clock = SimClock(speed)
        self.core = Device(**{"front_end": wire.FRONT_END_SIMULATED, **(core_options or {})})  # type: ignore[arg-type]
        self.core.battery_pct = battery_pct
        self.frontend = SimulatedFrontEnd(
            source,
            gain_counts_per_mv=self.core.gain_counts_per_mv,
            baseline=self.core.baseline,
            adc_bits=self.core.adc_bits,
        )
        self.peripheral = Peripheral(
            link,  # type: ignore[arg-type]
            self.identity,
            on_control=self._on_control,
            read_status=self.core.status,
            battery_percent=lambda: self.core.battery_pct,
            max_mtu=max_mtu,
            with_ecg_service=with_ecg_service,
            name_in_scan_response=name_in_scan_response,
        )
        self.peripheral.on_connect = self._on_connect
        self.peripheral.on_disconnect = self._on_disconnect
        self.stats = DeviceStats()
        self._on_event = on_event
        self._rng = random.Random(self.faults.seed)
        self._pending_disconnects = sorted(self.faults.disconnect_at_s)
        self._sent_keys: set[tuple[int, int, int]] = set()
        self._acq_start_s: float | None = None
        self._fed = 0
        self._last_status_s = 0.0
        self._last_state = self.core.state
        self._task: asyncio.Task[None] | None = None
        self._state_changed = asyncio.Event()

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Power on, advertise and start the device loop."""
        self.clock.start()
        await self.peripheral.start()
        self._task = asyncio.create_task(self._run(), name=f"sim-device-{self.identity.name}")
        self._event(f"advertising as {self.identity.name!r} at {self.identity.address}")

    async def stop(self) -> None:
        """Stop the loop and the radio."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.peripheral.stop()

    # ---- what tests look at -----------------------------------------------------------
    @property
    def address(self) -> str:
        """Bluetooth address of the device."""
        return self.identity.address

    @property
    def name(self) -> str:
        """Advertised name."""
        return self.identity.name

    @property
    def state_name(self) -> str:
        """The firmware session state (``idle``, ``recording``, ...)."""
        return wire.STATE_NAMES[self.core.state]

    def recorded_samples(self) -> list[int]:
        """The ADC counts of the current recording, exactly as the firmware stored them."""
        return list(self.core.rec.samples[: self.core.rec.n])

    def recording_time_s(self) -> float:
        """Seconds of signal recorded in the current recording."""
        return self.core.rec.n / self.core.fs_hz if self.core.session_id else 0.0

    async def wait_for_state(self, *states: str, timeout_s: float = 30.0) -> str:
        """Wait (wall-clock ``timeout_s``) until the session is in one of ``states``."""
        async with asyncio.timeout(timeout_s):
            while self.state_name not in states:
                self._state_changed.clear()
                await self._state_changed.wait()
        return self.state_name

    # ---- radio events ---------------------------------------------------------------
    def _event(self, text: str) -> None:
        now_s = self.clock.now_s()
        self.stats.events.append((now_s, text))
        _log.info("[sim %.2f s] %s", now_s, text)
        if self._on_event is not None:
            self._on_event(now_s, text)

    def _on_connect(self) -> None:
        self.core.on_connect()  # no data before the central's first write (protocol 8)
        self.stats.connections += 1
        self._event("central connected")

    def _on_disconnect(self, reason: int) -> None:
        self.core.on_disconnect()
        going_on = "recording continues, " if self.core.acquiring else ""
        self._event(f"link lost (reason 0x{reason:02X}); {going_on}advertising again")

    def _on_control(self, data: bytes) -> None:
        reply = self.core.handle_control(data)
        self._event(f"{_describe_command(data)} -> {_describe_reply(reply)}")
        self.peripheral.notify_control(reply)
        self._after_core_change()

    # ---- the loop -------------------------------------------------------------------
    async def _run(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(_TICK_S)
            ticks += 1
            try:
                if ticks % _ADVERTISING_CHECK_TICKS == 0:
                    self.peripheral.ensure_advertising()
                self._sample()
                await self._inject_disconnects()
                self._pump()
            except Exception:  # noqa: BLE001 - keep the device alive, as a watchdog would
                _log.exception("simulated device loop error")

    def _sample(self) -> None:
        core = self.core
        if not core.acquiring:
            self._acq_start_s = None
            return
        now_s = self.clock.now_s()
        if self._acq_start_s is None:
            self.frontend.set_rate(core.fs_hz)
            self._acq_start_s = now_s
            self._fed = 0
            self._last_status_s = now_s
        due = int((now_s - self._acq_start_s) * core.fs_hz) - self._fed
        if due <= 0:
            return
        for counts, lead_off in self.frontend.read(due):
            # in chunks, as firmware/main.py feeds its 64-sample buffer, so that every
            # state change is seen even when the loop was late
            for start in range(0, len(counts), _FEED_CHUNK):
                core.feed(counts[start : start + _FEED_CHUNK], lead_off)
                self._after_core_change()
        self._fed += due
        if now_s - self._last_status_s >= _STATUS_PERIOD_S and self.peripheral.connected:
            self._last_status_s = now_s
            self.peripheral.notify_status(core.status())
        self._after_core_change()

    def _after_core_change(self) -> None:
        if self.core.state != self._last_state:
            self._last_state = self.core.state
            self._event(f"state {self.state_name} ({self.core.rec.n} samples recorded)")
            self._state_changed.set()
        if self.core.status_changed() and self.peripheral.connected:
            self.peripheral.notify_status(self.core.status())

    async def _inject_disconnects(self) -> None:
        # a time reached while nobody is connected fires at the next connection
        if not self._pending_disconnects or not self.core.session_id or not self.peripheral.data_subscribed:
            return
        if self.recording_time_s() >= self._pending_disconnects[0]:
            at_s = self._pending_disconnects.pop(0)
            self.stats.disconnects_injected += 1
            self._event(f"fault: dropping the link at {at_s:g} s of recording")
            await self.peripheral.disconnect()

    def _pump(self) -> None:
        peripheral = self.peripheral
        if not (peripheral.connected and peripheral.data_subscribed):
            return
        while peripheral.tx_backlog < _TX_QUEUE_LIMIT:
            value = self.core.next_notification(peripheral.mtu - wire.ATT_HEADER_BYTES)
            if value is None:
                return
            if value[0] & 0x0F == wire.KIND_SUMMARY:
                self.stats.summaries_sent += 1
                peripheral.notify_data(value)
                continue
            if self._drop(value):
                self.stats.frames_dropped += 1
                continue
            peripheral.notify_data(value)

    def _drop(self, frame: bytes) -> bool:
        # key: (session, seq, first sample) -- a resend repeats it
        _, session_id, seq, first_sample, _flags, _count, _ = wire.frame_header(frame)
        key = (session_id, seq, first_sample)
        is_resend = key in self._sent_keys
        self._sent_keys.add(key)
        if is_resend:
            self.stats.resends_sent += 1
        else:
            self.stats.frames_sent += 1
        if is_resend and not self.faults.drop_resends:
            return False
        return self.faults.drop_fraction > 0 and self._rng.random() < self.faults.drop_fraction


_OP_NAMES = wire.OPCODE_NAMES


def _describe_command(data: bytes) -> str:
    try:
        opcode, _token, args = wire.decode_command(data)
    except wire.WireError:
        return f"malformed command {data.hex()}"
    if opcode == wire.OP_START:
        return f"START {args[0] or 'default'} s at {args[1] or 'default'} Hz"
    if opcode == wire.OP_RESEND:
        return f"RESEND frames {args[0]}..{args[1]}"
    return _OP_NAMES.get(opcode, f"opcode 0x{opcode:02x}")


def _describe_reply(reply: bytes) -> str:
    try:
        decoded = wire.decode_reply(reply)
    except wire.WireError:
        return f"reply {reply.hex()}"
    return wire.ERROR_NAMES.get(decoded.code, f"code {decoded.code}")
