"""What the benchmarks share: PostgreSQL's administrative calls and the latency percentile."""

from __future__ import annotations

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


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile of ``values`` (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
