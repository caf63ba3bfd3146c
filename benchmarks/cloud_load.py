"""Load benchmark of the cloud analysis service (``cardio-cloud serve``) on loopback.

The service runs in its own process (``python -m cloud.cli serve``, process workers);
this script is the separate client process. Real records are sent with a fresh
``recordId`` each (no deduplication):

- single lead: 30-s CinC 2017 records (300 Hz, ``dataI`` only);
- 12 leads: 10-s LUDB records (500 Hz, all twelve leads).

Two modes per kind, both bounded in time and count:

- fixed offered load: requests started at a constant rate (open loop), so latency is
  measured without the client slowing down when the server does;
- saturation: ``--concurrency`` requests always in flight (closed loop): throughput.

It also reads the CPU time of the server's process tree (Linux ``/proc``) around each
mode: CPU ms per record, and from it the throughput the server could reach with every
core to itself — a figure that holds when the machine is shared.

Scaled out (``--scaled 1,2``): Redis and PostgreSQL are started from the Debian packages
(:mod:`cloud.devservers`), then two API-only ``serve`` replicas and N ``cardio-cloud
worker`` processes (one analysis at a time each, in the worker process); the client
alternates between the replicas, keeps ``--concurrency`` single-lead requests in flight
and reports throughput, p50/p99 and CPU per record (workers, API replicas, Redis and
PostgreSQL separately) for each N.

Usage::

    nice -n 10 .venv/bin/python benchmarks/cloud_load.py            # defaults
    .venv/bin/python benchmarks/cloud_load.py --scaled 1,2 --duration-s 20 --concurrency 8
    .venv/bin/python benchmarks/cloud_load.py --duration-s 5 --rate 20 --rate12 4 --json out.json
    nice -n 10 .venv/bin/python benchmarks/cloud_load.py --batch-max 1   # workers without batched analysis

Data: ``--data DIR`` (default ``$CARDIOLINK_DATA`` or ``../shared/data``); without it the
committed fixtures in ``tests/fixtures/cinc2017`` are used for single-lead records and
12-lead records are built from them (a note is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import wfdb

REPO = Path(__file__).resolve().parents[1]
#: answers that shed load by design (edge parse backlog, full queue, cost admission, rate limit)
_SHED_STATUSES = (429, 503)
LEAD_FIELDS = ["dataI", "dataII", "dataIII", "dataAVR", "dataAVL", "dataAVF"] + [f"dataV{i}" for i in range(1, 7)]


@dataclass
class Outcome:
    kind: str
    mode: str
    offered_per_s: float | None
    concurrency: int | None
    sent: int
    ok: int
    errors: int
    shed: int  # of the errors: 503/429 answers, the service refusing work it has no room for (Retry-After)
    duration_s: float
    throughput_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_cpu_ms_per_record: float | None = None


def _data_dir(arg: str | None) -> Path | None:
    path = Path(arg or os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


def _counts(path: Path) -> tuple[np.ndarray, float, list[float], list[int]]:
    rec = wfdb.rdrecord(str(path), physical=False)
    return np.asarray(rec.d_signal), float(rec.fs), [float(g) for g in rec.adc_gain], [int(b) for b in rec.baseline]


def single_lead_bodies(data: Path | None, n: int) -> list[dict[str, Any]]:
    folder = data / "cinc2017" if data else REPO / "tests" / "fixtures" / "cinc2017"
    paths = sorted(p.with_suffix("") for p in folder.rglob("*.hea"))
    bodies = []
    for path in paths:
        counts, fs, gain, base = _counts(path)
        if counts.shape[0] < 30 * fs:
            continue
        bodies.append({"sampleRate": fs, "adcGain": gain[0], "baseline": base[0], "dataI": counts[: int(30 * fs), 0].tolist()})
        if len(bodies) == n:
            break
    return bodies


def twelve_lead_bodies(data: Path | None, n: int) -> list[dict[str, Any]]:
    folder = data / "ludb" if data else None
    bodies: list[dict[str, Any]] = []
    if folder is not None and folder.is_dir():
        for hea in sorted(folder.rglob("*.hea"))[:n]:
            counts, fs, gain, base = _counts(hea.with_suffix(""))
            body: dict[str, Any] = {"sampleRate": fs, "adcGain": 1000.0, "baseline": 0}
            for j, field in enumerate(LEAD_FIELDS):  # one gain for all leads in the API: rescale
                mv = (counts[: int(10 * fs), j] - base[j]) / gain[j]
                body[field] = np.round(mv * 1000.0).astype(int).tolist()
            bodies.append(body)
        return bodies
    print("note: no LUDB folder; 12-lead bodies are built from single-lead fixtures", file=sys.stderr)
    for single in single_lead_bodies(None, n):
        fs = single["sampleRate"]
        lead = np.asarray(single.pop("dataI")[: int(10 * fs)])
        scales = np.linspace(-1.2, 1.3, 12)
        bodies.append({**single, **{f: np.round(lead * s).astype(int).tolist() for f, s in zip(LEAD_FIELDS, scales)}})
    return bodies


class Templates:
    """Pre-encoded JSON bodies; each request only splices in a fresh recordId."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self._parts = []
        for body in bodies:
            text = json.dumps({**body, "recordId": "@@ID@@"})
            head, tail = text.split("@@ID@@")
            self._parts.append((head.encode(), tail.encode()))
        self._i = 0

    def next(self) -> bytes:
        head, tail = self._parts[self._i % len(self._parts)]
        self._i += 1
        return head + uuid.uuid4().hex.encode() + tail


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, latencies: list[float], errors: list[int]) -> None:
    start = time.perf_counter()
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            await response.read()
            if response.status != 200:
                errors.append(response.status)
                return
    except (aiohttp.ClientError, asyncio.TimeoutError):
        errors.append(-1)
        return
    latencies.append((time.perf_counter() - start) * 1000.0)


def _outcome(kind: str, mode: str, latencies: list[float], errors: list[int], elapsed_s: float, **kw: Any) -> Outcome:
    lat = np.asarray(latencies) if latencies else None
    pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if lat is not None else (lambda q: None)
    return Outcome(
        kind=kind, mode=mode, sent=len(latencies) + len(errors), ok=len(latencies), errors=len(errors),
        shed=sum(status in _SHED_STATUSES for status in errors),
        duration_s=round(elapsed_s, 2), throughput_per_s=round(len(latencies) / elapsed_s, 1),
        p50_ms=pct(50), p90_ms=pct(90), p99_ms=pct(99), max_ms=None if lat is None else round(float(lat.max()), 1),
        **kw,
    )


async def fixed_rate(session: aiohttp.ClientSession, url: str, templates: Templates, kind: str,
                     rate_per_s: float, duration_s: float, max_requests: int) -> Outcome:
    latencies: list[float] = []
    errors: list[int] = []
    tasks = []
    start = time.perf_counter()
    n = min(max_requests, int(rate_per_s * duration_s))
    for i in range(n):
        delay = start + i / rate_per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(session, url, templates.next(), latencies, errors)))
    await asyncio.gather(*tasks)
    return _outcome(kind, "fixed", latencies, errors, time.perf_counter() - start, offered_per_s=rate_per_s, concurrency=None)


async def saturation(session: aiohttp.ClientSession, url: str, templates: Templates, kind: str,
                     concurrency: int, duration_s: float, max_requests: int) -> Outcome:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    budget = [max_requests]

    async def loop() -> None:
        while time.perf_counter() - start < duration_s and budget[0] > 0:
            budget[0] -= 1
            await _one(session, url, templates.next(), latencies, errors)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return _outcome(kind, "saturation", latencies, errors, time.perf_counter() - start, offered_per_s=None, concurrency=concurrency)


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by *pid* and its descendants (Linux /proc)."""
    try:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    text = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                fields = text[text.rindex(")") + 2 :].split()
                stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])))
    except OSError:
        return None
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in stats.items():
            if ppid == parent and child not in family:
                family.add(child)
                frontier.append(child)
    ticks = sum(stats[p][1] for p in family if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int, workers: int, batch_max: int = 8) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    token = subprocess.run(
        [sys.executable, "-m", "cloud.cli", "token", "create", "bench", "--data", str(data_dir)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud.cli", "serve", "--port", str(port), "--data", str(data_dir),
         "--workers", str(workers), "--executor", "process", "--rate", "1000000", "--burst", "1000000",
         "--cost-rate", "1e12", "--cost-burst", "1e12",
         "--batch-max", str(batch_max)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return proc, token


async def wait_ready(base: str, timeout_s: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() < deadline:
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


async def run(args: argparse.Namespace) -> list[Outcome]:
    data = _data_dir(args.data)
    kinds = {
        "single-lead 30 s": (Templates(single_lead_bodies(data, 40)), args.rate),
        "12-lead 10 s": (Templates(twelve_lead_bodies(data, 20)), args.rate12),
    }
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc, token = start_server(Path(tmp), port, args.workers, args.batch_max)
        base = f"http://127.0.0.1:{port}"
        outcomes = []
        try:
            await wait_ready(base)
            timeout = aiohttp.ClientTimeout(total=60)
            connector = aiohttp.TCPConnector(limit=max(args.concurrency, 64))
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers=headers) as session:
                url = base + "/v1/analyses"
                for kind, (templates, rate) in kinds.items():
                    for _ in range(3):  # warm-up: worker processes import and load the model
                        await _one(session, url, templates.next(), [], [])
                    for mode in ("fixed", "saturation"):
                        cpu_before = tree_cpu_s(proc.pid)
                        if mode == "fixed":
                            outcome = await fixed_rate(session, url, templates, kind, rate, args.duration_s, args.max_requests)
                        else:
                            outcome = await saturation(
                                session, url, templates, kind, args.concurrency, args.duration_s, args.max_requests
                            )
                        cpu_after = tree_cpu_s(proc.pid)
                        if cpu_before is not None and cpu_after is not None and outcome.ok:
                            outcome.server_cpu_ms_per_record = round((cpu_after - cpu_before) * 1000 / outcome.ok, 1)
                        outcomes.append(outcome)
                    print(_table(outcomes[-2:]), flush=True)
                async with session.get(base + "/metrics") as response:
                    metrics = await response.json()
                print("server /metrics processingMs:", metrics["processingMs"], file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return outcomes


async def run_scaled(args: argparse.Namespace, n_workers: int) -> dict[str, Any]:
    """2 API replicas + *n_workers* workers on fresh Redis + PostgreSQL; saturation."""
    from cloud.devservers import PostgresServer, RedisServer

    templates = Templates(single_lead_bodies(_data_dir(args.data), 40))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "cloud.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="cardio-bench-"))
    redis_server = RedisServer.start(tmp / "redis")
    postgres = PostgresServer.start(tmp / "pg")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        backends = ["--queue", redis_server.url, "--store", postgres.create_database("bench")]
        token = subprocess.run([*cli, "token", "create", "bench", *backends[2:]], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        bases = []
        for _ in range(2):
            port = _free_port()
            procs.append(subprocess.Popen([*cli, "serve", "--port", str(port), *backends, "--rate", "1e6", "--burst",
                                           "1000000", "--cost-rate", "1e12", "--cost-burst", "1e12"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bases.append(f"http://127.0.0.1:{port}")
        workers = [subprocess.Popen([*cli, "worker", *backends, "--executor", "thread", "--concurrency", "1",
                                     "--batch-max", str(args.batch_max)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(n_workers)]
        procs += workers
        for base in bases:
            await wait_ready(base, timeout_s=180)
        timeout = aiohttp.ClientTimeout(total=120)
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            for i in range(2 * n_workers + 2):  # warm-up: every worker imports and loads the model
                await asyncio.gather(*(_one(session, b + "/v1/analyses", templates.next(), [], []) for b in bases))
            groups = {"workers": [w.pid for w in workers], "api": [p.pid for p in procs[:2]],
                      "redis": [redis_server.process.pid] if redis_server.process else [],
                      "postgres": [int((postgres.folder / "data" / "postmaster.pid").read_text().split()[0])]}
            before = {k: sum(tree_cpu_s(p) or 0.0 for p in pids) for k, pids in groups.items()}
            latencies: list[float] = []
            errors: list[int] = []
            start = time.perf_counter()
            budget = [args.max_requests]

            async def loop(j: int) -> None:
                while time.perf_counter() - start < args.duration_s and budget[0] > 0:
                    budget[0] -= 1
                    await _one(session, bases[(j + budget[0]) % 2] + "/v1/analyses", templates.next(), latencies, errors)

            await asyncio.gather(*(loop(j) for j in range(args.concurrency)))
            outcome = _outcome("single-lead 30 s", f"scaled N={n_workers}", latencies, errors,
                               time.perf_counter() - start, offered_per_s=None, concurrency=args.concurrency)
            after = {k: sum(tree_cpu_s(p) or 0.0 for p in pids) for k, pids in groups.items()}
        cpu = {k: round((after[k] - before[k]) * 1000 / max(outcome.ok, 1), 1) for k in groups}
        return {"workers": n_workers, "outcome": asdict(outcome), "cpu_ms_per_record": cpu}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        postgres.stop()
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _table(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        load = f"{o.offered_per_s:g}/s offered" if o.offered_per_s else f"{o.concurrency} in flight"
        lines.append(
            f"{o.kind:<17} {o.mode:<10} {load:<15} ok {o.ok:>5}/{o.sent:<5} {o.throughput_per_s:>6.1f} rec/s"
            + (f" (shed {o.shed}, other errors {o.errors - o.shed})" if o.errors else "")
            + f"  p50 {o.p50_ms} ms  p99 {o.p99_ms} ms  max {o.max_ms} ms"
            + (f"  server CPU {o.server_cpu_ms_per_record} ms/rec" if o.server_cpu_ms_per_record else "")
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="dataset folder (default $CARDIOLINK_DATA or ../shared/data)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server worker processes")
    parser.add_argument("--rate", type=float, default=20.0, help="offered single-lead records/s (fixed mode)")
    parser.add_argument("--rate12", type=float, default=5.0, help="offered 12-lead records/s (fixed mode)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (saturation mode)")
    parser.add_argument("--duration-s", type=float, default=10.0, help="time per mode and kind")
    parser.add_argument("--max-requests", type=int, default=2000, help="requests per mode and kind at most")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    parser.add_argument("--batch-max", type=int, default=8,
                        help="the workers' --batch-max (1: one job per claim, no batched analysis)")
    parser.add_argument("--scaled", help="comma-separated worker counts: 2 API replicas + N workers on Redis + PostgreSQL")
    args = parser.parse_args()
    if args.scaled:
        results = [asyncio.run(run_scaled(args, int(n))) for n in args.scaled.split(",")]
        for r in results:
            o = r["outcome"]
            print(f"2 API + {r['workers']} worker(s): ok {o['ok']}/{o['sent']} {o['throughput_per_s']} rec/s "
                  f"p50 {o['p50_ms']} ms p99 {o['p99_ms']} ms  CPU ms/record {r['cpu_ms_per_record']}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    outcomes = asyncio.run(run(args))
    print(f"\nserver: {args.workers} worker process(es) on {os.cpu_count()} cores, --batch-max {args.batch_max}")
    print(_table(outcomes))
    for o in outcomes:
        if o.mode == "saturation" and o.server_cpu_ms_per_record:
            capacity = (os.cpu_count() or 1) * 1000.0 / o.server_cpu_ms_per_record
            print(f"{o.kind}: server CPU {o.server_cpu_ms_per_record} ms per record -> at most "
                  f"{capacity:.0f} rec/s if the server had all {os.cpu_count()} cores to itself")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
