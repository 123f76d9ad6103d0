"""What the benchmarks share: PostgreSQL's administrative calls, a free port for a live server and the latency
percentile."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PG_DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pg_url(url: str, name: str, *, driver: str) -> str:
    """``url`` pointed at database ``name`` through ``driver`` (e.g. ``postgresql+asyncpg``)."""
    parts = urlsplit(url)
    return urlunsplit((driver, parts.netloc, "/" + name, parts.query, parts.fragment))


def pg_admin(admin_url: str, sql: str, params: tuple[Any, ...] | None = None) -> Any:
    """Run one statement on the administrative database (autocommit); its first row, or None."""
    import psycopg

    sync_url = pg_url(admin_url, urlsplit(admin_url).path.lstrip("/"), driver="postgresql")
    with psycopg.connect(sync_url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return cursor.fetchone() if cursor.description else None


def create_pg_database(admin_url: str, name: str) -> str:
    """A fresh, empty database ``name`` (dropped first if a run left it); its asyncpg URL."""
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
    pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    return pg_url(admin_url, name, driver="postgresql+asyncpg")


def drop_pg_database(admin_url: str, name: str) -> None:
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile of ``values`` (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
