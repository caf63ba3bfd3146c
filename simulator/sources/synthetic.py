"""Synthetic ECG sources: sinus rhythm, atrial fibrillation, PVCs, noise, lead-off.

Spec strings (see :func:`simulator.sources.parse_source`)::

    synthetic:normal                 sinus rhythm, 72 bpm, mild HRV
    synthetic:af                     atrial fibrillation: irregular RR, no P, f-waves
    synthetic:pvc                    sinus rhythm with premature ventricular beats
    synthetic:noisy                  sinus rhythm + baseline wander, mains hum, muscle noise
    synthetic:leadoff                sinus rhythm, fingers off for 0-3 s and 14-16 s

Parameters after ``?`` (``&``-separated, all optional): ``hr`` (bpm), ``seed``,
``hrv`` (RR modulation fraction), ``amp`` (R-wave scale), ``wander`` (mV),
``hum`` (mV), ``hum_hz`` (50 or 60), ``emg`` (muscle noise RMS, mV), ``af`` (f-wave mV),
``pvc_rate`` (fraction of beats), ``off`` (lead-off periods ``START:END,...`` in s).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from simulator.errors import SourceSpecError
from simulator.sources import waves
from simulator.sources.base import EcgSignal, parse_periods, periods_mask

__all__ = ["KINDS", "SyntheticParams", "SyntheticSource"]


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of a synthetic source (units in names; validated)."""

    hr_bpm: float = 72.0
    seed: int = 0
    hrv_fraction: float = 0.04
    amplitude_scale: float = 1.0
    wander_mv: float = 0.05
    hum_mv: float = 0.0
    hum_hz: float = 50.0
    emg_mv: float = 0.01
    af_mv: float = 0.0
    pvc_rate: float = 0.0
    off_periods_s: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        checks = (
            (20.0 <= self.hr_bpm <= 250.0, "hr must be between 20 and 250 bpm"),
            (0.0 <= self.hrv_fraction <= 0.3, "hrv must be between 0 and 0.3"),
            (0.05 <= self.amplitude_scale <= 5.0, "amp must be between 0.05 and 5"),
            (0.0 <= self.wander_mv <= 5.0, "wander must be between 0 and 5 mV"),
            (0.0 <= self.hum_mv <= 5.0, "hum must be between 0 and 5 mV"),
            (self.hum_hz in (50.0, 60.0), "hum_hz must be 50 or 60"),
            (0.0 <= self.emg_mv <= 2.0, "emg must be between 0 and 2 mV"),
            (0.0 <= self.af_mv <= 1.0, "af must be between 0 and 1 mV"),
            (0.0 <= self.pvc_rate <= 0.5, "pvc_rate must be between 0 and 0.5"),
            (self.seed >= 0, "seed must be >= 0"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


#: spec parameter name -> (field name, converter)
_PARAMS = {
    "hr": ("hr_bpm", float),
    "seed": ("seed", int),
    "hrv": ("hrv_fraction", float),
    "amp": ("amplitude_scale", float),
    "wander": ("wander_mv", float),
    "hum": ("hum_mv", float),
    "hum_hz": ("hum_hz", float),
    "emg": ("emg_mv", float),
    "af": ("af_mv", float),
    "pvc_rate": ("pvc_rate", float),
}

#: kind -> defaults that differ from :class:`SyntheticParams`
KINDS: dict[str, dict[str, object]] = {
    "normal": {},
    "af": {"hr_bpm": 105.0, "af_mv": 0.06},
    "pvc": {"hr_bpm": 70.0, "pvc_rate": 0.15},
    "noisy": {"wander_mv": 0.4, "hum_mv": 0.12, "emg_mv": 0.06},
    "leadoff": {"off_periods_s": ((0.0, 3.0), (14.0, 16.0))},
}


class SyntheticSource:
    """A seeded synthetic single-lead ECG.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    params : SyntheticParams, optional
        Overrides of the kind's defaults.

    Examples
    --------
    >>> src = SyntheticSource.from_query("af", {"hr": "90", "seed": "3"}, spec="synthetic:af")
    >>> sig = src.render(10.0, 250.0)
    >>> sig.signal_mv.shape
    (2500,)
    """

    def __init__(self, kind: str, params: SyntheticParams | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown synthetic kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind = kind
        self.params = params or SyntheticParams(**KINDS[kind])  # type: ignore[arg-type]

    @classmethod
    def from_query(cls, kind: str, query: dict[str, str], *, spec: str) -> SyntheticSource:
        """Build from a kind and the spec's ``key=value`` parameters (strings)."""
        if kind not in KINDS:
            raise SourceSpecError(
                f"unknown synthetic kind {kind!r}; known: {', '.join(KINDS)}", spec=spec
            )
        values: dict[str, object] = dict(KINDS[kind])
        for key, text in query.items():
            if key == "off":
                values["off_periods_s"] = parse_periods(text, spec=spec)
                continue
            if key not in _PARAMS:
                known = ", ".join(sorted([*_PARAMS, "off"]))
                raise SourceSpecError(f"unknown parameter {key!r} for synthetic sources; known: {known}", spec=spec)
            field, convert = _PARAMS[key]
            try:
                values[field] = convert(text)
            except ValueError:
                raise SourceSpecError(f"parameter {key}={text!r} is not a number", spec=spec) from None
        try:
            params = SyntheticParams(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise SourceSpecError(str(exc), spec=spec) from None
        return cls(kind, params)

    @property
    def description(self) -> str:
        """Human-readable summary."""
        p = self.params
        changed = {
            f.name: getattr(p, f.name)
            for f in dataclasses.fields(p)
            if getattr(p, f.name) != f.default and f.name != "seed"
        }
        extras = ", ".join(f"{k}={v}" for k, v in changed.items())
        return f"synthetic {self.kind} (seed {p.seed}{', ' + extras if extras else ''})"

    def render(self, duration_s: float, fs_hz: float) -> EcgSignal:
        """Render ``duration_s`` seconds at ``fs_hz`` (deterministic for a given seed)."""
        if not (duration_s > 0 and math.isfinite(duration_s)) or not (fs_hz > 0 and math.isfinite(fs_hz)):
            raise ValueError("duration_s and fs_hz must be positive and finite")
        p = self.params
        rng = np.random.default_rng(p.seed)
        n_samples = int(round(duration_s * fs_hz))
        is_af = p.af_mv > 0
        if is_af:
            rr_s = waves.af_rr_s(duration_s, p.hr_bpm, rng)
        else:
            rr_s = waves.sinus_rr_s(duration_s, p.hr_bpm, p.hrv_fraction, rng)
        beat_times_s, rr_before_s, ventricular = _place_beats(rr_s, p.pvc_rate, rng)
        signal_mv = waves.render_beats(
            beat_times_s,
            rr_before_s,
            ventricular,
            with_p=not is_af,
            n_samples=n_samples,
            fs_hz=fs_hz,
            amplitude_scale=p.amplitude_scale,
        )
        if is_af:
            signal_mv += waves.f_waves_mv(n_samples, fs_hz, p.af_mv, rng)
        signal_mv += waves.baseline_wander_mv(n_samples, fs_hz, p.wander_mv, rng)
        signal_mv += waves.mains_hum_mv(n_samples, fs_hz, p.hum_mv, p.hum_hz)
        signal_mv += waves.muscle_noise_mv(n_samples, fs_hz, p.emg_mv, rng)
        lead_off = periods_mask(p.off_periods_s, n_samples, fs_hz)
        return EcgSignal(signal_mv=signal_mv, fs_hz=float(fs_hz), lead_off=lead_off, description=self.description)

    def beat_times_s(self, duration_s: float) -> np.ndarray:
        """The R-peak times (s) this source places in the first ``duration_s`` seconds."""
        p = self.params
        rng = np.random.default_rng(p.seed)
        if p.af_mv > 0:
            rr_s = waves.af_rr_s(duration_s, p.hr_bpm, rng)
        else:
            rr_s = waves.sinus_rr_s(duration_s, p.hr_bpm, p.hrv_fraction, rng)
        times_s, _, _ = _place_beats(rr_s, p.pvc_rate, rng)
        return times_s[times_s < duration_s]


def _place_beats(
    rr_s: np.ndarray, pvc_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beat times from RR intervals, replacing some beats by early PVCs.

    A PVC comes at 60 % of the RR interval and is followed by a full compensatory
    pause: the next sinus beat keeps its place.
    """
    times: list[float] = []
    rr_before: list[float] = []
    ventricular: list[bool] = []
    t_s = 0.25 - 0.75 * float(rr_s[0]) if len(rr_s) else 0.0  # first beat within the first RR
    previous_pvc = False
    for rr in rr_s:
        is_pvc = pvc_rate > 0 and not previous_pvc and times and rng.random() < pvc_rate
        if is_pvc:
            times.append(t_s + 0.6 * float(rr))
            rr_before.append(0.6 * float(rr))
            ventricular.append(True)
        else:
            times.append(t_s + float(rr))
            rr_before.append(float(rr))
            ventricular.append(False)
        previous_pvc = bool(is_pvc)
        t_s += float(rr)
    return np.asarray(times), np.asarray(rr_before), np.asarray(ventricular, dtype=bool)
