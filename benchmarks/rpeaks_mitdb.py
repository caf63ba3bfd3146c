"""R-peak detection on MIT-BIH: cardiolink vs neurokit2 vs wfdb XQRS, side by side.

Each detector runs on channel 0 (MLII) of every record, the whole 30 min. A detection
matches a reference beat within ±150 ms (one-to-one, closest pairs first). Reference
beats are the beat annotation symbols only (non-beat marks such as ``+ ~ | x "`` are
excluded). Reported: TP, FN, FP, sensitivity Se = TP/(TP+FN) and positive predictivity
PPV = TP/(TP+FP) per record and summed over all records, plus the median time to process
one 30 s window, wall clock and CPU (timed separately, on 30 s windows taken from the
records, resampled to 300 Hz as the device records). neurokit2 is timed as run here:
``ecg_clean`` + ``ecg_peaks``.

Usage::

    nice -n 10 .venv/bin/python benchmarks/rpeaks_mitdb.py [--data ../shared/data/mitdb]
        [--records 100 101 ...] [--detectors cardiolink neurokit2 xqrs] [--json out.json]
        [--window-s 30]

``--window-s 30`` runs every detector on consecutive 30 s windows (what the device
records) instead of whole records.

Data: ``--data``, else env ``CARDIOLINK_DATA``/mitdb, else ``../shared/data/mitdb``
relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ecg.beats import detect_r_peaks  # noqa: E402
from ecg.preprocess import Resample  # noqa: E402

#: Annotation symbols that mark a heart beat (PhysioNet convention).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
TOLERANCE_S = 0.150
CLEAN_RECORDS = ("100", "101", "103", "113", "115")

Detector = Callable[[np.ndarray, float], np.ndarray]


def _cardiolink(sig: np.ndarray, fs: float) -> np.ndarray:
    return detect_r_peaks(sig, fs)


def _neurokit2(sig: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ecg_clean(sig, sampling_rate=fs)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _neurokit2_peaks_only(clean: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(clean, sampling_rate=fs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _xqrs(sig: np.ndarray, fs: float) -> np.ndarray:
    from wfdb import processing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(processing.xqrs_detect(sig, fs=fs, verbose=False), dtype=np.int64)


DETECTORS: dict[str, Detector] = {"cardiolink": _cardiolink, "neurokit2": _neurokit2, "xqrs": _xqrs}


def match(ref: np.ndarray, det: np.ndarray, tol: int) -> tuple[int, int, int]:
    """One-to-one matching within ``tol`` samples, closest pairs first. Returns TP, FN, FP."""
    found, used = match_masks(ref, det, tol)
    tp = int(found.sum())
    return tp, int(found.size) - tp, int(used.size) - tp


def match_masks(ref: np.ndarray, det: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match`'s pairing as masks over the *sorted* ``ref`` and ``det``: which reference
    beats were found, which detections were used."""
    ref = np.sort(np.asarray(ref, dtype=np.int64))
    det = np.sort(np.asarray(det, dtype=np.int64))
    found, used = np.zeros(ref.size, dtype=bool), np.zeros(det.size, dtype=bool)
    if ref.size == 0 or det.size == 0:
        return found, used
    pos = np.searchsorted(ref, det)
    pairs: list[tuple[int, int, int]] = []
    for k in (pos - 1, pos):
        ok = (k >= 0) & (k < ref.size)
        d_idx = np.flatnonzero(ok)
        dist = np.abs(ref[k[ok]] - det[ok])
        near = dist <= tol
        pairs += list(zip(dist[near].tolist(), d_idx[near].tolist(), k[ok][near].tolist()))
    pairs.sort()
    for _, d, r in pairs:
        if not used[d] and not found[r]:
            used[d] = True
            found[r] = True
    return found, used


def load(data: Path, rec: str) -> tuple[np.ndarray, float, np.ndarray]:
    import wfdb

    r = wfdb.rdrecord(str(data / rec), channels=[0])
    ann = wfdb.rdann(str(data / rec), "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS], dtype=np.int64)
    return np.asarray(r.p_signal[:, 0], dtype=np.float64), float(r.fs), beats


def time_30s(det: Detector, windows: list[np.ndarray], fs: float) -> tuple[float, float]:
    """Median wall-clock and median CPU (thread) milliseconds per 30 s window.

    CPU time is the steadier figure on a shared, loaded machine.
    """
    wall, cpu = [], []
    for w in windows:
        t0, c0 = time.perf_counter(), time.thread_time()
        det(w, fs)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(wall)), 1000.0 * float(np.median(cpu))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")) / "mitdb"
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--records", nargs="*")
    ap.add_argument("--detectors", nargs="*", default=list(DETECTORS), choices=list(DETECTORS))
    ap.add_argument("--timing-windows", type=int, default=3, help="30 s windows per record for timing")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--window-s",
        type=float,
        default=0.0,
        help="detect on consecutive windows of this length (e.g. 30, as the device records) "
        "instead of whole records; the incomplete last window is left out",
    )
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"MIT-BIH data not found at {args.data} (give --data or set CARDIOLINK_DATA)", file=sys.stderr)
        return 2
    records = args.records or sorted(p.stem for p in args.data.glob("*.hea"))
    totals = {d: np.zeros(3, dtype=np.int64) for d in args.detectors}
    clean = {d: np.zeros(3, dtype=np.int64) for d in args.detectors}
    timing_windows: list[np.ndarray] = []
    rows = []
    header = f"{'rec':>5} " + " ".join(f"{d:>22}" for d in args.detectors)
    print(header + "\n" + f"{'':>5} " + " ".join(f"{'Se%   PPV%   FN   FP':>22}" for _ in args.detectors))
    for rec in records:
        sig, fs, ref = load(args.data, rec)
        tol = int(round(TOLERANCE_S * fs))
        n_win = int(args.window_s * fs)
        if n_win:
            ref = ref[ref < (sig.size // n_win) * n_win]
        row: dict[str, object] = {"record": rec, "beats": int(ref.size)}
        cells = []
        for name in args.detectors:
            if n_win:
                det = np.concatenate(
                    [DETECTORS[name](sig[s : s + n_win], fs) + s for s in range(0, sig.size - n_win + 1, n_win)]
                )
            else:
                det = DETECTORS[name](sig, fs)
            tp, fn, fp = match(ref, det, tol)
            totals[name] += (tp, fn, fp)
            if rec in CLEAN_RECORDS:
                clean[name] += (tp, fn, fp)
            se, ppv = 100 * tp / max(1, tp + fn), 100 * tp / max(1, tp + fp)
            row[name] = {"tp": tp, "fn": fn, "fp": fp, "se": se, "ppv": ppv}
            cells.append(f"{se:6.2f} {ppv:6.2f} {fn:4d} {fp:4d}")
        rows.append(row)
        print(f"{rec:>5} " + " ".join(f"{c:>22}" for c in cells), flush=True)
        n30 = int(30 * fs)
        starts = np.linspace(n30, sig.size - 2 * n30, args.timing_windows).astype(int)
        resample = Resample(300.0)
        timing_windows += [resample.apply(sig[s : s + n30], fs)[0] for s in starts]
    summary: dict[str, object] = {}
    for label, agg in (("all", totals), ("clean", clean)):
        cells = []
        for name in args.detectors:
            tp, fn, fp = (int(v) for v in agg[name])
            se, ppv = 100 * tp / max(1, tp + fn), 100 * tp / max(1, tp + fp)
            summary.setdefault(name, {})[label] = {"tp": tp, "fn": fn, "fp": fp, "se": se, "ppv": ppv}  # type: ignore[union-attr]
            cells.append(f"{se:6.2f} {ppv:6.2f} {fn:4d} {fp:4d}")
        print(f"{label:>5} " + " ".join(f"{c:>22}" for c in cells))
    cells = []
    for name in args.detectors:
        DETECTORS[name](timing_windows[0], 300.0)  # warm-up (imports, filter design)
        wall_ms, cpu_ms = time_30s(DETECTORS[name], timing_windows, 300.0)
        summary[name]["ms_per_30s"] = wall_ms  # type: ignore[index]
        summary[name]["cpu_ms_per_30s"] = cpu_ms  # type: ignore[index]
        cells.append(f"{wall_ms:7.2f} / {cpu_ms:6.2f} ms")
    print(f"{'time':>5} " + " ".join(f"{c:>22}" for c in cells) + "   (wall / CPU per 30 s at 300 Hz)")
    if "neurokit2" in args.detectors:
        import neurokit2 as nk

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cleaned = [np.asarray(nk.ecg_clean(w, sampling_rate=300.0)) for w in timing_windows]
            wall_ms, cpu_ms = time_30s(_neurokit2_peaks_only, cleaned, 300.0)
        summary["neurokit2"]["peaks_only_ms_per_30s"] = wall_ms  # type: ignore[index]
        summary["neurokit2"]["peaks_only_cpu_ms_per_30s"] = cpu_ms  # type: ignore[index]
        print(f"neurokit2 ecg_peaks alone (on an ecg_clean'ed signal): {wall_ms:.2f} / {cpu_ms:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"records": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
