"""Per-client token buckets (in memory, one bucket per client, per API replica): the
request rate limit, and admission by cost (samples × leads) in :mod:`cloud.analysis`.

A full bucket is the same as no bucket, so buckets that have refilled are dropped: the web
page keys its buckets by the sender's address (no token needed), and one bucket kept per
address ever seen would let a stranger with many addresses grow the process without bound.
A sweep runs when the number of buckets reaches twice what the last sweep left (at least
``prune_at``): amortised O(1) per call, and at most max(``prune_at``, 2 × the buckets not
yet full) are held — those are bounded by the requests of the last ``burst / rate_per_s``
seconds."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    """Allow *rate_per_s* requests per second per client with bursts up to *burst*.

    Examples
    --------
    >>> limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=lambda: 0.0)
    >>> [limiter.acquire("a") for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic, prune_at: int = 1024
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._prune_at = max(1, prune_at)
        self._next_prune = self._prune_at

    def __len__(self) -> int:
        """Buckets held (those not known to be full)."""
        return len(self._buckets)

    def _put(self, client: str, level: float, now: float) -> None:
        self._buckets[client] = (level, now)
        if len(self._buckets) >= self._next_prune:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled (a full bucket is the same as none)."""
        full = [c for c, (level, last) in self._buckets.items() if level + (now - last) * self.rate_per_s >= self.burst]
        for client in full:
            del self._buckets[client]
        self._next_prune = max(self._prune_at, 2 * len(self._buckets))

    def acquire(self, client: str, cost: float = 1.0) -> float:
        """Take *cost* from *client*'s bucket.

        A cost above the bucket size is let through when the bucket is full and leaves
        it in debt, so the largest request is possible but paid for.

        Returns
        -------
        float
            0 when allowed; otherwise the seconds to wait before retrying.
        """
        now = self._clock()
        level = self._level(client, now)
        need = min(float(cost), float(self.burst))
        if level >= need:
            self._put(client, level - float(cost), now)
            return 0.0
        self._put(client, level, now)
        return (need - level) / self.rate_per_s

    def refund(self, client: str, cost: float = 1.0) -> None:
        """Give back *cost* taken by :meth:`acquire` for work that was not done (capped at
        the bucket size)."""
        now = self._clock()
        level = min(float(self.burst), self._level(client, now) + float(cost))
        self._put(client, level, now)

    def wait_s(self, client: str, cost: float = 1.0) -> float:
        """Seconds until *client* could spend *cost* (0 when now); takes nothing."""
        now = self._clock()
        level = self._level(client, now)
        need = min(float(cost), float(self.burst))
        return 0.0 if level >= need else (need - level) / self.rate_per_s

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """``Retry-After`` value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait_s)))

    def _level(self, client: str, now: float) -> float:
        """*client*'s bucket level at *now*: the stored level refilled since it was stored."""
        level, last = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), level + (now - last) * self.rate_per_s)
