"""Configuration of the cloud analysis service: one frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cloud.errors import ConfigError
from cloud.queues import check_queue_url
from cloud.stores import check_store_url

ExecutorKind = Literal["process", "thread"]


@dataclass(frozen=True)
class CloudConfig:
    """Settings of one service instance.

    Attributes
    ----------
    data_dir : Path
        Folder holding ``cloud.sqlite`` (hashed tokens, stored results) when no
        ``store_url`` is given.
    queue_url : str
        ``memory://`` (default: the queue and the workers live in the ``serve`` process)
        or ``redis://host:port/db`` (Redis Streams; ``serve`` is then API only and
        ``cardio-cloud worker`` processes analyse).
    store_url : str or None
        ``None`` (SQLite in ``data_dir``), ``sqlite:///folder`` or
        ``postgresql://user@host:port/db``.
    workers : int
        Size of the worker pool (analyses running at once).
    executor : {"process", "thread"}
        Where analysis runs off the event loop. Processes use every core; threads
        start faster (tests).
    max_attempts : int
        A job whose analysis raises is re-queued until it was tried this many times.
    timeout_s : float
        A request not answered within this time gets a failure answer (504).
    queue_max_jobs : int
        Jobs queued or running beyond this make new requests fail with 503.
    queue_max_bytes : int
        Bytes of job payloads (4 bytes per sample and lead) queued or running beyond
        this make new requests fail with 503 (admission by cost).
    client_cost_per_s : float
        Samples × leads per second each client may submit (admission by cost);
        over it the answer is 503 with ``Retry-After``.
    client_cost_burst : float
        Bucket size of that budget (a larger request passes when the bucket is full).
    claim_idle_s : float
        A job whose worker has not reported for this long is taken by another worker.
    batch_max : int
        A worker that claims a job takes up to this many jobs already queued and analyses
        them in one call (same-shaped one-lead recordings share filtering, quality and
        delineation; answers unchanged); 1 = one job at a time. Never waits for a batch.
    poll_s : float
        A waiting request re-reads the store at this interval (completion events are
        best effort).
    max_body_bytes : int
        Larger request bodies are refused with 413.
    rate_per_s : float
        Sustained requests per second allowed per token (token bucket).
    burst : int
        Bucket size of the per-token rate limit.
    body_timeout_s : float
        A request body not fully received within this time is refused (408) and its
        connection closed (owner: the edge, cloud/edge.py).
    parse_workers : int
        Bodies parsed at once, in a pool of their own (not the analysis workers).
    parse_waiting : int
        Bodies allowed to wait for a parse worker; beyond that new bodies get 503.
    body_budget_bytes : int
        Request bodies held at once (received, decompressed, not yet parsed), all
        together; a body that would go over gets 503 ``capacity-unavailable`` (owner: the
        edge, cloud/edge.py :class:`~cloud.edge.BodyBudget`).
    client_body_budget_bytes : int
        The same for one client (token, or the web page's sender address); at least
        ``max_body_bytes``.
    """

    data_dir: Path = Path("cloud-data")
    workers: int = 2
    executor: ExecutorKind = "process"
    max_attempts: int = 3
    timeout_s: float = 30.0
    queue_max_jobs: int = 10_000
    queue_max_bytes: int = 512 * 1024 * 1024
    client_cost_per_s: float = 200_000.0
    client_cost_burst: float = 4_000_000.0
    claim_idle_s: float = 30.0
    batch_max: int = 8
    poll_s: float = 1.0
    queue_url: str = "memory://"
    store_url: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    rate_per_s: float = 200.0
    burst: int = 400
    body_timeout_s: float = 20.0
    parse_workers: int = 1
    parse_waiting: int = 8
    body_budget_bytes: int = 256 * 1024 * 1024
    client_body_budget_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        _check(self.workers >= 1, "workers", "must be >= 1")
        _check(self.executor in ("process", "thread"), "executor", "must be 'process' or 'thread'")
        _check(self.max_attempts >= 1, "max_attempts", "must be >= 1")
        _check(self.timeout_s > 0, "timeout_s", "must be > 0")
        _check(self.queue_max_jobs >= 1, "queue_max_jobs", "must be >= 1")
        _check(self.queue_max_bytes >= 1024, "queue_max_bytes", "must be >= 1024")
        _check(self.client_cost_per_s > 0, "client_cost_per_s", "must be > 0")
        _check(self.client_cost_burst >= 1, "client_cost_burst", "must be >= 1")
        _check(self.claim_idle_s > 0, "claim_idle_s", "must be > 0")
        _check(1 <= self.batch_max <= 64, "batch_max", "must be within 1..64")
        _check(self.poll_s > 0, "poll_s", "must be > 0")
        check_queue_url(self.queue_url)
        if self.store_url is not None:
            check_store_url(self.store_url)
        _check(self.max_body_bytes >= 1024, "max_body_bytes", "must be >= 1024")
        _check(self.rate_per_s > 0, "rate_per_s", "must be > 0")
        _check(self.burst >= 1, "burst", "must be >= 1")
        _check(0 < self.body_timeout_s <= 600, "body_timeout_s", "must be within (0, 600] s")
        _check(self.parse_workers >= 1, "parse_workers", "must be >= 1")
        _check(self.parse_waiting >= 0, "parse_waiting", "must be >= 0")
        _check(self.client_body_budget_bytes >= self.max_body_bytes, "client_body_budget_bytes",
               "must be >= max_body_bytes (else the largest body could never be received)")
        _check(self.body_budget_bytes >= self.client_body_budget_bytes, "body_budget_bytes",
               "must be >= client_body_budget_bytes")

    @property
    def stale_after_s(self) -> float:
        """A reservation this old has lost its job (it may be enqueued again)."""
        return max(self.timeout_s, self.claim_idle_s) * (self.max_attempts + 1)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CloudConfig:
        """Build from a mapping, rejecting unknown keys.

        Examples
        --------
        >>> CloudConfig.from_dict({"data_dir": "/tmp/x", "workers": 4}).workers
        4
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")
        return cls(**values)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)
