"""Configuration of the cloud analysis service: one frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cloud.errors import ConfigError

ExecutorKind = Literal["process", "thread"]


@dataclass(frozen=True)
class CloudConfig:
    """Settings of one service instance.

    Attributes
    ----------
    data_dir : Path
        Folder holding ``cloud.sqlite`` (hashed tokens, stored results).
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
        Jobs waiting beyond this make new requests fail with 503.
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
    """

    data_dir: Path
    workers: int = 2
    executor: ExecutorKind = "process"
    max_attempts: int = 3
    timeout_s: float = 30.0
    queue_max_jobs: int = 10_000
    max_body_bytes: int = 32 * 1024 * 1024
    rate_per_s: float = 200.0
    burst: int = 400
    body_timeout_s: float = 20.0
    parse_workers: int = 1
    parse_waiting: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        _check(self.workers >= 1, "workers", "must be >= 1")
        _check(self.executor in ("process", "thread"), "executor", "must be 'process' or 'thread'")
        _check(self.max_attempts >= 1, "max_attempts", "must be >= 1")
        _check(self.timeout_s > 0, "timeout_s", "must be > 0")
        _check(self.queue_max_jobs >= 1, "queue_max_jobs", "must be >= 1")
        _check(self.max_body_bytes >= 1024, "max_body_bytes", "must be >= 1024")
        _check(self.rate_per_s > 0, "rate_per_s", "must be > 0")
        _check(self.burst >= 1, "burst", "must be >= 1")
        _check(0 < self.body_timeout_s <= 600, "body_timeout_s", "must be within (0, 600] s")
        _check(self.parse_workers >= 1, "parse_workers", "must be >= 1")
        _check(self.parse_waiting >= 0, "parse_waiting", "must be >= 0")

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
