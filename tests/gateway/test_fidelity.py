"""Object fidelity through the gateway (issue 8 items 1-3): metadata kept and returned, CopyObject and
UploadPartCopy inside the ticket, folder semantics. Signed by botocore, real embedded backend."""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from ticketbooth.backends.base import ObjectMetadata
from ticketbooth.gateway import metadata
from ticketbooth.model import Access

from .conftest import NS, call_wsgi

META_HEADERS = {
    "Content-Type": "text/csv; charset=utf-8",
    "Cache-Control": "max-age=3600",
    "Content-Disposition": 'attachment; filename="data.csv"',
    "Content-Encoding": "gzip",
    "Content-Language": "en-GB",
    "Expires": "Thu, 01 Dec 2044 16:00:00 GMT",
    "x-amz-meta-mtime": "1700000000.123456789",
    "X-Amz-Meta-Project": "Lab 42",
}


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket("ds1", access=Access.WRITE))


@pytest.fixture
def reader(gw):
    return gw.client(gw.ticket("ds1"))


def _meta(result) -> dict[str, str]:
    names = ("content-type", "cache-control", "content-disposition", "content-encoding", "content-language",
             "expires")
    return {k: v for k, v in result.headers.items() if k in names or k.startswith("x-amz-meta-")}


EXPECTED = {
    "content-type": "text/csv; charset=utf-8", "cache-control": "max-age=3600",
    "content-disposition": 'attachment; filename="data.csv"', "content-encoding": "gzip",
    "content-language": "en-GB", "expires": "Thu, 01 Dec 2044 16:00:00 GMT",
    "x-amz-meta-mtime": "1700000000.123456789", "x-amz-meta-project": "Lab 42",
}


# -- metadata --------------------------------------------------------------------------------------------


def test_put_stores_metadata_that_head_and_get_return(writer, reader):
    assert writer.request("PUT", "m/data.csv", body=b"a,b\n", headers=META_HEADERS).status == 200
    for method in ("HEAD", "GET"):
        result = reader.request(method, "m/data.csv")
        assert result.status == 200
        assert _meta(result) == EXPECTED, method


def test_response_overrides_still_win(writer, reader):
    writer.request("PUT", "o.csv", body=b"x", headers=META_HEADERS)
    result = reader.request("GET", "o.csv", "response-content-type=text%2Fplain&response-cache-control=no-cache")
    assert (result.headers["content-type"], result.headers["cache-control"]) == ("text/plain", "no-cache")
    assert result.headers["x-amz-meta-project"] == "Lab 42"


def test_stored_type_is_not_guessed_and_unstored_type_is(writer, reader):
    writer.request("PUT", "page.json", body=b"{}", headers={"Content-Type": "application/x-custom"})
    assert reader.request("HEAD", "page.json").headers["content-type"] == "application/x-custom"
    writer.request("PUT", "plain.json", body=b"{}")
    assert reader.request("HEAD", "plain.json").headers["content-type"] == "application/json"  # guessed
    assert reader.request("HEAD", "a.txt").headers["content-type"].startswith("text/plain")  # written outside S3


def test_rewriting_replaces_metadata(writer):
    writer.request("PUT", "r.txt", body=b"1", headers={"x-amz-meta-a": "1"})
    writer.request("PUT", "r.txt", body=b"2", headers={"x-amz-meta-b": "2"})
    result = writer.request("HEAD", "r.txt")
    assert "x-amz-meta-a" not in result.headers and result.headers["x-amz-meta-b"] == "2"


def test_utf8_metadata_round_trips_as_the_same_bytes():
    wire = "café ✓".encode().decode("latin-1")  # how WSGI hands UTF-8 header bytes over
    stored = metadata.from_headers({"x-amz-meta-note": wire, "content-disposition": wire})
    assert (stored.user, stored.content_disposition) == ({"note": "café ✓"}, "café ✓")
    assert metadata.to_headers(stored) == {"x-amz-meta-note": wire, "Content-Disposition": wire}


def test_metadata_set_outside_s3_never_breaks_a_response_header():
    # iRODS users can set any AVU: control characters and names that are no HTTP token are left out.
    stored = ObjectMetadata(content_type="text/plain\r\nX-Evil: 1", cache_control="ok\n",
                            user={"good": "v", "bad name": "v", "crlf": "a\r\nb"})
    assert metadata.to_headers(stored) == {"x-amz-meta-good": "v"}
    assert metadata.content_type(stored, "f.html") == "text/html"


def writer_ticket(gw, client):
    return gw.backend.find_ticket(int(client.bucket.split("-")[1]))


def test_user_metadata_over_2_kib_is_refused_and_nothing_stored(gw, writer):
    fits = {"x-amz-meta-k": "v" * (2048 - 1)}
    assert writer.request("PUT", "fits.bin", body=b"1", headers=fits).status == 200
    too_big = {"x-amz-meta-k": "v" * 2048}
    result = writer.request("PUT", "big.bin", body=b"1", headers=too_big)
    assert (result.status, result.code) == (400, "MetadataTooLarge")
    assert writer.request("HEAD", "big.bin").status == 404
    result = writer.request("POST", "big.bin", "uploads", headers=too_big)
    assert (result.status, result.code) == (400, "MetadataTooLarge")
    assert writer_ticket(gw, writer).write_file_count == 1


def test_multipart_upload_stores_create_metadata(gw, writer, reader):
    created = writer.request("POST", "mp.bin", "uploads", headers=META_HEADERS)
    upload_id = created.find("UploadId")
    part = writer.request("PUT", "mp.bin", f"partNumber=1&uploadId={upload_id}", body=b"p" * 10)
    body = (f'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part.headers["etag"]}</ETag>'
            "</Part></CompleteMultipartUpload>").encode()
    assert writer.request("POST", "mp.bin", f"uploadId={upload_id}", body=body).status == 200
    assert _meta(reader.request("HEAD", "mp.bin")) == EXPECTED


def test_aws_chunked_is_not_stored_as_content_encoding(writer):
    writer.request("PUT", "c.txt", body=b"c", headers={"Content-Encoding": "aws-chunked"})
    assert "content-encoding" not in writer.request("HEAD", "c.txt").headers
    writer.request("PUT", "c.txt", body=b"c", headers={"Content-Encoding": "aws-chunked,gzip"})
    assert writer.request("HEAD", "c.txt").headers["content-encoding"] == "gzip"


# -- CopyObject --------------------------------------------------------------------------------------------


def _copy(client, key, source, **headers):
    return client.request("PUT", key, headers={"x-amz-copy-source": source, **headers})


def test_copy_object_copies_bytes_and_metadata(gw, writer):
    writer.request("PUT", "src.csv", body=b"0123456789", headers=META_HEADERS)
    result = _copy(writer, "dst/copy.csv", f"/{writer.bucket}/src.csv")
    assert result.status == 200
    root = ET.fromstring(result.body)
    assert root.tag == NS + "CopyObjectResult"
    assert root.findtext(NS + "ETag") == f'"{hashlib.md5(b"0123456789").hexdigest()}"'
    assert root.findtext(NS + "LastModified").endswith("Z")
    got = writer.request("GET", "dst/copy.csv")
    assert got.body == b"0123456789" and _meta(got) == EXPECTED
    assert writer_ticket(gw, writer).write_file_count == 2  # the PUT and the copy


def test_copy_object_replace_directive_and_in_place_mtime_repair(writer):
    writer.request("PUT", "f.txt", body=b"data", headers={"x-amz-meta-mtime": "1", "Content-Type": "text/x-a"})
    # What rclone sends to fix a modification time: copy onto itself with REPLACE.
    result = _copy(writer, "f.txt", f"{writer.bucket}/f.txt", **{"x-amz-metadata-directive": "REPLACE",
                                                                 "x-amz-meta-mtime": "2",
                                                                 "Content-Type": "text/x-b"})
    assert result.status == 200
    head = writer.request("HEAD", "f.txt")
    assert (head.headers["x-amz-meta-mtime"], head.headers["content-type"]) == ("2", "text/x-b")
    assert writer.request("GET", "f.txt").body == b"data"
    same = _copy(writer, "f.txt", f"/{writer.bucket}/f.txt")
    assert (same.status, same.code) == (400, "InvalidRequest")  # onto itself without REPLACE, as S3
    bad = _copy(writer, "g.txt", f"/{writer.bucket}/f.txt", **{"x-amz-metadata-directive": "MERGE"})
    assert (bad.status, bad.code) == (400, "InvalidArgument")


def test_copy_source_is_percent_decoded_once(writer):
    writer.request("PUT", "sp ace/ü+.txt", body=b"odd")
    assert _copy(writer, "plain.txt", f"/{writer.bucket}/sp%20ace/%C3%BC%2B.txt").status == 200
    assert writer.request("GET", "plain.txt").body == b"odd"


@pytest.mark.parametrize(("source", "status", "code"), [
    ("/{bucket}/missing.txt", 404, "NoSuchKey"),
    ("/{bucket}/sub", 404, "NoSuchKey"),  # a collection is no object
    ("/{bucket}/sub/", 404, "NoSuchKey"),
    ("/{bucket}/../ds10/secret.txt", 400, "InvalidArgument"),
    ("/{bucket}/..%2Fds10/secret.txt", 400, "InvalidArgument"),
    ("/ticket-999/a.txt", 403, "AccessDenied"),
    ("/otherbucket/a.txt", 404, "NoSuchBucket"),
    ("/{bucket}", 400, "InvalidArgument"),
    ("/{bucket}/a.txt?versionId=abc", 501, "NotImplemented"),
    ("/{bucket}/a%zz", 400, "InvalidURI"),
])
def test_copy_refusals_leave_nothing(gw, writer, source, status, code):
    result = _copy(writer, "target.txt", source.format(bucket=writer.bucket))
    assert (result.status, result.code) == (status, code)
    assert writer.request("HEAD", "target.txt").status == 404
    assert writer_ticket(gw, writer).write_file_count == 0


def test_copy_from_another_tickets_bucket_is_refused(gw, writer):
    other = gw.ticket("ds10")
    result = _copy(writer, "stolen.txt", f"/ticket-{other.id}/secret.txt")
    assert (result.status, result.code) == (403, "AccessDenied")


def test_a_read_ticket_cannot_be_a_copy_destination(gw, reader):
    result = _copy(reader, "copy.txt", f"/{reader.bucket}/a.txt")
    assert (result.status, result.code) == (403, "AccessDenied")
    assert reader.request("HEAD", "copy.txt").status == 404


def test_copy_counts_against_the_write_limits(gw):
    client = gw.client(gw.ticket("ds1", access=Access.WRITE, write_byte_limit=15))
    assert _copy(client, "one.txt", f"/{client.bucket}/a.txt").status == 200  # 11 bytes
    result = _copy(client, "two.txt", f"/{client.bucket}/a.txt")
    assert (result.status, result.code) == (403, "AccessDenied")
    assert client.request("HEAD", "two.txt").status == 404


@pytest.mark.parametrize(("header", "value_of", "ok"), [
    ("x-amz-copy-source-if-match", lambda etag, date: etag, True),
    ("x-amz-copy-source-if-match", lambda etag, date: '"0000"', False),
    ("x-amz-copy-source-if-none-match", lambda etag, date: etag, False),
    ("x-amz-copy-source-if-none-match", lambda etag, date: '"0000"', True),
    ("x-amz-copy-source-if-modified-since", lambda etag, date: date, False),
    ("x-amz-copy-source-if-modified-since", lambda etag, date: "Mon, 01 Jan 2001 00:00:00 GMT", True),
    ("x-amz-copy-source-if-unmodified-since", lambda etag, date: date, True),
    ("x-amz-copy-source-if-unmodified-since", lambda etag, date: "Mon, 01 Jan 2001 00:00:00 GMT", False),
])
def test_copy_source_conditions(writer, header, value_of, ok):
    head = writer.request("HEAD", "a.txt")
    value = value_of(head.headers["etag"], head.headers["last-modified"])
    result = _copy(writer, "cond.txt", f"/{writer.bucket}/a.txt", **{header: value})
    if ok:
        assert result.status == 200
    else:
        assert (result.status, result.code) == (412, "PreconditionFailed")
        assert writer.request("HEAD", "cond.txt").status == 404


def test_copy_destination_if_none_match(writer):
    result = _copy(writer, "a.txt", f"/{writer.bucket}/sub/b.bin", **{"If-None-Match": "*"})
    assert (result.status, result.code) == (412, "PreconditionFailed")
    assert writer.request("GET", "a.txt").body == b"hello world"


def test_unsigned_copy_is_refused(gw, writer):
    result = call_wsgi(gw.app, "PUT", f"/{writer.bucket}/x.txt",
                       {"Host": "127.0.0.1:9000", "x-amz-copy-source": f"/{writer.bucket}/a.txt"})
    assert (result.status, result.code) == (403, "AccessDenied")


# -- UploadPartCopy ----------------------------------------------------------------------------------------


def test_upload_part_copy_with_ranges(gw, writer):
    data = bytes(range(256)) * 8  # 2 KiB, above the test's 1 KiB minimum part size
    writer.request("PUT", "big.bin", body=data)
    upload_id = writer.request("POST", "joined.bin", "uploads").find("UploadId")
    etags = []
    for number, rng in ((1, "bytes=0-1099"), (2, "bytes=1100-2047")):
        result = writer.request("PUT", "joined.bin", f"partNumber={number}&uploadId={upload_id}",
                                headers={"x-amz-copy-source": f"/{writer.bucket}/big.bin",
                                         "x-amz-copy-source-range": rng})
        assert result.status == 200, result.body
        root = ET.fromstring(result.body)
        assert root.tag == NS + "CopyPartResult"
        etags.append(root.findtext(NS + "ETag"))
    first, last = 0, 1099
    assert etags[0] == f'"{hashlib.md5(data[first:last + 1]).hexdigest()}"'
    parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in enumerate(etags, 1))
    body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
    assert writer.request("POST", "joined.bin", f"uploadId={upload_id}", body=body).status == 200
    assert writer.request("GET", "joined.bin").body == data


@pytest.mark.parametrize("rng", ["bytes=0-2048", "bytes=5-1", "bytes=0-", "bytes=-5", "items=0-1", "bytes=a-b"])
def test_upload_part_copy_bad_range(writer, rng):
    writer.request("PUT", "big.bin", body=b"x" * 2048)
    upload_id = writer.request("POST", "j.bin", "uploads").find("UploadId")
    result = writer.request("PUT", "j.bin", f"partNumber=1&uploadId={upload_id}",
                            headers={"x-amz-copy-source": f"/{writer.bucket}/big.bin",
                                     "x-amz-copy-source-range": rng})
    assert (result.status, result.code) == (400, "InvalidArgument")


def test_upload_part_copy_needs_an_upload_and_a_source_inside(gw, writer):
    result = writer.request("PUT", "j.bin", "partNumber=1&uploadId=" + "A" * 32,
                            headers={"x-amz-copy-source": f"/{writer.bucket}/a.txt"})
    assert (result.status, result.code) == (404, "NoSuchUpload")
    upload_id = writer.request("POST", "j.bin", "uploads").find("UploadId")
    result = writer.request("PUT", "j.bin", f"partNumber=1&uploadId={upload_id}",
                            headers={"x-amz-copy-source": f"/{writer.bucket}/../ds10/secret.txt"})
    assert (result.status, result.code) == (400, "InvalidArgument")


# -- folders -----------------------------------------------------------------------------------------------


def _keys(client, query="list-type=2"):
    return client.request("GET", None, query).findall("Contents/Key")


def test_put_folder_creates_an_empty_collection_listed_as_its_marker(gw, writer):
    result = writer.request("PUT", "newdir/", body=b"")
    assert (result.status, result.headers["etag"]) == (200, '"d41d8cd98f00b204e9800998ecf8427e"')
    assert "newdir/" in _keys(writer)
    assert _keys(writer, "list-type=2&prefix=newdir%2F") == ["newdir/"]
    assert _keys(writer, "list-type=2&prefix=newdir%2F&delimiter=%2F") == ["newdir/"]
    delimited = writer.request("GET", None, "list-type=2&delimiter=%2F")
    assert "newdir/" in delimited.findall("CommonPrefixes/Prefix")
    head = writer.request("HEAD", "newdir/")
    assert (head.status, head.headers["content-length"]) == (200, "0")
    assert writer.request("HEAD", "newdir").status == 404  # the marker is not an object without the slash
    assert writer_ticket(gw, writer).write_file_count == 0


def test_put_folder_with_data_is_refused(writer):
    result = writer.request("PUT", "full/", body=b"data")
    assert (result.status, result.code) == (400, "InvalidArgument")
    assert "full/" not in _keys(writer)


def test_delete_folder(writer):
    writer.request("PUT", "d/", body=b"")
    assert writer.request("DELETE", "d/").status == 204
    assert "d/" not in _keys(writer)
    assert writer.request("DELETE", "d/").status == 204  # nothing there: still 204
    assert writer.request("DELETE", "sub/").status == 204  # holds b.bin: kept
    assert "sub/b.bin" in _keys(writer)


def test_deleting_the_last_object_leaves_no_phantom_prefix(gw, writer):
    writer.request("PUT", "x/y/one.txt", body=b"1")
    assert writer.request("DELETE", "x/y/one.txt").status == 204
    listing = writer.request("GET", None, "list-type=2&delimiter=%2F")
    assert "x/" not in listing.findall("CommonPrefixes/Prefix")
    assert not [k for k in _keys(writer) if k.startswith("x/")]
    # sub/ existed before (written outside S3): deleting its only object keeps it, listed as a marker.
    writer.request("DELETE", "sub/b.bin")
    assert "sub/" in _keys(writer)


def test_explicit_folder_survives_its_objects(writer):
    writer.request("PUT", "keep/", body=b"")
    writer.request("PUT", "keep/f.txt", body=b"f")
    writer.request("DELETE", "keep/f.txt")
    assert "keep/" in _keys(writer)


def test_delete_objects_with_folder_markers_removes_everything(writer):
    writer.request("PUT", "tree/", body=b"")
    writer.request("PUT", "tree/deep/", body=b"")
    writer.request("PUT", "tree/deep/f.txt", body=b"f")
    keys = ["tree/", "tree/deep/", "tree/deep/f.txt"]  # S3 key order: markers before their contents
    body = ("<Delete>" + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys) + "</Delete>").encode()
    md5 = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
    result = writer.request("POST", None, "delete", body=body, headers={"Content-MD5": md5})
    assert result.status == 200 and sorted(result.findall("Deleted/Key")) == sorted(keys)
    assert not [k for k in _keys(writer) if k.startswith("tree")]


def test_a_read_ticket_cannot_create_or_remove_folders(gw, reader):
    assert reader.request("PUT", "r/", body=b"").status == 403
    assert reader.request("DELETE", "sub/").status == 403
