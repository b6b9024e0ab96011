"""End to end on the iRODS backend only, where the behaviour is iRODS's own: the API and the gateway under gunicorn
on a real iRODS zone (the session's ``irods_stack``, marker ``irods``; needs TICKETBOOTH_TEST_IRODS_*, see
docs/irods.md), driven by boto3 and python-irodsclient. The client suites run on this stack too (their
``[irods]`` tests); what is here has no embedded counterpart:

uses counted by TicketBooth (iRODS's own count stays 0) with a PATCHed uses limit enforced at once, and a ticket
deleted out of band with python-irodsclient (gone from the API at once, its keys dead within
``s3.key_cache_ttl``).
"""
from __future__ import annotations

import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from .stacks import KEY_CACHE_TTL

pytestmark = [pytest.mark.irods, pytest.mark.clients]


def _s3(stack, ticket):
    keys = ticket["credentials"]
    return boto3.client("s3", endpoint_url=stack.gateway_url, region_name="us-east-1",
                        aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"],
                        config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def test_uses_are_counted_by_ticketbooth_and_a_patched_limit_holds_at_once(irods_stack, request):
    collection = irods_stack.collection(request.node.name)
    irods_stack.seed(collection + "/a.txt", b"a")
    ticket = irods_stack.create_ticket(collection, uses_limit=2)
    s3 = _s3(irods_stack, ticket)
    bucket = ticket["s3"]["bucket"]
    s3.head_object(Bucket=bucket, Key="a.txt")
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="a.txt")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    shown = irods_stack.api("GET", f"/v1/tickets/{ticket['id']}").json()
    assert shown["uses_count"] == 2
    row = irods_stack.ticket_row(ticket["id"])
    from irods.models import TicketQuery as TQ

    assert (row[TQ.Ticket.uses_limit], row[TQ.Ticket.uses_count]) == (0, 0)  # iRODS neither limits nor counts
    response = irods_stack.api("PATCH", f"/v1/tickets/{ticket['id']}", json={"uses_limit": 3})
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="a.txt")


def _refused_within(s3, bucket: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            s3.list_objects_v2(Bucket=bucket)
        except ClientError as err:
            return err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        time.sleep(0.2)
    return False


def test_revocation_and_an_out_of_band_delete_stop_the_keys(irods_stack, request):
    collection = irods_stack.collection(request.node.name)
    irods_stack.seed(collection + "/a.txt", b"a")
    revoked, deleted = irods_stack.create_ticket(collection), irods_stack.create_ticket(collection)
    for ticket in (revoked, deleted):
        _s3(irods_stack, ticket).list_objects_v2(Bucket=ticket["s3"]["bucket"])
    assert irods_stack.api("DELETE", f"/v1/tickets/{revoked['id']}").status_code == 204
    assert _refused_within(_s3(irods_stack, revoked), revoked["s3"]["bucket"], KEY_CACHE_TTL + 5)
    irods_stack.delete_ticket_out_of_band(deleted["ticket"])  # iticket delete, as an operator would
    assert irods_stack.api("GET", f"/v1/tickets/{deleted['id']}").status_code == 404
    assert _refused_within(_s3(irods_stack, deleted), deleted["s3"]["bucket"], KEY_CACHE_TTL + 5)
