"""A real Redis server for tests: on a free loopback port, in a temporary folder, with a
password; stopped (and started again, for outages) by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

PASSWORD = "budget-secret"
INSTALL_HINT = (
    "redis-server is not installed: apt-get install redis-server (Debian, Ubuntu) or "
    "brew install redis (macOS) to run the shared-budget tests"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class RedisServer:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip(INSTALL_HINT)
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.folder), "--save", "", "--appendonly", "no",
                "--requirepass", PASSWORD, "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(f"AUTH {PASSWORD}\r\nPING\r\n".encode())
                    answer = b""
                    while b"PONG" not in answer:
                        answer += conn.recv(64) or b"closed"
                        if b"ERR" in answer or b"closed" in answer:
                            raise OSError(answer.decode())
                    return
            except OSError:
                time.sleep(0.01)  # not listening yet: a bounded wait for the port
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
