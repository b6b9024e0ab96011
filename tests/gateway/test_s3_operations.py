"""Every S3 operation through the WSGI app, signed by botocore, against the real embedded backend."""
from __future__ import annotations

import base64
import hashlib
import os
import stat
from urllib.parse import quote

import pytest

from ticketbooth.model import Access

from .conftest import START


@pytest.fixture
def reader(gw):
    return gw.client(gw.ticket("ds1"))


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket("ds1", access=Access.WRITE))


def test_list_buckets_shows_only_the_keys_bucket(gw, reader):
    result = reader.raw("GET", "/")
    assert result.status == 200
    assert result.findall("Buckets/Bucket/Name") == [reader.bucket]


def test_head_bucket_and_location(gw, reader):
    result = reader.request("HEAD", None)
    assert (result.status, result.body) == (200, b"")
    assert result.headers["x-amz-bucket-region"] == "us-east-1"
    location = reader.request("GET", None, "location")
    assert location.status == 200 and location.xml().text is None


def test_create_bucket_answers_already_owned(reader):
    result = reader.request("PUT", None)
    assert (result.status, result.code) == (409, "BucketAlreadyOwnedByYou")


def test_list_objects_v2_recursive_and_delimited(gw, reader):
    flat = reader.request("GET", None, "list-type=2")
    assert flat.findall("Contents/Key") == ["a.txt", "sub/b.bin"]
    assert flat.findall("Contents/Size") == ["11", "1024"]
    assert flat.find("KeyCount") == "2"
    delimited = reader.request("GET", None, "delimiter=%2F&list-type=2")
    assert delimited.findall("Contents/Key") == ["a.txt"]
    assert delimited.findall("CommonPrefixes/Prefix") == ["sub/"]
    below = reader.request("GET", None, "delimiter=%2F&list-type=2&prefix=sub%2F")
    assert below.findall("Contents/Key") == ["sub/b.bin"]


def test_list_objects_v2_pagination_with_continuation_and_start_after(gw, reader):
    for name in ("c1", "c2", "c3"):
        gw.put(f"ds1/{name}", name.encode())
    keys, token = [], None
    while True:
        query = "list-type=2&max-keys=2" + (f"&continuation-token={quote(token)}" if token else "")
        page = reader.request("GET", None, query)
        keys += page.findall("Contents/Key")
        if page.find("IsTruncated") == "false":
            break
        token = page.find("NextContinuationToken")
        assert token
    assert keys == ["a.txt", "c1", "c2", "c3", "sub/b.bin"]
    after = reader.request("GET", None, "list-type=2&start-after=c2")
    assert after.findall("Contents/Key") == ["c3", "sub/b.bin"]
    assert after.find("StartAfter") == "c2"


def test_list_objects_v1_with_marker(gw, reader):
    page = reader.request("GET", None, "max-keys=1")
    assert page.findall("Contents/Key") == ["a.txt"]
    assert page.find("IsTruncated") == "true"
    rest = reader.request("GET", None, "marker=a.txt")
    assert rest.findall("Contents/Key") == ["sub/b.bin"]
    delimited = reader.request("GET", None, "delimiter=%2F&max-keys=1")
    assert delimited.find("NextMarker") == "a.txt"


def test_list_url_encoding(gw, reader):
    gw.put("ds1/with space&amp.txt", b"x")
    result = reader.request("GET", None, "list-type=2&encoding-type=url&prefix=with")
    assert result.findall("Contents/Key") == ["with%20space%26amp.txt"]


def test_list_prefix_naming_missing_or_invalid_collection_is_empty(reader):
    for prefix in ("nothere%2Fx", "..%2F", "a%2F%2Fb"):
        result = reader.request("GET", None, f"list-type=2&prefix={prefix}")
        assert result.status == 200
        assert result.findall("Contents/Key") == []


@pytest.mark.parametrize("query", ["list-type=2&max-keys=-1", "list-type=2&encoding-type=base64",
                                   "list-type=2&continuation-token=bogus"])
def test_list_argument_errors(reader, query):
    result = reader.request("GET", None, query)
    assert (result.status, result.code) == (400, "InvalidArgument")


def test_get_and_head_object(gw, reader):
    result = reader.request("GET", "a.txt")
    assert (result.status, result.body) == (200, b"hello world")
    assert result.headers["etag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    assert result.headers["content-length"] == "11"
    assert result.headers["accept-ranges"] == "bytes"
    assert result.headers["last-modified"] == "Sat, 01 Jun 2030 12:00:00 GMT"
    assert result.headers["x-amz-request-id"]
    head = reader.request("HEAD", "a.txt")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "11")
    assert head.headers["etag"] == result.headers["etag"]


@pytest.mark.parametrize(("header", "status", "body", "content_range"), [
    ("bytes=0-4", 206, b"hello", "bytes 0-4/11"),
    ("bytes=6-", 206, b"world", "bytes 6-10/11"),
    ("bytes=-5", 206, b"world", "bytes 6-10/11"),
    ("bytes=0-0,2-3", 200, b"hello world", None),
])
def test_get_range(reader, header, status, body, content_range):
    result = reader.request("GET", "a.txt", headers={"Range": header})
    assert (result.status, result.body) == (status, body)
    assert result.headers.get("content-range") == content_range
    assert result.headers["content-length"] == str(len(body))


def test_get_unsatisfiable_range(reader):
    result = reader.request("GET", "a.txt", headers={"Range": "bytes=11-"})
    assert (result.status, result.code) == (416, "InvalidRange")
    assert result.headers["content-range"] == "bytes */11"


def test_conditional_get(reader):
    etag = reader.request("HEAD", "a.txt").headers["etag"]
    assert reader.request("GET", "a.txt", headers={"If-None-Match": etag}).status == 304
    assert reader.request("GET", "a.txt", headers={"If-Match": etag}).status == 200
    failed = reader.request("GET", "a.txt", headers={"If-Match": '"0000"'})
    assert (failed.status, failed.code) == (412, "PreconditionFailed")
    assert reader.request("GET", "a.txt", headers={"If-Modified-Since": "Sat, 01 Jun 2030 12:00:00 GMT"}).status == 304
    assert reader.request("GET", "a.txt", headers={"If-Modified-Since": "Sat, 01 Jun 2030 11:00:00 GMT"}).status == 200
    assert reader.request("GET", "a.txt", headers={"If-Unmodified-Since": "Sat, 01 Jun 2030 11:00:00 GMT"}).status == 412


def test_response_header_overrides(reader):
    result = reader.request("GET", "a.txt", "response-content-type=text%2Fx-test&response-content-disposition=inline")
    assert result.headers["content-type"] == "text/x-test"
    assert result.headers["content-disposition"] == "inline"


def test_missing_key_and_collection_key_are_no_such_key(reader):
    for key in ("missing.txt", "sub"):
        result = reader.request("GET", key)
        assert (result.status, result.code) == (404, "NoSuchKey")
        assert result.xml().findtext("Resource") == f"/{reader.bucket}/{key}"
        assert result.xml().findtext("RequestId") == result.headers["x-amz-request-id"]
    head = reader.request("HEAD", "missing.txt")
    assert (head.status, head.body) == (404, b"")


def test_put_object_then_get(gw, writer):
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = writer.request("PUT", "new/deep/file.bin", body=data)
    assert put.status == 200
    assert put.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert writer.request("GET", "new/deep/file.bin").body == data
    on_disk = os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds1/new/deep/file.bin")
    with open(on_disk, "rb") as handle:
        assert handle.read() == data


def test_put_with_content_md5(gw, writer):
    data = b"checked"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert writer.request("PUT", "md5.txt", body=data, headers={"Content-MD5": good}).status == 200
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    result = writer.request("PUT", "md5-bad.txt", body=data, headers={"Content-MD5": bad})
    assert (result.status, result.code) == (400, "BadDigest")
    assert writer.request("HEAD", "md5-bad.txt").status == 404


def test_put_with_checksum_header(writer):
    import zlib

    data = b"crc me"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert writer.request("PUT", "crc.txt", body=data, headers={"x-amz-checksum-crc32": crc}).status == 200
    wrong = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    result = writer.request("PUT", "crc-bad.txt", body=data, headers={"x-amz-checksum-crc32": wrong})
    assert (result.status, result.code) == (400, "BadDigest")
    assert writer.request("HEAD", "crc-bad.txt").status == 404


def test_put_if_none_match_star(writer):
    assert writer.request("PUT", "once.txt", body=b"1", headers={"If-None-Match": "*"}).status == 200
    again = writer.request("PUT", "once.txt", body=b"2", headers={"If-None-Match": "*"})
    assert (again.status, again.code) == (412, "PreconditionFailed")
    assert writer.request("GET", "once.txt").body == b"1"


def test_delete_object_is_idempotent(gw, writer):
    assert writer.request("DELETE", "a.txt").status == 204
    assert writer.request("GET", "a.txt").status == 404
    assert writer.request("DELETE", "a.txt").status == 204


def test_delete_objects_with_per_key_errors(gw, writer):
    body = (b"<Delete><Object><Key>a.txt</Key></Object><Object><Key>missing</Key></Object>"
            b"<Object><Key>../ds10/secret.txt</Key></Object></Delete>")
    result = writer.request("POST", None, "delete", body=body)
    assert result.status == 200
    assert result.findall("Deleted/Key") == ["a.txt", "missing"]
    assert result.findall("Error/Key") == ["../ds10/secret.txt"]
    assert result.findall("Error/Code") == ["InvalidArgument"]
    assert writer.request("HEAD", "a.txt").status == 404
    assert os.path.exists(os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds10/secret.txt"))
    quiet = writer.request("POST", None, "delete",
                           body=b"<Delete><Quiet>true</Quiet><Object><Key>sub/b.bin</Key></Object></Delete>")
    assert quiet.findall("Deleted/Key") == [] and quiet.findall("Error/Key") == []


def test_delete_objects_malformed(writer):
    result = writer.request("POST", None, "delete", body=b"<nope/>")
    assert (result.status, result.code) == (400, "MalformedXML")


def _complete_body(parts):
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def _create(client, key):
    created = client.request("POST", key, "uploads")
    assert created.status == 200
    return created.find("UploadId")


def test_multipart_upload_round_trip(gw, writer):
    upload_id = _create(writer, "big.bin")
    chunks = [os.urandom(2048), os.urandom(2048), os.urandom(100)]
    etags = []
    for number, chunk in enumerate(chunks, 1):
        result = writer.request("PUT", "big.bin", f"partNumber={number}&uploadId={upload_id}", body=chunk)
        assert result.status == 200
        etags.append(result.headers["etag"])
    listed = writer.request("GET", "big.bin", f"uploadId={upload_id}")
    assert listed.findall("Part/PartNumber") == ["1", "2", "3"]
    assert writer.request("GET", None, "uploads").findall("Upload/UploadId") == [upload_id]
    assert writer.request("HEAD", "big.bin").status == 404  # nothing visible before completion
    done = writer.request("POST", "big.bin", f"uploadId={upload_id}", body=_complete_body(zip([1, 2, 3], etags, strict=True)))
    assert done.status == 200
    expected = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest() + "-3"
    assert done.find("ETag") == f'"{expected}"'
    assert writer.request("GET", "big.bin").body == b"".join(chunks)
    assert writer.request("GET", None, "uploads").findall("Upload/UploadId") == []
    again = writer.request("GET", "big.bin", f"uploadId={upload_id}")
    assert (again.status, again.code) == (404, "NoSuchUpload")


@pytest.mark.parametrize(("parts", "code"), [
    ([(2, 1), (1, 0)], "InvalidPartOrder"),
    ([(1, 0), (1, 0)], "InvalidPartOrder"),
    ([(1, "bad"), (2, 1)], "InvalidPart"),
    ([(1, 0), (3, 1)], "InvalidPart"),
    ([(1, 2), (2, 1)], "InvalidPart"),
])
def test_complete_refusals_leave_nothing(gw, writer, parts, code):
    upload_id = _create(writer, "x.bin")
    etags = []
    for number, size in ((1, 2048), (2, 2048)):
        etags.append(writer.request("PUT", "x.bin", f"partNumber={number}&uploadId={upload_id}",
                                    body=os.urandom(size)).headers["etag"])
    body = _complete_body([(n, etags[i] if isinstance(i, int) and i < 2 else '"00"') for n, i in parts])
    result = writer.request("POST", "x.bin", f"uploadId={upload_id}", body=body)
    assert (result.status, result.code) == (400, code)
    assert writer.request("HEAD", "x.bin").status == 404


def test_complete_refuses_small_parts_but_last(gw, writer):
    upload_id = _create(writer, "small.bin")
    etags = [writer.request("PUT", "small.bin", f"partNumber={n}&uploadId={upload_id}",
                            body=b"x" * 10).headers["etag"] for n in (1, 2)]
    result = writer.request("POST", "small.bin", f"uploadId={upload_id}", body=_complete_body(zip([1, 2], etags, strict=True)))
    assert (result.status, result.code) == (400, "EntityTooSmall")
    single = writer.request("POST", "small.bin", f"uploadId={upload_id}", body=_complete_body([(1, etags[0])]))
    assert single.status == 200


def test_abort_multipart(gw, writer):
    upload_id = _create(writer, "gone.bin")
    writer.request("PUT", "gone.bin", f"partNumber=1&uploadId={upload_id}", body=b"data")
    assert writer.request("DELETE", "gone.bin", f"uploadId={upload_id}").status == 204
    result = writer.request("PUT", "gone.bin", f"partNumber=2&uploadId={upload_id}", body=b"data")
    assert (result.status, result.code) == (404, "NoSuchUpload")
    assert not os.listdir(os.path.join(gw.settings.data_dir, ".spool", str(int(writer.bucket[7:]))))


def test_upload_id_is_bound_to_key_and_ticket(gw, writer):
    upload_id = _create(writer, "bound.bin")
    other_key = writer.request("PUT", "other.bin", f"partNumber=1&uploadId={upload_id}", body=b"x")
    assert (other_key.status, other_key.code) == (404, "NoSuchUpload")
    other_ticket = gw.client(gw.ticket("ds1", access=Access.WRITE))
    stolen = other_ticket.request("PUT", "bound.bin", f"partNumber=1&uploadId={upload_id}", body=b"x")
    assert (stolen.status, stolen.code) == (404, "NoSuchUpload")
    traversal = writer.request("PUT", "bound.bin", "partNumber=1&uploadId=..%2F..%2Fx", body=b"x")
    assert (traversal.status, traversal.code) == (404, "NoSuchUpload")


@pytest.mark.parametrize("number", ["0", "10001", "x"])
def test_upload_part_number_range(writer, number):
    upload_id = _create(writer, "n.bin")
    result = writer.request("PUT", "n.bin", f"partNumber={number}&uploadId={upload_id}", body=b"x")
    assert (result.status, result.code) == (400, "InvalidArgument")


@pytest.mark.parametrize(("method", "key", "query", "headers", "code", "status"), [
    ("GET", None, "acl", {}, "NotImplemented", 501),
    ("PUT", "a.txt", "tagging", {}, "NotImplemented", 501),
    ("PUT", "copy.txt", "", {"x-amz-copy-source": "/b/a.txt?versionId=3"}, "NotImplemented", 501),
    ("DELETE", None, "", {}, "NotImplemented", 501),
])
def test_not_implemented(writer, method, key, query, headers, code, status):
    result = writer.request(method, key, query, headers=headers)
    assert (result.status, result.code) == (status, code)
    assert result.headers["content-type"] == "application/xml"


def test_time_is_the_injected_clock(gw, reader):
    # the clock is START; a request signed 20 minutes off is refused as S3 does
    gw.clock.advance(0)
    signed = reader.sign("GET", f"/{reader.bucket}/a.txt")
    from .conftest import call_wsgi
    gw.clock.now = START.replace(minute=20)
    result = call_wsgi(gw.app, "GET", f"/{reader.bucket}/a.txt", signed)
    assert (result.status, result.code) == (403, "RequestTimeTooSkewed")


def test_folder_marker_keys_name_collections_never_the_object_without_slash(gw, writer):
    assert writer.request("GET", "sub/").status == 200  # a collection: an empty "folder" object
    for key in ("a.txt/", "nothing/"):
        result = writer.request("GET", key)
        assert (result.status, result.code) == (404, "NoSuchKey"), key
    put = writer.request("PUT", "a.txt/", body=b"")
    assert (put.status, put.code) == (409, "OperationAborted")  # a data object is in the way
    escape = writer.raw("GET", f"/{writer.bucket}/../ds10/")
    assert (escape.status, escape.code) == (400, "InvalidArgument")
    assert writer.request("DELETE", "a.txt/").status == 204  # no such folder: deleted, as S3 says
    assert writer.request("GET", "a.txt").body == b"hello world"


def test_body_not_matching_its_signed_hash_leaves_nothing(gw, writer):
    from .conftest import call_wsgi

    path = f"/{writer.bucket}/tampered.txt"
    signed = writer.sign("PUT", path, b"the signed body")
    result = call_wsgi(gw.app, "PUT", path, signed, b"another body!!!")
    assert (result.status, result.code) == (400, "XAmzContentSHA256Mismatch")
    assert writer.request("HEAD", "tampered.txt").status == 404


def test_multipart_staging_is_private_whatever_the_umask(gw, writer):
    """Issue 9 item 10: staged uploads (ticket and upload directories, upload.json, parts) are 0700/0600."""
    old = os.umask(0)
    try:
        upload_id = _create(writer, "staged.bin")
        assert writer.request("PUT", "staged.bin", f"partNumber=1&uploadId={upload_id}", body=b"p" * 100).status == 200
    finally:
        os.umask(old)
    spool = os.path.join(gw.settings.data_dir, ".spool")
    modes = {}
    for where, dirs, files in os.walk(spool):
        for name in dirs + files:
            modes[os.path.join(where, name)] = (os.path.isdir(os.path.join(where, name)),
                                                stat.S_IMODE(os.lstat(os.path.join(where, name)).st_mode))
    assert any(path.endswith("upload.json") for path in modes) and len(modes) >= 4
    assert {path: oct(mode) for path, (is_dir, mode) in modes.items() if mode != (0o700 if is_dir else 0o600)} == {}
