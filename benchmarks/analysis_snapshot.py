"""Snapshot of every analysis output, to prove a cost-only change bit-identical.

``dump`` writes, for the first ``--cinc`` CinC 2017 records (any length) and the first
``--ludb`` LUDB records (12 leads), the cloud answer of :func:`cloud.pipeline.analyse`
(all fields but ``processingMs``), and for the CinC records the phone's
``ecg.screening.screen(...).to_dict()`` and ``ecg.delineate.measure(...).to_dict()`` (with
beats), plus the unrounded probabilities and quality fields and a hash of the model input;
for LUDB ``measure_leads(...).to_dict()`` (beats and per-lead measurements): the
``cardio screen --json`` / ``cardio measure --json`` documents without their timing. With
``--waves`` (the rule delineator's own proof) also every lead's
:class:`~ecg.delineation.lead.LeadWaves` of each LUDB record (all boundaries of every beat,
polarity, QRS amplitude, noise, reasons) at 500 Hz and resampled to 250 Hz, the leads
delineated together (``measure_leads``' path) and the first three each alone.
Floats are written with ``repr`` precision, so equal files mean equal to the last bit.
``compare`` lists the keys whose documents differ (exit status 1 when any does).

Usage (run the dump in each tree, e.g. an old commit exported to /tmp with ``git archive``)::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/analysis_snapshot.py dump /tmp/new.json --data ../shared/data
    .venv/bin/python benchmarks/analysis_snapshot.py compare /tmp/old.json /tmp/new.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _requests(data: Path, n_cinc: int, n_ludb: int) -> list[tuple[str, Any]]:
    """(key, record) of the first CinC records of any length and the first 12-lead LUDB records."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from analysis_cost import first_records  # type: ignore[import-not-found]

    cinc = first_records(sorted((data / "cinc2017").glob("A*.hea")), lambda r: True, n_cinc)
    ludb = first_records(sorted((data / "ludb/data").glob("*.hea")), lambda r: r.signals_mv.shape[1] == 12, n_ludb)
    return [(f"cinc/{r.name}", r) for r in cinc] + [(f"ludb/{r.name}", r) for r in ludb]


def _documents(rec: Any) -> dict[str, Any]:
    """The cloud answer and the phone's screen/measure documents of one record."""
    from analysis_cost import _payload  # type: ignore[import-not-found]

    from cloud.errors import UnanalysableSignal
    from cloud.pipeline import PipelineSettings, analyse
    from cloud.validation import parse_request
    from ecg.delineate import measure, measure_leads
    from ecg.errors import EcgError
    from ecg.screening import screen

    out: dict[str, Any] = {}
    try:
        body = analyse(parse_request(_payload(rec)), PipelineSettings())
        body.pop("processingMs", None)
        out["cloud"] = body
    except UnanalysableSignal as exc:
        out["cloud"] = f"UnanalysableSignal: {exc}"
    x = rec.signals_mv
    try:
        if x.shape[1] == 1:
            result = screen(x[:, 0], rec.fs_hz)
            out["screen"] = result.to_dict()
            out["measure"] = measure(x[:, 0], rec.fs_hz).to_dict()
            out["raw"] = _raw(x[:, 0], rec.fs_hz, result)
        else:
            out["measure_leads"] = measure_leads(x, rec.fs_hz, rec.lead_names).to_dict()
    except EcgError as exc:
        out["phone_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _lead_waves(lw: Any) -> dict[str, Any]:
    """Everything a :class:`~ecg.delineation.lead.LeadWaves` holds but its views."""
    return {"waves": {k: v.tolist() for k, v in lw.waves.items()}, "polarity": lw.polarity,
            "qrs_amplitude_mv": lw.qrs_amplitude_mv, "noise_mv": lw.noise_mv, "reasons": lw.reasons}


def _waves(rec: Any) -> dict[str, Any]:
    """The rule delineator's boundaries of every lead of a 12-lead record, at its own rate and
    resampled to 250 Hz; all leads in one pass, and the first three each delineated alone."""
    from ecg.context import contexts_of, share_beat_marks, share_views, share_lead_waves
    from ecg.delineation.lead import delineate_context
    from ecg.preprocess import resample

    out: dict[str, Any] = {}
    for fs_out in (rec.fs_hz, 250.0):
        x, fs = resample(rec.signals_mv, rec.fs_hz, fs_out)
        contexts = contexts_of(x, fs, rec.lead_names)
        share_beat_marks(contexts)
        share_views(contexts)
        share_lead_waves(contexts)
        alone = []
        for c in contexts_of(x[:, :3], fs):
            alone.append(_lead_waves(delineate_context(c)))
        out[f"{fs:g}"] = {"together": [_lead_waves(c.lead_waves) for c in contexts], "alone": alone}
    for a_s, b_s in _CROPS_S:  # 1-4 beats, beats cut at both ends
        crop = contexts_of(rec.signals_mv[int(a_s * rec.fs_hz) : int(b_s * rec.fs_hz)], rec.fs_hz)
        share_views(crop)
        out[f"crop {a_s}-{b_s} s"] = [_lead_waves(delineate_context(c)) for c in crop[:6]]
    return out


#: short pieces of every LUDB record delineated too (seconds): records of 1-4 beats, windows
#: clipped at both ends
_CROPS_S = ((0.0, 1.3), (0.37, 2.61), (4.05, 7.3))


def _raw(x: np.ndarray, fs_hz: float, result: Any) -> dict[str, Any]:
    """Unrounded values behind the rounded documents: the model's probabilities, every
    quality field and a hash of the model's input signal."""
    from ecg.model_input import prepare_signal

    prepared = prepare_signal(x, fs_hz) if fs_hz >= 100 and x.size >= fs_hz else np.zeros(0, dtype=np.float32)
    return {"probabilities": {k: float(v) for k, v in result.probabilities.items()},
            "quality": {k: v for k, v in vars(result.quality).items()},
            "model_input_sha256": hashlib.sha256(prepared.tobytes()).hexdigest()}


def dump(path: Path, data: Path, n_cinc: int, n_ludb: int, waves: bool = False) -> int:
    """Write the snapshot of this tree (the one on ``sys.path``) to *path*."""
    warnings.simplefilter("ignore")
    records = _requests(data, n_cinc, n_ludb)
    snap = {key: _documents(rec) for key, rec in records}
    if waves:
        for key, rec in records:
            if key.startswith("ludb/"):
                snap[key]["waves"] = _waves(rec)
    path.write_text(json.dumps(snap, sort_keys=True, indent=0))
    print(f"{len(snap)} records → {path}")
    return 0


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    """Paths at which two JSON documents differ (first few per record)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            out.append(f"{where}: keys {sorted(set(a) ^ set(b)) or 'order'}")
        for k in a:
            if k in b:
                _diff(a[k], b[k], f"{where}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{where}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append(f"{where}: {str(a)[:80]} → {str(b)[:80]}")


def compare(old: Path, new: Path) -> int:
    """Print the records whose documents differ; 1 when any does."""
    a = json.loads(old.read_text(), object_pairs_hook=dict)
    b = json.loads(new.read_text(), object_pairs_hook=dict)
    differing = []
    for key in sorted(set(a) | set(b)):
        paths: list[str] = []
        _diff(a.get(key), b.get(key), key, paths)
        if paths:
            differing.append(key)
            print("\n".join(paths[:5]))
    print(f"{len(differing)} of {len(set(a) | set(b))} records differ ({old.name} vs {new.name})")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared/data")))
    d.add_argument("--cinc", type=int, default=200)
    d.add_argument("--ludb", type=int, default=160)
    d.add_argument("--waves", action="store_true", help="also every LUDB lead's rule boundaries at 500 and 250 Hz")
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        return dump(args.out, args.data, args.cinc, args.ludb, args.waves)
    return compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
