"""``cardio report ID -o FILE``: a true-to-scale clinical-grid report of a stored recording.

The format follows the suffix of FILE: ``.pdf`` (print at 100 % / "actual size"),
``.png`` or ``.svg``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardio.cli.common import EXIT_ERROR, EXIT_OK, add_store_options, config_from_args, print_json, run_command
from companion.store import Store

#: PNG resolution (ecg.report.DEFAULT_DPI, not imported: matplotlib loads only when drawing)
DEFAULT_DPI = 200.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "report",
        help="write a PDF/PNG/SVG report of a recording to print or send to a doctor",
        description="Write a true-to-scale report (25 mm/s, 10 mm/mV, pink grid) of a stored recording. "
        "The file suffix chooses the format: .pdf, .png or .svg.",
    )
    parser.add_argument("id", type=int, help="recording id (see `cardio history`)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                        help="output file ending in .pdf, .png or .svg")
    parser.add_argument("--dpi", type=float, default=DEFAULT_DPI, help=f"PNG resolution (default {DEFAULT_DPI:g})")
    add_store_options(parser, json_help="print the written file as JSON")
    parser.set_defaults(func=run_report)


@run_command
def run_report(args: argparse.Namespace) -> int:
    """Render the report of recording ``args.id`` to ``args.output``."""
    config = config_from_args(args)
    with Store.open(config) as store:
        stored = store.get_recording(args.id)
        profile = store.profile()
    rec = stored.recording
    if rec.n_samples < 2:
        print(f"cardio: error: recording {stored.id} holds no samples to draw", file=sys.stderr)
        return EXIT_ERROR
    if not 10 <= args.dpi <= 1200:
        print("cardio: error: --dpi must be within 10..1200", file=sys.stderr)
        return EXIT_ERROR
    from companion.web.present import report_header, report_signal_mv
    from ecg.errors import EcgError
    from ecg.report import render_report

    try:
        out = render_report(report_signal_mv(stored), rec.sample_rate_hz, ("I",), report_header(stored, profile),
                            args.output, dpi=args.dpi)
    except (EcgError, OSError) as exc:
        print(f"cardio: error: cannot write the report: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print_json({"id": stored.id, "path": str(out)})
    else:
        print(f"report of recording {stored.id} written to {out}")
    return EXIT_OK
