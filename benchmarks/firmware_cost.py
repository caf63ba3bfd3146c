"""Firmware cost per sample (session + buffer + framing) under the MicroPython unix port.

Run: .venv/bin/python benchmarks/firmware_cost.py

Each measurement starts the real MicroPython unix port (.venv/bin/micropython) on this
file: it feeds 30 s of a deterministic ECG-like signal to firmware.device.Device in
64-sample chunks (as firmware/main.py does) and pulls every notification after each
chunk, at each offered AD8232 rate and at ATT MTU 23 and 247. The cost is the child's
CPU time (getrusage) minus that of a baseline child that builds the same signal and
Device but feeds nothing, divided by the samples processed; the best of 3 is reported.
CPU time rather than wall time keeps the figure honest on a loaded machine. The ESP32
runs the same bytecode tens of times slower; the goal here is <= 2 us per sample.
"""

import sys

REPS = 5  # recordings per child process


def ecg_like(n, fs_hz):
    # baseline wander + noise + a QRS-like spike each second (integer-only, deterministic)
    from array import array

    out = array("h", bytes(2 * n))
    x = 12345
    v = 0
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v += (x >> 16) % 7 - 3
        v -= v >> 5
        k = i % fs_hz
        qrs = 0
        if k < fs_hz // 50:
            qrs = 1200 - abs(k * 2 * 1200 * 50 // fs_hz - 1200)
        out[i] = 2048 + v + qrs
    return out


def child(fs_hz, payload_max, work):
    from firmware.device import Device
    from firmware import wire

    sig = ecg_like(30 * fs_hz, fs_hz)
    mv = memoryview(sig)
    n = len(sig)
    frames = 0
    for _ in range(REPS):
        dev = Device(settle_ms=0, default_fs_hz=fs_hz)
        dev.handle_control(wire.encode_command(wire.OP_START, 1, 30, fs_hz))
        if not work:
            continue
        for k in range(0, n, 64):
            dev.feed(mv[k : k + 64], False)
            while dev.next_notification(payload_max) is not None:
                frames += 1
        assert dev.state == wire.STATE_COMPLETE
    print(frames // REPS)


def parent():
    import os
    import resource
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, MICROPYPATH=".frozen:" + root)
    mp = os.path.join(root, ".venv", "bin", "micropython")

    def cpu_s(*args: str) -> tuple[float, str]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([mp, os.path.abspath(__file__)] + list(args), env=env, check=True, capture_output=True, text=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out.strip()

    print("firmware cost per sample under", subprocess.run([mp, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout.strip())
    print("load average:", " ".join("%.1f" % x for x in os.getloadavg()))
    print("fs_hz  mtu  frames/30s  us/sample (CPU time, best of 3)")
    worst = 0.0
    for fs_hz in (250, 300, 500):
        for mtu in (23, 247):
            best = float("inf")
            frames = ""
            for _ in range(3):
                work, frames = cpu_s(str(fs_hz), str(mtu - 3), "1")
                base, _ = cpu_s(str(fs_hz), str(mtu - 3), "0")
                best = min(best, (work - base) / (REPS * 30 * fs_hz) * 1e6)
            worst = max(worst, best)
            print("%5d  %3d  %10s  %.2f" % (fs_hz, mtu, frames, best))
    print("worst: %.2f us/sample (goal <= 2.0)" % worst)


if sys.implementation.name == "micropython":
    child(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1")
else:
    parent()
