"""Simulator throughput: how fast the virtual radio and a whole simulated session run.

Figures (printed as a Markdown table for docs/performance.md, section *Simulator*):

1. raw notification rate over the virtual link (Bumble GATT server -> our bleak
   backend), at MTU 23 and 247;
2. a whole 30 s / 300 Hz recording through ``simulator.probe`` as fast as the machine
   allows (speed 1000): wall time, process CPU time, effective speed factor; with and
   without faults (5 % drops, two disconnects) and at MTU 23 / 247.

Usage: ``nice -n 10 .venv/bin/python benchmarks/sim_throughput.py [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from bleak import BleakClient

from firmware import wire
from simulator.harness import VirtualWorld
from simulator.probe import record_once


async def notification_rate(mtu: int, count: int) -> float:
    """Notifications per second delivered to a bleak callback at ``mtu``."""
    async with VirtualWorld(mtu=mtu) as world:
        async with BleakClient(world.address, backend=world.client_backend) as client:
            got = 0
            done = asyncio.Event()

            def on_data(_c: object, _d: bytearray) -> None:
                nonlocal got
                got += 1
                if got == count:
                    done.set()

            await client.start_notify(wire.DATA_CHAR_UUID, on_data)
            peripheral = world.device.peripheral
            payload = bytes(client.mtu_size - 3)
            start = time.perf_counter()
            for _ in range(count):
                peripheral.notify_data(payload)
            await asyncio.wait_for(done.wait(), 120)
            return count / (time.perf_counter() - start)


async def session(mtu: int, faults: bool) -> tuple[float, float, bool]:
    """(wall s, CPU s, verified) of one 30 s recording at speed 1000."""
    options: dict[str, object] = dict(speed=1000.0, mtu=mtu, seed=1)
    if faults:
        options.update(drop_fraction=0.05, disconnect_at_s=[8.0, 19.0])
    async with VirtualWorld(**options) as world:  # type: ignore[arg-type]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = await record_once(
            world.address, client_backend=world.client_backend, scanner_backend=world.scanner_backend, timeout_s=300
        )
        return time.perf_counter() - wall0, time.process_time() - cpu0, result.verified


async def main(repeat: int) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f}\n")
    print("| measurement | MTU | median | best |")
    print("|---|---:|---:|---:|")
    for mtu in (23, 247):
        rates = [await notification_rate(mtu, 2000) for _ in range(repeat)]
        print(f"| notifications/s, virtual link → bleak callback | {mtu} | {statistics.median(rates):,.0f} | {max(rates):,.0f} |")
    for faults in (False, True):
        for mtu in (247, 23):
            runs = [await session(mtu, faults) for _ in range(repeat)]
            assert all(ok for _, _, ok in runs), "a session was not verified"
            walls = [w for w, _, _ in runs]
            cpus = [c for _, c, _ in runs]
            label = "30 s recording, 5 % drops + 2 disconnects" if faults else "30 s recording, no faults"
            print(f"| {label}: wall s (CPU s) | {mtu} | {statistics.median(walls):.2f} ({statistics.median(cpus):.2f}) "
                  f"| {min(walls):.2f} ({min(cpus):.2f}) |")
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args().repeat))
