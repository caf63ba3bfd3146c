"""Page geometry of an ECG report, in millimetres (pure: no drawing).

The clinical conventions fix the scale: paper speed 25 mm/s and gain 10 mm/mV, so one
small (1 mm) grid square is 40 ms wide and 0.1 mV high. Every strip is an axes whose
data coordinates are seconds and millivolts, placed on the page in millimetres, so the
scale holds on the printed page whatever the output format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: paper speed of the clinical convention
SPEED_MM_PER_S = 25.0
#: amplitude gain of the clinical convention
GAIN_MM_PER_MV = 10.0
#: millimetres per inch (matplotlib sizes figures in inches)
MM_PER_INCH = 25.4

#: ISO A4 landscape: the smallest page a report gets
A4_LANDSCAPE_MM = (297.0, 210.0)

#: time before 0 s on every strip, holding the 1 mV calibration pulse
PULSE_AREA_S = 0.4
#: calibration pulse start/end on the strip time axis (0.2 s = 5 mm wide)
PULSE_T0_S = -0.3
PULSE_T1_S = -0.1

#: seconds per row of a single-lead report
ROW_DURATION_S = 10.0
#: rows drawn at most for a single-lead report (60 s); longer input is cut
MAX_SINGLE_LEAD_ROWS = 6
#: height of one single-lead strip: 5 mV (50 mm); three rows fill A4 landscape
ROW_HEIGHT_MM = 50.0
#: height of the 12-lead rows, so that 3 rows + rhythm strip fit on A4
TWELVE_LEAD_ROW_HEIGHT_MM = 37.5

MARGIN_MM = 8.0
HEADER_HEIGHT_MM = 30.0
FOOTER_HEIGHT_MM = 8.0

#: the standard 3 x 4 arrangement: rows of (lead) per column
TWELVE_LEAD_GRID: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
#: lead used for the rhythm strip under the 3 x 4 block
RHYTHM_LEAD = "II"
#: duration of each column of the 3 x 4 block
TWELVE_LEAD_COLUMN_S = 2.5


@dataclass(frozen=True)
class Segment:
    """A piece of one lead drawn on a strip.

    Attributes
    ----------
    lead_index : int
        Column of ``signals_mv`` to draw.
    label : str
        Lead name printed at the segment's start.
    t0_s, t1_s : float
        Time window of the recording shown (seconds from the recording's start).
    x0_s : float
        Strip time (x data coordinate) at which ``t0_s`` is drawn.
    """

    lead_index: int
    label: str
    t0_s: float
    t1_s: float
    x0_s: float


@dataclass(frozen=True)
class Strip:
    """One row of grid on the page.

    Attributes
    ----------
    x_mm, y_mm : float
        Lower-left corner of the strip on the page (from the page's lower-left corner).
    duration_s : float
        Time after 0 s shown (the strip also shows ``PULSE_AREA_S`` before 0 s).
    height_mv : float
        Amplitude span shown, from ``bottom_mv`` to ``top_mv`` (median of the trace at 0).
    segments : tuple[Segment, ...]
        What is drawn on it.
    """

    x_mm: float
    y_mm: float
    duration_s: float
    height_mv: float
    segments: tuple[Segment, ...]

    @property
    def bottom_mv(self) -> float:
        """Lowest amplitude shown: the trace's median sits 40 % up, on a 5 mm line."""
        return -round(0.4 * self.height_mv * 2.0) / 2.0

    @property
    def top_mv(self) -> float:
        return self.bottom_mv + self.height_mv

    @property
    def width_mm(self) -> float:
        return (self.duration_s + PULSE_AREA_S) * SPEED_MM_PER_S

    @property
    def height_mm(self) -> float:
        return self.height_mv * GAIN_MM_PER_MV


@dataclass(frozen=True)
class PageLayout:
    """Everything placed on a report page, in millimetres.

    Attributes
    ----------
    width_mm, height_mm : float
        Page size.
    header_y_mm : float
        Bottom of the header band (it reaches to the top margin).
    strips : tuple[Strip, ...]
        Grid rows, top to bottom.
    kind : str
        ``"single"``, ``"twelve"`` or ``"multi"``.
    shown_s : float
        Seconds of the recording drawn (may be less than its length).
    """

    width_mm: float
    height_mm: float
    header_y_mm: float
    strips: tuple[Strip, ...]
    kind: str
    shown_s: float

    @property
    def size_inches(self) -> tuple[float, float]:
        return (self.width_mm / MM_PER_INCH, self.height_mm / MM_PER_INCH)


def normalise_lead_name(name: str) -> str:
    """Map spellings such as ``avr``, ``AVR``, ``v1``, ``i`` to ``aVR``, ``V1``, ``I``."""
    key = name.strip().upper().replace("LEAD", "").strip()
    if key.startswith("AV") and len(key) == 3:
        return "aV" + key[2]
    return key


def _twelve_lead_indices(lead_names: tuple[str, ...]) -> dict[str, int] | None:
    names = [normalise_lead_name(n) for n in lead_names]
    wanted = {lead for row in TWELVE_LEAD_GRID for lead in row}
    if not wanted.issubset(names):
        return None
    return {name: names.index(name) for name in wanted}


def _stack(rows: list[tuple[float, float, tuple[Segment, ...]]], row_height_mm: float, kind: str,
           shown_s: float) -> PageLayout:
    """Place rows (duration_s, height_mv, segments) under a header, on at least A4."""
    grid_w_mm = max((d + PULSE_AREA_S) * SPEED_MM_PER_S for d, _, _ in rows)
    content_h_mm = HEADER_HEIGHT_MM + row_height_mm * len(rows) + FOOTER_HEIGHT_MM
    width_mm = max(A4_LANDSCAPE_MM[0], grid_w_mm + 2 * MARGIN_MM)
    height_mm = max(A4_LANDSCAPE_MM[1], content_h_mm + 2 * MARGIN_MM)
    x_mm = (width_mm - grid_w_mm) / 2.0
    top_mm = height_mm - MARGIN_MM - HEADER_HEIGHT_MM
    strips = []
    for i, (duration_s, height_mv, segments) in enumerate(rows):
        y_mm = top_mm - (i + 1) * row_height_mm
        strips.append(Strip(x_mm, y_mm, duration_s, height_mv, segments))
    return PageLayout(width_mm, height_mm, top_mm, tuple(strips), kind, shown_s)


def plan_page(n_samples: int, fs_hz: float, lead_names: tuple[str, ...]) -> PageLayout:
    """Choose the layout for a recording.

    One lead: rows of 10 s (up to 60 s). The twelve standard leads: a 3 x 4 block of
    2.5 s columns plus a 10 s rhythm strip of lead II. Other multi-lead input: the first
    10 s of each lead (up to 12), one row per lead.

    Parameters
    ----------
    n_samples : int
        Samples per lead.
    fs_hz : float
        Sampling rate.
    lead_names : tuple[str, ...]
        Names of the columns of the signal.

    Returns
    -------
    PageLayout

    Examples
    --------
    >>> page = plan_page(9000, 300.0, ("I",))
    >>> len(page.strips), page.strips[0].width_mm
    (3, 260.0)
    """
    total_s = n_samples / fs_hz
    indices = _twelve_lead_indices(lead_names) if len(lead_names) > 1 else None
    if len(lead_names) == 1:
        n_rows = min(MAX_SINGLE_LEAD_ROWS, max(1, math.ceil(total_s / ROW_DURATION_S - 1e-9)))
        label = normalise_lead_name(lead_names[0]) if lead_names[0] else ""
        rows = []
        for r in range(n_rows):
            t0_s = r * ROW_DURATION_S
            t1_s = min(total_s, t0_s + ROW_DURATION_S)
            rows.append((ROW_DURATION_S, ROW_HEIGHT_MM / GAIN_MM_PER_MV,
                         (Segment(0, label, t0_s, t1_s, 0.0),)))
        shown_s = min(total_s, n_rows * ROW_DURATION_S)
        return _stack(rows, ROW_HEIGHT_MM, "single", shown_s)
    if indices is not None:
        height_mv = TWELVE_LEAD_ROW_HEIGHT_MM / GAIN_MM_PER_MV
        rows = []
        for leads in TWELVE_LEAD_GRID:
            segments = []
            for c, lead in enumerate(leads):
                t0_s = c * TWELVE_LEAD_COLUMN_S
                t1_s = min(total_s, t0_s + TWELVE_LEAD_COLUMN_S)
                if t1_s > t0_s:
                    segments.append(Segment(indices[lead], lead, t0_s, t1_s, t0_s))
            rows.append((ROW_DURATION_S, height_mv, tuple(segments)))
        rhythm = Segment(indices[RHYTHM_LEAD], RHYTHM_LEAD, 0.0, min(total_s, ROW_DURATION_S), 0.0)
        rows.append((ROW_DURATION_S, height_mv, (rhythm,)))
        return _stack(rows, TWELVE_LEAD_ROW_HEIGHT_MM, "twelve", min(total_s, ROW_DURATION_S))
    rows = []
    row_mm = TWELVE_LEAD_ROW_HEIGHT_MM if len(lead_names) > 4 else ROW_HEIGHT_MM
    for i, name in enumerate(lead_names[:12]):
        segment = Segment(i, normalise_lead_name(name), 0.0, min(total_s, ROW_DURATION_S), 0.0)
        rows.append((ROW_DURATION_S, row_mm / GAIN_MM_PER_MV, (segment,)))
    return _stack(rows, row_mm, "multi", min(total_s, ROW_DURATION_S))
