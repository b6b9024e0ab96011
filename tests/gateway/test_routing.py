"""Pure routing: (method, path, query, host) -> operation, bucket, key."""
from __future__ import annotations

import pytest

from ticketbooth.s3.errors import S3Error
from ticketbooth.s3.routing import route

CASES = [
    ("GET", "/", "", "ListBuckets", None, None),
    ("GET", "/ticket-1", "", "ListObjectsV1", "ticket-1", None),
    ("GET", "/ticket-1/", "list-type=2&prefix=a", "ListObjectsV2", "ticket-1", None),
    ("GET", "/ticket-1", "location", "GetBucketLocation", "ticket-1", None),
    ("GET", "/ticket-1", "uploads", "ListMultipartUploads", "ticket-1", None),
    ("HEAD", "/ticket-1", "", "HeadBucket", "ticket-1", None),
    ("PUT", "/ticket-1", "", "CreateBucket", "ticket-1", None),
    ("POST", "/ticket-1", "delete", "DeleteObjects", "ticket-1", None),
    ("GET", "/ticket-1/a/b.txt", "", "GetObject", "ticket-1", "a/b.txt"),
    ("HEAD", "/ticket-1/a", "", "HeadObject", "ticket-1", "a"),
    ("PUT", "/ticket-1/a", "", "PutObject", "ticket-1", "a"),
    ("DELETE", "/ticket-1/a", "", "DeleteObject", "ticket-1", "a"),
    ("POST", "/ticket-1/a", "uploads", "CreateMultipartUpload", "ticket-1", "a"),
    ("PUT", "/ticket-1/a", "partNumber=1&uploadId=u", "UploadPart", "ticket-1", "a"),
    ("POST", "/ticket-1/a", "uploadId=u", "CompleteMultipartUpload", "ticket-1", "a"),
    ("DELETE", "/ticket-1/a", "uploadId=u", "AbortMultipartUpload", "ticket-1", "a"),
    ("GET", "/ticket-1/a", "uploadId=u", "ListParts", "ticket-1", "a"),
    ("PUT", "/ticket-1/a/", "", "PutObject", "ticket-1", "a/"),
    # decoded exactly once: %2F is a slash in the key, %252F stays "%2F"
    ("GET", "/ticket-1/a%2Fb", "", "GetObject", "ticket-1", "a/b"),
    ("GET", "/ticket-1/a%252Fb", "", "GetObject", "ticket-1", "a%2Fb"),
    ("GET", "/ticket-1/caf%C3%A9%20x+y", "", "GetObject", "ticket-1", "café x+y"),
    # never normalized: the authorizer refuses these, routing keeps them as sent
    ("GET", "/ticket-1//x", "", "GetObject", "ticket-1", "/x"),
    ("GET", "/ticket-1/a/../b", "", "GetObject", "ticket-1", "a/../b"),
]


@pytest.mark.parametrize(("method", "path", "query", "operation", "bucket", "key"), CASES,
                         ids=[f"{c[0]} {c[1]}?{c[2]}" for c in CASES])
def test_path_style(method, path, query, operation, bucket, key):
    result = route(method, path, query)
    assert (result.operation, result.bucket, result.key, result.style) == (operation, bucket, key, "path")


@pytest.mark.parametrize(("host", "path", "bucket", "key", "style"), [
    ("ticket-7.s3.example.org", "/a/b", "ticket-7", "a/b", "virtual"),
    ("ticket-7.s3.example.org:9000", "/", "ticket-7", None, "virtual"),
    ("TICKET-7.S3.Example.org", "/x", "ticket-7", "x", "virtual"),
    ("s3.example.org", "/ticket-7/x", "ticket-7", "x", "path"),
    ("127.0.0.1:9000", "/ticket-7/x", "ticket-7", "x", "path"),
    ("[::1]:9000", "/ticket-7/x", "ticket-7", "x", "path"),
    ("evil-s3.example.org", "/ticket-7/x", "ticket-7", "x", "path"),
])
def test_virtual_hosted_style(host, path, bucket, key, style):
    result = route("GET", path, "", host=host, base_domain="s3.example.org")
    assert (result.bucket, result.key, result.style) == (bucket, key, style)


def test_virtual_hosted_style_needs_a_base_domain():
    result = route("GET", "/ticket-7/x", "", host="ticket-7.s3.example.org")
    assert (result.bucket, result.key, result.style) == ("ticket-7", "x", "path")


@pytest.mark.parametrize(("method", "path", "query", "headers", "code", "status"), [
    ("GET", "/ticket-1", "acl", {}, "NotImplemented", 501),
    ("GET", "/ticket-1/a", "tagging", {}, "NotImplemented", 501),
    ("GET", "/ticket-1", "versions", {}, "NotImplemented", 501),
    ("DELETE", "/ticket-1", "", {}, "NotImplemented", 501),
    ("POST", "/ticket-1/a", "", {}, "NotImplemented", 501),
    ("PATCH", "/ticket-1/a", "", {}, "MethodNotAllowed", 405),
    ("PUT", "/", "", {}, "MethodNotAllowed", 405),
    ("PUT", "/ticket-1/a", "partNumber=1", {}, "InvalidRequest", 400),
    ("GET", "/ticket-1", "list-type=3", {}, "InvalidArgument", 400),
    ("GET", "/ticket-1/a%zz", "", {}, "InvalidURI", 400),
    ("GET", "/ticket-1/a%ff", "", {}, "InvalidURI", 400),
    ("GET", "ticket-1/a", "", {}, "InvalidURI", 400),
    ("GET", "/ticket-1", "prefix=%zz", {}, "InvalidURI", 400),
])
def test_refusals(method, path, query, headers, code, status):
    with pytest.raises(S3Error) as info:
        route(method, path, query, headers=headers)
    assert (info.value.code, info.value.status) == (code, status)


def test_query_parameters_are_decoded_once_and_plus_is_a_space():
    # As AWS S3 and MinIO read queries (rclone's SigV2 listings send prefix=rclone+v2%2F for "rclone v2/").
    result = route("GET", "/ticket-1", "list-type=2&prefix=a%2Bb+c&delimiter=%2F&prefix=ignored")
    assert result.params["prefix"] == "a+b c"
    assert result.params["delimiter"] == "/"


def test_resource_names_bucket_and_key():
    assert route("GET", "/ticket-1/a%20b", "").resource == "/ticket-1/a b"
    assert route("GET", "/", "").resource == "/"
