"""Workers: claim a job, analyse it off the event loop, store the answer, acknowledge.

One :class:`Worker` runs ``concurrency`` claim loops over a :class:`~cloud.queues.base.JobQueue`
and a :class:`~cloud.stores.base.Store`. In the embedded default it lives inside
``cardio-cloud serve``; scaled out it is ``cardio-cloud worker`` on any machine.

Per delivery: a job delivered more than ``max_attempts`` times is dead-lettered (its
worker kept dying); a payload that does not decode is dead-lettered with the reason; an
answer already stored (a re-claimed job) is acknowledged without analysing again.
Otherwise the analysis runs in an executor — processes forked from a ``forkserver`` that
ignore SIGINT and share none of the parent's signal handling, so a dying analysis process
never stops the service: the pool is rebuilt and the job retried. The answer is stored,
then acknowledged, then announced (``publish``). A store failure announces
``store-error`` (waiting requests answer 503 at once) and re-queues the job. While a job
runs, the worker touches it every ``claim_idle_s / 3`` so nobody re-claims it.

Batches (issue 10, lever B): after claiming one delivery a claim loop takes, without
waiting, up to ``batch_max - 1`` more that are already queued (an idle service keeps its
latency: nothing waits for a batch to fill). Each delivery is checked as above on its own;
those left are analysed in one executor call (:func:`cloud.pipeline.analyse_many`, which
shares filtering, quality and delineation across same-shaped one-lead recordings and
gives each the answer :func:`~cloud.pipeline.analyse` would). Each keeps its own lease
(all touched while the batch runs), attempts, retry, dead letter, store, ack and
announcement. If the batched call itself fails (a dead analysis process, anything
unexpected), its deliveries are analysed again one by one, so one bad request cannot take
the others down with it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from cloud.config import CloudConfig
from cloud.errors import MalformedJob, QueueUnavailable, StoreUnavailable, UnanalysableSignal, Unavailable
from cloud.jobs import Job
from cloud.metrics import Metrics
from cloud.pipeline import Outcome, PipelineSettings, analyse, analyse_each, analyse_many, outcome_of, warm_up
from cloud.queues.base import Delivery, JobQueue
from cloud.stores.base import Store, StoredResult
from cloud.validation import AnalysisRequest

log = logging.getLogger(__name__)
Analyser = Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]]
BatchAnalyser = Callable[[list[AnalysisRequest], PipelineSettings], list[Outcome]]
_T = TypeVar("_T")
#: pause after a backend failure before claiming again
BACKOFF_S = 0.5
#: payloads at least this large are decoded off the event loop
DECODE_INLINE_BYTES = 64 * 1024


def problem_document(status: int, problem: str, detail: str, **extra: Any) -> dict[str, Any]:
    """RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": f"https://cardiolink.invalid/problems/{problem}",
        "title": problem.replace("-", " "),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return body


def _child_init(warm: bool) -> None:
    """Analysis process start: Ctrl-C belongs to the parent; SIGTERM kills only this one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if warm:
        warm_up()


def new_executor(config: CloudConfig, size: int) -> concurrent.futures.Executor:
    """The analysis pool: *size* processes forked by a ``forkserver`` (or threads for tests)."""
    if config.executor == "process":
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=size, mp_context=multiprocessing.get_context("forkserver"), initializer=_child_init, initargs=(True,)
        )
    return concurrent.futures.ThreadPoolExecutor(max_workers=size, thread_name_prefix="analysis")


def event(job: Job, outcome: str, **extra: Any) -> dict[str, Any]:
    """A completion event for *job*: ``stored``, ``failed`` or ``store-error``."""
    return {"clientId": job.client_id, "recordId": job.request.record_id, "outcome": outcome, **extra}


class Worker:
    """Claim loops of one worker process (or of the embedded service).

    Parameters
    ----------
    config : CloudConfig
        Attempts, idle time, executor kind, analysis settings.
    queue, store
        The backends.
    concurrency : int
        Jobs analysed at once (claim loops and executor size).
    analyser : callable
        The analysis function (picklable for process executors).
    batch_analyser : callable, optional
        Its batch form (``config.batch_max`` > 1): :func:`cloud.pipeline.analyse_many` for
        the real analysis, else the analyser applied one by one in one executor call.
    metrics : Metrics, optional
        Counters shared with the API in the embedded default.
    """

    def __init__(
        self,
        config: CloudConfig,
        queue: JobQueue,
        store: Store,
        *,
        concurrency: int,
        analyser: Analyser = analyse,
        batch_analyser: BatchAnalyser | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config, self.queue, self.store = config, queue, store
        self.concurrency = concurrency
        self.metrics = metrics or Metrics()
        self.name = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._analyser = analyser
        self._batch_analyser: BatchAnalyser = batch_analyser or (
            analyse_many if analyser is analyse else functools.partial(analyse_each, analyser)
        )
        self._settings = PipelineSettings()
        self._executor: concurrent.futures.Executor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.in_flight = 0

    async def start(self) -> None:
        """Start the executor and the claim loops."""
        self._executor = new_executor(self.config, self.concurrency)
        self._tasks = [
            asyncio.create_task(self._loop(f"{self.name}-{i}"), name=f"worker-{i}") for i in range(self.concurrency)
        ]

    async def stop(self, timeout_s: float | None = None) -> None:
        """Stop claiming, let running jobs finish (up to *timeout_s*), then stop."""
        self._stopping.set()
        done, pending = await asyncio.wait(self._tasks, timeout=timeout_s or self.config.timeout_s) if self._tasks else ((), ())
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def _loop(self, consumer: str) -> None:
        while not self._stopping.is_set():
            try:
                delivery = await self.queue.claim(consumer, timeout_s=1.0)
                if delivery is not None:
                    await self._handle_all([delivery, *await self._claim_more(consumer)], consumer)
            except Unavailable as exc:
                log.warning("worker %s: %s; retrying in %.1f s", consumer, exc, BACKOFF_S)
                await asyncio.sleep(BACKOFF_S)
            except Exception:  # a bug here must not kill the loop
                log.exception("worker %s: unexpected error", consumer)
                await asyncio.sleep(BACKOFF_S)

    async def _claim_more(self, consumer: str) -> list[Delivery]:
        """What is already queued, up to ``batch_max - 1`` more (never waits)."""
        if self.config.batch_max <= 1:
            return []
        try:
            return await self.queue.claim_many(consumer, self.config.batch_max - 1)
        except QueueUnavailable as exc:  # the one already claimed goes on alone
            log.warning("worker %s: claiming more failed (%s)", consumer, exc)
            return []

    async def _handle_all(self, deliveries: list[Delivery], consumer: str) -> None:
        ready = await self._admit_all(deliveries, consumer)
        if not ready:
            return
        self.in_flight += len(ready)
        try:
            results = await self._touching([d for d, _ in ready], consumer, self._analyse_ready([j for _, j in ready]))
        finally:
            self.in_flight -= len(ready)
        concluded = await asyncio.gather(
            *(self._conclude(d, job, result, status) for (d, job), (result, status) in zip(ready, results, strict=True)),
            return_exceptions=True,
        )
        for (d, _), outcome in zip(ready, concluded, strict=True):
            if isinstance(outcome, BaseException):  # that one is re-claimed after claim_idle_s
                log.error("worker %s: concluding %s failed: %r", consumer, d.id, outcome)

    async def _admit_all(self, deliveries: list[Delivery], consumer: str) -> list[tuple[Delivery, Job]]:
        """The deliveries to analyse. One whose checks hit an unavailable backend is left
        claimed (re-claimed after ``claim_idle_s``) without holding up the others; when
        all of them do, the error goes up (the claim loop backs off)."""
        ready: list[tuple[Delivery, Job]] = []
        failed: Unavailable | None = None
        for delivery in deliveries:
            try:
                job = await self._admit(delivery)
            except Unavailable as exc:
                log.warning("worker %s: %s left for re-claim: %s", consumer, delivery.id, exc)
                failed = exc
                continue
            if job is not None:
                ready.append((delivery, job))
        if failed is not None and not ready:
            raise failed
        return ready

    async def _admit(self, delivery: Delivery) -> Job | None:
        """The delivery's job if it is to be analysed; else it is dealt with here."""
        try:
            job = await self._decode(delivery.payload)
        except MalformedJob as exc:
            log.error("dead-lettering %s: %s", delivery.id, exc)
            await self.queue.dead_letter(delivery, str(exc))
            return None
        if delivery.attempts > self.config.max_attempts:
            await self._give_up(delivery, job, f"delivered {delivery.attempts} times without an answer (worker died?)")
            return None
        if await self.store.get_result(*job.key) is not None:  # answered before a crash
            await self.queue.ack(delivery)
            await self._announce(event(job, "stored"))
            return None
        return job

    @staticmethod
    async def _decode(payload: bytes) -> Job:
        """:meth:`Job.decode`, off the event loop for a large payload (a 10-minute 12-lead
        recording takes 0.1-0.8 s to decode: on the loop it stalled every request of the
        embedded service, and a worker's claims and lease touches)."""
        if len(payload) < DECODE_INLINE_BYTES:
            return Job.decode(payload)
        return await asyncio.get_running_loop().run_in_executor(None, Job.decode, payload)

    async def _conclude(self, delivery: Delivery, job: Job, result: StoredResult | None, status: str) -> None:
        if result is None:
            await self._retry_or_give_up(delivery, job, status)
            return
        await self._store(delivery, job, status, result)

    async def _touching(self, deliveries: list[Delivery], consumer: str, work: Awaitable[_T]) -> _T:
        toucher = asyncio.create_task(self._touch(deliveries, consumer))
        try:
            return await work
        finally:
            toucher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await toucher

    async def _touch(self, deliveries: list[Delivery], consumer: str) -> None:
        while True:
            await asyncio.sleep(self.config.claim_idle_s / 3)
            for delivery in deliveries:
                with contextlib.suppress(QueueUnavailable):
                    await self.queue.touch(delivery, consumer)

    async def _analyse_ready(self, jobs: list[Job]) -> list[tuple[StoredResult | None, str]]:
        """``(result, status)`` per job: one alone, several in one batched call; when that
        call fails as a whole, each again alone (in turn)."""
        if len(jobs) == 1:
            return [await self._analyse(jobs[0])]
        assert self._executor is not None, "worker not started"
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(
                executor, self._batch_analyser, [j.request for j in jobs], self._settings
            )
        except Exception as exc:  # noqa: BLE001 - isolate: everyone alone
            if isinstance(exc, BrokenProcessPool):
                self._renew_pool(executor, exc)
            log.warning("batch of %d failed (%s: %s); analysing each alone", len(jobs), type(exc).__name__, exc)
            return [await self._analyse(job) for job in jobs]
        return [_result_of(outcome, job) for outcome, job in zip(outcomes, jobs, strict=True)]

    def _renew_pool(self, executor: concurrent.futures.Executor, exc: BaseException) -> None:
        if self._executor is executor:  # one dead analysis process: a new pool, not a dead service
            log.warning("analysis process died (%s); restarting the pool", exc)
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = new_executor(self.config, self.concurrency)

    async def _analyse(self, job: Job) -> tuple[StoredResult | None, str]:
        """``(result, status)``; ``(None, reason)`` when the attempt failed."""
        assert self._executor is not None, "worker not started"
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:  # the analysis' own failures come back as the Outcome; these are the executor's
            outcome = await loop.run_in_executor(executor, outcome_of, self._analyser, job.request, self._settings)
        except BrokenProcessPool as exc:
            self._renew_pool(executor, exc)
            return None, f"analysis process died ({type(exc).__name__})"
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, then reported
            return None, f"{type(exc).__name__}: {exc}"
        return _result_of(outcome, job)

    async def _store(self, delivery: Delivery, job: Job, status: str, result: StoredResult) -> None:
        try:
            await self.store.put_result(job.client_id, job.request.record_id, status, result)
        except StoreUnavailable as exc:
            log.error("storing %s failed: %s; job re-queued", job.request.record_id, exc)
            await self._announce(event(job, "store-error", detail=str(exc)))
            await asyncio.sleep(BACKOFF_S)
            await self._retry_or_give_up(delivery, job, str(exc), outcome="store-error")
            return
        await self.queue.ack(delivery)
        self.metrics.count(status)
        processing_ms = float(result.body.get("processingMs", 0.0)) if result.http_status == 200 else 0.0
        self.metrics.observe((time.time() - job.enqueued_at_s) * 1000.0, processing_ms)
        await self._announce(event(job, "stored"))

    async def _retry_or_give_up(self, delivery: Delivery, job: Job, reason: str, outcome: str = "failed") -> None:
        if delivery.attempts < self.config.max_attempts:
            log.warning("attempt %d of %s failed (%s); re-queued", delivery.attempts, job.request.record_id, reason)
            self.metrics.count("retries")
            await self.queue.retry(delivery)
            return
        await self._give_up(delivery, job, reason, outcome)

    async def _give_up(self, delivery: Delivery, job: Job, reason: str, outcome: str = "failed") -> None:
        log.error("analysis of %s failed after %d attempts: %s", job.request.record_id, delivery.attempts, reason)
        self.metrics.count("failed")
        await self.queue.dead_letter(delivery, reason)
        with contextlib.suppress(StoreUnavailable):
            await self.store.release(*job.key)
        await self._announce(event(job, outcome, detail=reason, attempts=delivery.attempts))

    async def _announce(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(QueueUnavailable):
            await self.queue.publish(message)


def _result_of(outcome: Outcome, job: Job) -> tuple[StoredResult | None, str]:
    """A batch's outcome as :meth:`Worker._analyse` reports it."""
    if outcome.body is not None:
        return StoredResult(200, outcome.body, job.digest), "completed"
    if outcome.unanalysable is not None:
        return _unanalysable(outcome.unanalysable, job)
    return None, outcome.failure or "no outcome"


def _unanalysable(exc: UnanalysableSignal, job: Job) -> tuple[StoredResult, str]:
    """The stored 422 answer of a signal that cannot be analysed."""
    return StoredResult(exc.status, problem_document(exc.status, exc.problem, exc.detail), job.digest), "unanalysable"
