"""Drawing a planned report page with matplotlib (object API, no pyplot state).

Each strip is an axes placed on the page in millimetres whose limits are chosen so that
one second spans exactly 25 mm and one millivolt exactly 10 mm; the grid lines are drawn
in data coordinates on that axes, so they cannot drift from the trace.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ecg.report.header import ReportHeader, header_lines
from ecg.report.layout import (
    GAIN_MM_PER_MV,
    MARGIN_MM,
    PULSE_AREA_S,
    PULSE_T0_S,
    PULSE_T1_S,
    SPEED_MM_PER_S,
    PageLayout,
    Strip,
)

#: light pink of the 1 mm grid and darker pink of the 5 mm grid
MINOR_GRID_COLOUR = "#f7c6cf"
MAJOR_GRID_COLOUR = "#e47a8c"
TRACE_COLOUR = "#111111"
#: line widths in points (1 pt = 0.353 mm)
MINOR_GRID_LW_PT = 0.3
MAJOR_GRID_LW_PT = 0.7
TRACE_LW_PT = 0.6


def _grid_lines(strip: Strip) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Segments of the 1 mm and 5 mm grid of a strip, in data units (s, mV)."""
    width_mm = int(round(strip.width_mm))
    height_mm = int(round(strip.height_mm))
    x_left_s = -PULSE_AREA_S
    x_right_s = strip.duration_s
    y_bottom_mv = strip.bottom_mv
    y_top_mv = strip.top_mv
    minor: list[np.ndarray] = []
    major: list[np.ndarray] = []
    for k in range(width_mm + 1):
        x_s = x_left_s + k / SPEED_MM_PER_S
        line = np.array([[x_s, y_bottom_mv], [x_s, y_top_mv]])
        (major if k % 5 == 0 else minor).append(line)
    for k in range(height_mm + 1):
        y_mv = y_bottom_mv + k / GAIN_MM_PER_MV
        line = np.array([[x_left_s, y_mv], [x_right_s, y_mv]])
        (major if k % 5 == 0 else minor).append(line)
    return minor, major


def _strip_axes(fig: Figure, page: PageLayout, strip: Strip) -> Axes:
    rect = (
        strip.x_mm / page.width_mm,
        strip.y_mm / page.height_mm,
        strip.width_mm / page.width_mm,
        strip.height_mm / page.height_mm,
    )
    ax = fig.add_axes(rect)
    ax.set_xlim(-PULSE_AREA_S, strip.duration_s)
    ax.set_ylim(strip.bottom_mv, strip.top_mv)
    ax.set_axis_off()
    ax.set_autoscale_on(False)
    minor, major = _grid_lines(strip)
    ax.add_collection(LineCollection(minor, colors=MINOR_GRID_COLOUR, linewidths=MINOR_GRID_LW_PT, zorder=1))
    ax.add_collection(LineCollection(major, colors=MAJOR_GRID_COLOUR, linewidths=MAJOR_GRID_LW_PT, zorder=2))
    return ax


def _draw_pulse(ax: Axes) -> None:
    """The 1 mV x 0.2 s calibration pulse at the start of a strip."""
    start_s = -PULSE_AREA_S + 0.04
    end_s = -0.02
    xs = [start_s, PULSE_T0_S, PULSE_T0_S, PULSE_T1_S, PULSE_T1_S, end_s]
    ys = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    ax.plot(xs, ys, color=TRACE_COLOUR, linewidth=TRACE_LW_PT, zorder=3, solid_joinstyle="miter")


def _draw_segments(ax: Axes, strip: Strip, signals_mv: np.ndarray, fs_hz: float) -> None:
    top_mv = strip.top_mv
    for seg in strip.segments:
        i0 = int(round(seg.t0_s * fs_hz))
        i1 = min(signals_mv.shape[0], int(round(seg.t1_s * fs_hz)))
        if i1 - i0 < 2:
            continue
        values = signals_mv[i0:i1, seg.lead_index]
        finite = values[np.isfinite(values)]
        offset_mv = float(np.median(finite)) if finite.size else 0.0
        xs = seg.x0_s + np.arange(i1 - i0) / fs_hz
        ax.plot(xs, values - offset_mv, color=TRACE_COLOUR, linewidth=TRACE_LW_PT, zorder=3)
        if seg.label:
            ax.text(seg.x0_s + 0.06, top_mv - 0.25, seg.label, fontsize=8, fontweight="bold",
                    va="top", ha="left", zorder=4, color=TRACE_COLOUR)
        if seg.x0_s > 0:
            ax.plot([seg.x0_s, seg.x0_s], [-0.3, 0.3], color=TRACE_COLOUR, linewidth=TRACE_LW_PT, zorder=3)


#: colour of event markers (contact lost / regained) on the trace
MARKER_COLOUR = "#c2410c"


def _draw_markers(ax: Axes, strip: Strip, markers: tuple[tuple[float, str], ...], end_s: float) -> None:
    """Dashed vertical lines with a label at each event that falls on this strip.

    An event at (or after) the end of the recording — a session that ended without contact —
    is drawn at the end of the trace, its label to the left of the line.
    """
    for seg in strip.segments:
        stacked: dict[float, int] = {}  # labels at the same time go one above the other
        at_end = seg.t1_s >= end_s
        for t_s, text in markers:
            if not (seg.t0_s <= t_s < seg.t1_s or (at_end and t_s >= seg.t1_s)):
                continue
            x_s = seg.x0_s + (min(t_s, seg.t1_s) - seg.t0_s)
            row = stacked.get(t_s, 0)
            stacked[t_s] = row + 1
            if row == 0:
                ax.plot([x_s, x_s], [strip.bottom_mv, strip.top_mv], color=MARKER_COLOUR, linewidth=0.8,
                        linestyle=(0, (3, 2)), zorder=4)
            last = t_s >= seg.t1_s
            ax.text(x_s - 0.04 if last else x_s + 0.04, strip.bottom_mv + 0.15 + 0.3 * row, text, fontsize=7,
                    color=MARKER_COLOUR, va="bottom", ha="right" if last else "left", zorder=5)


def _draw_header(fig: Figure, page: PageLayout, header: ReportHeader) -> None:
    def at(x_mm: float, y_mm: float) -> tuple[float, float]:
        return x_mm / page.width_mm, y_mm / page.height_mm

    title, left, right = header_lines(header)
    x0_mm = page.strips[0].x_mm if page.strips else MARGIN_MM
    top_mm = page.height_mm - MARGIN_MM
    fig.text(*at(x0_mm, top_mm), title, fontsize=12, fontweight="bold", va="top", ha="left")
    line_mm = 3.7
    columns = ((left, x0_mm, 24.0), (right, x0_mm + 120.0, 22.0))
    for rows, col_x_mm, value_dx_mm in columns:
        for r, (label, value) in enumerate(rows):
            y_mm = top_mm - 6.5 - r * line_mm
            fig.text(*at(col_x_mm, y_mm), label, fontsize=8, color="#555555", va="top", ha="left")
            fig.text(*at(col_x_mm + value_dx_mm, y_mm), value, fontsize=8, va="top", ha="left")
    if header.findings:
        findings_x_mm = x0_mm + 190.0
        fig.text(*at(findings_x_mm, top_mm - 6.5), "Findings", fontsize=8, color="#555555", va="top")
        for r, text in enumerate(header.findings[:5]):
            fig.text(*at(findings_x_mm, top_mm - 6.5 - (r + 1) * line_mm), text[:48], fontsize=8, va="top")


def _draw_footer(fig: Figure, page: PageLayout, fs_hz: float, total_s: float, safety: str | None = None) -> None:
    last = page.strips[-1]
    y_mm = last.y_mm - 2.0
    shown = f"{page.shown_s:.1f} s of {total_s:.1f} s shown" if page.shown_s + 1e-6 < total_s else f"{total_s:.1f} s"
    text = (f"25 mm/s   10 mm/mV   small square 1 mm = 40 ms × 0.1 mV   sampled at {fs_hz:g} Hz   {shown}"
            "   —   cardiolink screening report, not a diagnosis")
    fig.text(last.x_mm / page.width_mm, y_mm / page.height_mm, text, fontsize=7, color="#555555",
             va="top", ha="left")
    if safety:
        fig.text(last.x_mm / page.width_mm, (y_mm - 3.0) / page.height_mm, safety, fontsize=7,
                 fontweight="bold", color="#111111", va="top", ha="left")


def build_figure(page: PageLayout, signals_mv: np.ndarray, fs_hz: float, header: ReportHeader) -> Figure:
    """Draw a planned page.

    Parameters
    ----------
    page : PageLayout
        From :func:`ecg.report.layout.plan_page`.
    signals_mv : numpy.ndarray
        Shape ``(n_samples, n_leads)``, millivolts.
    fs_hz : float
        Sampling rate.
    header : ReportHeader
        Header facts (duration already filled in).

    Returns
    -------
    matplotlib.figure.Figure
        Sized exactly ``page.width_mm`` x ``page.height_mm``.
    """
    fig = Figure(figsize=page.size_inches, facecolor="white")
    for strip in page.strips:
        ax = _strip_axes(fig, page, strip)
        _draw_pulse(ax)
        _draw_segments(ax, strip, signals_mv, fs_hz)
        _draw_markers(ax, strip, header.markers, signals_mv.shape[0] / fs_hz)
    _draw_header(fig, page, header)
    _draw_footer(fig, page, fs_hz, signals_mv.shape[0] / fs_hz, header.safety)
    return fig
