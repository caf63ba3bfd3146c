"""The resend policy: timeouts, command budget, refusals, lost links."""

from __future__ import annotations

import pytest

from companion.resend import ResendPlanner, runs


class TestResendPlanner:
    def test_runs(self) -> None:
        assert runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
        assert runs([]) == []

    def test_not_asked_again_before_the_timeout(self) -> None:
        p = ResendPlanner(timeout_s=1.0, max_commands=8)
        assert p.due([(0, 2)], now=10.0) == [(0, 2)]
        p.sent(1, (0, 2), now=10.0)
        assert p.due([(0, 4)], now=10.5) == [(3, 4)]
        assert p.due([(1, 1)], now=11.0) == [(1, 1)]
        assert p.frames_requested == 3

    def test_budget_per_call(self) -> None:
        p = ResendPlanner(timeout_s=1.0, max_commands=2)
        assert p.due([(1, 1), (3, 3), (5, 5)], now=0.0) == [(1, 1), (3, 3)]

    def test_refused_request_is_due_again_soon(self) -> None:
        p = ResendPlanner(timeout_s=1.0, retry_after_refusal_s=0.1)
        p.sent(5, (4, 6), now=0.0)
        assert p.due([(4, 6)], now=0.05) == []
        assert p.refused(5, now=0.05) == (4, 6)
        assert p.due([(4, 6)], now=0.1) == []
        assert p.due([(4, 6)], now=0.16) == [(4, 6)]
        assert p.refused(99, now=0.2) is None  # unknown token: nothing changes

    def test_link_lost_makes_everything_due(self) -> None:
        p = ResendPlanner(timeout_s=5.0)
        p.sent(1, (0, 9), now=0.0)
        p.link_lost()
        assert p.due([(0, 9)], now=0.1) == [(0, 9)]

    def test_bad_settings(self) -> None:
        with pytest.raises(ValueError):
            ResendPlanner(timeout_s=0)
