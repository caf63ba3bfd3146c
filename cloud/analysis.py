"""The analysis engine: idempotency, FIFO queue, bounded worker pool, retries, timeouts.

Flow of one request (after authorisation by :mod:`cloud.app`): a stored answer for the
same ``(client, recordId)`` is returned at once; a request already queued or running is
joined; otherwise a :class:`~cloud.queue.Job` is enqueued. ``workers`` coroutines take
jobs in FIFO order and run :func:`cloud.pipeline.analyse` in an executor (processes by
default), so the event loop never computes. A job that raises is put back at the end
of the queue until it was tried ``max_attempts`` times, as CardioLearn's engine does. A
waiting request gets a failure answer after ``timeout_s``; the job still finishes and
its result is stored. :meth:`AnalysisService.stop` drains the queue first.

The in-process entry for other server code (the web page) is :func:`submit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from aiohttp import web

from cloud.config import CloudConfig
from cloud.errors import AnalysisFailed, AnalysisTimeout, RequestError, UnanalysableSignal
from cloud.metrics import Metrics
from cloud.pipeline import PipelineSettings, analyse, warm_up
from cloud.queue import Job, JobQueue, MemoryQueue
from cloud.storage import ResultStore, StoredResult
from cloud.validation import AnalysisRequest, parse_body, parse_request

log = logging.getLogger(__name__)

#: bodies at least this large are parsed in the executor, not on the event loop
INLINE_PARSE_BYTES = 64 * 1024
#: signature of the analysis function run by the workers
Analyser = Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]]


def problem_body(exc: RequestError) -> dict[str, Any]:
    """RFC 9457 problem document for a request error."""
    body: dict[str, Any] = {
        "type": f"https://cardiolink.invalid/problems/{exc.problem}",
        "title": exc.problem.replace("-", " "),
        "status": exc.status,
        "detail": exc.detail,
    }
    if exc.errors:
        body["errors"] = exc.errors
    return body


class AnalysisService:
    """Queue + workers + result store of one service instance.

    Parameters
    ----------
    config : CloudConfig
        Pool size, attempts, timeouts.
    results : ResultStore
        Durable answers by ``(client, recordId)``.
    analyser : callable, optional
        The analysis function (default :func:`cloud.pipeline.analyse`); must be
        picklable for the process executor.
    queue : JobQueue, optional
        Default :class:`~cloud.queue.MemoryQueue`.
    """

    def __init__(
        self,
        config: CloudConfig,
        results: ResultStore,
        *,
        analyser: Analyser = analyse,
        queue: JobQueue | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.results = results
        self.metrics = metrics or Metrics()
        self.queue: JobQueue = queue or MemoryQueue(config.queue_max_jobs)
        self._analyser = analyser
        self._settings = PipelineSettings()
        self._waiting: dict[tuple[str, str], asyncio.Future[StoredResult]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._executor: concurrent.futures.Executor | None = None
        self._running = 0

    @property
    def in_flight(self) -> int:
        """Jobs being analysed right now."""
        return self._running

    def _new_executor(self) -> concurrent.futures.Executor:
        if self.config.executor == "process":
            return concurrent.futures.ProcessPoolExecutor(max_workers=self.config.workers, initializer=warm_up)
        return concurrent.futures.ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="analysis")

    async def start(self) -> None:
        """Start the executor and the worker coroutines."""
        self._executor = self._new_executor()
        self._workers = [asyncio.create_task(self._work(), name=f"worker-{i}") for i in range(self.config.workers)]

    async def stop(self, drain_timeout_s: float | None = None) -> None:
        """Drain the queue (up to *drain_timeout_s*, default ``timeout_s``), then stop."""
        try:
            await asyncio.wait_for(self.queue.join(), drain_timeout_s or self.config.timeout_s)
        except TimeoutError:
            log.warning("shutdown: %d job(s) left undrained", self.queue.depth())
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def parse(self, body: bytes) -> AnalysisRequest:
        """Decode and check a request body; large bodies are parsed by the workers'
        executor so the event loop stays free (raises :class:`RequestError`)."""
        if len(body) < INLINE_PARSE_BYTES or self._executor is None:
            return parse_body(body)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, parse_body, body)

    async def submit(self, client: str, request: AnalysisRequest) -> StoredResult:
        """Answer *request* for *client*: stored, joined or newly analysed.

        Raises
        ------
        QueueFull, AnalysisFailed, AnalysisTimeout
        """
        key = (client, request.record_id)
        stored = self.results.get(*key)
        if stored is not None:
            self.metrics.count("deduplicated")
            return stored
        waiter = self._waiting.get(key)
        if waiter is None:
            self.queue.put(Job(client, request))
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[key] = waiter
            self.metrics.count("accepted")
        else:
            self.metrics.count("deduplicated")
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), self.config.timeout_s)
        except TimeoutError:
            self.metrics.count("timeouts")
            raise AnalysisTimeout(request.record_id, self.config.timeout_s) from None

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self._attempt(job)
            except Exception:  # a bug here must not kill the worker
                log.exception("worker: unexpected error on %s", job.request.record_id)
            finally:
                self.queue.task_done()

    async def _attempt(self, job: Job) -> None:
        job.attempts += 1
        loop = asyncio.get_running_loop()
        assert self._executor is not None, "service not started"
        self._running += 1
        try:
            body = await loop.run_in_executor(self._executor, self._analyser, job.request, self._settings)
        except UnanalysableSignal as exc:
            self._finish(job, "unanalysable", StoredResult(exc.status, problem_body(exc)))
        except Exception as exc:
            self._retry_or_fail(job, exc)
        else:
            self._finish(job, "completed", StoredResult(200, body))
        finally:
            self._running -= 1

    def _retry_or_fail(self, job: Job, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, BrokenProcessPool) and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        if job.attempts < self.config.max_attempts:
            log.warning("attempt %d of %s failed (%s); re-queued", job.attempts, job.request.record_id, reason)
            self.metrics.count("retries")
            self.queue.put(job, retry=True)
            return
        log.error("analysis of %s failed after %d attempts: %s", job.request.record_id, job.attempts, reason)
        self.metrics.count("failed")
        waiter = self._waiting.pop(job.key, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(AnalysisFailed(job.request.record_id, job.attempts, reason))
            waiter.exception()  # mark retrieved: nobody may be waiting any more

    def _finish(self, job: Job, status: str, result: StoredResult) -> None:
        self.results.put(job.client, job.request.record_id, status, result)
        self.metrics.count(status)
        processing_ms = float(result.body.get("processingMs", 0.0)) if result.http_status == 200 else 0.0
        self.metrics.observe((time.monotonic() - job.enqueued_at_s) * 1000.0, processing_ms)
        waiter = self._waiting.pop(job.key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def pending(self, client: str, record_id: str) -> bool:
        """Whether a job for this record is queued or running."""
        return (client, record_id) in self._waiting


SERVICE_KEY = web.AppKey("analysis_service", AnalysisService)


async def submit(app: web.Application, payload: dict[str, Any], *, client: str = "webpage") -> dict[str, Any]:
    """Analyse *payload* (the ``POST /v1/analyses`` JSON form) through *app*'s queue.

    For in-process callers such as the web page: no HTTP, no token, same queue,
    workers, idempotency and result store (under the client name *client*).

    Parameters
    ----------
    app : aiohttp.web.Application
        An application made by :func:`cloud.app.create_app` (started).
    payload : dict
        ``sampleRate``, ``adcGain``, ``baseline``, ``dataI``... as in the API.
    client : str
        Name the results are stored under.

    Returns
    -------
    dict
        The ``AnalysisResult`` document.

    Raises
    ------
    RequestError
        Invalid payload or unanalysable signal (``.status``, ``.detail``, ``.errors``).
    AnalysisFailed, AnalysisTimeout, QueueFull
        The service could not answer.

    Examples
    --------
    >>> result = await submit(app, {"sampleRate": 300, "adcGain": 1000, "dataI": counts})  # doctest: +SKIP
    >>> result["diagnoses"][0]["label"]  # doctest: +SKIP
    'Normal sinus rhythm'
    """
    service = app[SERVICE_KEY]
    service.metrics.count("requests")
    request = parse_request(payload)
    result = await service.submit(client, request)
    if result.http_status != 200:
        body = result.body
        raise RequestError(str(body.get("detail", "")), status=result.http_status, problem="unanalysable-signal")
    return result.body
