"""The SQL audit store (SQLAlchemy Core): PostgreSQL for several instances, SQLite for one.

Two tables: ``audit_events`` (one row per event, ``id`` ascending in storage order, times as integer
microseconds since the Unix epoch so they compare the same in every database) and ``ticket_usage`` (one row
per used ticket: first/last use, granted and denied counts, and when expiry and exhaustion were first noticed).
Counting a use is one upsert (``INSERT ... ON CONFLICT DO UPDATE``), so concurrent instances never lose a count;
"first notice" is an ``UPDATE ... WHERE noticed IS NULL``, which exactly one instance wins.

:func:`open_audit_store` picks the database from the settings: ``audit.database_url``; else, with the embedded
backend, its catalogue (``<data_dir>/catalog.sqlite3``: the backend keeps the events with its tickets); else
``sqlite:///<data_dir>/audit.sqlite3``. The tables are created when missing.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from .audit import AuditEvent, AuditStore, EventQuery, TicketUsage, UsageDelta
from .errors import BackendError, BackendUnavailable, ConfigError

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["SqlAuditStore", "open_audit_store", "audit_database_url"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

metadata = sa.MetaData()
events_table = sa.Table(
    "audit_events", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("ticket_id", sa.BigInteger),
    sa.Column("owner", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("client_addr", sa.Text),
    sa.Column("request_id", sa.Text),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("audit_events_ticket", "ticket_id", "id"),
    sa.Index("audit_events_owner", "owner", "id"),
    sa.Index("audit_events_time", "time"),
)
usage_table = sa.Table(
    "ticket_usage", metadata,
    sa.Column("ticket_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("first_used_at", sa.BigInteger),
    sa.Column("last_used_at", sa.BigInteger),
    sa.Column("granted", sa.BigInteger, nullable=False, default=0),
    sa.Column("denied", sa.BigInteger, nullable=False, default=0),
    sa.Column("expired_noticed_at", sa.BigInteger),
    sa.Column("exhausted_noticed_at", sa.BigInteger),
)
_NOTICE_COLUMNS = {"expired": "expired_noticed_at", "exhausted": "exhausted_noticed_at"}


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _time(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ConfigError("setting 'audit.database_url' must name a PostgreSQL or SQLite database")
    return insert


class SqlAuditStore(AuditStore):
    """The audit store in the database at ``url`` (a SQLAlchemy URL). Raises ``ConfigError`` for a bad URL."""

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError):
            raise ConfigError("setting 'audit.database_url' is not a database URL") from None
        options: dict[str, Any] = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite":
            # Writers wait for each other (other processes share the file) instead of failing at once.
            options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self._insert = _insert(parsed.get_backend_name())
        try:
            self.engine = sa.create_engine(parsed, **options)
        except (ImportError, sa.exc.ArgumentError) as err:
            raise ConfigError(f"the audit database driver is missing or wrong: {type(err).__name__} "
                              "(PostgreSQL: pip install 'psycopg[binary]', URL postgresql+psycopg://...)") from None
        if parsed.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        self._create_tables()

    def _create_tables(self) -> None:
        # Workers and instances start together: another may create a table between our check and our CREATE.
        for attempt in range(3):
            try:
                with self._begin() as conn:
                    metadata.create_all(conn, checkfirst=True)
                return
            except BackendError:
                if attempt == 2:
                    raise

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as err:
            raise BackendUnavailable("the audit database is unavailable") from err
        except SQLAlchemyError as err:
            raise BackendError("the audit database failed") from err

    def append(self, event: AuditEvent) -> AuditEvent:
        row = {"time": _micros(event.time), "action": event.action, "ticket_id": event.ticket_id,
               "owner": event.owner, "actor": event.actor, "client_addr": event.client_addr,
               "request_id": event.request_id, "detail": json.dumps(dict(event.detail), sort_keys=True, default=str)}
        with self._begin() as conn:
            new_id = conn.execute(events_table.insert().values(**row).returning(events_table.c.id)).scalar_one()
        return AuditEvent(event.time, event.action, event.ticket_id, event.actor, event.client_addr,
                          event.request_id, event.detail, event.owner, int(new_id))

    def events(self, query: EventQuery) -> list[AuditEvent]:
        t = events_table
        statement = sa.select(t).where(t.c.id > query.after_id)
        if query.owner is not None:
            statement = statement.where(t.c.owner == query.owner)
        if query.ticket_id is not None:
            statement = statement.where(t.c.ticket_id == query.ticket_id)
        if query.action is not None:
            statement = statement.where(t.c.action == query.action)
        if query.since is not None:
            statement = statement.where(t.c.time >= _micros(query.since))
        statement = statement.order_by(t.c.id).limit(query.limit)
        with self._begin() as conn:
            rows = conn.execute(statement).all()
        return [AuditEvent(time=_time(r.time) or _EPOCH, action=r.action, ticket_id=r.ticket_id, actor=r.actor,
                           client_addr=r.client_addr, request_id=r.request_id, detail=json.loads(r.detail),
                           owner=r.owner, id=int(r.id)) for r in rows]

    def add_usage(self, deltas: Mapping[int, UsageDelta]) -> None:
        t = usage_table
        with self._begin() as conn:
            for ticket_id, delta in sorted(deltas.items()):  # one lock order for every writer
                values: dict[str, Any] = {"ticket_id": ticket_id, "granted": delta.granted, "denied": delta.denied}
                update: dict[str, Any] = {"granted": t.c.granted + delta.granted, "denied": t.c.denied + delta.denied}
                if delta.first_used_at is not None and delta.last_used_at is not None:
                    first, last = _micros(delta.first_used_at), _micros(delta.last_used_at)
                    values.update(first_used_at=first, last_used_at=last)
                    # Instances' batches interleave: keep the earliest and the latest time seen.
                    update["first_used_at"] = sa.case(
                        (sa.or_(t.c.first_used_at.is_(None), t.c.first_used_at > first), first),
                        else_=t.c.first_used_at)
                    update["last_used_at"] = sa.case(
                        (sa.or_(t.c.last_used_at.is_(None), t.c.last_used_at < last), last), else_=t.c.last_used_at)
                conn.execute(self._insert(t).values(**values).on_conflict_do_update(
                    index_elements=[t.c.ticket_id], set_=update))

    def usage(self, ticket_ids: Sequence[int]) -> dict[int, TicketUsage]:
        t = usage_table
        with self._begin() as conn:
            rows = conn.execute(sa.select(t).where(t.c.ticket_id.in_(list(ticket_ids)))).all()
        return {int(r.ticket_id): TicketUsage(
            _time(r.first_used_at), _time(r.last_used_at), int(r.granted), int(r.denied),
            frozenset(status for status, column in _NOTICE_COLUMNS.items() if getattr(r, column) is not None))
            for r in rows}

    def first_notice(self, ticket_id: int, status: str, now: datetime) -> bool:
        column = usage_table.c[_NOTICE_COLUMNS[status]]
        t = usage_table
        with self._begin() as conn:
            conn.execute(self._insert(t).values(ticket_id=ticket_id, granted=0, denied=0)
                         .on_conflict_do_nothing(index_elements=[t.c.ticket_id]))
            result = conn.execute(sa.update(t).where(t.c.ticket_id == ticket_id, column.is_(None))
                                  .values({column: _micros(now)}))
        return result.rowcount == 1

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Take the write lock first, as the embedded catalogue does: a deferred transaction that reads and then writes
    # fails at once with "database is locked" when another writer got there in between (busy_timeout cannot help).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def audit_database_url(settings: Settings) -> str:
    """The audit store's database URL for ``settings`` (see the module docstring)."""
    if settings.audit.database_url:
        return settings.audit.database_url
    name = "catalog.sqlite3" if settings.backend == "embedded" else "audit.sqlite3"
    return "sqlite:///" + os.path.join(os.path.abspath(settings.data_dir), name)


def open_audit_store(settings: Settings) -> SqlAuditStore:
    """The audit store ``settings`` configure; raises ``ConfigError`` or ``BackendError``."""
    url = audit_database_url(settings)
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url[len("sqlite:///"):]) or ".", mode=0o700, exist_ok=True)
    return SqlAuditStore(url)
