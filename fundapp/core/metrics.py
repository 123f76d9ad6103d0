"""Prometheus metrics at ``/metrics`` (docs/operations.md, "Metrics"), with the maintained ``prometheus-client``.

- ``fundapp_http_requests_total{method,route,status}`` and ``fundapp_http_request_duration_seconds{method,route}``:
  by the route's template (``/api/v1/users/{user_id:int}``), never by the raw path; a path no route matched is
  ``(unmatched)``. Recorded by ``RequestIdMiddleware`` once each response is sent.
- ``fundapp_db_pool_size`` and ``fundapp_db_pool_checked_out``: the process's connection pool, after each
  request and at each scrape.
- ``fundapp_job_queue_depth``: jobs waiting, from a callback (``set_queue_depth``): the job queue's owner
  registers its own; the default counts procrastinate's waiting jobs when its table exists, else 0.

Readable by auditors, or with ``Authorization: Bearer <FUNDAPP_METRICS_TOKEN>``; anyone else gets 401 or 403.

Several workers (``fundapp serve --workers N``) are several processes, each counting its own requests. With
``PROMETHEUS_MULTIPROC_DIR`` set (``fundapp serve`` sets it to a fresh folder when N > 1), every worker writes
its values to files there and whichever worker answers a scrape adds up all of them (prometheus-client's
multiprocess mode): counters and histograms summed over the workers (the dead ones' included), the pool gauges
summed over the live ones.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core.db import Database
from fundapp.core.errors import NotAuthenticated, PermissionDenied
from fundapp.core.models import Role

METRICS_PATH = "/metrics"
METRICS_AUTH = "metrics-token"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Request latencies: 5 ms to 10 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

QueueDepth = Callable[[AsyncSession], Awaitable[int]]


async def procrastinate_queue_depth(session: AsyncSession) -> int:
    """Jobs waiting in procrastinate's table (``procrastinate_jobs``, status ``todo``); 0 without the table."""
    if session.get_bind().dialect.name == "postgresql":
        exists = (await session.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))).scalar()
    else:
        query = text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'procrastinate_jobs'")
        exists = bool((await session.execute(query)).scalar())
    if not exists:
        return 0
    waiting = await session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"))
    return int(waiting.scalar() or 0)


_queue_depth: QueueDepth = procrastinate_queue_depth


def set_queue_depth(callback: QueueDepth) -> None:
    """Where the job queue's depth comes from (the job queue registers its own count)."""
    global _queue_depth
    _queue_depth = callback


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _Once(Collector):
    """Metrics computed at a scrape (not kept between them)."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self.metrics


class Metrics:
    """One process's metrics (one per app: tests build many apps in one process, each its own registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fundapp_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fundapp_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.pool_size = Gauge(
            "fundapp_db_pool_size",
            "Connections the database pool keeps",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            "fundapp_db_pool_checked_out",
            "Database connections in use",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.database: Database | None = None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        self._pool()

    def _pool(self) -> None:
        pool: Any = self.database.engine.pool if self.database is not None else None
        if pool is not None and hasattr(pool, "checkedout"):
            self.pool_size.set(pool.size())
            self.pool_checked_out.set(pool.checkedout())

    async def exposition(self, database: Database) -> bytes:
        self._pool()
        async with database.session(write=False) as session:
            depth = await _queue_depth(session)
        queue = GaugeMetricFamily("fundapp_job_queue_depth", "Jobs waiting in the job queue", value=depth)
        extra = CollectorRegistry()
        extra.register(_Once([queue]))
        if multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        return generate_latest(registry) + generate_latest(extra)


@get(METRICS_PATH, include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The metrics in Prometheus's text format: auditors, or the configured metrics token."""
    if request.scope.get("auth") != METRICS_AUTH:
        user = request.scope.get("user")
        if user is None:
            raise NotAuthenticated("authentication required: an auditor, or the metrics token")
        if not user.has_role(Role.AUDITOR):
            raise PermissionDenied("the metrics are for auditors (or the metrics token)", action="metrics.read")
    metrics: Metrics = request.app.state.metrics
    body = await metrics.exposition(request.app.state.db)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
