"""The trends page: heart rate over time, recordings per verdict, episodes of possible AF.

Only readable recordings contribute a heart rate (see
:func:`companion.web.present.summary_verdict`); the chart is an inline SVG drawn here
(presentation attributes only, so the page's strict Content-Security-Policy holds).
"""

from __future__ import annotations

from collections import Counter
from html import escape

from companion.localtime import to_local, when_text
from companion.store_models import RecordingSummary
from companion.web import present, views

_W, _H, _PAD = 360.0, 180.0, 28.0


def heart_rate_points(rows: list[RecordingSummary]) -> list[tuple[RecordingSummary, float]]:
    """(row, bpm) of readable recordings, oldest first."""
    points = []
    for r in rows:
        v = present.summary_verdict(r)
        if v.heart_rate_bpm is not None:
            points.append((r, v.heart_rate_bpm))
    return sorted(points, key=lambda p: p[0].recorded_at)


def chart(points: list[tuple[RecordingSummary, float]]) -> str:
    """Inline SVG of heart rate over time (one dot per recording, coloured by verdict)."""
    if not points:
        return "<p class=empty>No readable recording yet: the heart-rate chart appears after the first one.</p>"
    t = [p[0].recorded_at.timestamp() for p in points]
    bpm = [p[1] for p in points]
    t0, t1 = min(t), max(t)
    lo, hi = min(40.0, min(bpm) - 5), max(120.0, max(bpm) + 5)
    span_t = (t1 - t0) or 1.0

    def xy(ti: float, b: float) -> tuple[float, float]:
        x = _PAD + (ti - t0) / span_t * (_W - 2 * _PAD) if t1 > t0 else _W / 2
        return x, _H - _PAD - (b - lo) / (hi - lo) * (_H - 2 * _PAD)

    grid = []
    for level in range(int(lo // 20 * 20 + 20), int(hi) + 1, 20):
        _, y = xy(t0, level)
        grid.append(f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - _PAD / 2}" y2="{y:.1f}" stroke="#eee"/>'
                    f'<text x="2" y="{y + 4:.1f}" font-size="10" fill="#6b6b75">{level}</text>')
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(ti, b) for ti, b in zip(t, bpm)))
    dots = []
    for (row, b), ti in zip(points, t):
        x, y = xy(ti, b)
        v = present.summary_verdict(row)
        dots.append(f'<a href="/recordings/{row.id}"><circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{escape(v.colour)}">'
                    f"<title>{escape(when_text(row.recorded_at))}: {b:.0f} bpm, {escape(v.label)}</title></circle></a>")
    first, last = to_local(points[0][0].recorded_at), to_local(points[-1][0].recorded_at)
    return (
        f'<svg id=hr-chart viewBox="0 0 {_W:.0f} {_H:.0f}" role=img aria-label="heart rate over time">'
        f'{"".join(grid)}<polyline points="{line}" fill="none" stroke="#e47a8c" stroke-width="1.5"/>{"".join(dots)}'
        f'<text x="{_PAD}" y="{_H - 6}" font-size="10" fill="#6b6b75">{first:%d %b}</text>'
        f'<text x="{_W - _PAD}" y="{_H - 6}" font-size="10" fill="#6b6b75" text-anchor="end">{last:%d %b}</text>'
        "</svg>"
    )


def af_episodes(rows: list[RecordingSummary]) -> list[list[RecordingSummary]]:
    """Runs of consecutive recordings (oldest first) whose verdict is possible atrial fibrillation."""
    episodes: list[list[RecordingSummary]] = []
    current: list[RecordingSummary] = []
    for r in sorted(rows, key=lambda r: r.recorded_at):
        category = present.summary_verdict(r).category
        if category == "atrial_fibrillation":
            current.append(r)
        elif category not in ("unreadable", "too_short", "not_screened", "pending") and current:
            episodes.append(current)
            current = []
    if current:
        episodes.append(current)
    return episodes


def page(rows: list[RecordingSummary]) -> str:
    """The whole trends page."""
    counts = Counter(present.summary_verdict(r).label for r in rows)
    total = sum(counts.values()) or 1
    bars = "".join(
        f'<tr><th>{escape(label)}</th><td><meter min=0 max={total} value={n}></meter> {n}</td></tr>'
        for label, n in counts.most_common()
    )
    episodes = af_episodes(rows)
    items = "".join(
        f'<li>{escape(when_text(e[0].recorded_at))}'
        + (f" to {escape(when_text(e[-1].recorded_at))}" if len(e) > 1 else "")
        + f': {len(e)} recording{"s" if len(e) > 1 else ""} ('
        + ", ".join(f'<a href="/recordings/{r.id}">#{r.id}</a>' for r in e) + ")</li>"
        for e in reversed(episodes)
    )
    af = (f"<ul class=episodes>{items}</ul>" if items else "<p class=empty>No recording showed possible atrial "
          "fibrillation.</p>")
    body = (
        "<h1>Trends</h1>"
        f"<section class=card><h2>Heart rate</h2>{chart(heart_rate_points(rows))}</section>"
        f"<section class=card><h2>Results</h2><table id=verdict-counts>{bars or '<tr><td>No recordings yet.</td></tr>'}"
        "</table></section>"
        f"<section class=card><h2>Possible atrial fibrillation</h2>{af}"
        "<p class=sub>An episode is a run of recordings in a row with this result. Show them to a doctor.</p>"
        "</section><p class=sub>Screening results are not a diagnosis.</p>"
    )
    return views.page("Trends", body, active="trends")
