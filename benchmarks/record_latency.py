"""Benchmark of ``cardio record``: latency to "stored and screened", and companion CPU.

Two measurements:

1. **Latency** — a full recording from the simulated device at 1× speed (30 s of real
   time) through the real companion path (bleak over the Bumble virtual radio, assembler,
   SQLite history, local screening). Reported: time from the arrival of the last sample
   to the recording being committed ("stored"), and to the local screening result being
   committed too ("stored and screened"). Goal < 1 s.
2. **CPU per second of ECG** — (a) the companion's protocol work alone: decoding and
   assembling every notification of a 30 s recording (``FrameAssembler.feed``) at MTU 247
   and 23, timed with ``time.process_time``; (b) the whole in-process session (device,
   both Bumble stacks, bleak backend, companion) as an upper bound, from
   ``time.thread_time`` of the event-loop thread over a simulated recording (the
   screening warm-up runs in another thread and is not counted).

Run::

    .venv/bin/python benchmarks/record_latency.py            # 1 latency run at 1x (~40 s)
    .venv/bin/python benchmarks/record_latency.py --runs 3 --speed 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.assembler import FrameAssembler  # noqa: E402
from companion.discovery import RadioBackends  # noqa: E402
from companion.link_options import LinkOptions  # noqa: E402
from companion.recorder import record_and_store  # noqa: E402
from companion.store import Store  # noqa: E402
from firmware import wire  # noqa: E402
from simulator.harness import VirtualWorld  # noqa: E402


async def latency_run(speed: float, folder: Path) -> dict[str, float]:
    """One simulated recording; returns latencies (s) and CPU figures."""
    with Store(folder / "bench.sqlite3") as store:
        async with VirtualWorld(source="synthetic:normal", speed=speed, seed=1) as world:
            backends = RadioBackends(client=world.client_backend, scanner=world.scanner_backend)
            # the event-loop thread runs the device, both radio stacks and the companion's
            # link; the screening warm-up runs in another thread and is not counted
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            outcome = await record_and_store(store, folder / "recovery", backends, LinkOptions())
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        t = outcome.timings_s
        rec = outcome.recording
        assert rec.complete and rec.verified, "benchmark recording incomplete"
        return {
            "stored_s": t["stored"] - t["last_sample"],
            "screened_s": t["screened"] - t["last_sample"],
            "screening_ok": float(outcome.local_result is not None),
            "warm_late_s": max(t.get("warm", 0.0) - t["last_sample"], 0.0),
            "screening_cpu_s": t.get("screening_cpu", float("nan")),
            "session_cpu_s": cpu,
            "link_cpu_s": t["link_cpu"],
            "session_wall_s": wall,
            "ecg_s": rec.duration_s,
        }


def protocol_cpu(payload_max: int, repeats: int = 5) -> float:
    """CPU seconds per second of ECG to decode and assemble a 30 s recording."""
    rng = np.random.default_rng(0)
    fs_hz, n = 300, 9000
    t = np.arange(n) / fs_hz
    counts = np.rint(2048 + 1365 * np.sin(2 * np.pi * 1.2 * t) ** 15 + rng.normal(0, 8, n)).astype(int).tolist()
    frames: list[bytes] = []
    pos = 0
    while pos < n:
        data, k = wire.encode_frame(1, len(frames), counts, pos, n, payload_max)
        frames.append(data)
        pos += k
    frames.append(wire.encode_summary(1, len(frames), n, wire.samples_crc32(counts), wire.END_DURATION))
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        asm = FrameAssembler(1)
        for f in frames:
            asm.feed(f)
        assert asm.verified()
        best = min(best, time.process_time() - c0)
    return best / (n / fs_hz)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="latency runs (default 1)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulator speed (default 1 = real time)")
    args = parser.parse_args()
    print("protocol work (decode + assemble + CRC), CPU per second of ECG:")
    for mtu in (247, 23):
        print(f"  MTU {mtu:3d}: {protocol_cpu(mtu - wire.ATT_HEADER_BYTES) * 1e3:.2f} ms CPU / s of ECG")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(asyncio.run(latency_run(args.speed, Path(tmp) / f"run{i}")))
            r = runs[-1]
            print(
                f"run {i + 1}: last sample -> stored {r['stored_s'] * 1e3:.1f} ms, -> stored and screened "
                f"{r['screened_s'] * 1e3:.1f} ms (screening {'ok' if r['screening_ok'] else 'UNAVAILABLE'}; "
                f"warm-up still running at the last sample for {r['warm_late_s'] * 1e3:.0f} ms; "
                f"screening + measurements {r['screening_cpu_s'] * 1e3:.0f} ms CPU); "
                f"event-loop thread CPU {r['session_cpu_s']:.2f} s over {r['session_wall_s']:.1f} s wall "
                f"= {r['session_cpu_s'] / r['ecg_s'] * 1e3:.0f} ms CPU / s of ECG (device + both radio stacks + companion); "
                f"companion link processing (assemble, checkpoint, progress) "
                f"{r['link_cpu_s'] / r['ecg_s'] * 1e3:.1f} ms CPU / s of ECG"
            )
    if len(runs) > 1:
        print(f"median last sample -> stored and screened: {statistics.median(r['screened_s'] for r in runs) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
