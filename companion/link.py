"""The companion's BLE link: the bleak driver around the sans-IO :class:`~companion.central.Central`.

:class:`RecordingSession` does the I/O only: find the device, connect with retries,
subscribe, carry out the central's commands (control-point writes, status reads), hand
it every notification and link event with the time, reconnect after a disconnection, read
the Device Information strings, and tell the listener what to show. Every protocol
decision (command sequence, retries, resend credits, missing frames, recovery after a
reconnection, when the recording is done) is :class:`~companion.central.Central`'s.

Example
-------
::

    session = RecordingSession(RadioBackends(), LinkOptions(duration_s=30))
    recording = await session.run()
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import numpy as np
from bleak import BleakClient
from bleak.exc import BleakError

from companion import central as proto
from companion.assembler import Feed, FrameAssembler
from companion.discovery import RadioBackends, connect, find_device, read_device_info
from companion.errors import DeviceProtocolError, LinkError, RecordingAbortedError
from companion.link_options import (
    END_REASONS,
    PROMPT_CONNECTING,
    PROMPT_RECONNECTING,
    STATE_PROMPTS,
    LinkListener,
    LinkOptions,
)
from companion.recording import Recording
from firmware import wire

__all__ = ["RecordingSession", "LinkOptions", "LinkListener", "RadioBackends"]

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
        self.central = proto.Central(proto.CentralOptions(
            duration_s=options.duration_s, fs_hz=options.fs_hz, command_timeout_s=options.command_timeout_s,
            resend_timeout_s=options.resend_timeout_s, idle_poll_s=options.idle_poll_s,
            finish_timeout_s=options.finish_timeout_s, session_timeout_s=options.session_timeout_s,
            max_reconnects=options.max_reconnects,
        ))
        self.device: dict[str, Any] = {}
        self.started_at = dt.datetime.now(dt.UTC)
        self._client: BleakClient | None = None
        self._closing: asyncio.Future[None] | None = None
        #: why the session ended early (None when it completed)
        self.end_message: str | None = None
        #: CPU seconds of this thread spent assembling, checkpointing and reporting
        self.processing_cpu_s = 0.0
        #: ``time.perf_counter()`` when the latest new frame arrived
        self.last_frame_at: float | None = None
        self._ble_device: Any = None
        self._connected = False
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    # -- views of the central's state (used by the UI and the tests) ---------------------
    @property
    def assembler(self) -> FrameAssembler | None:
        return self.central.assembler

    @property
    def info(self) -> Any:
        return self.central.info

    @property
    def rates_hz(self) -> tuple[int, ...]:
        return self.central.rates_hz

    @property
    def status(self) -> Any:
        return self.central.status

    @property
    def reconnects(self) -> int:
        return self.central.reconnects

    @property
    def bad_replies(self) -> int:
        return self.central.bad_replies

    # -- public ----------------------------------------------------------------------

    async def run(self) -> Recording:
        """Record one session and return it (``complete=False`` when cut short).

        Raises
        ------
        DeviceNotFoundError, NotAnEcgDeviceError, LinkError, DeviceProtocolError
            Before START: no recording exists yet.
        """
        self._ble_device = await find_device(
            self.backends, address=self.options.address, name_prefix=self.options.name_prefix,
            timeout_s=self.options.scan_timeout_s,
        )
        found = self._ble_device
        self.listener.prompt(PROMPT_CONNECTING.format(device=found.name or found.address or "the device"))
        await self._open()
        try:
            await self._drive()
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
        c = self.central
        asm = c.assembler
        baseline = int(c.info.baseline) if c.info is not None else 0
        gain = float(c.info.gain_counts_per_mv) if c.info is not None else 1.0
        fs_hz = float(c.fs_hz) or 1.0
        if asm is None:
            return Recording(samples=np.zeros(0, np.int32), sample_rate_hz=fs_hz, adc_gain_counts_per_mv=gain,
                             baseline_counts=baseline, started_at=self.started_at, device=dict(self.device))
        samples, gaps = asm.assemble(fill=baseline)
        summary = asm.summary
        end_reason = summary.end_reason if summary is not None else None
        expected = summary.total_samples if summary is not None else c.expected_samples
        events = c.contact_events(int(samples.shape[0]))
        device = dict(self.device)
        if end_reason is not None:
            device["end_reason"] = END_REASONS.get(end_reason, str(end_reason))
        if summary is not None and summary.lost_samples:
            device["lost_samples"] = summary.lost_samples
        return Recording(
            samples=samples, sample_rate_hz=fs_hz, adc_gain_counts_per_mv=gain, baseline_counts=baseline,
            started_at=self.started_at, device=device, session_id=c.session_id, expected_samples=expected,
            contact_events=events, gaps=gaps,
            complete=asm.complete and end_reason == wire.END_DURATION, verified=asm.verified(),
            frames_resent=c.planner.frames_requested, reconnects=c.reconnects, frames_malformed=asm.frames_malformed,
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
        self.central.connected(asyncio.get_running_loop().time())

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
        log.info("reconnected (%d)", self.central.reconnects)

    def _received(self) -> int:
        asm = self.central.assembler
        return asm.samples_received if asm is not None else 0

    # -- notifications in ------------------------------------------------------------

    def _on_control(self, _char: Any, data: bytearray) -> None:
        self._inbox.put_nowait(("control", bytes(data)))

    def _on_data(self, _char: Any, data: bytearray) -> None:
        self._inbox.put_nowait(("data", bytes(data)))

    def _on_status(self, _char: Any, data: bytearray) -> None:
        self._inbox.put_nowait(("status", bytes(data)))

    # -- the driver loop ---------------------------------------------------------------

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        c = self.central
        last_checkpoint = last_progress = 0.0
        while True:
            await self._carry_out()
            if c.finished:
                break
            try:
                batch = [await asyncio.wait_for(self._inbox.get(), self.TICK_S)]
            except asyncio.TimeoutError:
                batch = []
            cpu0 = time.thread_time()
            while not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            now = loop.time()
            lost = False
            for kind, data in batch:
                if kind == "data":
                    if c.data_received(data, now) is Feed.FRAME:
                        self.last_frame_at = time.perf_counter()
                elif kind == "control":
                    c.control_received(data, now)
                elif kind == "status":
                    c.status_received(data, now)
                else:
                    lost = True
            self.processing_cpu_s += time.thread_time() - cpu0
            if lost or (not self._connected and c.link_up):
                c.disconnected(now)
                await self._carry_out()
                await self._reconnect()
                continue
            c.tick(now)
            if c.assembler is None:
                continue
            cpu0 = time.thread_time()
            if now - last_progress >= self.TICK_S:
                last_progress = now
                self.listener.progress(c.assembler, c.expected_samples)
            if now - last_checkpoint >= self.options.checkpoint_interval_s:
                last_checkpoint = now
                self.listener.checkpoint(self.snapshot())
            self.processing_cpu_s += time.thread_time() - cpu0
        if c.assembler is not None:
            self.listener.progress(c.assembler, c.expected_samples)

    async def _carry_out(self) -> None:
        """Carry out the central's commands and show its events until it has none."""
        c = self.central
        loop = asyncio.get_running_loop()
        while (event := c.next_event()) is not None:
            if isinstance(event, proto.Write):
                if self._client is None or not self._connected:
                    continue  # the central writes again after the reconnection
                try:
                    await _guard(self._client.write_gatt_char(wire.CONTROL_CHAR_UUID, event.data, response=True))
                except (BleakError, asyncio.TimeoutError) as exc:
                    log.debug("control write failed: %r", exc)
                    c.write_failed(loop.time())
            elif isinstance(event, proto.ReadStatus):
                raw = await self._read_status()
                if raw is not None:
                    c.status_received(raw, loop.time())
            elif isinstance(event, proto.Described):
                await self._described(event)
            elif isinstance(event, proto.Started):
                self.started_at = dt.datetime.now(dt.UTC)
                info = c.info
                assert info is not None
                self.listener.started(event.session_id, float(event.fs_hz), c.expected_samples,
                                      float(info.gain_counts_per_mv), int(info.baseline))
            elif isinstance(event, proto.StatusChanged):
                if event.status.state in STATE_PROMPTS:
                    self.listener.prompt(STATE_PROMPTS[event.status.state])
            elif isinstance(event, proto.Failed):
                self._raise(event)

    def _raise(self, failed: proto.Failed) -> None:
        if self.central.assembler is None:
            if failed.device_fault:
                raise DeviceProtocolError(failed.message)
            raise LinkError(failed.message)
        raise RecordingAbortedError(failed.message, samples_received=self._received())

    async def _described(self, event: proto.Described) -> None:
        info = event.info
        device: dict[str, Any] = {
            "name": self._ble_device.name, "address": self._ble_device.address,
            "protocol_version": info.protocol_version,
            "firmware": f"{info.fw_major}.{info.fw_minor}",
            "front_end": wire.FRONT_END_NAMES.get(info.front_end, str(info.front_end)),
            "adc_bits": info.adc_bits, "rates_hz": list(event.rates_hz),
        }
        if self._client is not None:
            device.update(await read_device_info(self._client))
        self.device = device
        self.listener.connected(device)

    async def _read_status(self) -> bytes | None:
        if self._client is None or not self._connected:
            return None
        try:
            return bytes(await _guard(self._client.read_gatt_char(wire.STATUS_CHAR_UUID)))
        except (BleakError, asyncio.TimeoutError) as exc:
            log.debug("status read failed: %r", exc)
            return None


async def _guard(operation: Awaitable[T]) -> T:
    """Await a GATT operation; a cancellation that is not ours means the link dropped under it."""
    try:
        return await operation
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise BleakError("GATT operation cancelled: the link dropped") from None
