"""Values that cross module boundaries: who acts, what a ticket is, what may change, how lists are asked for.

All are frozen dataclasses with no behaviour beyond derived properties; rules live in ``ticketbooth.policy``.
Times are timezone-aware UTC datetimes. A limit of ``0`` means "no limit", as in iRODS.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "Access",
    "TargetKind",
    "TicketStatus",
    "Actor",
    "TicketSpec",
    "Ticket",
    "TicketChanges",
    "TicketQuery",
    "TicketPage",
    "UNSET",
]


class Access(enum.StrEnum):
    READ = "read"
    WRITE = "write"


class TargetKind(enum.StrEnum):
    COLLECTION = "collection"
    DATA_OBJECT = "data_object"


class TicketStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"


class _Unset:
    """Marker for "leave this field as it is" in :class:`TicketChanges` (``None`` means "clear it")."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = _Unset()


@dataclass(frozen=True)
class Actor:
    """An authenticated caller of the API: an iRODS user name, and whether they hold admin rights."""

    name: str
    is_admin: bool = False


@dataclass(frozen=True)
class TicketSpec:
    """A validated request to create a ticket (see ``policy.build_spec``).

    ``users`` and ``groups`` empty together means an anonymous (public) ticket.
    """

    path: str
    access: Access = Access.READ
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    expires_at: datetime | None = None
    uses_limit: int = 0
    write_file_limit: int = 0
    write_byte_limit: int = 0
    label: str | None = None

    @property
    def anonymous(self) -> bool:
        return not self.users and not self.groups


@dataclass(frozen=True)
class Ticket:
    """A ticket as the backend holds it. ``string`` is the iRODS ticket string: show it to owner/admin only."""

    id: int
    string: str
    path: str
    target_kind: TargetKind
    access: Access
    owner: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    uses_limit: int = 0
    uses_count: int = 0
    write_file_limit: int = 0
    write_file_count: int = 0
    write_byte_limit: int = 0
    write_byte_count: int = 0
    expires_at: datetime | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    label: str | None = None

    @property
    def anonymous(self) -> bool:
        return not self.users and not self.groups


@dataclass(frozen=True)
class TicketChanges:
    """A validated PATCH: every field left ``UNSET`` stays as it is; ``None`` clears expiry or label."""

    expires_at: datetime | None | _Unset = UNSET
    uses_limit: int | _Unset = UNSET
    write_file_limit: int | _Unset = UNSET
    write_byte_limit: int | _Unset = UNSET
    users: tuple[str, ...] | _Unset = UNSET
    groups: tuple[str, ...] | _Unset = UNSET
    hosts: tuple[str, ...] | _Unset = UNSET
    label: str | None | _Unset = UNSET

    def is_empty(self) -> bool:
        return all(getattr(self, name) is UNSET for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class TicketQuery:
    """What ``list_tickets`` should return.

    ``owner``: only tickets of that owner (admins only for someone else); ``None`` with ``shared_with`` unset
    means the caller's own tickets, or every ticket when ``all_owners`` (admins only).
    ``shared_with``: tickets whose user/group allow-list admits that user (instead of owned ones).
    ``path``: prefix on path-segment boundaries (``/z/a`` matches ``/z/a`` and ``/z/a/b``, never ``/z/ab``).
    ``cursor``: opaque, from a previous page's ``next_cursor``.
    ``now``: the instant against which ``status`` is judged.
    """

    owner: str | None = None
    all_owners: bool = False
    shared_with: str | None = None
    path: str | None = None
    anonymous: bool | None = None
    status: TicketStatus | None = None
    limit: int = 100
    cursor: str | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class TicketPage:
    items: tuple[Ticket, ...] = field(default_factory=tuple)
    next_cursor: str | None = None
