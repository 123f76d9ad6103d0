"""``fundapp backup`` while deposits are being made, ``fundapp restore`` into a new database: the copy's ledger
and audit chains verify and its books balance (docs/operations.md, "Backups"), on both backends."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.models import Role
from tests import conftest
from tests.support import Api, DatabaseProbe, LiveServer, add_contributor, run_fundapp

DEPOSIT = "/api/v1/contributions"


@pytest.fixture
def restored_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database to restore into."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    assert conftest.PG_ADMIN_URL is not None
    name = f"fundapp_restored_{os.getpid()}_{next(conftest._counter)}"
    conftest._pg_admin_execute(f'CREATE DATABASE "{name}"')
    yield conftest._with_database(conftest.PG_ADMIN_URL, name)
    conftest._pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _depositing(url: str, headers: dict[str, str], contributor: int, stop: threading.Event, made: list[int]) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        n = 0
        while not stop.is_set() or n < 3:
            n += 1
            body = {"contributor_id": contributor, "value_date": "2026-03-16", "currency": "USD", "amount": f"{n}.00"}
            response = client.post(DEPOSIT, json=body)
            assert response.status_code == 201, response.text
            made.append(n)


def test_a_backup_taken_during_deposits_restores_to_a_verified_balanced_database(
    api: Api,
    settings: Settings,
    clock: FrozenClock,
    restored_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    contributor = add_contributor(api, api.create_user(Role.SECRETARIAT_ADMIN), "Government of Norway", country="NOR")
    path = tmp_path / "fundapp.backup"
    stop, made = threading.Event(), []
    with LiveServer(create_app(settings, clock=clock)) as server:
        worker = threading.Thread(target=_depositing, args=(server.url, officer.headers, contributor, stop, made))
        worker.start()
        try:
            while len(made) < 3:  # deposits are under way
                worker.join(0.05)
                assert worker.is_alive()
            code, out, err = run_fundapp(api, monkeypatch, capsys, "backup", str(path))
            during = len(made)
        finally:
            stop.set()
            worker.join(60)
    assert code == 0, err
    assert f"written to {path}" in out
    assert len(made) > during >= 3  # deposits went on before, during and after the backup

    monkeypatch.setenv("FUNDAPP_DATABASE_URL", restored_url)
    from fundapp import cli

    assert cli.main(["restore", str(path)]) == 0
    assert "restored into" in capsys.readouterr().out
    assert cli.main(["ledger", "verify"]) == 0, capsys.readouterr()
    assert capsys.readouterr().out.startswith("OK: ")
    assert cli.main(["verify-audit"]) == 0, capsys.readouterr()
    assert capsys.readouterr().out.startswith("OK: ")

    copy = DatabaseProbe(conftest.make_settings(restored_url, tmp_path / "var-restored"))
    try:
        deposits = copy.count("contributions")
        assert 3 <= deposits <= len(made)
        # The trial balance is zero: per book and currency, and per book in the reporting currency.
        assert (
            copy.rows(
                "SELECT a.book, p.currency, sum(p.amount) FROM postings p "
                "JOIN ledger_accounts a ON a.id = p.account_id GROUP BY a.book, p.currency HAVING sum(p.amount) <> 0"
            )
            == []
        )
        assert (
            copy.rows(
                "SELECT a.book, sum(p.reporting_amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "GROUP BY a.book HAVING sum(p.reporting_amount) <> 0"
            )
            == []
        )
        # Each deposit in the copy has its entry (nothing half-copied).
        assert copy.scalar("SELECT count(*) FROM contributions c JOIN journal_entries e ON e.id = c.entry_id") == (
            deposits
        )
    finally:
        copy.close()


def test_restore_refuses_a_database_that_is_not_empty(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fundapp.backup"
    assert run_fundapp(api, monkeypatch, capsys, "backup", str(path))[0] == 0
    code, _, err = run_fundapp(api, monkeypatch, capsys, "restore", str(path))
    assert code == 1
    assert "restore failed" in err and ("not empty" in err or "exists" in err)
