"""Parsing of SigV4 authentication data: the ``Authorization`` header, presigned query
parameters, credential scopes and timestamps. Pure functions; every failure is an S3AuthError.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property, lru_cache
from typing import NamedTuple

from .errors import (
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    MalformedRequestError,
)

__all__ = [
    "ALGORITHM",
    "Credential",
    "V4Authorization",
    "V4Presigned",
    "parse_authorization_header",
    "parse_presigned_query",
    "parse_credential",
    "parse_signed_headers",
    "parse_amz_date",
    "parse_http_date",
    "MAX_PRESIGNED_EXPIRES",
]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_PRESIGNED_EXPIRES = 604800

_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")
_SCOPE_PART = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_DIGITS = re.compile(r"[0-9]{1,12}")
_ACCESS_KEY = re.compile(r"[!-~]+")
# The shape every SDK sends; anything else goes through the general component parser.
_COMMON_HEAD = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,]*), ?SignedHeaders=([^,]*), ?Signature=")

PRESIGN_PARAMS = (
    b"X-Amz-Algorithm",
    b"X-Amz-Credential",
    b"X-Amz-Date",
    b"X-Amz-Expires",
    b"X-Amz-SignedHeaders",
    b"X-Amz-Signature",
)


@dataclass(frozen=True)
class Credential:
    """The ``Credential`` of a SigV4 request: ``<key>/<YYYYMMDD>/<region>/<service>/aws4_request``."""

    access_key_id: str
    date: str
    region: str
    service: str

    @cached_property
    def scope(self) -> str:  # credentials are parsed through an LRU: computed once per credential
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


class V4Authorization(NamedTuple):
    """A parsed ``Authorization: AWS4-HMAC-SHA256 ...`` header (a tuple: built on every request)."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signed_headers_text: str
    signature: str


# tuple.__new__ straight: NamedTuple's own __new__ is a Python function around it.
_tuple_new = tuple.__new__


@dataclass(frozen=True)
class V4Presigned:
    """Parsed ``X-Amz-*`` presigned query parameters."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signed_headers_text: str
    signature: str
    amz_date: str
    date: datetime
    expires: int
    security_token: str | None


@lru_cache(maxsize=1024)
def parse_credential(text: str, error: type[MalformedRequestError]) -> Credential:
    """Parse ``<key>/<date>/<region>/<service>/aws4_request`` (the key may itself hold ``/``)."""
    parts = text.rsplit("/", 4)
    if len(parts) != 5 or not parts[0]:
        raise error("the Credential must be <access-key>/<date>/<region>/<service>/aws4_request")
    key, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise error("the Credential must end in aws4_request")
    if not _SCOPE_DATE.fullmatch(date):
        raise error("the Credential date must be YYYYMMDD")
    if not _SCOPE_PART.fullmatch(region) or not _SCOPE_PART.fullmatch(service):
        raise error("the Credential region or service is malformed")
    if not _ACCESS_KEY.fullmatch(key):
        raise error("the access key id holds invalid characters")
    return Credential(key, date, region, service)


@lru_cache(maxsize=1024)
def parse_signed_headers(text: str, error: type[MalformedRequestError]) -> tuple[str, ...]:
    """Parse ``a;b;c``: lower-case header names, sorted, unique, non-empty."""
    names = tuple(text.split(";"))
    for name in names:
        if not _HEADER_NAME.fullmatch(name):
            raise error("SignedHeaders must be lower-case header names separated by ';'")
    if list(names) != sorted(set(names)):
        raise error("SignedHeaders must be sorted and unique")
    return names


def parse_amz_date(text: str, error: type[MalformedRequestError]) -> datetime:
    """Parse an ISO 8601 basic timestamp ``YYYYMMDDTHHMMSSZ`` (UTC).

    The fixed-width shape is checked first; the C parser then reads exactly that shape. No cache:
    every real request carries a new time, so a cache would only serve benchmarks.
    """
    if not _AMZ_DATE.fullmatch(text):
        raise error("the date must be in ISO 8601 basic format YYYYMMDDTHHMMSSZ")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise error("the date is not a valid calendar date") from None


def parse_http_date(text: str) -> datetime | None:
    """Parse an RFC 7231 ``Date`` (IMF-fixdate and the obsolete forms); None if unparseable."""
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # RFC 850 / asctime forms carry no zone; HTTP dates are always GMT.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=1024)
def _common_head(head: str) -> tuple[Credential, tuple[str, ...], str] | None:
    """``Credential``, signed header names and their text from the part before the signature."""
    match = _COMMON_HEAD.fullmatch(head)
    if match is None:
        return None
    credential_text, signed_text = match.groups()
    error = AuthorizationHeaderMalformed
    return parse_credential(credential_text, error), parse_signed_headers(signed_text, error), signed_text


def parse_authorization_header(value: str) -> V4Authorization:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.

    Components may be separated by ``,`` or ``, ``; each must appear exactly once.

    Raises:
        AuthorizationHeaderMalformed: any deviation.
    """
    error = AuthorizationHeaderMalformed
    # The shape every SDK sends ends in "Signature=<64 hex>"; all before it is the same for every
    # request of a credential, day and header set, and is parsed once (the signature never is cached).
    head, signature = value[:-64], value[-64:]
    if head.endswith("Signature=") and _SIGNATURE.fullmatch(signature):
        common = _common_head(head)
        if common is not None:
            return _tuple_new(V4Authorization, (*common, signature))
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise error(f"unsupported authorization algorithm; expected {ALGORITHM}")
    fields: dict[str, str] = {}
    for component in rest.split(","):
        component = component.lstrip(" ")
        name, sep, field = component.partition("=")
        if not sep or name not in ("Credential", "SignedHeaders", "Signature"):
            raise error("the Authorization header has an unknown or empty component")
        if name in fields:
            raise error(f"the Authorization header repeats {name}")
        fields[name] = field.rstrip(" ")
    if len(fields) != 3:
        raise error("the Authorization header needs Credential, SignedHeaders and Signature")
    credential = parse_credential(fields["Credential"], error)
    signed = parse_signed_headers(fields["SignedHeaders"], error)
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise error("the Signature must be 64 lower-case hex digits")
    return V4Authorization(credential, signed, fields["SignedHeaders"], fields["Signature"])


def _ascii(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise AuthorizationQueryParametersError("X-Amz-* parameters must be ASCII") from None


def parse_presigned_query(params: dict[bytes, list[bytes]]) -> V4Presigned:
    """Parse and check the ``X-Amz-*`` parameters of a presigned URL.

    ``params`` maps decoded parameter names to every decoded value received.

    Raises:
        AuthorizationQueryParametersError: a missing, repeated or malformed parameter, or an
            ``X-Amz-Expires`` outside 1..604800.
    """
    error = AuthorizationQueryParametersError
    values: dict[bytes, str] = {}
    for name in (*PRESIGN_PARAMS, b"X-Amz-Security-Token"):
        found = params.get(name)
        if found is None:
            continue
        if len(found) != 1:
            raise error(f"the query parameter {name.decode()} is repeated")
        values[name] = _ascii(found[0])
    missing = [name.decode() for name in PRESIGN_PARAMS if name not in values]
    if missing:
        raise error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; "
            f"missing: {', '.join(missing)}"
        )
    if values[b"X-Amz-Algorithm"] != ALGORITHM:
        raise error(f"X-Amz-Algorithm only supports {ALGORITHM}")
    credential = parse_credential(values[b"X-Amz-Credential"], error)
    signed = parse_signed_headers(values[b"X-Amz-SignedHeaders"], error)
    signature = values[b"X-Amz-Signature"]
    if not _SIGNATURE.fullmatch(signature):
        raise error("X-Amz-Signature must be 64 lower-case hex digits")
    amz_date = values[b"X-Amz-Date"]
    date = parse_amz_date(amz_date, error)
    expires_text = values[b"X-Amz-Expires"]
    if not _DIGITS.fullmatch(expires_text):
        raise error("X-Amz-Expires must be a number of seconds")
    expires = int(expires_text)
    if expires < 1:
        raise error("X-Amz-Expires must be positive")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise error("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    return V4Presigned(
        credential,
        signed,
        values[b"X-Amz-SignedHeaders"],
        signature,
        amz_date,
        date,
        expires,
        values.get(b"X-Amz-Security-Token"),
    )
