"""Issue 9, items 4 and 7: encryption headers the gateway cannot honour, and XML entity tricks in any encoding.

Item 4: the attack stored an object in plaintext while the client asked for SSE-C. Now every
``x-amz-server-side-encryption*`` header (and the copy-source form) is ``501 NotImplemented`` and stores nothing.
Item 7: a DeleteObjects body declaring UTF-16 carried a DOCTYPE whose entity named (and deleted) an object, and
a billion-laughs expansion; now DTDs and entities are refused after decoding, in every encoding.
"""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from ticketbooth.model import Access

from .conftest import call_wsgi

SSE_C_KEY = b"k" * 32
SSE_HEADER_SETS = [
    {"x-amz-server-side-encryption": "AES256"},
    {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "alias/x"},
    {"x-amz-server-side-encryption-customer-algorithm": "AES256",
     "x-amz-server-side-encryption-customer-key": base64.b64encode(SSE_C_KEY).decode(),
     "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(SSE_C_KEY).digest()).decode()},
    {"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled": "true"},
]


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket("ds1", access=Access.WRITE))


def _zone_file(gw, relative):
    return os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds1", relative)


def _uses(gw, ticket_id):
    return gw.backend.find_ticket(ticket_id).uses_count


@pytest.mark.parametrize("headers", SSE_HEADER_SETS)
def test_put_object_with_encryption_headers_is_not_implemented_and_stores_nothing(gw, writer, headers):
    ticket_id = int(writer.bucket.split("-")[1])
    before = _uses(gw, ticket_id)
    result = writer.request("PUT", "secret.bin", body=b"plaintext that asked to be encrypted", headers=headers)
    assert (result.status, result.code) == (501, "NotImplemented")
    assert not os.path.exists(_zone_file(gw, "secret.bin"))
    assert _uses(gw, ticket_id) == before  # refused before the session opened


@pytest.mark.parametrize("headers", SSE_HEADER_SETS)
def test_multipart_with_encryption_headers_is_not_implemented(gw, writer, headers):
    created = writer.request("POST", "big.bin", "uploads", headers=headers)
    assert (created.status, created.code) == (501, "NotImplemented")
    assert writer.request("GET", None, "uploads").findall("Upload/UploadId") == []
    upload_id = writer.request("POST", "big.bin", "uploads").find("UploadId")
    part = writer.request("PUT", "big.bin", f"partNumber=1&uploadId={upload_id}", body=b"x" * 10, headers=headers)
    assert (part.status, part.code) == (501, "NotImplemented")
    parts = writer.request("GET", "big.bin", f"uploadId={upload_id}")
    assert parts.status == 200 and parts.findall("Part/PartNumber") == []


def test_copy_object_with_copy_source_encryption_is_not_implemented(gw, writer):
    headers = {"x-amz-copy-source": f"/{writer.bucket}/a.txt",
               "x-amz-copy-source-server-side-encryption-customer-algorithm": "AES256"}
    result = writer.request("PUT", "copy.txt", headers=headers)
    assert (result.status, result.code) == (501, "NotImplemented")
    assert not os.path.exists(_zone_file(gw, "copy.txt"))


def test_presigned_encryption_query_parameter_is_not_implemented(gw, writer):
    result = writer.raw("PUT", f"/{writer.bucket}/q.bin?x-amz-server-side-encryption=AES256", body=b"data")
    assert (result.status, result.code) == (501, "NotImplemented")
    assert not os.path.exists(_zone_file(gw, "q.bin"))


def test_unsigned_encryption_request_is_still_refused_as_unsigned(gw, writer):
    result = call_wsgi(gw.app, "PUT", f"/{writer.bucket}/u.bin", {"x-amz-server-side-encryption": "AES256",
                                                                    "Host": "127.0.0.1:9000"}, b"x")
    assert result.status == 403
    assert not os.path.exists(_zone_file(gw, "u.bin"))


def _entity_delete(encoding: str, codec: str) -> bytes:
    text = (f'<?xml version="1.0" encoding="{encoding}"?>'
            '<!DOCTYPE Delete [<!ENTITY victim "a.txt">]>'
            "<Delete><Object><Key>&victim;</Key></Object></Delete>")
    return text.encode(codec)


@pytest.mark.parametrize(("encoding", "codec"), [("UTF-16", "utf-16"), ("UTF-16LE", "utf-16-le"),
                                                  ("UTF-16BE", "utf-16-be"), ("UTF-8", "utf-8"),
                                                  ("ISO-8859-1", "latin-1")])
def test_delete_objects_entity_in_any_encoding_is_malformed_and_deletes_nothing(gw, writer, encoding, codec):
    result = writer.request("POST", None, "delete", body=_entity_delete(encoding, codec))
    assert (result.status, result.code) == (400, "MalformedXML")
    assert os.path.exists(_zone_file(gw, "a.txt"))


def test_billion_laughs_in_utf16_is_refused(gw, writer):
    levels = ['<!ENTITY l0 "' + "a" * 64 + '">'] + [
        f'<!ENTITY l{i} "' + f"&l{i - 1};" * 16 + '">' for i in range(1, 6)]
    body = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE Delete [' + "".join(levels) + "]>"
            "<Delete><Object><Key>&l5;</Key></Object></Delete>").encode("utf-16")
    result = writer.request("POST", None, "delete", body=body)
    assert (result.status, result.code) == (400, "MalformedXML")


def test_doctype_without_entities_is_refused_in_complete(gw, writer):
    upload_id = writer.request("POST", "m.bin", "uploads").find("UploadId")
    etag = writer.request("PUT", "m.bin", f"partNumber=1&uploadId={upload_id}", body=b"x").headers["etag"]
    body = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE CompleteMultipartUpload>'
            f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
            "</CompleteMultipartUpload>").encode("utf-16")
    result = writer.request("POST", "m.bin", f"uploadId={upload_id}", body=body)
    assert (result.status, result.code) == (400, "MalformedXML")
    assert not os.path.exists(_zone_file(gw, "m.bin"))


def test_plain_utf16_body_without_dtd_still_works(gw, writer):
    body = '<?xml version="1.0" encoding="UTF-16"?><Delete><Object><Key>a.txt</Key></Object></Delete>'
    result = writer.request("POST", None, "delete", body=body.encode("utf-16"))
    assert result.status == 200 and result.findall("Deleted/Key") == ["a.txt"]
    assert not os.path.exists(_zone_file(gw, "a.txt"))


def test_oversized_xml_body_is_refused(gw, writer):
    body = b"<Delete>" + b" " * (2 * 1024 * 1024) + b"<Object><Key>a.txt</Key></Object></Delete>"
    result = writer.request("POST", None, "delete", body=body)
    assert result.status == 400 and result.code in ("MalformedXML", "MaxMessageLengthExceeded")
    assert os.path.exists(_zone_file(gw, "a.txt"))
