"""``cardio-sim``: run a simulated cardiolink device and print what it does.

On the virtual link (default) a reference central (:mod:`simulator.probe`) connects,
records one session through bleak and prints whether every sample arrived; with
``--no-central`` the device only advertises until stopped. ``--transport SPEC`` puts the
same simulated device on a real Bluetooth controller through Bumble's HCI transports
(``usb:0``, ``serial:/dev/ttyACM0``, ``hci-socket:0`` ...), so a real phone can connect.

Examples::

    cardio-sim --speed 30 --source synthetic:af
    cardio-sim --speed 30 --mtu 23 --drop 0.05 --disconnect-at 8 --disconnect-at 19
    cardio-sim --transport usb:0 --source ../shared/data/cinc2017/A00001.hea
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence

from simulator.errors import SimulatorError

__all__ = ["build_parser", "main"]

_log = logging.getLogger("simulator.cli")


def build_parser() -> argparse.ArgumentParser:
    """The ``cardio-sim`` argument parser."""
    p = argparse.ArgumentParser(
        prog="cardio-sim",
        description="Run a simulated cardiolink ECG device (firmware core + Bumble radio).",
    )
    p.add_argument("--source", default="synthetic:normal",
                   help="synthetic:normal|af|pvc|noisy|leadoff[?hr=..&seed=..] or a WFDB/CSV PATH (default %(default)s)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated-time factor, 1 = real time (default %(default)s)")
    p.add_argument("--mtu", type=int, default=247, help="largest ATT MTU the device accepts; 23 forces the minimum")
    p.add_argument("--drop", type=float, default=0.0, metavar="FRACTION", help="fraction of data frames to drop")
    p.add_argument("--disconnect-at", type=float, action="append", default=[], metavar="SECONDS",
                   help="drop the link at this recording time (repeatable)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="one-way link latency (virtual link only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault decisions")
    p.add_argument("--name", default=None, help="advertised name (default cardiolink)")
    p.add_argument("--no-ecg-service", action="store_true", help="advertise the name without the ECG service")
    p.add_argument("--duration", type=int, default=30, help="recording the built-in central asks for, s")
    p.add_argument("--rate", type=int, default=300, help="sample rate the built-in central asks for, Hz")
    p.add_argument("--no-central", action="store_true", help="virtual link: only advertise, no built-in central")
    p.add_argument("--run-for", type=float, default=None, metavar="SECONDS",
                   help="stop after this many wall-clock seconds (default: until Ctrl-C / end of the session)")
    p.add_argument("--transport", default=None, metavar="SPEC",
                   help="real HCI controller through Bumble (usb:0, serial:/dev/ttyACM0, hci-socket:0, tcp-client:...)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    return p


def _printer(start_wall: float) -> Callable[[float, str], None]:
    def on_event(sim_time_s: float, text: str) -> None:
        print(f"[{time.monotonic() - start_wall:7.2f} s | sim {sim_time_s:7.2f} s] {text}", flush=True)

    return on_event


async def _run_virtual(args: argparse.Namespace) -> int:
    from simulator.harness import VirtualWorld
    from simulator.probe import record_once

    world = VirtualWorld(
        source=args.source, speed=args.speed, mtu=args.mtu, drop_fraction=args.drop,
        disconnect_at_s=args.disconnect_at, latency_ms=args.latency_ms, seed=args.seed, name=args.name,
        with_ecg_service=not args.no_ecg_service, on_event=_printer(time.monotonic()),
    )
    async with world:
        device = world.device
        print(f"source: {device.frontend.source.description}", flush=True)
        if args.no_central or args.no_ecg_service:
            await _idle(args.run_for)
            return 0
        result = await asyncio.wait_for(
            record_once(world.address, client_backend=world.client_backend, scanner_backend=world.scanner_backend,
                        duration_s=args.duration, fs_hz=args.rate, timeout_s=args.duration / args.speed + 60),
            args.run_for,
        )
        stats = device.stats
        print(
            f"central received {len(result.samples)} samples at {args.rate} Hz over MTU {result.mtu}: "
            f"{'VERIFIED (count and CRC-32 match)' if result.verified else 'NOT verified'}; "
            f"frames sent {stats.frames_sent}, dropped {stats.frames_dropped}, resent {stats.resends_sent}, "
            f"reconnects {result.reconnects}; identical to the device's ADC stream: "
            f"{result.samples == device.recorded_samples()}",
            flush=True,
        )
        return 0 if result.verified else 1


async def _idle(run_for_s: float | None) -> None:
    if run_for_s is None:
        await asyncio.Event().wait()
    else:
        await asyncio.sleep(run_for_s)


async def _run_transport(args: argparse.Namespace) -> int:
    from bumble import hci
    from bumble.device import Device
    from bumble.transport import open_transport

    from simulator.device import Faults, SimulatedDevice
    from simulator.peripheral import DeviceIdentity
    from simulator.sources import parse_source

    source = parse_source(args.source)
    identity = DeviceIdentity(name=args.name or DeviceIdentity.name)
    try:
        transport = await open_transport(args.transport)
    except Exception as exc:  # noqa: BLE001 - Bumble raises many kinds for a bad spec or missing device
        print(f"cardio-sim: cannot open HCI transport {args.transport!r}: {exc}", file=sys.stderr)
        return 2
    async with transport:
        bumble_device = Device.with_hci(identity.name, hci.Address(identity.address), transport.source, transport.sink)
        device = SimulatedDevice(
            bumble_device, source, identity=identity, speed=args.speed, max_mtu=args.mtu,
            faults=Faults(drop_fraction=args.drop, disconnect_at_s=tuple(args.disconnect_at), seed=args.seed),
            with_ecg_service=not args.no_ecg_service, name_in_scan_response=True,
            on_event=_printer(time.monotonic()),
        )
        await device.start()
        print(f"source: {source.description}; waiting for a central on {args.transport} (Ctrl-C to stop)", flush=True)
        try:
            await _idle(args.run_for)
        finally:
            await device.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cardio-sim``; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        # Bumble's emulated controller warns about packets in flight when a link drops
        logging.getLogger("bumble").setLevel(logging.ERROR)
    if args.speed <= 0 or args.duration <= 0 or args.rate <= 0:
        print("cardio-sim: --speed, --duration and --rate must be positive", file=sys.stderr)
        return 2
    try:
        runner = _run_transport if args.transport else _run_virtual
        return asyncio.run(runner(args))
    except SimulatorError as exc:
        print(f"cardio-sim: {exc}", file=sys.stderr)
        return 2
    except asyncio.TimeoutError:
        print("cardio-sim: the session did not finish in time", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
