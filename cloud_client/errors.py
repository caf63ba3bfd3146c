"""Errors of the cloud client: one base class; subclasses say whose fault it is."""

from __future__ import annotations

from typing import Any


class CloudClientError(Exception):
    """Base class of every error raised by :mod:`cloud_client`."""


class CloudUnavailable(CloudClientError):
    """The service could not be reached or kept failing (retry later).

    Attributes
    ----------
    attempts : int
        Requests made before giving up.
    reason : str
        The last failure.
    retry_after_s : float or None
        The server's last ``Retry-After``, if any.
    """

    def __init__(self, attempts: int, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"cloud unavailable after {attempts} attempt(s): {reason}")
        self.attempts = attempts
        self.reason = reason
        self.retry_after_s = retry_after_s


class ApiError(CloudClientError):
    """The service answered with a problem document that retrying will not fix.

    Attributes
    ----------
    status : int
        HTTP status.
    problem : dict
        The RFC 9457 problem document (``type``, ``title``, ``detail``, ``errors``...).
    """

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = str(problem.get("detail") or problem.get("title") or "error")
        errors = problem.get("errors")
        if isinstance(errors, list) and errors:
            detail += " — " + "; ".join(
                f"{e.get('field')}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in errors[:5]
            )
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.problem = problem

    @property
    def problem_type(self) -> str:
        """Last part of the problem ``type`` URI, e.g. ``"unanalysable-signal"``."""
        return str(self.problem.get("type", "")).rsplit("/", 1)[-1]


class AuthError(ApiError):
    """401: missing, unknown or revoked token (a configuration problem of the caller)."""


class RequestRejected(ApiError):
    """4xx: the request (or its signal) is not acceptable; sending it again won't help."""


class AnalysisLost(RequestRejected):
    """404 ``analysis-lost`` from :meth:`~cloud_client.CloudClient.get`: the service accepted
    this ``recordId`` but lost its analysis (it restarted or failed before queueing it), and
    nothing will answer it. Send the same recording again with the same ``recordId``
    (:meth:`~cloud_client.CloudClient.analyse`): it is answered like a first request."""


class ProtocolError(CloudClientError):
    """The server answered something that is not the documented API (misbehaving peer)."""
