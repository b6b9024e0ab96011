"""``ticketbooth.sigv4.presign``: URLs must carry the very signature botocore's own presigner computes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import boto3
import botocore.config
import pytest
from freezegun import freeze_time

from ticketbooth.sigv4.presign import MAX_PRESIGN_EXPIRES, presign_url

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
AKID = "TBEXAMPLEACCESSKEY"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _botocore_url(endpoint: str, method: str, key: str, expires: int) -> str:
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=AKID, aws_secret_access_key=SECRET,
        region_name="eu-west-1",
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    operation = "get_object" if method == "GET" else "put_object"
    with freeze_time(NOW):
        return client.generate_presigned_url(operation, Params={"Bucket": "ticket-42", "Key": key}, ExpiresIn=expires)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "https://s3.example.org", "http://localhost:80"])
@pytest.mark.parametrize("key", ["plain.txt", "dir/sub dir/a+b=c.txt", "ümlaut/x?y#z&w", "~tilde/%percent"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_matches_botocore(endpoint: str, key: str, method: str) -> None:
    ours = presign_url(method=method.lower(), endpoint_url=endpoint, bucket="ticket-42", key=key,
                       access_key_id=AKID, secret_access_key=SECRET, region="eu-west-1", now=NOW, expires_in=900)
    theirs = _botocore_url(endpoint, method, key, 900)
    ours_parts, theirs_parts = urlsplit(ours.url), urlsplit(theirs)
    # botocore keeps an explicit default port in the URL (``:80``) but signs the Host without it, as we do.
    assert (ours_parts.scheme, ours_parts.hostname, ours_parts.path) == (
        theirs_parts.scheme, theirs_parts.hostname, theirs_parts.path)
    # botocore orders the query parameters differently; the set and the signature must be identical.
    assert sorted(parse_qsl(ours_parts.query)) == sorted(parse_qsl(theirs_parts.query))
    assert ours.method == method
    assert ours.expires_at == NOW + timedelta(seconds=900)


def test_repr_hides_the_url() -> None:
    ours = presign_url(method="GET", endpoint_url="http://127.0.0.1:9000", bucket="ticket-1", key="k",
                       access_key_id=AKID, secret_access_key=SECRET, region="us-east-1", now=NOW, expires_in=60)
    assert "Signature" not in repr(ours) and AKID not in repr(ours)


@pytest.mark.parametrize(
    "changes",
    [
        {"expires_in": 0},
        {"expires_in": MAX_PRESIGN_EXPIRES + 1},
        {"endpoint_url": "ftp://host"},
        {"endpoint_url": "127.0.0.1:9000"},
        {"bucket": ""},
        {"now": NOW.replace(tzinfo=None)},
    ],
    ids=["zero-expiry", "over-seven-days", "bad-scheme", "no-scheme", "no-bucket", "naive-now"],
)
def test_refuses_bad_input(changes: dict) -> None:
    kwargs = dict(method="GET", endpoint_url="http://127.0.0.1:9000", bucket="ticket-1", key="k",
                  access_key_id=AKID, secret_access_key=SECRET, region="us-east-1", now=NOW, expires_in=60)
    kwargs.update(changes)
    with pytest.raises(ValueError):
        presign_url(**kwargs)
