"""A running TicketBooth on loopback, on either backend: the API and the S3 gateway under gunicorn (plus an HTTPS
gateway with a self-signed certificate and an API instance that hands out its endpoint).

:class:`Stack` is what a test drives: the HTTP side (API calls, tickets, credentials, the gateway's metrics) is
the same on both backends; the storage side (:meth:`Stack.collection`, :meth:`Stack.seed`, :meth:`Stack.read`,
:meth:`Stack.exists`, :meth:`Stack.is_collection`) reaches past TicketBooth into the backend's own storage, as
an operator would: the embedded data directory, or the iRODS zone through python-irodsclient.

The iRODS stack runs against the real zone named by ``TICKETBOOTH_TEST_IRODS_*`` (see docs/irods.md). It acts as
two users of its own (:data:`IRODS_OWNER`, :data:`IRODS_OTHER`, created when missing), so the conformance suite,
which deletes every ticket of alice, bob and carol around each test, cannot remove this suite's tickets when both
run at once on the shared zone; everything it makes lies under one collection per run and is removed at the end.
"""
from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import requests
from prometheus_client.parser import text_string_to_metric_families

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.settings import Settings, load_settings

from .servers import API_APP, GATEWAY_APP, Server, free_port, self_signed_cert

__all__ = ["ZONE", "IRODS_ENV", "IRODS_OWNER", "IRODS_OTHER", "KEY_CACHE_TTL", "irods_configured", "Stack",
           "EmbeddedStack", "IrodsStack", "start_embedded", "start_irods"]

ZONE = "tempZone"
IRODS_ENV = {name: os.environ.get(f"TICKETBOOTH_TEST_IRODS_{name}", "")
             for name in ("HOST", "PORT", "ZONE", "USER", "PASSWORD")}
IRODS_OWNER = "e2e_alice"
IRODS_OTHER = "e2e_bob"
#: ``s3.key_cache_ttl`` of the iRODS stack: short, so a ticket deleted out of band loses its keys quickly.
KEY_CACHE_TTL = 1.0


def irods_configured() -> bool:
    return all(IRODS_ENV.values())


class Stack:
    """The running services of one backend (``backend`` is ``"embedded"`` or ``"irods"``) and helpers to drive
    them as users would. ``owner`` and ``other`` are the two users tests act as (alice and bob on embedded)."""

    backend: str
    owner: str
    other: str

    def __init__(self, settings: Settings, servers: list[Server], config_file: Path, ca_file: Path) -> None:
        self.settings, self.servers, self.config_file, self.ca_file = settings, servers, config_file, ca_file
        api, gateway, tls_api, tls_gateway = servers
        self.api_url, self.gateway_url = api.url, gateway.url
        self.tls_api_url, self.tls_gateway_url = tls_api.url, tls_gateway.url
        self.ticket_ids: list[int] = []  # every ticket create_ticket made (the iRODS stack deletes them at the end)

    # -- the HTTP side, the same on both backends -----------------------------------------------------------

    def token(self, user: str | None = None) -> str:
        return issue_dev_token(self.settings, user or self.owner, False, datetime.now(UTC), lifetime=3600)

    def api(self, method: str, path: str, *, user: str | None = None, base: str | None = None, **kw: Any):
        headers = {"Authorization": f"Bearer {self.token(user)}", **kw.pop("headers", {})}
        return requests.request(method, (base or self.api_url) + path, headers=headers, timeout=60, **kw)

    def create_ticket(self, path: str, *, user: str | None = None, **fields: Any) -> dict[str, Any]:
        response = self.api("POST", "/v1/tickets", user=user, json={"path": path, **fields})
        assert response.status_code == 201, response.text
        self.ticket_ids.append(response.json()["id"])
        return response.json()

    def revoke(self, ticket_id: int, user: str | None = None) -> None:
        response = self.api("DELETE", f"/v1/tickets/{ticket_id}", user=user)
        assert response.status_code == 204, response.text

    def credentials(self, ticket_id: int, fmt: str, *, user: str | None = None, tls: bool = False) -> str:
        response = self.api("GET", f"/v1/tickets/{ticket_id}/credentials", user=user, params={"format": fmt},
                            base=self.tls_api_url if tls else None)
        assert response.status_code == 200, response.text
        return response.text

    def uses(self, ticket_id: int, *, settle: int | None = None) -> int:
        """The ticket's ``uses_count`` as the API reports it. Uses of a ticket without a uses limit reach
        other processes with the gateway's next group commit (every 0.25 s): ``settle`` waits (up to 10 s)
        for that count."""
        deadline = time.monotonic() + 10
        while True:
            count = self.api("GET", f"/v1/tickets/{ticket_id}").json()["uses_count"]
            if settle is None or count == settle or time.monotonic() > deadline:
                return count
            time.sleep(0.05)

    def backend_calls(self) -> dict[str, float]:
        """How often the (single-worker) plain gateway has called each data-session method of its backend so
        far (``ticketbooth_backend_call_duration_seconds_count`` by ``call``, from its ``/metrics``)."""
        text = requests.get(self.gateway_url + "/metrics", timeout=30).text
        return {sample.labels["call"]: sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "ticketbooth_backend_call_duration_seconds_count"
                and sample.labels.get("backend") == self.backend}

    @contextmanager
    def calls(self) -> Iterator[dict[str, float]]:
        """``with stack.calls() as calls:``: once the block ends, ``calls`` maps each backend call the plain
        gateway made inside it (``session.copy``, ``session.open_read``, ``session.write`` ...) to how often.
        Tests run one at a time against the stack, so nothing else adds to the counts."""
        before, made = self.backend_calls(), {}
        yield made
        made.update({call: count - before.get(call, 0) for call, count in self.backend_calls().items()
                     if count != before.get(call, 0)})

    # -- the storage side, per backend ---------------------------------------------------------------------

    def home(self, user: str | None = None) -> str:
        return f"/{ZONE}/home/{user or self.owner}"

    def collection(self, name: str, user: str | None = None) -> str:
        """A fresh collection named after ``name`` (a test's node name will do) in ``user``'s home."""
        raise NotImplementedError

    def seed(self, logical: str, content: bytes) -> None:
        """Put a data object in place (owner: the home it lies in), creating missing collections."""
        raise NotImplementedError

    def read(self, logical: str) -> bytes | None:
        """The content of the data object ``logical`` as stored, or None when there is none."""
        raise NotImplementedError

    def exists(self, logical: str) -> bool:
        """Whether a data object or a collection is at ``logical``."""
        raise NotImplementedError

    def is_collection(self, logical: str) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _safe_name(name: str) -> str:
    """A test node name (``test_x[irods-v2]``) as one path segment."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80]


class EmbeddedStack(Stack):
    backend = "embedded"
    owner = "alice"
    other = "bob"

    def __init__(self, settings: Settings, servers: list[Server], config_file: Path, ca_file: Path,
                 data_dir: Path) -> None:
        super().__init__(settings, servers, config_file, ca_file)
        self.data_dir = data_dir

    def disk(self, logical: str) -> Path:
        """Where the embedded backend keeps a logical path."""
        return self.data_dir / "zone" / logical.lstrip("/")

    def collection(self, name: str, user: str | None = None) -> str:
        logical = f"{self.home(user)}/{_safe_name(name)}"
        self.disk(logical).mkdir(parents=True, exist_ok=True)
        return logical

    def seed(self, logical: str, content: bytes) -> None:
        target = self.disk(logical)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    def read(self, logical: str) -> bytes | None:
        return self.disk(logical).read_bytes() if self.disk(logical).is_file() else None

    def exists(self, logical: str) -> bool:
        return self.disk(logical).exists()

    def is_collection(self, logical: str) -> bool:
        return self.disk(logical).is_dir()


class IrodsStack(Stack):
    backend = "irods"
    owner = IRODS_OWNER
    other = IRODS_OTHER

    def __init__(self, settings: Settings, servers: list[Server], config_file: Path, ca_file: Path,
                 run: str, state_collection: str, irods_env: Mapping[str, str] = IRODS_ENV) -> None:
        super().__init__(settings, servers, config_file, ca_file)
        self.run, self.state_collection, self.irods_env = run, state_collection, dict(irods_env)

    @contextmanager
    def session(self, client_user: str | None = None) -> Iterator[Any]:
        """A python-irodsclient session as the zone's admin, proxied as ``client_user`` when given."""
        from irods.session import iRODSSession

        with iRODSSession(**_admin_kwargs(self.irods_env, client_user)) as session:
            yield session

    def home(self, user: str | None = None) -> str:
        return f"/{self.irods_env['ZONE']}/home/{user or self.owner}"

    def _as_home_owner(self, logical: str):
        return self.session(logical.split("/")[3])  # /zone/home/<user>/...

    def run_root(self, user: str | None = None) -> str:
        return f"{self.home(user)}/tb-e2e-{self.run}"

    def collection(self, name: str, user: str | None = None) -> str:
        logical = f"{self.run_root(user)}/{_safe_name(name)}"
        with self.session(user or self.owner) as session:
            session.collections.create(logical, recurse=True)
        return logical

    def seed(self, logical: str, content: bytes) -> None:
        with self._as_home_owner(logical) as session:
            session.collections.create(logical.rsplit("/", 1)[0], recurse=True)
            with session.data_objects.open(logical, "w") as handle:
                handle.write(content)

    def read(self, logical: str) -> bytes | None:
        with self._as_home_owner(logical) as session:
            if not session.data_objects.exists(logical):
                return None
            with session.data_objects.open(logical, "r") as handle:
                return handle.read()

    def exists(self, logical: str) -> bool:
        with self._as_home_owner(logical) as session:
            return session.data_objects.exists(logical) or session.collections.exists(logical)

    def is_collection(self, logical: str) -> bool:
        with self._as_home_owner(logical) as session:
            return session.collections.exists(logical)

    def data_object(self, logical: str) -> Any:
        """python-irodsclient's ``iRODSDataObject`` at ``logical`` (owner, checksum, replicas ...)."""
        with self._as_home_owner(logical) as session:
            return session.data_objects.get(logical)

    def avus(self, logical: str) -> dict[str, str]:
        """The data object's AVUs in TicketBooth's ``s3.`` namespace, as ``imeta ls -d`` shows them."""
        with self._as_home_owner(logical) as session:
            return {avu.name: avu.value for avu in session.data_objects.get(logical).metadata.items()
                    if avu.name.startswith("s3.")}

    def set_avu(self, logical: str, name: str, value: str) -> None:
        """``imeta set -d logical name value``, as the object's owner would."""
        from irods.meta import iRODSMeta

        with self._as_home_owner(logical) as session:
            session.data_objects.get(logical).metadata.set(iRODSMeta(name, value))

    def remove_avu(self, logical: str, name: str, value: str) -> None:
        from irods.meta import iRODSMeta

        with self._as_home_owner(logical) as session:
            session.data_objects.get(logical).metadata.remove(iRODSMeta(name, value))

    def delete_ticket_out_of_band(self, ticket_string: str) -> None:
        """``iticket delete`` by the zone's admin, past TicketBooth."""
        from irods.keywords import ADMIN_KW
        from irods.ticket import Ticket

        with self.session() as admin:
            Ticket(admin, ticket_string).delete(**{ADMIN_KW: ""})

    def ticket_row(self, ticket_id: int) -> dict[Any, Any]:
        from irods.models import TicketQuery as TQ

        with self.session() as admin:
            return admin.query(*TQ.Ticket._columns).filter(TQ.Ticket.id == ticket_id).one()

    def close(self) -> None:
        super().close()
        from irods.exception import CAT_TICKET_INVALID
        from irods.models import TicketQuery as TQ

        with self.session() as admin:
            for ticket_id in self.ticket_ids:  # only this run's: another run may share the users
                rows = admin.query(TQ.Ticket.string).filter(TQ.Ticket.id == ticket_id).all()
                for row in rows:
                    try:
                        self.delete_ticket_out_of_band(row[TQ.Ticket.string])
                    except CAT_TICKET_INVALID:
                        pass  # gone meanwhile
            if admin.collections.exists(self.state_collection):
                admin.collections.remove(self.state_collection, recurse=True, force=True)
        for user in (self.owner, self.other):
            with self.session(user) as session:
                if session.collections.exists(self.run_root(user)):
                    session.collections.remove(self.run_root(user), recurse=True, force=True)


def _settings_file(base: Path, gateway_url: str, backend_toml: str, s3_toml: str) -> tuple[Path, Settings]:
    config_file = base / "ticketbooth.toml"
    config_file.write_text(
        f'data_dir = "{base / "data"}"\nlog_level = "WARNING"\n{backend_toml}'
        f'[auth]\nhs256_secret = "{secrets.token_hex(24)}"\n'
        f'[s3]\nendpoint_url = "{gateway_url}"\nregion = "us-east-1"\nmaster_key = "{secrets.token_hex(32)}"\n'
        # One use per request, which the suites count (a use window has its own tests, test_use_window).
        f'use_window = 0\n{s3_toml}'
        f'[gateway]\nauthorize_secret = "{secrets.token_hex(24)}"\npublic_url = "{gateway_url}"\n'
    )
    return config_file, load_settings(config_file, environ={})


def _start(base: Path, backend_toml: str, s3_toml: str = "") -> tuple[Settings, list[Server], Path, Path]:
    """The four servers on ``base``'s configuration: (settings, [api, gateway, tls api, tls gateway], config
    file, CA file)."""
    ports = {name: free_port() for name in ("api", "gateway", "tls_api", "tls_gateway")}
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    tls_gateway_url = f"https://127.0.0.1:{ports['tls_gateway']}"
    config_file, settings = _settings_file(base, gateway_url, backend_toml, s3_toml)
    cert, key = self_signed_cert(base)
    env: Mapping[str, str] = {"TICKETBOOTH_CONFIG": str(config_file)}
    tls_env = {**env, "TICKETBOOTH_S3__ENDPOINT_URL": tls_gateway_url,
               "TICKETBOOTH_GATEWAY__PUBLIC_URL": tls_gateway_url}
    # Start the first API alone: it creates the data directory (and catalogue, or state collection) the others
    # share.
    api = Server(API_APP, ports["api"], env, base / "api.log")
    servers = [api]
    try:
        api.wait_ready("/healthz")
        servers += [
            # The plain gateway as production runs it on a 2-CPU host (2 workers x 4 threads, the metrics hooks):
            # every client suite meets requests served by two processes. The TLS one is one process of 8 threads.
            Server(GATEWAY_APP, ports["gateway"], env, base / "gateway.log", workers=2, threads=4,
                   args=("-c", "python:ticketbooth.gunicorn_conf")),  # /metrics: the sum over both workers
            Server(API_APP, ports["tls_api"], tls_env, base / "tls-api.log"),
            Server(GATEWAY_APP, ports["tls_gateway"], tls_env, base / "tls-gateway.log", tls=(cert, key)),
        ]
        servers[1].wait_ready("/")
        servers[2].wait_ready("/healthz")
        servers[3].wait_ready("/", verify=str(cert))
    except BaseException:
        for server in reversed(servers):
            server.stop()
        raise
    return settings, servers, config_file, cert


def start_embedded(base: Path) -> EmbeddedStack:
    settings, servers, config_file, ca_file = _start(base, '[embedded]\nusers = ["alice", "bob"]\n')
    return EmbeddedStack(settings, servers, config_file, ca_file, base / "data")


def _admin_kwargs(env: Mapping[str, str], client_user: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"host": env["HOST"], "port": int(env["PORT"]), "zone": env["ZONE"],
                              "user": env["USER"], "password": env["PASSWORD"]}
    if client_user:
        kwargs["client_user"] = client_user
    return kwargs


def _ensure_users(stack_users: tuple[str, ...], env: Mapping[str, str]) -> None:
    from irods.models import User
    from irods.session import iRODSSession

    with iRODSSession(**_admin_kwargs(env)) as admin:
        for user in stack_users:
            if not admin.query(User.name).filter(User.name == user).all():
                admin.users.create(user, "rodsuser")


def start_irods(base: Path, irods_env: Mapping[str, str] = IRODS_ENV, *, irods_toml: str = "") -> IrodsStack:
    """The stack on the real zone of ``TICKETBOOTH_TEST_IRODS_*`` (the caller checks :func:`irods_configured`),
    or on the zone ``irods_env`` names (same keys: HOST, PORT, ZONE, USER, PASSWORD); ``irods_toml`` adds lines
    to the ``[irods]`` section."""
    env = irods_env
    _ensure_users((IRODS_OWNER, IRODS_OTHER), env)
    run = uuid.uuid4().hex[:8]
    state = f"/{env['ZONE']}/home/{env['USER']}/tb-e2e-{run}-state"
    backend_toml = (
        'backend = "irods"\n'
        f'[irods]\nhost = "{env["HOST"]}"\nport = {int(env["PORT"])}\nzone = "{env["ZONE"]}"\n'
        f'user = "{env["USER"]}"\npassword = "{env["PASSWORD"]}"\nservice_hosts = ["127.0.0.1"]\n'
        f'state_collection = "{state}"\n{irods_toml}'
    )
    settings, servers, config_file, ca_file = _start(base, backend_toml, f"key_cache_ttl = {KEY_CACHE_TTL}\n")
    return IrodsStack(settings, servers, config_file, ca_file, run, state, env)
