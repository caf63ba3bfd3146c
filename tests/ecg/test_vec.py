"""The vectorised beat searches give, row by row, what the scalar walks gave."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ecg.delineation.filters import StackedViews


def _walk_down_scalar(a: np.ndarray, start: int, step: int, threshold: float, stop: int) -> int:
    i = start
    while (i + step - stop) * step <= 0:
        nxt = i + step
        if a[nxt] < threshold:
            return nxt
        if a[nxt] > a[i] and a[i] < 1.5 * threshold:
            return i
        i = nxt
    return i


def _quiet_edge_scalar(a: np.ndarray, start: int, step: int, threshold: float, gap: int, stop: int) -> int:
    run, i, edge = 0, start, start
    while (stop - i) * step > 0:
        i += step
        if a[i] < threshold:
            if run == 0:
                edge = i
            run += 1
            if run >= gap:
                return edge
        else:
            run = 0
    return stop


def _settled_edge_scalar(a, start, step, threshold, gap, stop, resume, look):  # type: ignore[no-untyped-def]
    edge = _quiet_edge_scalar(a, start, step, threshold, gap, stop)
    for _ in range(4):
        if edge == stop:
            return edge
        ahead = a[edge : edge + step * look : step] if step > 0 else a[max(edge - look, 0) : edge + 1][::-1]
        again = np.flatnonzero(ahead >= resume)
        if again.size == 0:
            return edge
        edge = _quiet_edge_scalar(a, edge + step * int(again[0]), step, threshold, gap, stop)
    return edge


signals = st.lists(st.integers(0, 9), min_size=40, max_size=120).map(lambda v: np.asarray(v, dtype=float))


arrays2d = st.tuples(st.integers(1, 4), st.integers(1, 60), st.integers(0, 2**31 - 1)).map(
    lambda t: np.random.default_rng(t[2]).standard_normal((t[0], t[1])).round(t[2] % 3 + 1))


@settings(max_examples=200, deadline=None)
@given(arrays2d, st.sampled_from([0.0, 1.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 100.0]))
def test_order_statistics_are_numpys(a: np.ndarray, q: float) -> None:
    from ecg.delineation.vec import median1d, percentiles, row_median, row_percentile, row_percentiles

    assert np.array_equal(row_percentile(a, q), np.percentile(a, q, axis=1))
    assert np.array_equal(row_median(a), np.median(a, axis=1))
    assert median1d(a[0]) == np.median(a[0])
    assert np.array_equal(percentiles(a[0], [1.0, q]), np.percentile(a[0], [1.0, q]))
    assert np.array_equal(row_percentiles(a, [1.0, q]), np.percentile(a, [1.0, q], axis=1).T)


@settings(max_examples=100, deadline=None)
@given(st.integers(500, 9001), st.integers(0, 2**31 - 1), st.integers(0, 3))
def test_median_of_many_values_is_numpys(n: int, seed: int, decimals: int) -> None:
    from ecg.delineation.vec import median1d, row_median, row_percentiles

    a = np.random.default_rng(seed).standard_normal(n).round(decimals)  # ties when rounded coarsely
    assert median1d(a) == np.median(a)
    assert median1d(a[: n - n % 2]) == np.median(a[: n - n % 2])  # an even count: the middle pair's mean
    rows = np.stack([a[: n - n % 2], a[::-1][: n - n % 2]])
    assert np.array_equal(row_median(rows), np.median(rows, axis=1))
    assert np.array_equal(row_percentiles(rows, [1.0, 99.0]), np.percentile(rows, [1.0, 99.0], axis=1).T)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.integers(0, 2**31 - 1),
       st.sampled_from([0.0, 10.0, 50.0, 90.0, 100.0]))
def test_per_lead_order_statistics_are_numpys(leads: list[int], seed: int, q: float) -> None:
    from ecg.delineation.vec import Rows

    lead = np.sort(np.asarray(leads))
    values = np.random.default_rng(seed).standard_normal(lead.size).round(1)
    rows = Rows(lead, np.zeros(lead.size, dtype=np.int64), 5)
    got_p, got_m = rows.percentile(values, q), rows.median(values)
    for j in range(5):
        mine = values[lead == j]
        if mine.size == 0:
            assert np.isnan(got_p[j]) and np.isnan(got_m[j])
        else:
            assert got_p[j] == np.percentile(mine, q) and got_m[j] == np.median(mine)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60), st.integers(0, 2**31 - 1), st.sampled_from([0.0, 10.0, 50.0, 90.0, 100.0]))
def test_one_lead_order_statistics_are_numpys(n: int, seed: int, q: float) -> None:
    from ecg.delineation.vec import Rows

    values = np.random.default_rng(seed).standard_normal(n).round(1)
    rows = Rows(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), 1)
    got_p, got_m = rows.percentile(values, q), rows.median(values)
    assert got_p.shape == got_m.shape == (1,)
    if n == 0:
        assert np.isnan(got_p[0]) and np.isnan(got_m[0])
    else:
        assert got_p[0] == np.percentile(values, q) and got_m[0] == np.median(values)


def _stack(a: np.ndarray) -> StackedViews:
    rows = np.stack([a, -a])  # two leads: the second one's rows read at offset n
    return StackedViews(clean_mv=rows, smooth_mv=rows, slope_qrs=rows, fs_hz=100.0)


@settings(max_examples=150, deadline=None)
@given(signals, st.data())
def test_window_searches_match_the_scalar_walks(a: np.ndarray, data: st.DataObject) -> None:
    """The searches read each row's positions from one gathered window (wider than the
    search, clipped at the record's ends) and give the scalar walks' answers."""
    from ecg.delineation.window import Window, settled_run, walk_down_in

    n = a.size
    rows = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(1, 9),
                                        st.integers(0, 6), st.integers(0, 6), st.booleans()), min_size=1, max_size=6))
    start = np.array([r[0] for r in rows])
    stop = np.array([r[1] for r in rows])
    thr = np.array([float(r[2]) for r in rows])
    lead = np.array([int(r[5]) for r in rows])
    stack, signal, look = _stack(a), [a, -a], 4
    lo = np.minimum(start, stop) - np.array([r[3] for r in rows])  # may start before the record …
    hi = np.maximum(start, stop) + np.array([r[4] for r in rows])  # … and end after it
    win = Window(stack, lead * n, lo, hi)
    reach = int(np.abs(stop - start).max()) + look + 3
    for step in (1, -1):
        got = walk_down_in(win.read("clean_mv"), win.origin, start, step, thr, stop)
        assert got.tolist() == [_walk_down_scalar(signal[j], int(s), step, float(t), int(e))
                                for s, t, e, j in zip(start, thr, stop, lead)]
        # the settled edge reads from the start outwards: column c is c steps away
        side = Window(stack, lead * n, start, start + reach) if step > 0 else Window(stack, lead * n, start - reach, start)
        v = side.read("clean_mv") if step > 0 else side.read("clean_mv")[:, ::-1]
        room = n - start if step > 0 else start + 1
        for gap in (1, 2, 3, 4):
            got = start + step * settled_run(v, thr, gap, (stop - start) * step, thr + 3, look + (step < 0), room)
            assert got.tolist() == [_settled_edge_scalar(signal[j], int(s), step, float(t), gap, int(e), float(t) + 3,
                                                         look) for s, t, e, j in zip(start, thr, stop, lead)]


@settings(max_examples=150, deadline=None)
@given(signals, st.data())
def test_range_ptp_is_the_slices_range(a: np.ndarray, data: st.DataObject) -> None:
    from ecg.delineation.vec import range_max, range_ptp

    n = a.size
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=8))
    lo = np.array([min(p) for p in pairs], dtype=np.int64)
    hi = np.array([max(p) for p in pairs], dtype=np.int64)
    assert range_ptp(a, lo, hi).tolist() == [float(np.ptp(a[i : j + 1])) for i, j in zip(lo, hi)]
    assert range_max(a, lo, hi).tolist() == [float(a[i : j + 1].max()) for i, j in zip(lo, hi)]


@settings(max_examples=200, deadline=None)
@given(signals, st.data())
def test_window_reads_are_the_clipped_positions(a: np.ndarray, data: st.DataObject) -> None:
    """A window reads, row by row, the view at its positions clipped into the lead (strided
    rows when no position needs clipping, an index matrix otherwise), also after ``take``."""
    from ecg.delineation.window import Window

    n = a.size
    rows = data.draw(st.lists(st.tuples(st.integers(-8, n + 8), st.integers(-1, 30), st.booleans()),
                              min_size=1, max_size=6))
    lo = np.array([r[0] for r in rows], dtype=np.int64)
    hi = lo + np.array([r[1] for r in rows], dtype=np.int64)
    lead = np.array([int(r[2]) for r in rows], dtype=np.int64)
    stack, signal = _stack(a), [a, -a]
    win = Window(stack, lead * n, lo, hi)
    width = int(max(0, (hi - lo + 1).max()))
    inside = bool((lo >= 0).all() and (lo + width - 1 <= n - 1).all()) and width > 0
    assert (win._first is not None) == inside  # the strided rows serve every window that needs no clipping
    want = np.array([[signal[j][min(max(p, 0), n - 1)] for p in range(s, s + width)] for s, j in zip(lo, lead)])
    for name in ("clean_mv", "abs_clean_mv"):
        got = win.read(name)
        assert got.shape == (lo.size, width)
        assert np.array_equal(got, np.abs(want) if name.startswith("abs_") else want)
    assert win.valid.tolist() == [[c < h - s + 1 for c in range(width)] for s, h in zip(lo, hi)]
    some = np.flatnonzero(np.arange(lo.size) % 2 == 0)
    part = win.take(some)
    fresh = Window(stack, lead[some] * n, lo[some], hi[some])
    assert np.array_equal(part.read("smooth_mv")[:, : fresh.width], fresh.read("smooth_mv")) or fresh.width == 0
    assert np.array_equal(part.read("smooth_mv"), want[some])
