"""Async HTTP client of the analysis API, with timeouts and polite retries.

Retried: connection errors, timeouts, 429 and 5xx, with exponential backoff and full
jitter, or the server's ``Retry-After`` when it gives one. Not retried: other 4xx
(:class:`~cloud_client.errors.RequestRejected`, :class:`~cloud_client.errors.AuthError`).
Retrying is safe because every request carries a ``recordId``: the server analyses a
record once and returns the stored answer to repeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from cloud_client.errors import AnalysisLost, ApiError, AuthError, CloudUnavailable, ProtocolError, RequestRejected
from cloud_client.models import AnalysisRequest, AnalysisResult

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class CloudClient:
    """Client of one analysis service.

    Parameters
    ----------
    base_url : str
        E.g. ``"http://127.0.0.1:8080"``.
    token : str
        Bearer token (``cardio-cloud token create NAME``). Never logged.
    timeout_s : float
        Total time allowed for one HTTP exchange.
    max_attempts : int
        Tries per call before :class:`~cloud_client.errors.CloudUnavailable`.
    backoff_base_s, backoff_max_s : float
        Backoff before retry *n* is uniform in ``[0, min(max, base * 2**n)]``.
    max_retry_after_s : float
        A longer ``Retry-After`` makes the call give up instead of sleeping.

    Examples
    --------
    >>> async def demo():  # doctest: +SKIP
    ...     async with CloudClient("http://127.0.0.1:8080", token) as client:
    ...         result = await client.analyse(AnalysisRequest(300.0, 1000.0, {"I": counts}))
    ...         return result.top.label
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 10.0,
        max_retry_after_s: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"CloudClient({self.base_url!r}, token=<hidden>)"

    async def __aenter__(self) -> CloudClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"Authorization": f"Bearer {self._token}"},
            )
        return self._session

    async def analyse(self, request: AnalysisRequest) -> AnalysisResult:
        """Send one recording and wait for its analysis.

        Raises
        ------
        RequestRejected
            4xx: invalid request or unanalysable signal (``.problem`` says which).
        AuthError
            401: bad token.
        CloudUnavailable
            Unreachable, or 429/5xx on every attempt.
        """
        body = json.dumps(request.to_json()).encode()
        status, document = await self._call("POST", "/v1/analyses", body)
        return self._result(status, document)

    async def get(self, record_id: str) -> AnalysisResult | None:
        """The stored answer for *record_id*; ``None`` while pending or unknown.

        Raises
        ------
        AnalysisLost
            The service accepted *record_id* but lost its analysis; polling will never
            answer: send the recording again (:meth:`analyse`, same ``recordId``).
        """
        if record_id in ("", ".", ".."):  # a dot segment would be resolved away, asking another path
            raise ValueError(f"record_id {record_id!r} cannot name an analysis in a URL path")
        path = f"/v1/analyses/{quote(record_id, safe='')}"  # one path segment, whatever the caller passes
        status, document = await self._call("GET", path, None, ok=(200, 202, 404))
        if status == 404 and isinstance(document, dict) and str(document.get("type", "")).endswith("/analysis-lost"):
            raise AnalysisLost(status, document)
        if status in (202, 404):
            return None
        return self._result(status, document)

    async def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        _, document = await self._call("GET", "/healthz", None)
        return dict(document)

    @staticmethod
    def _result(status: int, document: Any) -> AnalysisResult:
        if status != 200:
            raise ProtocolError(f"unexpected HTTP {status}")
        return AnalysisResult.from_json(document)

    def backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Delay before the retry following *attempt* (1-based)."""
        if retry_after_s is not None:
            return retry_after_s
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, cap)

    async def _call(
        self, method: str, path: str, body: bytes | None, *, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, Any]:
        reason = "no attempt"
        retry_after_s: float | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            retry_after_s = None
            try:
                status, headers, document = await self._exchange(method, path, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if status in ok:
                    return status, document
                if status not in RETRY_STATUSES:
                    problem = document if isinstance(document, dict) else {"detail": str(document)[:200]}
                    raise (AuthError if status == 401 else RequestRejected if status < 500 else ApiError)(
                        status, problem
                    )
                reason = f"HTTP {status}"
                retry_after_s = _retry_after_s(headers.get("Retry-After"))
            if attempt == self.max_attempts:
                break
            if retry_after_s is not None and retry_after_s > self.max_retry_after_s:
                break
            delay_s = self.backoff_s(attempt, retry_after_s)
            log.info("%s %s: %s; retry %d in %.2f s", method, path, reason, attempt, delay_s)
            await self._sleep(delay_s)
        raise CloudUnavailable(attempt, reason, retry_after_s)

    async def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, Any, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        async with self._http().request(method, self.base_url + path, data=body, headers=headers) as response:
            raw = await response.read()
            try:
                document = json.loads(raw) if raw else None
            except ValueError:
                document = raw.decode("utf-8", "replace")[:200]
            return response.status, response.headers, document


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form); None if absent/other."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
