"""Run the API and the S3 gateway as real gunicorn processes on loopback for end-to-end tests."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["free_port", "self_signed_cert", "Server", "GATEWAY_APP", "API_APP"]

API_APP = "ticketbooth.wsgi:app"
GATEWAY_APP = "ticketbooth.gateway.app:create_gateway_app()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (and localhost): (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Server:
    """One gunicorn process serving ``app`` on 127.0.0.1:``port``; stopped by :meth:`stop` (its own pid only).

    ``args`` are further gunicorn options (``-c python:ticketbooth.gunicorn_conf``, ``--max-requests`` ...).
    """

    def __init__(self, app: str, port: int, env: Mapping[str, str], log: Path, *, tls: tuple[Path, Path] | None = None,
                 workers: int = 1, threads: int = 8, args: Sequence[str] = ()) -> None:
        self.port = port
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://127.0.0.1:{port}"
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                   "--threads", str(threads), "--worker-class", "gthread", "--timeout", "120",
                   "--graceful-timeout", "2", "--log-level", "warning"]
        if tls:
            command += ["--certfile", str(tls[0]), "--keyfile", str(tls[1])]
        command += [*args, app]
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env={**os.environ, **env}, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self.log_path = log

    def wait_ready(self, path: str, *, verify: str | bool = True, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.url} exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                requests.get(self.url + path, timeout=1, verify=verify)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{self.url} did not come up: {self.log_path.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
