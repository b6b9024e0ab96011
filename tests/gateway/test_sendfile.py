"""Issue 11: a GET of an embedded object — the whole object, a ``Range`` or a ``?partNumber`` — is sent with
``sendfile`` under gunicorn, exactly its bytes; servers that iterate the body get the same bytes.

Each request runs through gunicorn's own code on a real socket pair, as its worker does (``RequestParser`` ->
``wsgi.create`` -> the app -> ``Response.sendfile``/``write_file`` -> ``Response.close``, then the body's
``close``); ``Response.sendfile`` returns ``False`` when it would not use ``sendfile``, so a body that goes out
any other way fails these tests.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.http.parser import RequestParser
from werkzeug.wsgi import FileWrapper

from ticketbooth.gateway.fileslice import FileSlice, file_slice
from ticketbooth.model import Access

from .conftest import S3Client, call_wsgi

DATA = os.urandom(3 * 1024 * 1024 + 123)
CHUNKS = [os.urandom(2048), os.urandom(3000), os.urandom(100)]  # a multipart upload's parts (1 KiB minimum here)


@dataclass
class Sent:
    status: int
    headers: dict[str, str]
    body: bytes
    sendfile: bool  # gunicorn's Response.sendfile sent the body
    aborted: bool  # the app shut the connection down when the body ended


def _read_all(sock: socket.socket, into: list[bytes]) -> None:
    while chunk := sock.recv(1 << 20):
        into.append(chunk)


def gunicorn_request(client: S3Client, method: str, raw_uri: str, headers: dict[str, str] | None = None, *,
                     sendfile: bool = True, before_send=None) -> Sent:
    """Sign ``raw_uri`` as ``client`` and serve it with gunicorn's request parser and response writer over a
    socket pair (``sendfile=False``: gunicorn's ``--no-sendfile``); ``before_send`` runs after the app answered,
    before the body is sent."""
    cfg = Config()
    if not sendfile:
        cfg.set("sendfile", False)  # what --no-sendfile sets (any value set there disables it)
    server, peer = socket.socketpair()
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(peer, received))
    signed = client.sign(method, raw_uri, b"", headers)
    lines = [f"{method} {raw_uri} HTTP/1.1", *(f"{name}: {value}" for name, value in signed.items())]
    peer.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    request = next(RequestParser(cfg, server, ("127.0.0.1", 50000)))
    response, environ = gunicorn_wsgi.create(request, server, ("127.0.0.1", 50000), ("127.0.0.1", 9000), cfg)
    reader.start()
    used_sendfile = False
    body = client.world.app(environ, response.start_response)
    try:
        if before_send is not None:
            before_send()
        if isinstance(body, environ["wsgi.file_wrapper"]):
            used_sendfile = response.sendfile(body)
            if not used_sendfile:
                response.write_file(body)
        else:
            for item in body:
                response.write(item)
        response.close()
    finally:
        if hasattr(body, "close"):
            body.close()
        aborted = _shut_down(server)
        server.close()
        reader.join(timeout=30)
        peer.close()
    head, _, payload = b"".join(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return Sent(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, payload, used_sendfile,
                aborted)


def _shut_down(sock: socket.socket) -> bool:
    try:
        sock.send(b"")  # refused (EPIPE) once the socket is shut down for writing
    except BrokenPipeError:
        return True
    return False


@pytest.fixture
def reader(gw):
    gw.put("ds1/data.bin", DATA)
    return gw.client(gw.ticket(access=Access.WRITE))


def _disk(gw, name: str) -> Path:
    return Path(gw.settings.data_dir) / "zone/tempZone/home/alice/ds1" / name


RANGES = [  # (Range header, first byte, last byte)
    ("bytes=0-0", 0, 0),
    ("bytes=1000-1048575", 1000, 1048575),
    ("bytes=1048576-", 1048576, len(DATA) - 1),
    ("bytes=-4096", len(DATA) - 4096, len(DATA) - 1),
    ("bytes=-99999999", 0, len(DATA) - 1),
    (f"bytes=5-{len(DATA) * 2}", 5, len(DATA) - 1),
]


def test_a_whole_object_is_sent_with_sendfile(reader):
    sent = gunicorn_request(reader, "GET", f"/{reader.bucket}/data.bin")
    assert (sent.status, sent.sendfile, sent.body) == (200, True, DATA)
    assert sent.headers["content-length"] == str(len(DATA))
    assert sent.headers["etag"] == f'"{hashlib.md5(DATA).hexdigest()}"'


@pytest.mark.parametrize(("header", "first", "last"), RANGES, ids=[r[0] for r in RANGES])
def test_a_range_is_sent_with_sendfile_exactly(reader, header, first, last):
    sent = gunicorn_request(reader, "GET", f"/{reader.bucket}/data.bin", {"Range": header})
    assert (sent.status, sent.sendfile) == (206, True)
    assert sent.body == DATA[first:last + 1]
    assert sent.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert sent.headers["content-length"] == str(last - first + 1)
    assert sent.headers["etag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    # The same request in-process (no file wrapper: werkzeug's dev server) answers the same.
    plain = reader.request("GET", "data.bin", headers={"Range": header})
    assert (plain.status, plain.body, plain.headers["content-range"]) == (206, sent.body,
                                                                          sent.headers["content-range"])


def test_a_part_number_is_sent_with_sendfile_with_its_checksum(reader):
    algorithm = {"x-amz-checksum-algorithm": "CRC32"}
    upload_id = reader.request("POST", "mp.bin", "uploads", headers=algorithm).find("UploadId")
    parts = []
    for number, chunk in enumerate(CHUNKS, 1):
        result = reader.request("PUT", "mp.bin", f"partNumber={number}&uploadId={upload_id}", body=chunk,
                                headers={"x-amz-sdk-checksum-algorithm": "CRC32"})
        parts.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{result.headers['etag']}</ETag>"
                     f"<ChecksumCRC32>{result.headers['x-amz-checksum-crc32']}</ChecksumCRC32></Part>")
    body = f"<CompleteMultipartUpload>{''.join(parts)}</CompleteMultipartUpload>".encode()
    assert reader.request("POST", "mp.bin", f"uploadId={upload_id}", body=body).status == 200
    start = len(CHUNKS[0])
    sent = gunicorn_request(reader, "GET", f"/{reader.bucket}/mp.bin?partNumber=2",
                            {"x-amz-checksum-mode": "ENABLED"})
    assert (sent.status, sent.sendfile, sent.body) == (206, True, CHUNKS[1])
    assert sent.headers["content-range"] == f"bytes {start}-{start + len(CHUNKS[1]) - 1}/{len(b''.join(CHUNKS))}"
    assert sent.headers["x-amz-mp-parts-count"] == "3"
    plain = reader.request("GET", "mp.bin", "partNumber=2", headers={"x-amz-checksum-mode": "ENABLED"})
    assert sent.headers["x-amz-checksum-crc32"] == plain.headers["x-amz-checksum-crc32"]


def test_part_one_of_a_plain_upload_and_head_of_a_range(reader):
    sent = gunicorn_request(reader, "GET", f"/{reader.bucket}/data.bin?partNumber=1")
    assert (sent.status, sent.sendfile, sent.body) == (206, True, DATA)
    head = gunicorn_request(reader, "HEAD", f"/{reader.bucket}/data.bin", {"Range": "bytes=10-19"})
    assert (head.status, head.body, head.headers["content-length"]) == (206, b"", "10")
    assert head.headers["content-range"] == f"bytes 10-19/{len(DATA)}"


def test_every_get_counts_a_use_and_the_last_allowed_one_is_the_limit(gw):
    gw.put("ds1/data.bin", DATA)
    client = gw.client(gw.ticket(uses_limit=2))
    for _ in range(2):
        assert gunicorn_request(client, "GET", f"/{client.bucket}/data.bin", {"Range": "bytes=0-9"}).sendfile
    refused = gunicorn_request(client, "GET", f"/{client.bucket}/data.bin", {"Range": "bytes=0-9"})
    assert (refused.status, refused.sendfile) == (403, False)
    assert b"<Code>AccessDenied</Code>" in refused.body


def test_without_sendfile_gunicorn_reads_just_the_range(reader):
    sent = gunicorn_request(reader, "GET", f"/{reader.bucket}/data.bin", {"Range": "bytes=100-2000000"},
                            sendfile=False)
    assert (sent.status, sent.sendfile, sent.body) == (206, False, DATA[100:2000001])


def test_werkzeugs_file_wrapper_reads_just_the_range(reader):
    def with_wrapper(environ, start_response):  # a server offering werkzeug's FileWrapper (iterates read())
        environ["wsgi.file_wrapper"] = FileWrapper
        return reader.world.app(environ, start_response)

    signed = reader.sign("GET", f"/{reader.bucket}/data.bin", b"", {"Range": "bytes=-1000"})
    got = call_wsgi(with_wrapper, "GET", f"/{reader.bucket}/data.bin", signed)
    assert (got.status, got.body) == (206, DATA[-1000:])


def test_a_file_that_shrinks_under_sendfile_is_logged_and_the_connection_aborted(gw, reader, caplog):
    path = _disk(gw, "data.bin")
    caplog.set_level(logging.ERROR, logger="ticketbooth.gateway.app")
    sent = gunicorn_request(reader, "GET", f"/{reader.bucket}/data.bin", {"Range": "bytes=1000-"},
                            before_send=lambda: os.truncate(path, 2000))
    assert (sent.status, sent.sendfile, sent.aborted) == (206, True, True)
    assert sent.body == DATA[1000:2000]  # what the file still held, then the end of the connection
    assert any("response body failed after its headers were sent (OSError)" in r.getMessage()
               for r in caplog.records)


def test_a_file_that_shrinks_while_gunicorn_reads_it_fails_the_body(gw, reader):
    path = _disk(gw, "data.bin")
    with pytest.raises(OSError, match="ended before its recorded size"):
        gunicorn_request(reader, "GET", f"/{reader.bucket}/data.bin", {"Range": "bytes=1000-"}, sendfile=False,
                         before_send=lambda: os.truncate(path, 2000))


# -- FileSlice itself ---------------------------------------------------------------------------------


def test_a_slice_reads_its_range_at_file_positions(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)))
    body = file_slice(open(path, "rb"), 10, 20)  # noqa: SIM115 - closed by the slice
    assert isinstance(body, FileSlice)
    with contextlib.closing(body):
        assert (os.lseek(body.fileno(), 0, os.SEEK_CUR), body.tell(), body.end) == (10, 10, 30)
        assert body.read(5) == bytes(range(10, 15))
        assert body.read() == bytes(range(15, 30))
        assert (body.read(), body.complete) == (b"", True)
        assert body.seek(25) == 25 and not body.complete
        assert body.read(100) == bytes(range(25, 30))
    assert body.closed


def test_socket_sendfile_leaves_a_slice_where_the_send_ended(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    server, peer = socket.socketpair()
    body = file_slice(open(path, "rb"), 7, 1000)  # noqa: SIM115 - closed by the slice
    with server, peer, contextlib.closing(body):
        assert server.sendfile(body, 7, 1000) == 1000
        assert body.complete and not body.shrunk()
        got = b""
        while len(got) < 1000:
            got += peer.recv(4096)
        assert got == DATA[7:1007]


def test_only_regular_files_are_sliced(tmp_path):
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as pipe, open(write_end, "wb"):
        assert file_slice(pipe, 0, 1) is None
    assert file_slice(io.BytesIO(b"x"), 0, 1) is None
