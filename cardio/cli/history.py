"""``cardio history``, ``cardio show ID``, ``cardio export ID``, ``cardio delete ID``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardio.cli.common import EXIT_ERROR, EXIT_OK, add_store_options, config_from_args, print_json, run_command
from cardio.cli.words import describe
from companion import recovery
from companion.export import FORMATS, export
from companion.localtime import to_local, when_text
from companion.notes import SYMPTOMS, parse_symptoms, symptom_words
from companion.store import Store
from companion.store_models import RecordingSummary
from companion.web import present

#: what ``--result`` accepts: verdict categories (class table + the app's own)
RESULT_CHOICES = ("sinus_rhythm", "atrial_fibrillation", "other_rhythm", "inconclusive", "unreadable",
                  "too_short", "not_screened")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the history commands to ``cardio``."""
    p = subparsers.add_parser("history", help="list your recordings, newest first",
                              description="List your recordings, newest first, in local time.")
    add_store_options(p, json_help="print a JSON list")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="show at most N recordings")
    p.add_argument("--result", choices=RESULT_CHOICES, metavar="RESULT",
                   help="only recordings with this result: " + ", ".join(RESULT_CHOICES))
    p.add_argument("--symptom", metavar="S", help="only recordings with this symptom: " + ", ".join(SYMPTOMS))
    p.set_defaults(func=run_command(cmd_history))

    p = subparsers.add_parser("show", help="show one recording and its result",
                              description="Show one recording: the result in plain words, then details.")
    p.add_argument("id", type=int, metavar="ID")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_show))

    p = subparsers.add_parser("export", help="export a recording as WFDB or CSV")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--format", choices=FORMATS, default="wfdb", help="wfdb (.hea/.dat) or csv (+ .json parameters)")
    p.add_argument("-o", "--output", metavar="DIR", default=".", help="output folder (default: current folder)")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_export))

    p = subparsers.add_parser("delete", help="delete a recording and its results (asks first)",
                              description="Delete a recording and its results for good. Asks first; --yes skips "
                              "the question. Recording numbers are never given to another recording.")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_delete))


def _open(args: argparse.Namespace) -> Store:
    config = config_from_args(args)
    store = Store.open(config)
    imported = recovery.import_pending(store, config.recovery_dir)
    if imported:
        print(f"imported {len(imported)} recording(s) from recovery files: {imported}", file=sys.stderr)
    return store


def select(rows: list[RecordingSummary], *, result: str | None, symptom: str | None) -> list[RecordingSummary]:
    """The rows whose verdict category is *result* and that carry *symptom* (None = any)."""
    wanted_symptom = parse_symptoms([symptom])[0] if symptom else None
    return [r for r in rows
            if (result is None or present.summary_verdict(r).category == result)
            and (wanted_symptom is None or wanted_symptom in r.symptoms)]


def cmd_history(args: argparse.Namespace) -> int:
    """List the recordings."""
    with _open(args) as store:
        rows = store.list_recordings(limit=None if (args.result or args.symptom) else args.limit)
    rows = select(rows, result=args.result, symptom=args.symptom)[: args.limit]
    if args.json:
        print_json([r.to_dict() | {"verdict": present.summary_verdict(r).category} for r in rows])
        return EXIT_OK
    if not rows:
        print("no recordings here yet: make one with `cardio record` (or `cardio record --simulate`)")
        return EXIT_OK
    from rich.console import Console  # only when printing a table
    from rich.table import Table

    zone = to_local(rows[0].recorded_at).tzname() or "local time"
    table = Table(title="Your recordings", title_justify="left", box=None, pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column(f"when ({zone})", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("pulse", justify="right", no_wrap=True)
    table.add_column("symptoms", overflow="fold")
    for r in rows:
        v = present.summary_verdict(r)
        table.add_row(str(r.id), to_local(r.recorded_at).strftime("%Y-%m-%d %H:%M"), v.label,
                      "" if v.heart_rate_bpm is None else f"{v.heart_rate_bpm:.0f}",
                      ", ".join(symptom_words(r.symptoms)))
    Console(width=max(80, Console().width)).print(table)
    print("`cardio show ID` explains one recording; screening results are not a diagnosis.")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    """Show one recording."""
    with _open(args) as store:
        stored = store.get_recording(args.id)
    if args.json:
        print_json(stored.to_dict() | {"verdict": present.verdict(stored).to_dict()})
    else:
        print("\n".join(describe(stored)))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Export one recording."""
    with _open(args) as store:
        stored = store.get_recording(args.id)
    files = export(stored, args.format, Path(args.output))
    if args.json:
        print_json({"id": stored.id, "format": args.format, "files": [str(f) for f in files]})
    else:
        for f in files:
            print(f)
    return EXIT_OK


def _confirmed(question: str) -> bool:
    """Ask on the terminal; anything but y/yes (or end of input) is no."""
    print(question + " [y/N] ", end="", flush=True, file=sys.stderr)
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one recording (after asking)."""
    with _open(args) as store:
        stored = store.get_recording(args.id)
        what = f"recording {stored.id} ({when_text(stored.recording.started_at)}, {present.verdict(stored).label})"
        if not args.yes and not _confirmed(f"Delete {what} for good? This cannot be undone."):
            if args.json:
                print_json({"id": args.id, "deleted": False})
            print(f"kept {what}", file=sys.stderr)
            return EXIT_ERROR
        store.delete_recording(args.id)
    if args.json:
        print_json({"id": args.id, "deleted": True})
    else:
        print(f"deleted {what}")
    return EXIT_OK
