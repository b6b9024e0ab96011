"""The iRODS backend: real iRODS tickets, issued and changed as the caller, read from the catalog.

- Create: a session proxied as the caller issues the ticket (iRODS checks the caller owns the path and makes them
  the owner), then the same session applies, in this order, uses, write-file (always: iRODS's default is 10),
  write-byte, expiry, users, groups, hosts. If any step fails the service account deletes the ticket with
  ``ADMIN_KW`` and the caller gets the mapped iRODS reason: no half-configured ticket survives.
- Modify/delete: proxied as the owner; an admin acting on someone else's ticket uses the service account with
  ``ADMIN_KW``. A failed modification undoes the steps already applied.
- Labels: iRODS tickets have no label field, so this backend refuses a non-empty label with ``InvalidRequest``.
- Hosts: iRODS compares a ticket's host list with the address of the *connecting* client, which for the gateway
  is the gateway itself; TicketBooth checks the S3 client's address in :meth:`open_session`. Only single
  addresses are accepted (iRODS has no networks).
"""
from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ... import policy
from ...errors import (
    BackendUnavailable,
    InvalidRequest,
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketNotFound,
    TicketUnusable,
)
from ...model import UNSET, Actor, Ticket, TicketChanges, TicketPage, TicketQuery, TicketSpec
from ...settings import Settings
from ..base import DataSession, TicketBackend
from .catalog import Catalog, quote_safe
from .connection import Connector
from .data import IrodsDataSession
from .errors import CAT_TICKET_INVALID, irods_code, translate

__all__ = ["IrodsBackend", "change_steps", "creation_steps"]

log = logging.getLogger(__name__)

Step = tuple[str, ...]


def _epoch(when: datetime | None) -> str:
    # iRODS clears an expiry given as 0.
    return "0" if when is None else str(int(when.timestamp()))


def creation_steps(spec: TicketSpec) -> list[Step]:
    """The ``Ticket.modify`` argument tuples that configure a freshly issued ticket, in order (pure)."""
    steps: list[Step] = [("uses", str(spec.uses_limit)), ("write-file", str(spec.write_file_limit))]
    if spec.write_byte_limit:
        steps.append(("write-byte", str(spec.write_byte_limit)))
    if spec.expires_at is not None:
        steps.append(("expire", _epoch(spec.expires_at)))
    steps += [("add", "user", u) for u in spec.users]
    steps += [("add", "group", g) for g in spec.groups]
    steps += [("add", "host", h) for h in spec.hosts]
    return steps


def change_steps(ticket: Ticket, changes: TicketChanges) -> list[tuple[Step, Step]]:
    """(do, undo) ``Ticket.modify`` argument pairs that turn ``ticket`` into ``ticket + changes`` (pure)."""
    steps: list[tuple[Step, Step]] = []
    for field_name, keyword in (("uses_limit", "uses"), ("write_file_limit", "write-file"),
                                ("write_byte_limit", "write-byte")):
        value = getattr(changes, field_name)
        if value is not UNSET and value != getattr(ticket, field_name):
            steps.append(((keyword, str(value)), (keyword, str(getattr(ticket, field_name)))))
    if changes.expires_at is not UNSET and changes.expires_at != ticket.expires_at:
        steps.append((("expire", _epoch(changes.expires_at)), ("expire", _epoch(ticket.expires_at))))  # type: ignore[arg-type]
    for field_name, kind in (("users", "user"), ("groups", "group"), ("hosts", "host")):
        wanted = getattr(changes, field_name)
        if wanted is UNSET:
            continue
        current = getattr(ticket, field_name)
        for name in wanted:
            if name not in current:
                steps.append((("add", kind, name), ("remove", kind, name)))
        for name in current:
            if name not in wanted:
                steps.append((("remove", kind, name), ("add", kind, name)))
    return steps


def _check_supported(label: object, hosts: object) -> None:
    if label not in (None, UNSET):
        raise InvalidRequest(
            "labels are not supported by the iRODS backend (iRODS tickets have no label field)",
            details={"field": "label"},
        )
    if hosts is not UNSET:
        for host in hosts:  # type: ignore[union-attr]
            if ipaddress.ip_network(host).num_addresses != 1:
                raise InvalidRequest(
                    "the iRODS backend accepts single host addresses only, not networks", details={"field": "hosts"}
                )


class IrodsBackend(TicketBackend):
    """A :class:`TicketBackend` on a real iRODS zone (see the module docstring)."""

    def __init__(self, connector: Connector, zone: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self.zone = zone
        self._connector = connector
        self._catalog = Catalog(connector.service, zone)
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        session_factory: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> IrodsBackend:
        """Build from ``settings.irods``; ``session_factory`` replaces ``irods.session.iRODSSession`` (tests)."""
        return cls(Connector(settings.irods, session_factory), settings.irods.zone, clock=clock)

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _catalog_call(self, func: Callable[[], Any]) -> Any:
        try:
            return func()
        except TicketBoothError:
            raise
        except Exception as err:  # noqa: BLE001 - mapped
            raise translate(err) from err

    @staticmethod
    def _ticket_api(session: Any, ticket_string: str = "") -> Any:
        from irods.ticket import Ticket as IrodsTicket

        return IrodsTicket(session, ticket_string) if ticket_string else IrodsTicket(session)

    def _delete_as_admin(self, ticket_string: str) -> None:
        from irods.keywords import ADMIN_KW

        self._ticket_api(self._connector.service(), ticket_string).delete(**{ADMIN_KW: ""})

    # -- catalogue --------------------------------------------------------------------------------------------

    def create_ticket(self, actor: Actor, spec: TicketSpec, *, now: datetime) -> Ticket:
        _check_supported(spec.label, spec.hosts)
        quote_safe(spec.path)
        issued: str | None = None
        try:
            with self._connector.as_user(actor.name) as session:
                api = self._ticket_api(session)
                api.issue(spec.access.value, spec.path)
                issued = api.string
                for step in creation_steps(spec):
                    api.modify(*step)
            ticket = self._catalog.by_string(issued)
            if ticket is None:
                raise TicketNotFound("the new ticket is not in the catalog")
            return ticket
        except BaseException as err:
            if issued is not None:
                self._roll_back(issued)
            if isinstance(err, TicketBoothError) or not isinstance(err, Exception):
                raise
            raise translate(err, path=spec.path) from err

    def _roll_back(self, ticket_string: str) -> None:
        try:
            self._delete_as_admin(ticket_string)
        except Exception as err:  # noqa: BLE001 - the original failure is what the caller must see
            # Never log the string; the catalog id is unknown here, the owner's listing will show the ticket.
            log.error("could not delete a half-configured iRODS ticket (%s); delete it by hand", type(err).__name__)

    def get_ticket(self, actor: Actor, ticket_id: int) -> Ticket:
        ticket = self.find_ticket(ticket_id)
        if ticket is None:
            raise TicketNotFound()
        if policy.can_manage(actor, ticket):
            return ticket
        if not ticket.anonymous and policy.admits(ticket, actor.name, self.user_groups(actor.name)):
            return ticket
        raise TicketNotFound()

    def find_ticket(self, ticket_id: int) -> Ticket | None:
        return self._catalog_call(lambda: self._catalog.by_id(ticket_id))

    def find_ticket_by_string(self, ticket_string: str) -> Ticket | None:
        return self._catalog_call(lambda: self._catalog.by_string(ticket_string))

    def list_tickets(self, actor: Actor, query: TicketQuery) -> TicketPage:
        if not actor.is_admin:
            if query.all_owners or (query.owner is not None and query.owner != actor.name):
                raise PermissionDenied("only admins may list other users' tickets")
            if query.shared_with is not None and query.shared_with != actor.name:
                raise PermissionDenied("only admins may list tickets shared with someone else")
        if query.shared_with is not None:
            owner = query.owner
        elif query.all_owners and query.owner is None:
            owner = None
        else:
            owner = query.owner or actor.name
        groups = self.user_groups(query.shared_with) if query.shared_with is not None else frozenset()
        items, cursor = self._catalog_call(
            lambda: self._catalog.page(query, owner=owner, shared_groups=groups, now=query.now or self._clock())
        )
        return TicketPage(items=tuple(items), next_cursor=cursor)

    def _managed(self, actor: Actor, ticket_id: int) -> tuple[Ticket, bool]:
        """The ticket and whether to act as admin; ``TicketNotFound`` for anyone but its owner or an admin."""
        ticket = self.find_ticket(ticket_id)
        if ticket is None or not policy.can_manage(actor, ticket):
            raise TicketNotFound()
        return ticket, actor.name != ticket.owner

    def modify_ticket(self, actor: Actor, ticket_id: int, changes: TicketChanges, *, now: datetime) -> Ticket:
        _check_supported(changes.label, changes.hosts)
        ticket, as_admin = self._managed(actor, ticket_id)
        steps = change_steps(ticket, changes)
        if steps:
            self._apply(ticket, steps, actor.name, as_admin)
        updated = self.find_ticket(ticket_id)
        if updated is None:
            raise TicketNotFound()
        return updated

    def _apply(self, ticket: Ticket, steps: list[tuple[Step, Step]], user: str, as_admin: bool) -> None:
        from irods.keywords import ADMIN_KW

        options = {ADMIN_KW: ""} if as_admin else {}
        done: list[Step] = []

        def run(session: Any) -> None:
            api = self._ticket_api(session, ticket.string)
            try:
                for do, undo in steps:
                    api.modify(*do, **options)
                    done.append(undo)
            except Exception as err:
                for undo in reversed(done):
                    try:
                        api.modify(*undo, **options)
                    except Exception as undo_err:  # noqa: BLE001 - report the first failure
                        log.error("could not undo a ticket change on ticket %s (%s)", ticket.id,
                                  type(undo_err).__name__)
                        break
                raise translate(err) from err

        if as_admin:
            run(self._connector.service())
        else:
            with self._connector.as_user(user) as session:
                run(session)

    def delete_ticket(self, actor: Actor, ticket_id: int) -> None:
        ticket, as_admin = self._managed(actor, ticket_id)
        try:
            if as_admin:
                self._delete_as_admin(ticket.string)
            else:
                with self._connector.as_user(actor.name) as session:
                    self._ticket_api(session, ticket.string).delete()
        except TicketBoothError:
            raise
        except Exception as err:  # noqa: BLE001 - mapped
            raise translate(err) from err

    def user_groups(self, user: str) -> frozenset[str]:
        return self._catalog_call(lambda: self._catalog.user_groups(user))

    def check_ready(self) -> None:
        """Ask the server something cheap with the service account (a one-row user query)."""
        from irods.models import User

        def ping() -> None:
            self._connector.service().query(User.name).filter(User.name == quote_safe(self._connector.settings.user or
                                                                                     "rods")).limit(1).all()

        try:
            self._catalog_call(ping)
        except BackendUnavailable:
            raise
        except TicketBoothError as err:
            raise BackendUnavailable(f"iRODS is not ready ({err.code})") from err

    # -- data path --------------------------------------------------------------------------------------------

    def open_session(self, ticket: Ticket, holder: str, *, client_host: str | None, now: datetime) -> DataSession:
        groups: frozenset[str] = frozenset()
        if not ticket.anonymous and holder not in ticket.users:
            groups = self.user_groups(holder)
        # iRODS judges the rest authoritatively; the host list only TicketBooth can check (iRODS sees the gateway).
        policy.check_usable(ticket, holder, groups, client_host, now)
        handle = self._catalog_call(
            lambda: self._connector.for_ticket(ticket.string, holder, anonymous=ticket.anonymous)
        )
        session = IrodsDataSession(ticket, holder, handle, self.find_ticket)
        try:
            session.touch()
        except BaseException as err:
            session.close()
            # iRODS answers -890000 (or "does not exist") both for a deleted ticket and for one that does not
            # cover the target: the catalog tells which.
            invalid = isinstance(err, TicketUnusable) and irods_code(err.__cause__ or err) == CAT_TICKET_INVALID
            if (invalid or isinstance(err, PathNotFound)) and self.find_ticket(ticket.id) is None:
                raise TicketNotFound() from err
            raise
        return session

    def close(self) -> None:
        self._connector.close()

