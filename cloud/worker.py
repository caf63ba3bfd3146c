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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cloud.config import CloudConfig
from cloud.errors import MalformedJob, QueueUnavailable, StoreUnavailable, UnanalysableSignal, Unavailable
from cloud.jobs import Job
from cloud.metrics import Metrics
from cloud.pipeline import PipelineSettings, analyse, warm_up
from cloud.queues.base import Delivery, JobQueue
from cloud.stores.base import Store, StoredResult
from cloud.validation import AnalysisRequest

log = logging.getLogger(__name__)
Analyser = Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]]
#: pause after a backend failure before claiming again
BACKOFF_S = 0.5


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
        metrics: Metrics | None = None,
    ) -> None:
        self.config, self.queue, self.store = config, queue, store
        self.concurrency = concurrency
        self.metrics = metrics or Metrics()
        self.name = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._analyser = analyser
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
                    await self._handle(delivery, consumer)
            except Unavailable as exc:
                log.warning("worker %s: %s; retrying in %.1f s", consumer, exc, BACKOFF_S)
                await asyncio.sleep(BACKOFF_S)
            except Exception:  # a bug here must not kill the loop
                log.exception("worker %s: unexpected error", consumer)
                await asyncio.sleep(BACKOFF_S)

    async def _handle(self, delivery: Delivery, consumer: str) -> None:
        try:
            job = Job.decode(delivery.payload)
        except MalformedJob as exc:
            log.error("dead-lettering %s: %s", delivery.id, exc)
            await self.queue.dead_letter(delivery, str(exc))
            return
        if delivery.attempts > self.config.max_attempts:
            await self._give_up(delivery, job, f"delivered {delivery.attempts} times without an answer (worker died?)")
            return
        if await self.store.get_result(*job.key) is not None:  # answered before a crash
            await self.queue.ack(delivery)
            await self._announce(event(job, "stored"))
            return
        self.in_flight += 1
        try:
            result, status = await self._analyse_touching(delivery, consumer, job)
        finally:
            self.in_flight -= 1
        if result is None:
            await self._retry_or_give_up(delivery, job, status)
            return
        await self._store(delivery, job, status, result)

    async def _analyse_touching(
        self, delivery: Delivery, consumer: str, job: Job
    ) -> tuple[StoredResult | None, str]:
        toucher = asyncio.create_task(self._touch(delivery, consumer))
        try:
            return await self._analyse(job)
        finally:
            toucher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await toucher

    async def _touch(self, delivery: Delivery, consumer: str) -> None:
        while True:
            await asyncio.sleep(self.config.claim_idle_s / 3)
            with contextlib.suppress(QueueUnavailable):
                await self.queue.touch(delivery, consumer)

    async def _analyse(self, job: Job) -> tuple[StoredResult | None, str]:
        """``(result, status)``; ``(None, reason)`` when the attempt failed."""
        assert self._executor is not None, "worker not started"
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(executor, self._analyser, job.request, self._settings)
        except UnanalysableSignal as exc:
            return StoredResult(exc.status, problem_document(exc.status, exc.problem, exc.detail), job.digest), "unanalysable"
        except BrokenProcessPool as exc:
            if self._executor is executor:  # one dead analysis process: a new pool, not a dead service
                log.warning("analysis process died (%s); restarting the pool", exc)
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = new_executor(self.config, self.concurrency)
            return None, f"analysis process died ({type(exc).__name__})"
        except Exception as exc:  # noqa: BLE001 - any analysis failure is retried, then reported
            return None, f"{type(exc).__name__}: {exc}"
        return StoredResult(200, body, job.digest), "completed"

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
