"""iRODS sessions for TicketBooth: the service account, proxied users, and one fresh session per ticket use.

Three kinds of session, all authenticated as the configured rodsadmin service account unless anonymous:

- :meth:`Connector.service` — one long-lived pooled session *not* proxied and with no ticket: catalogue queries
  (it sees every ticket in the zone) and admin operations with ``ADMIN_KW``. Observed with python-irodsclient
  3.3.0 on iRODS 5.0.2: after the server restarts, the first request on *each* pooled connection fails
  (``NetworkException: Could not receive server response``) and python-irodsclient drops only that connection.
  So :meth:`Connector.service` renews the session when one of its idle connections has been closed by the server
  (a restarted server's old connections are, see :func:`closed_by_server`), :meth:`Connector.call_service`
  renews it on a network failure, and runs a read once more on the fresh session: the first request after a
  restart succeeds, whether it reads or writes.
- :meth:`Connector.as_user` — a fresh session proxied as the caller (``client_user=``), so iRODS itself decides
  whether the caller may ticket a path, and the ticket belongs to the caller.
- :meth:`Connector.for_ticket` — a fresh session (anonymous, or proxied as the holder) with the ticket supplied,
  one per use (python-irodsclient applies a supplied ticket per pooled connection). Uses are counted by
  TicketBooth (``counters``), not by iRODS.
- :meth:`Connector.proxied` — a session proxied as a ticket's owner for the writes of one use (``data``);
  :class:`ProxiedSessions` keeps a few of them between requests, as connecting one costs python-irodsclient two
  connections and logins (~0.2 s on the test zone, most of a small PUT).

``pool_size`` bounds how many fresh sessions one instance holds at once; waiting longer than the connection
timeout for a slot raises ``BackendUnavailable``. The session class is injectable (``session_factory``) so tests
drive a double at python-irodsclient's boundary.
"""
from __future__ import annotations

import contextlib
import json
import logging
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ...errors import BackendUnavailable, ConfigError, TicketBoothError
from ...settings import IrodsSettings
from .errors import RETRY_AFTER_SECONDS, is_network_failure, translate

__all__ = ["Connector", "ProxiedSessions", "closed_by_server", "create_collection", "session_kwargs"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_VERIFY_MODES = ("none", "cert", "hostname")
#: The keys of an irods_environment.json that decide TLS; an anonymous session (which cannot use the file: that
#: would log in as the service account) takes them over, so the ticket string never travels in plaintext where
#: the service session uses TLS.
ENVIRONMENT_TLS_KEYS = (
    "irods_client_server_negotiation",
    "irods_client_server_policy",
    "irods_ssl_verify_server",
    "irods_ssl_ca_certificate_file",
    "irods_ssl_ca_certificate_path",
    "irods_encryption_algorithm",
    "irods_encryption_key_size",
    "irods_encryption_num_hash_rounds",
    "irods_encryption_salt_size",
)


def _tls_kwargs(settings: IrodsSettings) -> dict[str, Any]:
    if not settings.ssl:
        return {}
    if settings.ssl_verify_server not in _VERIFY_MODES:
        raise ConfigError("setting 'irods.ssl_verify_server' must be 'none', 'cert' or 'hostname'")
    tls: dict[str, Any] = {
        # python-irodsclient's client/server negotiation: insist on TLS, as CS_NEG_REQUIRE in iRODS.
        "irods_client_server_negotiation": "request_server_negotiation",
        "irods_client_server_policy": "CS_NEG_REQUIRE",
        "irods_ssl_verify_server": settings.ssl_verify_server,
        "irods_encryption_algorithm": "AES-256-CBC",
        "irods_encryption_key_size": 32,
        "irods_encryption_num_hash_rounds": 16,
        "irods_encryption_salt_size": 8,
    }
    if settings.ssl_ca_certificate_file:
        tls["irods_ssl_ca_certificate_file"] = settings.ssl_ca_certificate_file
    return tls


def session_kwargs(
    settings: IrodsSettings,
    *,
    client_user: str | None = None,
    anonymous: bool = False,
    environment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``irods.session.iRODSSession`` (pure).

    Service account by password (``host``/``port``/``user``/``password``/``zone``) or by
    ``irods_env_file`` (the environment file names the auth file). ``client_user`` proxies as that user.
    ``anonymous`` logs in as ``settings.anonymous_user`` without a password (needs host/port: from settings or
    from the already-read ``environment`` mapping). Never logged: the result may hold the password.
    """
    timeout = {"connection_timeout": settings.connection_timeout}
    if anonymous:
        env = environment or {}
        host = settings.host or env.get("irods_host", "")
        port = settings.port if settings.host else int(env.get("irods_port", settings.port))
        zone = settings.zone or env.get("irods_zone_name", "")
        tls = _tls_kwargs(settings) if settings.ssl else {k: env[k] for k in ENVIRONMENT_TLS_KEYS if k in env}
        return {"host": host, "port": port, "user": settings.anonymous_user, "password": "", "zone": zone,
                **tls, **timeout}
    if settings.environment_file:
        kwargs: dict[str, Any] = {"irods_env_file": settings.environment_file, **timeout}
    else:
        kwargs = {"host": settings.host, "port": settings.port, "user": settings.user,
                  "password": settings.password, "zone": settings.zone, **_tls_kwargs(settings), **timeout}
    if client_user is not None:
        kwargs["client_user"] = client_user
        kwargs["client_zone"] = settings.zone
    return kwargs


def closed_by_server(session: Any) -> bool:
    """Whether an *idle* pooled connection of ``session`` has something to read — which for iRODS means the
    server closed it (or reset it): the server speaks only when asked, so an idle connection is silent while it
    lives. One ``select`` with no wait over python-irodsclient's idle connections; a session without them (or a
    test double without sockets) is taken as healthy."""
    idle = getattr(getattr(session, "pool", None), "idle", None)
    sockets = [sock for sock in (getattr(conn, "socket", None) for conn in list(idle or ())) if sock is not None]
    if not sockets:
        return False
    try:
        readable, _, failed = select.select(sockets, [], sockets, 0)
    except (OSError, ValueError):  # a socket already closed
        return True
    return bool(readable or failed)


def _read_environment(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"irods.environment_file '{path}' does not exist") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"irods.environment_file '{path}' is not readable JSON ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"irods.environment_file '{path}' must hold a JSON object")
    return data


class Connector:
    """Makes the sessions the backend needs (see the module docstring). Thread-safe."""

    def __init__(self, settings: IrodsSettings, session_factory: Callable[..., Any] | None = None) -> None:
        if session_factory is None:
            from irods.session import iRODSSession

            session_factory = iRODSSession
        if not settings.environment_file and not (settings.host and settings.user):
            raise ConfigError("backend 'irods' needs 'irods.host' and 'irods.user' (or 'irods.environment_file')")
        if settings.pool_size < 1:
            raise ConfigError("setting 'irods.pool_size' must be at least 1")
        self.settings = settings
        self._factory = session_factory
        self._environment = _read_environment(settings.environment_file) if settings.environment_file else {}
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._lock = threading.Lock()
        self._service: Any = None
        self._generation = 0  # bumped by every renewal of the service session

    def _make(self, **kwargs: Any) -> Any:
        try:
            return self._factory(**kwargs)
        except Exception as err:  # noqa: BLE001 - every client failure is mapped
            raise translate(err) from err

    def service(self) -> Any:
        """The shared service-account session (created on first use, and again after :meth:`renew_service`)."""
        with self._lock:
            if self._service is not None and closed_by_server(self._service):
                log.warning("iRODS closed the service session's idle connections (a restart?): renewing it")
                self._service = None
                self._generation += 1
            if self._service is None:
                self._service = self._make(**session_kwargs(self.settings, environment=self._environment))
            return self._service

    @property
    def generation(self) -> int:
        """Which service session is current: read it before a call, hand it to :meth:`renew_service` after."""
        return self._generation

    def renew_service(self, generation: int | None = None) -> bool:
        """Forget the service session, so that the next :meth:`service` makes a fresh one; whether it did.

        With ``generation`` only the session of that generation is forgotten: a call that started before another
        thread's renewal and failed on the old session's dead connection does not throw away the fresh one. The old
        session is not cleaned up here (other threads may still be finishing calls on it); its connections are
        closed when it is garbage collected.
        """
        with self._lock:
            if generation is not None and generation != self._generation:
                return False
            had = self._service is not None
            self._service = None
            self._generation += 1
        if had:
            log.warning("iRODS connection lost: the service session's connections are renewed on its next use")
        return had

    def call_service(self, func: Callable[[], T], *, retry: bool = False) -> T:
        """Run ``func`` (which uses :meth:`service`) with every failure mapped to a :class:`TicketBoothError`.

        A network failure (:func:`.errors.is_network_failure`) renews the service session; with ``retry`` —
        only for calls that change nothing, such as catalog queries — ``func`` then runs once more on the fresh
        session, whose own failure is final (a zone really down fails fast again: connection refused).
        """
        for attempt in (1, 2):
            generation = self._generation
            try:
                return func()
            except Exception as err:  # noqa: BLE001 - every client failure is mapped
                if not is_network_failure(err):
                    if isinstance(err, TicketBoothError):
                        raise
                    raise translate(err) from err
                self.renew_service(generation)
                if not retry or attempt == 2:
                    if isinstance(err, TicketBoothError):
                        raise
                    raise translate(err) from err
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.settings.connection_timeout):
            raise BackendUnavailable("all iRODS connections of this instance are busy", retry_after=RETRY_AFTER_SECONDS)
        try:
            yield
        finally:
            self._slots.release()

    @contextlib.contextmanager
    def as_user(self, user: str) -> Iterator[Any]:
        """A fresh session proxied as ``user``, cleaned up on exit."""
        with self._slot():
            session = self._make(**session_kwargs(self.settings, client_user=user, environment=self._environment))
            try:
                yield session
            finally:
                _cleanup(session)

    def proxied(self, user: str) -> Any:
        """A fresh session proxied as ``user`` that takes no pool slot (its caller already holds one).

        The caller must clean it up (``session.cleanup()``).
        """
        return self._make(**session_kwargs(self.settings, client_user=user, environment=self._environment))

    def service_user(self) -> str:
        """The service account's name (from the settings or the environment file)."""
        return self.settings.user or str(self._environment.get("irods_user_name", ""))

    def for_ticket(self, ticket_string: str, holder: str, *, anonymous: bool) -> TicketSession:
        """A fresh session using ``ticket_string``: as the anonymous user, or proxied as ``holder``.

        The caller must :meth:`TicketSession.close` it (it holds one of the ``pool_size`` slots).
        """
        if not self._slots.acquire(timeout=self.settings.connection_timeout):
            raise BackendUnavailable("all iRODS connections of this instance are busy", retry_after=RETRY_AFTER_SECONDS)
        try:
            kwargs = session_kwargs(
                self.settings, client_user=None if anonymous else holder, anonymous=anonymous,
                environment=self._environment,
            )
            session = self._make(**kwargs)
            from irods.ticket import Ticket

            Ticket(session, ticket_string).supply()
        except BaseException:
            self._slots.release()
            raise
        return TicketSession(session, self._slots.release)

    def close(self) -> None:
        with self._lock:
            service, self._service = self._service, None
            self._generation += 1
        if service is not None:
            _cleanup(service)


class ProxiedSessions:
    """Sessions proxied as a user (``make(user)``), lent to one request at a time and kept afterwards for the
    next request writing as that user: at most ``max_idle`` in all (the oldest closed first), each for at most
    ``idle_seconds``. A session that saw a failure is closed, never lent again (:meth:`give` with
    ``healthy=False``), and so is one whose idle connection the server has closed meanwhile (a restart,
    :func:`closed_by_server`): its first request would fail. They take no connection slot while idle (their
    requests hold one while lent)."""

    def __init__(self, make: Callable[[str], Any], max_idle: int, *, idle_seconds: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._make = make
        self._max_idle = max(0, max_idle)
        self._idle_seconds = idle_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._idle: list[tuple[str, Any, float]] = []  # (user, session, parked at), oldest first

    def take(self, user: str) -> Any:
        """A kept session proxied as ``user``, or a new one."""
        now = self._monotonic()
        found = None
        with self._lock:
            stale = [entry[1] for entry in self._idle if now - entry[2] > self._idle_seconds]
            self._idle = [entry for entry in self._idle if now - entry[2] <= self._idle_seconds]
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index][0] == user:
                    found = self._idle.pop(index)[1]
                    break
        if found is not None and closed_by_server(found):
            stale.append(found)
            found = None
        for session in stale:
            _cleanup(session)
        return found if found is not None else self._make(user)

    def give(self, user: str, session: Any, *, healthy: bool) -> None:
        """Keep ``session`` (proxied as ``user``) for a next request, or close it."""
        closing = [] if healthy and self._max_idle else [session]
        if not closing:
            with self._lock:
                self._idle.append((user, session, self._monotonic()))
                while len(self._idle) > self._max_idle:
                    closing.append(self._idle.pop(0)[1])
        for each in closing:
            _cleanup(each)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, session, _ in idle:
            _cleanup(session)


class TicketSession:
    """A session with a ticket supplied, plus the pool slot it holds; :meth:`close` releases both once."""

    def __init__(self, session: Any, release: Callable[[], None]) -> None:
        self.session = session
        self._release: Callable[[], None] | None = release

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            try:
                _cleanup(self.session)
            finally:
                release()


def _cleanup(session: Any) -> None:
    # cleanup() disconnects every pooled connection; a dead server must not turn a finished request into an error.
    with contextlib.suppress(Exception):
        session.cleanup()


def create_collection(session: Any, path: str) -> None:
    """Create the collection ``path`` (its parent must exist; one that exists already is -809000,
    ``CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME``): one ``COLL_CREATE`` request.

    python-irodsclient's ``collections.create`` queries the new collection afterwards to return it, a catalog
    query that the counter locks (created and removed for every counted use) and parent collections never use.
    """
    from irods.api_number import api_number
    from irods.message import CollectionRequest, StringStringMap, iRODSMessage

    message = iRODSMessage("RODS_API_REQ", msg=CollectionRequest(collName=path, KeyValPair_PI=StringStringMap({})),
                           int_info=api_number["COLL_CREATE_AN"])
    with session.pool.get_connection() as conn:
        conn.send(message)
        conn.recv()
