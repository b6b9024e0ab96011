"""Pure ticket policy: what a create or change request may say, what a ticket's status is, who may use it.

Nothing here performs I/O or reads the clock: the instant to judge by is always a parameter. Backends and the
API call these functions so that the embedded and the iRODS backend apply the very same rules.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .errors import (
    InvalidRequest,
    PermissionDenied,
    TicketExhausted,
    TicketExpired,
    TicketGroupExcluded,
    TicketHostExcluded,
    TicketUserExcluded,
)
from .model import UNSET, Access, Actor, Ticket, TicketChanges, TicketSpec, TicketStatus

__all__ = [
    "AnonymousPolicy",
    "MAX_INT32",
    "MAX_INT64",
    "ANONYMOUS_USER",
    "READ_ACTIONS",
    "WRITE_ACTIONS",
    "ticket_status",
    "build_spec",
    "check_kind_kept",
    "apply_changes",
    "can_manage",
    "admits",
    "needs_groups",
    "check_usable",
    "continues_use",
    "needs_counted_use",
    "action_allowed",
    "host_admitted",
]

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_LABEL = 256
MAX_LIST = 64
ANONYMOUS_USER = "anonymous"

#: Actions a read ticket grants; a write ticket grants these and WRITE_ACTIONS.
READ_ACTIONS = frozenset({"list", "stat", "read"})
WRITE_ACTIONS = frozenset({"write", "delete"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}(#[A-Za-z0-9_.-]{1,63})?$")


@dataclass(frozen=True)
class AnonymousPolicy:
    """Deployment rules for anonymous (public) tickets. Lifetimes are in seconds and must be positive."""

    allow_write: bool = False
    max_lifetime: int = 30 * 24 * 3600
    default_expiry: int = 7 * 24 * 3600


def ticket_status(ticket: Ticket, now: datetime) -> TicketStatus:
    """``expired`` once ``now`` reaches ``expires_at``; else ``exhausted`` once uses reach a non-zero limit."""
    if ticket.expires_at is not None and now >= ticket.expires_at:
        return TicketStatus.EXPIRED
    if ticket.uses_limit and ticket.uses_count >= ticket.uses_limit:
        return TicketStatus.EXHAUSTED
    return TicketStatus.ACTIVE


def _int_limit(name: str, value: object, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidRequest(f"{name} must be an integer from 0 to {maximum} (0: no limit)", details={"field": name})
    return value


def _names(name: str, values: Iterable[str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    result: list[str] = []
    for value in values:
        if not isinstance(value, str) or not _NAME.match(value):
            raise InvalidRequest(f"{name} holds an invalid name", details={"field": name})
        if value not in result:
            result.append(value)
    if len(result) > MAX_LIST:
        raise InvalidRequest(f"{name} may hold at most {MAX_LIST} entries", details={"field": name})
    return tuple(result)


def _hosts(values: Iterable[str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    result: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=True) if isinstance(value, str) else None
        except ValueError:
            network = None
        if network is None:
            raise InvalidRequest(
                "hosts must hold IP addresses or CIDR networks (e.g. 192.0.2.7 or 192.0.2.0/24)",
                details={"field": "hosts"},
            )
        text = str(network.network_address) if network.num_addresses == 1 else str(network)
        if text not in result:
            result.append(text)
    if len(result) > MAX_LIST:
        raise InvalidRequest(f"hosts may hold at most {MAX_LIST} entries", details={"field": "hosts"})
    return tuple(result)


def _label(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_LABEL or any(ord(c) < 0x20 and c not in "\t" for c in value):
        raise InvalidRequest(f"label must be text of at most {MAX_LABEL} characters", details={"field": "label"})
    return value or None


def _expiry(expires_in: int | None, expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_in is not None and expires_at is not None:
        raise InvalidRequest("give expires_in or expires_at, not both", details={"field": "expires_at"})
    if expires_in is not None:
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 0 < expires_in <= MAX_INT32:
            raise InvalidRequest(f"expires_in must be 1 to {MAX_INT32} seconds", details={"field": "expires_in"})
        return (now + timedelta(seconds=expires_in)).replace(microsecond=0)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidRequest("expires_at must carry a time zone (RFC 3339)", details={"field": "expires_at"})
        if expires_at <= now:
            raise InvalidRequest("expires_at must lie in the future", details={"field": "expires_at"})
        # iRODS keeps whole seconds; round up so a ticket never expires before the time asked for.
        whole = expires_at.replace(microsecond=0)
        return whole if whole == expires_at else whole + timedelta(seconds=1)
    return None


def _check_anonymous(access: Access, expires_at: datetime | None, policy: AnonymousPolicy, now: datetime) -> None:
    if access is Access.WRITE and not policy.allow_write:
        raise PermissionDenied(
            "anonymous tickets are read-only in this deployment", details={"field": "access"}
        )
    if expires_at is None:
        raise InvalidRequest("anonymous tickets must expire", details={"field": "expires_at"})
    if expires_at - now > timedelta(seconds=policy.max_lifetime):
        raise InvalidRequest(
            f"anonymous tickets may live at most {policy.max_lifetime} seconds", details={"field": "expires_at"}
        )


def build_spec(
    caller: Actor,
    path: str,
    *,
    now: datetime,
    anonymous_policy: AnonymousPolicy,
    access: Access | str = Access.READ,
    anonymous: bool = False,
    users: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    hosts: Sequence[str] | None = None,
    expires_in: int | None = None,
    expires_at: datetime | None = None,
    uses_limit: int = 0,
    write_file_limit: int = 0,
    write_byte_limit: int = 0,
    label: str | None = None,
) -> TicketSpec:
    """Validate a create request into a :class:`TicketSpec`, or raise :class:`InvalidRequest` /
    :class:`PermissionDenied`. ``path`` must already be validated (``paths.validate_path``).

    A user-scoped ticket with no ``users`` and no ``groups`` is restricted to the caller. An anonymous ticket
    takes no user or group list, gets ``anonymous_policy.default_expiry`` when no expiry is given, and may not
    outlive ``anonymous_policy.max_lifetime``.
    """
    try:
        access = Access(access)
    except ValueError:
        raise InvalidRequest("access must be 'read' or 'write'", details={"field": "access"}) from None
    users_t, groups_t, hosts_t = _names("users", users), _names("groups", groups), _hosts(hosts)
    when = _expiry(expires_in, expires_at, now)
    limits = {
        "uses_limit": _int_limit("uses_limit", uses_limit, MAX_INT32),
        "write_file_limit": _int_limit("write_file_limit", write_file_limit, MAX_INT32),
        "write_byte_limit": _int_limit("write_byte_limit", write_byte_limit, MAX_INT64),
    }
    if access is Access.READ and (limits["write_file_limit"] or limits["write_byte_limit"]):
        raise InvalidRequest("write limits apply to write tickets only", details={"field": "write_file_limit"})
    if anonymous:
        if users_t or groups_t:
            raise InvalidRequest("an anonymous ticket takes no users or groups", details={"field": "users"})
        if when is None:
            when = (now + timedelta(seconds=anonymous_policy.default_expiry)).replace(microsecond=0)
        _check_anonymous(access, when, anonymous_policy, now)
    elif not users_t and not groups_t:
        users_t = (caller.name,)
    if ANONYMOUS_USER in users_t:
        raise InvalidRequest("use anonymous=true for public tickets, not the user 'anonymous'", details={"field": "users"})
    return TicketSpec(
        path=path, access=access, users=users_t, groups=groups_t, hosts=hosts_t, expires_at=when,
        label=_label(label), **limits,
    )


def apply_changes(
    ticket: Ticket,
    *,
    now: datetime,
    anonymous_policy: AnonymousPolicy,
    expires_in: int | None = None,
    expires_at: datetime | None | object = UNSET,
    uses_limit: int | object = UNSET,
    write_file_limit: int | object = UNSET,
    write_byte_limit: int | object = UNSET,
    users: Sequence[str] | object = UNSET,
    groups: Sequence[str] | object = UNSET,
    hosts: Sequence[str] | object = UNSET,
    label: str | None | object = UNSET,
) -> TicketChanges:
    """Validate a PATCH of ``ticket`` into :class:`TicketChanges` (fields not given stay ``UNSET``).

    ``expires_at=None`` clears the expiry (refused for anonymous tickets). A ticket never changes kind: an
    anonymous ticket takes no users or groups, and a user-scoped one keeps at least one user or group.
    """
    changes: dict[str, object] = {}
    if expires_in is not None or (expires_at is not UNSET and expires_at is not None):
        changes["expires_at"] = _expiry(expires_in, None if expires_at is UNSET else expires_at, now)  # type: ignore[arg-type]
    elif expires_at is None:
        changes["expires_at"] = None
    for name, maximum, value in (
        ("uses_limit", MAX_INT32, uses_limit),
        ("write_file_limit", MAX_INT32, write_file_limit),
        ("write_byte_limit", MAX_INT64, write_byte_limit),
    ):
        if value is not UNSET:
            changes[name] = _int_limit(name, value, maximum)
    if ticket.access is Access.READ and (changes.get("write_file_limit") or changes.get("write_byte_limit")):
        raise InvalidRequest("write limits apply to write tickets only", details={"field": "write_file_limit"})
    if users is not UNSET:
        changes["users"] = _names("users", users)  # type: ignore[arg-type]
        if ANONYMOUS_USER in changes["users"]:  # type: ignore[operator]
            raise InvalidRequest("the user 'anonymous' cannot be listed", details={"field": "users"})
    if groups is not UNSET:
        changes["groups"] = _names("groups", groups)  # type: ignore[arg-type]
    if hosts is not UNSET:
        changes["hosts"] = _hosts(hosts)  # type: ignore[arg-type]
    if label is not UNSET:
        changes["label"] = _label(label)
    result = TicketChanges(**changes)  # type: ignore[arg-type]
    check_kind_kept(ticket, result)
    if ticket.anonymous and result.expires_at is not UNSET:
        _check_anonymous(ticket.access, result.expires_at, replace(anonymous_policy, allow_write=True), now)  # type: ignore[arg-type]
    return result


def check_kind_kept(ticket: Ticket, changes: TicketChanges) -> None:
    """Refuse ``changes`` that would turn ``ticket`` into the other kind (anonymous <-> user-scoped).

    Backends call this again on the ticket as it is *inside* the write that applies the changes: two PATCHes
    each valid against the ticket they read (``users: []`` with ``groups: [lab]``, and ``groups: []``) would
    otherwise merge into an anonymous, never-expiring ticket.
    """
    after_users = ticket.users if changes.users is UNSET else changes.users
    after_groups = ticket.groups if changes.groups is UNSET else changes.groups
    if ticket.anonymous:
        if after_users or after_groups:
            raise InvalidRequest("an anonymous ticket takes no users or groups", details={"field": "users"})
    elif not after_users and not after_groups:
        raise InvalidRequest("a user-scoped ticket needs at least one user or group", details={"field": "users"})


def can_manage(actor: Actor, ticket: Ticket) -> bool:
    """Only the owner or an admin may see the ticket string, modify or delete a ticket."""
    return actor.is_admin or actor.name == ticket.owner


def admits(ticket: Ticket, user: str, user_groups: Iterable[str] = ()) -> bool:
    """True when ``user`` (with ``user_groups``) is allowed by the ticket's user and group allow-lists.

    An anonymous ticket admits anyone, the ``anonymous`` user included.
    """
    if ticket.anonymous:
        return True
    return user in ticket.users or bool(set(ticket.groups).intersection(user_groups))


def needs_groups(ticket: Ticket, user: str) -> bool:
    """Whether :func:`admits` depends on ``user``'s groups: only when the user list alone does not admit them
    and the ticket has a group list (a caller may then skip looking the groups up)."""
    return not ticket.anonymous and user not in ticket.users and bool(ticket.groups)


def host_admitted(ticket: Ticket, client_host: str | None) -> bool:
    """True when the ticket has no host allow-list, or ``client_host`` (an IP address) is on it."""
    if not ticket.hosts:
        return True
    if client_host is None:
        return False
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry) for entry in ticket.hosts)


def check_usable(
    ticket: Ticket, holder: str, holder_groups: Iterable[str], client_host: str | None, now: datetime,
    *, continuing: bool = False,
) -> None:
    """Raise the :class:`TicketUnusable` subclass that says why ``holder`` may not use ``ticket`` now.

    The uses limit is only pre-checked here; backends count uses atomically (see
    ``TicketBackend.open_session``). ``continuing``: the request continues a use already counted
    (:func:`continues_use`), so a used-up limit does not refuse it; expiry and allow-lists still do.
    """
    status = ticket_status(ticket, now)
    if status is TicketStatus.EXPIRED:
        raise TicketExpired()
    if status is TicketStatus.EXHAUSTED and not continuing:
        raise TicketExhausted()
    if not ticket.anonymous and not admits(ticket, holder, holder_groups):
        raise TicketGroupExcluded() if ticket.groups and not ticket.users else TicketUserExcluded()
    if not host_admitted(ticket, client_host):
        raise TicketHostExcluded()


def continues_use(last_request: datetime | None, now: datetime, window: float) -> bool:
    """Whether a request at ``now`` continues the current use of a key pair rather than starting a new one.

    A use is what iRODS counts per connection: the requests of one key pair (ticket and holder) that follow
    each other with gaps of at most ``window`` seconds are one use, however many there are. ``last_request``
    is the time of the pair's previous granted request (``None``: none yet). ``window <= 0`` makes every
    request a use of its own. A ``last_request`` later than ``now`` (another instance's clock running ahead)
    counts as within the window.
    """
    if window <= 0 or last_request is None:
        return False
    return now - last_request <= timedelta(seconds=window)


def needs_counted_use(ticket: Ticket, *, continuing: bool) -> bool:
    """Whether a granted request must have its use counted before it is served, atomically with the check.

    Only a request that starts a new use (not ``continuing`` one, see :func:`continues_use`) of a ticket with a
    uses limit: that count is what the limit is judged on. The count of any other request changes no decision
    (there is no limit, or the use is already counted), so a backend may record it later, in batches.
    """
    return ticket.uses_limit > 0 and not continuing


def action_allowed(ticket: Ticket, action: str) -> bool:
    """Whether the ticket's type grants ``action`` (one of READ_ACTIONS or WRITE_ACTIONS)."""
    if action in READ_ACTIONS:
        return True
    return action in WRITE_ACTIONS and ticket.access is Access.WRITE
