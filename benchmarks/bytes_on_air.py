"""Bytes on air per second of ECG vs raw 16-bit samples, on real recordings.

Run: .venv/bin/python benchmarks/bytes_on_air.py [--data ../shared/data] [--cinc 120] [--mitdb-windows 5]

Each record (CinC 2017, AliveCor finger ECG at 300 Hz; MIT-BIH lead MLII at 360 Hz) is
converted to millivolts, resampled to each rate a front end offers, quantised as that
front end would (AD8232 on the ESP32 ADC: 1365.33 counts/mV around 2048, clipped to
12 bits; MAX30003 at 20 V/V: 655.36 counts/mV, int16) and recorded by the firmware's own
Device (firmware/device.py) for up to 30 s. Every notification it emits is counted with
the 3-byte ATT notification header, frame headers and the end-of-recording summary
included. The ratio is bytes on air / (2 bytes x samples), over all records, with the
worst single record beside it. The data folder defaults to ../shared/data relative to
the repository root (or $CARDIOLINK_DATA).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import wfdb

from ecg.preprocess import resample
from firmware import wire
from firmware.device import Device

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = {
    # name: (rates_hz, gain_counts_per_mv, baseline, lo, hi)
    "AD8232": ((250, 300, 500), 1100 * 4096 / 3300, 2048, 0, 4095),
    "MAX30003": ((256, 512), 131072 * 20 / 1000 / 4, 0, -32768, 32767),
}
MTUS = (23, 185, 247)


def on_air_bytes(counts: np.ndarray, fs_hz: int, payload_max: int, rates: tuple[int, ...]) -> int:
    """Bytes on air for one recording of ``counts`` through the firmware's Device."""
    duration_s = min(30, len(counts) // fs_hz)
    dev = Device(rates_hz=rates, default_fs_hz=fs_hz, settle_ms=0, capacity_samples=30 * 512)
    reply = wire.decode_reply(dev.handle_control(wire.encode_command(wire.OP_START, 1, duration_s, fs_hz)))
    assert reply.code == wire.OK, reply
    samples = counts[: duration_s * fs_hz].tolist()
    total = 0
    for k in range(0, len(samples), 64):
        dev.feed(samples[k : k + 64], False)
        while (data := dev.next_notification(payload_max)) is not None:
            total += wire.ATT_HEADER_BYTES + len(data)
    while (data := dev.next_notification(payload_max)) is not None:
        total += wire.ATT_HEADER_BYTES + len(data)
    assert dev.state == wire.STATE_COMPLETE
    return total


def load_records(data: Path, n_cinc: int, mitdb_windows: int) -> list[tuple[str, str, np.ndarray, float]]:
    """(dataset, name, signal in mV, fs_hz) for an even spread of records."""
    out = []
    cinc = sorted((data / "cinc2017").glob("A*.hea"))
    step = max(1, len(cinc) // max(1, n_cinc))
    for hea in cinc[::step][:n_cinc]:
        rec = wfdb.rdrecord(str(hea.with_suffix("")))
        out.append(("cinc2017", hea.stem, rec.p_signal[:, 0], float(rec.fs)))
    for hea in sorted((data / "mitdb").glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")), channels=[0])
        sig = rec.p_signal[:, 0]
        win = int(30 * rec.fs)
        starts = np.linspace(0, len(sig) - win, mitdb_windows).astype(int)
        for s in starts:
            out.append(("mitdb", f"{hea.stem}@{s}", sig[s : s + win], float(rec.fs)))
    return out


def quantise(sig_mv: np.ndarray, fs_in: float, fs_out: int, gain: float, baseline: int, lo: int, hi: int) -> np.ndarray:
    sig_mv = np.nan_to_num(sig_mv)
    res, _ = resample(sig_mv, fs_in, fs_out)
    return np.clip(np.round(res * gain) + baseline, lo, hi).astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--cinc", type=int, default=120, help="CinC 2017 records (evenly spread)")
    ap.add_argument("--mitdb-windows", type=int, default=5, help="30 s windows per MIT-BIH record (0: none)")
    ap.add_argument("--front-end", choices=sorted(FRONT_ENDS), help="only this front end")
    ap.add_argument("--fs-hz", type=int, help="only this rate")
    ap.add_argument("--mtu", type=int, action="append", help="only these MTUs (repeatable)")
    args = ap.parse_args(argv)
    if not (args.data / "cinc2017").is_dir() or not (args.data / "mitdb").is_dir():
        print(f"data folder {args.data} lacks cinc2017/ and mitdb/ (set --data or CARDIOLINK_DATA)", file=sys.stderr)
        return 2
    records = load_records(args.data, args.cinc, args.mitdb_windows)
    print(f"records: {sum(r[0] == 'cinc2017' for r in records)} CinC 2017, {sum(r[0] == 'mitdb' for r in records)} MIT-BIH 30 s windows")
    print("| data | front end | fs_hz | MTU | bytes/s on air | raw 16-bit bytes/s | ratio | worst record |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for dataset in ("cinc2017", "mitdb"):
        recs = [r for r in records if r[0] == dataset]
        if not recs:
            continue
        for fe, (rates, gain, baseline, lo, hi) in FRONT_ENDS.items():
            if args.front_end and fe != args.front_end:
                continue
            for fs_hz in rates:
                if args.fs_hz and fs_hz != args.fs_hz:
                    continue
                counts = [quantise(sig, fs_in, fs_hz, gain, baseline, lo, hi) for _, _, sig, fs_in in recs]
                for mtu in args.mtu or MTUS:
                    air = raw = 0
                    seconds = 0.0
                    worst = 0.0
                    for c in counts:
                        b = on_air_bytes(c, fs_hz, mtu - wire.ATT_HEADER_BYTES, rates)
                        n = min(30, len(c) // fs_hz) * fs_hz
                        air += b
                        raw += 2 * n
                        seconds += n / fs_hz
                        worst = max(worst, b / (2 * n))
                    print(f"| {dataset} | {fe} | {fs_hz} | {mtu} | {air / seconds:.0f} | {raw / seconds:.0f} | {100 * air / raw:.1f} % | {100 * worst:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
