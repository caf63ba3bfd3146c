"""``cardio history``, ``cardio show ID``, ``cardio export ID``, ``cardio delete ID``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from companion import recovery
from cardio.cli.common import EXIT_OK, add_store_options, config_from_args, print_json, run_command
from companion.export import FORMATS, export
from companion.store import Store
from companion.store_models import StoredRecording


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the history commands to ``cardio``."""
    p = subparsers.add_parser("history", help="list stored recordings, newest first")
    add_store_options(p, json_help="print a JSON list")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="show at most N recordings")
    p.set_defaults(func=run_command(cmd_history))

    p = subparsers.add_parser("show", help="show one recording and its results")
    p.add_argument("id", type=int, metavar="ID")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_show))

    p = subparsers.add_parser("export", help="export a recording as WFDB or CSV")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--format", choices=FORMATS, default="wfdb", help="wfdb (.hea/.dat) or csv (+ .json parameters)")
    p.add_argument("-o", "--output", metavar="DIR", default=".", help="output folder (default: current folder)")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_export))

    p = subparsers.add_parser("delete", help="delete a recording and its results")
    p.add_argument("id", type=int, metavar="ID")
    add_store_options(p)
    p.set_defaults(func=run_command(cmd_delete))


def _open(args: argparse.Namespace) -> Store:
    config = config_from_args(args)
    store = Store.open(config)
    imported = recovery.import_pending(store, config.recovery_dir)
    if imported:
        print(f"imported {len(imported)} recording(s) from recovery files: {imported}", file=sys.stderr)
    return store


def _label(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    text = str(result.get("category") or result.get("label") or "?")
    return text


def cmd_history(args: argparse.Namespace) -> int:
    """List the recordings."""
    with _open(args) as store:
        rows = store.list_recordings(limit=args.limit)
    if args.json:
        print_json([r.to_dict() for r in rows])
        return EXIT_OK
    if not rows:
        print("no recordings yet: make one with `cardio record` (or `cardio record --simulate`)")
        return EXIT_OK
    table = Table(title="cardiolink history")
    for col in ("ID", "recorded (UTC)", "s", "state"):
        table.add_column(col, no_wrap=True)
    for col in ("local result", "HR", "cloud", "sync"):
        table.add_column(col)
    for r in rows:
        hr = (r.local or {}).get("heart_rate_bpm")
        table.add_row(
            str(r.id), r.recorded_at.strftime("%Y-%m-%d %H:%M"), f"{r.duration_s:.1f}",
            r.state + ("" if r.verified or not r.complete else " (unverified)"), _label(r.local),
            "-" if hr is None else f"{hr:.0f}", _label(r.cloud), r.sync_state or "-",
        )
    Console().print(table)
    return EXIT_OK


def describe(stored: StoredRecording, *, with_sync: bool = True) -> list[str]:
    """Human-readable lines about one stored recording."""
    rec = stored.recording
    lines = [
        f"recording {stored.id}  ({stored.uuid})",
        f"  recorded at   {rec.started_at:%Y-%m-%d %H:%M:%S} UTC",
        f"  samples       {rec.n_samples} at {rec.sample_rate_hz:g} Hz = {rec.duration_s:.2f} s"
        + (f" of {rec.expected_samples}" if rec.expected_samples is not None else ""),
        f"  scale         {rec.adc_gain_counts_per_mv:g} counts/mV, baseline {rec.baseline_counts}",
        f"  state         {stored.state}; complete={rec.complete} verified={rec.verified}",
        f"  link          frames resent {rec.frames_resent}, reconnects {rec.reconnects}, "
        f"malformed frames {rec.frames_malformed}",
    ]
    if rec.gaps:
        lines.append(f"  missing       {sum(b - a for a, b in rec.gaps)} samples in {len(rec.gaps)} gap(s)")
    if rec.device:
        lines.append("  device        " + ", ".join(f"{k}={v}" for k, v in sorted(rec.device.items())))
    lost = [e for e in rec.contact_events if e.kind == "lost"]
    if lost:
        lines.append(f"  contact lost  {len(lost)} time(s)")
    for title, result in (("local result", stored.local_result), ("cloud result", stored.cloud_result)):
        if result:
            hr = result.get("heart_rate_bpm")
            label = result.get("label", "?")
            p = (result.get("probabilities") or {}).get(label)
            lines.append(
                f"  {title:<13} {_label(result)} (label {label}"
                + (f", p={p:.2f}" if isinstance(p, (int, float)) else "") + ")"
                + (f", heart rate {hr:.0f} bpm" if isinstance(hr, (int, float)) else "")
            )
            if result.get("flags"):
                lines.append(f"  {'':<13} flags: {', '.join(map(str, result['flags']))}")
    if stored.measurements:
        m = stored.measurements
        parts = [f"{k} {m[k]:.0f} ms" for k in ("pr_ms", "qrs_ms", "qt_ms", "qtc_ms") if isinstance(m.get(k), (int, float))]
        lines.append("  measurements  " + (", ".join(parts) if parts else "none measurable"))
    if with_sync:
        lines.append(f"  sync          {stored.sync_state or 'not queued'}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    """Show one recording."""
    with _open(args) as store:
        stored = store.get_recording(args.id)
    if args.json:
        print_json(stored.to_dict())
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


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one recording."""
    with _open(args) as store:
        store.delete_recording(args.id)
    if args.json:
        print_json({"id": args.id, "deleted": True})
    else:
        print(f"deleted recording {args.id}")
    return EXIT_OK
