"""Replay of real recordings (WFDB or CSV) through the simulated electrodes.

Spec: a path, optionally followed by ``?key=value&...``::

    ../shared/data/cinc2017/A00001.hea
    cinc2017/A00001                        (looked up in the data folder)
    my.csv?fs=300&gain=1000&baseline=0     (CSV of ADC counts; without gain: mV)

Parameters: ``lead`` (index or name, default 0), ``start`` (s into the record),
``fs``/``gain``/``baseline`` (CSV only), ``off`` (lead-off periods ``START:END,...``).
A record shorter than what the device asks for is played in a loop. NaN samples
(gaps in the record) are presented as lead-off.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from simulator.errors import SourceDataError, SourceSpecError
from simulator.sources.base import EcgSignal, parse_periods, periods_mask

__all__ = ["ReplaySource", "default_data_dir", "resample"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_KNOWN = frozenset({"lead", "start", "fs", "gain", "baseline", "off"})


def default_data_dir() -> Path:
    """The data folder: ``$CARDIOLINK_DATA`` or ``../shared/data`` next to the repo."""
    env = os.environ.get("CARDIOLINK_DATA")
    return Path(env) if env else (_REPO_ROOT / ".." / "shared" / "data").resolve()


def resample(signal_mv: np.ndarray, fs_in_hz: float, fs_out_hz: float) -> np.ndarray:
    """The record at another rate, by the project's one resampler (``ecg.preprocess.resample``).

    Examples
    --------
    >>> resample(np.zeros(300), 300.0, 250.0).shape
    (250,)
    """
    from ecg.preprocess import resample as ecg_resample

    return ecg_resample(np.asarray(signal_mv, dtype=float), fs_in_hz, fs_out_hz)[0]


class ReplaySource:
    """A real record replayed as the electrodes' signal.

    Parameters
    ----------
    path : str or Path
        WFDB record (``.hea`` or name) or CSV file; relative paths that do not exist
        are also looked up under :func:`default_data_dir`.
    query : dict of str, optional
        Spec parameters (see module docstring).
    spec : str, optional
        The original spec, for error messages.
    """

    def __init__(self, path: str | Path, query: dict[str, str] | None = None, *, spec: str = "") -> None:
        spec = spec or str(path)
        query = dict(query or {})
        unknown = set(query) - _KNOWN
        if unknown:
            raise SourceSpecError(
                f"unknown parameter(s) {', '.join(sorted(unknown))} for a replay source; known: "
                + ", ".join(sorted(_KNOWN)),
                spec=spec,
            )
        self.path = self._resolve(Path(path))
        try:
            self.start_s = float(query.get("start", "0"))
            self.csv_fs_hz = float(query["fs"]) if "fs" in query else None
            self.csv_gain = float(query["gain"]) if "gain" in query else None
            self.csv_baseline = int(query.get("baseline", "0"))
        except ValueError as exc:
            raise SourceSpecError(f"bad number in replay parameters: {exc}", spec=spec) from None
        if self.start_s < 0:
            raise SourceSpecError("start must be >= 0 s", spec=spec)
        lead_text = query.get("lead", "0")
        self.lead: int | str = int(lead_text) if lead_text.isdigit() else lead_text
        self.off_periods_s = parse_periods(query.get("off", ""), spec=spec)
        self._spec = spec
        self._cache: tuple[np.ndarray, float, str] | None = None

    @staticmethod
    def _resolve(path: Path) -> Path:
        candidates = [path]
        if not path.is_absolute():
            candidates.append(default_data_dir() / path)
        for candidate in candidates:
            for probe in (candidate, candidate.with_name(candidate.name + ".hea")):
                if probe.exists():
                    return candidate
        raise SourceDataError(
            f"no record at {path} (also looked in the data folder {default_data_dir()}; "
            "set CARDIOLINK_DATA or pass an existing path)",
            path=str(path),
        )

    def _load(self) -> tuple[np.ndarray, float, str]:
        if self._cache is None:
            from ecg.errors import EcgError
            from ecg.io import read_record

            try:
                record = read_record(
                    self.path, fs_hz=self.csv_fs_hz, adc_gain=self.csv_gain, baseline=self.csv_baseline
                )
                lead_mv = np.asarray(record.lead(self.lead), dtype=float)
            except (EcgError, KeyError, IndexError) as exc:
                raise SourceDataError(f"cannot replay {self.path}: {exc}", path=str(self.path)) from exc
            start = int(round(self.start_s * record.fs_hz))
            if start >= len(lead_mv):
                raise SourceDataError(
                    f"start {self.start_s} s is past the end of {self.path} ({record.duration_s:.1f} s)",
                    path=str(self.path),
                )
            lead_name = record.lead_names[self.lead] if isinstance(self.lead, int) else self.lead
            self._cache = (lead_mv[start:], float(record.fs_hz), f"{record.name} lead {lead_name}")
        return self._cache

    @property
    def description(self) -> str:
        """Human-readable summary."""
        start = f" from {self.start_s:g} s" if self.start_s else ""
        return f"replay of {self.path}{start}"

    def render(self, duration_s: float, fs_hz: float) -> EcgSignal:
        """The record resampled to ``fs_hz``, looped to cover ``duration_s`` seconds."""
        lead_mv, record_fs_hz, name = self._load()
        gaps = ~np.isfinite(lead_mv)
        filled = np.where(gaps, 0.0, lead_mv)
        resampled = resample(filled, record_fs_hz, fs_hz)
        gap_mask = resample(gaps.astype(float), record_fs_hz, fs_hz) > 0.5
        n_samples = int(round(duration_s * fs_hz))
        repeats = max(1, math.ceil(n_samples / max(len(resampled), 1)))
        signal_mv = np.tile(resampled, repeats)[:n_samples]
        lead_off = np.tile(gap_mask, repeats)[:n_samples] | periods_mask(self.off_periods_s, n_samples, fs_hz)
        looped = " (looped)" if repeats > 1 else ""
        return EcgSignal(
            signal_mv=signal_mv,
            fs_hz=float(fs_hz),
            lead_off=lead_off,
            description=f"replay of {name} at {record_fs_hz:g} Hz -> {fs_hz:g} Hz{looped}",
        )
