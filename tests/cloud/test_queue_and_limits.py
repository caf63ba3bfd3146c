"""The rate limiter (queues and stores: test_queue_contract.py, test_store_contract.py)."""

from __future__ import annotations

import pytest

from cloud.ratelimit import RateLimiter


class TestRateLimiter:
    def test_burst_then_refill(self) -> None:
        now = [0.0]
        limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
        assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert limiter.acquire("a") == pytest.approx(0.5)
        assert limiter.acquire("b") == 0.0  # buckets are per client
        now[0] = 0.5
        assert limiter.acquire("a") == 0.0

    def test_retry_after_header_whole_seconds(self) -> None:
        assert RateLimiter.retry_after_header(0.01) == "1"
        assert RateLimiter.retry_after_header(2.2) == "3"

    def test_cost_above_burst_passes_when_full_and_leaves_debt(self) -> None:
        now = [0.0]
        limiter = RateLimiter(rate_per_s=10.0, burst=100, clock=lambda: now[0])
        assert limiter.acquire("a", 250) == 0.0  # full bucket: the large request passes
        assert limiter.wait_s("a", 1) == pytest.approx(15.1)  # 150 in debt, +1 needed
        assert limiter.acquire("a", 1) > 0
        now[0] = 25.0
        assert limiter.acquire("a", 1) == 0.0

    def test_refund_gives_back_what_was_taken_up_to_the_bucket(self) -> None:
        limiter = RateLimiter(rate_per_s=1.0, burst=100, clock=lambda: 0.0)
        assert limiter.acquire("a", 100) == 0.0 and limiter.acquire("a", 1) > 0
        limiter.refund("a", 100)  # the work was not queued after all
        assert limiter.acquire("a", 100) == 0.0
        limiter.refund("a", 500)
        assert limiter.wait_s("a", 100) == 0.0 and limiter.acquire("a", 100) == 0.0 and limiter.acquire("a", 1) > 0
