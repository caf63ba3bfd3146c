"""Counters and latency percentiles served by ``GET /metrics``."""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

import numpy as np

#: counters always present in ``/metrics`` (zero until they happen)
COUNTER_NAMES = (
    "requests",
    "accepted",
    "completed",
    "unanalysable",
    "failed",
    "retries",
    "timeouts",
    "deduplicated",
    "requeued",
    "lost",
    "rejected",
    "unauthorised",
    "rateLimited",
    "queueFull",
    "unavailable",
)


class Metrics:
    """In-memory service metrics.

    Parameters
    ----------
    window : int
        Latencies kept for the percentiles (most recent ones).
    """

    def __init__(self, window: int = 10_000) -> None:
        self.counts: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})
        self._latency_ms: deque[float] = deque(maxlen=window)
        self._processing_ms: deque[float] = deque(maxlen=window)
        self._started_s = time.monotonic()

    def count(self, name: str, n: int = 1) -> None:
        """Add *n* to counter *name*."""
        self.counts[name] += n

    def observe(self, latency_ms: float, processing_ms: float) -> None:
        """Record one finished job: enqueue-to-answer latency and analysis time."""
        self._latency_ms.append(latency_ms)
        self._processing_ms.append(processing_ms)

    def snapshot(self, *, queue_depth: int, in_flight: int, workers: int, stored_results: int) -> dict[str, Any]:
        """The ``/metrics`` document."""
        return {
            "uptimeS": round(time.monotonic() - self._started_s, 3),
            "queueDepth": queue_depth,
            "inFlight": in_flight,
            "workers": workers,
            "storedResults": stored_results,
            "counts": dict(self.counts),
            "latencyMs": _percentiles(self._latency_ms),
            "processingMs": _percentiles(self._processing_ms),
        }


def _percentiles(values: deque[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    array = np.fromiter(values, dtype=np.float64)
    p50, p90, p99 = np.percentile(array, [50, 90, 99])
    return {
        "n": int(array.size),
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "max": round(float(array.max()), 2),
    }
