"""The store contract every backend implements (SQLite, PostgreSQL): tokens, results,
and the reservations that make ``recordId`` idempotent across API replicas.

Clients: a token belongs to a client with an immutable random ``client_id``; results
are keyed by ``(client_id, recordId)``, never by the token's name, so a name revoked and
created again is a new client that cannot read the old analyses. Rotating a token
(:meth:`Store.rotate_token`) keeps the client: same holder, new secret.

Results: the first answer stored for a key wins. Each carries the request digest
(:func:`cloud.jobs.request_digest`): the same ``recordId`` with another recording is a
:class:`~cloud.errors.RecordConflict` (409).

Reservations (:meth:`Store.reserve`): before enqueueing, an API replica reserves the key
with the digest. ``"new"`` means enqueue it; ``"pending"`` means another request reserved
it (join it: :class:`~cloud.analysis.AnalysisService` first makes sure the queue holds its
job, since that request may have died before enqueueing); ``"stored"`` means answer at once.
A reservation older than ``stale_after_s`` is taken over. Any backend failure raises
:class:`~cloud.errors.StoreUnavailable` (503).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from cloud.errors import CloudError

TOKEN_PREFIX = "clk_"
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


class TokenError(CloudError):
    """A token operation was refused (duplicate or unknown name)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"token {name!r}: {message}")
        self.name = name


@dataclass(frozen=True)
class Client:
    """The owner of an active token: immutable id (keys results) and display name."""

    id: str
    name: str


@dataclass(frozen=True)
class TokenInfo:
    """One row of ``token list`` (never the token itself)."""

    name: str
    created_at: float
    revoked_at: float | None
    client_id: str = ""


@dataclass(frozen=True)
class StoredResult:
    """A finished answer: HTTP status, JSON body, and the digest of the request."""

    http_status: int
    body: dict[str, Any]
    digest: str | None = None


@dataclass(frozen=True)
class Pending:
    """A reservation as it stands: the digest of the recording it holds and its age
    (seconds since it was made or last taken over)."""

    digest: str
    age_s: float


@dataclass(frozen=True)
class Reservation:
    """Outcome of :meth:`Store.reserve`: ``kind`` and, when stored, the result."""

    kind: Literal["new", "pending", "stored"]
    result: StoredResult | None = None


def token_digest(token: str) -> bytes:
    """SHA-256 of a token (what is stored; tokens are 256-bit random)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token(name: str) -> tuple[str, str]:
    """A fresh ``(token, client_id)`` for *name* (checked)."""
    if not NAME_RE.match(name):
        raise TokenError(name, "name must be 1-64 letters, digits, '-', '_' or '.'")
    return TOKEN_PREFIX + secrets.token_urlsafe(32), "c" + secrets.token_hex(12)


def digests_match(stored: str | None, digest: str) -> bool:
    """Whether a stored digest is compatible (answers migrated from v1 have none)."""
    return stored is None or stored == digest


@runtime_checkable
class Store(Protocol):
    """Tokens, results and reservations (async)."""

    async def create_token(self, name: str) -> str:
        """A new token for *name* (shown once, stored hashed); TokenError when active."""
        ...

    async def rotate_token(self, name: str) -> str:
        """A new token for *name*'s client (same client id: its results stay readable),
        the old one revoked; creates the client when *name* has none."""
        ...

    async def revoke_token(self, name: str) -> None:
        """Revoke *name*'s active token; TokenError when none."""
        ...

    async def list_tokens(self) -> list[TokenInfo]:
        """Every token ever created, by name then creation time."""
        ...

    async def verify_token(self, token: str) -> Client | None:
        """The client owning an active *token*, else ``None``."""
        ...

    async def get_result(self, client_id: str, record_id: str) -> StoredResult | None:
        """The stored answer, or ``None``."""
        ...

    async def reserve(self, client_id: str, record_id: str, digest: str, stale_after_s: float) -> Reservation:
        """Reserve the key for a new job, or say why not (RecordConflict on another digest)."""
        ...

    async def put_result(self, client_id: str, record_id: str, status: str, result: StoredResult) -> bool:
        """Store an answer (first wins) and drop the reservation; True if this one was stored."""
        ...

    async def release(self, client_id: str, record_id: str) -> None:
        """Drop a reservation whose job was given up."""
        ...

    async def is_pending(self, client_id: str, record_id: str) -> bool:
        """Whether a reservation exists."""
        ...

    async def pending(self, client_id: str, record_id: str) -> Pending | None:
        """The reservation (digest, age), or ``None`` when there is none."""
        ...

    async def delete_result(self, client_id: str, record_id: str) -> None:
        """Forget a stored answer (for callers whose answers nobody can ask for again)."""
        ...

    async def delete_results(self, client_id: str, older_than_s: float) -> int:
        """Forget *client_id*'s answers stored more than *older_than_s* ago; how many."""
        ...

    async def count_results(self) -> int:
        """Number of stored answers."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the backend cannot answer."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
