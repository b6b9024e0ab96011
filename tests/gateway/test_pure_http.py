"""Pure pieces: ranges, conditional headers, listing pagination, S3 XML documents, multipart ETag."""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from ticketbooth.gateway import s3xml
from ticketbooth.gateway.conditions import evaluate, http_date
from ticketbooth.gateway.listing import decode_token, encode_token, paginate, parse_max_keys
from ticketbooth.gateway.multipart import multipart_etag
from ticketbooth.gateway.ranges import parse_range
from ticketbooth.s3.errors import S3Error


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-4", 10, (0, 4)),
    ("bytes=5-", 10, (5, 9)),
    ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)),
    ("bytes=8-100", 10, (8, 9)),
    ("bytes=9-9", 10, (9, 9)),
    (None, 10, None),
    ("items=0-1", 10, None),
    ("bytes=0-1,3-4", 10, None),  # several ranges: whole object, as S3 does
    ("bytes=5-2", 10, None),  # invalid: ignored
    ("bytes=abc", 10, None),
])
def test_parse_range(header, size, expected):
    result = parse_range(header, size)
    assert (None if result is None else (result.start, result.end)) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10),
                                              ("bytes=0-", 0), ("bytes=-5", 0)])
def test_unsatisfiable_range(header, size):
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    assert (info.value.code, info.value.status) == ("InvalidRange", 416)
    assert info.value.headers["Content-Range"] == f"bytes */{size}"


def test_content_range_text():
    assert parse_range("bytes=2-5", 10).content_range == "bytes 2-5/10"
    assert parse_range("bytes=2-5", 10).length == 4


MODIFIED = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


@pytest.mark.parametrize(("headers", "method", "expected"), [
    ({}, "GET", None),
    ({"if-match": '"abc"'}, "GET", None),
    ({"if-match": '"other", "abc"'}, "GET", None),
    ({"if-match": "*"}, "GET", None),
    ({"if-match": '"other"'}, "GET", 412),
    ({"if-none-match": '"abc"'}, "GET", 304),
    ({"if-none-match": '"abc"'}, "HEAD", 304),
    ({"if-none-match": 'W/"abc"'}, "GET", 304),
    ({"if-none-match": '"other"'}, "GET", None),
    ({"if-none-match": "*"}, "PUT", 412),
    ({"if-modified-since": http_date(MODIFIED)}, "GET", 304),  # whole seconds: not modified since
    ({"if-modified-since": http_date(MODIFIED - timedelta(seconds=1))}, "GET", None),
    ({"if-unmodified-since": http_date(MODIFIED - timedelta(seconds=1))}, "GET", 412),
    ({"if-unmodified-since": http_date(MODIFIED)}, "GET", None),
    # If-Match overrides If-Unmodified-Since; If-None-Match overrides If-Modified-Since (RFC 9110, S3)
    ({"if-match": '"abc"', "if-unmodified-since": http_date(MODIFIED - timedelta(days=1))}, "GET", None),
    ({"if-none-match": '"other"', "if-modified-since": http_date(MODIFIED)}, "GET", None),
    ({"if-modified-since": "not a date"}, "GET", None),
])
def test_conditions(headers, method, expected):
    assert evaluate(headers, "abc", MODIFIED, method=method) == expected


def test_http_date_format():
    assert http_date(datetime(2015, 10, 21, 7, 28, 0, 999, tzinfo=UTC)) == "Wed, 21 Oct 2015 07:28:00 GMT"


KEYS = ["a/1", "a/2", "b", "c/x/1", "c/y", "d"]


def _entries(keys=KEYS):
    return [(key, key) for key in keys]


@pytest.mark.parametrize(("kw", "contents", "prefixes", "truncated"), [
    ({}, KEYS, [], False),
    ({"delimiter": "/"}, ["b", "d"], ["a/", "c/"], False),
    ({"prefix": "c/", "delimiter": "/"}, ["c/y"], ["c/x/"], False),
    ({"prefix": "a"}, ["a/1", "a/2"], [], False),
    ({"max_keys": 2}, ["a/1", "a/2"], [], True),
    ({"max_keys": 6}, KEYS, [], False),
    ({"delimiter": "/", "max_keys": 2}, ["b"], ["a/"], True),
    ({"marker": "a/1"}, KEYS[1:], [], False),
    ({"marker": "a/", "delimiter": "/"}, ["b", "d"], ["c/"], False),  # a prefix as marker skips its keys
    ({"marker": "zzz"}, [], [], False),
    ({"max_keys": 0}, [], [], False),
])
def test_paginate(kw, contents, prefixes, truncated):
    page = paginate(_entries(), **kw)
    assert [key for key, _ in page.contents] == contents
    assert page.common_prefixes == prefixes
    assert page.is_truncated is truncated


def test_paginate_walks_every_key_exactly_once():
    keys = sorted([f"{d}/{n}" for d in "abc" for n in range(5)] + ["top"])
    seen, marker = [], None
    while True:
        page = paginate(_entries(keys), delimiter=None, marker=marker, max_keys=4)
        seen += [key for key, _ in page.contents]
        if not page.is_truncated:
            break
        marker = page.last
    assert seen == keys


def test_paginate_orders_by_utf8_bytes_not_code_points():
    # U+FF21 sorts after U+E9 by code point and by UTF-8 bytes; marker comparison must use bytes
    page = paginate([("é", 1), ("Ａ", 2)], marker="é")
    assert [key for key, _ in page.contents] == ["Ａ"]


def test_continuation_token_round_trip_and_refusal():
    assert decode_token(encode_token("dir/ü")) == "dir/ü"
    with pytest.raises(S3Error) as info:
        decode_token("garbage!")
    assert info.value.code == "InvalidArgument"


@pytest.mark.parametrize(("value", "expected"), [(None, 1000), ("", 1000), ("5", 5), ("5000", 1000), ("0", 0)])
def test_max_keys(value, expected):
    assert parse_max_keys(value) == expected


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_max_keys_refused(value):
    with pytest.raises(S3Error) as info:
        parse_max_keys(value)
    assert info.value.code == "InvalidArgument"


def test_multipart_etag_is_md5_of_binary_md5s():
    parts = [hashlib.md5(b"one").hexdigest(), hashlib.md5(b"two").hexdigest()]
    expected = hashlib.md5(hashlib.md5(b"one").digest() + hashlib.md5(b"two").digest()).hexdigest() + "-2"
    assert multipart_etag(parts) == expected


def test_list_objects_v2_document_with_url_encoding():
    body = s3xml.list_objects(
        version=2, bucket="ticket-1", prefix="a b/", delimiter="/", max_keys=10, encoding_type="url",
        contents=[s3xml.ObjectEntry("a b/c&d", 3, datetime(2030, 1, 1, tzinfo=UTC), "abc")],
        common_prefixes=["a b/e/"], is_truncated=False, holder="alice")
    root = ET.fromstring(body)
    ns = {"s": s3xml.NS}
    assert root.tag == f"{{{s3xml.NS}}}ListBucketResult"
    assert root.findtext("s:Contents/s:Key", namespaces=ns) == "a%20b/c%26d"
    assert root.findtext("s:Contents/s:ETag", namespaces=ns) == '"abc"'
    assert root.findtext("s:Contents/s:LastModified", namespaces=ns) == "2030-01-01T00:00:00.000Z"
    assert root.findtext("s:CommonPrefixes/s:Prefix", namespaces=ns) == "a%20b/e/"
    assert root.findtext("s:KeyCount", namespaces=ns) == "2"
    assert root.findtext("s:EncodingType", namespaces=ns) == "url"


def test_parse_delete_and_complete_accept_namespaced_and_plain_bodies():
    quiet, keys = s3xml.parse_delete(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
        b"<Object><Key>a</Key></Object><Object><Key>b&amp;c</Key></Object></Delete>")
    assert (quiet, keys) == (True, ["a", "b&c"])
    parts = s3xml.parse_complete(b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"ab"</ETag>'
                                 b"</Part></CompleteMultipartUpload>")
    assert parts == [(1, "ab")]


@pytest.mark.parametrize("body", [
    b"not xml",
    b"<Delete></Delete>",
    b"<Other><Object><Key>a</Key></Object></Other>",
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>',
    b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
])
def test_parse_delete_refuses(body):
    with pytest.raises(S3Error) as info:
        s3xml.parse_delete(body)
    assert info.value.code == "MalformedXML"


@pytest.mark.parametrize("body", [
    b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
])
def test_parse_complete_refuses(body):
    with pytest.raises(S3Error) as info:
        s3xml.parse_complete(body)
    assert info.value.code == "MalformedXML"


def test_bucket_location_is_empty_for_us_east_1():
    assert b"></LocationConstraint>" in s3xml.bucket_location("us-east-1")
    assert b">eu-west-1</LocationConstraint>" in s3xml.bucket_location("eu-west-1")
