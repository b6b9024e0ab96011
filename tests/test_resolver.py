"""KeyResolver: access key id -> live ticket, holder and secret, with a short per-instance cache."""
from __future__ import annotations

from dataclasses import replace

from ticketbooth import s3keys
from ticketbooth.model import Access, TargetKind, Ticket
from ticketbooth.resolver import KeyResolver

MASTER = b"r" * 32


class StubBackend:
    """Just the two lookups the resolver uses, counting calls."""

    def __init__(self, *tickets: Ticket, groups: dict[str, frozenset[str]] | None = None) -> None:
        self.tickets = {t.id: t for t in tickets}
        self.groups = groups or {}
        self.lookups = 0

    def find_ticket(self, ticket_id: int) -> Ticket | None:
        self.lookups += 1
        return self.tickets.get(ticket_id)

    def user_groups(self, user: str) -> frozenset[str]:
        return self.groups.get(user, frozenset())


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_ticket(ticket_id=7, **fields) -> Ticket:
    base = dict(id=ticket_id, string="ABCDEFGHIJKLMNO", path="/z/home/alice/ds1", target_kind=TargetKind.COLLECTION,
                access=Access.READ, owner="alice", users=("bob",))
    return Ticket(**{**base, **fields})


def test_minted_pair_resolves_to_ticket_holder_and_secret():
    ticket = make_ticket(groups=("lab",))
    resolver = KeyResolver(StubBackend(ticket, groups={"carol": frozenset({"lab"})}), MASTER)
    for holder in ("bob", "carol"):
        akid, secret = resolver.mint(ticket, holder)
        resolved = resolver(akid)
        assert (resolved.ticket, resolved.holder, resolved.secret_access_key, resolved.access_key_id) == (
            ticket, holder, secret, akid)
        assert resolver.secret_for(akid) == secret
        assert secret == s3keys.secret_access_key(MASTER, ticket.id, ticket.string, holder)


def test_unknown_forged_and_foreign_keys_resolve_to_none():
    ticket = make_ticket()
    backend = StubBackend(ticket)
    resolver = KeyResolver(backend, MASTER)
    foreign = KeyResolver(backend, b"x" * 32).mint(ticket, "bob")[0]
    for akid in ("AKIAIOSFODNN7EXAMPLE", "TB", "", foreign):
        assert resolver(akid) is None and resolver.secret_for(akid) is None
    assert backend.lookups == 0  # refused before any backend lookup
    assert resolver(s3keys.access_key_id(MASTER, 99, "bob")) is None  # well-formed, no such ticket


def test_holder_must_still_be_admitted():
    ticket = make_ticket()
    backend = StubBackend(ticket)
    resolver = KeyResolver(backend, MASTER, ttl=0)
    assert resolver(resolver.mint(ticket, "carol")[0]) is None
    akid = resolver.mint(ticket, "bob")[0]
    assert resolver(akid) is not None
    backend.tickets[ticket.id] = replace(ticket, users=("carol",))
    assert resolver(akid) is None


def test_anonymous_ticket_has_one_shared_holder():
    ticket = make_ticket(users=())
    resolver = KeyResolver(StubBackend(ticket), MASTER)
    assert resolver(resolver.mint(ticket, "anonymous")[0]).holder == "anonymous"
    assert resolver(resolver.mint(ticket, "bob")[0]) is None


def test_changed_ticket_string_changes_the_secret():
    ticket = make_ticket()
    backend = StubBackend(ticket)
    resolver = KeyResolver(backend, MASTER, ttl=0)
    akid, secret = resolver.mint(ticket, "bob")
    backend.tickets[ticket.id] = replace(ticket, string="ZZZZZZZZZZZZZZZ")
    assert resolver.secret_for(akid) not in (None, secret)


def test_cache_within_ttl_and_expiry_after():
    ticket = make_ticket()
    backend, clock = StubBackend(ticket), Monotonic()
    resolver = KeyResolver(backend, MASTER, ttl=5.0, monotonic=clock)
    akid = resolver.mint(ticket, "bob")[0]
    assert resolver(akid) is not None and resolver(akid) is not None
    assert backend.lookups == 1
    del backend.tickets[ticket.id]  # revoked on another instance
    clock.now += 4.9
    assert resolver(akid) is not None  # still cached: the documented TTL window
    clock.now += 0.2
    assert resolver(akid) is None and backend.lookups == 2


def test_forget_drops_a_revoked_ticket_at_once():
    one, two = make_ticket(1), make_ticket(2)
    backend = StubBackend(one, two)
    resolver = KeyResolver(backend, MASTER, monotonic=Monotonic())
    key_one, key_two = resolver.mint(one, "bob")[0], resolver.mint(two, "bob")[0]
    resolver(key_one), resolver(key_two)
    del backend.tickets[1]
    resolver.forget(1)
    assert resolver(key_one) is None and resolver(key_two) is not None
    assert backend.lookups == 3
    del backend.tickets[2]
    resolver.forget()
    assert resolver(key_two) is None


def test_ttl_zero_disables_the_cache():
    ticket = make_ticket()
    backend = StubBackend(ticket)
    resolver = KeyResolver(backend, MASTER, ttl=0)
    akid = resolver.mint(ticket, "bob")[0]
    resolver(akid), resolver(akid)
    assert backend.lookups == 2


def test_cache_is_bounded_and_forged_ids_do_not_fill_it():
    tickets = [make_ticket(i) for i in range(1, 11)]
    backend = StubBackend(*tickets)
    resolver = KeyResolver(backend, MASTER, max_entries=4, monotonic=Monotonic())
    for t in tickets:
        resolver(resolver.mint(t, "bob")[0])
    for n in range(20):
        resolver(f"TBFORGED{n}")
    assert len(resolver._cache) == 4
    resolver(resolver.mint(tickets[-1], "bob")[0])
    assert backend.lookups == 10  # the most recent entry was kept


def test_repr_never_shows_the_secret():
    ticket = make_ticket()
    resolver = KeyResolver(StubBackend(ticket), MASTER)
    akid, secret = resolver.mint(ticket, "bob")
    text = repr(resolver(akid))
    assert secret not in text and akid in text and ticket.string not in text
