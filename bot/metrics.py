"""Prometheus metrics of one bot process (README "Metrics"; served by bot/web_metrics.py).

Each process keeps its own registry and every series it exposes carries a `process` label
(`host:pid`). Not prometheus-client's multiprocess mode: that mode is for workers forked behind one
scrape endpoint sharing a directory, while `web` processes are independent (often on different hosts),
each scraped on its own `/metrics`; with a label per process a sick one stays visible, and the
database-derived gauges (the same figure in every process) are read with `max by (...)`.

What is measured here, with no Telegram: the counters and histograms below, the Harbor client's
requests (httpx event hooks, endpoints as their path templates, never raw ids), the outcome of each
update (a context variable the update's handlers may mark), and the gauges read from the database at
scrape time (storage/gauges.py), cached for a few seconds and bounded by a timeout so a scrape costs
at most a few indexed queries however often it comes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bot.harbor import paths
from storage.gauges import read_gauges
from storage.models import DeliveryState, JobKind
from storage.repo_base import SessionFactory
from storage.threaded import Database

log = logging.getLogger(__name__)

# A scrape reads the database at most this often, and gives up on it after this long.
DB_GAUGES_MAX_AGE = 5.0
DB_GAUGES_TIMEOUT = 2.0
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Outcome(StrEnum):
    """How an update ended: the label `outcome` of harbor_bot_updates_total."""

    OK = "ok"
    ERROR = "error"  # a handler raised; the error handler told the user
    THROTTLED = "throttled"  # dropped: the sender was over their budget


class CheckState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # this process serves, something it depends on does not (Harbor)
    FAILING = "failing"  # this process cannot serve (the database)


def process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _WithProcess(Collector):
    """The inner registry's series, each with the `process` label added."""

    def __init__(self, inner: CollectorRegistry, process: str) -> None:
        self._inner = inner
        self._process = process

    def collect(self) -> Iterator[Metric]:
        for family in self._inner.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [s._replace(labels={**s.labels, "process": self._process}) for s in family.samples]
            yield labelled


def _endpoint_patterns() -> list[tuple[re.Pattern[str], str]]:
    templates = [
        paths.LOCATIONS_IN_AREA,
        paths.LOCATION,
        paths.LOCATION_AVAILABILITY,
        paths.LOCATION_LOCKERS,
        paths.TOWER_LOCKERS,
        paths.ASSIGNED_LOCKERS,
        paths.TEST_TOKEN,
        *(route for _, route in (paths.RESERVE, paths.DROPOFF_TOKEN, paths.PICKUP_TOKEN, paths.RELEASE)),
    ]
    patterns = []
    for template in dict.fromkeys(templates):
        regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template.rstrip("/")))
        patterns.append((re.compile(f"(?:/.*)?{regex}/?"), template))
    return patterns


_ENDPOINTS = _endpoint_patterns()


def endpoint_of(url: httpx.URL | str, token_url: str) -> str:
    """The path template a Harbor request was made to (bounded label values: no ids)."""
    path = urlsplit(str(url)).path
    if path and path == urlsplit(token_url).path:
        return "token"
    for pattern, template in _ENDPOINTS:
        if pattern.fullmatch(path):
            return template
    return "other"


# The outcome of the update being handled in this task; None outside an update.
_update_outcome: contextvars.ContextVar[list[Outcome] | None] = contextvars.ContextVar("update_outcome", default=None)


def mark_update(outcome: Outcome) -> None:
    """Called by a handler: the update being handled ended this way (the worst mark wins)."""
    marks = _update_outcome.get()
    if marks is not None:
        marks.append(outcome)


@dataclass
class HarborHealth:
    """What this process last saw of Harbor: any answer below 500 (but 429) means it is there."""

    last_ok: float = 0.0
    last_failure: float = 0.0

    def saw(self, status: int | None, at: float) -> None:
        if status is not None and status < 500 and status != 429:
            self.last_ok = at
        else:
            self.last_failure = at

    def latest(self) -> tuple[float, bool]:
        """(when, whether it was fine) of the most recent observation."""
        if self.last_failure > self.last_ok:
            return self.last_failure, False
        return self.last_ok, True


class Metrics:
    """Every series of one process; `exposition()` is the text a scrape gets."""

    def __init__(self, process: str | None = None) -> None:
        self.process = process or process_label()
        self._series = CollectorRegistry(auto_describe=True)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_WithProcess(self._series, self.process))
        r = self._series
        self.updates = Counter(
            "harbor_bot_updates", "Telegram updates handled, by kind and outcome", ["kind", "outcome"], registry=r
        )
        self.update_seconds = Histogram(
            "harbor_bot_update_seconds", "Time to handle one update", ["kind"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.bot_api_calls = Counter(
            "harbor_bot_bot_api_calls",
            "Bot API calls by method and result (ok, an HTTP status such as 429, or error: no answer)",
            ["method", "result"],
            registry=r,
        )
        self.harbor_requests = Counter(
            "harbor_bot_harbor_requests",
            "Harbor API requests by method, endpoint (path template) and HTTP status",
            ["method", "endpoint", "status"],
            registry=r,
        )
        self.harbor_seconds = Histogram(
            "harbor_bot_harbor_request_seconds",
            "Harbor API request latency",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.keys_issued = Counter("harbor_bot_keys_issued", "Keys sent to people, by kind", ["kind"], registry=r)
        self.throttled = Counter(
            "harbor_bot_throttled_users",
            "Times a user went over their update budget (one per run of dropped updates)",
            registry=r,
        )
        self.checks = Enum(
            "harbor_bot_check",
            "State of each readiness check, as /readyz last found it",
            ["check"],
            states=[s.value for s in CheckState],
            registry=r,
        )
        self.outbox_pending = Gauge("harbor_bot_outbox_pending", "Announcements not sent yet", registry=r)
        self.outbox_oldest = Gauge(
            "harbor_bot_outbox_oldest_pending_seconds", "Age of the oldest announcement not sent yet", registry=r
        )
        self.scheduler_lag = Gauge(
            "harbor_bot_scheduler_lag_seconds", "How long the oldest due job of a kind has waited", ["kind"], registry=r
        )
        self.deliveries = Gauge("harbor_bot_deliveries", "Deliveries by state", ["state"], registry=r)
        self.db_up = Gauge(
            "harbor_bot_database_gauges_up", "1 if the last read of the database gauges worked", registry=r
        )
        self.pool_in_use = Gauge("harbor_bot_db_pool_in_use", "Database connections checked out", registry=r)
        self.pool_waiting = Gauge("harbor_bot_db_pool_waiting", "Tasks waiting for a database connection", registry=r)
        self.pool_size = Gauge(
            "harbor_bot_db_pool_size", "Database connections the process may hold at once", registry=r
        )
        self.harbor_health = HarborHealth()
        self._db_read_at = -DB_GAUGES_MAX_AGE
        self._db_lock = asyncio.Lock()

    # updates -----------------------------------------------------------------------------------

    def start_update(self) -> contextvars.Token[list[Outcome] | None]:
        return _update_outcome.set([])

    def end_update(self, token: contextvars.Token[list[Outcome] | None], kind: str, started: float) -> None:
        marks = _update_outcome.get() or []
        _update_outcome.reset(token)
        outcome = Outcome.ERROR if Outcome.ERROR in marks else (marks[-1] if marks else Outcome.OK)
        self.updates.labels(kind, outcome.value).inc()
        self.update_seconds.labels(kind).observe(time.perf_counter() - started)

    # Harbor ------------------------------------------------------------------------------------

    def harbor_hooks(self, token_url: str) -> dict[str, list[Any]]:
        """httpx event hooks for the Harbor client: request/response counted with their latency."""

        async def on_request(request: httpx.Request) -> None:
            request.extensions["metrics_started"] = time.perf_counter()

        async def on_response(response: httpx.Response) -> None:
            request = response.request
            endpoint = endpoint_of(request.url, token_url)
            started = request.extensions.get("metrics_started")
            now = time.perf_counter()
            self.harbor_requests.labels(request.method, endpoint, str(response.status_code)).inc()
            if isinstance(started, float):
                self.harbor_seconds.labels(request.method, endpoint).observe(now - started)
            self.harbor_health.saw(response.status_code, time.monotonic())

        return {"request": [on_request], "response": [on_response]}

    # the database, at scrape time --------------------------------------------------------------

    async def refresh_database_gauges(self, session_factory: SessionFactory, database: Database | None = None) -> None:
        """Read the database gauges unless they were read in the last few seconds (any caller)."""
        if database is not None:
            self._read_pool(database)
        async with self._db_lock:
            if time.monotonic() - self._db_read_at < DB_GAUGES_MAX_AGE:
                return
            try:
                async with asyncio.timeout(DB_GAUGES_TIMEOUT):
                    gauges = await read_gauges(session_factory)
            except Exception as exc:
                log.warning("metrics: the database gauges could not be read (%s)", type(exc).__name__)
                self.db_up.set(0)
                return
            self._db_read_at = time.monotonic()
        self.db_up.set(1)
        self.outbox_pending.set(gauges.outbox_pending)
        self.outbox_oldest.set(gauges.outbox_oldest_seconds)
        for state in DeliveryState:
            self.deliveries.labels(state.value).set(gauges.deliveries.get(state, 0))
        for kind in JobKind:
            self.scheduler_lag.labels(kind.value).set(gauges.scheduler_lag.get(kind, 0.0))

    def _read_pool(self, database: Database) -> None:
        self.pool_in_use.set(database.in_use())
        self.pool_size.set(database.connections)
        self.pool_waiting.set(database.waiting())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
