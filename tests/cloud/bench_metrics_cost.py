"""GET latency of a stored answer while a stranger polls ``/metrics`` (SQLite, 300,000
stored answers). Not a test: the figure in docs/cloud-api.md ("Per-request state").

``STORED_COUNT_TTL_S`` 0 is the old behaviour (one ``COUNT(*)`` per ``/metrics``), 10 is
now; the two arms alternate (paired, same machine load)::

    PYTHONPATH=$PWD .venv/bin/python tests/cloud/bench_metrics_cost.py
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

import cloud.analysis as analysis
from cloud.app import create_app
from cloud.config import CloudConfig
from cloud.stores.sqlite import TokenStore, open_db

STORED = 300_000
POLLERS = 8
GETS = 60


async def _arm(data: Path, token: str, ttl_s: float) -> list[float]:
    analysis.STORED_COUNT_TTL_S = ttl_s
    app = create_app(CloudConfig(data_dir=data, executor="thread", workers=1))
    async with TestClient(TestServer(app)) as http:
        stop = asyncio.Event()

        async def poll() -> None:
            while not stop.is_set():
                await (await http.get("/metrics")).read()

        pollers = [asyncio.create_task(poll()) for _ in range(POLLERS)]
        await asyncio.sleep(0.5)
        latencies = []
        for _ in range(GETS):
            started = time.perf_counter()
            response = await http.get("/v1/analyses/r17", headers={"Authorization": f"Bearer {token}"})
            await response.read()
            assert response.status == 200, response.status
            latencies.append((time.perf_counter() - started) * 1000.0)
        stop.set()
        await asyncio.gather(*pollers)
    return latencies


def _median_gap_ci(old: list[float], new: list[float], draws: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of median(new) - median(old) (resampling each arm's GETs)."""
    rng = random.Random(0)
    gaps = sorted(
        statistics.median(rng.choices(new, k=len(new))) - statistics.median(rng.choices(old, k=len(old)))
        for _ in range(draws)
    )
    return gaps[int(0.025 * draws)], gaps[int(0.975 * draws) - 1]


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 1)[0]
    except OSError:
        return "?"


async def main() -> None:
    data = Path(tempfile.mkdtemp())  # 0700; ~0.5 GB of answers, removed at the end
    try:
        await _bench(data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def _bench(data: Path) -> None:
    conn = open_db(data)
    tokens = TokenStore(conn)
    token = tokens.create("bench")
    client = tokens.client(token)
    assert client is not None
    body = json.dumps({"status": "completed", "padding": "y" * 1500})
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((client.id, f"r{i}", "d", "completed", 200, body, 0.0) for i in range(STORED)),
    )
    conn.execute("COMMIT")
    conn.close()
    results: dict[float, list[float]] = {0.0: [], 10.0: []}
    load_before = _loadavg()
    for rep in range(3):
        for ttl_s in (0.0, 10.0) if rep % 2 == 0 else (10.0, 0.0):
            results[ttl_s] += await _arm(data, token, ttl_s)
    for ttl_s, latencies in results.items():
        p95 = statistics.quantiles(latencies, n=20)[18]
        print(f"STORED_COUNT_TTL_S {ttl_s:>4}: GET of a stored answer, {POLLERS} /metrics pollers: "
              f"median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms (n={len(latencies)})")
    low, high = _median_gap_ci(results[0.0], results[10.0])
    gap = statistics.median(results[10.0]) - statistics.median(results[0.0])
    print(f"median now - before: {gap:.1f} ms, 95 % bootstrap CI [{low:.1f}, {high:.1f}]; "
          f"load average {load_before} -> {_loadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
