"""LUDB leads and their wave labels for the segmenter, and the 5-fold split by record.

Every lead of every shared LUDB record is one training signal (12 per record). A lead's
labels are the cardiologists' wave intervals ``(class, onset, offset)`` at 500 Hz and its
annotated span: only the middle of each record is annotated, so samples outside the span
carry no label and get no weight in the loss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LUDB_FS_HZ", "Lead", "BoundaryWeight", "NO_BOUNDARY_WEIGHT", "load_ludb", "folds_by_record",
           "default_data_dir", "label_vector", "N_FOLDS"]

LUDB_FS_HZ = 500.0
N_FOLDS = 5
SPLIT_SEED = 20261201
_WAVE_CLASS = {"p": 1, "N": 2, "t": 3}
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lead:
    """One annotated lead: signal (mV, 500 Hz), wave intervals and annotated span."""

    record: str
    lead: str
    sig_mv: np.ndarray
    waves: np.ndarray  # (n, 3) int: class (1 P, 2 QRS, 3 T), onset, offset (samples at 500 Hz)
    span: tuple[int, int]


@dataclass(frozen=True)
class BoundaryWeight:
    """Loss weight of the samples near every annotated wave boundary.

    Samples within ``radius`` model samples of an annotated onset or offset of any wave
    (P, QRS, T), inside the annotated span, get weight ``factor`` instead of 1. ``factor``
    1 (the default) is the plain span mask of the first recipe.
    """

    factor: float = 1.0
    radius: int = 0

    def __post_init__(self) -> None:
        if not (1.0 <= self.factor <= 20.0):
            raise ValueError(f"boundary weight factor {self.factor} outside 1..20")
        if not (0 <= self.radius <= 32):
            raise ValueError(f"boundary radius {self.radius} samples outside 0..32")

    def as_dict(self) -> dict[str, float | int]:
        return {"factor": self.factor, "radius_samples": self.radius}


NO_BOUNDARY_WEIGHT = BoundaryWeight()


def default_data_dir() -> Path:
    """``$CARDIOLINK_DATA`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("CARDIOLINK_DATA")
    return Path(env) if env else (_REPO.parent / "shared" / "data")


def ludb_records(data_dir: Path) -> list[str]:
    """Record names listed in ``ludb/RECORDS`` (e.g. ``"2"``)."""
    lines = (Path(data_dir) / "ludb" / "RECORDS").read_text().split()
    return [Path(s).name for s in lines if s.strip()]


def wave_intervals(symbols: list[str], samples: np.ndarray) -> np.ndarray:
    """``(class, onset, offset)`` rows from an annotation's ``( peak )`` triplets."""
    rows = []
    for j in range(1, len(symbols) - 1):
        cls = _WAVE_CLASS.get(symbols[j])
        if cls is not None and symbols[j - 1] == "(" and symbols[j + 1] == ")":
            rows.append((cls, int(samples[j - 1]), int(samples[j + 1])))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def load_ludb(data_dir: Path, records: list[str] | None = None) -> list[Lead]:
    """All annotated leads of the shared LUDB records (12 per record)."""
    import wfdb

    base = Path(data_dir) / "ludb" / "data"
    out: list[Lead] = []
    for rec in records if records is not None else ludb_records(data_dir):
        r = wfdb.rdrecord(str(base / rec))
        if abs(float(r.fs) - LUDB_FS_HZ) > 1e-6:
            raise ValueError(f"LUDB record {rec} at {r.fs} Hz, expected {LUDB_FS_HZ}")
        for k, name in enumerate(r.sig_name):
            if not (base / f"{rec}.{name}").is_file():
                continue  # a lead without annotations is no training signal
            ann = wfdb.rdann(str(base / rec), name)
            samples = np.asarray(ann.sample, dtype=np.int64)
            waves = wave_intervals(list(ann.symbol), samples)
            if waves.size == 0:
                continue
            span = (int(samples.min()), int(samples.max()))
            out.append(Lead(rec, name, np.asarray(r.p_signal[:, k], dtype=np.float64), waves, span))
    return out


def folds_by_record(records: list[str], n_folds: int = N_FOLDS, seed: int = SPLIT_SEED) -> list[list[str]]:
    """Records shuffled once with a fixed seed and dealt into ``n_folds`` disjoint folds."""
    order = sorted(set(records), key=lambda s: (len(s), s))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(order))
    return [sorted((order[i] for i in perm[k::n_folds]), key=lambda s: (len(s), s)) for k in range(n_folds)]


def label_vector(waves: np.ndarray, span: tuple[int, int], n: int, scale: float,
                 boundary: BoundaryWeight = NO_BOUNDARY_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample class and weight at a rate ``scale`` × 500 Hz for ``n`` output samples.

    Samples inside the annotated span are background unless inside a wave; samples
    outside the span get weight 0; with ``boundary``, samples near a wave's onset or
    offset (inside the span) get its factor.
    """
    y = np.zeros(n, dtype=np.int64)
    w = np.zeros(n, dtype=np.float32)
    lo = int(np.clip(round(span[0] * scale), 0, n))
    hi = int(np.clip(round(span[1] * scale) + 1, 0, n))
    w[lo:hi] = 1.0
    edges = []
    for cls, on, off in waves:
        a = int(np.clip(round(on * scale), 0, n))
        b = int(np.clip(round(off * scale) + 1, 0, n))
        y[a:b] = cls
        edges += [a, b - 1]
    if boundary.factor != 1.0 and edges:
        near = np.zeros(n, dtype=bool)
        for e in edges:
            near[max(e - boundary.radius, 0) : e + boundary.radius + 1] = True
        w[near & (w > 0)] = boundary.factor
    return y, w
