"""A real Redis server for tests: on a free loopback port, in a temporary folder, with a
password; stopped (and started again, for outages) by the test. With ``tls`` it speaks
only TLS, with a certificate of its own made by ``openssl`` (``rediss://``)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from contextlib import ExitStack
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
    def __init__(self, folder: Path, *, tls: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip(INSTALL_HINT)
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.certificate: Path | None = self._make_certificate() if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        if self.certificate is None:
            return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        return f"rediss://:{PASSWORD}@127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}"

    def _make_certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1, which clients are told to trust."""
        if shutil.which("openssl") is None:
            pytest.skip("openssl is not installed: it makes the TLS test's certificate")
        certificate = self.folder / "redis.crt"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.folder / "redis.key"),
                "-out", str(certificate),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return certificate

    def _listen_flags(self) -> list[str]:
        if self.certificate is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
            "--tls-cert-file", str(self.certificate),
            "--tls-key-file", str(self.folder / "redis.key"),
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server (again, on the same port), unless it is running."""
        if self.process is not None:
            return
        self.process = subprocess.Popen(
            [
                self.binary, "--bind", "127.0.0.1", *self._listen_flags(),
                "--dir", str(self.folder), "--save", "", "--appendonly", "no",
                "--requirepass", PASSWORD, "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.command("PING", b"PONG")
                return
            except OSError:
                time.sleep(0.01)  # not listening yet: a bounded wait for the port
        raise AssertionError("redis-server did not start")

    def flush(self) -> None:
        """Forget every key: a test starts from an empty server."""
        self.command("FLUSHALL", b"OK")

    def command(self, command: str, expected: bytes) -> None:
        with ExitStack() as stack:
            conn = stack.enter_context(socket.create_connection(("127.0.0.1", self.port), 0.5))
            if self.certificate is not None:
                context = ssl.create_default_context(cafile=str(self.certificate))
                conn = stack.enter_context(context.wrap_socket(conn, server_hostname="127.0.0.1"))
            conn.sendall(f"AUTH {PASSWORD}\r\n{command}\r\n".encode())
            answer = b""
            while answer.count(b"\r\n") < 2 or expected not in answer:
                answer += conn.recv(64) or b"closed"
                if b"ERR" in answer or b"closed" in answer:
                    raise OSError(answer.decode())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
