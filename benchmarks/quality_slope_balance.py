"""Where real beats and step waves fall on ``ecg.quality``'s slope balance and step share (``implausible_morphology``).

For each lead that passes every other quality check: min(steepest rise, steepest fall) /
max(...) of the median beat within ±100 ms (``ecg.quality._step_shape``). Real QRS
complexes rise and fall; square and sawtooth waves only jump. Prints
the low percentiles for CinC 2017 (every ``--step``-th record, lead I-like, 300 Hz) and
LUDB (every lead, 500 Hz), and the values of square/sawtooth waves at several rates and
noise levels, next to the threshold.

Usage::

    nice -n 10 .venv/bin/python benchmarks/quality_slope_balance.py [--data DIR] [--step 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ecg.beats import detect_r_peaks  # noqa: E402
from ecg.io import read_record  # noqa: E402
from ecg.quality import _MAX_STEP_SHARE, _MIN_SLOPE_BALANCE, _step_shape, assess  # noqa: E402

CHECK = "implausible_morphology"


def _shape_if_otherwise_readable(x: np.ndarray, fs_hz: float) -> tuple[float, float] | None:
    reasons = set(assess(x, fs_hz).reasons) - {CHECK}
    if reasons:
        return None
    return _step_shape(x, detect_r_peaks(x, fs_hz), fs_hz)


def _summary(name: str, values: list[tuple[float, float]]) -> None:
    if not values:
        print(f"{name}: no leads")
        return
    v, step = np.asarray(values).T
    p = np.percentile(v, [0, 0.5, 1, 5, 50])
    print(f"{name}: n={v.size} balance min {p[0]:.3f}  p0.5 {p[1]:.3f}  p1 {p[2]:.3f}  p5 {p[3]:.3f}  median {p[4]:.3f}  "
          f"below threshold {int(np.sum(v < _MIN_SLOPE_BALANCE))}; step share max {step.max():.3f}  "
          f"above {_MAX_STEP_SHARE}: {int(np.sum(step > _MAX_STEP_SHARE))}")


def _steps() -> None:
    """The highest balance of step waves that pass every other check, per wave and noise level."""
    rng = np.random.default_rng(3)
    for noise_mv in (0.0, 0.03, 0.1):
        for name in ("square 2 mV", "square 0.6 mV", "sawtooth 1 mV"):
            worst, lowest_step, n = 0.0, 1.0, 0
            for fs in (125.0, 250.0, 300.0, 500.0, 1000.0):
                t = np.arange(int(30 * fs)) / fs
                wave = {"square 2 mV": np.sign(np.sin(2 * np.pi * 1.2 * t)),
                        "square 0.6 mV": 0.3 * np.sign(np.sin(2 * np.pi * 1.2 * t)),
                        "sawtooth 1 mV": (t * 1.2) % 1.0}[name]
                b = _shape_if_otherwise_readable(wave + rng.normal(0, noise_mv, t.size), fs)
                if b is not None:
                    worst, lowest_step, n = max(worst, b[0]), min(lowest_step, b[1]), n + 1
            print(f"{name}, 1.2 Hz, noise {noise_mv} mV, 125-1000 Hz: {n} of 5 rates pass the other checks; "
                  f"highest balance {worst:.3f}, lowest step share {lowest_step:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--step", type=int, default=5, help="use every STEP-th CinC 2017 record")
    args = ap.parse_args(argv)
    print(f"thresholds: balance < {_MIN_SLOPE_BALANCE} or step share > {_MAX_STEP_SHARE}")
    _steps()
    cinc = args.data / "cinc2017"
    if (cinc / "REFERENCE.csv").is_file():
        with (cinc / "REFERENCE.csv").open(newline="") as fh:
            names = [row[0] for row in csv.reader(fh)][:: args.step]
        values = []
        for name in names:
            rec = read_record(cinc / name)
            b = _shape_if_otherwise_readable(rec.signals_mv[:, 0], rec.fs_hz)
            if b is not None:
                values.append(b)
        _summary(f"CinC 2017 (every {args.step}th record)", values)
    ludb = args.data / "ludb" / "data"
    if ludb.is_dir():
        values = []
        for hea in sorted(ludb.glob("*.hea")):
            rec = read_record(hea)
            for j in range(rec.signals_mv.shape[1]):
                b = _shape_if_otherwise_readable(rec.signals_mv[:, j], rec.fs_hz)
                if b is not None:
                    values.append(b)
        _summary("LUDB (every lead)", values)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
