"""When the database is in trouble (issue 19): a read-only or full database, and the health checks.

A request the database cannot serve is answered 503 problem+json with ``Retry-After`` and a type naming the
trouble, never 500, and leaves nothing half-written; reading goes on while only writing is refused, because
authenticating a request writes nothing that matters (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, event

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.models import Role
from tests.conftest import make_settings
from tests.support import PROBLEM_TYPE, Actor, Api, accepted, add_contributor, assert_problem

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(120)]

CONTRIBUTIONS = "/api/v1/contributions"


def deposit(client: TestClient[Litestar], officer: Actor, donor: int, key: str, amount: str = "100.00") -> Any:
    body = {"contributor_id": donor, "value_date": "2026-03-16", "amount": amount, "currency": "USD"}
    return client.post(CONTRIBUTIONS, json=body, headers={**officer.headers, "Idempotency-Key": key})


def assert_trouble(response: Any, slug: str) -> dict[str, Any]:
    body = assert_problem(response, 503)
    assert body["type"] == PROBLEM_TYPE + slug, body
    assert int(response.headers["Retry-After"]) > 0
    return body


@contextmanager
def read_only_service(api: Api, tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient[Litestar]]:
    """A second service on the test's database, made read-only: SQLite opened with ``mode=ro`` (chmod would
    not hold against root, nor against a file already open), PostgreSQL with ``default_transaction_read_only``
    on the database (a standby, or an operator's lock)."""
    url = api.settings.database_url
    if api.db.dialect == "sqlite":
        path = url.removeprefix("sqlite+aiosqlite:///")
        read_only_url = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    else:
        name = url.rsplit("/", 1)[1]
        api.db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        read_only_url = url
    settings = make_settings(read_only_url, tmp_path / "var-ro")
    try:
        with TestClient(create_app(settings, clock=clock), base_url="http://testserver.local") as client:
            yield client
    finally:
        if api.db.dialect == "postgresql":
            api.db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')


def test_a_read_only_database_serves_reads_refuses_changes_with_503_and_is_not_ready(
    api: Api, tmp_path: Path, clock: FrozenClock
) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    before = api.db.snapshot("contributions", "journal_entries", "postings")
    with read_only_service(api, tmp_path, clock) as client:
        read_only_checks(api, client, admin, officer, donor)
    assert api.db.snapshot("contributions", "journal_entries", "postings") == before
    # The database writable again, the same service's checks say so (a new one here: the first holds none).
    assert accepted(api.client.get("/health/ready"))["ready"] is True
    assert deposit(api.client, officer, donor, "ro-1").status_code == 201


def read_only_checks(api: Api, client: TestClient[Litestar], admin: Actor, officer: Actor, donor: int) -> None:
    before = api.db.snapshot("contributions", "journal_entries", "postings")

    # Authenticating the token would note its first use: that write fails quietly and the read goes on.
    me = client.get("/api/v1/me", headers=officer.headers)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == officer.username
    assert client.get("/api/v1/contributors", headers=admin.headers).status_code == 200

    refused = deposit(client, officer, donor, "ro-1")
    assert_trouble(refused, "database-read-only")
    assert "nothing was changed" in assert_problem(refused, 503)["detail"]
    assert api.db.snapshot("contributions", "journal_entries", "postings") == before

    for path in ("/health/ready", "/health"):
        assert_trouble(client.get(path), "database-read-only")
    assert accepted(client.get("/health/live")) == {"status": "live"}
    # A login writes (its attempt, its session): refused the same way, not counted as a failure.
    login = client.post("/api/v1/auth/login", json={"username": officer.username, "password": "x" * 12})
    assert_trouble(login, "database-read-only")


def test_the_health_checks_of_a_healthy_service(api: Api) -> None:
    assert accepted(api.client.get("/health/live")) == {"status": "live"}
    ready = accepted(api.client.get("/health/ready"))
    assert ready == {"status": "ok", "ready": True, "database": api.db.dialect}
    assert accepted(api.client.get("/health")) == ready


def test_a_full_sqlite_database_answers_503_database_full_and_keeps_every_accepted_deposit(
    api: Api, backend: str, clock: FrozenClock
) -> None:
    if backend != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's max_page_count")
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    pages = int(api.db.scalar("PRAGMA page_count"))

    def full(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    # Every connection opened meanwhile (the new service's) may not grow the file.
    event.listen(Engine, "connect", full)
    try:
        with TestClient(create_app(api.settings, clock=clock), base_url="http://testserver.local") as client:
            accepted_count = 0
            for n in range(200):
                response = deposit(client, officer, donor, f"full-{n}", amount="1.00")
                if response.status_code == 201:
                    accepted_count += 1
                    continue
                assert_trouble(response, "database-full")
                break
            else:
                pytest.fail("200 deposits fitted in the database's pages")
            assert_trouble(deposit(client, officer, donor, "full-again", amount="1.00"), "database-full")
    finally:
        event.remove(Engine, "connect", full)
    assert api.db.count("contributions") == accepted_count
    assert api.db.scalar("SELECT count(*) FROM journal_entries") == accepted_count
    assert deposit(api.client, officer, donor, "full-again", amount="1.00").status_code == 201
