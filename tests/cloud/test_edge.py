"""The service's edge (issue 13): limits, timeouts, decoding, headers, logs.

Each test is named after what it protects; the number is the defect in issue 13.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import logging
import time
from typing import Any

import pytest

from cloud import edge
from tests.cloud.conftest import Cloud, CloudFactory


async def _raw(cloud: Cloud, request: bytes, *, read_timeout_s: float = 10.0) -> bytes:
    """Send raw bytes to the test server and read what comes back until it closes or goes quiet."""
    server = cloud.http.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        chunks = []
        try:
            async with asyncio.timeout(read_timeout_s):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)
    finally:
        writer.close()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


class TestWebPageNeverReadsServerFiles:
    """#1: a pasted "/etc/passwd" is CSV text, never a path."""

    @pytest.mark.parametrize("text", ["/etc/passwd", "/dev/zero", "cloud.sqlite", "../../etc/hostname"])
    async def test_path_like_text_is_parsed_as_text(self, cloud: Cloud, text: str) -> None:
        form = {"sampleRate": "300", "adcGain": "1000", "baseline": "0", "csvtext": text}
        response = await cloud.http.post("/analyse", data=form)
        page = await response.text()
        assert response.status == 400
        assert "&lt;text&gt;" in page  # the parser names the pasted text as its source
        assert "root:" not in page and "daemon" not in page and "cannot read file" not in page


class TestBodyLimitsAfterDecompression:
    """#5: a small gzip body that inflates beyond the limit is refused; nothing stalls."""

    async def test_gzip_form_bomb_refused_quickly(self, cloud: Cloud) -> None:
        form = b"sampleRate=300&adcGain=1000&baseline=0&csvtext=" + b"1%0A" * 3_000_000
        bomb = gzip.compress(form)
        assert len(bomb) < 64 * 1024
        started = time.perf_counter()
        response = await cloud.http.post("/analyse", data=bomb, headers={
            "Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"})
        assert response.status == 413
        assert time.perf_counter() - started < 5.0

    async def test_gzip_json_bomb_refused(self, make_cloud: CloudFactory) -> None:
        cloud = await make_cloud(max_body_bytes=64 * 1024)
        body = gzip.compress(b'{"sampleRate": 300, "adcGain": 1000, "dataI": [' + b"0," * 200_000 + b"0]}")
        response = await cloud.http.post("/v1/analyses", data=body, headers={
            **cloud.headers(), "Content-Encoding": "gzip", "Content-Type": "application/json"})
        assert response.status == 413
        assert (await response.json(content_type=None))["type"].endswith("/payload-too-large")

    async def test_large_body_parsed_off_the_event_loop(self, make_cloud: CloudFactory) -> None:
        """A multi-megabyte body is parsed in the parse pool: the loop keeps answering /healthz."""
        cloud = await make_cloud()
        payload = {"sampleRate": 500, "adcGain": 1000, "dataI": [0] * 300_000,
                   **{f: [1] * 300_000 for f in ("dataII", "dataV1", "dataV2", "dataV3", "dataV4")}}
        body = json.dumps(payload).encode()
        calls: list[Any] = []
        pool = cloud.app[edge.PARSE_KEY]
        original = pool.run

        async def spy(func: Any, *args: Any) -> Any:
            calls.append(func.__name__)
            return await original(func, *args)

        pool.run = spy  # type: ignore[method-assign]
        post = asyncio.create_task(cloud.http.post("/v1/analyses", data=io.BytesIO(body), headers={
            **cloud.headers(), "Content-Type": "application/json"}))
        await asyncio.sleep(0)
        health = await cloud.http.get("/healthz")
        assert health.status == 200
        response = await post
        assert response.status in (200, 422)
        assert calls == ["parse_body"]

    async def test_saturated_parse_pool_answers_503_with_retry_after(self) -> None:
        pool = edge.ParsePool("thread", workers=1, max_waiting=0)
        pool.start()
        try:
            import threading

            gate = threading.Event()
            first = asyncio.create_task(pool.run(gate.wait, 5))
            await asyncio.sleep(0.05)
            from aiohttp import web

            with pytest.raises(web.HTTPServiceUnavailable) as info:
                await pool.run(int, "1")
            assert info.value.headers["Retry-After"] == "1"
            gate.set()
            assert await first is True
        finally:
            pool.stop()


class TestStalledUploadsTimeOut:
    """#7: a client that stops mid-body gets 408 and its connection closed."""

    async def test_stalled_body_gets_408_and_close(self, make_cloud: CloudFactory) -> None:
        cloud = await make_cloud(body_timeout_s=0.5)
        head = (f"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"sampleRate\":").encode()
        started = time.perf_counter()
        answer = await _raw(cloud, head, read_timeout_s=5.0)
        assert _status(answer) == 408
        assert time.perf_counter() - started < 4.0

    async def test_stalled_form_gets_408(self, make_cloud: CloudFactory) -> None:
        cloud = await make_cloud(body_timeout_s=0.5)
        head = (b"POST /analyse HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 5000\r\n\r\nsampleRate=3")
        assert _status(await _raw(cloud, head, read_timeout_s=5.0)) == 408

    def test_repeated_server_errors_are_logged_once_per_interval(self, caplog: pytest.LogCaptureFixture) -> None:
        edge.install_log_redaction()
        logger = logging.getLogger("aiohttp.server")
        with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
            for _ in range(500):
                logger.error("Error handling request from %s", "127.0.0.1")
        assert len([r for r in caplog.records if r.name == "aiohttp.server"]) <= 1


class TestClientErrorsAreNot500:
    """#10: inputs that used to raise inside the server get a 4xx problem."""

    async def test_huge_integer_sample_rate(self, cloud: Cloud) -> None:
        body = b'{"sampleRate": ' + b"9" * 400 + b', "adcGain": 1000, "dataI": [0]}'
        response = await cloud.http.post("/v1/analyses", data=body, headers={
            **cloud.headers(), "Content-Type": "application/json"})
        assert response.status == 422
        errors = (await response.json(content_type=None))["errors"]
        assert any(e["field"] == "sampleRate" for e in errors)

    async def test_gzip_header_on_plain_body(self, cloud: Cloud) -> None:
        response = await cloud.http.post("/v1/analyses", data=b'{"sampleRate": 300}', headers={
            **cloud.headers(), "Content-Encoding": "gzip", "Content-Type": "application/json"})
        assert response.status == 400
        assert (await response.json(content_type=None))["type"].endswith("/malformed-body")

    async def test_unknown_content_encoding_refused(self, cloud: Cloud) -> None:
        response = await cloud.http.post("/v1/analyses", data=b"{}", headers={
            **cloud.headers(), "Content-Encoding": "compress", "Content-Type": "application/json"})
        assert response.status == 415

    async def test_parse_process_death_is_503(self) -> None:
        pool = edge.ParsePool("process", workers=1, max_waiting=1)
        pool.start()
        try:
            import os

            from aiohttp import web

            with pytest.raises(web.HTTPServiceUnavailable):
                await pool.run(os._exit, 3)
            assert await pool.run(int, "7") == 7  # a new pool serves the next parse
        finally:
            pool.stop()


class TestRecordIdAndLeads:
    async def test_record_id_with_trailing_newline_refused(self, cloud: Cloud, cinc_payload: Any) -> None:
        """#16: ``re.match`` with ``$`` let "abc\\n" through."""
        status, body = await cloud.post(cinc_payload("A00001", record_id="abc\n", seconds=10))
        assert status == 422
        assert [e["field"] for e in body["errors"]] == ["recordId"]

    async def test_empty_lead_arrays_are_absent_leads(self, cloud: Cloud, cinc_payload: Any) -> None:
        """#17: schema-valid ``[]`` leads beside dataI are accepted as not recorded."""
        payload = cinc_payload("A00001", seconds=10)
        payload.update(dataII=[], dataV1=[])
        status, body = await cloud.post(payload)
        assert status == 200, body


class TestCloudPageHeaders:
    """#23: the cloud web page is not frameable, has a CSP, and is not MIME-sniffed."""

    async def test_page_headers(self, cloud: Cloud) -> None:
        for response in (await cloud.http.get("/"),
                         await cloud.http.post("/analyse", data={"sampleRate": "x"})):
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp

    async def test_api_answers_nosniff(self, cloud: Cloud) -> None:
        response = await cloud.http.get("/healthz")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


class TestDeclaredLengthRefusedBeforeReading:
    """#24: a 40 MB Content-Length is refused from the headers; no 100 Continue for it."""

    async def test_expect_100_continue_refused_with_413(self, cloud: Cloud) -> None:
        head = (f"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 40000000\r\nExpect: 100-continue\r\n\r\n").encode()
        answer = await _raw(cloud, head, read_timeout_s=3.0)
        assert b"100 Continue" not in answer
        assert _status(answer) == 413

    async def test_declared_length_refused_without_reading(self, cloud: Cloud) -> None:
        head = (f"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 40000000\r\n\r\n{").encode()
        started = time.perf_counter()
        answer = await _raw(cloud, head, read_timeout_s=3.0)
        assert _status(answer) == 413
        assert b"Connection: close" in answer
        assert time.perf_counter() - started < 2.5  # closed at once, not after a lingering read

    async def test_form_expect_refused(self, cloud: Cloud) -> None:
        head = (b"POST /analyse HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 40000000\r\nExpect: 100-continue\r\n\r\n")
        answer = await _raw(cloud, head, read_timeout_s=3.0)
        assert b"100 Continue" not in answer and _status(answer) == 413

    async def test_acceptable_body_still_gets_100_continue(self, cloud: Cloud, cinc_payload: Any) -> None:
        body = json.dumps(cinc_payload("A00001", seconds=10)).encode()
        head = (f"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
                "Connection: close\r\n\r\n").encode()
        server = cloud.http.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(head)
            assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 100")
            writer.write(body)
            answer = await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()
        assert b"HTTP/1.1 200" in answer


class TestTokensNeverLogged:
    """#15: bearer tokens and ``?access_token=`` never reach a log line."""

    def test_redaction_of_messages_and_tracebacks(self, caplog: pytest.LogCaptureFixture) -> None:
        edge.install_log_redaction()
        secret = "clk_S3cretTokenValue"
        logger = logging.getLogger("aiohttp.web")
        with caplog.at_level(logging.INFO):
            try:
                raise ValueError(f"Got more than 8190 bytes when reading: b'Bearer {secret}xxxx'")
            except ValueError:
                logger.exception("Error handling request %s", f"GET /x?access_token={secret}")
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert secret not in text and "[redacted]" in text

    async def test_access_log_has_no_query(self, cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            await cloud.http.get("/v1/analyses/x?access_token=SECRET42", headers=cloud.headers())
        lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
        assert lines and all("SECRET42" not in ln and cloud.token not in ln for ln in lines)
