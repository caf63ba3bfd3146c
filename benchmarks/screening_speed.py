"""Speed of local screening vs neurokit2, side by side on the same 30 s records.

Usage::

    .venv/bin/python benchmarks/screening_speed.py [--data ../shared/data] [--records 10] [--repeats 7]

Measures, per record (median over repeats, one thread, model loaded beforehand):

- full local screening :func:`ecg.screening.screen` (R peaks + quality + preprocessing +
  int8 model) vs ``neurokit2.ecg_process`` on the same signal;
- our R-peak step :func:`ecg.beats.detect_r_peaks` (it filters the raw signal itself) vs
  ``neurokit2.ecg_peaks`` on the already-cleaned signal, and vs ``ecg_clean + ecg_peaks``;
- the parts of screening: R peaks, quality, model input preparation, model inference.

Records: the 30 s CinC 2017 records of ``--data``/cinc2017 (first ``--records``), or the
committed fixtures when the data folder is absent. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

from benchmarks.analysis_cost import cpu_ms  # noqa: E402
from ecg import beats  # noqa: E402
from ecg.io import read_record  # noqa: E402
from ecg.model import load_model, prepare_signal, signal_windows  # noqa: E402
from ecg.quality import assess  # noqa: E402
from ecg.rr_features import rr_features  # noqa: E402
from ecg.screening import screen  # noqa: E402


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU time (ms, ``time.process_time``) after a warm-up: the figure a shared machine keeps."""
    return cpu_ms(fn, repeats)


def _records(data: Path, n: int) -> list[tuple[str, np.ndarray, float]]:
    cinc = data / "cinc2017"
    paths = sorted(cinc.glob("A*.hea")) if cinc.is_dir() else sorted((_REPO / "tests/fixtures/cinc2017").glob("*.hea"))
    out = []
    for p in paths:
        rec = read_record(p)
        if rec.signals_mv.shape[0] == int(30 * rec.fs_hz):
            out.append((rec.name, rec.signals_mv[:, 0], rec.fs_hz))
        if len(out) == n:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", _REPO.parent / "shared" / "data")))
    p.add_argument("--records", type=int, default=10)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    import neurokit2 as nk

    model = load_model()
    rows: dict[str, list[float]] = {k: [] for k in (
        "screen", "nk_process", "our_peaks", "nk_peaks", "nk_clean_peaks", "quality", "prepare", "inference")}
    recs = _records(args.data, args.records)
    for name, x, fs in recs:
        cleaned = nk.ecg_clean(x, sampling_rate=int(fs))
        peaks = beats.detect_r_peaks(x, fs)
        feats = rr_features(peaks, fs, duration_s=x.size / fs)
        wins = signal_windows(prepare_signal(x, fs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows["nk_process"].append(_median_ms(lambda: nk.ecg_process(x, sampling_rate=int(fs)), args.repeats))
            rows["nk_peaks"].append(_median_ms(lambda: nk.ecg_peaks(cleaned, sampling_rate=int(fs)), args.repeats))
            rows["nk_clean_peaks"].append(_median_ms(
                lambda: nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=int(fs)), sampling_rate=int(fs)), args.repeats))
        rows["screen"].append(_median_ms(lambda: screen(x, fs, model=model), args.repeats))
        rows["our_peaks"].append(_median_ms(lambda: beats.detect_r_peaks(x, fs), args.repeats))
        rows["quality"].append(_median_ms(lambda: assess(x, fs, r_peaks=peaks), args.repeats))
        rows["prepare"].append(_median_ms(lambda: prepare_signal(x, fs), args.repeats))
        rows["inference"].append(_median_ms(lambda: model.predict_windows(wins, feats), args.repeats))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{len(recs)} records of 30 s at {recs[0][2]:g} Hz, median over records of the median of "
          f"{args.repeats} runs; model {model.version}; load average {os.getloadavg()[0]:.1f}")
    print()
    print("| step | ours (ms) | neurokit2 (ms) | speed-up |")
    print("|---|---|---|---|")
    print(f"| full screening vs `ecg_process` | {med['screen']:.1f} | {med['nk_process']:.1f} | "
          f"{med['nk_process'] / med['screen']:.1f}× |")
    print(f"| R peaks (raw signal) vs `ecg_peaks` (cleaned signal) | {med['our_peaks']:.2f} | {med['nk_peaks']:.2f} | "
          f"{med['nk_peaks'] / med['our_peaks']:.2f}× |")
    print(f"| R peaks (raw signal) vs `ecg_clean` + `ecg_peaks` | {med['our_peaks']:.2f} | {med['nk_clean_peaks']:.2f} | "
          f"{med['nk_clean_peaks'] / med['our_peaks']:.2f}× |")
    print()
    print(f"Screening parts (ms): R peaks {med['our_peaks']:.1f}, quality {med['quality']:.1f}, "
          f"model input {med['prepare']:.1f}, int8 inference {med['inference']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
