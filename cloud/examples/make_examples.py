"""Rebuild the cloud web page's example records from the real datasets (maintainer tool).

Run from the repository root: ``python -m cloud.examples.make_examples [DATA_DIR]``
(default ``../shared/data`` or ``$CARDIOLINK_DATA``). Writes ``<name>.csv`` files and
``examples.json`` beside this file. CinC 2017 records are copied as their ADC counts
(gain 1000/mV, baseline 0); LUDB records are converted from the header's per-lead gains
to microvolt counts (gain 1000/mV) so that one ADC gain fits every lead, as the page's
form takes a single gain.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

HERE = Path(__file__).resolve().parent
#: (file name, dataset, record, label in words)
EXAMPLES = (
    ("cinc2017_A00001_normal", "cinc2017", "A00001", "Normal sinus rhythm (CinC 2017 label N)"),
    ("cinc2017_A00004_af", "cinc2017", "A00004", "Atrial fibrillation (CinC 2017 label A)"),
    ("cinc2017_A00013_other", "cinc2017", "A00013", "Other rhythm (CinC 2017 label O)"),
    ("ludb_2_12lead", "ludb", "data/2", "12-lead, LUDB record 2 (see ludb.csv for its diagnoses)"),
    ("ludb_38_12lead_af", "ludb", "data/38", "12-lead, atrial fibrillation (LUDB record 38)"),
)
LEAD_NAMES = {"i": "I", "ii": "II", "iii": "III", "avr": "aVR", "avl": "aVL", "avf": "aVF"}


def build(data_dir: Path) -> list[dict[str, Any]]:
    index = []
    for name, dataset, record, title in EXAMPLES:
        rec: Any = wfdb.rdrecord(str(data_dir / dataset / record), physical=dataset == "ludb")
        if dataset == "cinc2017":
            counts = rec.d_signal[:, :1].astype(np.int64)
            leads = ["ECG"]
            gain, baseline = float(rec.adc_gain[0]), int(rec.baseline[0])
        else:
            counts = np.round(rec.p_signal * 1000.0).astype(np.int64)
            leads = [LEAD_NAMES.get(str(n).lower(), str(n).upper()) for n in rec.sig_name]
            gain, baseline = 1000.0, 0
        lines = [] if len(leads) == 1 else [",".join(leads)]
        lines += [",".join(str(v) for v in row) for row in counts.tolist()]
        (HERE / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        index.append({"name": name, "title": title, "dataset": dataset, "record": record.split("/")[-1],
                      "sampleRate": float(rec.fs), "adcGain": gain, "baseline": baseline, "leads": leads})
    (HERE / "examples.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return index


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CARDIOLINK_DATA", "../shared/data"))
    if not folder.is_dir():
        sys.exit(f"dataset folder {folder} not found: pass it as the first argument or set CARDIOLINK_DATA")
    for item in build(folder):
        print(item["name"], item["sampleRate"], item["leads"][:3])
