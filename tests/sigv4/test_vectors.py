"""The AWS SigV4 test suite (aws-c-auth, tests/vectors/aws-signing-test-suite/SOURCE.txt).

Every v4 case runs in its header and query variants with service "service". S3 verifies
without path normalization, so a case whose expected canonical URI is a *normalized* form of the
path it sends must be rejected; a case that adds its session token after signing
(omit_session_token) must be rejected too. Every other case must verify. When an expected
accept fails on the signature, the canonical request and string to sign are compared first so
the failure names the step that broke.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from ticketbooth.sigv4 import AccessDenied, S3AuthError, SignatureDoesNotMatch, verify

SUITE = Path(__file__).resolve().parent.parent / "vectors" / "aws-signing-test-suite" / "v4"
CASES = sorted(p.name for p in SUITE.iterdir() if p.is_dir())


def parse_http(text: bytes) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    head, _, body = text.partition(b"\n\n")
    lines = head.decode("utf-8").split("\n")
    request_line = lines[0]
    method, _, rest = request_line.partition(" ")
    target = rest.rsplit(" ", 1)[0]
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\r\n" + line)  # obsolete line folding, as on the wire
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    # Raw UTF-8 in a request line is sent as its bytes; a WSGI server hands those over latin-1 decoded.
    return method, path.encode().decode("latin-1"), query, headers, body


def load(case: str, variant: str):
    folder = SUITE / case
    context = json.loads((folder / "context.json").read_text())
    request = parse_http((folder / f"{variant}-signed-request.txt").read_bytes())
    canonical = (folder / f"{variant}-canonical-request.txt").read_text()
    string_to_sign = (folder / f"{variant}-string-to-sign.txt").read_text()
    return context, request, canonical, string_to_sign


def expected_outcome(case: str, variant: str) -> type[S3AuthError] | None:
    context, (method, path, query, headers, body), canonical, _ = load(case, variant)
    signed_uri = canonical.split("\n")[1]
    sent_path = path.encode("latin-1").decode("utf-8")
    if signed_uri != quote(sent_path, safe="/~"):
        return SignatureDoesNotMatch  # signed a normalized path; S3 never normalizes
    if context.get("omit_session_token"):
        # The token was attached after signing: an unsigned x-amz-* header, or an unsigned query parameter.
        return AccessDenied if variant == "header" else SignatureDoesNotMatch
    return None


@pytest.mark.parametrize("variant", ["header", "query"])
@pytest.mark.parametrize("case", CASES)
def test_aws_suite(case: str, variant: str) -> None:
    context, (method, path, query, headers, body), canonical, string_to_sign = load(case, variant)
    credentials = context["credentials"]
    secrets = {credentials["access_key_id"]: credentials["secret_access_key"]}
    now = datetime.fromisoformat(context["timestamp"].replace("Z", "+00:00"))
    expected = expected_outcome(case, variant)

    def run():
        return verify(method, path, query, headers, body, secrets.get, now=now, service="service")

    if expected is not None:
        with pytest.raises(expected):
            run()
        return
    try:
        result = run()
    except SignatureDoesNotMatch as err:
        assert err.details["CanonicalRequest"] == canonical
        assert err.details["StringToSign"] == string_to_sign
        raise
    assert result.access_key_id == credentials["access_key_id"]
    assert result.region == context["region"]
    assert result.scheme == f"v4-{variant}"
    assert result.body.read() == body
    assert result.body.read() == b""


def test_suite_is_complete() -> None:
    # A truncated copy would silently shrink the parametrization above.
    assert len(CASES) == 38
    accepted = [c for c in CASES for v in ("header", "query") if expected_outcome(c, v) is None]
    assert len(accepted) >= 60
