"""Prometheus metrics on GET /metrics of the API and the gateway, read back with prometheus_client's own parser.

The metrics of one test process are shared by every app it builds (as in a real process), so each test compares
a scrape before and after what it does.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ticketbooth.app import create_app
from ticketbooth.backends.instrumented import InstrumentedBackend
from ticketbooth.errors import BackendUnavailable
from ticketbooth.gateway.app import create_gateway_app
from ticketbooth.metrics import METRICS, Instruments
from ticketbooth.settings import MetricsSettings

from ..conftest import ZONE
from ..gateway.conftest import call_wsgi

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_wsgi(app: Any, **kw: Any) -> Samples:
    result = call_wsgi(app, "GET", "/metrics", **kw)
    assert result.status == 200, result.body
    assert result.headers["content-type"].startswith("text/plain; version=")
    return parse(result.body.decode())


def scrape_api(client: Any) -> Samples:
    response = client.client.get("/metrics")
    assert response.status_code == 200
    return parse(response.get_data(as_text=True))


def test_every_metric_is_named_ticketbooth_and_declared_once():
    names = [spec.name for spec in METRICS]
    assert len(names) == len(set(names))
    assert all(name.startswith("ticketbooth_") for name in names)
    assert {spec.kind for spec in METRICS} <= {"counter", "histogram"}


def test_api_requests_backend_calls_and_bytes(client):
    before = scrape_api(client)
    created = client.create(f"/{ZONE}/home/alice/data", users=["alice"])
    # A response is measured when its body has been sent (here: read to the end).
    assert client.get(f"/v1/tickets/{created['id']}").get_json()["id"] == created["id"]
    assert client.get("/v1/tickets/999999").get_json()["code"] == "ticket_not_found"
    assert client.client.get("/nowhere").get_json()["code"] == "not_found"
    after = scrape_api(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"service": "api", "route": "/v1/tickets"}
    assert delta("ticketbooth_http_requests_total", **route, method="POST", status="201") == 1
    by_id = {"service": "api", "route": "/v1/tickets/<int:ticket_id>", "method": "GET"}
    assert delta("ticketbooth_http_requests_total", **by_id, status="200") == 1
    assert delta("ticketbooth_http_requests_total", **by_id, status="404") == 1
    assert delta("ticketbooth_http_requests_total", service="api", route="unmatched", method="GET",
                 status="404") == 1
    assert delta("ticketbooth_http_request_duration_seconds_count", **route, method="POST") == 1
    assert delta("ticketbooth_http_received_bytes_total", **route) > 20
    assert delta("ticketbooth_http_sent_bytes_total", **route) > 200
    embedded = {"backend": "embedded"}
    assert delta("ticketbooth_backend_call_duration_seconds_count", **embedded, call="create_ticket") == 1
    assert delta("ticketbooth_backend_call_duration_seconds_count", **embedded, call="get_ticket") == 2
    # A ticket nobody can see is an answer, not a backend failure.
    assert delta("ticketbooth_backend_errors_total", **embedded, call="get_ticket", error="ticket_not_found") == 0
    # The scrape itself is not a request of any route.
    assert not any(name == "ticketbooth_http_requests_total" and ("route", "/metrics") in labels
                   for name, labels in after)


def _gateway(gw: Any, **metrics: Any) -> Any:
    settings = gw.settings.replace(metrics=MetricsSettings(**metrics))
    return create_gateway_app(settings, backend=gw.backend, clock=gw.clock)


def test_gateway_operations_decisions_bytes_and_cache(gw):
    app = _gateway(gw)
    ticket = gw.ticket("ds1")
    s3 = gw.client(ticket)
    s3.world = dataclasses.replace(gw, app=app)
    before = scrape_wsgi(app)
    assert s3.request("GET", "a.txt").status == 200
    assert s3.request("PUT", "new.txt", body=b"refused").status == 403  # a read ticket
    assert call_wsgi(app, "GET", f"/ticket-{ticket.id}/a.txt").status == 403  # unsigned
    gw.clock.advance(3 * 86400)
    expiring = gw.ticket("ds1", expires_in=60)
    gw.clock.advance(120)
    late = gw.client(expiring)
    late.world = s3.world
    assert late.request("GET", "a.txt").code == "AccessDenied"
    after = scrape_wsgi(app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    get = {"service": "gateway", "route": "GetObject"}
    assert delta("ticketbooth_http_requests_total", **get, method="GET", status="200") == 1
    assert delta("ticketbooth_http_sent_bytes_total", **get) == len(b"hello world")
    assert delta("ticketbooth_http_requests_total", service="gateway", route="refused", method="PUT",
                 status="403") == 1
    assert delta("ticketbooth_http_received_bytes_total", service="gateway", route="refused") == 0
    decisions = "ticketbooth_decisions_total"
    assert delta(decisions, source="s3", outcome="granted", code="", reason="") == 1
    assert delta(decisions, source="s3", outcome="denied", code="AccessDenied", reason="") == 2
    assert delta(decisions, source="s3", outcome="denied", code="AccessDenied", reason="ticket_expired") == 1
    # The granted GET and the expired ticket's GET, which open_session refuses (it judges expiry).
    assert delta("ticketbooth_backend_call_duration_seconds_count", backend="embedded", call="open_session") == 2
    assert delta("ticketbooth_backend_call_duration_seconds_count", backend="embedded",
                 call="session.open_read") == 1
    # key_cache_ttl = 0 in these tests: every lookup goes to the backend.
    assert delta("ticketbooth_resolver_cache_total", result="miss") >= 3
    assert delta("ticketbooth_resolver_cache_total", result="hit") == 0


def test_resolver_cache_hits_are_counted(gw):
    settings = gw.settings.replace(s3=dataclasses.replace(gw.settings.s3, key_cache_ttl=60.0))
    app = create_gateway_app(settings, backend=gw.backend, clock=gw.clock)
    s3 = gw.client(gw.ticket("ds1"))
    s3.world = dataclasses.replace(gw, app=app)
    before = scrape_wsgi(app)
    for _ in range(3):
        assert s3.request("GET", "a.txt").status == 200
    after = scrape_wsgi(app)
    hits = "ticketbooth_resolver_cache_total"
    # verify() and the resolution after it look the key up: the first request misses once, the rest hit.
    assert value(after, hits, result="miss") - value(before, hits, result="miss") == 1
    assert value(after, hits, result="hit") - value(before, hits, result="hit") == 5


def test_link_decisions(gw):
    app = _gateway(gw)
    ticket = gw.ticket("ds1", anonymous=True)
    before = scrape_wsgi(app)
    assert call_wsgi(app, "GET", f"/_t/{ticket.string}/a.txt").status == 200
    assert call_wsgi(app, "GET", "/_t/not-a-ticket/a.txt").status == 404
    after = scrape_wsgi(app)
    decisions = "ticketbooth_decisions_total"
    granted = {"source": "link", "outcome": "granted", "code": "", "reason": ""}
    assert value(after, decisions, **granted) - value(before, decisions, **granted) == 1
    denied = {"source": "link", "outcome": "denied", "code": "InvalidAccessKeyId", "reason": "ticket_not_found"}
    assert value(after, decisions, **denied) - value(before, decisions, **denied) == 1
    link_get = {"service": "gateway", "route": "link:GetObject", "method": "GET", "status": "200"}
    assert value(after, "ticketbooth_http_requests_total", **link_get) - value(
        before, "ticketbooth_http_requests_total", **link_get) == 1


def test_bearer_token_protects_metrics(gw):
    token = "metrics-token-" + "t" * 20
    app = _gateway(gw, bearer_token=token)
    assert call_wsgi(app, "GET", "/metrics").status == 401
    assert call_wsgi(app, "GET", "/metrics", {"Authorization": "Bearer wrong-token-xxxxxxxx"}).status == 401
    assert call_wsgi(app, "GET", "/metrics", {"Authorization": "Basic " + token}).status == 401
    samples = scrape_wsgi(app, headers={"Authorization": f"Bearer {token}"})
    assert any(name.startswith("ticketbooth_") for name, _ in samples)


def test_metrics_on_their_own_port_only(gw, settings, backend, clock):
    app = _gateway(gw, port=9464)
    assert call_wsgi(app, "GET", "/metrics").status == 403  # on the S3 port it is an unsigned S3 request
    on_port = call_wsgi(app, "GET", "/metrics", {"Host": "127.0.0.1:9464"})
    assert on_port.status == 403  # the Host header does not choose the port; the socket does
    environ_port = _call_on_port(app, "/metrics", 9464)
    assert environ_port[0] == 200 and b"ticketbooth_" in environ_port[1]
    assert _call_on_port(app, "/ticket-1/a.txt", 9464)[0] == 404
    api = create_app(settings.replace(metrics=MetricsSettings(port=9464)), backend=backend, clock=clock)
    assert api.test_client().get("/metrics").status_code == 404
    assert api.test_client().get("/metrics", environ_overrides={"SERVER_PORT": "9464"}).status_code == 200
    assert api.test_client().get("/healthz", environ_overrides={"SERVER_PORT": "9464"}).status_code == 404


def _call_on_port(app: Any, path: str, port: int) -> tuple[int, bytes]:
    import io

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "RAW_URI": path, "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(port), "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1"}
    status: list[int] = []
    body = b"".join(app(environ, lambda s, h, *e: status.append(int(s.split()[0]))))
    return status[0], body


def test_disabled_metrics_are_not_served(gw, settings, backend, clock):
    assert call_wsgi(_gateway(gw, enabled=False), "GET", "/metrics").status == 403  # just an S3 request
    api = create_app(settings.replace(metrics=MetricsSettings(enabled=False)), backend=backend, clock=clock)
    assert api.test_client().get("/metrics").status_code == 404


def test_backend_failures_are_counted_refusals_are_not(backend, clock):
    metrics = Instruments()
    wrapped = InstrumentedBackend(backend, metrics)

    def unavailable() -> None:
        raise BackendUnavailable("down for a test")

    backend.check_ready = unavailable
    with pytest.raises(BackendUnavailable):
        wrapped.check_ready()
    assert wrapped.find_ticket(424242) is None
    from ticketbooth.errors import TicketNotFound
    from ticketbooth.model import Actor

    with pytest.raises(TicketNotFound):
        wrapped.get_ticket(Actor("alice"), 424242)
    samples = parse(_render(metrics))
    assert value(samples, "ticketbooth_backend_errors_total", backend="embedded", call="check_ready",
                 error="backend_unavailable") == 1
    assert value(samples, "ticketbooth_backend_errors_total", backend="embedded", call="get_ticket",
                 error="ticket_not_found") == 0
    assert value(samples, "ticketbooth_backend_call_duration_seconds_count", backend="embedded",
                 call="find_ticket") == 1
    assert wrapped.home("alice") == f"/{ZONE}/home/alice"  # helpers beyond the seam pass through


def _render(metrics: Instruments) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


def test_scrape_method_and_head(gw):
    app = _gateway(gw)
    assert call_wsgi(app, "POST", "/metrics").status == 405
    head = call_wsgi(app, "HEAD", "/metrics")
    assert head.status == 200 and head.body == b""


def test_the_wrapper_follows_the_seam():
    import inspect

    from ticketbooth.backends.base import DataSession, TicketBackend
    from ticketbooth.backends.instrumented import _InstrumentedSession

    for seam, wrapper in ((TicketBackend, InstrumentedBackend), (DataSession, _InstrumentedSession)):
        for name in seam.__abstractmethods__ | {"close"}:
            assert inspect.signature(getattr(wrapper, name)) == inspect.signature(getattr(seam, name)), name
