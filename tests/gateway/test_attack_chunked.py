"""The aws-chunked recursion attack through the gateway (issue 9 item 2): an upload of thousands of one-byte
signed chunks used to recurse once per chunk (RecursionError, a 500); now it stores the exact bytes."""
from __future__ import annotations

import hashlib
import hmac

from ticketbooth.model import Access
from ticketbooth.sigv4.signing import derive_signing_key

from ..sigv4.helpers import signed_chunks
from .conftest import HOST, call_wsgi


def test_thousands_of_one_byte_chunks_upload_exactly(gw) -> None:
    ticket = gw.ticket("ds1", access=Access.WRITE)
    key, secret = gw.keys(ticket)
    region = gw.settings.s3.region
    stamp = gw.clock().strftime("%Y%m%dT%H%M%SZ")
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    pieces = [bytes([65 + i % 26]) for i in range(6000)]
    path = f"/ticket-{ticket.id}/tiny-chunks.bin"
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length"
    canonical = (f"PUT\n{path}\n\ncontent-encoding:aws-chunked\nhost:{HOST}\nx-amz-content-sha256:{mode}\n"
                 f"x-amz-date:{stamp}\nx-amz-decoded-content-length:{len(pieces)}\n\n{signed}\n{mode}")
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    seed = hmac.new(derive_signing_key(secret, stamp[:8], region, "s3"), to_sign.encode(), "sha256").hexdigest()
    body = signed_chunks(secret, stamp, region, seed, pieces)
    headers = {"Host": HOST, "Content-Encoding": "aws-chunked", "x-amz-content-sha256": mode, "x-amz-date": stamp,
               "x-amz-decoded-content-length": str(len(pieces)),
               "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, "
                                f"Signature={seed}"}
    result = call_wsgi(gw.app, "PUT", path, headers, body)
    assert result.status == 200, result.body
    got = gw.client(ticket).request("GET", "tiny-chunks.bin")
    assert got.status == 200 and got.body == b"".join(pieces)
