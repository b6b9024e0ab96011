"""Property tests: arbitrary input to the canonicalizer and the parsers gives a result or an
S3AuthError, never another exception; canonicalization is idempotent."""
from __future__ import annotations

from io import BytesIO

from hypothesis import given, settings
from hypothesis import strategies as st

from ticketbooth.sigv4 import S3AuthError, canonical_query, canonical_uri, parse_query, verify
from ticketbooth.sigv4.auth_parse import parse_authorization_header, parse_presigned_query
from ticketbooth.sigv4.canonical import canonical_header_value, collect_headers
from ticketbooth.sigv4.streaming import AwsChunkedBody, BodySource

from .helpers import DOC_NOW, doc_lookup

SETTINGS = settings(max_examples=150, deadline=None)
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
wire = st.binary(max_size=80).map(lambda b: b.decode("latin-1"))


def _safe(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except S3AuthError:
        return None


@SETTINGS
@given(st.one_of(text, wire))
def test_canonical_uri_total_and_idempotent(path: str) -> None:
    result = _safe(canonical_uri, path)
    if result is not None:
        assert result.startswith("/")
        assert canonical_uri(result) == result


@SETTINGS
@given(st.one_of(text, wire))
def test_canonical_query_total_and_idempotent(query: str) -> None:
    pairs = _safe(parse_query, query)
    if pairs is not None:
        once = canonical_query(pairs)
        assert canonical_query(parse_query(once)) == once


@SETTINGS
@given(st.lists(st.tuples(text, text), max_size=6))
def test_header_canonicalization_total(headers: list[tuple[str, str]]) -> None:
    for values in collect_headers(headers).values():
        value = canonical_header_value(values)
        assert "  " not in value and "\n" not in value


@SETTINGS
@given(st.one_of(text, wire, st.builds(lambda a, b, c: f"AWS4-HMAC-SHA256 Credential={a},SignedHeaders={b},Signature={c}", text, text, text)))
def test_authorization_parser_total(value: str) -> None:
    _safe(parse_authorization_header, value)


@SETTINGS
@given(st.dictionaries(st.sampled_from([b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Date", b"X-Amz-Expires",
                                        b"X-Amz-SignedHeaders", b"X-Amz-Signature", b"X-Amz-Security-Token"]),
                       st.lists(st.binary(max_size=40), min_size=1, max_size=2)))
def test_presigned_parser_total(params: dict[bytes, list[bytes]]) -> None:
    _safe(parse_presigned_query, params)


@SETTINGS
@given(st.binary(max_size=300), st.integers(0, 400), st.booleans(), st.sampled_from([None, "CRC32", "SHA256"]))
def test_chunk_decoder_total(body: bytes, decoded: int, signed: bool, trailer: str | None) -> None:
    stream = AwsChunkedBody(
        BodySource(body, None), decoded_length=decoded, signing_key=b"k" * 32 if signed else None,
        amz_date="20130524T000000Z", scope="20130524/us-east-1/s3/aws4_request", seed_signature="0" * 64,
        trailer_algorithm=trailer, signed_trailer=signed and trailer is not None,
    )
    try:
        while stream.read(7):
            pass
    except S3AuthError:
        pass


@SETTINGS
@given(st.sampled_from(["GET", "PUT"]), st.one_of(text, wire), st.one_of(text, wire),
       st.lists(st.tuples(st.sampled_from(["Authorization", "x-amz-date", "Date", "x-amz-content-sha256", "Host",
                                           "x-amz-decoded-content-length", "Content-Length"]), text), max_size=6))
def test_verify_total(method: str, path: str, query: str, headers: list[tuple[str, str]]) -> None:
    try:
        result = verify(method, path, query, headers, BytesIO(b"body"), doc_lookup, now=DOC_NOW)
        result.body.read()
    except S3AuthError:
        pass


# The fast paths (already-canonical components taken as they are) agree with the plain rule:
# decode each component once, encode it once, sort by name then value.
_QUERY_ALPHABET = st.sampled_from(["a", "Z", "0", "-", "~", ".", "_", "%2F", "%2f", "%41", "%7E", "%20", "%C3%BC",
                                   "=", "&", "+", "%", "%G1", "!", "/", "ü", " "])
_query_text = st.lists(_QUERY_ALPHABET, max_size=16).map("".join)


def _reference_canonical_query(raw: str) -> str:
    from ticketbooth.sigv4.canonical import percent_decode, uri_encode, wire_bytes

    pairs = []
    for segment in wire_bytes(raw).split(b"&"):
        if segment:
            name, _, value = segment.partition(b"=")
            pairs.append(tuple(uri_encode(percent_decode(part.replace(b"+", b" "))) for part in (name, value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


@settings(max_examples=600, deadline=None)
@given(_query_text)
def test_query_canonical_fast_path_matches_the_rule(raw: str) -> None:
    from ticketbooth.sigv4.query import Query

    assert _safe(Query.parse(raw).canonical) == _safe(_reference_canonical_query, raw)


@settings(max_examples=600, deadline=None)
@given(_query_text.map(lambda q: "/" + q.replace("&", "/").replace("=", "/")))
def test_canonical_uri_fast_path_matches_the_rule(path: str) -> None:
    from ticketbooth.sigv4.canonical import percent_decode, uri_encode, wire_bytes

    assert _safe(canonical_uri, path) == _safe(lambda: uri_encode(percent_decode(wire_bytes(path)), keep_slash=True))


@SETTINGS
@given(st.binary(min_size=1, max_size=100), st.lists(st.binary(max_size=200), max_size=4))
def test_signer_is_hmac_sha256(key: bytes, parts: list[bytes]) -> None:
    import hashlib
    import hmac

    from ticketbooth.sigv4.signing import Signer

    expected = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest()
    assert Signer(key).hexdigest(b"".join(parts)) == Signer(key).hexdigest_of_parts(*parts) == expected
    if parts:
        assert Signer(key).prefixed(parts[0]).hexdigest_of_parts(*parts[1:]) == expected


def test_amz_date_is_the_basic_format_only() -> None:
    import pytest

    from ticketbooth.sigv4.auth_parse import parse_amz_date
    from ticketbooth.sigv4.errors import AuthorizationHeaderMalformed

    assert parse_amz_date("20261201T101112Z", AuthorizationHeaderMalformed).isoformat() == "2026-12-01T10:11:12+00:00"
    for bad in ["2026-12-01T10:11:12Z", "20261201T101112", "20261301T000000Z", "20261201T250000Z",
                "２０２６1201T101112Z", "20261201T101112+0000", "20261201 101112Z", ""]:
        with pytest.raises(AuthorizationHeaderMalformed):
            parse_amz_date(bad, AuthorizationHeaderMalformed)


@settings(max_examples=400, deadline=None)
@given(_query_text)
def test_names_encoded_is_whether_a_raw_name_holds_an_escape_or_plus(raw: str) -> None:
    from ticketbooth.sigv4.canonical import wire_bytes
    from ticketbooth.sigv4.query import Query

    names = [segment.partition(b"=")[0] for segment in wire_bytes(raw).split(b"&") if segment]
    assert Query.parse(raw).names_encoded() == any(b"%" in name or b"+" in name for name in names)


def test_auth_parameter_names_are_decided_decoded() -> None:
    """A presigned URL whose X-Amz-* names are spelled with escapes is the same presigned URL."""
    from urllib.parse import urlsplit

    from freezegun import freeze_time

    from .test_crosscheck import KEY, NOW, SECRET, boto_client

    client, _ = boto_client(signature_version="s3v4")
    with freeze_time(NOW):
        url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=600)
    split = urlsplit(url)
    spelled = "".join(f"%{ord(c):02X}" for c in "X-Amz-Credential")
    query = split.query.replace("X-Amz-Credential=", spelled + "=")
    assert query != split.query
    result = verify("GET", split.path, query, [("Host", split.netloc)], b"", {KEY: SECRET}.get, now=NOW)
    assert result.scheme == "v4-query"


def _nested_backtracking_repeats(pattern: str | bytes) -> list[str]:
    """Greedy or lazy repeats (of more than one iteration) that hold another repeat: the shape that
    backtracks exponentially."""
    import re._constants as c
    import re._parser as p

    found = []

    def holds_repeat(items) -> bool:
        return any(op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) or walk_inner(op, av) for op, av in items)

    def walk_inner(op, av) -> bool:
        if op in (c.SUBPATTERN, c.ATOMIC_GROUP):
            return holds_repeat(av[-1])
        if op == c.BRANCH:
            return any(holds_repeat(branch) for branch in av[1])
        return False

    def walk(items) -> None:
        for op, av in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                if av[1] > 1 and holds_repeat(av[2]):
                    found.append(str(av[2])[:80])
                walk(av[2])
            elif op == c.POSSESSIVE_REPEAT:
                walk(av[2])
            elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
                walk(av[-1])
            elif op == c.BRANCH:
                for branch in av[1]:
                    walk(branch)

    walk(p.parse(pattern))
    return found


def test_sigv4_regexes_cannot_backtrack_exponentially() -> None:
    """Query components once matched ``(?:[unreserved]+|%XX)*``: a run of unreserved characters before a
    non-canonical escape (``aaaa…a%2f``, unauthenticated input) took time exponential in the run's length
    (30 bytes: minutes). No pattern of the verifier may nest a backtracking repeat in another."""
    import importlib
    import pkgutil
    import re

    import ticketbooth.sigv4 as package

    patterns = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"ticketbooth.sigv4.{info.name}")
        patterns += [(f"{info.name}.{name}", value) for name, value in vars(module).items()
                     if isinstance(value, re.Pattern)]
    assert any(name == "query._CANONICAL" for name, _ in patterns)
    assert {name: _nested_backtracking_repeats(value.pattern) for name, value in patterns
            if _nested_backtracking_repeats(value.pattern)} == {}
    assert _nested_backtracking_repeats(rb"(?:[a-z]+|%[0-9A-F]{2})*")  # the old shape is caught


def test_a_run_before_a_non_canonical_escape_is_re_encoded() -> None:
    from ticketbooth.sigv4.query import Query

    run = "a" * 4096
    assert Query.parse(f"{run}%2f={run}%7e").canonical() == f"{run}%2F={run}~"
