"""``cardio measure PATH... [--lead NAME] [--all-leads] --json``: ECG intervals of records.

Reads WFDB records (``.hea`` path or name without extension) or CSV files, delineates
P/QRS/T with :func:`ecg.delineate.measure` and prints, per record, either one JSON line
(``--json``) or a short human-readable line. A record that cannot be read or measured
gives an error line (``{"record": ..., "error": ..., "message": ...}`` with ``--json``)
and the command goes on with the next one; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from cardio.cli.inputs import InputOptionsError, add_input_options, read_input

EXIT_OK = 0
EXIT_ERROR = 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "measure",
        help="measure PR, QRS, QT/QTc and heart rate of ECG records (P/QRS/T delineation)",
        description="Delineate P, QRS and T waves of WFDB or CSV records and print the median PR, QRS, "
        "QT, QTc (Fridericia; --json also gives Bazett's value), heart rate and findings. One line per record.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="WFDB record (.hea or name without extension) or CSV")
    parser.add_argument("--lead", metavar="NAME", help="lead to measure (default: the first)")
    parser.add_argument("--all-leads", action="store_true",
                        help="measure all leads together (global 12-lead boundaries, axis, bundle branch blocks)")
    parser.add_argument("--sex", choices=("M", "F"), help="selects the long-QTc limit (Fridericia: 450 ms men, 460 ms women; not given: 460 ms)")
    parser.add_argument("--delineator", choices=("rules", "learned"), default=None,
                        help="P/QRS/T boundaries from the learned wave segmenter or the rule delineator (default: "
                        "the one the phone and the cloud use; --json names it; see docs/measurements.md)")
    add_input_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object per record (JSON Lines)")
    parser.set_defaults(func=run_measure)


def measure_path(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one record and return the JSON-ready dict (with ``"record"`` first)."""
    from ecg.delineate import measure, measure_leads

    rec = read_input(path, args)
    lead, all_leads, sex = args.lead, args.all_leads, args.sex
    sex_arg = "M" if sex == "M" else "F" if sex == "F" else None
    from ecg.delineation.learned import LEARNED_IS_DEFAULT, delineate_learned
    from ecg.delineation.lead import delineate_context

    name = args.delineator or ("learned" if LEARNED_IS_DEFAULT else "rules")
    delineator = delineate_learned if name == "learned" else delineate_context
    if all_leads:
        out = measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names, sex=sex_arg, delineator=delineator).to_dict()
    else:
        j = rec.lead_index(lead)
        out = measure(rec.signals_mv[:, j], rec.fs_hz, lead=rec.lead_names[j], sex=sex_arg,
                      delineator=delineator).to_dict()
    return {"record": rec.name, "delineator": name, **out}


def _fmt(v: float | None, unit: str) -> str:
    return "—" if v is None else f"{v:.0f} {unit}"


def _qtc_limits_words(lim: dict[str, Any]) -> str:
    """The QTc limits the record was judged with, e.g. ``[short ≤ 390, long ≥ 450 ms: men's limit]``."""
    return f"[short ≤ {lim['short_ms']:.0f}, long ≥ {lim['long_ms']:.0f} ms: {lim['basis']}]"


def _human(d: dict[str, Any]) -> str:
    parts = [
        f"{d['record']} [{d['lead']}]",
        f"HR {_fmt(d['heart_rate_bpm'], 'bpm')}",
        f"PR {_fmt(d['pr_ms'], 'ms')}",
        f"QRS {_fmt(d['qrs_ms'], 'ms')}",
        f"QT {_fmt(d['qt_ms'], 'ms')}",
        f"QTc ({d['qtc_formula']}) {_fmt(d['qtc_ms'], 'ms')} {_qtc_limits_words(d['qtc_limits'])}",
    ]
    if d.get("axis_deg") is not None:
        parts.append(f"axis {d['axis_deg']:.0f}°")
    line = "  ".join(parts)
    if d["findings"]:
        line += "  findings: " + ", ".join(f["label"] for f in d["findings"])
    if d["reasons"]:
        line += "  (" + "; ".join(f"{k}: {v}" for k, v in d["reasons"].items()) + ")"
    return line


def run_measure(args: argparse.Namespace) -> int:
    """Measure every path; errors are reported per record."""
    from ecg.errors import EcgError

    status = EXIT_OK
    for path in args.paths:
        try:
            d = measure_path(path, args)
            line = json.dumps(d, allow_nan=False) if args.json else _human(d)
        except Exception as exc:  # noqa: BLE001 - one bad record never ends the batch (issue 13 #21)
            status = EXIT_ERROR
            if not isinstance(exc, (EcgError, InputOptionsError, LookupError, OSError, ValueError)):
                logging.getLogger(__name__).exception("internal error on %s", path)
            if args.json:
                print(json.dumps({"record": str(Path(path)), "error": type(exc).__name__, "message": str(exc)}))
            print(f"cardio: error: {path}: {exc}", file=sys.stderr)
            continue
        print(line)
        sys.stdout.flush()
    return status
