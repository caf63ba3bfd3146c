"""Real services for the issue-13 reproducers: ``cardio-cloud serve`` and ``cardio serve``
run as subprocesses (the commands a user runs), on free loopback ports.

Both are session-scoped: started once, shared by the tests of this folder, stopped with
SIGTERM at the end (the test of a clean exit is elsewhere).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
#: seconds a service may take to start on a loaded 2-core machine
START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@dataclass
class Service:
    """A running subprocess: its base URL, log file and process."""

    url: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_file: Any = None
    token: str = ""

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


def start(args: list[str], port: int, data_dir: Path, log_path: Path, *, health: str = "/healthz",
          host: str = "127.0.0.1") -> Service:
    """Start a service and wait until ``health`` answers 200."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(args, env=env(), stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"{args[2:4]} exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + health, timeout=2) as resp:
                if resp.status == 200:
                    return Service(url=url, port=port, log_path=log_path, proc=proc, data_dir=data_dir,
                                   log_file=log)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    log.close()
    raise RuntimeError(f"{args[2:4]} did not answer {health} within {START_TIMEOUT_S:.0f} s")


def stop(service: Service) -> None:
    if service.alive():
        service.proc.send_signal(signal.SIGTERM)
        try:
            service.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait()
    if service.log_file is not None:
        service.log_file.close()


@pytest.fixture(scope="session")
def cloud_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``cardio-cloud serve`` with one token, verbose logging (the access log is checked for tokens)."""
    data = tmp_path_factory.mktemp("cloud")
    token = subprocess.run([sys.executable, "-m", "cloud.cli", "token", "create", "security", "--data", str(data)],
                           env=env(), capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    service = start([sys.executable, "-m", "cloud.cli", "-v", "-v", "serve", "--port", str(port), "--data", str(data),
                     "--workers", "1", "--rate", "1000", "--burst", "1000"], port, data, data / "serve.log")
    service.token = token
    yield service
    stop(service)


@pytest.fixture(scope="session")
def companion_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A companion data folder with one stored recording (made with the real ``cardio`` code)."""
    import numpy as np

    from companion.config import CompanionConfig
    from companion.recording import Recording
    from companion.store import Store

    home = tmp_path_factory.mktemp("companion") / "home"
    config = CompanionConfig.resolve(data_dir=home, env={})
    config.ensure_dirs()
    with Store.open(config) as store:
        t = np.arange(9000) / 300.0
        counts = (1000 * np.sin(2 * np.pi * 1.2 * t) ** 63).astype(np.int32)
        store.add_recording(Recording(counts, 300.0, 1000.0, 0, complete=True))
    return home


@pytest.fixture(scope="session")
def companion_service(companion_home: Path) -> Iterator[Service]:
    """``cardio serve`` on a free loopback port."""
    port = free_port()
    service = start([sys.executable, "-m", "cardio", "serve", "--port", str(port), "--data-dir", str(companion_home),
                     "--no-sync"], port, companion_home, companion_home.parent / "serve.log")
    yield service
    stop(service)
