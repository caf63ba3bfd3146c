"""Requests for `benchmarks/analysis_ab.py --portable`: the records and payloads of `analysis_cost.py`, read with
wfdb alone (no project import), so a worker running an old tree builds the same requests as one running main."""
from __future__ import annotations
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
import numpy as np
import wfdb

FIELDS = {"i": "dataI", "ii": "dataII", "iii": "dataIII", "avr": "dataAVR", "avl": "dataAVL", "avf": "dataAVF",
          **{f"v{k}": f"dataV{k}" for k in range(1, 7)}}


@dataclass
class Rec:
    name: str
    fs_hz: float
    signals_mv: np.ndarray
    lead_names: list[str]

    @property
    def n_samples(self) -> int:
        return self.signals_mv.shape[0]


def _read(p: Path) -> Rec:
    r = wfdb.rdrecord(str(p.with_suffix("")))
    return Rec(p.stem, float(r.fs), np.asarray(r.p_signal, float), list(r.sig_name))


def first_records(paths: list[Path], keep: Callable[[Any], bool], n: int,
                  read: Callable[[Path], Any] = _read) -> list[Any]:
    """The first *n* records of *paths* (read in order with *read*) that *keep* accepts."""
    out = []
    for p in paths:
        rec = read(p)
        if keep(rec):
            out.append(rec)
        if len(out) == n:
            break
    return out


def _records(data: Path, folder: str, pattern: str, keep: Callable[[Any], bool], n: int, fixture: str) -> list[Any]:
    return first_records(sorted((data / folder).glob(pattern)), keep, n)


def _payload(rec: Any) -> dict[str, Any]:
    """An API request of the record: counts at 1000 per mV (every lead)."""
    body: dict[str, Any] = {"recordId": f"bench-{rec.name}", "sampleRate": rec.fs_hz, "adcGain": 1000.0, "baseline": 0}
    if rec.signals_mv.shape[1] == 1:
        body["dataI"] = np.round(rec.signals_mv[:, 0] * 1000).astype(int).tolist()
    else:
        for j, name in enumerate(rec.lead_names):
            body[FIELDS[name.lower()]] = np.round(rec.signals_mv[:, j] * 1000).astype(int).tolist()
    return body
