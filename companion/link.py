"""The companion's BLE link: one recording session with a cardiolink device.

:class:`RecordingSession` drives bleak (any backend): find the device, connect with
retries, read its information, START a recording, show contact prompts from the status
characteristic, feed data notifications to the sans-IO :class:`FrameAssembler`, ask for
missing frames (RESEND) during and after the recording, reconnect and resume after a
disconnection, check the summary CRC, and return a :class:`~companion.recording.Recording`.

Example
-------
::

    session = RecordingSession(RadioBackends(), LinkOptions(duration_s=30))
    recording = await session.run()
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import numpy as np
from bleak import BleakClient
from bleak.exc import BleakError

from companion.assembler import Feed, FrameAssembler
from companion.discovery import RadioBackends, connect, find_device, read_device_info
from companion.errors import DeviceProtocolError, LinkError, RecordingAbortedError
from companion.link_options import (
    DONE_STATES,
    END_REASONS,
    PROMPT_RECONNECTING,
    STATE_PROMPTS,
    LinkListener,
    LinkOptions,
)
from companion.recording import CONTACT_LOST, CONTACT_ON, ContactEvent, Recording
from companion.resend import ResendPlanner
from firmware import wire

__all__ = ["RecordingSession", "LinkOptions", "LinkListener", "RadioBackends"]
#: the device grants RESEND_CREDITS queued ranges (docs/protocol.md 5.4); keep two spare
_MAX_RESEND_COMMANDS_PER_TICK = wire.RESEND_CREDITS - 2

log = logging.getLogger(__name__)
T = TypeVar("T")

class RecordingSession:
    """One recording over BLE. Call :meth:`run` once; :meth:`snapshot` any time after START.

    Parameters
    ----------
    backends : RadioBackends
        bleak backends (``RadioBackends()`` = the real radio).
    options : LinkOptions
    listener : LinkListener, optional
    """

    TICK_S = 0.1

    def __init__(self, backends: RadioBackends, options: LinkOptions, listener: LinkListener | None = None) -> None:
        self.backends = backends
        self.options = options
        self.listener = listener or LinkListener()
        self.assembler: FrameAssembler | None = None
        self.device: dict[str, Any] = {}
        self.info: Any = None
        self.rates_hz: tuple[int, ...] = ()
        self.started_at = dt.datetime.now(dt.UTC)
        self.reconnects = 0
        self.status: Any = None
        self.bad_replies = 0
        self._client: BleakClient | None = None
        self._closing: asyncio.Future[None] | None = None
        self._no_contact = False
        #: why the session ended early (None when it completed)
        self.end_message: str | None = None
        #: CPU seconds of this thread spent assembling, checkpointing and reporting
        self.processing_cpu_s = 0.0
        #: ``time.perf_counter()`` when the latest new frame arrived
        self.last_frame_at: float | None = None
        self._ble_device: Any = None
        self._connected = False
        self._session_id = 0
        self._fs_hz = 0.0
        self._expected = 0
        self._tokens = itertools.count(1)
        self._replies: dict[int, asyncio.Future[wire.Reply]] = {}
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._resends = ResendPlanner(options.resend_timeout_s, _MAX_RESEND_COMMANDS_PER_TICK, self.TICK_S)
        self._last_rx = 0.0
        self._done_at: float | None = None
        self._state_shown: int | None = None

    # -- public ----------------------------------------------------------------------

    async def run(self) -> Recording:
        """Record one session and return it (``complete=False`` when cut short).

        Raises
        ------
        DeviceNotFoundError, NotAnEcgDeviceError, LinkError
            Before START: no recording exists yet.
        """
        loop = asyncio.get_running_loop()
        self._ble_device = await find_device(
            self.backends, address=self.options.address, name_prefix=self.options.name_prefix,
            timeout_s=self.options.scan_timeout_s,
        )
        await self._open()
        try:
            self.device = await self._describe()
            self.listener.connected(self.device)
            await self._start()
            deadline = loop.time() + self.options.session_timeout_s
            await self._pump(deadline)
        except RecordingAbortedError as exc:
            log.warning("session cut short: %s", exc)
            self.end_message = str(exc)
        except BaseException:
            await self._close()
            raise
        # disconnect in the background: the recording is ready to be stored now
        self._closing = asyncio.ensure_future(self._close())
        return self.snapshot()

    async def aclose(self) -> None:
        """Wait until the link is closed (``run`` returns before the disconnection ends)."""
        if self._closing is not None:
            await self._closing
        else:
            await self._close()

    def snapshot(self) -> Recording:
        """The recording as it stands (samples received so far, holes filled with the baseline)."""
        asm = self.assembler
        baseline = int(self.info.baseline) if self.info is not None else 0
        gain = float(self.info.gain_counts_per_mv) if self.info is not None else 1.0
        if asm is None:
            return Recording(samples=np.zeros(0, np.int32), sample_rate_hz=self._fs_hz or 1.0, adc_gain_counts_per_mv=gain,
                             baseline_counts=baseline, started_at=self.started_at, device=dict(self.device))
        samples, gaps = asm.assemble(fill=baseline)
        summary = asm.summary
        end_reason = summary.end_reason if summary is not None else None
        expected = summary.total_samples if summary is not None else self._expected
        events = [ContactEvent(0, CONTACT_ON)] + [ContactEvent(i, CONTACT_LOST) for i in asm.lead_off_samples()]
        device = dict(self.device)
        if end_reason is not None:
            device["end_reason"] = END_REASONS.get(end_reason, str(end_reason))
        return Recording(
            samples=samples, sample_rate_hz=self._fs_hz, adc_gain_counts_per_mv=gain, baseline_counts=baseline,
            started_at=self.started_at, device=device, session_id=self._session_id, expected_samples=expected,
            contact_events=events, gaps=gaps,
            complete=asm.complete and end_reason == wire.END_DURATION, verified=asm.verified(),
            frames_resent=self._resends.frames_requested, reconnects=self.reconnects, frames_malformed=asm.frames_malformed,
        )

    # -- connection ------------------------------------------------------------------

    async def _open(self) -> None:
        client = await connect(self._ble_device, self.backends, on_disconnect=self._on_disconnect)
        self._client = client
        self._connected = True
        try:
            await _guard(client.start_notify(wire.CONTROL_CHAR_UUID, self._on_control))
            await _guard(client.start_notify(wire.DATA_CHAR_UUID, self._on_data))
            await _guard(client.start_notify(wire.STATUS_CHAR_UUID, self._on_status))
        except (BleakError, asyncio.TimeoutError) as exc:
            self._connected = False
            raise LinkError(f"cannot subscribe to the ECG characteristics: {exc}") from exc

    def _on_disconnect(self, client: BleakClient) -> None:
        if client is self._client:
            self._connected = False
            self._inbox.put_nowait(("disconnect", b""))

    async def _close(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        if client is not None:
            try:
                await client.disconnect()
            except (BleakError, asyncio.TimeoutError, OSError):
                log.debug("disconnect failed", exc_info=True)

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        if self.reconnects >= self.options.max_reconnects:
            raise RecordingAbortedError("too many disconnections", samples_received=self._received())
        self.reconnects += 1
        self.listener.prompt(PROMPT_RECONNECTING)
        deadline = loop.time() + self.options.reconnect_timeout_s
        while True:
            try:
                await self._open()
                break
            except LinkError as exc:
                if loop.time() >= deadline:
                    raise RecordingAbortedError(f"could not reconnect: {exc}", samples_received=self._received()) from exc
                await asyncio.sleep(0.2)
        log.info("reconnected (%d)", self.reconnects)
        status = await self._read_status()
        if status is not None and status.session_id != self._session_id & 0xFF:
            raise RecordingAbortedError("the device lost the session (restarted?)", samples_received=self._received())
        self._resends.link_lost()
        # the first write on a connection tells the device we are subscribed (protocol 8)
        try:
            await self._command(wire.OP_GET_INFO)
        except LinkError as exc:
            log.debug("GET_INFO after reconnecting: %s", exc)

    def _received(self) -> int:
        return self.assembler.samples_received if self.assembler is not None else 0

    # -- control point ---------------------------------------------------------------

    def _on_control(self, _char: Any, data: bytearray) -> None:
        try:
            reply = wire.decode_reply(bytes(data))
        except wire.WireError as exc:
            self.bad_replies += 1
            log.debug("bad control reply %s: %s", bytes(data).hex(), exc)
            return
        fut = self._replies.pop(reply.token, None)
        if fut is not None and not fut.done():
            fut.set_result(reply)
            return
        if reply.opcode == wire.OP_RESEND:
            if reply.code == wire.OK:
                self._resends.accepted(reply.token)
            elif (asked := self._resends.refused(reply.token, asyncio.get_running_loop().time())) is not None:
                log.debug("RESEND %d..%d refused: %s", asked[0], asked[1], wire.ERROR_NAMES.get(reply.code))

    async def _write(self, opcode: int, token: int, *args: int) -> None:
        if self._client is None:
            raise BleakError("not connected")
        data = wire.encode_command(opcode, token, *args)
        await _guard(self._client.write_gatt_char(wire.CONTROL_CHAR_UUID, data, response=True))

    async def _command(self, opcode: int, *args: int, attempts: int = wire.REPLY_ATTEMPTS) -> wire.Reply:
        """Write a command and wait for its reply; a lost reply is retried with the same bytes
        (same token), which the device answers again without acting twice (protocol 5.5)."""
        loop = asyncio.get_running_loop()
        token = next(self._tokens) & 0xFF
        fut: asyncio.Future[wire.Reply] = loop.create_future()
        self._replies[token] = fut
        try:
            for attempt in range(attempts):
                try:
                    await self._write(opcode, token, *args)
                    return await asyncio.wait_for(asyncio.shield(fut), self.options.command_timeout_s)
                except (asyncio.TimeoutError, BleakError) as exc:
                    log.debug("command 0x%02x attempt %d: %r", opcode, attempt + 1, exc)
        finally:
            self._replies.pop(token, None)
            fut.cancel()
        raise LinkError(f"the device did not answer command 0x{opcode:02x}")

    async def _describe(self) -> dict[str, Any]:
        assert self._client is not None
        reply = await self._command(wire.OP_GET_INFO)
        if reply.code != wire.OK:
            raise DeviceProtocolError(f"GET_INFO refused: {wire.ERROR_NAMES.get(reply.code, reply.code)}")
        # the wire carries the gain as float32: keep the decimal value the device meant
        self.info = reply.fields._replace(gain_counts_per_mv=float(f"{reply.fields.gain_counts_per_mv:.7g}"))
        if not self.info.gain_counts_per_mv > 0:
            raise DeviceProtocolError(f"device reports an ADC gain of {self.info.gain_counts_per_mv}")
        rates = await self._command(wire.OP_GET_RATES)
        if rates.code != wire.OK:
            raise DeviceProtocolError(f"GET_RATES refused: {wire.ERROR_NAMES.get(rates.code, rates.code)}")
        self.rates_hz = tuple(rates.fields.rates_hz)
        device: dict[str, Any] = {
            "name": self._ble_device.name, "address": self._ble_device.address,
            "protocol_version": self.info.protocol_version,
            "firmware": f"{self.info.fw_major}.{self.info.fw_minor}", "front_end": wire.FRONT_END_NAMES.get(self.info.front_end, str(self.info.front_end)),
            "adc_bits": self.info.adc_bits, "rates_hz": list(self.rates_hz),
        }
        device.update(await read_device_info(self._client))
        return device

    async def _start(self) -> None:
        reply = await self._command(wire.OP_START, self.options.duration_s, self.options.fs_hz)
        if reply.code == wire.ERR_BUSY:
            # our START may have been executed with its reply lost: adopt the running session
            status = await self._read_status()
            if status is None or status.state not in (wire.STATE_WAITING, wire.STATE_RECORDING, wire.STATE_PAUSED):
                raise DeviceProtocolError("the device is busy and not recording")
            self._begin(status.session_id, status.fs_hz, self.options.duration_s or 30)
            return
        if reply.code == wire.ERR_BAD_PARAMETER:
            raise DeviceProtocolError(
                f"the device refused {self.options.duration_s} s at {self.options.fs_hz or 'its default'} Hz "
                f"(it offers {', '.join(map(str, self.rates_hz))} Hz, and a limited buffer)"
            )
        if reply.code != wire.OK:
            raise DeviceProtocolError(f"START refused: {wire.ERROR_NAMES.get(reply.code, reply.code)}")
        started = reply.fields
        self._begin(started.session_id, started.fs_hz, started.duration_s)

    def _begin(self, session_id: int, fs_hz: int, duration_s: int) -> None:
        if fs_hz <= 0:
            raise DeviceProtocolError(f"device reports a sample rate of {fs_hz} Hz")
        self._session_id = session_id
        self._fs_hz = float(fs_hz)
        self._expected = int(duration_s * fs_hz)
        self.assembler = FrameAssembler(session_id)
        self._done_at = None
        self._state_shown = None
        self._no_contact = False
        self.started_at = dt.datetime.now(dt.UTC)
        self.listener.started(
            session_id, self._fs_hz, self._expected, float(self.info.gain_counts_per_mv), int(self.info.baseline)
        )
        # data that arrived before START's reply (same loop turn) was queued: it stays valid

    # -- notifications ---------------------------------------------------------------

    def _on_data(self, _char: Any, data: bytearray) -> None:
        self._inbox.put_nowait(("data", bytes(data)))

    def _on_status(self, _char: Any, data: bytearray) -> None:
        self._inbox.put_nowait(("status", bytes(data)))

    async def _read_status(self) -> Any:
        if self._client is None or not self._connected:
            return None
        try:
            raw = bytes(await _guard(self._client.read_gatt_char(wire.STATUS_CHAR_UUID)))
        except (BleakError, asyncio.TimeoutError) as exc:
            log.debug("status read failed: %r", exc)
            return None
        return self._take_status(raw)

    def _take_status(self, raw: bytes) -> Any:
        try:
            status = wire.decode_status(raw)
        except wire.WireError:
            self.bad_replies += 1
            return None
        if self.assembler is None or status.session_id != self._session_id & 0xFF:
            return status  # before START, or another session's status: not ours
        self.status = status
        if status.state == wire.STATE_IDLE and self.assembler.samples_received == 0:
            self._no_contact = True  # the device gave up waiting for the fingers
        if status.state != self._state_shown and status.state in STATE_PROMPTS:
            self.listener.prompt(STATE_PROMPTS[status.state])
        self._state_shown = status.state
        if status.state in DONE_STATES and self._done_at is None:
            self._done_at = asyncio.get_running_loop().time()
        return status

    # -- main loop -------------------------------------------------------------------

    async def _pump(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        asm = self.assembler
        assert asm is not None
        opts = self.options
        self._last_rx = last_poll = last_new_frame = loop.time()
        last_checkpoint = last_progress = 0.0
        while not asm.complete:
            try:
                batch = [await asyncio.wait_for(self._inbox.get(), self.TICK_S)]
            except asyncio.TimeoutError:
                batch = []
            cpu0 = time.thread_time()
            while not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            for kind, data in batch:
                if kind == "data":
                    self._last_rx = loop.time()
                    fed = asm.feed(data)
                    if fed is Feed.FRAME:
                        self.last_frame_at = time.perf_counter()
                        last_new_frame = loop.time()
                    elif fed is Feed.SUMMARY and self._done_at is None:
                        self._done_at = loop.time()
                elif kind == "status":
                    self._take_status(data)
            self.processing_cpu_s += time.thread_time() - cpu0
            now = loop.time()
            if asm.complete:
                break
            if self._no_contact:
                raise RecordingAbortedError("no finger contact: the device stopped waiting", samples_received=0)
            if not self._connected:
                await self._reconnect()
                continue
            if now >= deadline:
                raise RecordingAbortedError("session time limit reached", samples_received=asm.samples_received)
            if now - max(self._last_rx, last_poll) >= opts.idle_poll_s:
                last_poll = now
                await self._read_status()
            await self._chase_missing(now)
            if self._done_at is not None and now - max(self._done_at, last_new_frame) > opts.finish_timeout_s:
                # the device finished and resends stopped bringing anything new
                raise RecordingAbortedError("missing frames never arrived", samples_received=asm.samples_received)
            cpu0 = time.thread_time()
            if now - last_progress >= self.TICK_S:
                last_progress = now
                self.listener.progress(asm, self._expected)
            if now - last_checkpoint >= opts.checkpoint_interval_s:
                last_checkpoint = now
                self.listener.checkpoint(self.snapshot())
            self.processing_cpu_s += time.thread_time() - cpu0
        self.listener.progress(asm, self._expected)

    def _known_frame_count(self, now: float) -> int | None:
        """Frames the device sent, as far as we can tell without guessing at frames in flight."""
        asm = self.assembler
        assert asm is not None
        if asm.summary is not None:
            return None
        known = asm.max_seq + 1
        status = self.status
        if (status is not None and status.state in DONE_STATES and status.session_id == self._session_id & 0xFF
                and now - self._last_rx >= self.options.resend_timeout_s):
            known = max(known, status.frames_sent)
        return known

    async def _chase_missing(self, now: float) -> None:
        """Ask again for missing frames whose last request is older than ``resend_timeout_s``."""
        asm = self.assembler
        assert asm is not None
        known = self._known_frame_count(now)
        ranges = asm.missing_seqs(known)
        status = self.status
        if (not ranges and asm.summary is None and known is not None and status is not None
                and status.state in DONE_STATES and known == status.frames_sent):
            # every frame is here but the summary was lost: RESEND of seq == frame count
            # asks the device to repeat the summary
            ranges = [(known, known)]
        for a, b in self._resends.due(ranges, now):
            if not self._connected:
                return
            token = next(self._tokens) & 0xFF
            try:
                await self._write(wire.OP_RESEND, token, a, b)
            except (BleakError, asyncio.TimeoutError) as exc:
                log.debug("resend request failed: %r", exc)
                return
            self._resends.sent(token, (a, b), now)
            log.debug("asked for frames %d..%d", a, b)


async def _guard(operation: Awaitable[T]) -> T:
    """Await a GATT operation; a cancellation that is not ours means the link dropped under it."""
    try:
        return await operation
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise BleakError("GATT operation cancelled: the link dropped") from None
