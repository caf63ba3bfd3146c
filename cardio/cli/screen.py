"""``cardio screen PATH... [--fs HZ] [--adc-gain G] [--baseline B] [--lead NAME] [--json]``.

Screens WFDB records (``.hea`` path or name without extension) or CSV files with the
local rhythm model (:func:`ecg.screening.screen`) and prints one line per record. With
``--json`` each line is one JSON object::

    {"record", "label", "category", "probabilities": {"N","A","O","~"}, "heart_rate_bpm",
     "quality", "flags", "model_version", "rhythm": {"code","category","probability","label"},
     "elapsed_ms"}

``rhythm`` is the very object the cloud answers for the same samples. An unreadable
record (flat, lead-off, NaN, clipped, too short, implausible) prints category
``unreadable`` with the quality reasons, no heart rate and no probabilities.

A record that cannot be read or screened gives an error line
(``{"record", "error", "message"}`` with ``--json``) and the command goes on with the
next one; the exit code is then 1. No TensorFlow is needed: the model runs on LiteRT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ecg.classes import CLASS_CODES
from ecg.errors import EcgError
from ecg.io import read_record
from ecg.model import load_model
from ecg.screening import screen

EXIT_OK = 0
EXIT_ERROR = 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "screen",
        help="screen ECG records for sinus rhythm, atrial fibrillation, other rhythm or unreadable",
        description="Run the local TFLite rhythm model on WFDB or CSV records; one line per record. "
        "Labels are CinC 2017 codes: N sinus rhythm, A atrial fibrillation, O other rhythm, ~ unreadable.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="WFDB record (.hea or name without extension) or CSV")
    parser.add_argument("--fs", "--fs-hz", dest="fs_hz", type=float, help="sample rate of CSV input, Hz")
    parser.add_argument("--adc-gain", type=float, help="CSV input in ADC counts: counts per mV (default: CSV holds mV)")
    parser.add_argument("--baseline", type=int, default=0, help="CSV input: ADC count of 0 mV (default 0)")
    parser.add_argument("--lead", metavar="NAME", help="lead to screen (default: the first)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per record (JSON Lines)")
    parser.set_defaults(func=run_screen)


def screen_path(path: str, *, fs_hz: float | None, adc_gain: float | None, baseline: int,
                lead: str | None = None) -> dict[str, Any]:
    """Read and screen one record; return the JSON-ready dict (``record`` first, ``elapsed_ms`` last).

    ``elapsed_ms`` times the screening itself (not reading the file).
    """
    rec = read_record(path, fs_hz=fs_hz, adc_gain=adc_gain, baseline=baseline)
    index = rec.lead_index(lead)
    model = load_model()  # once per process; not part of the timed screening
    t0 = time.perf_counter()
    result = screen(rec.signals_mv[:, index], rec.fs_hz, model=model)
    elapsed_ms = (time.perf_counter() - t0) * 1000.0
    return {"record": rec.name} | result.to_dict() | {"elapsed_ms": round(elapsed_ms, 1)}


def _human(d: dict[str, Any]) -> str:
    hr = "—" if d["heart_rate_bpm"] is None else f"{d['heart_rate_bpm']:.0f} bpm"
    p = d["probabilities"]
    flags = f" [{', '.join(d['flags'])}]" if d["flags"] else ""
    why = "" if d["quality"]["readable"] else f" ({', '.join(d['quality']['reasons'])})"
    probs = "  " + " ".join(f"{code} {p[code]:.2f}" for code in CLASS_CODES) if p else ""
    return f"{d['record']}: {d['rhythm']['label']} ({d['label']}){why}, HR {hr}{flags}{probs}"


def run_screen(args: argparse.Namespace) -> int:
    """Screen every path; keep going after a bad one."""
    status = EXIT_OK
    for path in args.paths:
        try:
            out = screen_path(path, fs_hz=args.fs_hz, adc_gain=args.adc_gain, baseline=args.baseline, lead=args.lead)
        except (EcgError, LookupError, OSError, ValueError) as exc:
            status = EXIT_ERROR
            if args.json:
                print(json.dumps({"record": path, "error": type(exc).__name__, "message": str(exc)}), flush=True)
            else:
                print(f"cardio screen: {path}: {exc}", file=sys.stderr)
            continue
        print(json.dumps(out, allow_nan=False) if args.json else _human(out), flush=True)
    return status
