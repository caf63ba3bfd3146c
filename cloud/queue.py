"""The FIFO task queue as an interface, and its in-memory implementation.

A :class:`Job` is plain data (client name, checked request, attempts): nothing in it
ties it to this process, so the queue can later move onto a broker (Redis Streams,
RabbitMQ consumer groups) behind the same :class:`JobQueue` protocol. Waiting
requests are matched to results by :attr:`Job.key` in :mod:`cloud.analysis`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cloud.errors import QueueFull
from cloud.validation import AnalysisRequest


@dataclass
class Job:
    """One analysis to run.

    Attributes
    ----------
    client : str
        Name of the token that submitted it.
    request : AnalysisRequest
        The checked request.
    attempts : int
        How many times a worker has tried it.
    enqueued_at_s : float
        ``time.monotonic()`` at first enqueue (latency accounting).
    """

    client: str
    request: AnalysisRequest
    attempts: int = 0
    enqueued_at_s: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[str, str]:
        """Idempotency key ``(client, recordId)``."""
        return (self.client, self.request.record_id)


@runtime_checkable
class JobQueue(Protocol):
    """First-in, first-out queue of jobs shared by the workers."""

    def put(self, job: Job, *, retry: bool = False) -> None:
        """Append *job*; raise :class:`~cloud.errors.QueueFull` when full.

        A *retry* (a job put back after a failed attempt) is never refused.
        """
        ...

    async def get(self) -> Job:
        """Wait for and remove the oldest job."""
        ...

    def task_done(self) -> None:
        """Mark one job returned by :meth:`get` as handled."""
        ...

    async def join(self) -> None:
        """Wait until every job put was handled."""
        ...

    def depth(self) -> int:
        """Jobs waiting (not yet taken by a worker)."""
        ...


class MemoryQueue:
    """:class:`JobQueue` held in this process's memory.

    Parameters
    ----------
    max_jobs : int
        Capacity; :meth:`put` raises :class:`~cloud.errors.QueueFull` beyond it.

    Examples
    --------
    >>> import asyncio
    >>> from cloud.validation import parse_request
    >>> async def demo():
    ...     q = MemoryQueue(2)
    ...     q.put(Job("a", parse_request({"sampleRate": 100, "adcGain": 1, "dataI": [0] * 500})))
    ...     return (await q.get()).client, q.depth()
    >>> asyncio.run(demo())
    ('a', 0)
    """

    def __init__(self, max_jobs: int) -> None:
        self._max_jobs = max_jobs
        self._jobs: deque[Job] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._unfinished = 0
        self._idle: asyncio.Event | None = None

    def put(self, job: Job, *, retry: bool = False) -> None:
        if not retry and len(self._jobs) >= self._max_jobs:
            raise QueueFull(len(self._jobs))
        self._jobs.append(job)
        self._unfinished += 1
        self._idle_event().clear()
        self._wake_one()

    async def get(self) -> Job:
        while not self._jobs:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                if getter in self._getters:
                    self._getters.remove(getter)
                if self._jobs and getter.done() and not getter.cancelled():
                    self._wake_one()
                raise
        return self._jobs.popleft()

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called more times than get()")
        self._unfinished -= 1
        if self._unfinished == 0:
            self._idle_event().set()

    async def join(self) -> None:
        if self._unfinished:
            await self._idle_event().wait()

    def depth(self) -> int:
        return len(self._jobs)

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self._unfinished == 0:
                self._idle.set()
        return self._idle
