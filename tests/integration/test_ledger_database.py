"""The journal as the database keeps it (issue acceptance 3 and 5).

Posted rows are append-only whoever connects (both backends); on PostgreSQL an entry that does not balance,
or has fewer than two postings, fails at COMMIT even when written by raw SQL. And when someone who can
switch the guards off edits the journal anyway, ``fundapp ledger verify`` and GET /ledger/verify name the
first entry whose hash no longer matches.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from fundapp.core.models import Role
from tests.support import LEDGER, Actor, Api, add_fx_rate, line, posted, reversed_entry, run_fundapp

pytestmark = pytest.mark.usefixtures("backend")


def _journal(api: Api) -> dict[str, list[Any]]:
    return {
        "journal_entries": api.db.rows("SELECT * FROM journal_entries ORDER BY id"),
        "postings": api.db.rows("SELECT * FROM postings ORDER BY id"),
    }


def _history(api: Api) -> Actor:
    """Four entries through the API: USD, EUR with a computed reporting amount, a budgetary one, a reversal."""
    fo = api.create_user(Role.FINANCE_OFFICER)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    posted(api, fo, line("1100", "100.00"), line("4100", "-100.00"), entry_date="2026-03-02")
    posted(
        api,
        fo,
        line("1200", "250.00", "EUR", contributor_id=3),
        line("4100", "-250.00", "EUR", contributor_id=3),
        entry_date="2026-03-03",
    )
    posted(api, fo, line("8200", "270.88", window_id=1), line("8100", "-270.88", window_id=1), entry_date="2026-03-04")
    reversed_entry(api, fo, 1, entry_date="2026-03-05")
    return fo


def _skip_unless_postgresql(api: Api) -> None:
    if api.db.dialect != "postgresql":
        pytest.skip("the balance rule is enforced by a deferred constraint trigger on PostgreSQL only")


# ---------------------------------------------------------------- append-only


STATEMENTS = [
    "UPDATE journal_entries SET description = 'forged' WHERE id = 2",
    "UPDATE journal_entries SET entry_date = entry_date WHERE id = 1",
    "DELETE FROM journal_entries WHERE id = 4",
    "UPDATE postings SET amount = amount + 1 WHERE entry_id = 2 AND line_no = 1",
    "UPDATE postings SET reporting_amount = 0",
    "DELETE FROM postings WHERE entry_id = 3",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_the_database_refuses_to_change_posted_rows(api: Api, statement: str) -> None:
    _history(api)
    before = _journal(api)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        api.db.execute(statement)
    assert _journal(api) == before


@pytest.mark.parametrize("table", ["journal_entries", "postings"])
def test_postgresql_refuses_to_truncate_the_journal(api: Api, table: str) -> None:
    _skip_unless_postgresql(api)
    _history(api)
    before = _journal(api)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        api.db.execute(f"TRUNCATE {table} CASCADE")
    assert _journal(api) == before


# ---------------------------------------------------------------- the balance rule at COMMIT (PostgreSQL)

Posting = tuple[str, str, int, int]  # account code, currency, amount, reporting amount (minor units)


def _account_ids(api: Api) -> dict[str, int]:
    return {code: int(id_) for code, id_ in api.db.rows("SELECT code, id FROM ledger_accounts")}


def _insert_entry(conn: sa.Connection, accounts: dict[str, int], entry_id: int, postings: list[Posting]) -> None:
    """A journal entry and its postings written by raw SQL, bypassing the service entirely."""
    conn.execute(
        sa.text(
            "INSERT INTO journal_entries (id, entry_date, period_id, description, source_type, payload_hash, "
            "posted_by_label, posted_at, prev_hash, hash) VALUES (:id, :day, '2026-03', 'raw SQL', 'manual', "
            ":payload, 'psql', :at, :prev, :hash)"
        ),
        {
            "id": entry_id,
            "day": "2026-03-10",
            "payload": secrets.token_hex(32),
            "at": "2026-03-16 09:00:00+00",
            "prev": secrets.token_hex(32),
            "hash": secrets.token_hex(32),
        },
    )
    _insert_postings(conn, accounts, entry_id, postings)


def _insert_postings(
    conn: sa.Connection, accounts: dict[str, int], entry_id: int, postings: list[Posting], *, first_line: int = 1
) -> None:
    for n, (code, currency, amount, reporting) in enumerate(postings, start=first_line):
        conn.execute(
            sa.text(
                "INSERT INTO postings (entry_id, line_no, account_id, currency, amount, reporting_amount, entry_date) "
                "VALUES (:entry, :n, :account, :currency, :amount, :reporting, :day)"
            ),
            {
                "entry": entry_id,
                "n": n,
                "account": accounts[code],
                "currency": currency,
                "amount": amount,
                "reporting": reporting,
                "day": "2026-03-10",
            },
        )


UNBALANCED: dict[str, tuple[list[Posting], str]] = {
    "in-its-currency": (
        [("1100", "USD", 10000, 10000), ("4100", "USD", -9000, -9000)],
        "journal entry 5 does not balance in USD",
    ),
    "in-the-reporting-currency": (
        [("1100", "EUR", 10000, 10835), ("4100", "EUR", -10000, -10800)],
        "journal entry 5 does not balance in the reporting currency",
    ),
    "across-the-books": (
        [("1100", "USD", 10000, 10000), ("8100", "USD", -10000, -10000)],
        "journal entry 5 does not balance in USD",
    ),
    "a-single-posting": ([("1100", "USD", 0, 0)], "journal entry 5 has fewer than two postings"),
    "no-postings": ([], "journal entry 5 has fewer than two postings"),
}


@pytest.mark.parametrize("case", list(UNBALANCED))
def test_an_unbalanced_entry_written_by_raw_sql_fails_at_commit(api: Api, case: str) -> None:
    _skip_unless_postgresql(api)
    _history(api)
    accounts = _account_ids(api)
    postings, message = UNBALANCED[case]
    before = _journal(api)
    written = False
    with pytest.raises(sa.exc.IntegrityError, match=message), api.db.engine.begin() as conn:
        _insert_entry(conn, accounts, 5, postings)
        written = True  # every INSERT was accepted: the check is deferred to COMMIT
    assert written
    assert _journal(api) == before


@pytest.mark.parametrize(
    "lines",
    [[("5400", "EUR", 100, 108)], [("5400", "EUR", 100, 108), ("1100", "EUR", -100, -108)]],
    ids=["unbalancing", "balanced-pair"],
)
def test_a_posting_cannot_be_added_to_a_posted_entry(api: Api, lines: list[tuple[str, str, int, int]]) -> None:
    """A posted entry cannot grow: not by a line that unbalances it, nor by a pair that keeps it balanced (both
    backends: SQLite's trigger counts the entry's postings against the number it was posted with)."""
    _history(api)
    accounts = _account_ids(api)
    before = _journal(api)
    with (
        pytest.raises(
            sa.exc.DBAPIError, match=r"journal entry (2 )?is posted; a posting can only be added with its entry"
        ),
        api.db.engine.begin() as conn,
    ):
        _insert_postings(conn, accounts, 2, lines, first_line=3)
    assert _journal(api) == before


def test_a_balanced_entry_written_by_raw_sql_commits(api: Api) -> None:
    """The check refuses what does not balance, not everything: a balanced raw entry is accepted (and then
    named by the chain verification, since nobody linked it into the chain)."""
    _skip_unless_postgresql(api)
    _history(api)
    accounts = _account_ids(api)
    with api.db.engine.begin() as conn:
        _insert_entry(
            conn,
            accounts,
            5,
            [("1100", "EUR", 10000, 10835), ("4100", "EUR", -10000, -10800), ("4300", "EUR", 0, -35)],
        )
    assert api.db.count("journal_entries") == 5
    report = api.client.get(f"{LEDGER}/verify", headers=api.create_user(Role.AUDITOR).headers).json()
    assert report["ok"] is False
    assert report["broken_entry"] == 5


# ---------------------------------------------------------------- tampering is named by the verification


def _disable_guard(api: Api, table: str, event: str) -> None:
    """What only someone with the database owner's rights can do: switch the append-only guard off."""
    if api.db.dialect == "postgresql":
        api.db.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    else:
        api.db.execute(f"DROP TRIGGER {table}_no_{event}")


def _verify_everywhere(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, dict[str, Any]]:
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "ledger", "verify")
    response = api.client.get(f"{LEDGER}/verify", headers=api.create_user(Role.AUDITOR).headers)
    assert response.status_code == 200, response.text
    return code, out, response.json()


def test_an_untouched_ledger_verifies(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(api)
    head = api.db.scalar("SELECT hash FROM journal_entries WHERE id = 4")
    code, out, report = _verify_everywhere(api, monkeypatch, capsys)
    assert code == 0
    assert out.strip() == f"OK: 4 journal entries verified; chain head {head}"
    assert report == {
        "ok": True,
        "entries": 4,
        "head": head,
        "broken_entry": None,
        "reason": None,
        "breaks": [],
        "totals": [],
    }


def test_an_empty_ledger_verifies(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, report = _verify_everywhere(api, monkeypatch, capsys)
    assert code == 0
    assert out.startswith("OK: 0 journal entries verified")
    assert report["ok"] is True
    assert report["entries"] == 0


CONTENT = "its content or postings do not match its hash"
TAMPERING = {
    "a-posting-amount": ("postings", "UPDATE postings SET amount = amount + 1 WHERE entry_id = 2 AND line_no = 1", 2),
    "a-reporting-amount": (
        "postings",
        "UPDATE postings SET reporting_amount = reporting_amount - 1 WHERE entry_id = 2 AND line_no = 2",
        2,
    ),
    "a-posting-account": (
        "postings",
        "UPDATE postings SET account_id = (SELECT id FROM ledger_accounts WHERE code = '1100') "
        "WHERE entry_id = 3 AND line_no = 1",
        3,
    ),
    "a-posting-dimension": ("postings", "UPDATE postings SET contributor_id = 4 WHERE entry_id = 2", 2),
    "an-entry-description": ("journal_entries", "UPDATE journal_entries SET description = 'forged' WHERE id = 3", 3),
    "an-entry-date": ("journal_entries", "UPDATE journal_entries SET entry_date = '2026-03-09' WHERE id = 1", 1),
    "an-entry-author": ("journal_entries", "UPDATE journal_entries SET posted_by_label = 'someone' WHERE id = 4", 4),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_an_edited_row_is_named_by_the_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    _history(api)
    table, statement, entry = TAMPERING[case]
    _disable_guard(api, table, "update")
    api.db.execute(statement)
    code, out, report = _verify_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert f"BROKEN at journal entry {entry}: {CONTENT}" in out
    assert report["ok"] is False
    assert report["broken_entry"] == entry
    assert report["reason"] == CONTENT
    assert report["entries"] == 4  # every entry is read; the one edited is the only break
    assert report["breaks"] == [{"entry": entry, "reason": CONTENT}]


def test_a_broken_link_is_named_by_the_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(api)
    _disable_guard(api, "journal_entries", "update")
    api.db.execute("UPDATE journal_entries SET prev_hash = :h WHERE id = 3", h="0" * 64)
    code, out, report = _verify_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert "BROKEN at journal entry 3: its link to the previous entry is broken" in out
    assert (report["ok"], report["broken_entry"]) == (False, 3)


def test_a_deleted_posting_is_named_by_the_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(api)
    _disable_guard(api, "postings", "delete")
    api.db.execute("DELETE FROM postings WHERE entry_id = 3 AND line_no = 2")
    code, out, report = _verify_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert f"BROKEN at journal entry 3: {CONTENT}" in out
    assert (report["ok"], report["broken_entry"]) == (False, 3)


def test_a_deleted_entry_is_named_by_the_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(api)
    _disable_guard(api, "postings", "delete")
    _disable_guard(api, "journal_entries", "delete")
    api.db.execute("DELETE FROM postings WHERE entry_id = 2")
    api.db.execute("DELETE FROM entry_requests WHERE entry_id = 2")  # the request that posted it, too
    api.db.execute("DELETE FROM journal_entries WHERE id = 2")
    code, out, report = _verify_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert "BROKEN at journal entry 2: entry 2 is missing" in out
    assert (report["ok"], report["broken_entry"]) == (False, 2)
