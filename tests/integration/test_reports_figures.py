"""The figures of sources and uses, funds available, the contributor report and the window portfolio, on the
generated facility (tests/reports_support.py), on SQLite and PostgreSQL.

Every figure is checked against an independent sum: raw SQL over ``postings`` joined to ``journal_entries``
and ``ledger_accounts`` (dated by the entry, not the posting) or over the domain tables (contributions,
disbursements, refunds, grant reports, proposals), written here without the reports' helpers. The
identities the reports promise are checked exactly: sources minus uses equals the balance (and the cash),
contributor shares sum to the window totals, funds available equal the budgetary 8200 balances. Figures'
drill-down links are followed through ``GET /api/v1/ledger/entries`` as an auditor and their postings added
up again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fundapp.core.db import Database
from fundapp.core.errors import NotFound
from reports import contributors, funds_available, portfolio, sources_uses
from reports.document import Amount, Cell, Label, Name, Ratio, Report, Row, Table, Territory
from reports.service import ReportContext, report_context
from tests.reports_support import FACILITY_NOW, Facility
from tests.support import Actor, Api, accepted, assert_books_balanced

pytestmark = pytest.mark.usefixtures("backend")

YEAR_END = date(2026, 12, 31)
PERIOD = (date(2026, 1, 1), YEAR_END)


# ---------------------------------------------------------------- helpers: building, finding, independent sums


def build(facility: Facility, builder: Callable[..., Awaitable[Report]], *args: Any, **kwargs: Any) -> Report:
    async def work(database: Database) -> Report:
        async with database.session() as session:
            ctx: ReportContext = await report_context(session, facility.api.settings, FACILITY_NOW)
            return await builder(ctx, *args, **kwargs)

    return facility.api.db.run(work)


def row(table: Table, first: str) -> Row:
    """The row whose first cell is this label key or this text."""
    for candidate in table.rows:
        cell = candidate.cells[0]
        if (isinstance(cell, Label) and cell.key == first) or cell == first:
            return candidate
    raise KeyError(first)


def cell(table: Table, first: str, column: str) -> Cell:
    return row(table, first).cells[table.column(column)]


def money(value: Cell) -> int:
    assert isinstance(value, Amount), value
    return value.minor


def posted(
    api: Api,
    *accounts: str,
    date_to: date = YEAR_END,
    date_from: date | None = None,
    source_type: str | None = None,
    window_id: int | str | None = "any",
    contributor_id: int | None = None,
    grant_id: int | None = None,
) -> int:
    """Σ reporting_amount of postings on these accounts, dated by their journal entry (raw SQL)."""
    sql = (
        "SELECT coalesce(sum(p.reporting_amount), 0) FROM journal_entries e "
        "JOIN postings p ON p.entry_id = e.id JOIN ledger_accounts a ON a.id = p.account_id "
        f"WHERE a.code IN ({', '.join(repr(a) for a in accounts)}) AND e.entry_date <= :date_to"
    )
    params: dict[str, Any] = {"date_to": date_to}
    if date_from is not None:
        sql += " AND e.entry_date >= :date_from"
        params["date_from"] = date_from
    if source_type is not None:
        sql += " AND e.source_type = :source_type"
        params["source_type"] = source_type
    if window_id is None:
        sql += " AND p.window_id IS NULL"
    elif window_id != "any":
        sql += " AND p.window_id = :window_id"
        params["window_id"] = window_id
    if contributor_id is not None:
        sql += " AND p.contributor_id = :contributor_id"
        params["contributor_id"] = contributor_id
    if grant_id is not None:
        sql += " AND p.grant_id = :grant_id"
        params["grant_id"] = grant_id
    return int(api.db.scalar(sql, **params))


def cents(value: Decimal | str) -> int:
    return int(Decimal(value) * 100)


def drill_down(api: Api, auditor: Actor, figure: Amount) -> int:
    """Follow the figure's link to /ledger/entries (every page) and add up, in the reporting currency, the
    postings of the listed entries that match the link's account and dimension filters."""
    assert figure.entries is not None, figure
    url = figure.entries.url()
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    accounts = set(params.get("account", "").split(",")) - {""}
    found, offset, total = 0, 0, None
    while total is None or offset < total:
        page = accepted(
            api.client.get(parts.path, params={**params, "limit": 200, "offset": offset}, headers=auditor.headers)
        )
        total = int(page["total"])
        for entry in page["items"]:
            for p in entry["postings"]:
                if accounts and p["account"] not in accounts:
                    continue
                if "window_id" in params and p["window_id"] != int(params["window_id"]):
                    continue
                if params.get("window") == "pooled" and p["window_id"] is not None:
                    continue
                if "contributor_id" in params and p["contributor_id"] != int(params["contributor_id"]):
                    continue
                if "grant_id" in params and p["grant_id"] != int(params["grant_id"]):
                    continue
                found += cents(p["reporting_amount"]["amount"])
        offset += 200
    return found


# ---------------------------------------------------------------- sources and uses


def test_sources_and_uses_equal_the_ledger_and_balance_exactly(facility: Facility) -> None:
    api = facility.api
    report = build(facility, sources_uses.build, date_from=PERIOD[0], date_to=PERIOD[1])
    summary = report.table("summary")
    assert_books_balanced(api, facility.auditor)

    def both(key: str) -> tuple[int, int]:
        return money(cell(summary, key, "period")), money(cell(summary, key, "inception"))

    for key, accounts, source_type, sign in (
        ("sources_uses.contributions", ("1100", "5200"), "contribution", 1),
        ("sources_uses.investment_income", ("4200",), None, -1),
        ("sources_uses.other_income", ("1100", "1210"), "revaluation", 1),
        ("sources_uses.transfers", ("8500",), "grant_disbursement", 1),
        ("sources_uses.refunds", ("8500",), "grant_refund", 1),
        ("sources_uses.fee", ("5200",), None, 1),
        ("sources_uses.direct_costs", ("5300",), None, 1),
        ("sources_uses.bank_charges", ("5400",), None, 1),
    ):
        expected = (
            sign * posted(api, *accounts, date_from=PERIOD[0], source_type=source_type),
            sign * posted(api, *accounts, source_type=source_type),
        )
        assert both(key) == expected, key

    # Independent of the ledger: deposits and refunds from the domain tables, transfers from disbursements.
    usd_refunds = int(
        api.db.scalar("SELECT coalesce(sum(amount), 0) FROM grant_refunds WHERE received_on <= :d", d=YEAR_END)
    )
    assert both("sources_uses.refunds")[1] == -usd_refunds < 0
    paid = int(api.db.scalar("SELECT coalesce(sum(amount), 0) FROM disbursements WHERE status = 'approved'"))
    assert both("sources_uses.transfers")[1] == paid > 0
    usd_deposits = int(
        api.db.scalar(
            "SELECT coalesce(sum(amount), 0) FROM contributions WHERE currency = 'USD' AND value_date <= :d", d=YEAR_END
        )
    )
    usd_in_ledger = int(
        api.db.scalar(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN journal_entries e ON e.id = p.entry_id "
            "JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE e.source_type = 'contribution' AND a.code IN ('1100', '5200') AND p.currency = 'USD'"
        )
    )
    assert usd_in_ledger == usd_deposits

    for column in ("period", "inception"):
        sources = sum(
            money(cell(summary, k, column))
            for k in ("sources_uses.contributions", "sources_uses.investment_income", "sources_uses.other_income")
        )
        uses = sum(
            money(cell(summary, k, column))
            for k in (
                "sources_uses.transfers",
                "sources_uses.refunds",
                "sources_uses.fee",
                "sources_uses.direct_costs",
                "sources_uses.bank_charges",
            )
        )
        assert money(cell(summary, "sources_uses.total_sources", column)) == sources
        assert money(cell(summary, "sources_uses.total_uses", column)) == uses
        assert money(cell(summary, "sources_uses.net", column)) == sources - uses
    opening = money(cell(summary, "sources_uses.opening", "period"))
    balance = money(cell(summary, "sources_uses.balance", "period"))
    assert balance == opening + money(cell(summary, "sources_uses.net", "period"))
    assert balance == money(cell(summary, "sources_uses.balance", "inception"))
    # The balance with the facility is its cash and interest receivable, at the opening and at the end.
    assert balance == posted(api, "1100", "1210") > 0
    assert opening == posted(api, "1100", "1210", date_to=date(2025, 12, 31)) > 0
    share = cell(summary, "sources_uses.balance_share", "inception")
    assert isinstance(share, Ratio) and share.value == Decimal(balance) / Decimal(both("sources_uses.contributions")[1])

    for key in (
        "sources_uses.contributions",
        "sources_uses.transfers",
        "sources_uses.refunds",
        "sources_uses.other_income",
    ):
        figure = cell(summary, key, "period")
        assert isinstance(figure, Amount)
        assert drill_down(api, facility.auditor, figure) == figure.minor, key
    income = cell(summary, "sources_uses.investment_income", "inception")
    assert isinstance(income, Amount) and drill_down(api, facility.auditor, income) == -income.minor


def test_sources_and_uses_per_window_contributor_and_organisation(facility: Facility) -> None:
    api = facility.api
    report = build(facility, sources_uses.build, date_from=PERIOD[0], date_to=PERIOD[1])
    summary, windows = report.table("summary"), report.table("by_window")
    contributors, organisations = report.table("by_contributor"), report.table("by_organisation")

    total = row(windows, "common.total")
    for column, key, summary_column in (
        ("contributions_period", "sources_uses.contributions", "period"),
        ("contributions_inception", "sources_uses.contributions", "inception"),
    ):
        assert money(total.cells[windows.column(column)]) == money(cell(summary, key, summary_column))
    net_transfers = money(cell(summary, "sources_uses.transfers", "inception")) + money(
        cell(summary, "sources_uses.refunds", "inception")
    )
    assert money(total.cells[windows.column("transfers_inception")]) == net_transfers
    for code, window_id in facility.window_ids.items():
        line = next(r for r in windows.rows if isinstance(r.cells[0], Name) and r.cells[0].code == code)
        assert money(line.cells[windows.column("contributions_inception")]) == posted(
            api, "1100", "5200", source_type="contribution", window_id=window_id
        )
        assert money(line.cells[windows.column("transfers_period")]) == posted(
            api, "8500", window_id=window_id, date_from=PERIOD[0]
        )
    pooled = row(windows, "sources_uses.pooled")
    pooled_deposits = pooled.cells[windows.column("contributions_inception")]
    assert money(pooled_deposits) == posted(api, "1100", "5200", source_type="contribution", window_id=None) > 0
    assert isinstance(pooled_deposits, Amount)
    assert drill_down(api, facility.auditor, pooled_deposits) == pooled_deposits.minor

    by_contributor = [r for r in contributors.rows if isinstance(r.cells[0], str | Territory)]
    assert len(by_contributor) == 15  # twelve members and three donors, all of whom paid something
    assert sum(isinstance(r.cells[0], Territory) for r in by_contributor) == 12  # members by their CLDR names
    assert sum(money(r.cells[2]) for r in by_contributor) == money(
        cell(summary, "sources_uses.contributions", "inception")
    )
    norway = row(contributors, "Government of Norway").cells[2]
    norway_id = facility.contributor_ids["Government of Norway"]
    assert money(norway) == posted(api, "1100", "5200", source_type="contribution", contributor_id=norway_id) > 0
    assert isinstance(norway, Amount) and drill_down(api, facility.auditor, norway) == norway.minor

    # Per organisation, from the domain tables: approved disbursements less refunds, and the expenditure of
    # the latest accepted report of each grant.
    grants = api.db.rows("SELECT g.id, g.title, o.name FROM grants g JOIN organisations o ON o.id = g.organisation_id")
    for grant_id, title, _organisation in grants:
        paid = int(
            api.db.scalar(
                "SELECT coalesce(sum(amount), 0) FROM disbursements WHERE grant_id = :g AND status = 'approved'",
                g=grant_id,
            )
        )
        refunded = int(
            api.db.scalar("SELECT coalesce(sum(amount), 0) FROM grant_refunds WHERE grant_id = :g", g=grant_id)
        )
        spent = int(
            api.db.scalar(
                "SELECT coalesce((SELECT expenditure_total FROM grant_reports "
                "WHERE grant_id = :g AND status = 'accepted' ORDER BY number DESC LIMIT 1), 0)",
                g=grant_id,
            )
        )
        line = row(organisations, title)
        assert money(line.cells[1]) == paid - refunded
        assert money(line.cells[2]) == spent
        rate = line.cells[3]
        assert isinstance(rate, Ratio)
        assert rate.value == (Decimal(spent) / Decimal(paid - refunded) if paid - refunded > 0 else None)
    all_spent = int(
        api.db.scalar(
            "SELECT coalesce(sum(r.expenditure_total), 0) FROM grant_reports r "
            "WHERE r.status = 'accepted' AND r.number = "
            "(SELECT max(number) FROM grant_reports x WHERE x.grant_id = r.grant_id AND x.status = 'accepted')"
        )
    )
    grand = row(organisations, "common.total")
    assert (money(grand.cells[1]), money(grand.cells[2])) == (net_transfers, all_spent)
    assert all_spent > 0
    some_grant = row(organisations, "Protection desks at border crossings").cells[1]
    assert isinstance(some_grant, Amount) and drill_down(api, facility.auditor, some_grant) == some_grant.minor > 0


# ---------------------------------------------------------------- funds available for decisions


def available_8200(api: Api, window_id: int | None, as_of: date) -> int:
    """The budgetary 8200 balance of a window (None: the pooled fund), from raw SQL."""
    where = "p.window_id IS NULL" if window_id is None else "p.window_id = :w"
    return int(
        api.db.scalar(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p, ledger_accounts a "
            f"WHERE a.id = p.account_id AND a.code = '8200' AND p.entry_date <= :d AND {where}",
            w=window_id,
            d=as_of,
        )
    )


@pytest.mark.parametrize("as_of", [date(2025, 12, 31), YEAR_END])
def test_funds_available_equal_the_budgetary_book(facility: Facility, as_of: date) -> None:
    api = facility.api
    report = build(facility, funds_available.build, as_of=as_of)
    table = report.table("funds")
    funds: dict[str, int | None] = {**facility.window_ids, "pooled": None}

    for column, window_id in funds.items():
        assert money(cell(table, "funds_available.available", column)) == available_8200(api, window_id, as_of)
        for key, accounts, source_type, sign in (
            ("funds_available.pledges", ("1200",), "pledge", 1),
            ("funds_available.assessments", ("1200",), "assessment", 1),
            ("funds_available.outstanding", ("1200",), None, 1),
            ("funds_available.resources", ("8100",), None, -1),
            ("funds_available.allocations", ("8200",), "window_allocation", 1),
            ("funds_available.approved", ("8300",), None, 1),
            ("funds_available.committed", ("8400",), None, 1),
            ("funds_available.transferred", ("8500",), None, 1),
        ):
            expected = sign * posted(api, *accounts, date_to=as_of, source_type=source_type, window_id=window_id)
            assert money(cell(table, key, column)) == expected, (key, column)
    total_available = sum(available_8200(api, w, as_of) for w in funds.values())
    assert money(cell(table, "funds_available.available", "total")) == total_available > 0

    # From the domain tables: fees assessed, allocations decided, transfers less refunds, the budget.
    assessed = int(api.db.scalar("SELECT sum(amount) FROM assessments WHERE assessed_on <= :d", d=as_of))
    assert money(cell(table, "funds_available.assessments", "total")) == assessed
    assert money(cell(table, "funds_available.assessments", "pooled")) == assessed
    allocated = int(
        api.db.scalar(
            "SELECT coalesce(sum(amount), 0) FROM decisions WHERE kind = 'window_allocation' AND result = 'adopted' "
            "AND closed_at <= :end",
            end=f"{as_of.isoformat()} 23:59:59",
        )
    )
    assert money(cell(table, "funds_available.allocations", "pooled")) == -allocated < 0
    assert money(cell(table, "funds_available.allocations", "total")) == 0
    paid = int(
        api.db.scalar(
            "SELECT coalesce(sum(d.amount), 0) FROM disbursements d JOIN journal_entries e ON e.source_id = "
            "CAST(d.id AS VARCHAR(64)) AND e.source_type = 'grant_disbursement' WHERE e.entry_date <= :d",
            d=as_of,
        )
    )
    refunded = int(api.db.scalar("SELECT coalesce(sum(amount), 0) FROM grant_refunds WHERE received_on <= :d", d=as_of))
    assert money(cell(table, "funds_available.transferred", "total")) == paid - refunded > 0
    budget = int(api.db.scalar("SELECT amount FROM admin_budgets WHERE year = :y", y=as_of.year))
    assert money(cell(table, "funds_available.admin_budget", "total")) == budget
    assert money(cell(table, "funds_available.investment_income", "total")) == -posted(api, "4200", date_to=as_of) > 0

    # Resources less decisions, line by line, is the 8200 balance: the budgetary book reconciles.
    for column in funds:
        resources = money(cell(table, "funds_available.total_resources", column))
        decisions = money(cell(table, "funds_available.total_decisions", column))
        assert resources - decisions == money(cell(table, "funds_available.available", column))
    for key, column in (("funds_available.resources", "SKL"), ("funds_available.allocations", "pooled")):
        figure = cell(table, key, column)
        assert isinstance(figure, Amount)
        sign = -1 if key.endswith("resources") else 1
        assert sign * drill_down(api, facility.auditor, figure) == figure.minor != 0, key


# ---------------------------------------------------------------- the contributor report


def shares_by_fund(report: Report) -> dict[str, Row]:
    """The contributor's rows of the shares table, by fund: a window's code, or "pooled"."""
    table = report.table("shares")
    found = {}
    for line in table.rows[:-1]:
        fund = line.cells[0]
        found["pooled" if isinstance(fund, Label) else fund.code if isinstance(fund, Name) else str(fund)] = line
    return found


def test_contributor_shares_sum_to_the_fund_totals(facility: Facility) -> None:
    api = facility.api
    reports = {
        name: build(facility, contributors.build, cid, as_of=YEAR_END) for name, cid in facility.contributor_ids.items()
    }
    names = {code: wid for code, wid in facility.window_ids.items()}
    columns = ("deposits", "kept", "allocated", "resources", "transferred", "pending")
    sums: dict[str, dict[str, int]] = {}
    for report in reports.values():
        shares = report.table("shares")
        for key, line in shares_by_fund(report).items():
            for column in columns:
                value = line.cells[shares.column(column)]
                sums.setdefault(key, dict.fromkeys(columns, 0))
                sums[key][column] += 0 if value is None else money(value)
                if column == "resources":
                    parts = [line.cells[shares.column(c)] for c in ("kept", "allocated", "income")]
                    assert money(value) == sum(0 if part is None else money(part) for part in parts)
    assert set(sums) == {*names, "pooled"}
    for key, found in sums.items():
        window_id = names.get(key)
        budgetary = ("8200", "8300", "8400", "8500")
        assert found["deposits"] == -posted(api, "8100", window_id=window_id), key
        assert found["resources"] == posted(api, *budgetary, window_id=window_id), key
        assert found["transferred"] == posted(api, "8500", window_id=window_id), key
        assert found["pending"] == posted(api, "8300", "8400", window_id=window_id), key
        # A window keeps every deposit earmarked to it and receives the pooled allocations; the pooled fund
        # keeps what it did not allocate.
        allocations = posted(api, "8200", source_type="window_allocation", window_id=window_id)
        if window_id is None:
            assert found["kept"] == -posted(api, "8100", window_id=None) + allocations, key
            assert found["allocated"] == 0
        else:
            assert found["kept"] == -posted(api, "8100", window_id=window_id), key
            assert found["allocated"] == allocations, key
    assert sums["IRR"]["allocated"] > 0 and sums["PAR"]["allocated"] > 0
    assert sum(f["transferred"] for f in sums.values()) > 0


def pooled_deposits(api: Api, contributor_id: int | None = None) -> int:
    """Net deposits into the pooled fund (8100 without a window, credit positive), of one contributor or all."""
    return -posted(api, "8100", window_id=None, contributor_id=contributor_id)


def test_pooled_money_allocated_to_a_window_is_shared_by_the_pooled_contributors(facility: Facility) -> None:
    api = facility.api
    irr = facility.window_ids["IRR"]
    allocated_to_irr = posted(api, "8200", source_type="window_allocation", window_id=irr)
    decided = int(
        api.db.scalar(
            "SELECT sum(amount) FROM decisions WHERE kind = 'window_allocation' AND result = 'adopted' "
            "AND window_id = :w",
            w=irr,
        )
    )
    assert allocated_to_irr == decided > 0

    # Germany deposited into the pooled fund and never earmarked anything to IRR: it holds a part of IRR,
    # its pooled deposits' proportion of the allocation (within the one minor unit of rounding).
    germany = facility.contributor_ids["DEU"]
    assert -posted(api, "8100", window_id=irr, contributor_id=germany) == 0
    report = build(facility, contributors.build, germany, as_of=YEAR_END)
    shares = report.table("shares")
    line = shares_by_fund(report)["IRR"]
    exact = Fraction(allocated_to_irr * pooled_deposits(api, germany), pooled_deposits(api))
    part = money(line.cells[shares.column("allocated")])
    assert abs(part - exact) < 1 and part > 0
    assert money(line.cells[shares.column("deposits")]) == 0
    assert money(line.cells[shares.column("kept")]) == 0
    assert money(line.cells[shares.column("resources")]) == part
    # Its money financed IRR's grants too.
    financed = {r.cells[0] for r in report.table("financed").rows[:-1]}
    irr_grants = {
        t
        for (t,) in api.db.rows("SELECT title FROM grants WHERE window_id = :w AND start_date <= :d", w=irr, d=YEAR_END)
    }
    assert irr_grants and irr_grants <= financed

    # Norway earmarked to SKL only and put nothing into the pooled fund: no part of the pooled money, so
    # none of IRR or PAR; its part of SKL is what it deposited there (a window keeps all its deposits).
    norway = facility.contributor_ids["Government of Norway"]
    assert pooled_deposits(api, norway) == 0
    report = build(facility, contributors.build, norway, as_of=YEAR_END)
    shares = report.table("shares")
    assert set(shares_by_fund(report)) == {"SKL"}
    line = shares_by_fund(report)["SKL"]
    own = -posted(api, "8100", window_id=facility.window_ids["SKL"], contributor_id=norway)
    assert money(line.cells[shares.column("kept")]) == own == money(line.cells[shares.column("deposits")]) > 0
    assert money(line.cells[shares.column("allocated")]) == 0

    # Britain earmarked to IRR and deposited into the pooled fund: its part of IRR is its earmarked deposits
    # plus its pooled proportion of the allocation, not a proportion of the allocation by earmarked deposits.
    britain = facility.contributor_ids["GBR"]
    report = build(facility, contributors.build, britain, as_of=YEAR_END)
    shares = report.table("shares")
    line = shares_by_fund(report)["IRR"]
    own = -posted(api, "8100", window_id=irr, contributor_id=britain)
    assert money(line.cells[shares.column("kept")]) == own > 0
    pooled_part = Fraction(allocated_to_irr * pooled_deposits(api, britain), pooled_deposits(api))
    assert abs(money(line.cells[shares.column("allocated")]) - pooled_part) < 1
    by_earmarked_deposits = Fraction(allocated_to_irr * own, -posted(api, "8100", window_id=irr))
    assert abs(pooled_part - by_earmarked_deposits) > 1  # the two rules really differ here


def test_contributor_report_equals_its_ledger_lines_and_pledges(facility: Facility) -> None:
    api = facility.api
    mexico = facility.contributor_ids["MEX"]
    report = build(facility, contributors.build, mexico, as_of=YEAR_END)
    # A member state is named by CLDR in the reader's language: the report holds its code.
    assert report.subject == Territory(api.db.scalar("SELECT member_code FROM contributors WHERE id = :c", c=mexico))
    summary = report.table("summary")

    def line(key: str) -> int:
        return money(cell(summary, key, "amount"))

    assert line("contributor.pledged") == posted(api, "1200", source_type="pledge", contributor_id=mexico) > 0
    assert line("contributor.assessed") == posted(api, "1200", source_type="assessment", contributor_id=mexico) > 0
    assert line("contributor.outstanding") == posted(api, "1200", contributor_id=mexico)
    assert line("contributor.unapplied") == -posted(api, "2400", contributor_id=mexico)
    assert line("contributor.fee") == posted(api, "5200", contributor_id=mexico) > 0
    # Mexico pays in US dollars: what it paid is the sum of its deposits in the contributions table.
    deposited = int(api.db.scalar("SELECT sum(amount) FROM contributions WHERE contributor_id = :c", c=mexico))
    assert line("contributor.paid") == deposited
    paid = cell(summary, "contributor.paid", "amount")
    assert isinstance(paid, Amount) and drill_down(api, facility.auditor, paid) == deposited

    # A contributor paying in another currency: realised and unrealised exchange effects on its lines.
    germany = facility.contributor_ids["DEU"]
    german = build(facility, contributors.build, germany, as_of=YEAR_END).table("summary")
    realised = money(cell(german, "contributor.fx_realised", "amount"))
    assert realised == -posted(api, "4300", "5500", contributor_id=germany) != 0
    unrealised = money(cell(german, "contributor.fx_unrealised", "amount"))
    assert unrealised == -posted(api, "4310", "5510", contributor_id=germany) != 0

    pledges = report.table("pledges")
    expected = api.db.rows(
        "SELECT p.reference, p.amount, (SELECT coalesce(sum(c.applied), 0) FROM contributions c "
        "JOIN pledge_instalments i ON i.id = c.instalment_id WHERE i.pledge_id = p.id) "
        "FROM pledges p WHERE p.contributor_id = :c ORDER BY p.signed_on, p.id",
        c=mexico,
    )
    assert [(r.cells[0], money(r.cells[3]), money(r.cells[4])) for r in pledges.rows] == [tuple(e) for e in expected]

    financed = report.table("financed")
    for grant_line in financed.rows[:-1]:
        grant_id = int(api.db.scalar("SELECT id FROM grants WHERE title = :t", t=grant_line.cells[0]))
        paid_out = int(
            api.db.scalar(
                "SELECT coalesce(sum(amount), 0) FROM disbursements WHERE grant_id = :g AND status = 'approved'",
                g=grant_id,
            )
        )
        refunded = int(
            api.db.scalar("SELECT coalesce(sum(amount), 0) FROM grant_refunds WHERE grant_id = :g", g=grant_id)
        )
        assert money(grant_line.cells[financed.column("net_transfers")]) == paid_out - refunded
    assert len(financed.rows) > 1


def test_an_unknown_contributor_is_not_found(facility: Facility) -> None:
    with pytest.raises(NotFound):
        build(facility, contributors.build, 999_999, as_of=YEAR_END)


# ---------------------------------------------------------------- the window portfolio


def test_window_portfolios_equal_the_domain_tables_and_the_ledger(facility: Facility) -> None:
    api = facility.api
    everything = {"approved": 0, "people": 0}
    for code, window_id in facility.window_ids.items():
        report = build(facility, portfolio.build, code, as_of=YEAR_END)
        states = report.table("by_state")
        expected_states = dict(
            api.db.rows("SELECT state, count(*) FROM proposals WHERE window_id = :w GROUP BY state", w=window_id)
        )
        found_states = {r.cells[0].key.rsplit(".", 1)[1]: r.cells[1] for r in states.rows[:-1]}  # type: ignore[union-attr]
        assert found_states == expected_states, code
        # Requested: the amount of each proposal's last submitted version (a draft has requested nothing).
        requested: dict[str, int] = {}
        for state, content in api.db.rows(
            "SELECT p.state, (SELECT v.content FROM proposal_versions v WHERE v.proposal_id = p.id "
            "ORDER BY v.version DESC LIMIT 1) FROM proposals p WHERE p.window_id = :w",
            w=window_id,
        ):
            asked = 0 if content is None else cents(json.loads(content)["requested_amount"])
            requested[state] = requested.get(state, 0) + asked
        assert {r.cells[0].key.rsplit(".", 1)[1]: money(r.cells[2]) for r in states.rows[:-1]} == requested, code  # type: ignore[union-attr]
        assert money(states.rows[-1].cells[2]) == sum(requested.values())

        status = report.table("figures")
        amount = int(api.db.scalar("SELECT coalesce(sum(amount), 0) FROM grants WHERE window_id = :w", w=window_id))
        signed = int(
            api.db.scalar(
                "SELECT coalesce(sum(amount), 0) FROM grants WHERE window_id = :w AND agreement_signed_on IS NOT NULL",
                w=window_id,
            )
        )
        paid = int(
            api.db.scalar(
                "SELECT coalesce(sum(d.amount), 0) FROM disbursements d JOIN grants g ON g.id = d.grant_id "
                "WHERE g.window_id = :w AND d.status = 'approved'",
                w=window_id,
            )
        )
        refunded = int(
            api.db.scalar(
                "SELECT coalesce(sum(r.amount), 0) FROM grant_refunds r JOIN grants g ON g.id = r.grant_id "
                "WHERE g.window_id = :w",
                w=window_id,
            )
        )
        assert money(cell(status, "portfolio.approved", "amount")) == amount > 0, code
        assert money(cell(status, "portfolio.committed", "amount")) == signed, code
        assert money(cell(status, "portfolio.disbursed", "amount")) == paid - refunded, code
        assert money(cell(status, "portfolio.pending", "amount")) == posted(api, "8400", window_id=window_id), code
        committed = cell(status, "portfolio.committed", "amount")
        assert isinstance(committed, Amount) and drill_down(api, facility.auditor, committed) == signed

        for key in ("by_country", "by_marker"):
            total = report.table(key).rows[-1]
            assert (money(total.cells[2]), money(total.cells[3])) == (amount, paid - refunded), (code, key)
        grants_here = api.db.rows(
            "SELECT p.gender_marker, p.content FROM grants g JOIN proposals p ON p.id = g.proposal_id "
            "WHERE g.window_id = :w",
            w=window_id,
        )
        markers: dict[int, int] = {}
        people = 0
        for marker, content in grants_here:
            markers[int(marker)] = markers.get(int(marker), 0) + 1
            people += sum(int(group["count"]) for group in json.loads(content)["beneficiaries"])
        found_markers = {int(r.cells[0].key.rsplit(".", 1)[1]): r.cells[1] for r in report.table("by_marker").rows[:-1]}  # type: ignore[union-attr]
        assert found_markers == markers, code
        assert report.table("beneficiaries").rows[-1].cells[2] == people > 0, code
        # The facility's grants split evenly in cents across their countries (100% or 60/40 of round amounts).
        shares = api.db.rows(
            "SELECT pc.country, sum(g.amount * pc.share_bp / 10000) FROM grants g "
            "JOIN proposal_countries pc ON pc.proposal_id = g.proposal_id WHERE g.window_id = :w GROUP BY pc.country",
            w=window_id,
        )
        by_country = {
            r.cells[0].code: money(r.cells[2])  # type: ignore[union-attr]
            for r in report.table("by_country").rows[:-1]
        }
        assert by_country == {country: int(total) for country, total in shares}, code
        everything["approved"] += amount
        everything["people"] += people
    assert everything["approved"] == int(api.db.scalar("SELECT sum(amount) FROM grants"))


def test_an_unknown_window_is_not_found(facility: Facility) -> None:
    with pytest.raises(NotFound):
        build(facility, portfolio.build, "NOPE", as_of=YEAR_END)
