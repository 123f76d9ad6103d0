"""One fresh database per test, on SQLite and (when a server answers) on PostgreSQL.

The schema is built once per backend by the real Alembic migrations into a template; every test gets a
copy (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests are isolated and
still run against exactly what production migrations build.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.cli import upgrade_database
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings, load_settings
from tests.support import Api, DatabaseProbe

PG_DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Cheap Argon2 for tests (hashing cost is measured elsewhere, not exercised in every test).
TEST_ENV = {
    "FUNDAPP_ENV": "test",
    "FUNDAPP_SECRET_KEY": TEST_SECRET,
    "FUNDAPP_ARGON2_TIME_COST": "1",
    "FUNDAPP_ARGON2_MEMORY_KIB": "1024",
    "FUNDAPP_ARGON2_PARALLELISM": "1",
}
START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
_counter = itertools.count()


def _postgres_admin_url() -> str | None:
    url = os.environ.get("FUNDAPP_TEST_DATABASE_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return PG_DEFAULT_ADMIN_URL
    except OSError:
        return None


PG_ADMIN_URL = _postgres_admin_url()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _pg_admin_execute(sql: str) -> None:
    import psycopg

    assert PG_ADMIN_URL is not None
    sync_url = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(sync_url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if PG_ADMIN_URL is None:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432 and FUNDAPP_TEST_DATABASE_URL is unset")
    name = f"fundapp_tpl_{os.getpid()}"
    _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_admin_execute(f'CREATE DATABASE "{name}"')
    upgrade_database(_with_database(PG_ADMIN_URL, name))
    yield name
    _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "fundapp.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    assert PG_ADMIN_URL is not None
    name = f"fundapp_t_{os.getpid()}_{next(_counter)}"
    _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield _with_database(PG_ADMIN_URL, name)
    _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, var_dir: Path, **overrides: str) -> Settings:
    environ = {**TEST_ENV, "FUNDAPP_DATABASE_URL": database_url, "FUNDAPP_VAR_DIR": str(var_dir), **overrides}
    return load_settings(environ)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def db(settings: Settings) -> Iterator[DatabaseProbe]:
    probe = DatabaseProbe(settings)
    yield probe
    probe.close()


@pytest.fixture
def api(client: TestClient[Litestar], db: DatabaseProbe, settings: Settings, clock: FrozenClock) -> Api:
    return Api(client, db, settings, clock)
