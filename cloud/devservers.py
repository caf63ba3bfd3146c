"""Throw-away Redis and PostgreSQL servers from the Debian packages, for tests,
``benchmarks/cloud_load.py`` and trying the scaled-out service on one machine.

Not for production (see docs/deployment.md): each server lives in a temporary folder,
listens on 127.0.0.1 only, and trusts local connections. PostgreSQL refuses to run as
root, so as root it runs as the ``postgres`` user (``runuser``).

Examples
--------
>>> with RedisServer.start(Path("/tmp/r")) as redis:  # doctest: +SKIP
...     print(redis.url)
redis://127.0.0.1:40123/0
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cloud.errors import CloudError

START_TIMEOUT_S = 120.0  # a loaded CI machine can be slow to start PostgreSQL


class DevServerError(CloudError):
    """A throw-away server could not be started or stopped."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DevServerError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


def redis_binary() -> str | None:
    """Path of ``redis-server``, or None."""
    return shutil.which("redis-server")


def postgres_bin_dir() -> Path | None:
    """Folder of PostgreSQL's ``initdb``/``pg_ctl`` (newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@dataclass
class RedisServer:
    """A ``redis-server`` with AOF on (``appendfsync always``: nothing acknowledged is lost)."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, folder: Path, port: int | None = None) -> RedisServer:
        binary = redis_binary()
        if binary is None:
            raise DevServerError("redis-server not installed (Debian: apt-get install redis-server)")
        folder.mkdir(parents=True, exist_ok=True)
        server = cls(folder, port or free_port())
        server.restart()
        return server

    def restart(self) -> None:
        """(Re)start on the same port and folder: the AOF is replayed."""
        self.process = subprocess.Popen(
            [redis_binary() or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def kill(self) -> None:
        """kill -9 (no shutdown save)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in *folder* (``initdb -A trust``), started with ``pg_ctl``."""

    folder: Path
    port: int
    bin_dir: Path
    databases: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, folder: Path, port: int | None = None) -> PostgresServer:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise DevServerError("PostgreSQL not installed (Debian: apt-get install postgresql)")
        folder.mkdir(parents=True, exist_ok=True)
        server = cls(folder, port or free_port(), bin_dir)
        if os.geteuid() == 0:
            for parent in folder.parents:  # the postgres user must be able to traverse to it
                if parent != Path("/"):
                    os.chmod(parent, os.stat(parent).st_mode | 0o001)
            shutil.chown(folder, "postgres")
            os.chmod(folder, 0o700)
        server._run("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        server.restart()
        return server

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise DevServerError(f"{tool} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        return result

    def restart(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "log"), "-w", "-t", "120", "start")
        _wait_port(self.port)

    def stop(self) -> None:
        """Stop the server and wait for it (up to 120 s); a server already stopped is fine.

        A stop that fails otherwise (e.g. "server does not shut down" on a starved machine)
        raises: it used to be ignored, and a test that stopped the store to see 503s then
        saw a running store's 200 instead of the reason.
        """
        result = self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "-t", "120", "stop",
                           check=False)
        if result.returncode != 0 and "Is server running?" not in result.stderr:
            raise DevServerError(f"pg_ctl stop failed ({result.returncode}): {result.stderr.strip()[-500:]}")

    def create_database(self, name: str) -> str:
        """``createdb`` *name*; returns its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        self.databases.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def require_services() -> bool:
    """Whether missing servers must fail rather than skip (``CARDIOLINK_REQUIRE_SERVICES=1`` in CI)."""
    return os.environ.get("CARDIOLINK_REQUIRE_SERVICES") == "1"


__all__ = [
    "DevServerError", "PostgresServer", "RedisServer", "free_port", "postgres_bin_dir", "redis_binary",
    "require_services",
]
