"""The iRODS backend: real iRODS tickets, issued and changed as the caller, read from the catalog.

- Create: a session proxied as the caller issues the ticket (iRODS checks the caller owns the path and makes them
  the owner) *already expired*, then the same session applies, in this order, write-file 0 (iRODS's default is
  10), users, groups, hosts; the count limits go into TicketBooth's own counters (``counters``), the label onto
  the target, and only the last step gives the ticket its real expiry (or none). If any step fails the service
  account deletes the ticket with ``ADMIN_KW`` and the caller gets the mapped iRODS reason: no half-configured
  ticket survives, and one the zone's outage leaves behind is expired — usable by nobody — until the process
  deletes it once the zone answers (``repairs``).
- Modify/delete: proxied as the owner; an admin acting on someone else's ticket uses the service account with
  ``ADMIN_KW``. A failed modification undoes the steps already applied; one the zone's outage cuts short keeps
  the ticket's counter lock (uses of the ticket wait) until the ticket has been put back as it was.
- Labels: iRODS tickets have no label field; the label is an AVU on the ticket's target (see ``labels``), set
  and removed in the same proxied session as the ticket change it belongs to.
- Hosts: iRODS keeps the host list, but compares it with the address of the *connecting* client, which for the
  gateway is TicketBooth itself. So TicketBooth checks the S3 client's address in :meth:`open_session`, and adds
  its own addresses (``service_hosts``) to every host-restricted ticket so that iRODS admits it; they are hidden
  when the ticket is read. iRODS resolves each host to one IPv4 address: networks and IPv6 are refused.
- Users and groups on an allow-list must exist in iRODS (it refuses unknown names).
"""
from __future__ import annotations

import dataclasses
import functools
import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ... import paths, policy
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
from .connection import Connector, ProxiedSessions
from .counters import Counters, CounterStore, HeldLock, note_request, open_use
from .data import IrodsDataSession
from .errors import CAT_TICKET_INVALID, irods_code, is_network_failure, translate
from .genquery import compares_bytewise
from .labels import remove_label, set_label
from .listing import BatchEnds
from .recent import RecentRequests
from .repairs import Repairs
from .ticketmemo import TicketMemo
from .warm import LentSession, WarmSessions

__all__ = ["IrodsBackend", "LIMIT_FIELDS", "activation_step", "change_steps", "creation_steps", "limit_changes",
           "restoring_changes"]

log = logging.getLogger(__name__)

Step = tuple[str, ...]
# CAT_NO_ROWS_FOUND, CAT_SUCCESS_BUT_WITH_NO_INFO, CAT_UNKNOWN_COLLECTION, CAT_UNKNOWN_FILE: nothing left to remove.
_ALREADY_GONE = frozenset({-808000, -807000, -814000, -817000})
LIMIT_FIELDS = ("uses_limit", "write_file_limit", "write_byte_limit")


def _epoch(when: datetime | None) -> str:
    # iRODS clears an expiry given as 0.
    return "0" if when is None else str(int(when.timestamp()))


#: The first step after issuing: the ticket is expired (epoch second 1) until :func:`activation_step`.
DORMANT: Step = ("expire", "1")


def creation_steps(spec: TicketSpec, service_hosts: Sequence[str] = ()) -> list[Step]:
    """The ``Ticket.modify`` argument tuples that configure a freshly issued ticket, in order (pure).

    The first makes the ticket expired (:data:`DORMANT`): a create cut short anywhere after it leaves a ticket
    that admits nobody; :func:`activation_step` comes last. The count limits are not among them: TicketBooth
    keeps them itself (see ``counters``), and the iRODS ticket gets ``write-file 0`` (iRODS gives every new
    ticket a limit of 10, which it would enforce by its own count). A host-restricted ticket also lists
    ``service_hosts`` (TicketBooth's own addresses, which iRODS sees).
    """
    steps: list[Step] = [DORMANT, ("write-file", "0")]
    steps += [("add", "user", u) for u in spec.users]
    steps += [("add", "group", g) for g in spec.groups]
    steps += [("add", "host", h) for h in _with_service_hosts(spec.hosts, service_hosts)]
    return steps


def activation_step(spec: TicketSpec) -> Step:
    """The create's last step: the ticket's real expiry, or none (``expire 0`` clears it) (pure)."""
    return ("expire", _epoch(spec.expires_at))


def restoring_changes(original: Ticket) -> TicketChanges:
    """The changes that put a ticket back as ``original`` shows it: its expiry and allow-lists (pure; with
    :func:`change_steps` from the ticket as it is now, after a PATCH cut short)."""
    return TicketChanges(expires_at=original.expires_at, users=original.users, groups=original.groups,
                         hosts=original.hosts)


def _with_service_hosts(hosts: Sequence[str], service_hosts: Sequence[str]) -> list[str]:
    return [*hosts, *(h for h in service_hosts if h not in hosts)] if hosts else []


def change_steps(ticket: Ticket, changes: TicketChanges, service_hosts: Sequence[str] = ()) -> list[tuple[Step, Step]]:
    """(do, undo) ``Ticket.modify`` argument pairs that turn ``ticket`` into ``ticket + changes`` (pure).

    Limit changes are not among them (see :func:`limit_changes`). ``ticket.hosts`` is the list as shown (without
    ``service_hosts``); iRODS holds them too while any host is listed, so they come and go with the first and the
    last host.
    """
    steps: list[tuple[Step, Step]] = []
    removals: list[tuple[Step, Step]] = []
    if changes.expires_at is not UNSET and changes.expires_at != ticket.expires_at:
        steps.append((("expire", _epoch(changes.expires_at)), ("expire", _epoch(ticket.expires_at))))  # type: ignore[arg-type]
    for field_name, kind in (("users", "user"), ("groups", "group"), ("hosts", "host")):
        wanted = getattr(changes, field_name)
        if wanted is UNSET:
            continue
        current = getattr(ticket, field_name)
        if kind == "host":
            wanted, current = _with_service_hosts(wanted, service_hosts), _with_service_hosts(current, service_hosts)
        for name in wanted:
            if name not in current:
                steps.append((("add", kind, name), ("remove", kind, name)))
        for name in current:
            if name not in wanted:
                removals.append((("remove", kind, name), ("add", kind, name)))
    # Every addition before any removal: replacing users by groups never leaves the ticket, even for one
    # step, with empty allow-lists (which iRODS reads as "anyone").
    return steps + removals


def limit_changes(ticket: Ticket, changes: TicketChanges) -> dict[str, int]:
    """The count limits ``changes`` sets to a new value (pure); TicketBooth's counters hold them."""
    found: dict[str, int] = {}
    for name in LIMIT_FIELDS:
        value = getattr(changes, name)
        if value is not UNSET and value != getattr(ticket, name):
            found[name] = int(value)  # type: ignore[arg-type]
    return found


def _check_hosts(hosts: object, service_hosts: Sequence[str]) -> None:
    if hosts is UNSET or not hosts:
        return
    for host in hosts:  # type: ignore[union-attr]
        network = ipaddress.ip_network(host, strict=False)
        if network.version != 4 or network.num_addresses != 1:
            raise InvalidRequest(
                "the iRODS backend accepts single IPv4 host addresses only: iRODS stores each allowed host as one "
                f"IPv4 address, so '{host}' cannot be kept", details={"field": "hosts"},
            )
    if not service_hosts:
        raise InvalidRequest(
            "host allow-lists are not available: TicketBooth's own addresses as iRODS sees them "
            "(irods service_hosts) are not configured, and iRODS would refuse TicketBooth itself",
            details={"field": "hosts"},
        )


def _step_error(err: Exception, step: Step) -> TicketBoothError:
    """The mapped error for a failed ``modify`` step, naming the allow-list entry iRODS refused."""
    mapped = translate(err)
    if isinstance(mapped, InvalidRequest) and step[0] == "add" and step[1] in ("user", "group"):
        mapped = InvalidRequest(
            f"iRODS has no {step[1]} named '{step[2]}'; the iRODS backend can only allow-list existing "
            f"{step[1]}s", details={**mapped.details, "field": f"{step[1]}s", "value": step[2]},
        )
    return mapped


class IrodsBackend(TicketBackend):
    """A :class:`TicketBackend` on a real iRODS zone (see the module docstring)."""

    def __init__(self, connector: Connector, zone: str, *, clock: Callable[[], datetime] | None = None,
                 service_hosts: Sequence[str] = (), state_collection: str = "",
                 repairs: Repairs | None = None, ticket_ttl: float = 5.0) -> None:
        self.zone = zone
        self.service_hosts = tuple(service_hosts)
        self._connector = connector
        # What an operation cut short by an outage still owes the zone (see repairs.py).
        self.repairs = repairs or Repairs()
        # At most half the connection slots wait parked for a use window's next request.
        self._warm = WarmSessions(max_idle=connector.settings.pool_size // 2)
        # Sessions proxied as ticket owners, kept for the next write (a new one connects twice: ~0.2 s).
        self._owners = ProxiedSessions(connector.proxied, max_idle=connector.settings.pool_size // 2)
        self._recent = RecentRequests()
        state = state_collection or f"/{zone}/home/{connector.service_user()}/.ticketbooth"
        self._counters = CounterStore(connector.service, quote_safe(state, "state_collection"),
                                      lock_timeout=connector.settings.connection_timeout,
                                      guard=connector.call_service, repairs=self.repairs)
        self._catalog = Catalog(connector.service, zone, self.service_hosts, counters=self._counters)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._modify_lock = threading.Lock()  # see modify_ticket
        # Full ticket reads reused while the catalog row is unchanged (ticketmemo.py), at most ticket_ttl old;
        # read times on this backend's clock, which iRODS's row stamps are compared with.
        self._memo = TicketMemo(ticket_ttl, wall=lambda: self._clock().timestamp())
        self._bytewise: bool | None = None  # whether the catalog orders names as S3 orders keys (asked once)
        self._batch_ends = BatchEnds()  # where listing batches ended, for later pages (listing.py)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        session_factory: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        service_hosts: Sequence[str] | None = None,
        repairs: Repairs | None = None,
    ) -> IrodsBackend:
        """Build from ``settings.irods``; ``session_factory`` replaces ``irods.session.iRODSSession`` (tests).

        ``service_hosts`` (the IPv4 addresses iRODS sees TicketBooth connect from) defaults to the setting
        ``irods.service_hosts``; without any, host allow-lists are refused. ``repairs`` replaces the queue of
        owed actions (tests pass one that starts no thread). What the catalog's ticket row does not show
        (allow-lists are checked against it) is reused for at most ``s3.key_cache_ttl`` seconds.
        """
        if service_hosts is None:
            service_hosts = settings.irods.service_hosts
        return cls(Connector(settings.irods, session_factory), settings.irods.zone, clock=clock,
                   service_hosts=service_hosts, state_collection=settings.irods.state_collection, repairs=repairs,
                   ticket_ttl=settings.s3.key_cache_ttl)

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _catalog_call(self, func: Callable[[], Any]) -> Any:
        """A read through the service session: mapped, and run once more on a fresh session after a network
        failure (the first request on each pooled connection fails once the server has restarted)."""
        return self._connector.call_service(func, retry=True)

    @staticmethod
    def _ticket_api(session: Any, ticket_string: str = "") -> Any:
        from irods.ticket import Ticket as IrodsTicket

        return IrodsTicket(session, ticket_string) if ticket_string else IrodsTicket(session)

    def _delete_as_admin(self, ticket_string: str) -> None:
        from irods.keywords import ADMIN_KW

        self._ticket_api(self._connector.service(), ticket_string).delete(**{ADMIN_KW: ""})

    # -- catalogue --------------------------------------------------------------------------------------------

    def create_ticket(self, actor: Actor, spec: TicketSpec, *, now: datetime) -> Ticket:
        _check_hosts(spec.hosts, self.service_hosts)
        quote_safe(spec.path)
        issued: str | None = None
        created: Ticket | None = None
        labelled = False
        try:
            with self._connector.as_user(actor.name) as session:
                api = self._ticket_api(session)  # python-irodsclient chooses the ticket string now
                try:
                    api.issue(spec.access.value, spec.path)
                except Exception as err:
                    if is_network_failure(err):
                        issued = api.string  # the server may have made it before the connection broke
                    raise
                issued = api.string
                for step in creation_steps(spec, self.service_hosts):
                    try:
                        api.modify(*step)
                    except Exception as err:  # noqa: BLE001 - mapped, naming the refused entry
                        raise _step_error(err, step) from err
                created = self._catalog_call(lambda: self._catalog.by_string(issued))
                if created is None:
                    raise TicketNotFound("the new ticket is not in the catalog")
                limits = Counters.of(spec)
                self._counters.update(created.id, lambda _: limits, initial=limits)
                if spec.label is not None:
                    labelled = True  # (also when the request fails: the AVU may have been set)
                    set_label(session, created.target_kind, created.path, created.id, spec.label)
                api.modify(*activation_step(spec))  # the ticket comes to life only now
            ticket = self._catalog_call(lambda: self._catalog.by_string(issued))
            if ticket is None:
                raise TicketNotFound("the new ticket is not in the catalog")
            return ticket
        except BaseException as err:
            if issued is not None:
                self._undo_create(issued, spec, created, labelled)
            if isinstance(err, TicketBoothError) or not isinstance(err, Exception):
                raise
            raise translate(err, path=spec.path) from err

    def _undo_create(self, ticket_string: str, spec: TicketSpec, created: Ticket | None, labelled: bool) -> None:
        """Delete a ticket whose create failed, with its counters and label; queued (``repairs``) when the zone
        cannot be reached now. Until then the ticket is expired (:data:`DORMANT`), so it admits nobody."""

        def undo() -> None:
            try:
                self._delete_as_admin(ticket_string)
            except Exception as err:  # noqa: BLE001 - gone already is what we want
                if irods_code(err) != CAT_TICKET_INVALID:
                    raise
            if created is not None:
                self._counters.forget(created.id)
                if labelled and spec.label is not None:
                    self._remove_label_as_admin(created, spec.label)

        try:
            self._connector.call_service(undo)
        except TicketBoothError as err:
            if is_network_failure(err) or isinstance(err, BackendUnavailable):
                self.repairs.add(f"delete the ticket whose create on {spec.path} was cut short",
                                 lambda: self._connector.call_service(undo))
                return
            # Never log the string; the catalog id may be unknown, the owner's listing shows the ticket (expired).
            log.error("could not delete a half-configured iRODS ticket on %s (%s); delete it by hand", spec.path,
                      err.code)

    def _remove_label_as_admin(self, ticket: Ticket, label: str) -> None:
        from irods.keywords import ADMIN_KW

        try:
            remove_label(self._connector.service(), ticket.target_kind, ticket.path, ticket.id, label,
                         **{ADMIN_KW: ""})
        except Exception as err:  # noqa: BLE001 - an AVU already gone is what we want
            if irods_code(err) not in _ALREADY_GONE:
                raise

    def _forget_counters(self, ticket_id: int) -> None:
        try:
            self._counters.forget(ticket_id)
        except TicketBoothError as err:  # a leftover record names an id iRODS never reuses
            if is_network_failure(err):
                self.repairs.add(f"remove the counters of deleted ticket {ticket_id}",
                                 lambda: self._counters.forget(ticket_id))
                return
            log.warning("could not remove the counters of deleted ticket %s (%s)", ticket_id, err.code)

    def _drop_label(self, ticket: Ticket, label: str | None, user: str, *, as_admin: bool) -> None:
        """Best effort: a label AVU left behind is harmless (no ticket row, no label), but untidy."""
        if label is None:
            return
        try:
            if as_admin:
                self._connector.call_service(lambda: self._remove_label_as_admin(ticket, label))
            else:
                with self._connector.as_user(user) as session:
                    try:
                        remove_label(session, ticket.target_kind, ticket.path, ticket.id, label)
                    except Exception as err:  # noqa: BLE001 - mapped
                        raise translate(err) from err
        except TicketBoothError as err:  # the ticket is gone, which is what counts
            if is_network_failure(err):
                self.repairs.add(f"remove the label of deleted ticket {ticket.id}",
                                 lambda: self._connector.call_service(lambda: self._remove_label_as_admin(ticket,
                                                                                                          label)))
                return
            log.warning("could not remove the label AVU of deleted ticket %s (%s)", ticket.id, err.code)

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
        if query.path is not None:
            query = dataclasses.replace(query, path=paths.validate_path(query.path, self.zone))
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
        _check_hosts(changes.hosts, self.service_hosts)
        # iRODS has no transaction around several ticket changes. Modifications of one ticket run one at a
        # time — within this process (the thread lock) and across every instance of the zone (the ticket's
        # catalog lock, the one its counters change under) — each re-reading the ticket and judging the merged
        # result under the lock; change_steps adds before it removes, so no step sequence passes through "no
        # users and no groups".
        self.repairs.run_pending()  # a PATCH of this ticket cut short earlier is put right first
        with self._modify_lock, self._counters.hold(ticket_id) as lock:
            self._memo.forget(ticket_id)
            ticket, as_admin = self._managed(actor, ticket_id)
            policy.check_kind_kept(ticket, changes)
            steps = change_steps(ticket, changes, self.service_hosts)
            limits = limit_changes(ticket, changes)
            relabel = changes.label is not UNSET and changes.label != ticket.label
            if steps or limits or relabel:
                expiry = ticket.expires_at if changes.expires_at is UNSET else changes.expires_at
                self._apply(ticket, steps, limits, changes.label if relabel else UNSET, actor.name, as_admin, now,
                            lock, expiry)  # type: ignore[arg-type]
            self._memo.forget(ticket_id)
        updated = self.find_ticket(ticket_id)
        if updated is None:
            raise TicketNotFound()
        return updated

    def _apply(self, ticket: Ticket, steps: list[tuple[Step, Step]], limits: dict[str, int], label: object,
               user: str, as_admin: bool, now: datetime, lock: HeldLock, expiry: datetime | None) -> None:
        """Run ``steps``, then set ``limits`` and the change time ``now`` in the counters, then the label change
        (``UNSET`` for none); on failure undo the steps already done. When the zone's outage cuts the change
        short (the undo cannot run, or a step's outcome is unknown), ``lock`` is kept and the ticket put back
        as ``ticket`` shows it once the zone answers (:meth:`_restore`), which then releases the lock.

        Limits live in TicketBooth's counters, not in the ticket row; a change of limits alone then sets the
        expiry again to what it is (``expiry``), which moves the row's ``modify_ts`` as any step does, so that
        every instance's memo of the ticket (``ticketmemo``) sees the change on its next request."""
        from irods.keywords import ADMIN_KW

        options = {ADMIN_KW: ""} if as_admin else {}
        done: list[Step] = []
        limits_set: list[bool] = []

        def run(session: Any) -> None:
            api = self._ticket_api(session, ticket.string)
            try:
                for do, undo in steps:
                    try:
                        api.modify(*do, **options)
                    except Exception as err:  # noqa: BLE001 - mapped, naming the refused entry
                        raise _step_error(err, do) from err
                    done.append(undo)
                stamp = int(now.timestamp())
                self._counters.update(ticket.id, lambda c: c.replace(**limits, modified=stamp),
                                      initial=Counters.of(ticket))
                limits_set.append(True)
                if limits and not steps:
                    api.modify("expire", _epoch(expiry), **options)
                if label is not UNSET:
                    self._relabel(session, ticket, label, options)  # type: ignore[arg-type]
            except Exception as err:
                if is_network_failure(err) or not self._undo(api, ticket, done, limits if limits_set else {},
                                                             options):
                    # Half done, and the zone unreachable: keep the lock, put the ticket back later.
                    lock.keep()
                    self.repairs.add(f"put ticket {ticket.id} back as it was before a change cut short",
                                     lambda: self._restore(ticket))
                if isinstance(err, TicketBoothError):
                    raise
                raise translate(err) from err

        if as_admin:
            run(self._connector.service())
        else:
            with self._connector.as_user(user) as session:
                run(session)

    def _undo(self, api: Any, ticket: Ticket, done: list[Step], limits: dict[str, int],
              options: dict[str, str]) -> bool:
        """Undo the steps ``done`` (newest first) and the ``limits`` set; whether everything was undone."""
        if limits:
            old = {name: getattr(ticket, name) for name in limits}
            try:
                self._counters.update(ticket.id, lambda c: c.replace(**old), initial=Counters.of(ticket))
            except TicketBoothError as undo_err:
                log.error("could not undo a limit change on ticket %s (%s)", ticket.id, undo_err.code)
                return False
        for undo in reversed(done):
            try:
                api.modify(*undo, **options)
            except Exception as undo_err:  # noqa: BLE001 - report the first failure
                log.error("could not undo a ticket change on ticket %s (%s)", ticket.id, type(undo_err).__name__)
                return False
        return True

    def _restore(self, original: Ticket) -> None:
        """Put a ticket whose change was cut short back as ``original`` (as admin, from the catalog's current
        state, so that steps whose outcome was unknown are covered too), then release its kept lock."""
        from irods.keywords import ADMIN_KW

        def restore() -> None:
            current = self._catalog.by_id(original.id)
            if current is None or current.string != original.string:
                return  # deleted meanwhile: nothing to put back
            api = self._ticket_api(self._connector.service(), original.string)
            for do, _ in change_steps(current, restoring_changes(original), self.service_hosts):
                api.modify(*do, **{ADMIN_KW: ""})
            kept = {name: getattr(original, name) for name in LIMIT_FIELDS}
            self._counters.update(original.id, lambda c: c.replace(**kept), initial=Counters.of(original))
            # The expiry set again moves the row's modify_ts: every instance's memo sees the limits put back.
            api.modify("expire", _epoch(original.expires_at), **{ADMIN_KW: ""})
            if current.label != original.label:
                self._relabel(self._connector.service(), current, original.label, {ADMIN_KW: ""})

        with self._counters.adopt(original.id):
            self._connector.call_service(restore)
        self._memo.forget(original.id)
        log.warning("ticket %s is back as it was before a change the zone's outage cut short", original.id)

    @staticmethod
    def _relabel(session: Any, ticket: Ticket, label: str | None, options: dict[str, str]) -> None:
        if label is None:
            remove_label(session, ticket.target_kind, ticket.path, ticket.id, ticket.label or "", **options)
        else:
            set_label(session, ticket.target_kind, ticket.path, ticket.id, label, **options)

    def delete_ticket(self, actor: Actor, ticket_id: int) -> None:
        ticket, as_admin = self._managed(actor, ticket_id)
        # A delete whose answer the zone's outage swallowed may have happened: repeating it then answers 404.
        try:
            if as_admin:
                self._connector.call_service(lambda: self._delete_as_admin(ticket.string))
            else:
                with self._connector.as_user(actor.name) as session:
                    self._ticket_api(session, ticket.string).delete()
        except TicketBoothError:
            raise
        except Exception as err:  # noqa: BLE001 - mapped
            raise translate(err) from err
        self._memo.forget(ticket.id)
        # The ticket row is gone, so its label and counters are already invisible; removing them only tidies up.
        self._drop_label(ticket, ticket.label, actor.name, as_admin=as_admin)
        self._forget_counters(ticket.id)

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

    def open_session(self, ticket: Ticket, holder: str, *, client_host: str | None, now: datetime,
                     window: float = 0.0) -> DataSession:
        # TicketBooth counts the uses (counters.py). Within ``window`` the pair's parked session (its connection)
        # is taken back and the request continues that use: nothing new is counted (warm.py, docs/irods.md).
        # Judge the ticket as the catalog holds it now, not as the caller last saw it (a resolver's cache may be
        # seconds old): its row is read on every request, so a revoked or deleted ticket is refused at once;
        # the rest of a full read is reused while that row is unchanged (ticketmemo.py).
        ticket = self._current(ticket)
        groups: frozenset[str] = frozenset()
        if not ticket.anonymous and holder not in ticket.users:
            groups = self._holder_groups(holder)
        key = (ticket.id, ticket.string, holder)
        warm = self._warm.take(key, now, window) if window > 0 else None
        # Within the window, a pair this process granted a request continues that use from memory (recent.py);
        # any other request is judged, under the ticket's lock, on the pair's time in the record (open_use).
        remembered = window > 0 and (warm is not None or self._recent.continues(key, now, window))
        # iRODS judges the rest authoritatively; the host list only TicketBooth can check (iRODS sees the gateway).
        # With a window a used-up limit is judged by open_use, which knows whether the request continues a use.
        try:
            policy.check_usable(ticket, holder, groups, client_host, now, continuing=window > 0)
        except BaseException:
            if warm is not None:
                warm.close()
            raise
        session = self._data_session(ticket, holder, key, now, window, warm)
        try:
            if not remembered:
                # The use itself: counted by TicketBooth, atomically across instances (see counters.py).
                session.counted(self._counters.update(ticket.id, lambda c: open_use(c, holder, now, window),
                                                      initial=Counters.of(ticket)))
                self._memo.update(session.ticket)
                if window > 0:
                    self._recent.record(key, now, window, written=True)
            else:
                self._recent.record(key, now, window, written=self._note(ticket, key, now, window))
        except BaseException as err:
            session.discard()  # never park a session that just failed
            # iRODS answers -890000 (or "does not exist") both for a deleted ticket and for one that does not
            # cover the target: the catalog tells which.
            invalid = isinstance(err, TicketUnusable) and irods_code(err.__cause__ or err) == CAT_TICKET_INVALID
            if (invalid or isinstance(err, PathNotFound)) and self._gone(ticket):
                raise TicketNotFound() from err
            raise
        return session

    def _data_session(self, ticket: Ticket, holder: str, key: tuple[int, str, str], now: datetime, window: float,
                      warm: Any) -> IrodsDataSession:
        """The data session of one request, on the pair's parked ticket session (``warm``) or a fresh one.

        No stat of the target precedes the request's own queries (it would cost a round trip per request). A
        parked session whose connection died while it waited — the server restarted — fails its first query
        with a network failure: the data session then runs that query once more on a fresh ticket session
        (``renew_parked``), so the first request after the zone's return is served rather than failed.
        """

        def fresh() -> Any:
            handle = self._catalog_call(
                lambda: self._connector.for_ticket(ticket.string, holder, anonymous=ticket.anonymous))
            return LentSession(handle, self._warm, key, now) if window > 0 else handle

        handle = fresh() if warm is None else LentSession(warm, self._warm, key, now)
        return IrodsDataSession(ticket, holder, handle, self._counters,
                                owner_session=lambda: self._owners.take(ticket.owner),
                                owner_back=lambda owner, healthy: self._owners.give(ticket.owner, owner,
                                                                                     healthy=healthy),
                                service=self._connector.service, repairs=self.repairs,
                                on_network_failure=functools.partial(self._connector.renew_service,
                                                                     self._connector.generation),
                                ticket_gone=lambda: self._gone(ticket), ordered_names=self._ordered_names,
                                renew_parked=None if warm is None else fresh,
                                verify_checksum=self._connector.settings.verify_checksum,
                                batch_ends=self._batch_ends)

    def _current(self, ticket: Ticket) -> Ticket:
        """``ticket`` as the catalog holds it now (``TicketNotFound`` when it is gone): its row read now, the
        rest from the memo while the row is unchanged, else read in full (and remembered)."""
        read_at = self._memo.now()
        row = self._catalog_call(lambda: self._catalog.current(ticket))
        if row is None or row.string != ticket.string:
            raise TicketNotFound()
        current = self._memo.get(ticket.id, row.signature, row.modified)
        if current is None:
            current = self._catalog_call(lambda: self._catalog.hydrate(row))
            if current is None:
                raise TicketNotFound()
            self._memo.put(current, row.signature, read_at)
        return current

    def _gone(self, ticket: Ticket) -> bool:
        """Whether ``ticket`` is no longer in the catalog (one query)."""
        row = self._catalog_call(lambda: self._catalog.current(ticket))
        return row is None or row.string != ticket.string

    def _holder_groups(self, holder: str) -> frozenset[str]:
        """``holder``'s groups for an allow-list check on the data path, at most the memo's ttl old."""
        groups = self._memo.groups(holder)
        if groups is None:
            groups = self.user_groups(holder)
            self._memo.put_groups(holder, groups)
        return groups

    def _ordered_names(self) -> bool:
        """Whether the catalog orders names by UTF-8 bytes (asked once; see ``listing``)."""
        if self._bytewise is None:
            self._bytewise = bool(self._catalog_call(lambda: compares_bytewise(self._connector.service(),
                                                                              self.zone)))
        return self._bytewise

    def _note(self, ticket: Ticket, key: tuple[int, str, str], now: datetime, window: float) -> bool:
        """Write a continuing request's time into the record when it is half a window behind (see recent.py);
        whether it was written. A failure only makes another worker count one use more: logged, not raised."""
        if not self._recent.stale(key, now, window):
            return False
        try:
            self._counters.update(ticket.id, lambda c: note_request(c, key[2], now, window),
                                  initial=Counters.of(ticket))
        except TicketBoothError as err:
            log.warning("could not note a use window's request of ticket %s (%s)", ticket.id, err.code)
            return False
        return True

    def close(self) -> None:
        self.repairs.close()
        self._warm.close()
        self._owners.close()
        self._connector.close()

