"""Tiny loopback servers for the lean HTTP/1.1 client's own tests: each request is
recorded as received and answered by the next scripted answer (raw bytes, or a
coroutine that writes whatever it likes)."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drux.gateway._http1 import Headers, Pool

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Answer:
    data: bytes | Writer
    close: bool = False  # close the connection once written
    hold: asyncio.Event | None = None  # wait for this before answering


async def fetch(pool: Pool, path: str = "/v1/x") -> tuple[int, Headers, bytes]:
    """POST ``{}`` to ``path`` through ``pool``: status, headers, body."""
    response = await pool.request(pool.head("POST", path) + b"Content-Length: 2\r\n\r\n{}")
    try:
        body = await response.read()
    finally:
        response.release()
    return response.status, response.headers, body


def ok_json(body: bytes = b'{"ok": true}', *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request (its head, then a Content-Length body), or None at the end of input."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@dataclass
class Server:
    """Answers requests on 127.0.0.1 in order from ``answers`` (the last one repeats)."""

    answers: deque[Answer] = field(default_factory=deque)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    seen: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *answers: bytes | Answer) -> None:
        self.answers.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await read_request(reader)) is not None:
                self.requests.append(request)
                self.seen.put_nowait(request)
                answer = self.answers.popleft() if len(self.answers) > 1 else self.answers[0]
                if answer.hold is not None:
                    await answer.hold.wait()
                if isinstance(answer.data, bytes):
                    writer.write(answer.data)
                    await writer.drain()
                else:
                    await answer.data(writer)
                if answer.close:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def tls_contexts(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for ``name``: (server context, client context trusting it)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))
