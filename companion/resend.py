"""When to ask the device again for missing frames (sans-IO; times are plain floats).

The device queues at most 8 RESEND ranges (more are refused with BUSY), and a frame asked
for is in flight for a while. :class:`ResendPlanner` turns the assembler's missing
ranges into RESEND commands: a frame is asked for again only after ``timeout_s``, at most
``max_commands`` ranges per call, and a refused request makes its frames due again soon.

Example
-------
>>> planner = ResendPlanner(timeout_s=1.0, max_commands=2)
>>> planner.due([(3, 5), (9, 9), (12, 12)], now=0.0)
[(3, 5), (9, 9)]
>>> planner.sent(7, (3, 5), now=0.0); planner.sent(8, (9, 9), now=0.0)
>>> planner.due([(3, 5), (9, 9), (12, 12)], now=0.5)
[(12, 12)]
"""

from __future__ import annotations


def runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive integers grouped as inclusive ranges: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for v in values:
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


class ResendPlanner:
    """Tracks which frames were asked for, when, and under which command token.

    Parameters
    ----------
    timeout_s : float
        How long a requested frame may take before it is asked for again.
    max_commands : int
        Most RESEND ranges returned by one :meth:`due` call.
    retry_after_refusal_s : float
        How soon frames of a refused request become due again.
    """

    def __init__(self, timeout_s: float, max_commands: int = 6, retry_after_refusal_s: float = 0.1) -> None:
        if timeout_s <= 0 or max_commands < 1:
            raise ValueError("timeout_s must be > 0 and max_commands >= 1")
        self.timeout_s = timeout_s
        self.max_commands = max_commands
        self.retry_after_refusal_s = retry_after_refusal_s
        self._asked_at: dict[int, float] = {}
        self._tokens: dict[int, tuple[int, int]] = {}

    @property
    def frames_requested(self) -> int:
        """Distinct frame sequence numbers asked for at least once."""
        return len(self._asked_at)

    def due(self, missing: list[tuple[int, int]], now: float) -> list[tuple[int, int]]:
        """Ranges (inclusive) to request now, out of the ``missing`` ranges."""
        out: list[tuple[int, int]] = []
        for first, last in missing:
            due = [seq for seq in range(first, last + 1) if now - self._asked_at.get(seq, -1e18) >= self.timeout_s]
            for r in runs(due):
                if len(out) >= self.max_commands:
                    return out
                out.append(r)
        return out

    def sent(self, token: int, asked: tuple[int, int], now: float) -> None:
        """A RESEND for ``asked`` was written with ``token``."""
        self._tokens[token] = asked
        for seq in range(asked[0], asked[1] + 1):
            self._asked_at[seq] = now

    def refused(self, token: int, now: float) -> tuple[int, int] | None:
        """The device refused the RESEND with ``token``: its frames are due again soon."""
        asked = self._tokens.pop(token, None)
        if asked is not None:
            again = now - self.timeout_s + self.retry_after_refusal_s
            for seq in range(asked[0], asked[1] + 1):
                self._asked_at[seq] = min(self._asked_at.get(seq, again), again)
        return asked

    def accepted(self, token: int) -> None:
        """The device queued the RESEND with ``token``."""
        self._tokens.pop(token, None)

    def link_lost(self) -> None:
        """Requests in flight died with the link (the device drops its resend queue): all due now."""
        for seq in self._asked_at:
            self._asked_at[seq] = -1e18
        self._tokens.clear()
