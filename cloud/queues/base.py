"""The queue contract every backend implements (memory, Redis Streams).

Semantics (those of a stream with one consumer group): :meth:`JobQueue.enqueue` appends
an opaque payload; :meth:`JobQueue.enqueue_once` appends it only when no job with the same
key is queued or in flight (checked and appended in one atomic step; the key is freed when
its job is acknowledged or dead-lettered, kept across retries and re-claims), and
:meth:`JobQueue.holds` tells whether one is; :meth:`JobQueue.claim` hands the oldest unclaimed one to a consumer
(a :class:`Delivery`), or re-hands one whose consumer went silent for ``claim_idle_s``
(it died: kill -9, OOM, lost machine); :meth:`JobQueue.claim_many` takes several at once
without waiting (a worker analysing a batch), each with its own lease and attempts;
:meth:`JobQueue.ack` removes it once its result is stored; :meth:`JobQueue.retry` puts it
back at the end with its attempt count; :meth:`JobQueue.dead_letter` moves it aside with a
reason. A consumer working on a long job calls :meth:`JobQueue.touch` so it is not taken
for dead.

The queue also carries completion events (:meth:`JobQueue.publish`,
:meth:`JobQueue.events`): a worker announces that a record was answered, so whichever API
replica holds the waiting request reads the answer from the store. Events are
best-effort; waiters also poll the store.

Dead letters keep their payloads for inspection, at most :data:`DEAD_LETTER_BYTES` of them
in all (a queue's ``dead_max_bytes``) besides a count bound; the oldest go first. (Bounded
by count alone, 1,000 payloads of up to ~58 MB each could sit in the API process, 10,000 in
Redis.)

Bounds: at most ``max_jobs`` payloads and ``max_bytes`` bytes are queued or in flight;
beyond them :meth:`JobQueue.enqueue` raises :class:`~cloud.errors.QueueFull` or
:class:`~cloud.errors.OverCapacity`. A backend that cannot be reached raises
:class:`~cloud.errors.QueueUnavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


#: payload bytes kept in the dead letters, all together (oldest dropped first)
DEAD_LETTER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Delivery:
    """One claimed payload.

    Attributes
    ----------
    id : str
        Backend id of the entry (a stream id for Redis).
    payload : bytes
        What was enqueued.
    attempts : int
        Deliveries of this job so far, this one included (retries and re-claims count).
    """

    id: str
    payload: bytes
    attempts: int


@dataclass(frozen=True)
class QueueStats:
    """Jobs and bytes queued or in flight; dead letters kept."""

    jobs: int
    bytes: int
    dead_letters: int


@dataclass(frozen=True)
class DeadLetter:
    """A job given up: its id, the reason and the payload (kept for inspection)."""

    id: str
    reason: str
    attempts: int
    payload: bytes


@runtime_checkable
class JobQueue(Protocol):
    """A durable-enough FIFO of job payloads shared by API replicas and workers."""

    async def enqueue(self, payload: bytes) -> str:
        """Append *payload*; return its id. Raises QueueFull / OverCapacity / QueueUnavailable."""
        ...

    async def enqueue_once(self, payload: bytes, key: str) -> str | None:
        """Append *payload* unless a job with *key* is queued or in flight (one atomic step).

        Returns the new id, or ``None`` when such a job exists (nothing appended).
        Raises QueueFull / OverCapacity / QueueUnavailable like :meth:`enqueue`.
        """
        ...

    async def holds(self, key: str) -> bool:
        """Whether a job enqueued with *key* is queued or in flight."""
        ...

    async def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        """Oldest unclaimed (or abandoned) payload for *consumer*; ``None`` after *timeout_s*."""
        ...

    async def claim_many(self, consumer: str, max_count: int) -> list[Delivery]:
        """Up to *max_count* payloads for *consumer* that can be claimed right now (abandoned
        ones first, then the oldest unclaimed), each a :class:`Delivery` of its own (own
        attempts, lease, ack); never waits: ``[]`` when none is there."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """The job is done (its result is stored): forget it."""
        ...

    async def retry(self, delivery: Delivery) -> None:
        """Put the job back at the end of the queue; its attempts are kept."""
        ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Give the job up: move it to the dead letters with *reason*."""
        ...

    async def touch(self, delivery: Delivery, consumer: str) -> None:
        """*consumer* is still working on *delivery* (reset its idle time)."""
        ...

    async def stats(self) -> QueueStats:
        """Sizes, for admission, ``/healthz`` and ``/metrics``."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, oldest first."""
        ...

    async def publish(self, event: dict[str, Any]) -> None:
        """Announce a completion event to every subscriber (best effort)."""
        ...

    def events(self) -> AsyncIterator[dict[str, Any]]:
        """Subscribe: every event published from now on."""
        ...

    async def ping(self) -> None:
        """Raise QueueUnavailable when the backend cannot answer."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
