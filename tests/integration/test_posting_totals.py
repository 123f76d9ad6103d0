"""The posting totals: the postings' sums per account, day, currency, window and source type, kept by the
database on every insert (migration 0019), read by the trial balance, balances and the reports' sums, and
checked against the postings by ``fundapp ledger verify`` and GET /ledger/verify."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command

from fundapp.cli import alembic_config
from fundapp.core.models import Role
from tests.support import LEDGER, Actor, Api, add_fx_rate, line, posted, reversed_entry, run_fundapp

pytestmark = pytest.mark.usefixtures("backend")

# The postings summed by key, as the totals should hold them.
SUMMED = """
SELECT p.account_id, p.entry_date, p.currency, coalesce(p.window_id, 0) AS window_key, e.source_type,
       sum(p.amount) AS amount, sum(p.reporting_amount) AS reporting_amount, count(*) AS postings
  FROM postings p JOIN journal_entries e ON e.id = p.entry_id
 GROUP BY p.account_id, p.entry_date, p.currency, coalesce(p.window_id, 0), e.source_type
"""
KEPT = (
    "SELECT account_id, entry_date, currency, window_key, source_type, amount, reporting_amount, postings "
    "FROM posting_totals"
)
KEPT_MONTHS = (
    "SELECT account_id, month, currency, window_key, source_type, amount, reporting_amount, postings "
    "FROM posting_month_totals"
)


def _rows(api: Api, sql: str) -> set[tuple[Any, ...]]:
    return {tuple(str(value) for value in row) for row in api.db.rows(sql)}


def _by_month(days: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """The day rows of ``_rows(SUMMED)`` summed per month (the day column as the month's first day)."""
    months: dict[tuple[Any, ...], list[int]] = {}
    for account, day, currency, window, source, *values in days:
        sums = months.setdefault((account, day[:8] + "01", currency, window, source), [0, 0, 0])
        for i, value in enumerate(values):
            sums[i] += int(value)
    return {(*key, *(str(v) for v in values)) for key, values in months.items()}


def _history(api: Api) -> Actor:
    """Entries on five days in two currencies, two windows and the pooled fund, two entries on one key, and a
    reversal (its own source type)."""
    fo = api.create_user(Role.FINANCE_OFFICER)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    posted(api, fo, line("1100", "100.00"), line("4100", "-100.00"), entry_date="2026-03-02")
    posted(api, fo, line("1100", "20.00"), line("4100", "-20.00"), entry_date="2026-03-02")
    posted(
        api,
        fo,
        line("1200", "250.00", "EUR", contributor_id=3),
        line("4100", "-250.00", "EUR", contributor_id=3),
        entry_date="2026-03-03",
    )
    posted(api, fo, line("8200", "270.88", window_id=1), line("8100", "-270.88", window_id=1), entry_date="2026-03-04")
    posted(api, fo, line("8200", "10.00", window_id=2), line("8100", "-10.00"), entry_date="2026-03-04")
    reversed_entry(api, fo, 1, entry_date="2026-03-05")
    posted(api, fo, line("1100", "7.00"), line("4100", "-7.00"), entry_date="2026-03-06")
    return fo


def test_the_totals_hold_the_sums_of_every_posting(api: Api) -> None:
    _history(api)
    kept = _rows(api, KEPT)
    assert kept == _rows(api, SUMMED)
    assert _rows(api, KEPT_MONTHS) == _by_month(_rows(api, SUMMED))
    assert api.db.scalar("SELECT count(*) FROM posting_month_totals") == 10
    # Two entries on one key and day are one row, on one key and month one month row: 14 postings in 12 day
    # rows and 10 month rows here.
    assert api.db.scalar("SELECT sum(postings) FROM posting_totals") == api.db.count("postings") == 14
    assert len(kept) == 12


def test_balances_read_from_the_totals_agree_with_the_postings(api: Api) -> None:
    _history(api)
    auditor = api.create_user(Role.AUDITOR)

    def balances(**params: Any) -> list[dict[str, Any]]:
        response = api.client.get(f"{LEDGER}/balances", params=params, headers=auditor.headers)
        assert response.status_code == 200, response.text
        return [(row["key"], row["reporting_amount"]["amount"], row["postings"]) for row in response.json()]

    # By window (the totals) and by window and contributor (the postings): the same windows' sums.
    by_window = balances(group_by="account,window", account=["8200", "8100"])
    assert by_window == [
        ({"account": "8100", "window": 1}, "-270.88", 1),
        ({"account": "8100", "window": None}, "-10.00", 1),
        ({"account": "8200", "window": 1}, "270.88", 1),
        ({"account": "8200", "window": 2}, "10.00", 1),
    ]
    assert balances(group_by="account", account=["8200"], window_id=2) == [({"account": "8200"}, "10.00", 1)]
    assert balances(group_by="account", account=["1100"], as_of="2026-03-04") == [({"account": "1100"}, "120.00", 2)]
    assert balances(group_by="account", account=["1100"], date_from="2026-03-05") == [
        ({"account": "1100"}, "-93.00", 2)
    ]
    trial = api.client.get(f"{LEDGER}/trial-balance", params={"book": "budgetary"}, headers=auditor.headers).json()
    assert trial["balanced"] is True
    rows = {(r["account"], r["reporting_balance"]["amount"]) for r in trial["rows"]}
    assert rows == {("8100", "-280.88"), ("8200", "280.88")}


def test_a_total_changed_behind_the_ledger_is_named_by_the_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(api)
    api.db.execute(
        "UPDATE posting_totals SET amount = amount + 1 WHERE entry_date = '2026-03-04' AND window_key = 2 "
        "AND account_id = (SELECT id FROM ledger_accounts WHERE code = '8200')"
    )
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "ledger", "verify")
    report = api.client.get(f"{LEDGER}/verify", headers=api.create_user(Role.AUDITOR).headers).json()
    problem = (
        "account 8200 on 2026-03-04 (USD, window 2, manual): the totals say 1001 (1000 reporting) in 1 postings, "
        "the postings 1000 (1000 reporting) in 1 postings"
    )
    assert code == 1
    assert out.strip() == f"TOTALS WRONG: {problem}"
    assert report["ok"] is False
    assert report["breaks"] == [] and report["broken_entry"] is None
    assert report["totals"] == [problem]


def test_a_month_total_changed_behind_the_ledger_is_named_by_the_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(api)
    api.db.execute("DELETE FROM posting_month_totals WHERE source_type = 'reversal'")
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "ledger", "verify")
    assert code == 1
    assert out.splitlines() == [
        f"TOTALS WRONG: account {account} in the month of 2026-03-01 (USD, pooled, reversal): the totals say "
        f"0 (0 reporting) in 0 postings, the postings {amount} ({amount} reporting) in 1 postings"
        for account, amount in (("1100", -10000), ("4100", 10000))
    ]


def test_the_migration_sums_the_postings_already_posted(api: Api) -> None:
    _history(api)
    before = _rows(api, KEPT), _rows(api, KEPT_MONTHS)
    config = alembic_config(api.settings.migration_url)
    command.downgrade(config, "0018_chain_seals")
    command.upgrade(config, "head")
    assert (_rows(api, KEPT), _rows(api, KEPT_MONTHS)) == before
    assert before[0] == _rows(api, SUMMED)
    # ...and the trigger is back: a new entry is counted.
    fo = api.create_user(Role.FINANCE_OFFICER)
    posted(api, fo, line("1100", "5.00"), line("4100", "-5.00"), entry_date="2026-03-06")
    assert _rows(api, KEPT) == _rows(api, SUMMED)
    assert _rows(api, KEPT_MONTHS) == _by_month(_rows(api, SUMMED))
