"""Prometheus metrics of both processes: one table of every metric, the process's instruments, the scrape.

:data:`METRICS` declares each metric once (name, kind, help, labels); ``docs/operations.md`` lists the same
table and a test keeps the two in step. :func:`instruments` builds the process's metric objects on first use.

Under gunicorn, workers are separate processes: :mod:`ticketbooth.multiproc` sets ``PROMETHEUS_MULTIPROC_DIR``
before workers start, every worker then writes its values to files there, and :func:`exposition` (whichever
worker answers the scrape) sums the files of all workers, living and dead. Without that variable (tests, the
Flask development server) the values live in this process's own registry.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MetricSpec", "METRICS", "Instruments", "instruments", "exposition", "count_key_lookup", "MULTIPROC_ENV",
           "DURATION_BUCKETS"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Seconds; from a cached key lookup (~1 ms) to a large transfer (minutes).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``kind`` is ``counter`` or ``histogram``; ``labels`` in the order they are set."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ticketbooth_http_requests_total", "counter",
               "HTTP requests answered, by service (api, gateway), route (API URL rule or S3 operation), "
               "method and status", ("service", "route", "method", "status")),
    MetricSpec("ticketbooth_http_request_duration_seconds", "histogram",
               "Time from receiving a request until its response body is sent (or the client went away)",
               ("service", "route", "method")),
    MetricSpec("ticketbooth_http_received_bytes_total", "counter",
               "Request body bytes read from clients", ("service", "route")),
    MetricSpec("ticketbooth_http_sent_bytes_total", "counter",
               "Response body bytes sent to clients (Content-Length of completed responses)", ("service", "route")),
    MetricSpec("ticketbooth_decisions_total", "counter",
               "Ticket access decisions, by source (s3, link, authorize) and outcome (granted, denied), with the "
               "S3 error code and the TicketBooth reason of a refusal", ("source", "outcome", "code", "reason")),
    MetricSpec("ticketbooth_backend_call_duration_seconds", "histogram",
               "Duration of backend calls (ticket catalogue and data sessions), by backend and call",
               ("backend", "call")),
    MetricSpec("ticketbooth_backend_errors_total", "counter",
               "Backend calls that failed (unavailable, driver or internal errors; not refusals such as an expired "
               "ticket or a missing path)", ("backend", "call", "error")),
    MetricSpec("ticketbooth_resolver_cache_total", "counter",
               "S3 access key lookups answered from the per-process cache (hit) or the backend (miss)",
               ("result",)),
    MetricSpec("ticketbooth_audit_events_total", "counter", "Audit events recorded, by action", ("action",)),
    MetricSpec("ticketbooth_audit_store_errors_total", "counter",
               "Audit events the audit store could not keep (they are still logged)", ()),
)


def _value_class_for_environment() -> None:
    # prometheus_client picks its value storage when it is first imported. A process that imported it before
    # ticketbooth.multiproc set PROMETHEUS_MULTIPROC_DIR (the gunicorn master, via the CLI) would otherwise
    # keep per-process values in every worker; pick again now that the environment is final.
    from prometheus_client import values

    if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
        values.ValueClass = values.get_value_class()


class Instruments:
    """The metric objects of this process, by name (``instruments()["ticketbooth_decisions_total"]``)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        _value_class_for_environment()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode values go to files and the scrape reads them; no registry holds them.
        self.registry = None if self.multiprocess else CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        self._children: dict[tuple[Any, ...], Any] = {}
        for spec in METRICS:
            if spec.kind == "counter":
                metric = Counter(spec.name, spec.help, spec.labels, registry=self.registry)
            else:
                metric = Histogram(spec.name, spec.help, spec.labels, buckets=DURATION_BUCKETS,
                                   registry=self.registry)
            self._metrics[spec.name] = metric

    def __getitem__(self, name: str) -> Any:
        return self._metrics[name]

    def count(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1) -> None:
        (self._child(name, labels) if labels else self._metrics[name]).inc(amount)

    def observe(self, name: str, labels: Mapping[str, str], value: float) -> None:
        self._child(name, labels).observe(value)

    def _child(self, name: str, labels: Mapping[str, str]) -> Any:
        # prometheus_client's labels() validates and locks on every call (a tenth of a small request's
        # time, issue 11 item 6); a label set's child never changes, so it is looked up once.
        key = (name, *labels.items())  # a set given in another order only adds an entry for the same child
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, self._metrics[name].labels(**labels))
        return child


_instruments: Instruments | None = None
_lock = threading.Lock()


def instruments() -> Instruments:
    """This process's instruments, built on first use (in a gunicorn worker: after the fork)."""
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = Instruments()
    return _instruments


def exposition() -> tuple[bytes, str]:
    """``(body, content type)`` of a scrape: every worker's values when multiprocess, else this process's."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    own = instruments()
    if own.multiprocess:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    assert own.registry is not None
    return generate_latest(own.registry), CONTENT_TYPE_LATEST


def count_key_lookup(hit: bool) -> None:
    """The ``on_lookup`` of :class:`ticketbooth.resolver.KeyResolver`: a cache hit or miss."""
    instruments().count("ticketbooth_resolver_cache_total", {"result": "hit" if hit else "miss"})
