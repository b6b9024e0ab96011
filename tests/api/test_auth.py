"""Bearer-token verification (ticketbooth.api.auth) in both modes, driven by an injected clock."""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import urllib.error
from datetime import UTC, datetime, timedelta
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ticketbooth.api.auth import Authenticator, IdentityProviderUnavailable, InvalidToken, issue_dev_token
from ticketbooth.errors import AuthenticationError, ConfigError
from ticketbooth.settings import AuthSettings, Settings

NOW = datetime(2030, 5, 17, 12, 0, 0, tzinfo=UTC)
SECRET = "s" * 40
ISSUER = "https://idp.example/realms/research"
AUDIENCE = "ticketbooth"
JWKS_URL = "https://idp.example/realms/research/protocol/openid-connect/certs"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra):
    base = {"preferred_username": "alice", "sub": "3f1c", "exp": int((NOW + timedelta(minutes=5)).timestamp()),
            "iat": int(NOW.timestamp())}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(private_key, kid: str, alg: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith(("RS", "PS")) else jwt.algorithms.ECAlgorithm
    data = json.loads(algorithm.to_jwk(private_key.public_key()))
    data.update(kid=kid, alg=alg, use="sig")
    return data


class StubJWKClient(jwt.PyJWKClient):
    """A real PyJWKClient whose network call is served from a local JWKS (and counted); no socket is opened."""

    def __init__(self, keys: list[dict], **kw):
        super().__init__(JWKS_URL, cooldown_duration=kw.pop("cooldown_duration", 0), **kw)
        self.keys = keys
        self.fetches = 0
        self.fail = False

    def fetch_data(self):
        # Run pyjwt's own fetch (caching, cool-down bookkeeping) with urllib's opener replaced.
        self.fetches += 1
        with mock.patch("jwt.jwks_client.urllib.request.build_opener", return_value=self):
            return super().fetch_data()

    def open(self, request, timeout):
        assert request.full_url == JWKS_URL
        if self.fail:
            raise urllib.error.URLError("unreachable")
        return io.BytesIO(json.dumps({"keys": self.keys}).encode())


def hs_auth(**kw) -> Authenticator:
    return Authenticator(AuthSettings(hs256_secret=SECRET, **kw), clock=lambda: NOW)


def jwks_auth(client, **kw) -> Authenticator:
    settings = AuthSettings(mode="jwks", jwks_url=JWKS_URL, issuer=ISSUER, audience=AUDIENCE, **kw)
    return Authenticator(settings, clock=lambda: NOW, jwk_client=client)


def bearer(token: str) -> str:
    return f"Bearer {token}"


# -- hs256 mode ------------------------------------------------------------------------------------------

def test_hs256_token_names_the_user():
    actor = hs_auth().authenticate(bearer(jwt.encode(claims(), SECRET, algorithm="HS256")))
    assert (actor.name, actor.is_admin) == ("alice", False)


def test_admin_role_at_the_configured_claim_path():
    token = jwt.encode(claims(realm_access={"roles": ["x", "ticketbooth-admin"]}), SECRET, algorithm="HS256")
    assert hs_auth().authenticate(bearer(token)).is_admin
    other = jwt.encode(claims(realm_access={"roles": ["ticketbooth-user"]}), SECRET, algorithm="HS256")
    assert not hs_auth().authenticate(bearer(other)).is_admin
    custom = hs_auth(admin_claim="resource_access.tb.roles", admin_role="boss")
    token = jwt.encode(claims(resource_access={"tb": {"roles": ["boss"]}}), SECRET, algorithm="HS256")
    assert custom.authenticate(bearer(token)).is_admin


def test_user_claims_are_tried_in_order():
    token = jwt.encode(claims(preferred_username=None, sub="bob"), SECRET, algorithm="HS256")
    assert hs_auth().authenticate(bearer(token)).name == "bob"
    token = jwt.encode(claims(email="carol@example.org"), SECRET, algorithm="HS256")
    assert hs_auth(user_claims=("email",)).authenticate(bearer(token)).name == "carol@example.org"


@pytest.mark.parametrize("header", [None, "", "Basic YWxpY2U6eA==", "Bearer", "Bearer   "])
def test_missing_or_non_bearer_header_is_unauthenticated(header):
    with pytest.raises(AuthenticationError) as info:
        hs_auth().authenticate(header)
    assert info.value.code == "unauthenticated"
    assert not isinstance(info.value, InvalidToken)


def test_expired_token_is_refused_after_the_leeway_only():
    token = jwt.encode(claims(exp=int(NOW.timestamp()) - 10), SECRET, algorithm="HS256")
    assert hs_auth(leeway=30).authenticate(bearer(token)).name == "alice"
    with pytest.raises(InvalidToken, match="expired"):
        hs_auth(leeway=5).authenticate(bearer(token))


def test_token_without_exp_is_refused():
    token = jwt.encode(claims(exp=None), SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="'exp'"):
        hs_auth().authenticate(bearer(token))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_token_from_the_future_is_refused(claim):
    token = jwt.encode(claims(**{claim: int(NOW.timestamp()) + 3600}), SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken):
        hs_auth().authenticate(bearer(token))


def test_non_numeric_exp_is_refused():
    token = jwt.encode(claims(exp="tomorrow"), SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken):
        hs_auth().authenticate(bearer(token))


def test_wrong_secret_is_refused():
    token = jwt.encode(claims(), "x" * 40, algorithm="HS256")
    with pytest.raises(InvalidToken, match="signature"):
        hs_auth().authenticate(bearer(token))


def test_alg_none_is_refused():
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    with pytest.raises(InvalidToken, match="algorithm"):
        hs_auth().authenticate(bearer(token))


def test_rs256_token_is_refused_in_hs256_mode(rsa_key):
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    with pytest.raises(InvalidToken, match="algorithm"):
        hs_auth().authenticate(bearer(token))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "e30.e30.", "\u00e9.\u00e9.\u00e9"])
def test_malformed_token_is_refused(token):
    with pytest.raises(InvalidToken):
        hs_auth().authenticate(bearer(token))


@pytest.mark.parametrize("user", ["anonymous", "../etc", "a b", "x" * 200, ""])
def test_unusable_user_names_are_refused(user):
    token = jwt.encode(claims(preferred_username=user, sub=None), SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken):
        hs_auth().authenticate(bearer(token))


def test_issuer_and_audience_are_checked_when_configured():
    auth = hs_auth(issuer="tb", audience="api")
    good = jwt.encode(claims(iss="tb", aud="api"), SECRET, algorithm="HS256")
    assert auth.authenticate(bearer(good)).name == "alice"
    for bad, reason in ((claims(iss="other", aud="api"), "issuer"), (claims(iss="tb", aud="other"), "audience"),
                        (claims(aud="api"), "'iss'")):
        with pytest.raises(InvalidToken, match=reason):
            auth.authenticate(bearer(jwt.encode(bad, SECRET, algorithm="HS256")))


def test_no_secret_configured_refuses_every_token():
    auth = Authenticator(AuthSettings(), clock=lambda: NOW)
    with pytest.raises(InvalidToken):
        auth.authenticate(bearer(jwt.encode(claims(), SECRET, algorithm="HS256")))


@pytest.mark.parametrize("mode,algorithms", [("hs256", ("RS256",)), ("hs256", ("none",)), ("jwks", ("HS256",)),
                                             ("jwks", ("none",))])
def test_algorithms_outside_the_mode_family_are_a_config_error(mode, algorithms):
    settings = AuthSettings(mode=mode, algorithms=algorithms, jwks_url=JWKS_URL, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ConfigError):
        Authenticator(settings, clock=lambda: NOW, jwk_client=StubJWKClient([]))


# -- dev tokens --------------------------------------------------------------------------------------------

def test_dev_token_round_trips_with_admin_role():
    settings = Settings(auth=AuthSettings(hs256_secret=SECRET, issuer="tb", audience="api"))
    token = issue_dev_token(settings, "alice", True, NOW)
    actor = Authenticator(settings.auth, clock=lambda: NOW).authenticate(bearer(token))
    assert (actor.name, actor.is_admin) == ("alice", True)
    later = Authenticator(settings.auth, clock=lambda: NOW + timedelta(seconds=3600 + 31))
    with pytest.raises(InvalidToken, match="expired"):
        later.authenticate(bearer(token))


def test_dev_token_needs_a_secret():
    with pytest.raises(ConfigError, match="hs256_secret"):
        issue_dev_token(Settings(), "alice", False, NOW)


# -- jwks mode ---------------------------------------------------------------------------------------------

def rs_token(key, kid="k1", alg="RS256", **extra):
    return jwt.encode(claims(iss=ISSUER, aud=AUDIENCE, **extra), key, algorithm=alg, headers={"kid": kid})


def test_jwks_rs256_and_es256(rsa_key, ec_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256"), jwk_of(ec_key, "k2", "ES256")])
    auth = jwks_auth(client)
    assert auth.authenticate(bearer(rs_token(rsa_key))).name == "alice"
    assert auth.authenticate(bearer(rs_token(ec_key, kid="k2", alg="ES256"))).name == "alice"
    assert client.fetches == 1  # the key set is cached


def test_jwks_unknown_kid_refreshes_once_then_uses_the_new_key(rsa_key, ec_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    auth = jwks_auth(client)
    auth.authenticate(bearer(rs_token(rsa_key)))
    client.keys.append(jwk_of(ec_key, "rotated", "ES256"))
    assert auth.authenticate(bearer(rs_token(ec_key, kid="rotated", alg="ES256"))).name == "alice"
    assert client.fetches == 2


def test_jwks_kid_still_unknown_after_refresh_is_refused(rsa_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    with pytest.raises(InvalidToken, match="key"):
        jwks_auth(client).authenticate(bearer(rs_token(rsa_key, kid="nope")))


def test_jwks_unknown_kids_do_not_refetch_during_the_cooldown(rsa_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")], cooldown_duration=3600)
    auth = jwks_auth(client)
    for kid in ("x1", "x2", "x3"):
        with pytest.raises(InvalidToken):
            auth.authenticate(bearer(rs_token(rsa_key, kid=kid)))
    assert client.fetches == 1


def test_jwks_unreachable_is_503(rsa_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    client.fail = True
    with pytest.raises(IdentityProviderUnavailable) as info:
        jwks_auth(client).authenticate(bearer(rs_token(rsa_key)))
    assert info.value.status == 503


@pytest.mark.parametrize("extra,reason", [
    ({"iss": "https://evil.example"}, "issuer"),
    ({"aud": "someone-else"}, "audience"),
])
def test_jwks_wrong_issuer_or_audience(rsa_key, extra, reason):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    token = jwt.encode({**claims(iss=ISSUER, aud=AUDIENCE), **extra}, rsa_key, algorithm="RS256",
                       headers={"kid": "k1"})
    with pytest.raises(InvalidToken, match=reason):
        jwks_auth(client).authenticate(bearer(token))


def test_jwks_requires_iss_and_aud(rsa_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    token = jwt.encode(claims(aud=AUDIENCE), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(InvalidToken, match="'iss'"):
        jwks_auth(client).authenticate(bearer(token))


def test_hs_rs_confusion_public_key_as_hmac_secret_is_refused(rsa_key):
    # The classic attack: sign HS256 with the server's *public* key (PEM) as the HMAC secret.
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims(iss=ISSUER, aud=AUDIENCE)).encode())
    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    with pytest.raises(InvalidToken, match="algorithm"):
        jwks_auth(client).authenticate(bearer(f"{header}.{payload}.{signature}"))


def test_token_alg_must_match_the_key(rsa_key, ec_key):
    # kid names an RSA key but the token claims ES256 (signed with some EC key): refused.
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    with pytest.raises(InvalidToken):
        jwks_auth(client).authenticate(bearer(rs_token(ec_key, kid="k1", alg="ES256")))


def test_jwks_token_without_kid_is_refused(rsa_key):
    client = StubJWKClient([jwk_of(rsa_key, "k1", "RS256")])
    token = jwt.encode(claims(iss=ISSUER, aud=AUDIENCE), rsa_key, algorithm="RS256")
    with pytest.raises(InvalidToken, match="kid"):
        jwks_auth(client).authenticate(bearer(token))
