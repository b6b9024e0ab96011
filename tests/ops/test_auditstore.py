"""The SQL audit store, one contract run on SQLite and on a real PostgreSQL (started by the tests)."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from ticketbooth.audit import AuditEvent, EventQuery, UsageDelta
from ticketbooth.auditstore import SqlAuditStore
from ticketbooth.errors import ConfigError

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def event(action: str = "created", ticket_id: int | None = 1, owner: str | None = "alice", minutes: int = 0,
          **detail: object) -> AuditEvent:
    return AuditEvent(time=T0 + timedelta(minutes=minutes), action=action, ticket_id=ticket_id, actor="alice",
                      client_addr="192.0.2.1", request_id="ABCDEF0123456789", detail=detail, owner=owner)


def count_use(store, ticket_id: int, now: datetime, *, granted: bool) -> None:
    delta = UsageDelta()
    delta.add(now, granted=granted)
    store.add_usage({ticket_id: delta})


class StoreContract:
    """Mixed into a class that provides the ``store`` fixture."""

    def test_append_assigns_ascending_ids_and_round_trips(self, store):
        first = store.append(event(path="/tempZone/home/alice/ü ds"))
        second = store.append(event("denied", None, None, 1, s3_code="AccessDenied"))
        assert first.id is not None and second.id is not None and second.id > first.id
        got = store.events(EventQuery())
        assert [e.id for e in got] == [first.id, second.id]
        assert got[0] == first and got[0].detail == {"path": "/tempZone/home/alice/ü ds"}
        assert got[0].time == T0 and got[0].time.tzinfo is not None
        assert got[1].ticket_id is None and got[1].owner is None

    def test_filters_and_pages(self, store):
        ids = [store.append(event(action, ticket, owner, minute)).id
               for minute, (action, ticket, owner) in enumerate([
                   ("created", 1, "alice"), ("created", 2, "bob"), ("modified", 1, "alice"),
                   ("denied", 2, "bob"), ("revoked", 1, "alice"), ("denied", None, None)])]
        assert [e.id for e in store.events(EventQuery(owner="alice"))] == [ids[0], ids[2], ids[4]]
        assert [e.id for e in store.events(EventQuery(ticket_id=2))] == [ids[1], ids[3]]
        assert [e.id for e in store.events(EventQuery(action="denied"))] == [ids[3], ids[5]]
        assert [e.id for e in store.events(EventQuery(since=T0 + timedelta(minutes=4)))] == [ids[4], ids[5]]
        assert [e.id for e in store.events(EventQuery(after_id=ids[1], limit=2))] == [ids[2], ids[3]]
        assert store.events(EventQuery(owner="carol")) == []

    def test_usage_counts_and_times(self, store):
        assert store.usage([7]) == {}
        count_use(store, 7, T0 + timedelta(minutes=5), granted=True)
        count_use(store, 7, T0, granted=True)  # an earlier time arriving late changes only first_used_at
        count_use(store, 7, T0 + timedelta(minutes=9), granted=False)
        count_use(store, 8, T0, granted=False)
        store.add_usage({9: UsageDelta(granted=0, denied=0)})  # nothing counted: a row, no times
        usage = store.usage([7, 8, 9])
        assert set(usage) == {7, 8, 9} and usage[9].granted == 0 and usage[9].first_used_at is None
        assert (usage[7].first_used_at, usage[7].last_used_at) == (T0, T0 + timedelta(minutes=5))
        assert (usage[7].granted, usage[7].denied) == (2, 1)
        assert (usage[8].first_used_at, usage[8].granted, usage[8].denied) == (None, 0, 1)

    def test_concurrent_counts_are_all_kept(self, store):
        def work() -> None:
            for _ in range(20):
                count_use(store, 3, T0, granted=True)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.usage([3])[3].granted == 120

    def test_first_notice_is_won_once(self, store):
        results: list[bool] = []
        lock = threading.Lock()

        def notice() -> None:
            won = store.first_notice(5, "expired", T0)
            with lock:
                results.append(won)

        threads = [threading.Thread(target=notice) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * 7 + [True]
        assert store.first_notice(5, "exhausted", T0) is True
        assert store.usage([5])[5].noticed == frozenset({"expired", "exhausted"})


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = SqlAuditStore(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        yield store
        store.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_database):
        store = SqlAuditStore(postgres_database)
        yield store
        store.close()

    def test_the_server_is_postgresql(self, store):
        assert store.engine.dialect.name == "postgresql"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version()").scalar_one().startswith("PostgreSQL 15")


@pytest.mark.parametrize("url", ["not a url", "mysql://db/x", "postgresql+nosuchdriver://db/x"])
def test_bad_urls_are_config_errors(url):
    with pytest.raises(ConfigError) as info:
        SqlAuditStore(url)
    assert "audit" in info.value.message


def test_where_the_store_is(tmp_path):
    from ticketbooth.auditstore import audit_database_url, open_audit_store
    from ticketbooth.settings import Settings

    data = tmp_path / "data"
    embedded = Settings(data_dir=str(data))
    assert audit_database_url(embedded) == f"sqlite:///{data}/catalog.sqlite3"  # the catalogue itself
    irods = Settings(backend="irods", data_dir=str(data))
    assert audit_database_url(irods) == f"sqlite:///{data}/audit.sqlite3"
    configured = Settings(data_dir=str(data)).replace(
        audit=type(embedded.audit)(database_url="postgresql+psycopg://tb@db.example.org/tb"))
    assert audit_database_url(configured) == "postgresql+psycopg://tb@db.example.org/tb"
    store = open_audit_store(irods)  # creates the data directory and the tables
    try:
        assert store.events(EventQuery()) == [] and (data / "audit.sqlite3").exists()
    finally:
        store.close()
