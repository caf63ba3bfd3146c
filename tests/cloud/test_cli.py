"""``cardio-cloud``: token management in-process; ``serve`` as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cloud.cli import main

REPO = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestTokens:
    def test_create_list_revoke(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        data = str(tmp_path)
        code, out, _ = _run(capsys, "token", "create", "alice", "--data", data)
        token = out.strip()
        assert code == 0 and token.startswith("clk_") and len(token) > 40
        code, out, _ = _run(capsys, "token", "list", "--data", data)
        assert code == 0 and out.startswith("alice\t") and "active" in out and token not in out
        code, _, err = _run(capsys, "token", "create", "alice", "--data", data)
        assert code == 1 and "already exists" in err
        assert _run(capsys, "token", "revoke", "alice", "--data", data)[0] == 0
        assert "revoked" in _run(capsys, "token", "list", "--data", data)[1]
        code, _, err = _run(capsys, "token", "revoke", "bob", "--data", data)
        assert code == 1 and "no active token" in err

    def test_no_command_prints_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert _run(capsys, )[0] == 2


def _request(url: str, *, body: Any = None, token: str | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class TestServe:
    def test_serve_subprocess_with_process_workers(self, tmp_path: Path, cinc_payload: Any) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        token = subprocess.run(
            [sys.executable, "-m", "cloud.cli", "token", "create", "t", "--data", str(tmp_path)],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.strip()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloud.cli", "serve", "--port", str(port), "--data", str(tmp_path), "--workers", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60  # imports take seconds on a busy machine
            while True:
                try:
                    status, health = _request(base + "/healthz")
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            assert status == 200 and health["status"] == "ok"
            assert _request(base + "/v1/analyses", body={}, token="nope")[0] == 401
            status, result = _request(base + "/v1/analyses", body=cinc_payload("A00001", record_id="cli-1"), token=token)
            assert status == 200, result
            assert result["recordId"] == "cli-1" and result["leads"] == ["I"]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]


def test_serve_on_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    """Issue 14: `cardio-cloud serve` on a port in use says so, without a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "cloud.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data", str(tmp_path)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    assert out.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr and "Traceback" not in out.stderr
