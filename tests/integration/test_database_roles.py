"""Least privilege on PostgreSQL (docs/operations.md, "Database roles"): ``fundapp db roles`` makes an owner,
which migrations run as, and a service role, which the service connects as; the service role cannot change
the append-only tables, nor switch their guards off, while the service works (a deposit posts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.models import Role
from tests import conftest
from tests.support import Api, DatabaseProbe, add_contributor, sync_url

pytestmark = pytest.mark.postgresql


@dataclass(frozen=True)
class Roles:
    database: str
    owner: str
    service: str

    def url(self, role: str) -> str:
        assert conftest.PG_ADMIN_URL is not None
        parts = urlsplit(conftest.PG_ADMIN_URL)
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit((parts.scheme, f"{role}@{host}", "/" + self.database, "", ""))


@pytest.fixture
def empty_database() -> Iterator[str]:
    if conftest.PG_ADMIN_URL is None:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432 and FUNDAPP_TEST_DATABASE_URL is unset")
    name = f"fundapp_roles_{os.getpid()}_{next(conftest._counter)}"
    conftest._pg_admin_execute(f'CREATE DATABASE "{name}"')
    yield name
    conftest._pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def roles(empty_database: str) -> Iterator[Roles]:
    suffix = f"{os.getpid()}_{next(conftest._counter)}"
    made = Roles(empty_database, f"fundapp_owner_t{suffix}", f"fundapp_service_t{suffix}")
    yield made
    conftest._pg_admin_execute(f'DROP DATABASE IF EXISTS "{empty_database}" WITH (FORCE)')
    for role in (made.service, made.owner):
        conftest._pg_admin_execute(f'DROP ROLE IF EXISTS "{role}"')


def _fundapp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], *args: str) -> int:
    from fundapp import cli

    for key, value in {**conftest.TEST_ENV, "FUNDAPP_VAR_DIR": str(tmp_path / "var"), **env}.items():
        monkeypatch.setenv(key, value)
    return cli.main(list(args))


REFUSED = [
    "UPDATE journal_entries SET description = 'forged'",
    "DELETE FROM journal_entries",
    "UPDATE postings SET amount = 0",
    "DELETE FROM postings",
    "UPDATE audit_events SET action = 'forged'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "TRUNCATE journal_entries CASCADE",
    "ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_append_only",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE postings DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "SET session_replication_role = replica",
    "UPDATE chain_anchors SET count = 0",
    "UPDATE posting_totals SET amount = 0",
    "DELETE FROM posting_totals",
]


def test_migrations_run_as_the_owner_and_the_service_role_cannot_touch_the_append_only_tables(
    roles: Roles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin_url = roles.url("postgres")
    owner_url, service_url = roles.url(roles.owner), roles.url(roles.service)
    env = {
        "FUNDAPP_DATABASE_URL": service_url,
        "FUNDAPP_MIGRATION_DATABASE_URL": owner_url,
        "FUNDAPP_ADMIN_DATABASE_URL": admin_url,
    }
    role_args = ("--owner", roles.owner, "--service", roles.service)
    assert _fundapp(monkeypatch, tmp_path, env, "db", "roles", *role_args) == 0
    assert _fundapp(monkeypatch, tmp_path, env, "db", "upgrade") == 0  # as the owner
    assert _fundapp(monkeypatch, tmp_path, env, "db", "roles", *role_args) == 0  # grants on the new tables
    out = capsys.readouterr().out
    assert "journal_entries" in out and "audit_events" in out

    owners = DatabaseProbe(conftest.make_settings(admin_url, tmp_path / "var"))
    try:
        assert {r[0] for r in owners.rows("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")} == {
            roles.owner
        }
    finally:
        owners.close()

    # The service, connected as its role, works: users, a contributor, a deposit with its entry and audit event.
    settings = conftest.make_settings(service_url, tmp_path / "var")
    clock = FrozenClock(conftest.START)
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver.local") as client:
        probe = DatabaseProbe(settings)
        try:
            api = Api(client, probe, settings, clock)
            officer = api.create_user(Role.FINANCE_OFFICER)
            contributor = add_contributor(api, api.create_user(Role.SECRETARIAT_ADMIN), "Government of Norway")
            body = {"contributor_id": contributor, "value_date": "2026-03-16", "currency": "USD", "amount": "100.00"}
            response = client.post("/api/v1/contributions", json=body, headers=officer.headers)
            assert response.status_code == 201, response.text
            assert probe.count("journal_entries") == 1 and probe.count("audit_events") >= 3
            auditor = api.create_user(Role.AUDITOR)
            assert client.get("/api/v1/audit/verify", headers=auditor.headers).json()["ok"] is True
            assert client.get("/api/v1/ledger/verify", headers=auditor.headers).json()["ok"] is True
        finally:
            probe.close()

    # ...and cannot change what is posted, nor switch the guards off.
    engine = sa.create_engine(sync_url(service_url))
    try:
        for statement in REFUSED:
            with pytest.raises(sa.exc.DBAPIError, match=r"permission denied|must be owner"), engine.begin() as conn:
                conn.execute(sa.text(statement))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM postings")).scalar_one() >= 2
    finally:
        engine.dispose()


def test_db_roles_refuses_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"FUNDAPP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}"}
    assert _fundapp(monkeypatch, tmp_path, env, "db", "roles") == 2
