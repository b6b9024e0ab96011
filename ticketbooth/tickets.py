"""The ticket service: what the API's views call. Validates with ``policy``, acts through the backend, and
builds what a caller may see of a ticket (the ticket string and links only for its owner or an admin) with its
S3 addressing and, where the caller holds one, its key pair.

No web framework here: views parse a request into plain values, call a method, and render the result.

Key pairs per caller: on a user-scoped ticket a caller admitted by its allow-lists gets their own pair; an owner
or admin who is *not* on the allow-list gets :class:`NotAHolder` (they manage the ticket but cannot use it,
as in iRODS; add yourself to ``users`` to get a pair). On an anonymous ticket the one shared pair (holder
``anonymous``) goes to the owner and admins only: it is a capability like the ticket string.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from . import paths, policy
from .audit import AuditTrail, TicketUsage
from .backends.base import TicketBackend
from .errors import InvalidRequest, PermissionDenied, TicketExhausted, TicketExpired, TicketNotFound
from .model import Actor, TargetKind, Ticket, TicketQuery, TicketStatus
from .resolver import KeyResolver
from .s3.buckets import public_bucket
from .settings import Settings

__all__ = ["ticket_settings", "ticket_changes", "NotAHolder", "S3Address", "Credentials", "TicketView", "TicketList", "TicketService", "bucket_name"]


#: What an audit event says of a ticket's settings (never its string).
_AUDITED_FIELDS = ("path", "access", "users", "groups", "hosts", "expires_at", "uses_limit", "write_file_limit",
                   "write_byte_limit", "label")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return getattr(value, "value", value)


def ticket_settings(ticket: Ticket) -> dict[str, Any]:
    """The audited settings of ``ticket`` (the ``detail`` of a ``created`` event)."""
    return {"anonymous": ticket.anonymous, **{name: _plain(getattr(ticket, name)) for name in _AUDITED_FIELDS}}


def ticket_changes(before: Ticket, after: Ticket) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` for each audited setting that differs."""
    return {name: {"from": _plain(getattr(before, name)), "to": _plain(getattr(after, name))}
            for name in _AUDITED_FIELDS if getattr(before, name) != getattr(after, name)}


class NotAHolder(PermissionDenied):
    """You manage this ticket but its allow-list does not admit you, so you hold no key pair for it."""

    code = "not_a_holder"


def bucket_name(ticket_id: int) -> str:
    """The S3 bucket that exposes a ticket's target."""
    return f"ticket-{ticket_id}"


@dataclass(frozen=True)
class S3Address:
    """Where S3 clients reach a ticket's target: endpoint, region, bucket, and the key prefix inside it."""

    endpoint_url: str
    region: str
    bucket: str
    key_prefix: str


@dataclass(frozen=True)
class Credentials:
    """A caller's key pair on a ticket, with the addressing a client needs. Never log this object."""

    ticket_id: int
    holder: str
    access_key_id: str
    secret_access_key: str
    s3: S3Address

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"Credentials(ticket_id={self.ticket_id}, holder={self.holder!r}, access_key_id={self.access_key_id!r})"


@dataclass(frozen=True)
class TicketView:
    """A ticket as one caller may see it. ``ticket_string`` and ``public_url`` are ``None`` unless the caller
    manages the ticket; ``credentials`` is set only in the response to a create."""

    ticket: Ticket
    status: TicketStatus
    ticket_string: str | None
    s3: S3Address
    public_url: str | None
    credentials: Credentials | None = None
    public_bucket: str | None = None
    usage: TicketUsage = TicketUsage()


@dataclass(frozen=True)
class TicketList:
    items: tuple[TicketView, ...]
    next_cursor: str | None


class TicketService:
    """The ticket use cases of the API. Every method raises :mod:`ticketbooth.errors` classes only."""

    def __init__(
        self, settings: Settings, backend: TicketBackend, resolver: KeyResolver, clock: Callable[[], datetime],
        audit: AuditTrail | None = None,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._resolver = resolver
        self._clock = clock
        self._audit = audit or AuditTrail(None, clock)

    # -- views -----------------------------------------------------------------------------------------

    def address(self, ticket: Ticket) -> S3Address:
        prefix = paths.basename(ticket.path) if ticket.target_kind is TargetKind.DATA_OBJECT else ""
        return S3Address(self._settings.s3.endpoint_url, self._settings.s3.region, bucket_name(ticket.id), prefix)

    def _public_url(self, ticket: Ticket) -> str:
        base = (self._settings.gateway.public_url or self._settings.s3.endpoint_url).rstrip("/")
        tail = quote(paths.basename(ticket.path), safe="") if ticket.target_kind is TargetKind.DATA_OBJECT else ""
        return f"{base}/_t/{ticket.string}/{tail}"

    def view(self, actor: Actor, ticket: Ticket, now: datetime, credentials: Credentials | None = None,
             usage: TicketUsage | None = None) -> TicketView:
        """What ``actor`` may see of ``ticket`` at ``now``; ``usage`` is looked up when not given."""
        manages = policy.can_manage(actor, ticket)
        if usage is None:
            usage = self._audit.usage([ticket.id]).get(ticket.id, TicketUsage())
        status = policy.ticket_status(ticket, now)
        if status is not TicketStatus.ACTIVE and status.value not in usage.noticed:
            self._audit.notice(status.value, ticket_id=ticket.id, owner=ticket.owner, actor=actor.name)
        return TicketView(
            ticket=ticket,
            status=status,
            ticket_string=ticket.string if manages else None,
            s3=self.address(ticket),
            public_url=self._public_url(ticket) if manages and ticket.anonymous else None,
            credentials=credentials,
            # Like the link, the public bucket is the ticket string in disguise: for those who manage it.
            public_bucket=public_bucket(ticket.string) if manages and ticket.anonymous else None,
            usage=usage,
        )

    # -- use cases -------------------------------------------------------------------------------------

    def create(self, actor: Actor, path: object, **fields: Any) -> TicketView:
        """Create a ticket on ``path`` (see ``policy.build_spec`` for ``fields``), returned with the caller's
        key pair when they hold one."""
        now = self._clock()
        canonical = paths.validate_path(path, self._backend.zone)
        spec = policy.build_spec(actor, canonical, now=now, anonymous_policy=self._settings.anonymous, **fields)
        ticket = self._backend.create_ticket(actor, spec, now=now)
        self._audit.record("created", ticket_id=ticket.id, actor=actor.name, owner=ticket.owner,
                           detail=ticket_settings(ticket), now=now)
        holder = self._holder(actor, ticket)
        return self.view(actor, ticket, now, None if holder is None else self._credentials(ticket, holder))

    def get(self, actor: Actor, ticket_id: int) -> TicketView:
        return self.view(actor, self._fetch(actor, ticket_id), self._clock())

    def list(
        self,
        actor: Actor,
        *,
        owner: str | None = None,
        all_owners: bool = False,
        shared_with_me: bool = False,
        path: str | None = None,
        anonymous: bool | None = None,
        status: TicketStatus | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> TicketList:
        """A page of tickets: the caller's own by default; ``shared_with_me`` those whose allow-lists admit
        the caller; admins may name an ``owner`` or ask for ``all_owners``."""
        now = self._clock()
        if owner is not None or all_owners:
            if shared_with_me:
                raise InvalidRequest("shared_with cannot be combined with owner or all",
                                     details={"field": "shared_with"})
            if not actor.is_admin and (all_owners or owner != actor.name):
                raise PermissionDenied("only admins may list other users' tickets", details={"field": "owner"})
        if path is not None:
            path = paths.validate_path(path, self._backend.zone)
        query = TicketQuery(
            owner=owner if owner is not None else (None if all_owners or shared_with_me else actor.name),
            all_owners=all_owners,
            shared_with=actor.name if shared_with_me else None,
            path=path,
            anonymous=anonymous,
            status=status,
            limit=limit,
            cursor=cursor,
            now=now,
        )
        page = self._backend.list_tickets(actor, query)
        usage = self._audit.usage([t.id for t in page.items])
        return TicketList(tuple(self.view(actor, t, now, usage=usage.get(t.id, TicketUsage())) for t in page.items),
                          page.next_cursor)

    def modify(self, actor: Actor, ticket_id: int, **fields: Any) -> TicketView:
        """Apply a PATCH (fields as ``policy.apply_changes`` takes them; absent ones stay)."""
        now = self._clock()
        ticket = self._managed(actor, ticket_id, "modify")
        changes = policy.apply_changes(ticket, now=now, anonymous_policy=self._settings.anonymous, **fields)
        if not changes.is_empty():
            before = ticket
            ticket = self._backend.modify_ticket(actor, ticket_id, changes, now=now)
            self._resolver.forget(ticket_id)
            changed = ticket_changes(before, ticket)
            if changed:
                self._audit.record("modified", ticket_id=ticket.id, actor=actor.name, owner=ticket.owner,
                                   detail={"changes": changed}, now=now)
        return self.view(actor, ticket, now)

    def delete(self, actor: Actor, ticket_id: int) -> None:
        """Revoke the ticket; its key pairs and links stop working at once on this instance."""
        ticket = self._managed(actor, ticket_id, "delete")
        try:
            self._backend.delete_ticket(actor, ticket_id)
        finally:
            self._resolver.forget(ticket_id)
        self._audit.record("revoked", ticket_id=ticket_id, actor=actor.name, owner=ticket.owner,
                           detail={"path": ticket.path})

    def credentials(self, actor: Actor, ticket_id: int) -> Credentials:
        """The caller's own key pair on the ticket (see the module docstring for who holds which pair)."""
        ticket = self._fetch(actor, ticket_id)
        holder = self._holder(actor, ticket)
        if holder is None:
            if ticket.anonymous:
                raise PermissionDenied("only the owner or an admin may fetch the key pair of an anonymous ticket")
            raise NotAHolder(
                "this ticket's allow-list does not admit you, so you hold no key pair for it; "
                "add yourself to 'users' (PATCH) to get one",
            )
        # A pair is usable exactly as long as its ticket: say so now rather than hand out keys S3 will refuse.
        status = policy.ticket_status(ticket, self._clock())
        if status is TicketStatus.EXPIRED:
            raise TicketExpired("the ticket has expired; its key pairs are refused (extend it with PATCH)")
        if status is TicketStatus.EXHAUSTED:
            raise TicketExhausted("the ticket's uses are exhausted; its key pairs are refused (raise uses_limit)")
        return self._credentials(ticket, holder)

    # -- helpers ---------------------------------------------------------------------------------------

    def _fetch(self, actor: Actor, ticket_id: int) -> Ticket:
        # Ids are iRODS's signed 64-bit integers; anything else names no ticket (and must not reach a driver).
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 0 <= ticket_id <= policy.MAX_INT64:
            raise TicketNotFound()
        return self._backend.get_ticket(actor, ticket_id)

    def _managed(self, actor: Actor, ticket_id: int, verb: str) -> Ticket:
        ticket = self._fetch(actor, ticket_id)
        if not policy.can_manage(actor, ticket):
            raise PermissionDenied(f"only the owner or an admin may {verb} this ticket")
        return ticket

    def _holder(self, actor: Actor, ticket: Ticket) -> str | None:
        if ticket.anonymous:
            return policy.ANONYMOUS_USER if policy.can_manage(actor, ticket) else None
        if policy.admits(ticket, actor.name, self._backend.user_groups(actor.name)):
            return actor.name
        return None

    def _credentials(self, ticket: Ticket, holder: str) -> Credentials:
        akid, secret = self._resolver.mint(ticket, holder)
        return Credentials(ticket.id, holder, akid, secret, self.address(ticket))

