"""Clinical-grid ECG reports: 25 mm/s, 10 mm/mV, pink 1 mm / 5 mm grid, true to scale.

Shared by the companion (``cardio report``, the local web UI) and the cloud web page.

- one lead: 10 s rows (a 30 s recording gives three rows);
- the twelve standard leads: the 3 x 4 block of 2.5 s columns plus a lead II rhythm strip;
- other multi-lead input: the first 10 s of each lead, one row per lead.

Every strip starts with a 1 mV x 0.2 s calibration pulse. Output format follows the file
suffix (``.png``, ``.svg``, ``.pdf``); the page is at least A4 landscape and one grid
millimetre is one millimetre on the printed page (print PDFs at 100 %, "actual size").

Examples
--------
>>> import numpy as np
>>> from ecg.report import render_report_bytes
>>> png = render_report_bytes(np.zeros(3000), 300.0, ("I",), {"result": "test"}, fmt="png", dpi=50)
>>> png[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ecg.errors import SignalError
from ecg.report.draw import build_figure
from ecg.report.header import ReportError, ReportHeader
from ecg.report.layout import GAIN_MM_PER_MV, MM_PER_INCH, SPEED_MM_PER_S, PageLayout, plan_page

__all__ = [
    "FORMATS",
    "GAIN_MM_PER_MV",
    "SPEED_MM_PER_S",
    "ReportError",
    "ReportHeader",
    "figure_bytes",
    "make_figure",
    "render_report",
    "render_report_bytes",
]

#: output formats by file suffix, with their MIME types
FORMATS: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
#: default raster resolution; 1 mm = 200/25.4 = 7.9 px
DEFAULT_DPI = 200.0


def _as_2d(signals_mv: np.ndarray | Sequence[float], fs_hz: float,
           lead_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    sig = np.asarray(signals_mv, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None]
    if sig.ndim != 2:
        raise SignalError(f"signals_mv must be 1-D or (n_samples, n_leads), got shape {sig.shape}",
                          reason="bad_shape")
    if sig.shape[0] < 2:
        raise SignalError("a report needs at least 2 samples", reason="too_short", n_samples=int(sig.shape[0]))
    if not (isinstance(fs_hz, (int, float)) and np.isfinite(fs_hz) and 0 < fs_hz <= 10_000):
        raise SignalError(f"fs_hz must be in (0, 10000], got {fs_hz!r}", reason="bad_fs",
                          fs_hz=float(fs_hz) if isinstance(fs_hz, (int, float)) else None)
    names = tuple(str(n) for n in lead_names)
    if len(names) != sig.shape[1]:
        raise ReportError(f"{len(names)} lead name(s) for {sig.shape[1]} signal column(s)",
                          reason="signal", field_name="lead_names")
    if not np.isfinite(sig).any():
        raise SignalError("the signal has no finite sample", reason="non_finite", fs_hz=float(fs_hz))
    return sig, names


def _as_header(header: ReportHeader | Mapping[str, Any] | None) -> ReportHeader:
    if header is None:
        return ReportHeader()
    if isinstance(header, ReportHeader):
        return header
    return ReportHeader.from_mapping(header)


def make_figure(signals_mv: np.ndarray | Sequence[float], fs_hz: float, lead_names: Sequence[str],
                header: ReportHeader | Mapping[str, Any] | None = None) -> tuple[Figure, PageLayout]:
    """Plan and draw a report page without saving it.

    Returns
    -------
    (matplotlib.figure.Figure, PageLayout)
        The figure and the geometry used (for checks of the scale).
    """
    sig, names = _as_2d(signals_mv, fs_hz, lead_names)
    head = _as_header(header).with_duration(sig.shape[0] / float(fs_hz))
    page = plan_page(sig.shape[0], float(fs_hz), names)
    return build_figure(page, sig, float(fs_hz), head), page


def _format_of(suffix: str) -> str:
    fmt = suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ReportError(f"unsupported report format {suffix!r}; use one of .png, .svg, .pdf",
                          reason="format", field_name="path")
    return fmt


def _save(fig: Figure, target: Any, fmt: str, dpi: float) -> None:
    metadata: dict[str, Any] = {"Creator": "cardiolink"}
    if fmt == "pdf":
        metadata["CreationDate"] = None
    elif fmt == "svg":
        metadata["Date"] = None
    fig.savefig(target, format=fmt, dpi=dpi, metadata=metadata)


def render_report(signals_mv: np.ndarray | Sequence[float], fs_hz: float, lead_names: Sequence[str],
                  header: ReportHeader | Mapping[str, Any] | None, path: str | os.PathLike[str], *,
                  dpi: float = DEFAULT_DPI) -> Path:
    """Draw a true-to-scale report and write it; the format follows the suffix.

    Parameters
    ----------
    signals_mv : array_like
        ``(n_samples,)`` or ``(n_samples, n_leads)``, millivolts; NaN samples leave gaps.
    fs_hz : float
        Sampling rate.
    lead_names : sequence of str
        One name per column (``"I"``, ``"ii"``, ``"aVR"``, ``"v1"`` ... any case).
    header : ReportHeader or mapping or None
        Facts for the header; a mapping must use :class:`ReportHeader` field names.
    path : str or path-like
        Output file ending in ``.png``, ``.svg`` or ``.pdf``.
    dpi : float
        Resolution of PNG output (vector formats keep the scale exactly).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ReportError
        Unknown header field, bad value or unsupported suffix.
    ecg.errors.SignalError
        Signal with a bad shape, no finite sample, or an impossible ``fs_hz``.
    """
    out = Path(path)
    fmt = _format_of(out.suffix)
    fig, _ = make_figure(signals_mv, fs_hz, lead_names, header)
    tmp = out.with_name(out.name + ".part")
    try:
        with open(tmp, "wb") as fh:
            _save(fig, fh, fmt, dpi)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def render_report_bytes(signals_mv: np.ndarray | Sequence[float], fs_hz: float, lead_names: Sequence[str],
                        header: ReportHeader | Mapping[str, Any] | None = None, *, fmt: str = "png",
                        dpi: float = DEFAULT_DPI) -> bytes:
    """Like :func:`render_report` but return the file's bytes (for web responses).

    ``fmt`` is ``"png"``, ``"svg"`` or ``"pdf"``.
    """
    fig, _ = make_figure(signals_mv, fs_hz, lead_names, header)
    return figure_bytes(fig, fmt, dpi=dpi)


def figure_bytes(fig: Figure, fmt: str, *, dpi: float = DEFAULT_DPI) -> bytes:
    """Save a figure from :func:`make_figure` as ``"png"``, ``"svg"`` or ``"pdf"`` bytes.

    Drawing once and saving in several formats saves the planning and drawing time.
    """
    kind = _format_of(fmt)
    buf = io.BytesIO()
    _save(fig, buf, kind, dpi)
    return buf.getvalue()


def pixels_per_mm(dpi: float) -> float:
    """Raster pixels per page millimetre at ``dpi`` (e.g. 10 at 254 dpi)."""
    return dpi / MM_PER_INCH
