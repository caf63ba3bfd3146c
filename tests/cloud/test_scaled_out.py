"""The scaled-out service against real Redis and PostgreSQL: ``cardio-cloud serve``
replicas and ``cardio-cloud worker`` processes, killed and restarted (issue 12 guarantees)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cloud.devservers import free_port

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cloud.cli"]
START_S = 120.0
FREEZE_ATTEMPTS = 5  # tries at freezing a worker mid-job (see _freeze_mid_job)


def _call(url: str, body: Any = None, token: str | None = None, timeout_s: float = 60) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


class Cluster:
    """Processes of one scaled-out service (Redis queue, PostgreSQL store)."""

    def __init__(self, tmp: Path, queue_url: str, store_url: str) -> None:
        self.tmp, self.queue_url, self.store_url = tmp, queue_url, store_url
        self.env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: dict[str, int] = {}  # base URL -> index in procs
        self.token = self._create_token()

    def _create_token(self) -> str:
        """A token from ``cardio-cloud token create``, retried while the store is unavailable.

        The command connects once with a 3-s bound (``CONNECT_TIMEOUT_S``); on a loaded 2-core
        machine a starved handshake can pass it, and the command then fails, rightly, with a
        one-line "store unavailable". Setup waits for the token (a new name per attempt: a
        timed-out attempt may have stored its token), up to ``START_S``.
        """
        deadline, attempt = time.monotonic() + START_S, 0
        while True:
            run = subprocess.run([*CLI, "token", "create", f"t{attempt}", "--store", self.store_url],
                                 env=self.env, capture_output=True, text=True, timeout=START_S)
            if run.returncode == 0:
                return run.stdout.strip()
            assert "unavailable" in run.stderr and time.monotonic() < deadline, run.stderr
            attempt += 1
            time.sleep(0.5)

    def _spawn(self, *args: str, index: int | None = None) -> subprocess.Popen[bytes]:
        """Start ``cardio-cloud ARGS`` as process *index* (a new one by default)."""
        i = len(self.procs) if index is None else index
        log = open(self.tmp / f"proc{i}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([*CLI, *args, "--queue", self.queue_url, "--store", self.store_url],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if index is None:
            self.procs.append(proc)
        else:
            self.procs[i] = proc
        return proc

    def serve(self, *extra: str) -> str:
        port = free_port()
        self._spawn("serve", "--port", str(port), *extra)
        base = f"http://127.0.0.1:{port}"
        self.servers[base] = len(self.procs) - 1
        return base

    def worker(self, *extra: str) -> subprocess.Popen[bytes]:
        return self._spawn("worker", "--executor", "thread", "--claim-idle", "2", *extra)

    def log(self, i: int) -> str:
        """The output of process *i* so far."""
        return (self.tmp / f"proc{i}.log").read_text(errors="replace")

    def logs(self) -> str:
        """Every process's command line and output (the report of a failed test shows it)."""
        return "\n".join(f"--- proc{i}: {' '.join(map(str, p.args[3:]))} (exit {p.poll()})\n{self.log(i)}"  # type: ignore[index]
                         for i, p in enumerate(self.procs))

    def _alive(self, i: int, what: str) -> None:
        """Fail with *what*'s output if process *i* exited; one that exited because a backend
        was unavailable (its 3-s connect, starved on a loaded machine) is started again."""
        if self.procs[i].poll() is None:
            return
        last = (self.log(i).strip().splitlines() or [""])[-1]
        assert last.startswith("cardio-cloud: ") and " unavailable: " in last, f"{what} exited at start:\n{self.log(i)}"
        self._spawn(*map(str, self.procs[i].args[3:-4]), index=i)  # type: ignore[index]

    def wait_workers(self) -> None:
        """Until every worker started has said it claims (imports take seconds here)."""
        deadline = time.monotonic() + START_S
        for i, proc in enumerate(self.procs):
            if proc.args[3] != "worker":  # type: ignore[index]
                continue
            while " at once on " not in self.log(i):
                self._alive(i, "worker")
                assert time.monotonic() < deadline, f"worker did not start:\n{self.log(i)}"
                time.sleep(0.1)

    def wait_ready(self, *bases: str) -> None:
        deadline = time.monotonic() + START_S
        for base in bases:
            i = self.servers[base]
            while True:
                try:
                    if _call(base + "/healthz", timeout_s=2)[0] == 200:
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                self._alive(i, base)
                assert time.monotonic() < deadline, f"{base} did not start:\n{self.log(i)}"
                time.sleep(0.2)

    def post(self, base: str, payload: Any, **kw: Any) -> tuple[int, Any, dict[str, str]]:
        return _call(base + "/v1/analyses", payload, self.token, **kw)

    def get(self, base: str, record_id: str) -> tuple[int, Any, dict[str, str]]:
        return _call(f"{base}/v1/analyses/{record_id}", None, self.token)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(self.logs())  # pytest shows it in the report of a failed test


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str, postgres_url: str) -> Iterator[Cluster]:
    made = Cluster(tmp_path, redis_url, postgres_url)
    yield made
    made.close()


def _pending_consumers(redis_url: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [str(c["name"]) for c in client.xinfo_consumers("cardio:jobs", "workers") if int(c["pending"]) > 0]
    finally:
        client.close()


class TestScaledOut:
    def test_killed_worker_job_is_reclaimed_and_answered_once(self, cluster: Cluster, cinc_payload: Any) -> None:
        base = cluster.serve("--timeout", "90")
        doomed = cluster.worker()
        cluster.wait_ready(base)
        for attempt in range(FREEZE_ATTEMPTS):
            payload = cinc_payload("A00001", record_id=f"reclaim-{attempt}")
            answer: list[Any] = []
            poster = threading.Thread(target=lambda p=payload, a=answer: a.append(cluster.post(base, p, timeout_s=120)))
            poster.start()
            if _freeze_mid_job(cluster, doomed, poster) and cluster.get(base, f"reclaim-{attempt}")[0] == 202:
                break  # frozen mid-job ...
            doomed.send_signal(signal.SIGCONT)  # it finished first: the test proves nothing, again
            poster.join(timeout=150)
        else:
            pytest.fail(f"the worker finished before it was frozen, {FREEZE_ATTEMPTS} times")
        print(f"frozen mid-job at attempt {attempt + 1}")
        doomed.kill()  # ... and killed -9
        cluster.worker()
        poster.join(timeout=150)
        status, body, _ = answer[0]
        assert status == 200 and body["recordId"] == f"reclaim-{attempt}", body
        assert cluster.post(base, payload)[:2] == (200, body)  # the one stored answer
        client = redis.Redis.from_url(cluster.queue_url)
        assert client.xlen("cardio:dead") == 0 and client.xlen("cardio:jobs") == 0
        client.close()

    def test_killed_api_replica_the_other_goes_on_and_retry_gets_the_answer(
        self, cluster: Cluster, cinc_payload: Any
    ) -> None:
        first, second = cluster.serve("--timeout", "90"), cluster.serve("--timeout", "90")
        cluster.worker()
        cluster.wait_ready(first, second)
        cluster.wait_workers()
        payload = cinc_payload("A00001", record_id="replica-1")
        threading.Thread(target=lambda: _swallow(cluster.post, first, payload), daemon=True).start()
        deadline = time.monotonic() + 30
        while cluster.get(second, "replica-1")[0] == 404:  # accepted by the first replica
            assert time.monotonic() < deadline
            time.sleep(0.01)
        cluster.procs[0].kill()  # kill -9 the replica holding the request
        status, body, _ = cluster.post(second, payload)  # the client's retry through the other one
        assert status == 200 and body["recordId"] == "replica-1"
        assert cluster.post(second, cinc_payload("A00002", record_id="replica-2"))[0] == 200

    def test_redis_restart_loses_nothing_acknowledged(self, cluster: Cluster, redis_server: Any, cinc_payload: Any) -> None:
        base = cluster.serve("--timeout", "1")
        cluster.wait_ready(base)
        ids = [f"aof-{i}" for i in range(3)]
        for rid in ids:  # accepted (enqueued), nobody works: 504 after 1 s, the job is kept
            assert cluster.post(base, cinc_payload("A00001", record_id=rid))[0] == 504
        redis_server.kill()
        status, body, headers = cluster.post(base, cinc_payload("A00001", record_id="during"))
        assert status == 503 and body["type"].endswith("-unavailable") and "Retry-After" in headers
        redis_server.restart()
        cluster.worker()
        deadline = time.monotonic() + START_S
        for rid in ids:
            while (answer := cluster.get(base, rid))[0] != 200:
                assert answer[0] == 202 and time.monotonic() < deadline, answer
                time.sleep(0.2)

    def test_store_down_answers_503_then_retry_succeeds(
        self, cluster: Cluster, postgres_server: Any, cinc_payload: Any
    ) -> None:
        base = cluster.serve("--timeout", "90")
        cluster.worker()
        cluster.wait_ready(base)
        cluster.wait_workers()
        payload = cinc_payload("A00001", record_id="pg-1")
        postgres_server.stop()
        try:
            started = time.monotonic()
            status, body, headers = cluster.post(base, payload)
            assert status == 503 and int(headers["Retry-After"]) >= 1, body
            assert time.monotonic() - started < 15  # never a hang
            health = _call(base + "/healthz")
            assert health[0] == 503 and health[1]["store"] != "ok"
        finally:
            postgres_server.restart()
        deadline = time.monotonic() + 60
        while (answer := cluster.post(base, payload))[0] != 200:  # the client retries later
            assert answer[0] == 503 and time.monotonic() < deadline, answer
            time.sleep(1)
        assert answer[1]["recordId"] == "pg-1"


def _freeze_mid_job(cluster: Cluster, worker: subprocess.Popen[bytes], poster: threading.Thread) -> bool:
    """SIGSTOP *worker* once it holds the job (claimed, not acknowledged); False when the
    answer came first. The worker needs only tens of ms for the job: a test process starved
    on a loaded machine can see the claim late, or never, so the caller tries again."""
    deadline = time.monotonic() + START_S
    while not _pending_consumers(cluster.queue_url):
        if not poster.is_alive():
            return False
        assert time.monotonic() < deadline, f"the job was never claimed:\n{cluster.logs()}"
        time.sleep(0.005)
    worker.send_signal(signal.SIGSTOP)
    return True


def _swallow(func: Any, *args: Any) -> None:
    try:
        func(*args)
    except Exception:  # noqa: BLE001 - the replica is killed under this request
        pass


class TestHarness:
    def test_a_replica_whose_store_connect_is_starved_is_started_again(
        self, cluster: Cluster, postgres_server: Any
    ) -> None:
        """A stopped postmaster accepts no connection: the replica's 3-s connect fails as it
        does on a starved machine; readiness restarts it (and only for that reason)."""
        postmaster = int((postgres_server.folder / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)
        try:
            base = cluster.serve()
            cluster.procs[-1].wait(timeout=START_S)
        finally:
            os.kill(postmaster, signal.SIGCONT)
        assert "store unavailable: " in cluster.log(len(cluster.procs) - 1)
        cluster.wait_ready(base)
        assert cluster.get(base, "none")[0] == 404


class TestStartup:
    def test_unreachable_backends_are_one_line_errors(self, tmp_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        dead = f"127.0.0.1:{free_port()}"
        for args in (["serve", "--queue", f"redis://{dead}/0"], ["token", "list", "--store", f"postgresql://x@{dead}/db"]):
            run = subprocess.run([*CLI, *args, "--data", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == 1 and run.stderr.count("\n") == 1 and "unavailable" in run.stderr, run.stderr
