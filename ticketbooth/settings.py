"""One typed settings object, built from defaults, then a TOML file, then ``TICKETBOOTH_*`` variables.

Environment variables name a section and a key joined by a double underscore, as Flask's
``from_prefixed_env`` does: ``TICKETBOOTH_AUTH__HS256_SECRET``, ``TICKETBOOTH_S3__REGION``; top-level keys have
none: ``TICKETBOOTH_BACKEND``. Lists in variables are comma-separated; booleans are true/false/1/0/yes/no.
``config/ticketbooth.example.toml`` documents every setting. :func:`load_settings` validates everything and
raises :class:`ConfigError` naming the setting at fault (never its value: it may be a secret).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .policy import AnonymousPolicy

__all__ = ["AuthSettings", "S3Settings", "GatewaySettings", "IrodsSettings", "EmbeddedSettings", "ServerSettings",
           "MetricsSettings", "AuditSettings", "Settings", "load_settings", "ENV_PREFIX", "LOG_FORMATS"]

ENV_PREFIX = "TICKETBOOTH_"
#: Variables the test suite reads (e.g. TICKETBOOTH_TEST_IRODS_HOST); never settings, so never refused as unknown.
TEST_ENV_PREFIX = ENV_PREFIX + "TEST_"
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class AuthSettings:
    mode: str = "hs256"  # "hs256" (development shared secret) or "jwks"
    hs256_secret: str = ""
    jwks_url: str = ""
    jwks_cache_seconds: int = 300
    algorithms: tuple[str, ...] = ()  # default: HS256 for hs256 mode, RS256 + ES256 for jwks mode
    issuer: str = ""
    audience: str = ""
    leeway: int = 30
    user_claims: tuple[str, ...] = ("preferred_username", "sub")
    admin_claim: str = "realm_access.roles"
    admin_role: str = "ticketbooth-admin"
    dev_token_lifetime: int = 3600


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str = "http://127.0.0.1:9000"  # the public URL of the S3 gateway, put into client configs
    region: str = "us-east-1"
    master_key: str = ""  # derives every key pair; >= 32 bytes; embedded default generates one in data_dir
    key_cache_ttl: float = 5.0  # seconds a resolved key is cached per instance; 0 disables the cache
    # A key pair's requests that follow each other within this many seconds are one use of its ticket, as an
    # iRODS connection is one use (10 s: one job's burst of requests, docs/gateway.md); 0: every request is a use.
    use_window: float = 10.0


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 9000
    base_domain: str = ""  # enables virtual-hosted-style addressing (<bucket>.<base_domain>)
    trusted_proxies: tuple[str, ...] = ()  # X-Forwarded-For is believed only from these networks
    authorize_secret: str = ""  # shared secret other gateways present to POST /v1/authorize
    spool_dir: str = ""  # multipart parts; default <data_dir>/.spool
    multipart_max_staged_bytes: int = 16 * 1024**3  # bytes multipart uploads may stage per ticket
    multipart_expiry: int = 7 * 86400  # seconds after which an unfinished multipart upload is aborted
    public_url: str = ""  # base URL of anonymous links; default: the API's own URL


@dataclass(frozen=True)
class EmbeddedSettings:
    zone: str = "tempZone"
    users: tuple[str, ...] = ()  # users created (with a home) at start-up, besides those tokens name
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group -> members
    index_interval: float = 60.0  # seconds between passes of the background indexer; 0: no background pass


@dataclass(frozen=True)
class IrodsSettings:
    host: str = ""
    port: int = 1247
    zone: str = ""
    user: str = ""  # the rodsadmin service account
    password: str = ""
    environment_file: str = ""  # irods_environment.json (with its auth file) instead of user/password
    ssl: bool = False
    ssl_ca_certificate_file: str = ""
    ssl_verify_server: str = "hostname"  # "none", "cert" or "hostname"
    connection_timeout: float = 10.0
    pool_size: int = 8
    anonymous_user: str = "anonymous"
    # TicketBooth's own IPv4 addresses as iRODS sees them: added to every host-restricted ticket, because iRODS
    # checks its host list against whoever connects (the service), while the gateway checks the real client.
    service_hosts: tuple[str, ...] = ()
    # Where TicketBooth keeps its own use/write counters and their locks (owned by the service account);
    # empty: /<zone>/home/<service user>/.ticketbooth.
    state_collection: str = ""
    # true: iRODS reads every object written through S3 back to verify the MD5 TicketBooth computed while
    # receiving it; false: TicketBooth registers that MD5 as the object's checksum (the service account, one
    # catalog call), which about doubles PUT throughput (benchmarks/README.md).
    verify_checksum: bool = True


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # how clients reach the API; default http://<host>:<port>


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = True  # GET /metrics (Prometheus text format) on the API and the gateway
    bearer_token: str = ""  # when set, /metrics needs "Authorization: Bearer <token>"
    port: int = 0  # when set, /metrics is served only on this extra port (same host), and not on the main one
    multiproc_dir: str = ""  # gunicorn workers share counters here; default: a fresh temporary directory


@dataclass(frozen=True)
class AuditSettings:
    # SQLAlchemy URL of the audit store (postgresql+psycopg://... for several instances). Default: the embedded
    # backend's catalogue; with the iRODS backend sqlite:///<data_dir>/audit.sqlite3 (one instance only).
    database_url: str = ""


@dataclass(frozen=True)
class Settings:
    backend: str = "embedded"  # "embedded" or "irods"
    data_dir: str = "./ticketbooth-data"
    log_level: str = "INFO"
    log_format: str = "text"  # "text" or "json" (one JSON object per line, every logger, gunicorn's too)
    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    anonymous: AnonymousPolicy = field(default_factory=AnonymousPolicy)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    embedded: EmbeddedSettings = field(default_factory=EmbeddedSettings)
    irods: IrodsSettings = field(default_factory=IrodsSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)

    @property
    def zone(self) -> str:
        return self.irods.zone if self.backend == "irods" else self.embedded.zone

    def replace(self, **changes: Any) -> Settings:
        """A copy with top-level fields or whole sections replaced (tests use this)."""
        return dataclasses.replace(self, **changes)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, hint: Any, value: Any, from_env: bool) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if from_env and str(value).strip().lower() in _TRUE | _FALSE:
                return str(value).strip().lower() in _TRUE
        elif hint is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if from_env:
                return int(str(value).strip())
        elif hint is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if from_env:
                return float(str(value).strip())
        elif hint is str:
            if isinstance(value, str):
                return value
        elif origin is tuple:
            if from_env and isinstance(value, str):
                value = [item.strip() for item in value.split(",") if item.strip()]
            if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
                return tuple(value)
        elif origin in (Mapping, dict) or hint is Mapping:
            if from_env and isinstance(value, str):
                # "group=a b;other=c" -> {"group": ("a","b"), "other": ("c",)}
                pairs = [part.split("=", 1) for part in value.split(";") if part.strip()]
                value = {key.strip(): members.split() for key, members in pairs}
            if isinstance(value, Mapping):
                return {str(key): tuple(members) for key, members in value.items()}
    except (ValueError, TypeError):
        pass
    raise ConfigError(f"setting '{name}' has an invalid value (expected {getattr(hint, '__name__', hint)})")


def _build(cls: type, data: Mapping[str, Any], prefix: str, from_env: Mapping[str, bool]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting '{prefix}{sorted(unknown)[0]}'")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting '{prefix}{name}' must be a section")
            kwargs[name] = _build(hint, value, f"{prefix}{name}.", from_env)
        else:
            kwargs[name] = _coerce(prefix + name, hint, value, from_env.get(prefix + name, False))
    return cls(**kwargs)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, bool]]:
    layer: dict[str, Any] = {}
    marks: dict[str, bool] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG" or key.startswith(TEST_ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX):].lower().split("__")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"environment variable '{key}' does not name a setting")
        target = layer
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
        marks[".".join(parts)] = True
    return layer, marks


def _validate(settings: Settings) -> None:
    if settings.backend not in ("embedded", "irods"):
        raise ConfigError("setting 'backend' must be 'embedded' or 'irods'")
    if settings.auth.mode not in ("hs256", "jwks"):
        raise ConfigError("setting 'auth.mode' must be 'hs256' or 'jwks'")
    if settings.auth.mode == "jwks" and not (settings.auth.jwks_url and settings.auth.issuer and settings.auth.audience):
        raise ConfigError("auth.mode 'jwks' needs 'auth.jwks_url', 'auth.issuer' and 'auth.audience'")
    if settings.auth.hs256_secret and len(settings.auth.hs256_secret.encode()) < 32:
        raise ConfigError("setting 'auth.hs256_secret' must be at least 32 bytes")
    if not 0 <= settings.s3.use_window <= 86400:
        raise ConfigError("setting 's3.use_window' must be from 0 to 86400 seconds")
    if settings.s3.master_key and len(settings.s3.master_key.encode()) < 32:
        raise ConfigError("setting 's3.master_key' must be at least 32 bytes")
    if settings.anonymous.max_lifetime <= 0 or not 0 < settings.anonymous.default_expiry <= settings.anonymous.max_lifetime:
        raise ConfigError("settings 'anonymous.*' need 0 < default_expiry <= max_lifetime")
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError("setting 'log_format' must be 'text' or 'json'")
    if settings.metrics.bearer_token and len(settings.metrics.bearer_token.encode()) < 16:
        raise ConfigError("setting 'metrics.bearer_token' must be at least 16 bytes")
    for name, port in (("server.port", settings.server.port), ("gateway.port", settings.gateway.port),
                       ("metrics.port", settings.metrics.port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"setting '{name}' must be a port number")
    if settings.backend == "irods" and not (settings.irods.zone and (settings.irods.host or settings.irods.environment_file)):
        raise ConfigError("backend 'irods' needs 'irods.zone' and 'irods.host' (or 'irods.environment_file')")


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build and validate :class:`Settings`: defaults < ``config_file`` (TOML) < environment < ``overrides``.

    ``config_file`` defaults to ``$TICKETBOOTH_CONFIG`` when set. ``overrides`` is a nested mapping of
    already-typed values (the CLI's flags, tests). Raises :class:`ConfigError`.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    path = config_file or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file '{path}' does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file '{path}' is not valid TOML: {err}") from None
    env_layer, marks = _env_layer(environ)
    data = _merge(data, env_layer)
    if overrides:
        data = _merge(data, overrides)
    settings = _build(Settings, data, "", marks)
    _validate(settings)
    return settings
