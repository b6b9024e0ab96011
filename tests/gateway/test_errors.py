"""The one mapping from any error to the S3 error answered."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest

from ticketbooth import errors as tb
from ticketbooth.s3.errors import S3Error, to_s3_error
from ticketbooth.sigv4.errors import SignatureDoesNotMatch


@pytest.mark.parametrize(("exc", "object_level", "code", "status", "needle"), [
    (tb.TicketExpired(), True, "AccessDenied", 403, "expired"),
    (tb.TicketExhausted(), True, "AccessDenied", 403, "uses limit"),
    (tb.TicketUserExcluded(), True, "AccessDenied", 403, "user"),
    (tb.TicketGroupExcluded(), True, "AccessDenied", 403, "groups"),
    (tb.TicketHostExcluded(), True, "AccessDenied", 403, "client address"),
    (tb.TicketWriteFilesExceeded(), True, "AccessDenied", 403, "write-file limit"),
    (tb.TicketWriteBytesExceeded(), True, "AccessDenied", 403, "write-byte limit"),
    (tb.TicketNotFound(), True, "InvalidAccessKeyId", 403, "does not exist"),
    (tb.PathNotFound(), True, "NoSuchKey", 404, "key"),
    (tb.PathNotFound(), False, "NoSuchBucket", 404, "bucket"),
    (tb.PermissionDenied("symlink"), True, "AccessDenied", 403, "symlink"),
    (tb.InvalidPath("bad"), True, "InvalidArgument", 400, "bad"),
    (tb.InvalidRequest("nope"), True, "InvalidRequest", 400, "nope"),
    (tb.BackendUnavailable(retry_after=7), True, "ServiceUnavailable", 503, "retry"),
    (tb.BackendError(), True, "InternalError", 500, "internal"),
    (SignatureDoesNotMatch("bad sig"), True, "SignatureDoesNotMatch", 403, "bad sig"),
])
def test_mapping(exc, object_level, code, status, needle, caplog):
    with caplog.at_level(logging.CRITICAL):
        error = to_s3_error(exc, object_level=object_level)
    assert (error.code, error.status) == (code, status)
    assert needle in error.message


def test_retry_after_on_unavailable():
    assert to_s3_error(tb.BackendUnavailable(retry_after=7)).headers == {"Retry-After": "7"}


def test_unexpected_exception_is_internal_error_and_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="ticketbooth.s3.errors"):
        error = to_s3_error(KeyError("boom"))
    assert (error.code, error.status) == ("InternalError", 500)
    assert "boom" not in error.message
    assert caplog.records


def test_xml_document_is_escaped_and_complete():
    error = S3Error("NoSuchKey", 404, "no <such> & key", details={"Key": "a&b"})
    root = ET.fromstring(error.to_xml(resource="/ticket-1/a&b", request_id="R1"))
    assert root.tag == "Error"
    assert {child.tag: child.text for child in root} == {
        "Code": "NoSuchKey", "Message": "no <such> & key", "Key": "a&b", "Resource": "/ticket-1/a&b",
        "RequestId": "R1",
    }
