"""CinC 2017 data for the rhythm model: labels, the seeded split, cached model inputs.

The split is by record (one recording = one patient session), stratified by label and
seeded, so it is the same on every machine:

- ``validation``: :data:`VALIDATION_FRACTION` of each label, never used for training,
  early stopping or threshold tuning; the model card's metrics come from it.
- ``train``: the rest, cut into :data:`N_FOLDS` stratified folds. Fold model *k* trains
  on the other folds and selects its epoch on fold *k*; the out-of-fold predictions tune
  the per-class decision weights.

Model inputs are computed with the runtime's own code (:func:`ecg.model.prepare_signal`,
:func:`ecg.beats.detect_r_peaks`, :func:`ecg.rr_features.rr_features`) and cached as
``.npy`` files under ``training/runs/cache`` so reruns start in seconds. The cache carries
a hash of that code (:func:`source_key`): after a change to the R-peak detector or the
preparation it is rebuilt, so a model is never trained on features the runtime no longer
computes.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from ecg import beats
from ecg.errors import EcgError
from ecg.model import CLASSES, MODEL_FS_HZ, prepare_signal
from ecg.rr_features import FEATURE_NAMES, rr_features

__all__ = [
    "SPLIT_SEED",
    "VALIDATION_FRACTION",
    "N_FOLDS",
    "DataMissingError",
    "Dataset",
    "default_data_dir",
    "read_labels",
    "split_records",
    "load_dataset",
    "prepare_recording",
    "load_readable",
    "source_key",
]

log = logging.getLogger(__name__)

SPLIT_SEED = 20171106
VALIDATION_FRACTION = 0.20
N_FOLDS = 3
CINC_FS_HZ = 300.0
CINC_GAIN_COUNTS_PER_MV = 1000.0
_REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = _REPO / "training" / "runs" / "cache"


#: the ``ecg`` modules whose code decides the prepared inputs (the cache key hashes them)
PREPARATION_SOURCES = ("model_input.py", "beats.py", "beat_signal.py", "beat_morphology.py", "beat_candidates.py",
                       "beat_split.py", "beat_rows.py", "rr_features.py", "filters.py", "preprocess.py")


#: what the quality gate's cached verdicts (:func:`load_readable`) also depend on
GATE_SOURCES = PREPARATION_SOURCES + ("quality.py", "quality_signal.py", "spectrum.py")


def source_key(sources: tuple[str, ...] = PREPARATION_SOURCES) -> str:
    """Hash of ``sources`` (files under ``ecg/``): a cache built by other code is stale."""
    h = hashlib.sha256()
    for name in sources:
        h.update((_REPO / "ecg" / name).read_bytes())
    return h.hexdigest()[:16]


def cache_is_current(cache_dir: Path, what: str, sources: tuple[str, ...] = PREPARATION_SOURCES) -> bool:
    """Whether ``<cache_dir>/<what>.key`` names the current :func:`source_key` of ``sources``."""
    key = Path(cache_dir) / f"{what}.key"
    return key.is_file() and key.read_text().strip() == source_key(sources)


def mark_cache(cache_dir: Path, what: str, sources: tuple[str, ...] = PREPARATION_SOURCES) -> None:
    """Record that ``what`` was prepared by the current code."""
    (Path(cache_dir) / f"{what}.key").write_text(source_key(sources) + "\n")


class DataMissingError(EcgError):
    """The CinC 2017 folder or its REFERENCE.csv is not there."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"CinC 2017 data not found at {path} (expected REFERENCE.csv and Axxxxx.mat/.hea); "
            "pass --data DIR or set CARDIOLINK_DATA to the folder holding cinc2017/"
        )
        self.path = path


def default_data_dir() -> Path:
    """``$CARDIOLINK_DATA`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("CARDIOLINK_DATA")
    return Path(env) if env else (_REPO.parent / "shared" / "data")


def read_labels(cinc_dir: Path) -> dict[str, str]:
    """``{record: label}`` from ``REFERENCE.csv`` (labels N, A, O, ~)."""
    ref = Path(cinc_dir) / "REFERENCE.csv"
    if not ref.is_file():
        raise DataMissingError(Path(cinc_dir))
    with ref.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    labels = {r[0].strip(): r[1].strip() for r in rows}
    bad = {v for v in labels.values() if v not in CLASSES}
    if bad:
        raise ValueError(f"unknown labels in {ref}: {sorted(bad)}")
    return labels


def split_records(labels: dict[str, str], *, seed: int = SPLIT_SEED,
                  n_folds: int = N_FOLDS) -> tuple[list[str], list[list[str]]]:
    """Seeded, label-stratified split by record.

    The validation records do not depend on ``n_folds`` (the same permutation per label;
    the training records are then dealt round-robin into the folds).

    Parameters
    ----------
    labels : dict
        ``{record: label}``.
    seed : int
        Seed of the per-label permutations.
    n_folds : int
        Number of training folds (:data:`N_FOLDS` = 3 for the shipped runs; ``s2f5``: 5).

    Returns
    -------
    tuple
        ``(validation_records, folds)``: the validation list and ``n_folds`` lists
        of training records, all sorted.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    rng = np.random.default_rng(seed)
    validation: list[str] = []
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for cls in CLASSES:
        names = sorted(n for n, lab in labels.items() if lab == cls)
        order = rng.permutation(len(names))
        n_val = int(round(VALIDATION_FRACTION * len(names)))
        validation += [names[i] for i in order[:n_val]]
        for j, i in enumerate(order[n_val:]):
            folds[j % n_folds].append(names[i])
    return sorted(validation), [sorted(f) for f in folds]


@dataclass
class Dataset:
    """Prepared inputs of a set of records.

    Attributes
    ----------
    names : list of str
    y : np.ndarray
        Class index per record (order :data:`ecg.model.CLASSES`).
    signals : list of np.ndarray
        Prepared 150 Hz signals (``float32``, variable length).
    rr : np.ndarray
        Raw RR features, ``(n_records, len(FEATURE_NAMES))``.
    """

    names: list[str]
    y: np.ndarray
    signals: list[np.ndarray]
    rr: np.ndarray

    def subset(self, names: list[str]) -> "Dataset":
        idx = {n: i for i, n in enumerate(self.names)}
        sel = [idx[n] for n in names]
        return Dataset([self.names[i] for i in sel], self.y[sel], [self.signals[i] for i in sel], self.rr[sel])


def prepare_recording(sig_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs of one recording in mV at its own rate: ``(signal_150hz, raw_rr_features)``.

    The runtime's own functions (:func:`ecg.model.prepare_signal`,
    :func:`ecg.beats.detect_r_peaks`, :func:`ecg.rr_features.rr_features`), as at screening time.
    """
    x = prepare_signal(sig_mv, fs_hz)
    try:
        peaks = beats.detect_r_peaks(sig_mv, fs_hz)
    except EcgError:
        peaks = np.zeros(0, dtype=np.int64)
    feats = rr_features(peaks, fs_hz, duration_s=sig_mv.size / fs_hz)
    return x, feats


def read_cinc_mv(cinc_dir: Path, name: str) -> np.ndarray:
    """One CinC 2017 recording in mV (float64): the one CinC reader of training and benchmarks.

    The same values as ``ecg.io.read_record(cinc_dir / f"{name}.hea")`` (a test checks it), read
    straight from the MATLAB file: about 50x faster than through ``wfdb``, which matters in the
    loops over all 7,249 recordings.
    """
    return scipy.io.loadmat(str(Path(cinc_dir) / f"{name}.mat"))["val"][0].astype(np.float64) / CINC_GAIN_COUNTS_PER_MV


def _prepare_one(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return prepare_recording(read_cinc_mv(path.parent, path.stem), CINC_FS_HZ)


def load_dataset(data_dir: Path, *, cache_dir: Path = CACHE_DIR, refresh: bool = False) -> Dataset:
    """All labelled CinC 2017 records, prepared (cached after the first call).

    Parameters
    ----------
    data_dir : Path
        Folder holding ``cinc2017/`` (e.g. ``../shared/data``).
    cache_dir : Path
        Where the ``.npy`` cache lives.
    refresh : bool
        Recompute even if a cache exists.
    """
    cinc = Path(data_dir) / "cinc2017"
    labels = read_labels(cinc)
    names = sorted(labels)
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = {k: cache_dir / f"{k}.npy" for k in ("names", "signals", "offsets", "rr")}
    if not refresh and all(f.is_file() for f in files.values()) and cache_is_current(cache_dir, "cinc"):
        cached = list(np.load(files["names"]))
        if cached == names:
            flat = np.load(files["signals"])
            off = np.load(files["offsets"])
            sigs = [flat[off[i] : off[i + 1]].astype(np.float32) for i in range(len(names))]
            y = np.array([CLASSES.index(labels[n]) for n in names])
            return Dataset(names, y, sigs, np.load(files["rr"]))
    sigs, feats = [], []
    for i, name in enumerate(names):
        x, f = _prepare_one(cinc / f"{name}.mat")
        sigs.append(x)
        feats.append(f)
        if (i + 1) % 1000 == 0:
            log.info("prepared %d/%d records", i + 1, len(names))
    off = np.concatenate([[0], np.cumsum([s.size for s in sigs])])
    np.save(files["signals"], np.concatenate(sigs).astype(np.float16))
    np.save(files["offsets"], off)
    np.save(files["rr"], np.stack(feats))
    np.save(files["names"], np.array(names))
    mark_cache(cache_dir, "cinc")
    y = np.array([CLASSES.index(labels[n]) for n in names])
    log.info("cached %d records at %g Hz, %d RR features", len(names), MODEL_FS_HZ, len(FEATURE_NAMES))
    return Dataset(names, y, [s.astype(np.float16).astype(np.float32) for s in sigs], np.stack(feats))


def load_readable(data_dir: Path, *, names: list[str] | None = None, cache_dir: Path = CACHE_DIR) -> dict[str, bool]:
    """``{record: readable}`` from the screening's quality gate (:func:`ecg.quality.assess`), cached.

    The decision rule is tuned on out-of-fold probabilities; records the gate calls
    unreadable never reach the rule at screening time, so the tuner needs this flag too.
    Only ``names`` (default: every labelled record) are computed; the cache grows as needed
    and is dropped when the detector or the gate changed (:data:`GATE_SOURCES`).
    """
    from ecg.quality import assess

    cinc = Path(data_dir) / "cinc2017"
    wanted = sorted(read_labels(cinc)) if names is None else list(names)
    cache = Path(cache_dir) / "readable.npz"
    known: dict[str, bool] = {}
    if cache.is_file() and cache_is_current(cache_dir, "readable", GATE_SOURCES):
        z = np.load(cache)
        known = dict(zip((str(n) for n in z["names"]), z["readable"].astype(bool).tolist()))
    missing = [n for n in wanted if n not in known]
    for name in missing:
        sig_mv = read_cinc_mv(cinc, name)
        try:
            peaks = beats.detect_r_peaks(sig_mv, CINC_FS_HZ)
            known[name] = bool(assess(sig_mv, CINC_FS_HZ, r_peaks=peaks).readable)
        except EcgError:
            known[name] = False
    if missing:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        np.savez(cache, names=np.array(sorted(known)), readable=np.array([known[n] for n in sorted(known)]))
        mark_cache(cache_dir, "readable", GATE_SOURCES)
    return {n: known[n] for n in wanted}
