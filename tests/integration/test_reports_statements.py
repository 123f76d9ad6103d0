"""The financial statements (reports/statements.py) on the generated facility, on SQLite and PostgreSQL.

Every figure is checked against sums taken here with raw SQL over ``postings``, ``journal_entries``,
``ledger_accounts`` and the domain tables, written independently of the report's own queries: the position
balances and each line is its accounts' balance; the surplus is revenue less expenses; the changes in net
assets tie the two positions; the cash flow lines are the cash lines of each kind of entry and add up to
the change in cash; the budget is the admin_budgets row and the actual the sum of 5300; commitments are
the grants' own records; the prior-year column is the statements built for the prior year; each figure's
drill-down lists entries that add up to it. The statements are built once per backend for the module.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient

from fundapp import cli
from fundapp.app import create_app
from fundapp.core.audit import Actor as AuditActor
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from ledger.service import Ledger
from reports import statements
from reports.document import Amount, Label, Rate, Ratio, Report, Row, RowStyle, Table
from reports.i18n import LOCALES, text
from reports.service import report_context
from tests.conftest import BACKENDS, PG_ADMIN_URL, _pg_admin_execute, _with_database, make_settings
from tests.reports_support import BUDGETS, FACILITY_NOW, Facility, FacilityFacts
from tests.support import V1, Api, DatabaseProbe, accepted, approved, assert_refused, load_demo

YEAR = 2026
PRIOR = YEAR - 1
# Built besides the two years of the facility: the year before it started, and the year after it.
BUILT = (PRIOR - 1, PRIOR, YEAR, YEAR + 1)
FINANCIAL_TYPES = ("asset", "liability", "net_assets", "revenue", "expense")


@dataclass
class World:
    backend: str
    settings: Settings
    probe: DatabaseProbe
    facts: FacilityFacts
    reports: dict[int, Report]


async def _build_all(settings: Settings, years: tuple[int, ...], now: datetime = FACILITY_NOW) -> dict[int, Report]:
    database = Database(settings.database_url)
    try:
        built = {}
        for year in years:
            async with database.session(write=False) as session:
                ctx = await report_context(session, settings, now)
                built[year] = await statements.build(ctx, year=year)
        return built
    finally:
        await database.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A private copy of the generated facility (read only here) and its statements for each of BUILT."""
    folder = tmp_path_factory.mktemp("statements")
    copy_name = None
    if request.param == "sqlite":
        template, facts = request.getfixturevalue("facility_sqlite_template")
        path = folder / "facility.sqlite3"
        shutil.copyfile(template, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        template_name, facts = request.getfixturevalue("facility_pg_template")
        assert PG_ADMIN_URL is not None
        copy_name = f"fundapp_statements_{os.getpid()}"
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{copy_name}"')
        _pg_admin_execute(f'CREATE DATABASE "{copy_name}" TEMPLATE "{template_name}"')
        url = _with_database(PG_ADMIN_URL, copy_name)
    settings = make_settings(url, folder / "var")
    probe = DatabaseProbe(settings)
    try:
        yield World(request.param, settings, probe, facts, asyncio.run(_build_all(settings, BUILT)))
    finally:
        probe.close()
        if copy_name is not None:
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')


# ---------------------------------------------------------------- independent sums (raw SQL)


def balances_at(probe: DatabaseProbe, day: date) -> dict[str, int]:
    """Every account's reporting balance (debit positive) at the end of ``day``."""
    rows = probe.rows(
        "SELECT a.code, SUM(p.reporting_amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE p.entry_date <= :day GROUP BY a.code",
        day=day,
    )
    return {code: int(total) for code, total in rows}


def type_total(probe: DatabaseProbe, types: tuple[str, ...], first: date | None, last: date) -> int:
    """The reporting sum of the financial accounts of ``types`` over a period (from inception if no first)."""
    listed = ", ".join(f"'{t}'" for t in types)
    return int(
        probe.scalar(
            "SELECT COALESCE(SUM(p.reporting_amount), 0) FROM postings p "
            "JOIN ledger_accounts a ON a.id = p.account_id "
            f"WHERE a.book = 'financial' AND a.type IN ({listed}) "
            "AND p.entry_date >= :first AND p.entry_date <= :last",
            first=first or date(1900, 1, 1),
            last=last,
        )
    )


def cash_of(probe: DatabaseProbe, year: int, where: str, **params: Any) -> int:
    """The reporting sum of the year's cash (1100) lines of the entries that ``where`` selects."""
    return int(
        probe.scalar(
            "SELECT COALESCE(SUM(p.reporting_amount), 0) FROM postings p "
            "JOIN journal_entries e ON e.id = p.entry_id JOIN ledger_accounts a ON a.id = p.account_id "
            f"WHERE a.code = '1100' AND p.entry_date BETWEEN :first AND :last AND ({where})",
            first=date(year, 1, 1),
            last=date(year, 12, 31),
            **params,
        )
    )


def cash_against(probe: DatabaseProbe, year: int, counter: str) -> int:
    """Cash moved by manual entries with a line on ``counter`` (interest, direct costs, bank charges)."""
    return cash_of(
        probe,
        year,
        "e.source_type = 'manual' AND EXISTS (SELECT 1 FROM postings q JOIN ledger_accounts b ON b.id = q.account_id "
        "WHERE q.entry_id = e.id AND b.code = :counter)",
        counter=counter,
    )


# ---------------------------------------------------------------- reading the report


def figures(table: Table, column: str = "current") -> dict[str, Any]:
    """Label key -> the cell of ``column`` for every row whose first cell is a label."""
    index = table.column(column)
    return {row.cells[0].key: row.cells[index] for row in table.rows if isinstance(row.cells[0], Label)}


def minor(cell: Any) -> int:
    assert isinstance(cell, Amount), cell
    return cell.minor


def money(table: Table, key: str, column: str = "current") -> int:
    return minor(figures(table, column)[key])


def amounts(report: Report) -> Iterator[tuple[Table, Row, Amount]]:
    for table in report.tables:
        for row in table.rows:
            for cell in row.cells:
                if isinstance(cell, Amount):
                    yield table, row, cell


# ---------------------------------------------------------------- the statements


def test_the_statement_of_financial_position_balances_and_each_line_is_its_accounts_balance(world: World) -> None:
    for year in BUILT:
        position = world.reports[year].table("financial_position")
        raw = balances_at(world.probe, date(year, 12, 31))
        total_assets = money(position, "statements.position.total_assets")
        total_liabilities = money(position, "statements.position.total_liabilities")
        total_net_assets = money(position, "statements.position.total_net_assets")

        assert total_assets == total_liabilities + total_net_assets, year
        assert money(position, "statements.position.total_liabilities_net_assets") == total_assets
        assert total_assets == type_total(world.probe, ("asset",), None, date(year, 12, 31))
        assert total_liabilities == -type_total(world.probe, ("liability",), None, date(year, 12, 31))
        for key, code, sign in (
            ("statements.position.cash", "1100", 1),
            ("statements.position.contributions_receivable", "1200", 1),
            ("statements.position.interest_receivable", "1210", 1),
            ("statements.position.grants_payable", "2100", -1),
            ("statements.position.refunds_payable", "2200", -1),
            ("statements.position.deferred_revenue", "2300", -1),
            ("statements.position.unapplied", "2400", -1),
            ("statements.position.net_assets_pooled", "3100", -1),
            ("statements.position.net_assets_windows", "3200", -1),
        ):
            assert money(position, key) == sign * raw.get(code, 0), (year, key)
        surplus_to_date = -type_total(world.probe, ("revenue", "expense"), None, date(year, 12, 31))
        assert money(position, "statements.position.accumulated_surplus") == surplus_to_date
    # The facility's year: a real balance sheet, not zeros.
    current = world.reports[YEAR].table("financial_position")
    for key in (
        "statements.position.cash",
        "statements.position.contributions_receivable",
        "statements.position.grants_payable",
        "statements.position.unapplied",
    ):
        assert money(current, key) > 0, key


def test_the_surplus_is_revenue_less_expenses_of_the_year(world: World) -> None:
    for year in (PRIOR, YEAR):
        performance = world.reports[year].table("financial_performance")
        first, last = date(year, 1, 1), date(year, 12, 31)
        revenue = -type_total(world.probe, ("revenue",), first, last)
        expenses = type_total(world.probe, ("expense",), first, last)

        assert money(performance, "statements.performance.total_revenue") == revenue
        assert money(performance, "statements.performance.total_expenses") == expenses
        assert money(performance, "statements.performance.surplus") == revenue - expenses
        assert revenue > 0 and expenses > 0
        # Each line is its account's movement in the year: the difference of two year-end balances.
        start, end = balances_at(world.probe, date(year - 1, 12, 31)), balances_at(world.probe, last)
        for key, code, sign in (
            ("statements.performance.contributions", "4100", -1),
            ("statements.performance.investment_income", "4200", -1),
            ("statements.performance.fx_gains_realised", "4300", -1),
            ("statements.performance.fx_gains_unrealised", "4310", -1),
            ("statements.performance.transfers", "5100", 1),
            ("statements.performance.aa_fee", "5200", 1),
            ("statements.performance.direct_costs", "5300", 1),
            ("statements.performance.bank_charges", "5400", 1),
            ("statements.performance.fx_losses_realised", "5500", 1),
            ("statements.performance.fx_losses_unrealised", "5510", 1),
        ):
            assert money(performance, key) == sign * (end.get(code, 0) - start.get(code, 0)), (year, key)


def test_the_changes_in_net_assets_tie_the_opening_and_closing_positions(world: World) -> None:
    for year in (PRIOR, YEAR):
        report = world.reports[year]
        changes = report.table("changes_in_net_assets")
        position = report.table("financial_position")
        opening = money(changes, "statements.changes.opening")
        surplus = money(changes, "statements.performance.surplus")
        direct = money(changes, "statements.changes.direct")
        closing = money(changes, "statements.changes.closing")

        assert closing == money(position, "statements.position.total_net_assets")
        assert opening == money(position, "statements.position.total_net_assets", "prior")
        assert opening + surplus + direct == closing
        assert surplus == money(report.table("financial_performance"), "statements.performance.surplus")
        # No closing entries and nothing posted to the net assets accounts in the facility.
        assert direct == 0
        assert closing == -type_total(world.probe, ("net_assets", "revenue", "expense"), None, date(year, 12, 31))


def test_the_cash_flow_statement_classifies_every_cash_line_and_ties_to_the_change_in_cash(world: World) -> None:
    for year in (PRIOR, YEAR):
        cash = world.reports[year].table("cash_flow")
        opening = balances_at(world.probe, date(year - 1, 12, 31)).get("1100", 0)
        closing = balances_at(world.probe, date(year, 12, 31)).get("1100", 0)
        expected = {
            "statements.cash.contributors": cash_of(
                world.probe, year, "e.source_type = 'contribution' AND p.amount > 0"
            ),
            "statements.cash.aa_fee": cash_of(world.probe, year, "e.source_type = 'contribution' AND p.amount < 0"),
            "statements.cash.partner_payments": cash_of(world.probe, year, "e.source_type = 'grant_disbursement'"),
            "statements.cash.partner_refunds": cash_of(world.probe, year, "e.source_type = 'grant_refund'"),
            "statements.cash.investment_income": cash_against(world.probe, year, "4200"),
            "statements.cash.direct_costs": cash_against(world.probe, year, "5300"),
            "statements.cash.bank_charges": cash_against(world.probe, year, "5400"),
            "statements.cash.fx_effect": cash_of(world.probe, year, "e.source_type = 'revaluation'"),
            "statements.cash.other": 0,
        }
        shown = {key: money(cash, key) for key in expected}

        assert shown == expected, year
        assert money(cash, "statements.cash.opening") == opening
        assert money(cash, "statements.cash.closing") == closing
        assert money(cash, "statements.cash.net_change") == closing - opening
        operating = money(cash, "statements.cash.net_operating")
        assert operating == sum(v for k, v in shown.items() if k != "statements.cash.fx_effect")
        assert operating + shown["statements.cash.fx_effect"] == closing - opening
        # Receipts are positive and payments negative, each of them present in the facility.
        assert shown["statements.cash.contributors"] > 0 and shown["statements.cash.investment_income"] > 0
        assert shown["statements.cash.partner_payments"] < 0 and shown["statements.cash.aa_fee"] < 0
        assert shown["statements.cash.direct_costs"] < 0 and shown["statements.cash.bank_charges"] < 0
    assert money(world.reports[YEAR].table("cash_flow"), "statements.cash.partner_refunds") > 0


def test_budget_against_actual_is_the_approved_budget_and_the_direct_costs_of_the_year(world: World) -> None:
    table = world.reports[YEAR].table("budget_comparison")
    for row, year in zip(table.rows, (YEAR, PRIOR), strict=True):
        assert row.cells[0] == Label.of("statements.budget.row", year=year)
        stored = world.probe.rows("SELECT amount, currency, decision_id FROM admin_budgets WHERE year = :y", y=year)
        assert len(stored) == 1
        amount, currency, decision_id = stored[0]
        actual = int(
            world.probe.scalar(
                "SELECT SUM(p.reporting_amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE a.code = '5300' AND p.entry_date BETWEEN :first AND :last",
                first=date(year, 1, 1),
                last=date(year, 12, 31),
            )
        )
        cells = dict(zip((c.key for c in table.columns), row.cells, strict=True))

        assert cells["approved"] == Amount(int(amount), currency)
        assert Decimal(int(amount)) / 100 == Decimal(BUDGETS[year])
        assert minor(cells["budget"]) == int(amount) and cells["rate"] is None  # approved in the reporting currency
        assert minor(cells["actual"]) == actual
        assert minor(cells["variance"]) == int(amount) - actual
        assert cells["used"] == Ratio(Decimal(actual) / Decimal(int(amount)))
        decision = world.probe.rows("SELECT kind, status, result FROM decisions WHERE id = :d", d=decision_id)
        assert decision == [("admin_budget", "closed", "adopted")]
        assert Label.of("statements.note.budget.approved", year=year, decision=decision_id) in (
            world.reports[YEAR].notes[1].paragraphs
        )


def test_commitments_not_yet_recognised_are_the_grants_own_records(world: World) -> None:
    # The grants' records describe the end of the facility's last year: nothing is posted after it.
    assert str(world.probe.scalar("SELECT MAX(entry_date) FROM journal_entries")) <= f"{YEAR}-12-31"
    commitments = world.reports[YEAR].table("commitments")
    awaiting = world.probe.scalar("SELECT COALESCE(SUM(amount), 0) FROM grants WHERE status = 'awaiting_agreement'")
    unrecognised = world.probe.scalar(
        "SELECT COALESCE(SUM(t.amount), 0) FROM grant_tranches t JOIN grants g ON g.id = t.grant_id "
        "WHERE g.status IN ('active', 'suspended') AND t.status = 'pending'"
    )

    assert money(commitments, "statements.commitments.allocated") == int(awaiting) > 0
    assert money(commitments, "statements.commitments.signed") == int(unrecognised) > 0
    assert money(commitments, "statements.commitments.total") == int(awaiting) + int(unrecognised)


def test_the_prior_year_column_is_the_statements_of_the_prior_year(world: World) -> None:
    current, prior = world.reports[YEAR], world.reports[PRIOR]
    for key in ("financial_position", "financial_performance", "changes_in_net_assets", "cash_flow", "commitments"):
        this_year, last_year = current.table(key), prior.table(key)
        assert [r.cells[0] for r in this_year.rows] == [r.cells[0] for r in last_year.rows], key
        assert [r.cells[2] for r in this_year.rows] == [r.cells[1] for r in last_year.rows], key
    assert current.table("budget_comparison").rows[1] == prior.table("budget_comparison").rows[0]
    rates_now, rates_then = current.table("exchange_rates"), prior.table("exchange_rates")
    assert [r.cells[3:] for r in rates_now.rows] == [r.cells[1:3] for r in rates_then.rows]


def test_the_closing_rates_are_the_last_rates_of_each_year(world: World) -> None:
    table = world.reports[YEAR].table("exchange_rates")
    shown = {row.cells[0]: row.cells[1:] for row in table.rows}

    assert set(shown) == {"CHF", "EUR", "GBP", "JPY", "SEK"}
    for currency, (rate, day, prior_rate, prior_day) in shown.items():
        for year, value, on in ((YEAR, rate, day), (PRIOR, prior_rate, prior_day)):
            expected = world.probe.rows(
                "SELECT rate, rate_date FROM ledger_fx_rates WHERE currency = :c AND rate_date = "
                "(SELECT MAX(rate_date) FROM ledger_fx_rates WHERE currency = :c AND rate_date <= :d)",
                c=currency,
                d=date(year, 12, 31),
            )
            assert [(value, on)] == [
                (Rate(Decimal(r)), d if isinstance(d, date) else date.fromisoformat(d)) for r, d in expected
            ]
            assert on == date(year, 12, 31)  # the facility records a closing rate on the last day


def test_a_year_without_activity_shows_zeros_that_still_balance(world: World) -> None:
    before = world.reports[PRIOR - 1]
    position = before.table("financial_position")

    assert all(cell.minor == 0 for _t, _r, cell in amounts(before))
    assert money(position, "statements.position.total_assets") == 0
    for row in before.table("budget_comparison").rows:  # no budget: nothing to compare, no ratio
        approved, rate, budget, actual, variance, used = row.cells[1:]
        assert (approved, rate, budget, variance, used) == (None, None, None, None, Ratio(None))
        assert minor(actual) == 0
    assert before.table("exchange_rates").rows == ()
    # The year after, under way on the facility's clock (interim statements up to 20 January 2027): nothing
    # posted in it, every balance carried over from the end of the facility.
    after = world.reports[YEAR + 1]
    assert after.date_to == FACILITY_NOW.date() and after.parameters["interim"] == "true"
    assert money(after.table("financial_performance"), "statements.performance.surplus_interim") == 0
    assert money(after.table("financial_position"), "statements.position.total_assets") == money(
        world.reports[YEAR].table("financial_position"), "statements.position.total_assets"
    )


def test_every_money_figure_from_the_ledger_carries_its_drill_down(world: World) -> None:
    for report in (world.reports[YEAR], world.reports[PRIOR]):
        for table, row, cell in amounts(report):
            assert cell.currency == world.settings.reporting_currency or table.key == "budget_comparison"
            if table.key == "budget_comparison" and row.cells.index(cell) in (1, 3):
                assert cell.entries is None  # the approved budget is a decision, not the ledger
                continue
            assert cell.entries is not None, (table.key, row.cells[0])
            assert cell.entries.url().startswith("/api/v1/ledger/entries?")
    position = world.reports[YEAR].table("financial_position")
    cash = figures(position)["statements.position.cash"]
    assert cash.entries.accounts == ("1100",) and cash.entries.date_to == date(YEAR, 12, 31)


def test_each_drill_down_lists_the_entries_that_make_up_its_figure(world: World) -> None:
    """Through the HTTP API: the entries behind a figure, summed on the figure's accounts and dates."""
    _user_id, token, _roles = world.facts.tokens["auditor"]
    headers = {"Authorization": f"Bearer {token}"}
    report = world.reports[YEAR]
    performance = figures(report.table("financial_performance"))
    cash = figures(report.table("cash_flow"))
    position = figures(report.table("financial_position"))
    # (figure, the account whose lines in the listed entries make it up, its sign on the report)
    picks: list[tuple[Amount, str, int]] = [
        (performance["statements.performance.direct_costs"], "5300", 1),
        (performance["statements.performance.transfers"], "5100", 1),
        (cash["statements.cash.partner_payments"], "1100", 1),
        (cash["statements.cash.fx_effect"], "1100", 1),
        (position["statements.position.grants_payable"], "2100", -1),
    ]
    app = create_app(world.settings, clock=FrozenClock(FACILITY_NOW))
    with TestClient(app, base_url="http://testserver.local") as client:
        for figure, account, sign in picks:
            assert figure.entries is not None
            total, offset, listed = 0, 0, 0
            while True:
                page = accepted(client.get(f"{figure.entries.url()}&limit=500&offset={offset}", headers=headers))
                for entry in page["items"]:
                    for posting in entry["postings"]:
                        if posting["account"] == account:
                            total += round(Decimal(posting["reporting_amount"]["amount"]) * 100)
                listed += len(page["items"])
                offset += 500
                if offset >= page["total"]:
                    break
            assert listed > 0
            assert sign * total == figure.minor, figure.entries.url()


# ---------------------------------------------------------------- words


def test_every_label_speaks_english_spanish_and_french_with_the_ipsas_titles(world: World) -> None:
    report = world.reports[YEAR]
    labels = [report.title]
    for table in report.tables:
        labels += [table.title, *(c.label for c in table.columns)]
        labels += [cell for row in table.rows for cell in row.cells if isinstance(cell, Label)]
    labels += [p for note in report.notes for p in (note.title, *note.paragraphs) if isinstance(p, Label)]
    for label in labels:
        words = {locale: text(label, locale) for locale in LOCALES}
        assert all(words.values()) and "{" not in "".join(words.values()), label
    titles = {t.key: t.title for t in report.tables}
    expected = {
        "financial_position": ("Estado de situación financiera", "État de la situation financière"),
        "financial_performance": ("Estado de rendimiento financiero", "État de la performance financière"),
        "changes_in_net_assets": (
            "Estado de cambios en los activos netos/patrimonio",
            "État des variations de l'actif net",
        ),
        "cash_flow": ("Estado de flujos de efectivo", "Tableau des flux de trésorerie"),
        "budget_comparison": (
            "Estado de comparación de los importes presupuestados y realizados",
            "État comparatif des montants budgétisés et des montants réels",
        ),
    }
    for key, (es, fr) in expected.items():
        assert text(titles[key], "es").startswith(es) and text(titles[key], "fr").startswith(fr), key
    assert report.name == "financial-statements"
    assert (report.date_from, report.date_to) == (date(YEAR, 1, 1), date(YEAR, 12, 31))
    assert [c.key for c in report.table("financial_position").columns] == ["item", "current", "prior"]
    assert [text(c.label, "en") for c in report.table("cash_flow").columns[1:]] == [str(YEAR), str(PRIOR)]
    assert all(
        row.style in (RowStyle.HEADING, RowStyle.SUBTOTAL, RowStyle.TOTAL, RowStyle.LINE)
        for t in report.tables
        for row in t.rows
    )


# ---------------------------------------------------------------- the demo


def test_the_demo_shows_every_statement_line_it_is_meant_to(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``fundapp demo`` (what ``make run`` loads), loaded today: interest, bank charges, direct costs and
    budgets in both of its fee years, and statements that balance and tie; the year of its last day shows the
    interest accrued then."""
    story = load_demo(api, monkeypatch, capsys)
    before = api.db.snapshot("journal_entries", "decisions", "admin_budgets")
    assert cli.main(["demo"], clock=api.clock) == 0
    assert api.db.snapshot("journal_entries", "decisions", "admin_budgets") == before
    fee_years = (story.year(2025), story.year(2026))
    years = tuple(sorted({*fee_years, story.last_day.year}))
    built = asyncio.run(_build_all(api.settings, years, api.clock.now()))

    for report in built.values():
        position = report.table("financial_position")
        assert money(position, "statements.position.total_assets") == money(
            position, "statements.position.total_liabilities"
        ) + money(position, "statements.position.total_net_assets")
        cash = report.table("cash_flow")
        # The year under way is interim: its cash is "at" today, not at 31 December.
        closing = next(k for k in ("statements.cash.closing", "statements.cash.closing_interim") if k in figures(cash))
        assert money(cash, "statements.cash.net_change") == money(cash, closing) - money(
            cash, "statements.cash.opening"
        )
    for year in fee_years:
        report = built[year]
        performance = report.table("financial_performance")
        for key in (
            "statements.performance.contributions",
            "statements.performance.investment_income",
            "statements.performance.aa_fee",
            "statements.performance.direct_costs",
            "statements.performance.bank_charges",
        ):
            assert money(performance, key) > 0, (year, key)
        budget = report.table("budget_comparison").rows[0]
        assert isinstance(budget.cells[3], Amount) and isinstance(budget.cells[6], Ratio)
        # Budget and actual both there (the share used depends on which months of the story fall in the year).
        assert budget.cells[6].value is not None and budget.cells[6].value > 0
    assert money(built[story.last_day.year].table("financial_position"), "statements.position.interest_receivable") > 0
    assert any(money(r.table("cash_flow"), "statements.cash.fx_effect") != 0 for r in built.values())
    assert any(money(r.table("cash_flow"), "statements.cash.partner_refunds") > 0 for r in built.values())
    assert any(
        money(r.table("financial_performance"), "statements.performance.fx_gains_unrealised") > 0
        for r in built.values()
    )


# ---------------------------------------------------------------- reversals


async def _reverse_in_the_ledger(settings: Settings, entry_id: int, day: date) -> None:
    """The ledger's reversal of ``entry_id`` (what a domain's correction posts), as the system."""
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            ledger = Ledger(session, reporting_currency="USD", actor=AuditActor(None, "system"), now=FACILITY_NOW)
            await ledger.reverse(entry_id, entry_date=day, description="reversed in a test")
            await session.commit()
    finally:
        await database.dispose()


def test_a_reversal_counts_as_the_event_it_reverses_and_the_cash_flow_still_ties(facility: Facility) -> None:
    """A deposit and a direct cost of the year reversed through the API: each reversal's cash lines take
    back what its original added to the same cash flow lines (the receipt, the fee, the costs paid)."""
    api = facility.api
    before = asyncio.run(_build_all(api.settings, (YEAR,)))[YEAR].table("cash_flow")
    deposit, costs = (
        int(
            api.db.scalar(
                "SELECT MIN(e.id) FROM journal_entries e WHERE e.source_type = :kind AND e.entry_date >= :first "
                "AND EXISTS (SELECT 1 FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE p.entry_id = e.id AND a.code = :code)",
                kind=kind,
                first=date(YEAR, 1, 1),
                code=code,
            )
        )
        for kind, code in (("contribution", "5200"), ("manual", "5300"))
    )
    lines = {
        entry_id: api.db.rows(
            "SELECT p.amount, p.reporting_amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE p.entry_id = :e AND a.code = '1100'",
            e=entry_id,
        )
        for entry_id in (deposit, costs)
    }
    body = {"entry_date": f"{YEAR}-12-31", "description": "reversed in a test", "reason": "A test of reversals"}
    # The direct cost through the API's four eyes; a deposit is never reversed by itself through the API (its
    # domain corrects it), so its reversal is the ledger's own, as a domain's correction posts it.
    refused = api.client.post(f"{V1}/ledger/entries/{deposit}/reverse", json=body, headers=facility.officer.headers)
    assert_refused(refused, 409, "conflict", field="entry_id", rule="domain-correction")
    approved(api, api.client.post(f"{V1}/ledger/entries/{costs}/reverse", json=body, headers=facility.officer.headers))
    asyncio.run(_reverse_in_the_ledger(api.settings, deposit, date(YEAR, 12, 31)))
    after = asyncio.run(_build_all(api.settings, (YEAR,)))[YEAR].table("cash_flow")

    received = sum(reporting for amount, reporting in lines[deposit] if amount > 0)
    fee = sum(reporting for amount, reporting in lines[deposit] if amount < 0)
    paid = sum(reporting for _amount, reporting in lines[costs])
    assert received > 0 and fee < 0 and paid < 0
    change = {
        key: money(after, key) - money(before, key) for key, cell in figures(before).items() if isinstance(cell, Amount)
    }
    assert change["statements.cash.contributors"] == -received
    assert change["statements.cash.aa_fee"] == -fee
    assert change["statements.cash.direct_costs"] == -paid
    assert change["statements.cash.other"] == 0
    assert change["statements.cash.closing"] == -(received + fee + paid)
    assert money(after, "statements.cash.net_operating") + money(after, "statements.cash.fx_effect") == money(
        after, "statements.cash.closing"
    ) - money(after, "statements.cash.opening")
