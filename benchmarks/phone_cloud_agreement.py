"""Do the phone and the cloud give the same verdict for the same samples?

For a seeded sample of CinC 2017 records (``../shared/data/cinc2017``, ADC counts as the
device would send them) this runs the phone path (``ecg.screening.screen`` on the counts
in millivolts, what ``cardio screen`` and the companion call) and the cloud's analysis
(``cloud.pipeline.analyse`` on the checked API request, what a worker runs) and reports the
largest probability difference and how many records differ in code or category.

Usage::

    nice -n 10 .venv/bin/python benchmarks/phone_cloud_agreement.py [--data DIR] [--n 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cloud.pipeline import PipelineSettings, analyse  # noqa: E402
from cloud.validation import parse_request  # noqa: E402
from ecg.io import read_record  # noqa: E402
from ecg.screening import screen  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")) / "cinc2017"
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    ref = args.data / "REFERENCE.csv"
    if not ref.is_file():
        print(f"CinC 2017 data not found at {args.data} (give --data or set CARDIOLINK_DATA)", file=sys.stderr)
        return 2
    with ref.open(newline="") as fh:
        names = [row[0] for row in csv.reader(fh)]
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(names, size=min(args.n, len(names)), replace=False))
    max_diff, code_diff, cat_diff, categories = 0.0, 0, 0, {}
    for name in chosen:
        rec = read_record(args.data / name)
        if rec.adc_gain is None or rec.baseline is None:
            raise SystemExit(f"{name}: no ADC gain/baseline in its header")
        gain, baseline, fs = float(rec.adc_gain), int(rec.baseline), float(rec.fs_hz)
        counts = np.rint(rec.signals_mv[:, 0] * gain + baseline).astype(np.int64)  # the device's ADC counts
        phone = screen((counts - baseline) / gain, fs)
        answer = analyse(parse_request({"sampleRate": fs, "adcGain": gain, "baseline": baseline,
                                        "dataI": counts.tolist(), "recordId": name}), PipelineSettings())
        cloud_probs = {d["code"]: d["probability"] for d in answer["diagnoses"] if d["probability"] is not None}
        if set(cloud_probs) != set(phone.probabilities):
            max_diff = float("inf")
        for code, p in phone.probabilities.items():
            max_diff = max(max_diff, abs(cloud_probs.get(code, float("nan")) - round(p, 4)))
        code_diff += answer["rhythm"]["code"] != phone.label
        cat_diff += answer["rhythm"]["category"] != phone.category
        categories[phone.category] = categories.get(phone.category, 0) + 1
    print(f"{len(chosen)} CinC 2017 records (seed {args.seed}): largest |p_phone - p_cloud| {max_diff:.4f} "
          f"(the cloud rounds to 4 decimals); code differs {code_diff}, category differs {cat_diff}")
    print("phone categories: " + ", ".join(f"{k} {v}" for k, v in sorted(categories.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
