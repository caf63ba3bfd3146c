"""ECG sources for the simulated electrodes: synthetic rhythms and replayed records.

:func:`parse_source` turns a spec string into a source::

    synthetic:normal | synthetic:af | synthetic:pvc | synthetic:noisy | synthetic:leadoff
    synthetic:normal?hr=72&seed=1
    PATH[?lead=0&start=10&fs=300&gain=1000&baseline=0&off=5:7]

Every source renders an :class:`EcgSignal` (mV + lead-off mask) at a requested rate;
:mod:`simulator.frontend` turns it into ADC counts.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from simulator.errors import SourceSpecError
from simulator.sources.base import EcgSignal, Source
from simulator.sources.replay import ReplaySource, default_data_dir
from simulator.sources.synthetic import KINDS, SyntheticParams, SyntheticSource

__all__ = [
    "EcgSignal",
    "Source",
    "SyntheticSource",
    "SyntheticParams",
    "ReplaySource",
    "KINDS",
    "default_data_dir",
    "parse_source",
]

_SYNTHETIC_PREFIX = "synthetic:"


def parse_source(spec: str) -> SyntheticSource | ReplaySource:
    """Build a source from its spec string.

    Parameters
    ----------
    spec : str
        ``synthetic:KIND[?k=v&...]`` or ``PATH[?k=v&...]``.

    Returns
    -------
    SyntheticSource or ReplaySource

    Raises
    ------
    SourceSpecError
        Unknown kind or parameter, malformed value.
    SourceDataError
        A replay path that does not exist.

    Examples
    --------
    >>> parse_source("synthetic:normal?hr=60&seed=2").params.hr_bpm
    60.0
    """
    text = spec.strip()
    if not text:
        raise SourceSpecError("empty source spec; try synthetic:normal", spec=spec)
    base, _, query_text = text.partition("?")
    try:
        pairs = parse_qsl(query_text, keep_blank_values=True, strict_parsing=bool(query_text))
    except ValueError:
        raise SourceSpecError(f"malformed parameters {query_text!r} (expected k=v&k=v)", spec=spec) from None
    query = dict(pairs)
    if len(query) != len(pairs):
        raise SourceSpecError("a parameter is given twice", spec=spec)
    if base.startswith(_SYNTHETIC_PREFIX):
        return SyntheticSource.from_query(base[len(_SYNTHETIC_PREFIX) :], query, spec=spec)
    return ReplaySource(base, query, spec=spec)
