"""The one seam every storage backend implements: the ticket catalogue and the data path behind a ticket.

A backend holds tickets with iRODS semantics (the embedded backend emulates them; the iRODS backend delegates
to a real zone) and lets the gateway read and write data *through* a ticket. Every method documents what it
raises; all errors are :mod:`ticketbooth.errors` classes, never a driver's own exception.

The shared conformance suite in ``tests/backends/conformance.py`` is the executable form of these contracts.
"""
from __future__ import annotations

import abc
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from ..errors import BackendUnavailable, TicketBoothError
from ..model import Actor, Ticket, TicketChanges, TicketPage, TicketQuery, TicketSpec

__all__ = ["ObjectMetadata", "ObjectLayout", "ObjectInfo", "TicketBackend", "DataSession", "provisional_etag"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectMetadata:
    """What S3 keeps with an object besides its bytes: the system headers it returns, and user metadata.

    Each system field is the header value as text (``None``: not stored). ``user`` maps the lower-case name
    after ``x-amz-meta-`` to its value (text). Backends store and return it as given; limits and header
    spelling are the gateway's business.
    """

    content_type: str | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    expires: str | None = None
    user: Mapping[str, str] = field(default_factory=dict)

    #: The system fields, in the order the headers are named.
    SYSTEM = ("content_type", "cache_control", "content_disposition", "content_encoding", "content_language",
              "expires")

    def system(self) -> dict[str, str]:
        """The system fields that are set, by field name."""
        return {name: value for name in self.SYSTEM if (value := getattr(self, name)) is not None}

    def __bool__(self) -> bool:
        return bool(self.user) or bool(self.system())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the set system fields and ``user``."""
        return {**self.system(), "user": dict(self.user)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectMetadata:
        """The inverse of :meth:`to_dict` (unknown keys ignored)."""
        return cls(**{name: data.get(name) for name in cls.SYSTEM}, user=dict(data.get("user") or {}))


@dataclass(frozen=True)
class ObjectLayout:
    """How the gateway wrote a data object, kept with it so S3 answers stay stable: the ETag it answered, the
    sizes of the parts of a multipart upload, and the checksum the client chose.

    It describes the content of ``size`` bytes whose hex MD5 is ``md5``; a backend returns it from
    :meth:`DataSession.stat` only while the object still holds that content. ``etag``: ``md5`` for a
    single upload, ``"<md5 of the part MD5s>-<parts>"`` for a multipart one. ``checksum``: base64, a composite
    one (``checksum_type`` ``COMPOSITE``) ending in ``-<parts>``; ``part_checksums``: base64, one per part.
    """

    md5: str
    size: int
    etag: str
    parts: tuple[int, ...] = ()
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    part_checksums: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (tuples as lists)."""
        return {"md5": self.md5, "size": self.size, "etag": self.etag, "parts": list(self.parts),
                "checksum_algorithm": self.checksum_algorithm, "checksum": self.checksum,
                "checksum_type": self.checksum_type, "part_checksums": list(self.part_checksums)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ObjectLayout:
        """The inverse of :meth:`to_dict`; ``ValueError``/``TypeError``/``KeyError`` for anything else."""
        parts = tuple(int(p) for p in data.get("parts") or ())  # type: ignore[union-attr]
        checksums = tuple(str(c) for c in data.get("part_checksums") or ())  # type: ignore[union-attr]
        optional = {name: None if data.get(name) is None else str(data[name])
                    for name in ("checksum_algorithm", "checksum", "checksum_type")}
        return cls(str(data["md5"]), int(data["size"]), str(data["etag"]), parts,  # type: ignore[call-overload]
                   part_checksums=checksums, **optional)


def provisional_etag(size: int, modified_ns: int) -> str:
    """The ETag of a data object whose MD5 TicketBooth does not know (a file placed by hand in the embedded
    backend's zone, an iRODS object without an MD5 checksum): ``<modify time hex>-<size hex>``, nginx's shape,
    the time in nanoseconds since the epoch (a backend that keeps whole seconds passes those times 10**9).

    It is made from what a stat or listing already returns (no read of the bytes, no extra query, no write on
    a read path) and changes whenever the object's modify time or size does, and only then: clients that compare
    ETags between requests (s3fs, DuckDB, s3transfer) see it stay put while they read. Its ``-`` tells clients
    (rclone, aws s3 sync) it is no MD5 to check. Once the backend knows the MD5, that is the ETag.
    """
    return f"{modified_ns:x}-{size:x}"


@dataclass(frozen=True)
class ObjectInfo:
    """A data object or collection seen through a ticket. ``etag`` of a data object is the hex MD5 of its
    content, the kept layout's ETag, or, while the backend knows no MD5, :func:`provisional_etag`.

    ``metadata`` is the object's stored :class:`ObjectMetadata` as :meth:`DataSession.stat` returns it;
    ``None`` where it was not read (listings, collections).
    """

    path: str
    is_collection: bool
    size: int = 0
    modified_at: datetime | None = None
    etag: str | None = None
    metadata: ObjectMetadata | None = None
    layout: ObjectLayout | None = None  # from stat only, while it describes the object's content


class DataSession(abc.ABC):
    """Data access through one ticket by one holder, for one gateway request. Use it as a context manager.

    Every path is an absolute logical path inside the ticket's target (the caller checks containment with
    ``ticketbooth.paths``; a session re-checks and raises ``PermissionDenied`` on escape, including through
    symlinks on disk). Actions the ticket's type does not grant raise ``PermissionDenied``.
    """

    ticket: Ticket

    @abc.abstractmethod
    def stat(self, path: str) -> ObjectInfo:
        """Describe ``path``, a data object's metadata included; ``PathNotFound`` when nothing is there."""

    @abc.abstractmethod
    def list(self, collection: str, *, recursive: bool, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Yield what lies below ``collection``, ordered by path as compared by UTF-8 bytes.

        With ``recursive`` the data objects from every depth and the *empty* collections below ``collection``
        (S3 shows these as "folder" keys ending in ``/``) are yielded; without, the direct children
        (collections included). ``start_after`` (a path) skips everything up to and including it.
        ``PathNotFound`` when ``collection`` is not a collection.
        """

    @abc.abstractmethod
    def open_read(self, path: str) -> BinaryIO:
        """A seekable binary stream of the data object at ``path``; ``PathNotFound`` if it is not one."""

    @abc.abstractmethod
    def write(self, path: str, stream: BinaryIO, *, size: int | None = None,
              metadata: ObjectMetadata | None = None) -> ObjectInfo:
        """Store ``stream`` (read to EOF in bounded chunks) as the data object ``path``, replacing any, with
        ``metadata`` (``None``: none) replacing any metadata it had.

        Counts one write file and the bytes written against the ticket's write limits. The limits are
        enforced before the data becomes visible: when one would be exceeded, ``TicketWriteFilesExceeded`` or
        ``TicketWriteBytesExceeded`` is raised and nothing is left behind. An exception from ``stream`` (e.g. a
        signature or checksum mismatch found at EOF) also leaves nothing behind and propagates unchanged.
        Missing parent collections below the ticket's target are created and remembered as *implicit* (see
        :meth:`delete`).
        """

    @abc.abstractmethod
    def copy(self, source: str, path: str, *, metadata: ObjectMetadata | None = None) -> ObjectInfo:
        """Copy the data object ``source`` to ``path`` inside the backend (no bytes through the caller),
        replacing any object there; ``metadata`` replaces the source's (``None``: copy the source's).

        Needs ``read`` on ``source`` and ``write`` on ``path``; counts like :meth:`write` (one write file, the
        source's size in bytes) and refuses like it before anything is visible; a copy onto itself
        (``source == path``) only replaces the metadata and counts nothing. ``PathNotFound`` when ``source``
        is not a data object; ``Conflict`` as for :meth:`write`.
        """

    @abc.abstractmethod
    def set_layout(self, path: str, layout: ObjectLayout) -> bool:
        """Keep ``layout`` with the data object ``path`` just written through this session (needs ``write``).

        Kept only if ``path`` still holds the content ``layout`` describes (size and MD5, as far as the backend
        can tell); ``True`` when kept. From then on :meth:`stat` returns it and reports ``layout.etag`` as the
        ETag (listings too, where the backend can), until the content changes.
        """

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Remove the data object at ``path``; ``PathNotFound`` when there is none.

        Then every parent collection that a write created implicitly and that is now empty is removed too,
        nearest first, never the ticket's target and never a collection created explicitly
        (:meth:`make_collection`) or outside S3 (S3 clients expect no "phantom" prefix to remain).
        """

    @abc.abstractmethod
    def make_collection(self, path: str) -> ObjectInfo:
        """Create the (empty) collection ``path`` explicitly, with missing parents (those implicitly); an
        existing collection there becomes explicit. Needs ``write``; counts no write file.
        ``Conflict`` when a data object is at ``path`` or where a parent should be.
        """

    @abc.abstractmethod
    def remove_collection(self, path: str) -> None:
        """Remove the empty collection ``path`` (then empty implicit parents, as :meth:`delete`).

        Needs ``delete``. ``PathNotFound`` when no collection is there; ``Conflict`` when it holds anything;
        ``PermissionDenied`` for the ticket's target itself.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the session holds."""

    def __enter__(self) -> DataSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TicketBackend(abc.ABC):
    """A ticket catalogue with iRODS semantics, plus data access through tickets.

    ``actor`` is who asks. Owners and admins manage tickets; a user admitted by a ticket's allow-lists may read
    it (without its ticket string: the API hides that). ``now`` parameters exist so tests inject time.
    """

    zone: str

    # -- catalogue -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_ticket(self, actor: Actor, spec: TicketSpec, *, now: datetime) -> Ticket:
        """Create a ticket on ``spec.path`` owned by ``actor``; all of it or nothing.

        ``PathNotFound`` when no collection or data object is there; ``PermissionDenied`` when ``actor`` does not
        own it; ``InvalidRequest`` when an allow-listed user or group does not exist.
        """

    @abc.abstractmethod
    def get_ticket(self, actor: Actor, ticket_id: int) -> Ticket:
        """The ticket, if ``actor`` owns it, is an admin, or is admitted by it; else ``TicketNotFound``."""

    @abc.abstractmethod
    def find_ticket(self, ticket_id: int) -> Ticket | None:
        """Service-level lookup for key resolution: the ticket or ``None``, with no permission check."""

    @abc.abstractmethod
    def find_ticket_by_string(self, ticket_string: str) -> Ticket | None:
        """Service-level lookup by ticket string (anonymous links carry it), compared exactly; or ``None``."""

    @abc.abstractmethod
    def list_tickets(self, actor: Actor, query: TicketQuery) -> TicketPage:
        """A page of tickets in ascending id order (see :class:`TicketQuery`).

        ``PermissionDenied`` when a non-admin asks for another owner or all owners; ``InvalidRequest`` for a
        cursor this backend did not make.
        """

    @abc.abstractmethod
    def modify_ticket(self, actor: Actor, ticket_id: int, changes: TicketChanges, *, now: datetime) -> Ticket:
        """Apply ``changes`` (all or nothing) as owner or admin; ``TicketNotFound`` for anyone else."""

    @abc.abstractmethod
    def delete_ticket(self, actor: Actor, ticket_id: int) -> None:
        """Delete as owner or admin; ``TicketNotFound`` for anyone else. Its keys stop working at once."""

    @abc.abstractmethod
    def user_groups(self, user: str) -> frozenset[str]:
        """The groups ``user`` belongs to (empty for an unknown user)."""

    @abc.abstractmethod
    def check_ready(self) -> None:
        """Return when the backend can serve; raise ``BackendUnavailable`` otherwise."""

    def readiness_error(self) -> BackendUnavailable | None:
        """What a readiness probe answers (the API's ``/readyz``, the gateway's ``/_readyz``): ``None`` when
        :meth:`check_ready` returns, else one ``BackendUnavailable`` (with its ``retry_after``). Any other
        failure is taken as not ready too, since a probe must answer whatever the backend raises."""
        try:
            self.check_ready()
        except BackendUnavailable as err:
            return err
        except TicketBoothError as err:
            return BackendUnavailable(err.message)
        except Exception as err:  # noqa: BLE001 - see the docstring
            log.error("readiness check failed: %s", type(err).__name__, exc_info=err)
            return BackendUnavailable("the backend is not ready")
        return None

    # -- data path -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def open_session(self, ticket: Ticket, holder: str, *, client_host: str | None, now: datetime,
                     window: float = 0.0) -> DataSession:
        """Start one use of ``ticket`` by ``holder`` from ``client_host`` and return its data session.

        This is where a use is counted, atomically (a uses limit of N admits N uses, never N+1, under any
        concurrency, across processes and instances sharing the catalogue). ``window`` (seconds, 0: off): a
        session that follows the holder's previous one within the window continues that use
        (``policy.continues_use``) and counts none, also when the limit is reached; otherwise exactly one use
        is counted. Raises the ``TicketUnusable`` subclass that applies (expired, uses exceeded,
        user/group/host excluded) or ``TicketNotFound`` when the ticket is gone.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""
