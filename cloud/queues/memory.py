"""The embedded default queue: the stream semantics of :mod:`cloud.queues.base`, held in
this process's memory (one ``cardio-cloud serve`` with in-process workers)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cloud.errors import OverCapacity, QueueFull
from cloud.queues.base import DEAD_LETTER_BYTES, DeadLetter, Delivery, QueueStats

#: dead letters kept in memory (oldest dropped first)
DEAD_LETTERS_KEPT = 1000


@dataclass
class _Entry:
    payload: bytes
    key: str | None = None
    attempts: int = 0
    consumer: str | None = None
    touched_s: float = 0.0


class MemoryQueue:
    """:class:`~cloud.queues.base.JobQueue` in memory.

    Parameters
    ----------
    max_jobs, max_bytes : int
        Bounds of what is queued or in flight.
    claim_idle_s : float
        A claimed job untouched this long is handed to another consumer.

    Examples
    --------
    >>> import asyncio
    >>> async def demo():
    ...     q = MemoryQueue(max_jobs=2, max_bytes=100)
    ...     await q.enqueue(b"job")
    ...     d = await q.claim("w1", timeout_s=0.1)
    ...     await q.ack(d)
    ...     return d.payload, d.attempts, (await q.stats()).jobs
    >>> asyncio.run(demo())
    (b'job', 1, 0)
    """

    def __init__(self, max_jobs: int, max_bytes: int, claim_idle_s: float = 30.0) -> None:
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self.claim_idle_s = claim_idle_s
        self._entries: dict[str, _Entry] = {}
        self._keys: dict[str, str] = {}  # enqueue_once key -> entry id
        self._ready: deque[str] = deque()
        self._bytes = 0
        self._ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._dead: deque[DeadLetter] = deque()
        self._dead_bytes = 0
        self.dead_max_bytes = DEAD_LETTER_BYTES
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        async with self._condition():
            self._condition().notify_all()

    async def enqueue(self, payload: bytes) -> str:
        entry_id = self._add(payload, None)
        await self._notify()
        return entry_id

    async def enqueue_once(self, payload: bytes, key: str) -> str | None:
        if self._keys.get(key) in self._entries:  # no await before the append: one atomic step
            return None
        entry_id = self._add(payload, key)
        self._keys[key] = entry_id
        await self._notify()
        return entry_id

    async def holds(self, key: str) -> bool:
        return self._keys.get(key) in self._entries

    def _add(self, payload: bytes, key: str | None) -> str:
        if len(self._entries) >= self.max_jobs:
            raise QueueFull(len(self._entries))
        if self._bytes + len(payload) > self.max_bytes:
            raise OverCapacity(f"queue holds {self._bytes} of {self.max_bytes} bytes", retry_after_s=2.0)
        entry_id = str(next(self._ids))
        self._entries[entry_id] = _Entry(bytes(payload), key)
        self._bytes += len(payload)
        self._ready.append(entry_id)
        return entry_id

    async def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        deadline = time.monotonic() + timeout_s
        cond = self._condition()
        async with cond:
            while True:
                entry_id = self._next_claimable()
                if entry_id is not None:
                    return self._take(entry_id, consumer)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(cond.wait(), min(remaining, self.claim_idle_s))
                except TimeoutError:
                    pass

    async def claim_many(self, consumer: str, max_count: int) -> list[Delivery]:
        taken: list[Delivery] = []
        while len(taken) < max_count:
            entry_id = self._next_claimable()
            if entry_id is None:
                break
            taken.append(self._take(entry_id, consumer))
        return taken

    def _take(self, entry_id: str, consumer: str) -> Delivery:
        entry = self._entries[entry_id]
        entry.attempts += 1
        entry.consumer, entry.touched_s = consumer, time.monotonic()
        return Delivery(entry_id, entry.payload, entry.attempts)

    def _next_claimable(self) -> str | None:
        while self._ready:
            entry_id = self._ready.popleft()
            if entry_id in self._entries:
                return entry_id
        now = time.monotonic()
        for entry_id, entry in self._entries.items():  # abandoned by a dead consumer
            if entry.consumer is not None and now - entry.touched_s >= self.claim_idle_s:
                return entry_id
        return None

    def _remove(self, delivery: Delivery) -> _Entry | None:
        entry = self._entries.pop(delivery.id, None)
        if entry is not None:
            self._bytes -= len(entry.payload)
            if entry.key is not None and self._keys.get(entry.key) == delivery.id:
                del self._keys[entry.key]
        return entry

    async def ack(self, delivery: Delivery) -> None:
        self._remove(delivery)
        await self._notify()

    async def retry(self, delivery: Delivery) -> None:
        entry = self._entries.get(delivery.id)
        if entry is not None:
            entry.consumer = None
            self._ready.append(delivery.id)
        await self._notify()

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        if self._remove(delivery) is not None:
            self._dead.append(DeadLetter(delivery.id, reason, delivery.attempts, delivery.payload))
            self._dead_bytes += len(delivery.payload)
            while len(self._dead) > 1 and (len(self._dead) > DEAD_LETTERS_KEPT or self._dead_bytes > self.dead_max_bytes):
                self._dead_bytes -= len(self._dead.popleft().payload)
        await self._notify()

    async def touch(self, delivery: Delivery, consumer: str) -> None:
        entry = self._entries.get(delivery.id)
        if entry is not None and entry.consumer == consumer:
            entry.touched_s = time.monotonic()

    async def stats(self) -> QueueStats:
        return QueueStats(jobs=len(self._entries), bytes=self._bytes, dead_letters=len(self._dead))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return list(self._dead)[-limit:]

    async def publish(self, event: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            subscriber.put_nowait(event)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(inbox)
        try:
            while True:
                yield await inbox.get()
        finally:
            self._subscribers.discard(inbox)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()
