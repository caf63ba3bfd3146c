"""Extra 30 s training windows from the shared MIT-BIH and CPSC 2021 records.

CinC 2017 has 644 AF recordings; the shared MIT-BIH subset (``mitdb/``, 360 Hz, lead MLII)
and the CPSC 2021 sample (``cpsc2021_sample/``, 200 Hz, lead I) carry rhythm-episode
annotations (``+`` marks with ``aux_note`` ``(AFIB``, ``(AFL``, ``(N``, ``(B``, ``(T``, …).
This module cuts them into non-overlapping 30 s windows whose whole span has one rhythm and
labels them with CinC codes:

- ``(AFIB`` → ``A``;
- a non-AF irregular rhythm (``(AFL``, ``(B``, ``(T``, ``(VT``, ``(SVTA``, ``(NOD``,
  ``(AB``, ``(IVR``…) → ``O``; so is a sinus window with at least
  :data:`MIN_ECTOPIC_FOR_O` premature or ectopic beats (CinC's "other rhythm" holds ectopy);
- a sinus window with no ectopic beat → ``N`` (at most :data:`MAX_N_PER_RECORD` per record,
  so the extra sources carry all three classes and the model cannot learn "Holter-looking
  means abnormal"); sinus windows with 1 to ``MIN_ECTOPIC_FOR_O - 1`` ectopic beats are
  ambiguous and skipped, as are windows with a signal-quality mark (``~``). A CPSC record
  of class "non atrial fibrillation" has no rhythm marks and counts as sinus throughout.

Each window goes through the runtime's own preparation (:func:`ecg.model.prepare_signal`
resamples it to the model's 150 Hz; :func:`ecg.beats.detect_r_peaks` and
:func:`ecg.rr_features.rr_features` run at the record's own rate) exactly like a CinC
record. Windows are only ever added to *training*; the CinC validation split and the
out-of-fold CinC scores never contain them. Each window keeps its group (``mitdb:201``,
``cpsc:92`` — CPSC subjects hold several records) for reporting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg.model import CLASSES
from training.data import cache_is_current, mark_cache, prepare_recording

__all__ = ["ExtraWindow", "MIN_ECTOPIC_FOR_O", "MAX_N_PER_RECORD", "WINDOW_S", "label_windows", "load_extra"]

log = logging.getLogger(__name__)

#: length of one extra window (s), about a CinC / device recording
WINDOW_S = 30.0
#: a sinus window with at least this many ectopic beats is "other rhythm"
MIN_ECTOPIC_FOR_O = 4
#: at most this many plain sinus windows per record (spread evenly over the record)
MAX_N_PER_RECORD = 8

_AF = {"AFIB"}
_SINUS = {"N"}
_ECTOPIC = set("VAaJSFEje")  # premature / escape / fusion beat symbols
_BEATS = set("NLRBAaJSVrFejnE/fQ?")


@dataclass(frozen=True)
class ExtraWindow:
    """One labelled extra window (raw mV at its own rate)."""

    group: str
    start_s: float
    label: str
    sig_mv: np.ndarray
    fs_hz: float


def _rhythm_at(samples: np.ndarray, notes: list[str], n: int) -> np.ndarray:
    """Rhythm name for every sample (``""`` before the first rhythm mark)."""
    out = np.empty(n, dtype=object)
    out[:] = ""
    marks = [(int(s), a.strip("\x00 ").lstrip("(")) for s, a in zip(samples, notes) if a.strip("\x00 ").startswith("(")]
    for i, (s, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else n
        out[max(s, 0):end] = name
    return out


def label_windows(rhythm: np.ndarray, ann_samples: np.ndarray, ann_symbols: list[str], fs_hz: float,
                  window_s: float = WINDOW_S) -> list[tuple[int, str]]:
    """``(start_sample, code)`` of every usable non-overlapping window (rules in the module doc).

    Parameters
    ----------
    rhythm : np.ndarray
        Rhythm name per sample (from the ``+`` annotations).
    ann_samples, ann_symbols
        All annotations (beats and marks).
    fs_hz : float
    window_s : float
    """
    n_win = int(round(window_s * fs_hz))
    sym = np.asarray(ann_symbols)
    pos = np.asarray(ann_samples)
    out: list[tuple[int, str]] = []
    sinus: list[int] = []
    for start in range(0, rhythm.size - n_win + 1, n_win):
        names = set(rhythm[start:start + n_win])
        if len(names) != 1 or "" in names:
            continue
        name = names.pop()
        inside = (pos >= start) & (pos < start + n_win)
        s_in = sym[inside]
        if "~" in s_in or np.isin(s_in, list(_BEATS)).sum() < 5:
            continue
        if name in _AF:
            out.append((start, "A"))
        elif name not in _SINUS:
            out.append((start, "O"))
        else:
            n_ect = int(np.isin(s_in, list(_ECTOPIC)).sum())
            if n_ect >= MIN_ECTOPIC_FOR_O:
                out.append((start, "O"))
            elif n_ect == 0:
                sinus.append(start)
    if sinus:
        keep = np.unique(np.linspace(0, len(sinus) - 1, min(MAX_N_PER_RECORD, len(sinus))).round().astype(int))
        out += [(sinus[i], "N") for i in keep]
    return sorted(out)


def _record_windows(path: Path, channel: int, group: str) -> list[ExtraWindow]:
    import wfdb

    rec = wfdb.rdrecord(str(path), channels=[channel])
    ann = wfdb.rdann(str(path), "atr")
    fs = float(rec.fs)
    sig = np.asarray(rec.p_signal[:, 0], dtype=np.float64)
    sig = np.nan_to_num(sig - np.nanmedian(sig))
    rhythm = _rhythm_at(ann.sample, list(ann.aux_note), sig.size)
    if not any(rhythm) and any(c.strip().lower() == "non atrial fibrillation" for c in rec.comments):
        rhythm[:] = "N"  # CPSC 2021 non-AF records carry no rhythm marks, only their class
    n_win = int(round(WINDOW_S * fs))
    return [ExtraWindow(group, s / fs, code, sig[s:s + n_win].copy(), fs)
            for s, code in label_windows(rhythm, ann.sample, list(ann.symbol), fs)]


def extra_windows(data_dir: Path) -> list[ExtraWindow]:
    """All labelled windows of ``mitdb/`` (lead MLII) and ``cpsc2021_sample/`` (lead I) under ``data_dir``."""
    out: list[ExtraWindow] = []
    mit = Path(data_dir) / "mitdb"
    for hea in sorted(mit.glob("*.hea")):
        out += _record_windows(hea.with_suffix(""), 0, f"mitdb:{hea.stem}")
    cpsc = Path(data_dir) / "cpsc2021_sample"
    for hea in sorted(cpsc.glob("data_*.hea")):
        subject = hea.stem.split("_")[1]
        out += _record_windows(hea.with_suffix(""), 0, f"cpsc:{subject}")
    if not out:
        log.warning("no extra windows found under %s (mitdb/, cpsc2021_sample/)", data_dir)
    return out


def load_extra(data_dir: Path, cache_dir: Path) -> tuple[list[str], np.ndarray, list[np.ndarray], np.ndarray]:
    """Prepared extra windows, cached: ``(names, y, signals_150hz, raw_rr_features)``.

    Names are ``group@start_s``; ``y`` holds class indices in :data:`ecg.model.CLASSES` order.
    """
    cache = Path(cache_dir) / "extra.npz"
    if cache.is_file() and cache_is_current(cache_dir, "extra"):
        z = np.load(cache, allow_pickle=False)
        off = z["offsets"]
        sigs = [z["signals"][off[i]:off[i + 1]].astype(np.float32) for i in range(len(z["names"]))]
        return [str(n) for n in z["names"]], z["y"], sigs, z["rr"]
    wins = extra_windows(data_dir)
    if not wins:
        return [], np.zeros(0, dtype=np.int64), [], np.zeros((0, 14))
    names, ys, sigs, feats = [], [], [], []
    for w in wins:
        x, f = prepare_recording(w.sig_mv, w.fs_hz)
        names.append(f"{w.group}@{w.start_s:.0f}")
        ys.append(CLASSES.index(w.label))
        sigs.append(x)
        feats.append(f)
    off = np.concatenate([[0], np.cumsum([s.size for s in sigs])]).astype(np.int64)
    y = np.asarray(ys, dtype=np.int64)
    rr = np.stack(feats)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    np.savez(cache, names=np.array(names), y=y, signals=np.concatenate(sigs).astype(np.float16),
             offsets=off, rr=rr)
    mark_cache(cache_dir, "extra")
    counts = {c: int(np.sum(y == i)) for i, c in enumerate(CLASSES)}
    log.info("extra windows: %d (%s)", len(names), counts)
    return names, y, [s.astype(np.float16).astype(np.float32) for s in sigs], rr
