"""Issue 9, item 11: ``/v1/authorize`` granted ``STREAMING-*`` uploads that no caller can complete safely.

Verifying aws-chunked chunk signatures needs the request's signing key, which a decision never contains, and
the ticket's write limits must be judged while the body streams. The attack got a ``200`` decision (and a
counted use) for such an upload; now every ``STREAMING-*`` payload mode is ``501 NotImplemented`` with a
reason, in both input forms, and counts nothing.
"""
from __future__ import annotations

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from freezegun import freeze_time

from .conftest import GATEWAY_SECRET, HOST

SECRET_HEADERS = {"X-TicketBooth-Gateway-Secret": GATEWAY_SECRET}
MODES = ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
         "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
         "streaming-aws4-hmac-sha256-payload"]


@pytest.fixture
def ticket(data_dir, make_ticket):
    data_dir("w/keep", b"")
    return make_ticket("/tempZone/home/alice/w", access="write")


def _signed(ticket, clock, mode, query=""):
    creds = ticket["credentials"]
    url = f"http://{HOST}/{creds['bucket']}/x.bin" + (f"?{query}" if query else "")
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "5"}
    class Streaming(S3SigV4Auth):  # botocore signs the declared payload mode, as an aws-chunked upload does
        def payload(self, request):
            return mode

    request = AWSRequest(method="PUT", url=url, data=b"", headers=headers)
    with freeze_time(clock()):
        Streaming(Credentials(creds["access_key_id"], creds["secret_access_key"]), "s3", "us-east-1").add_auth(
            request)
    return url[len(f"http://{HOST}"):], dict(request.headers.items())


def _uses(client, token, ticket_id):
    return client.get(f"/v1/tickets/{ticket_id}", headers=token("alice")).json["uses_count"]


@pytest.mark.parametrize("mode", MODES)
def test_streaming_uploads_are_refused_with_a_reason_and_count_nothing(client, token, ticket, clock, mode):
    uri, signed = _signed(ticket, clock, mode)
    body = {"method": "PUT", "uri": uri, "headers": [["Host", HOST], *[[k, v] for k, v in signed.items()]]}
    response = client.post("/v1/authorize", json=body, headers=SECRET_HEADERS)
    assert response.status_code == 501, response.data
    assert response.headers["X-TicketBooth-Error-Code"] == "NotImplemented"
    assert "signing key" in response.headers["X-TicketBooth-Error-Message"]
    assert _uses(client, token, ticket["id"]) == 0


def test_streaming_part_upload_in_the_forwarded_form_is_refused(client, token, ticket, clock):
    uri, signed = _signed(ticket, clock, MODES[0], "partNumber=1&uploadId=" + "a" * 32)
    headers = {**SECRET_HEADERS, "X-Original-Method": "PUT", "X-Original-URI": uri, "X-Real-IP": "127.0.0.1",
               "Host": HOST, **signed}
    response = client.post("/v1/authorize", headers=headers)
    assert response.status_code == 403  # nginx auth_request passes 401/403 only; the real status is a header
    assert response.headers["X-TicketBooth-Error-Status"] == "501"
    assert response.headers["X-TicketBooth-Error-Code"] == "NotImplemented"
    assert _uses(client, token, ticket["id"]) == 0
