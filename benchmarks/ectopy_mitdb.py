"""Premature-beat classification (ecg.ectopy) scored on MIT-BIH, beat by beat.

Each record of ``<data>/mitdb`` is cut into 30-s segments (the companion's recording
length); lead 0 (MLII) is band-passed and resampled to 300 Hz as the cloud does, R
peaks come from ``ecg.beats.detect_r_peaks``, and ``ecg.ectopy.find_ectopy``
labels premature beats. Detected beats are matched to the reference annotations
within 150 ms (a flag with no reference beat near it counts as a false positive). Reference classes: V (PVC), A/a/J/S (supraventricular premature, "PAC"),
N/L/R/e/j (normal or bundle-branch beats, "other"). Fusion (F), paced (/ f) and
unclassifiable (Q) beats are left out of the scores. Segments with atrial fibrillation
or flutter in the reference rhythm are skipped, as the cloud skips ectopy when its
rhythm model says AF.

    nice -n 10 .venv/bin/python benchmarks/ectopy_mitdb.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import wfdb

from ecg.ectopy import find_ectopy
from ecg.beats import detect_r_peaks
from ecg.preprocess import BandPass, Pipeline, Resample

REPO = Path(__file__).resolve().parents[1]
PVC, PAC, OTHER = "V", "AaJS", "NLRej"
FS_HZ = 300.0
SEGMENT_S = 30.0


def score_record(path: Path, counts: Counter[str]) -> None:
    rec = wfdb.rdrecord(str(path), channels=[0])
    ann = wfdb.rdann(str(path), "atr")
    x, fs = Pipeline([BandPass(0.5, 40.0), Resample(FS_HZ)]).apply(rec.p_signal, float(rec.fs))
    scale = FS_HZ / rec.fs
    ref_samples = np.round(np.asarray(ann.sample) * scale).astype(np.int64)
    ref_symbols = np.asarray(ann.symbol)
    step = int(SEGMENT_S * fs)
    af = _af_mask(ann, x.shape[0], scale)
    for start in range(0, x.shape[0] - step + 1, step):
        if af[start : start + step].any():  # the cloud skips ectopy when the rhythm is AF
            counts["segments_af_skipped"] += 1
            continue
        counts["segments"] += 1
        seg = x[start : start + step]
        found = find_ectopy(seg, fs, detect_r_peaks(seg[:, 0], fs))
        marks = [(int(p), "V") for p in found.pvc] + [(int(p), "A") for p in found.pac]
        in_seg = (ref_samples >= start) & (ref_samples < start + step)
        refs, syms = ref_samples[in_seg] - start, ref_symbols[in_seg]
        used: set[int] = set()
        for at, sym in zip(refs, syms):
            truth = "V" if sym in PVC else "A" if sym in PAC else "O" if sym in OTHER else None
            near = [k for k, (p, _) in enumerate(marks) if abs(p - int(at)) <= 0.15 * fs and k not in used]
            if near:
                used.add(near[0])
            if truth is not None:
                counts[f"{truth}->{marks[near[0]][1] if near else 'O'}"] += 1
        for k, (_, label) in enumerate(marks):
            if k not in used:
                counts[f"none->{label}"] += 1  # flagged where the reference has no beat


def _af_mask(ann: wfdb.Annotation, n: int, scale: float) -> np.ndarray:
    """True where the reference rhythm is atrial fibrillation or flutter."""
    mask = np.zeros(n, dtype=bool)
    current, since = "", 0
    for sample, note in zip(ann.sample, ann.aux_note):
        if note and note.startswith("("):
            at = int(round(sample * scale))
            if current in ("(AFIB", "(AFL"):
                mask[since:at] = True
            current, since = note.strip("\x00"), at
    if current in ("(AFIB", "(AFL"):
        mask[since:] = True
    return mask


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("CARDIOLINK_DATA", str(REPO.parent / "shared" / "data")))
    args = parser.parse_args()
    folder = Path(args.data) / "mitdb"
    if not folder.is_dir():
        print(f"no MIT-BIH folder at {folder} (set --data or CARDIOLINK_DATA)", file=sys.stderr)
        return 2
    counts: Counter[str] = Counter()
    records = sorted({p.with_suffix("") for p in folder.rglob("*.hea")})
    for path in records:
        before = counts.copy()
        score_record(path, counts)
        diff = counts - before
        print(f"{path.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(diff.items())), flush=True)
    for cls, name in (("V", "PVC"), ("A", "PAC")):
        tp = counts[f"{cls}->{cls}"]
        fn = sum(v for k, v in counts.items() if k.startswith(f"{cls}->") and not k.endswith(cls))
        fp = sum(v for k, v in counts.items() if k.endswith(f"->{cls}") and not k.startswith(f"{cls}->"))
        se = tp / (tp + fn) if tp + fn else float("nan")
        ppv = tp / (tp + fp) if tp + fp else float("nan")
        print(f"{name}: Se {se:.3f} ({tp}/{tp + fn}), PPV {ppv:.3f} ({tp}/{tp + fp})")
    print(f"segments scored {counts['segments']}, skipped for AF/AFL {counts['segments_af_skipped']}")
    print(f"records {len(records)}, segments of {SEGMENT_S:g} s, matched beats {sum(v for k, v in counts.items() if '->' in k)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
