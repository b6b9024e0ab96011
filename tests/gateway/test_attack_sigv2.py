"""SigV2 through the gateway (issue 9 items 5 and 15, issue 8 item 4): a shared SigV2 URL cannot gain a
sub-resource by spelling its name encoded, lives at most 7 days, and bucket-level SigV2 requests verify."""
from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from freezegun import freeze_time

from ticketbooth.model import Access

from .conftest import HOST, call_wsgi


def v2_client(gw, ticket):
    key, secret = gw.keys(ticket)
    return boto3.session.Session().client(
        "s3", endpoint_url=f"http://{HOST}", region_name=gw.settings.s3.region, aws_access_key_id=key,
        aws_secret_access_key=secret, config=Config(signature_version="s3", s3={"addressing_style": "path"}))


def presigned(gw, ticket, operation: str, expires: int = 600, **params) -> str:
    with freeze_time(gw.clock()):
        url = v2_client(gw, ticket).generate_presigned_url(
            operation, Params={"Bucket": f"ticket-{ticket.id}", **params}, ExpiresIn=expires)
    split = urlsplit(url)
    return f"{split.path}?{split.query}"


@pytest.mark.parametrize(("extra", "level"), [
    ("response-content-typ%65=text%2Fhtml", "object"),
    ("%72esponse-content-disposition=inline", "object"),
    ("upload%73", "bucket"),
    ("upload%49d=x&partNumber=1", "object"),
])
def test_encoded_subresource_on_a_shared_sigv2_url_is_refused(gw, extra: str, level: str) -> None:
    ticket = gw.ticket("ds1", access=Access.WRITE)
    uri = (presigned(gw, ticket, "get_object", Key="a.txt") if level == "object"
           else presigned(gw, ticket, "list_objects"))
    assert call_wsgi(gw.app, "GET", uri, {"Host": HOST}).status == 200
    attacked = call_wsgi(gw.app, "GET", uri + "&" + extra, {"Host": HOST})
    assert (attacked.status, attacked.code) == (403, "SignatureDoesNotMatch")
    assert "text/html" not in attacked.headers.get("content-type", "")


def test_sigv2_url_lifetime_is_capped(gw) -> None:
    ticket = gw.ticket("ds1")
    long_lived = presigned(gw, ticket, "get_object", expires=100 * 365 * 86400, Key="a.txt")
    result = call_wsgi(gw.app, "GET", long_lived, {"Host": HOST})
    assert (result.status, result.code) == (403, "AccessDenied")
    week = presigned(gw, ticket, "get_object", expires=7 * 86400, Key="a.txt")
    assert call_wsgi(gw.app, "GET", week, {"Host": HOST}).body == b"hello world"


@pytest.mark.parametrize("operation", ["list_objects", "head_bucket", "get_bucket_location",
                                       "list_multipart_uploads"])
def test_sigv2_bucket_level_operations_over_loopback(gateway_server, operation: str) -> None:
    gw, url = gateway_server
    ticket = gw.ticket("ds1")
    key, secret = gw.keys(ticket)
    client = boto3.session.Session().client(
        "s3", endpoint_url=url, region_name=gw.settings.s3.region, aws_access_key_id=key,
        aws_secret_access_key=secret, config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                                    retries={"max_attempts": 1}))
    answer = getattr(client, operation)(Bucket=f"ticket-{ticket.id}")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    if operation == "list_objects":
        assert [o["Key"] for o in answer["Contents"]] == ["a.txt"]
