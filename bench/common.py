"""What the benchmarks share: a fresh database per run, PostgreSQL's administrative calls, a free port for a
live server and the latency percentile."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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
        cursor = conn.execute(sql, params)
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


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    url: str
    workdir: Path  # a temporary folder of the run (the SQLite file, the service's var/)
    server: str  # the database and the settings that matter to the figures, for the report's header
    admin_url: str | None = None  # PostgreSQL: the administrative URL and the database's name
    name: str | None = None


@contextmanager
def bench_database(
    backend: str, admin_url: str | None, purpose: str, *, keep: bool = False, settings: tuple[str, ...] = ()
) -> Iterator[BenchDatabase]:
    """A fresh, empty database for one run: a SQLite file in a temporary folder, or on PostgreSQL a database
    ``fundapp_bench_<purpose>_<pid>`` on the server of ``admin_url``. Removed afterwards unless ``keep``.
    ``settings`` names the PostgreSQL settings to print beside its version."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fundapp-bench-{purpose}-"))
    admin = name = None
    url = ""
    try:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
            server = f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL"
        else:
            admin, name = admin_url or PG_DEFAULT_ADMIN_URL, f"fundapp_bench_{purpose}_{os.getpid()}"
            url = create_pg_database(admin, name)
            shown = ("server_version", *settings)
            values = pg_admin(admin, "SELECT " + ", ".join(f"current_setting('{s}')" for s in shown))
            server = ", ".join(
                [f"PostgreSQL {values[0]}", *(f"{s}={v}" for s, v in zip(settings, values[1:], strict=True))]
            )
        yield BenchDatabase(url, workdir, server, admin, name)
    finally:
        if keep:
            print(f"kept: {url} (and {workdir})", file=sys.stderr)
        else:
            if admin is not None and name is not None:
                drop_pg_database(admin, name)
            shutil.rmtree(workdir, ignore_errors=True)
