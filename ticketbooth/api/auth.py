"""Bearer-token authentication with pyjwt: who calls the API, and are they an admin.

Two modes (``auth.mode``): ``hs256`` verifies tokens signed with a shared secret (development; ``ticketbooth
token`` issues them), ``jwks`` verifies tokens of an identity provider (e.g. Keycloak) against its JWKS URL,
whose keys are cached for ``auth.jwks_cache_seconds`` and re-fetched when a token names an unknown ``kid``
(at most once per cool-down, so forged ``kid`` values cannot hammer the provider).

Fail closed: the accepted algorithms come from configuration only (never from the token), each mode accepts
only its own algorithm family (so a public key can never be used as an HMAC secret), ``exp`` is required, and
``iss``/``aud`` are required whenever they are configured (always in ``jwks`` mode). Time claims are judged by
the injected clock with ``auth.leeway`` seconds of tolerance. Tokens never reach a log line or a message.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt
from flask import current_app, g, request

from ..errors import AuthenticationError, ConfigError, TicketBoothError
from ..model import Actor
from ..policy import ANONYMOUS_USER
from ..settings import AuthSettings, Settings

__all__ = [
    "HS_ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "InvalidToken",
    "IdentityProviderUnavailable",
    "Authenticator",
    "issue_dev_token",
    "current_actor",
    "authenticate_request",
]

log = logging.getLogger(__name__)

HS_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
JWKS_FETCH_TIMEOUT = 10.0
JWKS_REFRESH_COOLDOWN = 30.0
MAX_TOKEN_BYTES = 16384

# An iRODS user name (as policy accepts in allow-lists); anything else in a token is refused.
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}(#[A-Za-z0-9_.-]{1,63})?$")


class InvalidToken(AuthenticationError):
    """The bearer token is invalid."""

    code = "invalid_token"
    bearer_error = "invalid_token"


class IdentityProviderUnavailable(TicketBoothError):
    """The identity provider's keys (JWKS) cannot be fetched; retry later."""

    code = "auth_unavailable"
    status = 503


def _algorithms(settings: AuthSettings) -> list[str]:
    family = HS_ALGORITHMS if settings.mode == "hs256" else ASYMMETRIC_ALGORITHMS
    chosen = list(settings.algorithms) or (["HS256"] if settings.mode == "hs256" else ["RS256", "ES256"])
    wrong = [alg for alg in chosen if alg not in family]
    if wrong:
        raise ConfigError(f"setting 'auth.algorithms' holds '{wrong[0]}', not allowed in auth.mode '{settings.mode}'")
    return chosen


class Authenticator:
    """Turns an ``Authorization`` header value into an :class:`Actor` or raises :class:`AuthenticationError`.

    ``clock`` gives the instant time claims are judged by. ``jwk_client`` replaces the :class:`jwt.PyJWKClient`
    built from ``auth.jwks_url`` (tests pass one whose ``fetch_data`` serves a local JWKS).
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        clock: Callable[[], datetime],
        jwk_client: jwt.PyJWKClient | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._algorithms = _algorithms(settings)
        self._jwk_client = jwk_client
        self._lock = threading.Lock()
        if settings.mode == "jwks" and jwk_client is None:
            self._jwk_client = jwt.PyJWKClient(
                settings.jwks_url, cache_jwk_set=True, lifespan=max(1, settings.jwks_cache_seconds),
                timeout=JWKS_FETCH_TIMEOUT, cooldown_duration=JWKS_REFRESH_COOLDOWN,
            )

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._algorithms)

    def authenticate(self, authorization: str | None) -> Actor:
        """Verify the ``Authorization`` header value (``Bearer <JWT>``) and name the caller."""
        if not authorization:
            raise AuthenticationError("an 'Authorization: Bearer <token>' header is required")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("the Authorization header must use the Bearer scheme")
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("token is too long")
        claims = self._verify(token)
        return Actor(name=self._user(claims), is_admin=self._is_admin(claims))

    # -- verification ----------------------------------------------------------------------------------

    def _key(self, token: str) -> Any:
        if self._settings.mode == "hs256":
            if not self._settings.hs256_secret:
                raise InvalidToken("this server has no development token secret configured")
            return self._settings.hs256_secret
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("token is malformed") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token header names no key ('kid')")
        assert self._jwk_client is not None
        try:
            with self._lock:
                jwk = self._jwk_client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            log.warning("cannot fetch the JWKS from the identity provider")
            raise IdentityProviderUnavailable() from None
        except (jwt.PyJWKClientError, jwt.PyJWKSetError):
            raise InvalidToken("token is signed with a key the identity provider does not publish") from None
        # The key's algorithm (its "alg", else the one its type implies) must be the token's, on top of the
        # configured list: a key is never used with an algorithm it was not published for.
        if jwk.algorithm_name != header.get("alg"):
            raise InvalidToken("token algorithm does not match its key")
        return jwk.key

    def _verify(self, token: str) -> dict[str, Any]:
        settings = self._settings
        required = ["exp"]
        if settings.issuer:
            required.append("iss")
        if settings.audience:
            required.append("aud")
        key = self._key(token)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=self._algorithms,
                audience=settings.audience or None,
                issuer=settings.issuer or None,
                # Time claims are checked below against the injected clock, not the system time.
                options={"require": required, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.MissingRequiredClaimError as err:
            raise InvalidToken(f"token lacks the required '{err.claim}' claim") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token issuer is not accepted") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken("token algorithm is not accepted") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature is invalid") from None
        except jwt.DecodeError:
            raise InvalidToken("token is malformed") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # e.g. a key of the wrong type for the token's algorithm
            raise InvalidToken("token is invalid") from None
        self._check_times(claims)
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock().timestamp()
        leeway = self._settings.leeway

        def number(name: str) -> float | None:
            value = claims.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise InvalidToken(f"token claim '{name}' must be a number (seconds since the epoch)")
            return float(value)

        exp, nbf, iat = number("exp"), number("nbf"), number("iat")
        if exp is not None and now >= exp + leeway:
            raise InvalidToken("token has expired")
        if nbf is not None and now < nbf - leeway:
            raise InvalidToken("token is not valid yet")
        if iat is not None and now < iat - leeway:
            raise InvalidToken("token was issued in the future")

    # -- identity --------------------------------------------------------------------------------------

    def _user(self, claims: Mapping[str, Any]) -> str:
        for claim in self._settings.user_claims:
            value = claims.get(claim)
            if isinstance(value, str) and value:
                if not _USER_NAME.match(value):
                    raise InvalidToken(f"token claim '{claim}' is not a valid user name")
                if value == ANONYMOUS_USER:
                    raise InvalidToken("token names the reserved user 'anonymous'")
                return value
        raise InvalidToken("token names no user (claims: " + ", ".join(self._settings.user_claims) + ")")

    def _is_admin(self, claims: Mapping[str, Any]) -> bool:
        value: Any = claims
        for part in self._settings.admin_claim.split("."):
            if not isinstance(value, Mapping):
                return False
            value = value.get(part)
        role = self._settings.admin_role
        if isinstance(value, str):
            return value == role
        if isinstance(value, list | tuple):
            return role in value
        return False


def issue_dev_token(settings: Settings, user: str, admin: bool, now: datetime, *, lifetime: int | None = None) -> str:
    """A development token (HS256) for ``user`` that this server's ``hs256`` mode accepts.

    Claims follow Keycloak's layout: ``preferred_username``/``sub`` (or the first configured user claim), the
    admin role under ``auth.admin_claim``, ``iat``/``exp``, and ``iss``/``aud`` when configured. Raises
    :class:`ConfigError` when no ``auth.hs256_secret`` is configured or ``user`` is not a valid user name.
    """
    auth = settings.auth
    if not auth.hs256_secret:
        raise ConfigError("no development token secret: set auth.hs256_secret (TICKETBOOTH_AUTH__HS256_SECRET)")
    if not _USER_NAME.match(user) or user == ANONYMOUS_USER:
        raise ConfigError(f"'{user}' is not a valid user name")
    algorithm = next(iter(_algorithms(auth))) if auth.mode == "hs256" else "HS256"
    lifetime = auth.dev_token_lifetime if lifetime is None else lifetime
    if lifetime <= 0:
        raise ConfigError("the token lifetime must be positive")
    claims: dict[str, Any] = {
        "sub": user,
        "preferred_username": user,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=lifetime)).timestamp()),
    }
    for claim in auth.user_claims[:1]:
        claims[claim] = user
    if auth.issuer:
        claims["iss"] = auth.issuer
    if auth.audience:
        claims["aud"] = auth.audience
    if admin:
        target = claims
        *parents, leaf = auth.admin_claim.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = [auth.admin_role]
    return jwt.encode(claims, auth.hs256_secret, algorithm=algorithm)


def current_actor() -> Actor:
    """The authenticated caller of the current request (authenticating it on first use)."""
    actor = g.get("ticketbooth_actor")
    if actor is None:
        services = current_app.extensions["ticketbooth"]
        actor = services.authenticator.authenticate(request.headers.get("Authorization"))
        services.provision(actor.name)
        g.ticketbooth_actor = actor
    return actor


def authenticate_request() -> None:
    """``before_request`` hook for blueprints whose every route needs a bearer token (before any parsing)."""
    current_actor()
