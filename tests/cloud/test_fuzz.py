"""schemathesis against /openapi.json: thousands of generated requests, no 5xx, no
response outside the documented schema, invalid input always rejected with 4xx.

The service (real analysis pipeline, thread workers) runs on a loopback port in a
background thread; the test is synchronous (schemathesis drives hypothesis).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.config import CloudConfig
from cloud.openapi import openapi_document

#: hypothesis examples for POST /v1/analyses, and for each other operation
POST_EXAMPLES = 1600
OTHER_EXAMPLES = 150

schema = schemathesis.openapi.from_dict(openapi_document(CloudConfig(data_dir=Path("."))))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
post_schema = schema.include(method="POST")
other_schema = schema.exclude(method="POST")

#: requests sent per operation (checked by the last test)
SENT: dict[str, int] = {}

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


class _Server:
    """The service on 127.0.0.1 in its own thread and event loop."""

    def __init__(self, data_dir: Path) -> None:
        from cloud.storage import TokenStore, open_db

        conn = open_db(data_dir)
        self.token = TokenStore(conn).create("fuzzer")
        conn.close()
        self.config = CloudConfig(data_dir=data_dir, executor="thread", workers=2, rate_per_s=1e6, burst=1_000_000)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.base_url = ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.session = requests.Session()  # keep-alive across the generated requests

    def _run(self) -> None:
        from aiohttp import web

        from cloud.app import create_app

        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(create_app(self.config))
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        self.session.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    with tempfile.TemporaryDirectory() as tmp:
        srv = _Server(Path(tmp))
        srv.thread.start()
        assert srv.ready.wait(20), "server did not start"
        yield srv
        srv.stop()


_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True, "database": None}


def _call(case: schemathesis.Case, server: _Server) -> None:
    SENT[f"{case.method} {case.path}"] = SENT.get(f"{case.method} {case.path}", 0) + 1
    case.call_and_validate(
        base_url=server.base_url,
        session=server.session,
        headers={"Authorization": f"Bearer {server.token}"},
        checks=CHECKS,
        timeout=30,
    )


@post_schema.parametrize()
@settings(max_examples=POST_EXAMPLES, **_SETTINGS)
def test_post_analyses_conforms(case: schemathesis.Case, server: _Server) -> None:
    _call(case, server)


@other_schema.parametrize()
@settings(max_examples=OTHER_EXAMPLES, **_SETTINGS)
def test_other_operations_conform(case: schemathesis.Case, server: _Server) -> None:
    _call(case, server)


def test_fuzz_volume(server: _Server) -> None:
    """Runs after the fuzzing above (file order): thousands of requests were sent, and
    some reached the real analysis pipeline."""
    counts = server.session.get(server.base_url + "/metrics", timeout=10).json()["counts"]
    print(f"schemathesis requests per operation: {SENT}; server counts: {counts}")
    assert counts["completed"] + counts["unanalysable"] >= 1, counts
    assert counts["failed"] == 0, counts
    assert sum(SENT.values()) >= 2000, str(SENT)
    assert SENT.get("POST /v1/analyses", 0) >= 1600, str(SENT)
