"""S3 XML documents: rendering the responses the gateway sends and parsing the two request bodies it reads
(DeleteObjects, CompleteMultipartUpload). Pure: text in, text out.

Responses carry ``xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`` and S3's element order, which the SDKs'
parsers expect. Request bodies are parsed with namespaces ignored (clients differ) and refused when they
carry a DTD or entity declaration in any encoding (``defusedxml`` refuses them inside the parser, after
decoding, so a UTF-16 body cannot smuggle one past a byte search) or exceed :data:`MAX_REQUEST_XML` bytes.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as DefusedET

from ..s3.errors import S3Error
from .numbers import parse_decimal

__all__ = [
    "NS", "MAX_REQUEST_XML", "iso8601", "document", "element", "ObjectEntry", "PartEntry", "UploadEntry",
    "list_buckets", "bucket_location", "list_objects", "initiate_multipart", "complete_multipart", "list_parts",
    "list_multipart_uploads", "delete_result", "parse_delete", "parse_complete", "encode_key", "copy_result",
]

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_REQUEST_XML = 2 * 1024 * 1024
OWNER_ID = "ticketbooth"


def iso8601(when: datetime | None) -> str:
    """S3's timestamp form: ``2009-10-12T17:50:30.000Z``."""
    if when is None:
        when = datetime(1970, 1, 1, tzinfo=UTC)
    when = when.astimezone(UTC)
    # Fields rather than strftime: a listing page formats up to 1,000 of these.
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
            f".{when.microsecond // 1000:03d}Z")


def element(name: str, value: object) -> str:
    """``<name>value</name>`` with ``value`` escaped (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, body: Iterable[str]) -> bytes:
    """A complete S3 response document with the S3 namespace on ``root``."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">' + "".join(body) + f"</{root}>").encode()


def encode_key(key: str, encoding_type: str | None) -> str:
    """A key as a listing shows it: URL-encoded (``/`` kept, as S3 does) when ``encoding-type=url``."""
    return quote(key, safe="/") if encoding_type == "url" else key


def _owner(holder: str) -> str:
    return "<Owner>" + element("ID", OWNER_ID) + element("DisplayName", holder) + "</Owner>"


@dataclass(frozen=True)
class ObjectEntry:
    key: str
    size: int
    modified_at: datetime | None
    etag: str | None


@dataclass(frozen=True)
class PartEntry:
    number: int
    size: int
    modified_at: datetime | None
    etag: str


@dataclass(frozen=True)
class UploadEntry:
    key: str
    upload_id: str
    initiated: datetime | None


def list_buckets(buckets: Sequence[tuple[str, datetime | None]], holder: str) -> bytes:
    items = "".join("<Bucket>" + element("Name", name) + element("CreationDate", iso8601(created)) + "</Bucket>"
                    for name, created in buckets)
    return document("ListAllMyBucketsResult", [_owner(holder), f"<Buckets>{items}</Buckets>"])


def bucket_location(region: str) -> bytes:
    # S3 answers an empty LocationConstraint for us-east-1.
    value = "" if region == "us-east-1" else escape(region)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{NS}">{value}</LocationConstraint>'.encode()


def _etag(etag: str | None) -> str:
    return f'"{etag}"' if etag else '""'


def list_objects(
    *,
    version: int,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    encoding_type: str | None,
    contents: Sequence[ObjectEntry],
    common_prefixes: Sequence[str],
    is_truncated: bool,
    holder: str,
    marker: str = "",
    next_marker: str | None = None,
    continuation_token: str | None = None,
    next_continuation_token: str | None = None,
    start_after: str | None = None,
    fetch_owner: bool = False,
) -> bytes:
    """ListBucketResult for ListObjects V1 (``version=1``) or V2."""
    enc = encoding_type

    def k(text: str) -> str:
        return encode_key(text, enc)

    body = [element("Name", bucket), element("Prefix", k(prefix))]
    if version == 1:
        body.append(element("Marker", k(marker)))
        if next_marker is not None:
            body.append(element("NextMarker", k(next_marker)))
    else:
        if continuation_token is not None:
            body.append(element("ContinuationToken", continuation_token))
        if next_continuation_token is not None:
            body.append(element("NextContinuationToken", next_continuation_token))
        if start_after:
            body.append(element("StartAfter", k(start_after)))
        body.append(element("KeyCount", len(contents) + len(common_prefixes)))
    body.append(element("MaxKeys", max_keys))
    if delimiter:
        body.append(element("Delimiter", k(delimiter)))
    if enc:
        body.append(element("EncodingType", enc))
    body.append(element("IsTruncated", is_truncated))
    # One string per entry, escaping only what can need it (a page has up to 1,000 entries; the timestamp and
    # the size are digits and punctuation).
    owner = _owner(holder) if version == 1 or fetch_owner else ""
    tail = f"{owner}<StorageClass>STANDARD</StorageClass></Contents>"
    for entry in contents:
        body.append(f"<Contents><Key>{escape(k(entry.key))}</Key><LastModified>{iso8601(entry.modified_at)}"
                    f"</LastModified><ETag>{escape(_etag(entry.etag))}</ETag><Size>{int(entry.size)}</Size>{tail}")
    for prefix_ in common_prefixes:
        body.append("<CommonPrefixes>" + element("Prefix", k(prefix_)) + "</CommonPrefixes>")
    return document("ListBucketResult", body)


def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    return document("InitiateMultipartUploadResult",
                    [element("Bucket", bucket), element("Key", key), element("UploadId", upload_id)])


def complete_multipart(location: str, bucket: str, key: str, etag: str,
                       checksum: tuple[str, str, str] | None = None) -> bytes:
    """``checksum``: (algorithm, value, type) of the object's checksum, when it has one."""
    body = [element("Location", location), element("Bucket", bucket), element("Key", key),
            element("ETag", f'"{etag}"')]
    if checksum is not None:
        body += [element("Checksum" + checksum[0], checksum[1]), element("ChecksumType", checksum[2])]
    return document("CompleteMultipartUploadResult", body)


def object_attributes(wanted: Iterable[str], *, etag: str | None, size: int, parts: Sequence[int],
                      checksum: tuple[str, str, str] | None, part_checksums: Sequence[str]) -> bytes:
    """``GetObjectAttributesResponse`` with the ``wanted`` attributes (ETag unquoted, as S3 answers it)."""
    wanted = set(wanted)
    body = []
    if "ETag" in wanted and etag:
        body.append(element("ETag", etag))
    if "Checksum" in wanted and checksum is not None:
        body.append("<Checksum>" + element("Checksum" + checksum[0], checksum[1])
                    + element("ChecksumType", checksum[2]) + "</Checksum>")
    if "ObjectParts" in wanted and parts:
        items = []
        for number, part_size in enumerate(parts, 1):
            value = (element("Checksum" + checksum[0], part_checksums[number - 1])
                     if checksum is not None and number <= len(part_checksums) else "")
            items.append("<Part>" + element("PartNumber", number) + element("Size", part_size) + value + "</Part>")
        # The wire name of TotalPartsCount is PartsCount (botocore's model says so).
        body.append("<ObjectParts>" + element("PartsCount", len(parts)) + element("PartNumberMarker", 0)
                    + element("NextPartNumberMarker", len(parts)) + element("MaxParts", max(len(parts), 1000))
                    + element("IsTruncated", False) + "".join(items) + "</ObjectParts>")
    if "StorageClass" in wanted:
        body.append(element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        body.append(element("ObjectSize", size))
    return document("GetObjectAttributesResponse", body)


def copy_result(root: str, etag: str, modified_at: datetime | None,
                checksum: tuple[str, str, str] | None = None) -> bytes:
    """``CopyObjectResult`` (CopyObject) or ``CopyPartResult`` (UploadPartCopy): ``root`` names which.
    ``checksum``: (algorithm, value, type) of the copy's checksum (type empty: none given, as for a part)."""
    body = [element("LastModified", iso8601(modified_at)), element("ETag", f'"{etag}"')]
    if checksum is not None:
        body.append(element("Checksum" + checksum[0], checksum[1]))
        if checksum[2]:
            body.append(element("ChecksumType", checksum[2]))
    return document(root, body)


def list_parts(*, bucket: str, key: str, upload_id: str, parts: Sequence[PartEntry], marker: int, max_parts: int,
               is_truncated: bool, holder: str, checksum: tuple[str, str] | None = None,
               part_checksums: Mapping[int, str] | None = None) -> bytes:
    """``checksum``: the upload's (algorithm, type); ``part_checksums``: each part's value (base64) by number."""
    body = [element("Bucket", bucket), element("Key", key), element("UploadId", upload_id),
            "<Initiator>" + element("ID", OWNER_ID) + element("DisplayName", holder) + "</Initiator>",
            _owner(holder), element("StorageClass", "STANDARD"), element("PartNumberMarker", marker)]
    if parts:
        body.append(element("NextPartNumberMarker", parts[-1].number))
    body += [element("MaxParts", max_parts), element("IsTruncated", is_truncated)]
    if checksum is not None:
        body += [element("ChecksumAlgorithm", checksum[0]), element("ChecksumType", checksum[1])]
    values = part_checksums or {}
    for part in parts:
        value = values.get(part.number)
        body.append("<Part>" + element("PartNumber", part.number) + element("LastModified", iso8601(part.modified_at))
                    + element("ETag", _etag(part.etag)) + element("Size", part.size)
                    + (element("Checksum" + checksum[0], value) if checksum is not None and value else "")
                    + "</Part>")
    return document("ListPartsResult", body)


def list_multipart_uploads(*, bucket: str, uploads: Sequence[UploadEntry], prefix: str, key_marker: str,
                           upload_id_marker: str, max_uploads: int, is_truncated: bool, holder: str,
                           encoding_type: str | None = None) -> bytes:
    body = [element("Bucket", bucket), element("KeyMarker", encode_key(key_marker, encoding_type)),
            element("UploadIdMarker", upload_id_marker)]
    if uploads and is_truncated:
        body += [element("NextKeyMarker", encode_key(uploads[-1].key, encoding_type)),
                 element("NextUploadIdMarker", uploads[-1].upload_id)]
    body += [element("Prefix", encode_key(prefix, encoding_type)), element("MaxUploads", max_uploads)]
    if encoding_type:
        body.append(element("EncodingType", encoding_type))
    body.append(element("IsTruncated", is_truncated))
    for upload in uploads:
        body.append("<Upload>" + element("Key", encode_key(upload.key, encoding_type))
                    + element("UploadId", upload.upload_id)
                    + "<Initiator>" + element("ID", OWNER_ID) + element("DisplayName", holder) + "</Initiator>"
                    + _owner(holder) + element("StorageClass", "STANDARD")
                    + element("Initiated", iso8601(upload.initiated)) + "</Upload>")
    return document("ListMultipartUploadsResult", body)


def delete_result(deleted: Sequence[str], errors: Sequence[tuple[str, str, str]], *, quiet: bool) -> bytes:
    """DeleteResult: ``deleted`` keys (left out in quiet mode) and ``errors`` as (key, code, message)."""
    body = [] if quiet else ["<Deleted>" + element("Key", key) + "</Deleted>" for key in deleted]
    body += ["<Error>" + element("Key", key) + element("Code", code) + element("Message", message) + "</Error>"
             for key, code, message in errors]
    return document("DeleteResult", body)


def _malformed() -> S3Error:
    return S3Error("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against "
                   "our published schema.")


def _parse(body: bytes) -> ET.Element:
    if len(body) > MAX_REQUEST_XML:
        raise _malformed()
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, defusedxml.DefusedXmlException, ValueError, LookupError) as err:
        # ValueError/LookupError: an encoding declaration expat cannot use.
        raise _malformed() from err
    for node in root.iter():
        node.tag = node.tag.rpartition("}")[2] if isinstance(node.tag, str) else node.tag
    return root


def parse_delete(body: bytes, *, max_keys: int = 1000) -> tuple[bool, list[str]]:
    """``(quiet, keys)`` of a DeleteObjects body; ``MalformedXML`` unless 1 to ``max_keys`` keys."""
    root = _parse(body)
    if root.tag != "Delete":
        raise _malformed()
    quiet = (root.findtext("Quiet") or "").strip().lower() == "true"
    keys = []
    for obj in root.findall("Object"):
        key = obj.findtext("Key")
        if key is None:
            raise _malformed()
        keys.append(key)
    if not keys or len(keys) > max_keys:
        raise _malformed()
    return quiet, keys


def complete_checksums(body: bytes) -> tuple[str | None, list[str | None]]:
    """The part checksums a (valid, see :func:`parse_complete`) CompleteMultipartUpload body names:
    ``(algorithm or None, [base64 value or None per part, in order])``; ``MalformedXML`` for two algorithms."""
    root = _parse(body)
    algorithm: str | None = None
    values: list[str | None] = []
    for part in root.findall("Part"):
        value = None
        for child in part:
            if child.tag.startswith("Checksum") and child.tag[8:] in _CHECKSUM_NAMES:
                if algorithm not in (None, child.tag[8:].upper()):
                    raise _malformed()
                algorithm, value = child.tag[8:].upper(), (child.text or "").strip()
        values.append(value)
    return algorithm, values


_CHECKSUM_NAMES = frozenset({"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"})


def parse_complete(body: bytes, *, max_parts: int = 10000) -> list[tuple[int, str]]:
    """``[(part number, etag without quotes)]`` of a CompleteMultipartUpload body, in the order given."""
    root = _parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise _malformed()
    parts = []
    for part in root.findall("Part"):
        number, etag = part.findtext("PartNumber"), part.findtext("ETag")
        value = parse_decimal(number.strip() if number is not None else None, cap=max_parts + 1)
        if value is None or etag is None:
            raise _malformed()
        parts.append((value, etag.strip().strip('"')))
    if not parts or len(parts) > max_parts:
        raise _malformed()
    return parts
