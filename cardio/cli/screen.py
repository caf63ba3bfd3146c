"""``cardio screen PATH... [--fs HZ] [--units mv|counts] [--adc-gain G] [--baseline B] [--lead NAME] [--json]``.

Checks the rhythm of WFDB records (``.hea`` path or name without extension) or CSV files
with the local rhythm model (:func:`ecg.screening.screen`) and prints one plain line per
record (the words of the class table, :mod:`ecg.classes`), then the safety text. A CSV
exported by ``cardio export --format csv`` is read with the parameter file beside it
(see :mod:`cardio.cli.inputs`). With ``--json`` each line is one JSON object::

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
import logging
import sys
import time
from typing import Any

from cardio.cli.inputs import InputOptionsError, add_input_options, read_input

EXIT_OK = 0
EXIT_ERROR = 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "screen",
        help="check the rhythm of ECG files (WFDB or CSV) with the local model",
        description="Check the rhythm of WFDB or CSV records with the local model: sinus rhythm, possible atrial "
        "fibrillation, other rhythm, inconclusive or unreadable. One line per record; --json adds the model's "
        "codes and probabilities.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="WFDB record (.hea or name without extension) or CSV")
    add_input_options(parser)
    parser.add_argument("--lead", metavar="NAME", help="lead to screen (default: the first)")
    parser.add_argument("--details", action="store_true", help="also print the model's codes and probabilities")
    parser.add_argument("--json", action="store_true", help="print one JSON object per record (JSON Lines)")
    parser.set_defaults(func=run_screen)


def screen_path(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Read and screen one record; return the JSON-ready dict (``record`` first, ``elapsed_ms`` last).

    ``elapsed_ms`` times the screening itself (not reading the file).
    """
    from ecg.model import load_model
    from ecg.screening import screen

    rec = read_input(path, args)
    index = rec.lead_index(args.lead)
    model = load_model()  # once per process; not part of the timed screening
    t0 = time.perf_counter()
    result = screen(rec.signals_mv[:, index], rec.fs_hz, model=model)
    elapsed_ms = (time.perf_counter() - t0) * 1000.0
    return {"record": rec.name} | result.to_dict() | {"elapsed_ms": round(elapsed_ms, 1)}


def human(d: dict[str, Any], *, details: bool = False) -> str:
    """One plain line: record, verdict in words, heart rate when readable, flags in words."""
    from companion.web.present import FLAG_WORDS
    from ecg.classes import by_category

    entry = by_category(d["category"])
    line = f"{d['record']}: {entry.patient_label}"
    if d["category"] != "unreadable" and d["heart_rate_bpm"] is not None:
        line += f", heart rate {d['heart_rate_bpm']:.0f} bpm"
    words = [FLAG_WORDS[f] for f in d["flags"] if f in FLAG_WORDS and d["category"] != "unreadable"]
    if words:
        line += " (" + "; ".join(words) + ")"
    if d["category"] == "unreadable" and d["quality"].get("reasons"):
        line += " — " + ", ".join(map(str, d["quality"]["reasons"]))
    if details:
        p = d.get("probabilities") or {}
        line += f"   [code {d['label']}" + "".join(f" {k} {v:.2f}" for k, v in p.items()) + "]"
    return line


def run_screen(args: argparse.Namespace) -> int:
    """Screen every path; keep going after a bad one."""
    from ecg.errors import EcgError

    status = EXIT_OK
    printed = False
    for path in args.paths:
        try:
            out = screen_path(path, args)
            line = json.dumps(out, allow_nan=False) if args.json else human(out, details=args.details)
        except Exception as exc:  # noqa: BLE001 - one bad record never ends the batch (issue 13 #21)
            status = EXIT_ERROR
            if not isinstance(exc, (EcgError, InputOptionsError, LookupError, OSError, ValueError)):
                logging.getLogger(__name__).exception("internal error on %s", path)
            if args.json:
                print(json.dumps({"record": path, "error": type(exc).__name__, "message": str(exc)}), flush=True)
            else:
                print(f"cardio screen: {path}: {exc}", file=sys.stderr)
            continue
        print(line, flush=True)
        printed = True
    if printed and not args.json:
        from ecg.classes import SAFETY_TEXT

        print(SAFETY_TEXT)
    return status
