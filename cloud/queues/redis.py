"""The queue on Redis Streams: one stream, one consumer group, dead letters.

Keys (prefix ``cardio`` by default): ``<p>:jobs`` the stream (fields ``payload``,
``attempts`` and, from :meth:`RedisQueue.enqueue_once`, ``key``), consumer group ``workers``; ``<p>:bytes`` the bytes queued or in flight;
``<p>:deliveries`` a hash counting deliveries per entry; ``<p>:dead-bytes`` the payload
bytes of the dead letters (kept under ``dead_max_bytes``, oldest dropped first); ``<p>:keys`` a hash from the key
of each job enqueued with :meth:`RedisQueue.enqueue_once` to its entry (a mapping to an
entry no longer in the stream counts as absent); ``<p>:dead`` the dead-letter
stream (``job``, ``reason``, ``attempts``, ``payload``); ``<p>:events`` the pub/sub channel
of completion events.

- :meth:`RedisQueue.enqueue` / :meth:`RedisQueue.enqueue_once`: one Lua script checks the
  key (``enqueue_once``), both bounds and ``XADD``\\ s atomically.
- :meth:`RedisQueue.claim`: ``XAUTOCLAIM`` first (entries whose consumer has been silent
  for ``claim_idle_s``: it died), else ``XREADGROUP ... >`` blocking.
- :meth:`RedisQueue.claim_many`: the same with ``COUNT n`` and no ``BLOCK`` (``BLOCK 0``
  would wait forever): what is there now, possibly nothing.
- a delivery is counted (``HINCRBY <p>:deliveries``) by a script that first checks the entry
  is still in the stream, so a re-claim crossing the owner's ack leaves no count behind.
- :meth:`RedisQueue.ack`: ``XACK`` + ``XDEL`` after the result is stored.
- :meth:`RedisQueue.retry`: re-``XADD`` at the end with the attempt count, then ack the old.
- :meth:`RedisQueue.touch`: ``XCLAIM ... JUSTID`` by the owner resets the idle time.

With AOF (``appendonly yes``, ``appendfsync always`` for no loss window) a Redis restart
keeps every enqueued job and the group's pending entries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cloud.errors import OverCapacity, QueueFull, QueueUnavailable
from cloud.queues.base import DEAD_LETTER_BYTES, DeadLetter, Delivery, QueueStats

log = logging.getLogger(__name__)
T = TypeVar("T")
GROUP = "workers"
DEAD_LETTERS_KEPT = 10_000
#: longest single blocking read; the client's socket timeout is above it
BLOCK_MAX_S = 2.0
SOCKET_TIMEOUT_S = 10.0

_KEY_OF = """
local function key_of(entries)
  if #entries == 0 then return false end
  local f = entries[1][2]
  for i = 1, #f, 2 do if f[i] == 'key' then return f[i + 1] end end
  return false
end
local function held(stream, keys, key)
  local id = redis.call('HGET', keys, key)
  if id and #redis.call('XRANGE', stream, id, id) > 0 then return id end
  return false
end
"""
# KEYS stream, bytes, keys; ARGV payload, max_jobs, max_bytes, key ('' = none)
_ENQUEUE = _KEY_OF + """
if ARGV[4] ~= '' then
  local id = held(KEYS[1], KEYS[3], ARGV[4])
  if id then return {1, id} end
end
local n = redis.call('XLEN', KEYS[1])
if n >= tonumber(ARGV[2]) then return {-1, tostring(n)} end
local b = tonumber(redis.call('GET', KEYS[2]) or '0')
local size = string.len(ARGV[1])
if b + size > tonumber(ARGV[3]) then return {-2, tostring(b)} end
local id
if ARGV[4] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'payload', ARGV[1], 'attempts', '0', 'key', ARGV[4])
  redis.call('HSET', KEYS[3], ARGV[4], id)
else
  id = redis.call('XADD', KEYS[1], '*', 'payload', ARGV[1], 'attempts', '0')
end
redis.call('INCRBY', KEYS[2], size)
return {0, id}
"""
# KEYS stream, keys; ARGV key
_HOLDS = _KEY_OF + """
if held(KEYS[1], KEYS[2], ARGV[1]) then return 1 end
return 0
"""
# KEYS stream, deliveries; ARGV entry ids. Counts one more delivery of each entry still in
# the stream; -1 for one acknowledged meanwhile (a re-claim crossing the owner's ack: a count
# made for it would never be deleted)
_DELIVERED = """
local out = {}
for i, id in ipairs(ARGV) do
  if #redis.call('XRANGE', KEYS[1], id, id) > 0 then
    out[i] = redis.call('HINCRBY', KEYS[2], id, 1)
  else
    out[i] = -1
  end
end
return out
"""
# KEYS dead, dead bytes; ARGV job, reason, attempts, payload, max entries, max bytes. Adds a
# dead letter, then drops the oldest while over either bound (always keeping the newest)
_DEAD = """
redis.call('XADD', KEYS[1], '*', 'job', ARGV[1], 'reason', ARGV[2], 'attempts', ARGV[3], 'payload', ARGV[4])
local total = redis.call('INCRBY', KEYS[2], string.len(ARGV[4]))
local n = redis.call('XLEN', KEYS[1])
while n > 1 and (n > tonumber(ARGV[5]) or total > tonumber(ARGV[6])) do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local size = 0
  local f = oldest[2]
  for i = 1, #f, 2 do if f[i] == 'payload' then size = string.len(f[i + 1]) end end
  redis.call('XDEL', KEYS[1], oldest[1])
  total = redis.call('DECRBY', KEYS[2], size)
  n = n - 1
end
if total < 0 then redis.call('SET', KEYS[2], 0) end
return n
"""
# KEYS stream, bytes, deliveries, keys; ARGV group, id, size
_ACK = _KEY_OF + """
local key = key_of(redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]))
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
if n == 1 then redis.call('DECRBY', KEYS[2], ARGV[3]) end
if key and redis.call('HGET', KEYS[4], key) == ARGV[2] then redis.call('HDEL', KEYS[4], key) end
return n
"""
# KEYS stream, deliveries, keys; ARGV group, id, payload, attempts
_RETRY = _KEY_OF + """
local key = key_of(redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]))
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n == 0 then return 0 end
if key then
  local id = redis.call('XADD', KEYS[1], '*', 'payload', ARGV[3], 'attempts', ARGV[4], 'key', key)
  redis.call('HSET', KEYS[3], key, id)
else
  redis.call('XADD', KEYS[1], '*', 'payload', ARGV[3], 'attempts', ARGV[4])
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
"""


class RedisQueue:
    """:class:`~cloud.queues.base.JobQueue` on a Redis stream.

    Parameters
    ----------
    url : str
        ``redis://host:port/db``.
    max_jobs, max_bytes : int
        Bounds of what is queued or in flight (checked atomically on enqueue).
    claim_idle_s : float
        A claimed entry untouched this long is re-claimed by another consumer.
    prefix : str
        Key prefix (several services may share one Redis).
    """

    def __init__(self, url: str, max_jobs: int, max_bytes: int, claim_idle_s: float = 30.0, prefix: str = "cardio") -> None:
        self.url = url
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self.claim_idle_s = claim_idle_s
        self.stream, self.bytes_key = f"{prefix}:jobs", f"{prefix}:bytes"
        self.deliveries_key, self.dead_key = f"{prefix}:deliveries", f"{prefix}:dead"
        self.keys_key = f"{prefix}:keys"
        self.dead_bytes_key = f"{prefix}:dead-bytes"
        self.dead_max_bytes = DEAD_LETTER_BYTES
        self.channel = f"{prefix}:events"
        self._redis = aioredis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=SOCKET_TIMEOUT_S, decode_responses=False
        )
        self._enqueue = self._redis.register_script(_ENQUEUE)
        self._holds = self._redis.register_script(_HOLDS)
        self._ack = self._redis.register_script(_ACK)
        self._retry = self._redis.register_script(_RETRY)
        self._delivered = self._redis.register_script(_DELIVERED)
        self._dead = self._redis.register_script(_DEAD)

    async def _call(self, what: str, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(f"redis {what} failed ({type(exc).__name__}: {exc})") from None

    async def connect(self) -> None:
        """Check the server and create the stream and group (idempotent)."""
        try:
            await self._call("create group", self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True))
        except QueueUnavailable as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, payload: bytes) -> str:
        entry_id = await self._add(payload, "")
        if entry_id is None:  # the script never says "held" for a job without a key
            raise QueueUnavailable("redis enqueue answered 'held' for a job without a key")
        return entry_id

    async def enqueue_once(self, payload: bytes, key: str) -> str | None:
        if not key:
            raise ValueError("enqueue_once needs a non-empty key")
        return await self._add(payload, key)

    async def holds(self, key: str) -> bool:
        return bool(int(await self._call("holds", self._holds(keys=[self.stream, self.keys_key], args=[key]))))

    async def _add(self, payload: bytes, key: str) -> str | None:
        """One atomic step: the key check (*key* ``""``: none), both bounds, ``XADD``."""
        code, value = await self._call(
            "enqueue",
            self._enqueue(
                keys=[self.stream, self.bytes_key, self.keys_key], args=[payload, self.max_jobs, self.max_bytes, key]
            ),
        )
        if int(code) == -1:
            raise QueueFull(int(value))
        if int(code) == -2:
            raise OverCapacity(f"queue holds {int(value)} of {self.max_bytes} bytes", retry_after_s=2.0)
        return None if int(code) == 1 else _text(value)

    async def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        entries = await self._reclaim(consumer, 1)
        if not entries:
            block_ms = max(1, int(min(timeout_s, BLOCK_MAX_S) * 1000))  # never 0: BLOCK 0 waits forever
            entries = await self._read(consumer, 1, block_ms)
        deliveries = await self._deliveries(entries)
        return deliveries[0] if deliveries else None

    async def claim_many(self, consumer: str, max_count: int) -> list[Delivery]:
        if max_count < 1:
            return []
        entries = await self._reclaim(consumer, max_count)
        if len(entries) < max_count:
            entries += await self._read(consumer, max_count - len(entries), None)
        return await self._deliveries(entries)

    async def _reclaim(self, consumer: str, count: int) -> list[tuple[str, dict[Any, Any]]]:
        """Up to *count* entries whose consumer has been silent for ``claim_idle_s``."""
        reclaimed = await self._call(
            "xautoclaim",
            self._redis.xautoclaim(self.stream, GROUP, consumer, int(self.claim_idle_s * 1000), "0-0", count=count),
        )
        return _stream_entries(_part(reclaimed, 1, "xautoclaim"), "xautoclaim")[:count]

    async def _read(self, consumer: str, count: int, block_ms: int | None) -> list[tuple[str, dict[Any, Any]]]:
        """Up to *count* new entries; ``block_ms`` None: answer at once (no BLOCK argument)."""
        read = await self._call(
            "xreadgroup", self._redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        )
        return _stream_entries(_part(_part(read, 0, "xreadgroup"), 1, "xreadgroup"), "xreadgroup") if read else []

    async def _deliveries(self, entries: list[tuple[str, dict[Any, Any]]]) -> list[Delivery]:
        """Count one more delivery of each entry (one atomic script) and wrap them; an entry
        acknowledged since it was read (a re-claim crossing its owner's ack) is left out."""
        if not entries:
            return []
        delivered = await self._call(
            "deliveries",
            self._delivered(keys=[self.stream, self.deliveries_key], args=[entry_id for entry_id, _ in entries]),
        )
        if not isinstance(delivered, (list, tuple)) or len(delivered) != len(entries):
            raise QueueUnavailable(f"redis deliveries answered an unexpected {type(delivered).__name__}")
        return [
            Delivery(entry_id, bytes(fields.get(b"payload", b"")), int(fields.get(b"attempts", b"0") or 0) + int(n))
            for (entry_id, fields), n in zip(entries, delivered, strict=True)
            if int(n) >= 0
        ]

    async def ack(self, delivery: Delivery) -> None:
        await self._call(
            "ack",
            self._ack(
                keys=[self.stream, self.bytes_key, self.deliveries_key, self.keys_key],
                args=[GROUP, delivery.id, len(delivery.payload)],
            ),
        )

    async def retry(self, delivery: Delivery) -> None:
        await self._call(
            "retry",
            self._retry(
                keys=[self.stream, self.deliveries_key, self.keys_key],
                args=[GROUP, delivery.id, delivery.payload, delivery.attempts],
            ),
        )

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self._call(
            "dead-letter",
            self._dead(
                keys=[self.dead_key, self.dead_bytes_key],
                args=[delivery.id, reason[:2000], delivery.attempts, delivery.payload, DEAD_LETTERS_KEPT,
                      self.dead_max_bytes],
            ),
        )
        await self.ack(delivery)

    async def touch(self, delivery: Delivery, consumer: str) -> None:
        await self._call(
            "touch", self._redis.xclaim(self.stream, GROUP, consumer, 0, [delivery.id], justid=True)
        )

    async def stats(self) -> QueueStats:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream)
            pipe.get(self.bytes_key)
            pipe.xlen(self.dead_key)
            jobs, size, dead = await self._call("stats", pipe.execute())
        return QueueStats(jobs=int(jobs), bytes=int(size or 0), dead_letters=int(dead))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = _stream_entries(await self._call("xrevrange", self._redis.xrevrange(self.dead_key, count=limit)),
                               "xrevrange")
        try:
            return [
                DeadLetter(_text(f[b"job"]), _text(f[b"reason"]), int(f[b"attempts"]), bytes(f[b"payload"]))
                for _, f in reversed(rows)
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise QueueUnavailable(f"redis xrevrange: a dead letter lacks a field ({type(exc).__name__}: {exc})") from None

    async def publish(self, event: dict[str, Any]) -> None:
        await self._call("publish", self._redis.publish(self.channel, json.dumps(event)))

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Completion events; re-subscribes after a lost connection (events sent meanwhile
        are missed; waiters poll the store for those)."""
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        event = _decode_event(message.get("data"))
                        if event is not None:
                            yield event
            except (RedisError, OSError) as exc:
                log.warning("redis events: %s; re-subscribing", type(exc).__name__)
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def ping(self) -> None:
        await self._call("ping", self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _part(reply: object, index: int, what: str) -> object:
    """Element ``index`` of a list reply, or a clear error when Redis answered something else."""
    if not isinstance(reply, (list, tuple)) or len(reply) <= index:
        raise QueueUnavailable(f"redis {what} answered an unexpected {type(reply).__name__}")
    return reply[index]


def _stream_entries(reply: object, what: str) -> list[tuple[str, dict[Any, Any]]]:
    """``[(id, fields)]`` of a stream reply (XAUTOCLAIM, XREADGROUP, XREVRANGE), checked.

    Entries deleted meanwhile (Redis 6.2 reports them with nil fields) are left out.
    """
    if reply is None:
        return []
    if not isinstance(reply, (list, tuple)):
        raise QueueUnavailable(f"redis {what} answered an unexpected {type(reply).__name__}")
    out: list[tuple[str, dict[Any, Any]]] = []
    for item in reply:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise QueueUnavailable(f"redis {what} answered an unexpected entry {type(item).__name__}")
        if isinstance(item[1], dict):
            out.append((_text(item[0]), item[1]))
        elif item[1] is not None:
            raise QueueUnavailable(f"redis {what} answered entry fields of type {type(item[1]).__name__}")
    return out


def _decode_event(data: Any) -> dict[str, Any] | None:
    try:
        event = json.loads(data)
    except (TypeError, ValueError):
        return None
    return event if isinstance(event, dict) else None

