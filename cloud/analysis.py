"""The analysis engine, API side: idempotency, admission, enqueue, wait for the answer.

Flow of one request (after authorisation by :mod:`cloud.app`): the request is serialised
into a :class:`~cloud.jobs.Job` with its digest; the store reserves ``(client id,
recordId)`` (a stored answer is returned at once, a job already pending is joined, the
same ``recordId`` with another recording is a 409 conflict); a new job passes admission
by cost (samples × leads per client, bytes in the queue) and is enqueued. The request
then waits for a completion event from the queue, re-reading the store every
``poll_s`` (events are best effort), until the answer is stored, the job is given up
(500), the store fails (503), or ``timeout_s`` passes (504; the job still finishes and
its answer is stored).

The reservation and the job are two writes to two systems, and a process can die between
them (an API replica killed; an embedded service restarted: SQLite keeps the reservation,
the memory queue starts empty). The invariant that closes this gap: **no request waits on
a reservation unless the queue holds a job for it.** The request that reserved enqueues;
one that finds the key pending asks the queue (:meth:`~cloud.queues.base.JobQueue.holds`)
and, when it holds none, enqueues its own copy of the same recording
(:meth:`~cloud.queues.base.JobQueue.enqueue_once`: at most one job per client, ``recordId``
and digest queued or in flight, checked and appended in one atomic step). A queued job stays
until its answer is stored (ack) or it is given up (dead letter, release, ``failed`` event),
so a retry of a request whose enqueuer died is answered as fast as a first request, and a
retry of a job really queued or running joins it without a second analysis. Each job queued
is charged to the client's cost budget once (a refund when the enqueue added nothing). A
client that only polls ``GET`` learns of the loss from :meth:`AnalysisService.lookup`: a
reservation older than ``stale_after_s`` whose job the queue does not hold is ``"lost"``
(``404 analysis-lost``: send the recording again with the same ``recordId``).

Where the analysis runs: with the embedded ``memory://`` queue, a
:class:`~cloud.worker.Worker` runs inside this process (``config.workers`` at once, in
spawned processes); with ``redis://``, this process is API only and
``cardio-cloud worker`` processes anywhere do the work.

The in-process entry for other server code (the web page) is :func:`submit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from typing import Any, Literal

from aiohttp import web

from cloud.config import CloudConfig
from cloud.errors import AnalysisFailed, AnalysisTimeout, OverCapacity, QueueFull, RequestError, StoreUnavailable
from cloud.errors import Unavailable
from cloud.jobs import Job, queue_key, request_cost
from cloud.metrics import Metrics
from cloud.pipeline import analyse
from cloud.queues import JobQueue, is_external, open_queue
from cloud.ratelimit import RateLimiter
from cloud.stores import Store, StoredResult, open_store
from cloud.validation import AnalysisRequest, parse_request
from cloud.worker import Analyser, Worker, problem_document

log = logging.getLogger(__name__)

#: ``/metrics`` (no token) reads the count of stored answers at most this often: counting
#: is O(answers) in SQLite and PostgreSQL, so one read per request let a stranger keep the store busy
STORED_COUNT_TTL_S = 10.0
#: recordings at least this large are serialised and hashed off the event loop
INLINE_BYTES = 64 * 1024
SERIALISE_THREADS = 2
__all__ = ["AnalysisService", "SERVICE_KEY", "problem_body", "submit"]


def problem_body(exc: RequestError) -> dict[str, Any]:
    """RFC 9457 problem document for a request error."""
    extra: dict[str, Any] = {"errors": exc.errors} if exc.errors else {}
    return problem_document(exc.status, exc.problem, exc.detail, **extra)


class AnalysisService:
    """Store + queue (+ the embedded worker) of one API process.

    Parameters
    ----------
    config : CloudConfig
        Backends (``queue_url``, ``store_url``), limits, timeouts.
    analyser : callable, optional
        The analysis function of the embedded worker (default
        :func:`cloud.pipeline.analyse`; picklable for process executors).
    """

    def __init__(self, config: CloudConfig, *, analyser: Analyser = analyse, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.cost_limiter = RateLimiter(config.client_cost_per_s, int(config.client_cost_burst))
        self._analyser = analyser
        self._store: Store | None = None
        self._queue: JobQueue | None = None
        self.worker: Worker | None = None
        self._waiters: dict[tuple[str, str], set[asyncio.Future[dict[str, Any]]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._cpu = concurrent.futures.ThreadPoolExecutor(SERIALISE_THREADS, thread_name_prefix="serialise")
        self._stored_count: tuple[int, float] | None = None  # (count, monotonic time read)
        self._count_lock = asyncio.Lock()

    @property
    def store(self) -> Store:
        """The result and token store (after :meth:`start`)."""
        assert self._store is not None, "service not started"
        return self._store

    @property
    def queue(self) -> JobQueue:
        """The job queue (after :meth:`start`)."""
        assert self._queue is not None, "service not started"
        return self._queue

    @property
    def in_flight(self) -> int:
        """Jobs analysed right now by the embedded worker (0 when API only)."""
        return self.worker.in_flight if self.worker is not None else 0

    async def start(self) -> None:
        """Connect the backends; start the event listener and, embedded, the worker."""
        cfg = self.config
        self._store = await open_store(cfg.store_url, cfg.data_dir)
        try:
            self._queue = await open_queue(
                cfg.queue_url, max_jobs=cfg.queue_max_jobs, max_bytes=cfg.queue_max_bytes, claim_idle_s=cfg.claim_idle_s
            )
        except BaseException:
            await self._store.close()
            raise
        self._listener = asyncio.create_task(self._listen(), name="completion-events")
        if not is_external(cfg.queue_url):
            self.worker = Worker(
                cfg, self._queue, self._store, concurrency=cfg.workers, analyser=self._analyser, metrics=self.metrics
            )
            await self.worker.start()

    async def stop(self, drain_timeout_s: float | None = None) -> None:
        """Embedded: let the queue drain (up to *drain_timeout_s*, default ``timeout_s``); then close."""
        timeout_s = drain_timeout_s or self.config.timeout_s
        if self.worker is not None:
            deadline = time.monotonic() + timeout_s
            while (await self.queue.stats()).jobs and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            left = (await self.queue.stats()).jobs
            if left:
                log.warning("shutdown: %d job(s) left undrained", left)
            await self.worker.stop(timeout_s=max(0.1, deadline - time.monotonic()))
        for _ in range(40):  # let requests woken by the last answers read them
            if not self._waiters:
                break
            await asyncio.sleep(0.05)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for closing in (self._queue, self._store):
            if closing is not None:
                await closing.close()
        self._cpu.shutdown(wait=False, cancel_futures=True)

    async def _listen(self) -> None:
        async for event in self.queue.events():
            key = (str(event.get("clientId")), str(event.get("recordId")))
            for waiter in self._waiters.get(key, ()):
                if not waiter.done():
                    waiter.set_result(event)

    async def precheck(self, client_id: str) -> None:
        """Early admission, before a body is parsed: refuse at once (OverCapacity) when
        the queue is full of bytes or *client_id* has spent its samples × leads."""
        stats = await self.queue.stats()
        if stats.bytes >= self.config.queue_max_bytes:
            raise OverCapacity(f"queue holds {stats.bytes} of {self.config.queue_max_bytes} bytes", 2.0)
        wait_s = self.cost_limiter.wait_s(client_id, 1.0)
        if wait_s > 0:
            raise OverCapacity("this client's share of samples x leads is spent", wait_s)

    async def submit(self, client_id: str, request: AnalysisRequest) -> StoredResult:
        """Answer *request* for *client_id*: stored, joined or newly analysed.

        Raises
        ------
        RecordConflict, QueueFull, OverCapacity, StoreUnavailable, QueueUnavailable,
        AnalysisFailed, AnalysisTimeout
        """
        job, payload = await self._serialise(client_id, request)
        del request  # from here on only the job holds the samples, and only until it is queued
        reservation = await self.store.reserve(*job.key, job.digest, self.config.stale_after_s)
        if reservation.result is not None:
            self.metrics.count("deduplicated")
            return reservation.result
        reserved = reservation.kind == "new"
        added = await self._ensure_queued(job, payload, reserved=reserved)
        self.metrics.count("accepted" if reserved else "deduplicated")
        if added and not reserved:
            self.metrics.count("requeued")
        key = job.key
        del job, payload  # the queue holds the recording: a waiting request holds only its key
        return await self._wait(key)

    async def submit_unkept(self, client_id: str, request: AnalysisRequest) -> StoredResult:
        """Answer *request* like :meth:`submit`, keeping nothing once it is answered.

        For callers whose answers nobody can ask for again (the web page: no token, a new
        ``recordId`` per form): otherwise every anonymous analysis would stay in the store
        for good. The answer is deleted once read; *client_id*'s answers older than twice
        ``timeout_s`` are deleted too (those of requests that gave up waiting: their job
        finished and stored its answer later; no request still waits for one that old).
        """
        try:
            result = await self.submit(client_id, request)
        finally:
            with contextlib.suppress(StoreUnavailable):
                await self.store.delete_results(client_id, older_than_s=2.0 * self.config.timeout_s)
        with contextlib.suppress(StoreUnavailable):
            await self.store.delete_result(client_id, request.record_id)
        return result

    async def _serialise(self, client_id: str, request: AnalysisRequest) -> tuple[Job, bytes]:
        def make() -> tuple[Job, bytes]:
            job = Job.of(client_id, request)
            return job, job.encode()

        if request.samples_counts.nbytes < INLINE_BYTES:
            return make()
        return await asyncio.get_running_loop().run_in_executor(self._cpu, make)

    async def _ensure_queued(self, job: Job, payload: bytes, *, reserved: bool) -> bool:
        """Make sure the queue holds a job for *job* (see the module docstring); True when
        this call added it.

        The cost (samples × leads) is taken before the enqueue and given back when nothing
        was added: each job queued is paid once, by the request that queued it, and joining
        a job the queue holds is free. When *reserved* (the reservation is this request's),
        a refused enqueue releases it.
        """
        if not reserved and await self.queue.holds(job.queue_key):
            return False  # the common join: queued or running
        cost = request_cost(job.request)
        wait_s = self.cost_limiter.acquire(job.client_id, cost)
        try:
            if wait_s > 0:
                raise OverCapacity(f"this client's share of samples x leads is spent (cost {cost})", wait_s)
            entry_id = await self.queue.enqueue_once(payload, job.queue_key)
        except BaseException as exc:
            if wait_s == 0:
                self.cost_limiter.refund(job.client_id, cost)
            if reserved and isinstance(exc, (QueueFull, Unavailable)):
                with contextlib.suppress(StoreUnavailable):
                    await self.store.release(*job.key)
            raise
        if entry_id is None:  # queued meanwhile by another request for the same recording
            self.cost_limiter.refund(job.client_id, cost)
        return entry_id is not None

    async def _wait(self, key: tuple[str, str]) -> StoredResult:
        """The answer for *key* ``(client id, recordId)``, once stored."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s
        waiters = self._waiters.setdefault(key, set())
        waiter: asyncio.Future[dict[str, Any]] = loop.create_future()
        waiters.add(waiter)
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    self.metrics.count("timeouts")
                    raise AnalysisTimeout(key[1], self.config.timeout_s)
                try:
                    event = await asyncio.wait_for(asyncio.shield(waiter), min(self.config.poll_s, remaining))
                except TimeoutError:
                    event = None
                result = await self._settled(key, event)
                if result is not None:
                    return result
                if event is not None:  # a stale event: wait for the next one
                    waiters.discard(waiter)
                    waiter = loop.create_future()
                    waiters.add(waiter)
        finally:
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(key, None)

    async def _settled(self, key: tuple[str, str], event: dict[str, Any] | None) -> StoredResult | None:
        """The stored answer; raise if the job ended otherwise; None while it runs."""
        outcome = event.get("outcome") if event else None
        if outcome == "store-error":
            raise StoreUnavailable(f"the answer could not be stored ({event.get('detail', '')}); retry later")  # type: ignore[union-attr]
        result = await self.store.get_result(*key)
        if result is not None:
            return result
        if outcome == "failed":
            assert event is not None
            raise AnalysisFailed(key[1], int(event.get("attempts", 0)), str(event.get("detail", "")))
        if not await self.store.is_pending(*key):
            result = await self.store.get_result(*key)  # stored between the two reads
            if result is None:
                raise AnalysisFailed(key[1], self.config.max_attempts, "the job was given up")
        return result

    async def lookup(self, client_id: str, record_id: str) -> StoredResult | Literal["pending", "lost"] | None:
        """The stored answer; ``"pending"`` while a job will answer; ``"lost"`` when the
        reservation is older than ``stale_after_s`` and the queue holds no job for it (its
        enqueuer died, the queue lost it: nothing will answer until the recording is sent
        again); ``None`` when unknown.

        The reads are not one snapshot: a worker stores the answer and ends the pending
        mark in one transaction, then acknowledges the job, so a record no longer pending,
        or whose job is no longer queued, is read again before it is called unknown or lost.
        """
        result = await self.store.get_result(client_id, record_id)
        if result is not None:
            return result
        pending = await self.store.pending(client_id, record_id)
        if pending is None:
            return await self.store.get_result(client_id, record_id)
        if pending.age_s < self.config.stale_after_s:
            return "pending"  # its enqueuer may still be on its way to the queue
        if await self.queue.holds(queue_key(client_id, record_id, pending.digest)):
            return "pending"  # queued behind others, or running
        result = await self.store.get_result(client_id, record_id)
        if result is not None:
            return result
        self.metrics.count("lost")
        return "lost"

    async def stored_results(self) -> int:
        """The number of stored answers, read from the store at most once per
        :data:`STORED_COUNT_TTL_S` (concurrent callers share one read)."""

        def fresh() -> int | None:
            if self._stored_count is None or time.monotonic() - self._stored_count[1] >= STORED_COUNT_TTL_S:
                return None
            return self._stored_count[0]

        cached = fresh()
        if cached is not None:
            return cached
        async with self._count_lock:
            cached = fresh()
            if cached is not None:
                return cached
            count = await self.store.count_results()
            self._stored_count = (count, time.monotonic())
            return count

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, document)``: each backend pinged; queue depth."""
        doc: dict[str, Any] = {"workers": self.worker.concurrency if self.worker else 0}
        healthy = True
        for name, backend in (("store", self._store), ("queue", self._queue)):
            try:
                assert backend is not None, "not started"
                await backend.ping()
                doc[name] = "ok"
            except (Unavailable, AssertionError) as exc:
                healthy, doc[name] = False, str(exc)
        with contextlib.suppress(Unavailable):
            doc["queueDepth"] = (await self.queue.stats()).jobs
        doc["status"] = "ok" if healthy else "unavailable"
        return healthy, doc


SERVICE_KEY = web.AppKey("analysis_service", AnalysisService)


async def submit(app: web.Application, payload: dict[str, Any], *, client: str = "webpage") -> dict[str, Any]:
    """Analyse *payload* (the ``POST /v1/analyses`` JSON form) through *app*'s queue.

    For in-process callers such as the web page: no HTTP, no token, same queue,
    workers, idempotency and result store (under the client id *client*).

    Parameters
    ----------
    app : aiohttp.web.Application
        An application made by :func:`cloud.app.create_app` (started).
    payload : dict
        ``sampleRate``, ``adcGain``, ``baseline``, ``dataI``... as in the API.
    client : str
        Client id the results are stored under.

    Returns
    -------
    dict
        The ``AnalysisResult`` document.

    Raises
    ------
    RequestError
        Invalid payload, unanalysable signal or conflict (``.status``, ``.detail``).
    AnalysisFailed, AnalysisTimeout, QueueFull, Unavailable
        The service could not answer.

    Examples
    --------
    >>> result = await submit(app, {"sampleRate": 300, "adcGain": 1000, "dataI": counts})  # doctest: +SKIP
    >>> result["rhythm"]["category"]  # doctest: +SKIP
    'sinus_rhythm'
    """
    service = app[SERVICE_KEY]
    service.metrics.count("requests")
    request = parse_request(payload)
    result = await service.submit(client, request)
    if result.http_status != 200:
        body = result.body
        raise RequestError(str(body.get("detail", "")), status=result.http_status, problem="unanalysable-signal")
    return result.body
