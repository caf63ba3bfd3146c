"""Errors of the cloud analysis service.

One base class (:class:`CloudError`); subclasses carry the data needed to answer the
caller. :class:`RequestError` and its subclasses are the *caller's* fault and become
RFC 9457 problem documents with a 4xx status; :class:`AnalysisFailed` is ours.
"""

from __future__ import annotations

from typing import Any


class CloudError(Exception):
    """Base class of every error raised by :mod:`cloud`."""


class RequestError(CloudError):
    """The request is unacceptable: answered as a 4xx problem document.

    Parameters
    ----------
    detail : str
        Human-readable explanation.
    status : int
        HTTP status code (4xx).
    problem : str
        Short slug of the problem type (``https://cardiolink.invalid/problems/<slug>``).
    errors : list of dict, optional
        Per-field errors, each ``{"field": ..., "message": ...}``.
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int = 422,
        problem: str = "invalid-request",
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.problem = problem
        self.errors = list(errors or [])

    def __reduce__(self) -> tuple[Any, ...]:
        # keep status/problem/errors when raised in a parse process and pickled back
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[RequestError], args: tuple[Any, ...], state: dict[str, Any]) -> RequestError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class UnanalysableSignal(RequestError):
    """The payload is well formed but the signal cannot be analysed (flat, clipped...)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, status=422, problem="unanalysable-signal")


class AnalysisFailed(CloudError):
    """Analysis raised on every attempt (our fault, answered with 500).

    Parameters
    ----------
    record_id : str
        The record concerned.
    attempts : int
        How many times the job was tried.
    reason : str
        The last error, as text (never the signal).
    """

    def __init__(self, record_id: str, attempts: int, reason: str) -> None:
        super().__init__(f"analysis of {record_id} failed after {attempts} attempt(s): {reason}")
        self.record_id = record_id
        self.attempts = attempts
        self.reason = reason


class AnalysisTimeout(CloudError):
    """No answer within the configured time (answered with 504)."""

    def __init__(self, record_id: str, timeout_s: float) -> None:
        super().__init__(f"analysis of {record_id} did not finish within {timeout_s:g} s")
        self.record_id = record_id
        self.timeout_s = timeout_s


class QueueFull(CloudError):
    """The queue holds its maximum number of jobs (answered with 503 + Retry-After)."""

    def __init__(self, depth: int) -> None:
        super().__init__(f"analysis queue is full ({depth} jobs)")
        self.depth = depth


class RecordConflict(RequestError):
    """The ``recordId`` was already used for a different recording (409 ``conflict``)."""

    def __init__(self, record_id: str) -> None:
        super().__init__(
            f"recordId {record_id!r} was already used for a different recording; use a new recordId",
            status=409,
            problem="conflict",
        )
        self.record_id = record_id


class Unavailable(CloudError):
    """A backend the service depends on cannot answer now (503 + ``Retry-After``).

    Parameters
    ----------
    what : str
        ``"store"``, ``"queue"`` or ``"capacity"``.
    detail : str
        What failed, as text (never a token or a signal).
    retry_after_s : float
        Suggested wait before a retry.
    """

    def __init__(self, what: str, detail: str, retry_after_s: float = 2.0) -> None:
        super().__init__(f"{what} unavailable: {detail}")
        self.what = what
        self.detail = detail
        self.retry_after_s = retry_after_s


class StoreUnavailable(Unavailable):
    """The store (SQLite or PostgreSQL) failed or cannot be reached."""

    def __init__(self, detail: str, retry_after_s: float = 2.0) -> None:
        super().__init__("store", detail, retry_after_s)


class QueueUnavailable(Unavailable):
    """The queue (Redis) failed or cannot be reached."""

    def __init__(self, detail: str, retry_after_s: float = 2.0) -> None:
        super().__init__("queue", detail, retry_after_s)


class OverCapacity(Unavailable):
    """Admission by cost refused the request: the queue holds too many bytes, or this
    client used its share of samples × leads (503 + ``Retry-After``)."""

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__("capacity", detail, retry_after_s)


class MalformedJob(CloudError):
    """A job payload on the queue cannot be decoded (it goes to the dead letters)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed job: {reason}")
        self.reason = reason


class ConfigError(CloudError):
    """Invalid service configuration (unknown key, value out of range)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
