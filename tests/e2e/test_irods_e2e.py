"""End to end on the iRODS backend only, where the behaviour is iRODS's own: a ticket deleted out of band, with
python-irodsclient as ``iticket delete`` would, on the session's ``irods_stack`` (marker ``irods``; needs
TICKETBOOTH_TEST_IRODS_*, see docs/irods.md). The client suites run on this stack too: their ``[irods]`` tests.
"""
from __future__ import annotations

import boto3
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.irods, pytest.mark.clients]


def _s3(stack, ticket):
    keys = ticket["credentials"]
    return boto3.client("s3", endpoint_url=stack.gateway_url, region_name="us-east-1",
                        aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"],
                        config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def test_a_ticket_deleted_out_of_band_is_gone_from_the_api_and_its_keys_at_once(irods_stack, request):
    collection = irods_stack.collection(request.node.name)
    irods_stack.seed(collection + "/a.txt", b"a")
    ticket = irods_stack.create_ticket(collection)
    public = irods_stack.create_ticket(collection + "/a.txt", anonymous=True, expires_in=3600)
    s3, bucket = _s3(irods_stack, ticket), ticket["s3"]["bucket"]
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"  # the key is now in the gateway's cache
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a.txt"})
    assert requests.get(public["links"]["public"], timeout=30).content == b"a"

    for deleted in (ticket, public):
        irods_stack.delete_ticket_out_of_band(deleted["ticket"])
        assert irods_stack.api("GET", f"/v1/tickets/{deleted['id']}").status_code == 404
    listed = irods_stack.api("GET", "/v1/tickets", params={"path": collection}).json()
    assert [t["id"] for t in listed["items"]] == []
    # Well within s3.key_cache_ttl (1 s on this stack): the gateway judges every request on the catalog as it
    # is, so a key still cached is refused like an unknown one; no sleeping for the cache to expire.
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key="a.txt")
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert requests.get(presigned, timeout=30).status_code == 403
    assert requests.get(public["links"]["public"], timeout=30).status_code in (403, 404, 410)
    credentials = irods_stack.api("GET", f"/v1/tickets/{ticket['id']}/credentials")
    assert credentials.status_code == 404
