"""Issue 9, item 13 on the gateway: nothing a client can send is a 5xx.

The attack found 500s for Unicode digits (``max-keys=²``, ``partNumber=²``, ``<PartNumber>²</PartNumber>``:
``"²".isdigit()`` is true, ``int("²")`` fails), for huge integers in ``Range`` and ``max-keys`` (``int`` refuses
over 4,300 digits) and for CR/LF in ``response-content-type`` (see test_attack_response_headers.py).
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from ticketbooth.model import Access

BIG = "9" * 5000


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket("ds1", access=Access.WRITE))


@pytest.mark.parametrize("value", ["²", "٣", "１", "-1", "1.5", "0x10", " 1"])
def test_non_ascii_or_non_decimal_numbers_are_invalid_argument(gw, writer, value):
    encoded = quote(value, safe="")
    upload_id = writer.request("POST", "m.bin", "uploads").find("UploadId")
    for method, key, query in [("GET", None, f"list-type=2&max-keys={encoded}"),
                               ("GET", None, f"max-keys={encoded}"),
                               ("GET", None, f"uploads&max-uploads={encoded}"),
                               ("PUT", "m.bin", f"partNumber={encoded}&uploadId={upload_id}"),
                               ("GET", "m.bin", f"max-parts={encoded}&uploadId={upload_id}"),
                               ("GET", "m.bin", f"part-number-marker={encoded}&uploadId={upload_id}")]:
        result = writer.request(method, key, query, body=b"x" if method == "PUT" else b"")
        assert (result.status, result.code) == (400, "InvalidArgument"), (method, query, result.status, result.body)


def test_huge_numbers_saturate_instead_of_failing(gw, writer):
    listing = writer.request("GET", None, f"list-type=2&max-keys={BIG}")
    assert listing.status == 200 and listing.find("MaxKeys") == "1000"
    upload_id = writer.request("POST", "m.bin", "uploads").find("UploadId")
    part = writer.request("PUT", "m.bin", f"partNumber={BIG}&uploadId={upload_id}", body=b"x")
    assert (part.status, part.code) == (400, "InvalidArgument")
    parts = writer.request("GET", "m.bin", f"part-number-marker={BIG}&uploadId={upload_id}")
    assert parts.status == 200 and parts.findall("Part/PartNumber") == []


@pytest.mark.parametrize(("header", "status", "body"), [
    (f"bytes={BIG}-", 416, None),
    (f"bytes=0-{BIG}", 206, b"hello world"),
    (f"bytes=-{BIG}", 206, b"hello world"),
])
def test_huge_or_unicode_ranges(gw, writer, header, status, body):
    result = writer.request("GET", "a.txt", headers={"Range": header})
    assert result.status == status, result.body
    if body is not None:
        assert result.body == body


@pytest.mark.parametrize("number", ["²", "٣", BIG, "-1"])
def test_unicode_or_huge_part_numbers_in_complete_are_malformed(gw, writer, number):
    upload_id = writer.request("POST", "m.bin", "uploads").find("UploadId")
    etag = writer.request("PUT", "m.bin", f"partNumber=1&uploadId={upload_id}", body=b"x").headers["etag"]
    body = (f"<CompleteMultipartUpload><Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
            "</CompleteMultipartUpload>").encode()
    result = writer.request("POST", "m.bin", f"uploadId={upload_id}", body=body)
    assert result.status == 400 and result.code in ("MalformedXML", "InvalidPart"), result.body
