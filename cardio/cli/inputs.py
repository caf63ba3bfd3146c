"""How ``cardio screen`` and ``cardio measure`` read CSV input (not a subcommand).

A CSV file holds one sample per line. Its scale comes, first match wins, from:

1. the command line: ``--units mv`` (the file holds millivolts) or ``--adc-gain G``
   (ADC counts; ``--baseline B``), and ``--fs HZ``;
2. the parameter file ``cardio export --format csv`` writes beside it (``<name>.json``:
   ``{"sampleRate", "adcGain", "baseline"}``), so an exported recording screens as is;
3. otherwise millivolts, and the sample rate must be given.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecg.io import Record

UNITS = ("mv", "counts")
#: the parameter file is small; anything bigger is not ours
_MAX_PARAMS_BYTES = 64 * 1024


class InputOptionsError(ValueError):
    """The CSV's scale cannot be worked out (missing rate, contradictory options, bad parameter file)."""


@dataclass(frozen=True)
class CsvScale:
    """Scale of a CSV file: sample rate, counts per mV (None = millivolts), baseline, and where it came from."""

    fs_hz: float | None
    adc_gain: float | None
    baseline: int
    source: str


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """``--fs``, ``--units``, ``--adc-gain``, ``--baseline`` for CSV input."""
    parser.add_argument("--fs", "--fs-hz", dest="fs_hz", type=float, metavar="HZ",
                        help="CSV input: sample rate, Hz (default: from the export's .json beside the file)")
    parser.add_argument("--units", choices=UNITS, type=str.lower,
                        help="CSV input: the file holds millivolts (mv) or ADC counts (counts, with --adc-gain); "
                        "default: from the export's .json beside the file, else mv")
    parser.add_argument("--adc-gain", type=float, metavar="G", help="CSV input in ADC counts: counts per mV")
    parser.add_argument("--baseline", type=int, default=None, metavar="B", help="CSV input: ADC count of 0 mV")


def params_file(csv_path: Path) -> Path:
    """``<name>.json`` beside ``<name>.csv`` (what ``cardio export --format csv`` writes)."""
    return csv_path.with_suffix(".json")


def _read_params(path: Path) -> dict[str, float]:
    try:
        if path.stat().st_size > _MAX_PARAMS_BYTES:
            raise InputOptionsError(f"{path}: parameter file larger than {_MAX_PARAMS_BYTES} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputOptionsError(f"{path}: not a readable parameter file ({exc})") from None
    if not isinstance(doc, dict):
        raise InputOptionsError(f"{path}: expected a JSON object with sampleRate, adcGain, baseline")
    out: dict[str, float] = {}
    for key in ("sampleRate", "adcGain", "baseline"):
        value = doc.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputOptionsError(f"{path}: {key} must be a number, got {value!r}")
        out[key] = float(value)
    return out


def csv_scale(path: str | Path, args: argparse.Namespace) -> CsvScale:
    """The scale of one CSV input from the options and the parameter file beside it."""
    p = Path(path)
    params = _read_params(params_file(p)) if params_file(p).is_file() else {}
    source = str(params_file(p)) if params else "command line"
    units = args.units
    if units == "mv" and args.adc_gain is not None:
        raise InputOptionsError("--units mv and --adc-gain contradict each other (a gain means ADC counts)")
    fs_hz = args.fs_hz if args.fs_hz is not None else params.get("sampleRate")
    if units == "mv":
        gain = None
    elif args.adc_gain is not None:
        gain = args.adc_gain
    else:
        gain = params.get("adcGain")
        if units == "counts" and gain is None:
            raise InputOptionsError(f"{p}: --units counts needs --adc-gain (or the export's {params_file(p).name})")
    baseline = args.baseline if args.baseline is not None else int(params.get("baseline", 0)) if gain else 0
    if fs_hz is None:
        raise InputOptionsError(f"{p}: give the sample rate with --fs HZ (no {params_file(p).name} beside the file)")
    return CsvScale(fs_hz=fs_hz, adc_gain=gain, baseline=baseline, source=source)


def read_input(path: str, args: argparse.Namespace) -> Record:
    """Read a WFDB record or a CSV file with the scale from :func:`csv_scale`."""
    from ecg.io import read_record

    if Path(path).suffix.lower() in (".csv", ".txt"):
        scale = csv_scale(path, args)
        return read_record(path, fs_hz=scale.fs_hz, adc_gain=scale.adc_gain, baseline=scale.baseline)
    return read_record(path, fs_hz=args.fs_hz)
