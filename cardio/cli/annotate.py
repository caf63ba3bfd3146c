"""``cardio annotate ID [--symptom S ...] [--note TEXT]``: symptoms and a note on a recording.

Symptoms come from a fixed list (``companion.notes.SYMPTOMS``: palpitations, dizziness,
chest pain, shortness of breath, fatigue, none). Given symptoms replace the recording's
symptoms; ``--note`` replaces its note (``--note ""`` clears it); ``--clear-symptoms``
removes them. ``cardio show ID --json`` shows them as ``"symptoms"`` and ``"note"``.
"""

from __future__ import annotations

import argparse
import sys

from cardio.cli.common import EXIT_ERROR, EXIT_OK, add_store_options, config_from_args, print_json, run_command
from companion.notes import SYMPTOMS, symptom_words
from companion.store import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cardio annotate``."""
    p = subparsers.add_parser(
        "annotate", help="add symptoms and a note to a recording",
        description="Add symptoms and a note to a recording; they appear in `cardio show`, the app and the report.",
    )
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--symptom", action="append", metavar="S",
                   help="a symptom you felt (repeatable): " + ", ".join(w.replace("_", " ") for w in SYMPTOMS))
    p.add_argument("--clear-symptoms", action="store_true", help="remove the recording's symptoms")
    p.add_argument("--note", metavar="TEXT", help="a short note (replaces the previous one; \"\" clears it)")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_annotate))


def cmd_annotate(args: argparse.Namespace) -> int:
    """Store the symptoms and note; print what the recording now carries."""
    if args.symptom is None and args.note is None and not args.clear_symptoms:
        print("cardio: error: give --symptom S (repeatable), --clear-symptoms or --note TEXT", file=sys.stderr)
        return EXIT_ERROR
    symptoms = [] if args.clear_symptoms else args.symptom
    with Store.open(config_from_args(args)) as store:
        now = store.set_annotation(args.id, symptoms=symptoms, note=args.note)
    if args.json:
        print_json({"id": args.id, **now})
    else:
        print(f"recording {args.id}: symptoms: {', '.join(symptom_words(now['symptoms'])) or 'none given'}"
              + (f"; note: {now['note']}" if now["note"] else ""))
    return EXIT_OK
