"""Hash of the rhythm model's path for every CinC 2017 record, to prove a cost-only change bit-identical.

``dump`` writes, per record, the sha256 of: the model's input windows (``RhythmModel.windows``,
float32), the raw RR features (``ecg.rr_features.rr_features`` of ``ecg.beats.detect_r_peaks``)
and their standardised form, the unrounded class probabilities (``predict_windows_many``,
float64) and the decision rule's verdict (``ecg.screening.decide`` at 70 bpm). ``compare``
lists the records whose hashes differ (exit status 1 when any does).

Usage (run the dump in each tree, e.g. an old commit exported to /tmp with ``git archive``)::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/rhythm_path_hash.py dump /tmp/new.json --data ../shared/data
    .venv/bin/python benchmarks/rhythm_path_hash.py compare /tmp/old.json /tmp/new.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def record_hash(x_mv: np.ndarray, fs_hz: float) -> str:
    """sha256 of one recording's windows, RR features, probabilities and verdict."""
    from ecg import beats
    from ecg.classes import CLASS_CODES
    from ecg.errors import EcgError
    from ecg.model import load_model
    from ecg.rr_features import rr_features
    from ecg.screening import decide

    model = load_model()
    try:
        peaks = beats.detect_r_peaks(x_mv, fs_hz)
    except EcgError:
        peaks = np.zeros(0, dtype=np.int64)
    windows = model.windows(x_mv, fs_hz)
    feats = rr_features(peaks, fs_hz, duration_s=x_mv.size / fs_hz)
    probs = model.predict_windows_many([windows], [feats])[0]
    verdict = decide(dict(zip(CLASS_CODES, probs.tolist())), 70.0, model.decision)
    h = hashlib.sha256()
    for a in (windows, feats, model.standardise_rr(feats), probs):
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.dtype).encode())
    h.update(repr(verdict).encode())
    return h.hexdigest()


def dump(out: Path, data: Path) -> None:
    """Write ``{record: hash}`` of every labelled CinC 2017 record."""
    from training.data import CINC_FS_HZ, read_cinc_mv, read_labels

    cinc = data / "cinc2017"
    hashes = {name: record_hash(read_cinc_mv(cinc, name), CINC_FS_HZ) for name in sorted(read_labels(cinc))}
    out.write_text(json.dumps(hashes))
    combined = hashlib.sha256("".join(hashes[k] for k in sorted(hashes)).encode()).hexdigest()
    print(f"{len(hashes)} records → {out}; combined {combined[:16]}")


def compare(old: Path, new: Path) -> int:
    """Print the records whose hashes differ; 1 when any does (or the record sets differ)."""
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    for k in differ[:20]:
        print("differs:", k)
    print(f"{len(differ)} of {len(a.keys() | b.keys())} records differ ({old.name} vs {new.name})")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared/data")))
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        dump(args.out, args.data)
        return 0
    return compare(args.old, args.new)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
