"""``cardio-sim --transport``: the simulated device on an HCI transport.

No Bluetooth hardware here, so the "real controller" is Bumble's controller emulator
behind a TCP HCI transport: ``cardio-sim`` runs as a separate process and speaks HCI over
``tcp-client:``, exactly as it would over ``usb:0`` or ``serial:`` to a dongle.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from bumble.controller import Controller
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from firmware import wire
from simulator.bleak_backend import VirtualCentral, make_backends
from simulator.link import VirtualLink
from simulator.probe import record_once


#: how long the subprocess may take to start and advertise on a loaded machine, seconds
ADVERTISING_TIMEOUT_S = 120.0


async def _read_until(stream: asyncio.StreamReader, text: str, timeout_s: float) -> str:
    """Lines of ``stream`` up to and including the first that holds ``text`` (fails on EOF or timeout)."""
    seen = ""
    async with asyncio.timeout(timeout_s):
        while text not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"the simulator exited before {text!r}; it printed: {seen!r}")
            seen += line.decode()
    return seen


class TestHciTransport:
    async def test_cardio_sim_over_a_tcp_hci_transport(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        transport = await open_tcp_server_transport_with_socket(sock)
        link = VirtualLink()
        Controller("remote-controller", host_source=transport.source, host_sink=transport.sink, link=link)
        central = VirtualCentral(link)
        client_backend, scanner_backend = make_backends(central)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulator.cli", "--transport", f"tcp-client:127.0.0.1:{port}",
            "--speed", "20", "--run-for", "300",  # stopped by terminate() below; the bound is only a safety net
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        seen = ""
        try:
            # the subprocess prints this once its device advertises: only then does the scan start,
            # so a slow start on a loaded machine cannot use up the scan's 10 s
            assert proc.stdout is not None
            seen = await _read_until(proc.stdout, "waiting for a central on tcp-client:", ADVERTISING_TIMEOUT_S)
            result = await record_once(
                "C0:DE:CA:4D:00:01", client_backend=client_backend, scanner_backend=scanner_backend,
                duration_s=5, fs_hz=250, timeout_s=40,
            )
            assert result.verified and len(result.samples) == 1250
            assert result.info.protocol_version == wire.PROTOCOL_VERSION
        finally:
            proc.terminate()
            out, _err = await asyncio.wait_for(proc.communicate(), 20)
            transport.server.close()
            await transport.close()
        text = seen + out.decode()
        assert "waiting for a central on tcp-client:" in text
        assert "START 5 s at 250 Hz -> ok" in text
