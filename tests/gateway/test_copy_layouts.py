"""Issue 8 item 2/3: what a copy carries, as AWS does it. CopyObject makes a new single-part object: its ETag is
the content's MD5 even from a multipart source (also in place, rclone's metadata repair), and its checksum is a
FULL_OBJECT one with the source's algorithm (or the one ``x-amz-checksum-algorithm`` names), computed over the
copy; UploadPartCopy answers the part's checksum with the upload's algorithm."""
from __future__ import annotations

import hashlib

from .test_checksums_echoed import CHUNKS, ENABLED, _multipart, b64, crc32, sha256, writer  # noqa: F401

WHOLE = b"".join(CHUNKS)
MD5 = hashlib.md5(WHOLE).hexdigest()


def _copy(writer, key, source, **headers):  # noqa: F811
    return writer.request("PUT", key, headers={"x-amz-copy-source": f"/{writer.bucket}/{source}", **headers})


def test_a_copy_of_a_multipart_object_is_single_part_with_a_full_object_checksum(writer):  # noqa: F811
    _, done = _multipart(writer, "big.bin", "SHA256", create_headers={"x-amz-checksum-algorithm": "SHA256"})
    assert done.find("ETag").strip('"').endswith("-3")
    copied = _copy(writer, "copy.bin", "big.bin")
    assert copied.status == 200
    assert copied.find("ETag") == f'"{MD5}"'
    assert (copied.find("ChecksumSHA256"), copied.find("ChecksumType")) == (b64(sha256(WHOLE)), "FULL_OBJECT")
    head = writer.request("HEAD", "copy.bin", headers=ENABLED)
    assert head.headers["etag"] == f'"{MD5}"' and head.headers["x-amz-checksum-sha256"] == b64(sha256(WHOLE))
    assert head.headers["x-amz-checksum-type"] == "FULL_OBJECT" and "x-amz-mp-parts-count" not in head.headers
    listed = writer.request("GET", query="list-type=2")
    assert dict(zip(listed.findall("Contents/Key"), listed.findall("Contents/ETag"), strict=True))["copy.bin"] == (
        f'"{MD5}"')
    assert writer.request("GET", "copy.bin", headers={"If-Match": f'"{MD5}"'}).status == 200
    # The source keeps its multipart ETag and composite checksum.
    assert writer.request("HEAD", "big.bin").headers["etag"] == done.find("ETag")


def test_a_named_algorithm_replaces_the_sources_and_in_place_copies_lose_the_multipart_etag(writer):  # noqa: F811
    _multipart(writer, "big.bin", "SHA256", create_headers={"x-amz-checksum-algorithm": "SHA256"})
    copied = _copy(writer, "copy.bin", "big.bin", **{"x-amz-checksum-algorithm": "CRC32"})
    assert copied.find("ChecksumCRC32") == b64(crc32(WHOLE)) and copied.find("ChecksumSHA256") is None
    writer.request("PUT", "plain.bin", body=WHOLE)
    assert _copy(writer, "plain-copy.bin", "plain.bin").find("ChecksumCRC32") is None  # none kept: none made
    _, done = _multipart(writer, "mp.bin", "CRC32", send=False)
    assert done.find("ETag").strip('"').endswith("-3")
    again = _copy(writer, "mp.bin", "mp.bin", **{"x-amz-metadata-directive": "REPLACE",
                                                 "x-amz-meta-mtime": "1700000000"})
    assert again.status == 200 and again.find("ETag") == f'"{MD5}"'
    head = writer.request("HEAD", "mp.bin")
    assert head.headers["etag"] == f'"{MD5}"' and head.headers["x-amz-meta-mtime"] == "1700000000"


def test_upload_part_copy_answers_the_parts_checksum(writer):  # noqa: F811
    writer.request("PUT", "src.bin", body=WHOLE)
    created = writer.request("POST", "dst.bin", "uploads", headers={"x-amz-checksum-algorithm": "CRC32"})
    upload_id = created.find("UploadId")
    part = writer.request("PUT", "dst.bin", f"partNumber=1&uploadId={upload_id}",
                          headers={"x-amz-copy-source": f"/{writer.bucket}/src.bin",
                                   "x-amz-copy-source-range": "bytes=0-2047"})
    assert part.status == 200
    assert part.find("ETag") == f'"{hashlib.md5(WHOLE[:2048]).hexdigest()}"'
    assert part.find("ChecksumCRC32") == b64(crc32(WHOLE[:2048]))
