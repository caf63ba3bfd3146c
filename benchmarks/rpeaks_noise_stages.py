"""Where the R-peak detector loses premature beats under noise throughout (issue 11).

The synthetic ectopy trains of the stress set (``tests/ecg/synthetic_ecg.py``: bigeminy,
trigeminy, couplets; coupling 360/400/450 ms; ectopic amplitude 0.6/1.0/1.5 × the normal
beat; 250 and 360 Hz; 12 repeats) under wander 0.8 mV + EMG + 50 Hz hum over the whole
recording, three noise seeds, for each ``--emg`` level (RMS mV). For every ectopic (V)
beat it says whether a detection lies within 50 ms after each stage of ``ecg.beats``:

1. a maximum of the QRS envelope (``find_peaks``, 200 ms apart);
2. a candidate (≥ 20 % of the local level and ≥ 1.5 × the ±1 s noise background);
3. after the conflicts (a much weaker neighbour within 360 ms);
4. the detector's answer (after the P/T tests of ``ecg.beat_morphology``).

Losses before stage 2 happen before any morphology is judged: the slope envelope of a
wide, small ectopic beat does not stand out of the EMG's. Normal beats and extra
detections are counted in the answer too. ``--bands`` also prints, for the bigeminy trains
with 0.6 x ectopic beats, how far their envelope maximum stands out of the ±1 s noise
background (and against the normal beats') for the shipped envelope and for slope
envelopes of other bands (a direction for the detector, not a shipped choice).
``--envelope 3-15`` (or ``rss-3-15``: the root-sum-square of that and the shipped
envelope) hands such an envelope to the detector in place of the shipped one (a
prototype of that direction: the detector's other limits unchanged); ``split-rss-3-15``
takes the candidates (and their conflicts) from the root-sum-square envelope but gives the
P/T tests the shipped envelope's heights, scores and background (the detector's stages
run one by one here, as ``ecg.beats`` chains them).

Usage::

    nice -n 15 .venv/bin/python benchmarks/rpeaks_noise_stages.py [--emg 0.03 0.05] [--bands] [--envelope 3-15]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import signal as sps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "ecg"))

import ecg.beats as beats  # noqa: E402
from ecg.beat_candidates import candidates_rows, resolve_rows  # noqa: E402
from ecg.beat_morphology import DEFAULT_QRS_LIKE  # noqa: E402
from ecg.beat_signal import noise_background, odd_width  # noqa: E402
from ecg.filters import zero_phase_steady  # noqa: E402
from synthetic_ecg import add_noise, beat_train, pattern  # type: ignore[import-not-found]  # noqa: E402

STAGES = ("V beats", "envelope maxima", "candidates", "after conflicts", "answer")


def _found(ref: np.ndarray, found: np.ndarray, tol: int) -> int:
    """How many of ``ref`` have a detection within ``tol`` samples."""
    if found.size == 0:
        return 0
    at = np.clip(np.searchsorted(found, ref), 1, found.size - 1)
    near = np.minimum(np.abs(found[at] - ref), np.abs(found[at - 1] - ref))
    return int(np.count_nonzero(near <= tol))


ENVELOPE = "shipped"


def envelope_for(wide: np.ndarray, fs: float) -> np.ndarray:
    """The envelope handed to the detector: the shipped one, or (``ENVELOPE``) the 3-15 Hz
    slope envelope alone or in root-sum-square with the shipped one."""
    shipped = beats.band_envelope(wide, fs)
    if ENVELOPE == "shipped":
        return shipped
    other = _band_envelope(wide, fs, (3.0, 15.0))
    return other if ENVELOPE == "3-15" else np.sqrt(other * other + shipped * shipped)


def _split_answer(wide: np.ndarray, fs: float, env: np.ndarray) -> np.ndarray:
    """The detector's steps with candidates and conflicts on ``env`` and the P/T tests on the
    shipped envelope's heights, scores (height × peak-to-peak) and ±1 s background."""
    found = candidates_rows(wide[None, :], env[None, :], fs)
    if found is None:
        return np.zeros(0, dtype=np.int64)
    pos, _, score, _, _, seg = found
    acc = resolve_rows(pos, None, score, int(0.36 * fs), 1)
    pos = pos[acc]
    if seg is None:  # below 17 Hz: nothing to score by
        return pos
    seg = seg[acc]
    shipped = beats.band_envelope(wide, fs)
    height = shipped[pos]
    kept, _ = beats._reject_waves(wide[None, :], pos, None, height * (seg.max(axis=1) - seg.min(axis=1)),  # noqa: SLF001
                                  height, noise_background(shipped, fs, pos), fs, DEFAULT_QRS_LIKE, seg, 1)
    return kept if kept.size == 0 else beats._locate(wide[None, :], kept, None, fs, 1)[0]  # noqa: SLF001


def stages(emg_mv: float) -> dict[str, dict[str, int]]:
    """Per ectopic amplitude (and "all"), the V beats still found after each stage, the
    normal beats found and the extra detections in the answer."""
    out: dict[str, dict[str, int]] = {}
    for fs in (250.0, 360.0):
        for unit in ("NV", "NNV", "NNNVV"):
            for v_amp in (0.6, 1.0, 1.5):
                for coupling in (0.36, 0.4, 0.45):
                    for seed in (1, 2, 3):
                        kinds, rr = pattern(unit, 12, 0.85, coupling)
                        x, r_true = beat_train(kinds, rr, fs, v_amp=v_amp)
                        noisy = add_noise(x, fs, wander_mv=0.8, emg_mv=emg_mv, mains_mv=0.05, seed=seed)
                        row = _case(noisy, fs, r_true, np.array([k == "V" for k in kinds]))
                        for key in (f"{v_amp:g} x", "all"):
                            acc = out.setdefault(key, {})
                            for name, n in row.items():
                                acc[name] = acc.get(name, 0) + n
    return out


def _case(x: np.ndarray, fs: float, r_true: np.ndarray, is_v: np.ndarray) -> dict[str, int]:
    """One train: V beats found after each stage, normal beats found, extra detections."""
    tol = int(0.05 * fs)
    v = r_true[is_v]
    wide = beats.detector_band(x, fs)
    env = envelope_for(wide, fs)
    maxima, _ = sps.find_peaks(env, distance=max(1, int(0.2 * fs)))
    cand = beats._candidates(wide, env, fs)  # noqa: SLF001 - the detector's own stages
    kept = np.zeros(0, dtype=np.int64)
    if cand is not None:
        kept, _ = beats._resolve_conflicts(cand[0], cand[1], int(0.36 * fs))  # noqa: SLF001
    if ENVELOPE.startswith("split"):
        answer = _split_answer(wide, fs, env)
    else:
        answer = beats.detect_r_peaks(x, fs, wide_mv=wide, envelope=env)
    return {"V beats": int(v.size), "envelope maxima": _found(v, maxima, tol),
            "candidates": _found(v, np.zeros(0, np.int64) if cand is None else cand[0], tol),
            "after conflicts": _found(v, kept, tol), "answer": _found(v, answer, tol),
            "normal beats": int(r_true.size - v.size), "normal found": _found(r_true[~is_v], answer, tol),
            "extra": int(answer.size) - _found(answer, r_true, tol)}  # detections with no beat within 50 ms


def _band_envelope(wide: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """RMS first difference over 100 ms of ``wide`` band-passed to ``band`` (Hz)."""
    q = zero_phase_steady(wide, 2, band, "bandpass", fs)
    power = np.diff(q, prepend=q[0]) ** 2
    width = odd_width(0.1 * fs)
    return np.sqrt(np.convolve(power, np.ones(width) / width, mode="same"))


def band_contrast(emg_mv: float) -> dict[str, tuple[float, float]]:
    """Mean over bigeminy trains (0.6 x ectopic beats, coupling 400 ms, 250/360 Hz, three
    seeds) of the ectopic beats' median envelope maximum (±50 ms) over the noise background
    and over the normal beats', per envelope."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for fs in (250.0, 360.0):
        for seed in (1, 2, 3):
            kinds, rr = pattern("NV", 12, 0.85, 0.4)
            x, r_true = beat_train(kinds, rr, fs, v_amp=0.6)
            wide = beats.detector_band(add_noise(x, fs, wander_mv=0.8, emg_mv=emg_mv, mains_mv=0.05, seed=seed), fs)
            is_v = np.array([k == "V" for k in kinds])
            half = int(0.05 * fs)
            for name, env in (("shipped (5 Hz high-pass)", beats.band_envelope(wide, fs)),
                              ("3-15 Hz", _band_envelope(wide, fs, (3.0, 15.0))),
                              ("5-20 Hz", _band_envelope(wide, fs, (5.0, 20.0)))):
                height = np.array([env[max(0, r - half) : r + half].max() for r in r_true])
                ratio = height / noise_background(env, fs, r_true)
                rows.setdefault(name, []).append((float(np.median(ratio[is_v])),
                                                  float(np.median(height[is_v]) / np.median(height[~is_v]))))
    return {name: (float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))) for name, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--emg", type=float, nargs="+", default=[0.03, 0.05], help="EMG RMS levels (mV)")
    ap.add_argument("--bands", action="store_true", help="also compare envelope bands (contrast of small ectopic beats)")
    ap.add_argument("--envelope", choices=("shipped", "3-15", "rss-3-15", "split-rss-3-15"), default="shipped",
                    help="the envelope handed to the detector (a prototype; default the shipped one)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    global ENVELOPE  # noqa: PLW0603 - one switch for the whole run
    ENVELOPE = args.envelope
    result: dict[str, dict] = {f"{e:g}": stages(e) for e in args.emg}
    for emg, table in result.items():
        print(f"EMG {emg} mV RMS (+ wander 0.8 mV + hum 0.05 mV), V beats found after each stage:")
        for amp, row in table.items():
            cells = "  ".join(f"{name} {row[name]}" for name in STAGES)
            print(f"  ectopic {amp:>5}: {cells}  | normal {row['normal found']}/{row['normal beats']}, "
                  f"extra {row['extra']}")
    if args.bands:
        for emg in args.emg:
            contrast = band_contrast(emg)
            result[f"bands {emg:g}"] = contrast
            print(f"EMG {emg:g} mV, bigeminy with 0.6 x ectopic beats: ectopic envelope maximum / noise background, "
                  "/ normal beats' maximum:")
            for name, (over_noise, over_normal) in contrast.items():
                print(f"  {name:<26} {over_noise:.2f}  {over_normal:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
