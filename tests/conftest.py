"""One fresh database per test, on SQLite and (when a server answers) on PostgreSQL.

The schema is built once per backend by the real Alembic migrations into a template; every test gets a
copy (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests are isolated and
still run against exactly what production migrations build.

The suite runs in several processes (pytest-xdist, ``make test``). Templates are built once per run, by
whichever process needs one first (``build_once``); the databases they share are named after the run and
dropped by the process that started it, after every worker has finished (``pytest_sessionfinish``).
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import logging
import os
import pickle
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import hypothesis
import litestar.logging.standard as litestar_logging
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from fundapp.app import bind, create_app, shape_of
from fundapp.cli import upgrade_database
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings, load_settings
from fundapp.wiring import register_hooks
from tests.support import Api, DatabaseProbe

# Tests never assert on time: no deadline per example, no health check that times data generation.
hypothesis.settings.register_profile("fundapp", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("fundapp")

PG_DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Cheap Argon2 for tests (hashing cost is measured elsewhere, not exercised in every test).
TEST_ENV = {
    "FUNDAPP_ENV": "test",
    "FUNDAPP_SECRET_KEY": TEST_SECRET,
    "FUNDAPP_ARGON2_TIME_COST": "1",
    "FUNDAPP_ARGON2_MEMORY_KIB": "1024",
    "FUNDAPP_ARGON2_PARALLELISM": "1",
    # The scheduler runs where a test starts it (tests/integration/test_jobs*.py), never behind another test.
    "FUNDAPP_SCHEDULER": "off",
}
START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
_counter = itertools.count()
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    # The cross-domain hooks the shell registers when the app or the CLI starts (fixtures also call the
    # services directly, before any app exists).
    register_hooks()
    # One id for the run, which xdist hands to its workers: what they share is named after it.
    if not hasattr(config, "workerinput") and getattr(config.option, "testrunuid", "") is None:
        config.option.testrunuid = uuid.uuid4().hex[:12]


def run_id(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["testrunuid"])
    return str(getattr(config.option, "testrunuid", None) or os.getpid())


def shared_database(config: pytest.Config, kind: str) -> str:
    """The name of a PostgreSQL database every process of this run shares (dropped at the end of the run)."""
    return f"fundapp_{kind}_{run_id(config)}"


def build_once(request: pytest.FixtureRequest, name: str, build: Callable[[Path], T]) -> T:
    """What ``build(folder)`` returns, built once per run even across xdist's workers: the first process to
    ask builds it under a file lock and leaves it pickled in the run's shared folder; the others read it."""
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    worker = hasattr(request.config, "workerinput")
    # Each worker's base folder lies in the run's own; a single process keeps everything in its own.
    root = factory.getbasetemp().parent if worker else factory.getbasetemp()
    folder = root / f"shared-{name}"
    built = folder / "built.pickle"
    with (root / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if built.exists():
            value: T = pickle.loads(built.read_bytes())
            return value
        folder.mkdir(exist_ok=True)
        value = build(folder)
        built.write_bytes(pickle.dumps(value))
        return value


# The longest files first (pytest-xdist hands whole files to its workers in this order): a long file that
# starts last keeps the run going after the other workers have finished.
LONG_FIRST = ("tests/browser/", "tests/property/", "tests/integration/test_schemathesis.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        where = item.nodeid
        return next((n for n, prefix in enumerate(LONG_FIRST) if where.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # The process that started the run (not a worker) drops the databases its processes shared.
    if hasattr(session.config, "workerinput") or PG_ADMIN_URL is None:
        return
    for kind in SHARED_DATABASES:
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{shared_database(session.config, kind)}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    # Where the browser tests left their screenshots (tests/browser; docs/pages.md, "Browser tests"): the run's
    # temporary folder, which the workers' folders are in (pytest's own tmp_path_factory fixture reads it so).
    factory: pytest.TempPathFactory | None = getattr(config, "_tmp_path_factory", None)
    if factory is None or hasattr(config, "workerinput"):
        return
    folder = factory.getbasetemp() / "screenshots"
    if folder.is_dir():
        terminalreporter.write_line(f"browser tests' screenshots and axe-core results: {folder}")


# The shared databases' kinds, in the order they are dropped (copies before what they were copied from).
SHARED_DATABASES = ("facility", "tpl")


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
def sqlite_template(request: pytest.FixtureRequest) -> Path:
    def build(folder: Path) -> Path:
        path = folder / "template.sqlite3"
        upgrade_database(f"sqlite+aiosqlite:///{path}")
        return path

    return build_once(request, "sqlite-template", build)


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> str:
    if PG_ADMIN_URL is None:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432 and FUNDAPP_TEST_DATABASE_URL is unset")
    admin_url = PG_ADMIN_URL

    def build(folder: Path) -> str:
        name = shared_database(request.config, "tpl")
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}"')
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
        upgrade_database(_with_database(admin_url, name))
        return name

    return build_once(request, "pg-template", build)


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


# One app per settings' shape in each process, bound to each test's settings and clock: building the routes
# took about as long as the rest of an average test's set-up (fundapp.app.bind).
_APPS: dict[tuple[object, ...], Litestar] = {}
_LOG_SINK = open(os.devnull, "w")  # noqa: SIM115 - open for the process's life
# Every app the tests build (here or in a test) logs through Litestar's queue handler, whose stream handler
# takes the sys.stderr of the moment: one test's captured stream, closed when that test ends while a built
# app lives on. In the tests that handler writes to the sink; pytest's log capture reports each test's records.
litestar_logging.StreamHandler = functools.partial(logging.StreamHandler, _LOG_SINK)  # type: ignore[misc,assignment]


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    shape = shape_of(settings)
    built = _APPS.get(shape)
    if built is None:
        built = _APPS[shape] = create_app(settings, clock=clock)
    else:
        bind(built, settings, clock)
    return built


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
