"""Issue 13's reproducers against a real ``cardio-cloud serve`` subprocess.

Each test replays one defect's reproducer (the number is its row in issue 13) and checks
the safe answer: a 4xx or a clear message, the service still serving, nothing leaked.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.security.conftest import Service


def _http(service: Service, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, timeout_s: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(service.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _raw(service: Service, data: bytes, *, read_timeout_s: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", service.port), timeout=read_timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def _healthy(service: Service) -> bool:
    return service.alive() and _http(service, "GET", "/healthz", timeout_s=10)[0] == 200


def _api(service: Service, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _, body = _http(service, "POST", "/v1/analyses", json.dumps(payload).encode(), {
        "Authorization": f"Bearer {service.token}", "Content-Type": "application/json", **(headers or {})})
    return status, json.loads(body or b"null")


def _form(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields).encode()


class TestCloudReproducers:
    def test_01_web_page_never_reads_server_files(self, cloud_service: Service) -> None:
        for text in ("/etc/passwd", "/dev/zero", "serve.log", "cloud.sqlite"):
            started = time.monotonic()
            status, _, page = _http(cloud_service, "POST", "/analyse", _form(
                {"sampleRate": "300", "adcGain": "1000", "baseline": "0", "csvtext": text}))
            assert status == 400 and time.monotonic() - started < 30
            assert b"root:" not in page and b"daemon" not in page and b"cannot read file" not in page
            assert b"&lt;text&gt;" in page
        assert _healthy(cloud_service)

    def test_05_small_gzip_form_that_inflates_is_refused_without_stalling(self, cloud_service: Service) -> None:
        bomb = gzip.compress(b"sampleRate=300&adcGain=1000&baseline=0&csvtext=" + b"1%0A" * 3_000_000)
        started = time.monotonic()
        status, _, _ = _http(cloud_service, "POST", "/analyse", bomb, {
            "Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 413 and time.monotonic() - started < 10
        assert _healthy(cloud_service)

    def test_07_stalled_uploads_time_out_and_do_not_flood_the_log(self, cloud_service: Service) -> None:
        head = (f"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud_service.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"sampleRate\":").encode()
        log_before = len(cloud_service.log_text())
        sockets = []
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", cloud_service.port), timeout=60)
            sock.sendall(head)
            sockets.append(sock)
        assert _healthy(cloud_service)  # still serving while they stall
        statuses = []
        for sock in sockets:
            with sock:
                answer = sock.recv(4096)
                statuses.append(int(answer.split(b" ", 2)[1]) if answer else 0)
                assert sock.recv(4096) == b""  # closed by the server
        assert set(statuses) == {408}
        assert len(cloud_service.log_text()) - log_before < 100 * 400  # one access-log line each, no tracebacks

    def test_10_client_errors_are_4xx(self, cloud_service: Service) -> None:
        body = b'{"sampleRate": ' + b"9" * 400 + b', "adcGain": 1000, "dataI": [0]}'
        status, _, _ = _http(cloud_service, "POST", "/v1/analyses", body, {
            "Authorization": f"Bearer {cloud_service.token}", "Content-Type": "application/json"})
        assert status == 422
        status, _, _ = _http(cloud_service, "POST", "/v1/analyses", b'{"sampleRate": 300}', {
            "Authorization": f"Bearer {cloud_service.token}", "Content-Type": "application/json",
            "Content-Encoding": "gzip"})
        assert status == 400

    def test_15_tokens_never_reach_the_log(self, cloud_service: Service) -> None:
        _http(cloud_service, "GET", "/v1/analyses/x?access_token=SECRET-IN-QUERY",
              headers={"Authorization": f"Bearer {cloud_service.token}"})
        _raw(cloud_service, (f"GET /v1/analyses/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud_service.token}"
                             + "x" * 9000 + "\r\n\r\n").encode(), read_timeout_s=5)
        log = cloud_service.log_text()
        assert "SECRET-IN-QUERY" not in log and cloud_service.token not in log
        assert cloud_service.token[:16] not in log

    def test_16_record_id_with_newline_refused(self, cloud_service: Service) -> None:
        status, body = _api(cloud_service, {"sampleRate": 300, "adcGain": 1000, "recordId": "abc\n",
                                            "dataI": [0] * 3000})
        assert status == 422 and [e["field"] for e in body["errors"]] == ["recordId"]

    def test_17_empty_lead_arrays_are_absent_leads(self, cloud_service: Service) -> None:
        import math

        counts = [int(1000 * math.sin(2 * math.pi * 1.2 * i / 300) ** 63) for i in range(3000)]
        status, body = _api(cloud_service, {"sampleRate": 300, "adcGain": 1000, "dataI": counts,
                                            "dataII": [], "dataV1": []})
        assert status in (200, 422), body  # analysed or judged unanalysable; never "lead lengths differ"
        assert "differ" not in json.dumps(body)

    def test_23_web_page_security_headers(self, cloud_service: Service) -> None:
        _, headers, _ = _http(cloud_service, "GET", "/")
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]

    def test_24_declared_40_mb_refused_before_reading_and_no_100_continue(self, cloud_service: Service) -> None:
        started = time.monotonic()
        answer = _raw(cloud_service, (
            f"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cloud_service.token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 40000000\r\nExpect: 100-continue\r\n\r\n").encode(),
            read_timeout_s=5)
        assert b"100 Continue" not in answer and answer.startswith(b"HTTP/1.1 413")
        assert time.monotonic() - started < 5
        assert _healthy(cloud_service)
