"""Time of drawing one report (``ecg.report``), per output format and layout.

Usage: ``python benchmarks/report_render.py [--repeat N]``. Uses the committed real
fixtures (CinC 2017 A00001, 30 s single lead) and the cloud page's LUDB example (12 leads,
10 s), so it runs from a fresh clone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import wfdb

from ecg.report import render_report_bytes

ROOT = Path(__file__).resolve().parents[1]


def _load() -> dict[str, tuple[np.ndarray, float, tuple[str, ...]]]:
    single = wfdb.rdrecord(str(ROOT / "tests/fixtures/cinc2017/A00001"))
    rows = (ROOT / "cloud/examples/ludb_2_12lead.csv").read_text().splitlines()
    twelve = np.array([r.split(",") for r in rows[1:]], dtype=float) / 1000.0
    return {
        "single lead 30 s": (single.p_signal[:, 0], float(single.fs), ("I",)),
        "12 leads 10 s": (twelve, 500.0, tuple(rows[0].split(","))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    header = {"result": "benchmark", "heart_rate_bpm": 70.0}
    print(f"{'layout':<18}{'format':<12}{'median ms':>10}{'min ms':>9}{'size kB':>9}")
    for name, (sig, fs_hz, leads) in _load().items():
        for fmt, dpi in (("png", 110.0), ("png", 200.0), ("pdf", 72.0), ("svg", 72.0)):
            times = []
            size = 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                size = len(render_report_bytes(sig, fs_hz, leads, header, fmt=fmt, dpi=dpi))
                times.append((time.perf_counter() - t0) * 1000)
            label = f"{fmt} {dpi:g} dpi" if fmt == "png" else fmt
            print(f"{name:<18}{label:<12}{statistics.median(times):>10.0f}{min(times):>9.0f}{size / 1024:>9.0f}")


if __name__ == "__main__":
    main()
