"""A minimal reference central: record one session from a device, nothing lost.

Used by ``cardio-sim --demo`` and by the simulator's own tests to prove the simulated
device end to end through bleak (scan, connect with retries, MTU, notifications,
control point, reconnect after a dropped link, RESEND of missing frames, summary CRC).
It keeps everything in memory and has no UI; the patient's app is ``companion.link``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from firmware import wire
from simulator.errors import VirtualLinkError

__all__ = ["ProbeResult", "record_once"]

_log = logging.getLogger(__name__)
_MAX_RANGES_PER_ROUND = 8


@dataclass
class ProbeResult:
    """What :func:`record_once` received."""

    info: Any = None
    samples: list[int] = field(default_factory=list)
    summary: Any = None
    frames_received: int = 0
    duplicate_frames: int = 0
    resend_requests: int = 0
    reconnects: int = 0
    mtu: int = 0
    lead_off_frames: int = 0

    @property
    def verified(self) -> bool:
        """Summary present, sample count and CRC-32 match."""
        return (
            self.summary is not None
            and self.summary.total_samples == len(self.samples)
            and wire.samples_crc32(self.samples) == self.summary.crc32
        )


class _Session:
    def __init__(self) -> None:
        self.pieces: dict[int, dict[int, list[int]]] = {}  # seq -> first_sample -> samples
        self.summary: Any = None
        self.replies: asyncio.Queue[Any] = asyncio.Queue()
        self.changed = asyncio.Event()
        self.result = ProbeResult()
        self.requested: dict[int, float] = {}  # seq -> loop time of the last RESEND asking for it
        self.finished_at: float | None = None  # loop time the device was first seen finished

    def on_data(self, _char: Any, data: bytearray) -> None:
        try:
            message = wire.decode_notification(bytes(data))
        except wire.WireError:
            _log.warning("malformed data notification ignored")
            return
        if isinstance(message, wire.Summary):
            self.summary = message
        else:
            pieces = self.pieces.setdefault(message.seq, {})
            if message.first_sample in pieces:
                self.result.duplicate_frames += 1
            pieces[message.first_sample] = message.samples
            self.result.frames_received += 1
            if message.flags & wire.FLAG_LEAD_OFF:
                self.result.lead_off_frames += 1
        self.changed.set()

    def on_reply(self, _char: Any, data: bytearray) -> None:
        try:
            self.replies.put_nowait(wire.decode_reply(bytes(data)))
        except wire.WireError:
            _log.warning("malformed control reply ignored")

    def missing(self, frame_count: int) -> list[tuple[int, int]]:
        """Inclusive ranges of frame numbers below ``frame_count`` not (fully) received."""
        ranges: list[tuple[int, int]] = []
        for seq in range(frame_count):
            if self._complete(seq):
                continue
            if ranges and ranges[-1][1] == seq - 1:
                ranges[-1] = (ranges[-1][0], seq)
            else:
                ranges.append((seq, seq))
        return ranges

    def _complete(self, seq: int) -> bool:
        return seq in self.pieces

    def assemble(self) -> list[int]:
        out: list[int] = []
        for seq in sorted(self.pieces):
            for first in sorted(self.pieces[seq]):
                if first == len(out):
                    out += self.pieces[seq][first]
        return out


async def _command(client: BleakClient, session: _Session, opcode: int, token: int, *args: int) -> Any:
    await client.write_gatt_char(wire.CONTROL_CHAR_UUID, wire.encode_command(opcode, token, *args), response=True)
    while True:
        reply = await asyncio.wait_for(session.replies.get(), 5.0)
        if reply.token == token:
            return reply


async def record_once(
    address: str,
    *,
    client_backend: type[BaseBleakClient],
    scanner_backend: type[BaseBleakScanner],
    duration_s: int = 30,
    fs_hz: int = 300,
    timeout_s: float = 120.0,
) -> ProbeResult:
    """Record one session from the device at ``address`` and return what arrived.

    Parameters
    ----------
    address : str
        Device address.
    client_backend, scanner_backend
        bleak backends (``world.client_backend``, ``world.scanner_backend``).
    duration_s, fs_hz : int
        Recording to ask for.
    timeout_s : float
        Wall-clock limit for the whole session.

    Raises
    ------
    VirtualLinkError
        Device not found, or the recording could not be completed in time.
    """
    session = _Session()
    device = await BleakScanner.find_device_by_address(address, timeout=10.0, backend=scanner_backend)
    if device is None:
        raise VirtualLinkError(f"no device advertising at {address}", address=address)
    token = 0
    started = False
    lost = asyncio.Event()
    async with asyncio.timeout(timeout_s):
        while True:
            client = await establish_connection(
                BleakClient, device, device.name or address, disconnected_callback=lambda _c: lost.set(),
                backend=client_backend, max_attempts=10,
            )
            # a failed attempt inside establish_connection may have fired the callback
            lost.clear()
            session.result.mtu = client.mtu_size
            try:
                await client.start_notify(wire.DATA_CHAR_UUID, session.on_data)
                await client.start_notify(wire.CONTROL_CHAR_UUID, session.on_reply)
                # the first write of every connection tells the device we are subscribed
                token += 1
                info = (await _command(client, session, wire.OP_GET_INFO, token)).fields
                if not started:
                    session.result.info = info
                    token += 1
                    reply = await _command(client, session, wire.OP_START, token, duration_s, fs_hz)
                    if reply.code != wire.OK:
                        raise VirtualLinkError(f"device refused START: {wire.ERROR_NAMES.get(reply.code)}", address=address)
                    started = True
                token = await _collect(client, session, lost, token)
                if session.result.verified:
                    await client.disconnect()
                    return session.result
            except (BleakError, asyncio.TimeoutError, wire.WireError) as exc:
                if client.is_connected:
                    raise
                _log.info("link lost during the session (%s); reconnecting", exc)
            session.result.reconnects += 1


async def _collect(client: BleakClient, session: _Session, lost: asyncio.Event, token: int) -> int:
    """Receive until verified or the link drops; asks for resends. Returns the last token."""
    loop = asyncio.get_running_loop()
    session.requested.clear()  # the device forgets queued resends when the link drops
    while not lost.is_set() and client.is_connected:
        status = wire.decode_status(bytes(await client.read_gatt_char(wire.STATUS_CHAR_UUID)))
        finished = status.state in (wire.STATE_COMPLETE, wire.STATE_ABORTED)
        if finished and session.finished_at is None:
            session.finished_at = loop.time()
        # frames (and the summary) sent just before the status read may still be in flight
        settled = finished and session.finished_at is not None and loop.time() - session.finished_at > 0.5
        if session.summary is not None:
            frame_count = session.summary.frame_count
        else:
            frame_count = status.frames_sent if settled else max(session.pieces, default=-1)
        gaps = session.missing(frame_count)
        wanted = [(a, b) for a, b in gaps if loop.time() - session.requested.get(a, -10.0) > 1.0]
        if settled and session.summary is None and not gaps:
            # finished a while ago and still no summary: it was lost, ask for it
            wanted.append((status.frames_sent, status.frames_sent))
        for first, last in wanted[:_MAX_RANGES_PER_ROUND]:
            token += 1
            session.result.resend_requests += 1
            reply = await _command(client, session, wire.OP_RESEND, token, first, last)
            if reply.code == wire.OK:
                for seq in range(first, last + 1):
                    session.requested[seq] = loop.time()
        if session.summary is not None and not session.missing(session.summary.frame_count):
            session.result.samples = session.assemble()
            session.result.summary = session.summary
            if session.result.verified:
                return token
        session.changed.clear()
        try:
            await asyncio.wait_for(session.changed.wait(), 0.25)
        except asyncio.TimeoutError:
            pass
    raise BleakError("disconnected")
