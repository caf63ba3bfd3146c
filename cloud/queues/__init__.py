"""Job queues behind one contract (:mod:`cloud.queues.base`), chosen by URL.

- ``memory://`` (default): :class:`~cloud.queues.memory.MemoryQueue`, one process.
- ``redis://host:port/db``: :class:`~cloud.queues.redis.RedisQueue`, Redis Streams,
  shared by any number of API replicas and workers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cloud.errors import ConfigError
from cloud.queues.base import DeadLetter, Delivery, JobQueue, QueueStats
from cloud.queues.memory import MemoryQueue

MEMORY_URL = "memory://"
SCHEMES = ("memory", "redis", "rediss")


def check_queue_url(url: str) -> str:
    """*url* if its scheme is known, else :class:`~cloud.errors.ConfigError`."""
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise ConfigError("queue_url", f"scheme {scheme!r} not supported (use memory:// or redis://host:port/db)")
    return url


def is_external(url: str) -> bool:
    """Whether the queue lives outside this process (workers run elsewhere)."""
    return urlsplit(check_queue_url(url)).scheme != "memory"


async def open_queue(url: str, *, max_jobs: int, max_bytes: int, claim_idle_s: float) -> JobQueue:
    """Connect to the queue at *url* (raises QueueUnavailable when unreachable).

    Examples
    --------
    >>> import asyncio
    >>> q = asyncio.run(open_queue("memory://", max_jobs=10, max_bytes=1000, claim_idle_s=5))
    >>> type(q).__name__
    'MemoryQueue'
    """
    if not is_external(url):
        return MemoryQueue(max_jobs, max_bytes, claim_idle_s)
    from cloud.queues.redis import RedisQueue

    queue = RedisQueue(url, max_jobs, max_bytes, claim_idle_s)
    try:
        await queue.connect()
    except BaseException:
        await queue.close()
        raise
    return queue


__all__ = ["DeadLetter", "Delivery", "JobQueue", "MemoryQueue", "QueueStats", "open_queue", "is_external", "MEMORY_URL"]
