"""The report is true to scale: 1 mm of grid per 40 ms and per 0.1 mV on the page."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from ecg.report import make_figure, pixels_per_mm, render_report
from ecg.report.layout import MM_PER_INCH, PULSE_T0_S, PULSE_T1_S

FS_HZ = 300.0


def _sine_mv(duration_s: float = 30.0, fs_hz: float = FS_HZ) -> np.ndarray:
    t_s = np.arange(int(duration_s * fs_hz)) / fs_hz
    return 0.4 * np.sin(2 * np.pi * 1.2 * t_s)


def _runs(mask: np.ndarray) -> list[float]:
    """Centres of runs of True in a 1-D mask."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return [(s + e) / 2.0 for s, e in zip(starts, ends, strict=True)]


class TestTransform:
    @pytest.mark.parametrize("dpi", [72.0, 100.0, 300.0])
    def test_one_second_is_25_mm_and_one_mv_is_10_mm(self, dpi: float) -> None:
        fig, page = make_figure(_sine_mv(), FS_HZ, ("I",))
        fig.set_dpi(dpi)
        px_per_mm = dpi / MM_PER_INCH
        assert len(fig.axes) == len(page.strips) == 3
        for ax in fig.axes:
            (x0, y0), (x1, _), (_, y1) = ax.transData.transform([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
            assert (x1 - x0) / px_per_mm == pytest.approx(25.0, abs=1e-6)
            assert (y1 - y0) / px_per_mm == pytest.approx(10.0, abs=1e-6)

    def test_twelve_lead_strips_keep_the_scale(self) -> None:
        names = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
        sig = np.tile(_sine_mv(10.0, 500.0)[:, None], (1, 12))
        fig, page = make_figure(sig, 500.0, names)
        fig.set_dpi(100.0)
        px_per_mm = 100.0 / MM_PER_INCH
        assert page.kind == "twelve" and len(fig.axes) == 4
        for ax in fig.axes:
            (x0, y0), (x1, _), (_, y1) = ax.transData.transform([[0.0, 0.0], [2.5, 0.0], [0.0, 1.0]])
            assert (x1 - x0) / px_per_mm == pytest.approx(62.5, abs=1e-6)  # a 2.5 s column
            assert (y1 - y0) / px_per_mm == pytest.approx(10.0, abs=1e-6)

    def test_figure_size_matches_the_planned_page(self) -> None:
        fig, page = make_figure(_sine_mv(), FS_HZ, ("I",))
        w_in, h_in = fig.get_size_inches()
        assert w_in * MM_PER_INCH == pytest.approx(page.width_mm)
        assert h_in * MM_PER_INCH == pytest.approx(page.height_mm)
        assert (page.width_mm, page.height_mm) == (297.0, 210.0)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, object]:
    """A 30 s report saved as PNG at 254 dpi, and its page layout."""
    path = tmp_path_factory.mktemp("scale") / "r.png"
    render_report(_sine_mv(), FS_HZ, ("I",), {"result": "scale check"}, path, dpi=TestPixels.DPI)
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    _, page = make_figure(_sine_mv(), FS_HZ, ("I",))
    return rgb, page


class TestPixels:
    """Measure the saved PNG at 254 dpi, where 1 mm is exactly 10 pixels."""

    DPI = 254.0

    def test_image_size_is_page_size(self, image: tuple[np.ndarray, object]) -> None:
        rgb, page = image
        assert pixels_per_mm(self.DPI) == pytest.approx(10.0)
        assert rgb.shape[1] == round(page.width_mm * 10)  # type: ignore[attr-defined]
        assert rgb.shape[0] == round(page.height_mm * 10)  # type: ignore[attr-defined]

    def test_major_grid_lines_are_5_mm_apart_both_ways(self, image: tuple[np.ndarray, object]) -> None:
        rgb, page = image
        strip = page.strips[0]  # type: ignore[attr-defined]
        height_px = rgb.shape[0]
        # a scan line 2.5 mm above the strip's bottom edge: between major lines, away from the trace
        row = int(round(height_px - (strip.y_mm + 2.5) * 10))
        x_left = int(round(strip.x_mm * 10))
        x_right = int(round((strip.x_mm + strip.width_mm) * 10))
        line = rgb[row, x_left - 5 : x_right + 6]
        major = (line[:, 0] - line[:, 1]) > 80
        centres = np.array(_runs(major))
        assert len(centres) == round(strip.width_mm / 5) + 1
        assert np.diff(centres) == pytest.approx(50.0, abs=1.0)
        # a vertical scan line 0.5 mm right of the strip's left edge (left of the pulse)
        col = int(round((strip.x_mm + 0.5) * 10))
        y_top = int(round(height_px - (strip.y_mm + strip.height_mm) * 10))
        y_bottom = int(round(height_px - strip.y_mm * 10))
        column = rgb[y_top - 5 : y_bottom + 6, col]
        centres_v = np.array(_runs((column[:, 0] - column[:, 1]) > 80))
        assert len(centres_v) == round(strip.height_mm / 5) + 1
        assert np.diff(centres_v) == pytest.approx(50.0, abs=1.0)

    def test_minor_grid_lines_are_1_mm_apart(self, image: tuple[np.ndarray, object]) -> None:
        rgb, page = image
        strip = page.strips[1]  # type: ignore[attr-defined]
        row = int(round(rgb.shape[0] - (strip.y_mm + 2.5) * 10))
        x_left = int(round(strip.x_mm * 10))
        line = rgb[row, x_left + 2 : x_left + 100 * 10]
        pink = (line[:, 0] - line[:, 1]) > 25  # minor and major lines, not the white paper
        centres = np.array(_runs(pink))
        assert np.diff(centres) == pytest.approx(10.0, abs=1.0)

    def test_calibration_pulse_is_1_mv_by_200_ms(self, image: tuple[np.ndarray, object]) -> None:
        rgb, page = image
        strip = page.strips[0]  # type: ignore[attr-defined]
        dark = rgb.sum(axis=2) < 200

        def x_px(t_s: float) -> int:
            return int(round((strip.x_mm + (t_s + 0.4) * 25.0) * 10))

        def y_px(v_mv: float) -> float:
            return rgb.shape[0] - (strip.y_mm + (v_mv - strip.bottom_mv) * 10.0) * 10

        # the two vertical edges, crossed half-way up
        y_half = int(round(y_px(0.5)))
        edges = _runs(dark[y_half, x_px(-0.4) : x_px(0.0)])
        assert len(edges) == 2
        assert edges[1] - edges[0] == pytest.approx((PULSE_T1_S - PULSE_T0_S) * 25.0 * 10, abs=1.5)
        # baseline before the pulse and the pulse's top
        base = _runs(dark[int(y_px(2.5)) : int(y_px(-1.0)), x_px(-0.34)])
        top = _runs(dark[int(y_px(2.5)) : int(y_px(-1.0)), x_px(-0.2)])
        assert len(base) == 1 and len(top) == 1
        assert base[0] - top[0] == pytest.approx(100.0, abs=1.5)


class TestVectorPages:
    def test_pdf_page_is_a4_landscape_in_points(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = render_report(_sine_mv(), FS_HZ, ("I",), None, tmp_path / "r.pdf")
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
        assert box is not None
        assert float(box.group(1)) / 72 * MM_PER_INCH == pytest.approx(297.0, abs=0.01)
        assert float(box.group(2)) / 72 * MM_PER_INCH == pytest.approx(210.0, abs=0.01)

    def test_svg_size_is_page_size(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = render_report(_sine_mv(), FS_HZ, ("I",), None, tmp_path / "r.svg")
        head = path.read_text(encoding="utf-8")[:2000]
        width = re.search(r'width="([\d.]+)pt"', head)
        assert width is not None
        assert float(width.group(1)) / 72 * MM_PER_INCH == pytest.approx(297.0, abs=0.01)

    def test_bytes_match_requested_format(self) -> None:
        from ecg.report import render_report_bytes

        png = render_report_bytes(_sine_mv(10), FS_HZ, ("I",), None, fmt="png", dpi=40)
        assert Image.open(io.BytesIO(png)).format == "PNG"
