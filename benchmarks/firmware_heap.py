# Heap use of the firmware under the MicroPython unix port (docs/firmware.md, Memory budget).
# Run: MICROPYPATH=.frozen:$PWD .venv/bin/micropython -X heapsize=400k benchmarks/firmware_heap.py
# Prints the bytes held by the pure modules and by a Device (sample buffer + frame index),
# then, per rate and MTU, the garbage one 30 s recording allocates (GC not run meanwhile).
import gc
gc.collect(); m0 = gc.mem_alloc()
from firmware import wire, codec, buffer, device, session
gc.collect(); m1 = gc.mem_alloc()
from firmware.device import Device
dev = Device(settle_ms=0)
gc.collect(); m2 = gc.mem_alloc()
print("modules", m1 - m0, "device", m2 - m1)
for fs in (250, 300, 500):
    for pm in (20, 244):
        dev = None; gc.collect()
        dev = Device(settle_ms=0, default_fs_hz=fs)
        dev.handle_control(wire.encode_command(wire.OP_START, 1, 30, fs))
        gc.collect(); base = gc.mem_alloc(); peak = 0
        sig = [2048 + (i * 37) % 200 - 100 for i in range(64)]
        gc.collect(); base = gc.mem_alloc()
        frames = 0
        while dev.acquiring:
            dev.feed(sig, False)
            while dev.next_notification(pm) is not None:
                frames += 1
            a = gc.mem_alloc() - base
            if a > peak: peak = a
        print(fs, pm + 3, "frames", frames, "peak transient alloc", peak, "heap used", gc.mem_alloc())
