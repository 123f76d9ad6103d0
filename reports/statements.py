"""The IPSAS financial statements of one calendar year, with the prior year beside it.

Every figure is a sum of postings in the reporting currency (``reporting_amount``), read at request time:
the statement of financial position at 31 December, the statement of financial performance and the
statement of changes in net assets for the year, the cash flow statement (direct method), the comparison
of the secretariat's approved budget with its direct costs, and the notes (accounting policies, closing
exchange rates, commitments not yet recognised). ``docs/financial-statements.md`` explains each line.

A few reads do the work, whatever the years: the balance of every account at the end of the year before
the prior one, of the prior year and of the current year (one scan with conditional sums; a flow of the
year is the difference of two balances); the cash lines of the two years by business event and direction
(one range of the account/currency/date index per currency of cash); and the lines of the few entries of
other events that moved cash (manual entries), found through the source type's index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import col

from governance import AdminBudget, rules
from ledger import (
    AccountType,
    Book,
    FxRate,
    JournalEntry,
    LedgerAccount,
    Period,
    PeriodStatus,
    Posting,
    chart,
    convert_minor,
)
from reports.document import (
    Amount,
    Cell,
    Column,
    ColumnKind,
    EntryQuery,
    Label,
    Note,
    Rate,
    Ratio,
    Report,
    Row,
    RowStyle,
    Table,
)
from reports.figures import adopted_budget
from reports.i18n import register
from reports.service import ReportContext

NAME = "financial-statements"
# The /ledger/entries filter takes at most this many account codes; a longer list drills down unfiltered.
MAX_QUERY_ACCOUNTS = 20

_POSTINGS = Posting.metadata.tables["postings"]
_ENTRIES = JournalEntry.metadata.tables["journal_entries"]


# ---------------------------------------------------------------- the lines and the accounts behind them


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a statement: its label and the accounts whose balances (or flows) it adds up."""

    key: str
    accounts: tuple[str, ...]


ASSET_LINES = (
    Line("statements.position.cash", (chart.CASH,)),
    Line("statements.position.contributions_receivable", (chart.CONTRIBUTIONS_RECEIVABLE,)),
    Line("statements.position.interest_receivable", (chart.INTEREST_RECEIVABLE,)),
)
LIABILITY_LINES = (
    Line("statements.position.grants_payable", (chart.GRANTS_PAYABLE,)),
    Line("statements.position.refunds_payable", (chart.REFUNDS_PAYABLE,)),
    Line("statements.position.deferred_revenue", (chart.DEFERRED_REVENUE,)),
    Line("statements.position.unapplied", (chart.UNAPPLIED_CONTRIBUTIONS, chart.RECEIVED_IN_ADVANCE)),
)
NET_ASSET_LINES = (
    Line("statements.position.net_assets_pooled", (chart.NET_ASSETS_POOLED,)),
    Line("statements.position.net_assets_windows", (chart.NET_ASSETS_WINDOWS,)),
)
REVENUE_LINES = (
    Line("statements.performance.contributions", (chart.CONTRIBUTION_REVENUE,)),
    Line("statements.performance.investment_income", (chart.INVESTMENT_INCOME,)),
    Line("statements.performance.fx_gains_realised", (chart.FX_GAIN_REALISED,)),
    Line("statements.performance.fx_gains_unrealised", (chart.FX_GAIN_UNREALISED,)),
)
EXPENSE_LINES = (
    Line("statements.performance.transfers", (chart.TRANSFERS_TO_PARTNERS,)),
    Line("statements.performance.aa_fee", (chart.ADMIN_AGENT_FEE,)),
    Line("statements.performance.direct_costs", (chart.SECRETARIAT_DIRECT_COSTS,)),
    Line("statements.performance.bank_charges", (chart.BANK_CHARGES,)),
    Line("statements.performance.fx_losses_realised", (chart.FX_LOSS_REALISED,)),
    Line("statements.performance.fx_losses_unrealised", (chart.FX_LOSS_UNREALISED,)),
)


class CashFlow(StrEnum):
    """The cash flow statement's lines (direct method); the value is the label's last part."""

    CONTRIBUTORS = "contributors"
    INVESTMENT_INCOME = "investment_income"
    PARTNER_REFUNDS = "partner_refunds"
    PARTNER_PAYMENTS = "partner_payments"
    AA_FEE = "aa_fee"
    DIRECT_COSTS = "direct_costs"
    BANK_CHARGES = "bank_charges"
    OTHER = "other"
    FX_EFFECT = "fx_effect"


RECEIPT_FLOWS = (CashFlow.CONTRIBUTORS, CashFlow.INVESTMENT_INCOME, CashFlow.PARTNER_REFUNDS)
PAYMENT_FLOWS = (
    CashFlow.PARTNER_PAYMENTS,
    CashFlow.AA_FEE,
    CashFlow.DIRECT_COSTS,
    CashFlow.BANK_CHARGES,
    CashFlow.OTHER,
)
OPERATING_FLOWS = RECEIPT_FLOWS + PAYMENT_FLOWS

# The business events whose cash lines say themselves what they are: a deposit's line into cash is the
# receipt (at the day's rate; the realised difference to the receivable's carrying value is part of what
# was received) and its line out of cash the administrative agent's fee; a transfer's is a payment to the
# partner, a refund's money back from one, a revaluation's the effect of exchange rates.
EVENTS_BY_CASH_LINE = ("contribution", "grant_disbursement", "grant_refund", "revaluation")
FLOW_BY_SOURCE = {
    "grant_disbursement": CashFlow.PARTNER_PAYMENTS,
    "grant_refund": CashFlow.PARTNER_REFUNDS,
    "revaluation": CashFlow.FX_EFFECT,
}
# Any other entry (a manual entry for interest, bank charges or direct costs, anything added later): its
# cash movement is split by its other financial lines, each one standing for the cash it moved (negated).
FLOW_BY_ACCOUNT = {
    chart.CONTRIBUTIONS_RECEIVABLE: CashFlow.CONTRIBUTORS,
    chart.DEFERRED_REVENUE: CashFlow.CONTRIBUTORS,
    chart.UNAPPLIED_CONTRIBUTIONS: CashFlow.CONTRIBUTORS,
    chart.RECEIVED_IN_ADVANCE: CashFlow.CONTRIBUTORS,
    chart.CONTRIBUTION_REVENUE: CashFlow.CONTRIBUTORS,
    chart.INTEREST_RECEIVABLE: CashFlow.INVESTMENT_INCOME,
    chart.INVESTMENT_INCOME: CashFlow.INVESTMENT_INCOME,
    chart.GRANTS_PAYABLE: CashFlow.PARTNER_PAYMENTS,
    chart.TRANSFERS_TO_PARTNERS: CashFlow.PARTNER_PAYMENTS,
    chart.ADMIN_AGENT_FEE: CashFlow.AA_FEE,
    chart.SECRETARIAT_DIRECT_COSTS: CashFlow.DIRECT_COSTS,
    chart.BANK_CHARGES: CashFlow.BANK_CHARGES,
    chart.FX_GAIN_REALISED: CashFlow.FX_EFFECT,
    chart.FX_GAIN_UNREALISED: CashFlow.FX_EFFECT,
    chart.FX_LOSS_REALISED: CashFlow.FX_EFFECT,
    chart.FX_LOSS_UNREALISED: CashFlow.FX_EFFECT,
}


def cash_line_flow(source_type: str, *, inflow: bool) -> CashFlow:
    """The cash flow line of a cash line of one of EVENTS_BY_CASH_LINE (``inflow``: a debit to cash, as
    first posted: a reversal's lines are its original's, negated, and counted as the original's)."""
    if source_type == "contribution":
        return CashFlow.CONTRIBUTORS if inflow else CashFlow.AA_FEE
    return FLOW_BY_SOURCE[source_type]


def cash_flow_of(account: str) -> CashFlow:
    """The cash flow line of the cash an entry of any other event moved against ``account``."""
    return FLOW_BY_ACCOUNT.get(account, CashFlow.OTHER)


# Drill-down of each cash flow line: the entries that move cash for that event, or (for lines classified
# by counter-account) the entries on those counter-accounts.
CASH_FLOW_QUERIES: dict[CashFlow, dict[str, Any]] = {
    CashFlow.CONTRIBUTORS: {"accounts": (chart.CASH,), "source_type": "contribution"},
    CashFlow.INVESTMENT_INCOME: {"accounts": (chart.INVESTMENT_INCOME, chart.INTEREST_RECEIVABLE)},
    CashFlow.PARTNER_REFUNDS: {"accounts": (chart.CASH,), "source_type": "grant_refund"},
    CashFlow.PARTNER_PAYMENTS: {"accounts": (chart.CASH,), "source_type": "grant_disbursement"},
    CashFlow.AA_FEE: {"accounts": (chart.ADMIN_AGENT_FEE,)},
    CashFlow.DIRECT_COSTS: {"accounts": (chart.SECRETARIAT_DIRECT_COSTS,)},
    CashFlow.BANK_CHARGES: {"accounts": (chart.BANK_CHARGES,)},
    CashFlow.OTHER: {"accounts": (chart.CASH,)},
    CashFlow.FX_EFFECT: {"accounts": (chart.CASH,), "source_type": "revaluation"},
}


# ---------------------------------------------------------------- what the database holds


@dataclass(frozen=True, slots=True)
class Chart:
    """The financial book's accounts by type (the reference chart and any added since)."""

    types: Mapping[str, str]  # code -> account type
    ids: Mapping[str, int]

    def of_type(self, kind: AccountType) -> tuple[str, ...]:
        return tuple(sorted(code for code, t in self.types.items() if t == kind.value))

    def others(self, kind: AccountType, named: Iterable[Line]) -> tuple[str, ...]:
        """The accounts of ``kind`` no named line covers (accounts added to the chart after migration)."""
        covered = {code for line in named for code in line.accounts}
        return tuple(code for code in self.of_type(kind) if code not in covered)


@dataclass(frozen=True, slots=True)
class YearEnd:
    """Reporting-currency balances of every account (debit positive) at one date."""

    day: date
    balances: Mapping[str, int]

    def sum(self, codes: Iterable[str]) -> int:
        return sum(self.balances.get(code, 0) for code in codes)


@dataclass(frozen=True, slots=True)
class Budget:
    year: int
    approved: Amount  # in the currency it was approved in
    decision_id: int
    rate: Decimal | None  # units of the reporting currency per unit, when converted
    rate_date: date | None
    reporting_minor: int | None  # None: no rate on or before the year's end to convert it with


async def _chart(ctx: ReportContext) -> Chart:
    rows = (
        await ctx.session.execute(
            select(col(LedgerAccount.id), col(LedgerAccount.code), col(LedgerAccount.type), col(LedgerAccount.book))
        )
    ).all()
    return Chart(
        types={code: kind for _id, code, kind, book in rows if book == Book.FINANCIAL.value},
        ids={code: account_id for account_id, code, _kind, _book in rows if account_id is not None},
    )


async def _year_ends(ctx: ReportContext, chart_: Chart, days: tuple[date, ...]) -> dict[date, YearEnd]:
    """Every account's balance at each of ``days``, in one scan of the postings up to the last one."""
    sums = [
        func.coalesce(func.sum(case((_POSTINGS.c.entry_date <= day, _POSTINGS.c.reporting_amount), else_=0)), 0)
        for day in days
    ]
    rows = (
        await ctx.session.execute(
            select(_POSTINGS.c.account_id, *sums)
            .where(_POSTINGS.c.entry_date <= max(days))
            .group_by(_POSTINGS.c.account_id)
        )
    ).all()
    codes = {account_id: code for code, account_id in chart_.ids.items()}
    return {
        day: YearEnd(day, {codes[row[0]]: int(row[i + 1]) for row in rows if row[0] in codes})
        for i, day in enumerate(days)
    }


async def _cash_flows(ctx: ReportContext, chart_: Chart, years: Years) -> dict[int, dict[CashFlow, int]]:
    """The cash moved in the current year (up to its end: today for interim statements) and the year
    before, by cash flow line.

    The cash lines of the two years are summed by year, by their entry's business event (a reversal
    counts as the event it reverses) and by direction (a debit or a credit as the original entry posted
    it): those of EVENTS_BY_CASH_LINE are classified by themselves. The entries of any other event that
    moved cash (manual entries, in practice a few a month) are read line by line: their financial lines
    balance in the reporting currency, so the non-cash ones, negated, add up to the cash movement, each
    standing for the cash it moved."""
    year = years.current
    first, last = date(year - 1, 1, 1), years.end
    cash_id = chart_.ids[chart.CASH]
    flows: dict[int, dict[CashFlow, int]] = {y: dict.fromkeys(CashFlow, 0) for y in (year - 1, year)}
    original = _ENTRIES.alias("original")
    reversal = _ENTRIES.c.reverses_id.is_not(None)
    with_original = _ENTRIES.outerjoin(original, original.c.id == _ENTRIES.c.reverses_id)

    in_year = case((_POSTINGS.c.entry_date >= date(year, 1, 1), year), else_=year - 1)
    inflow = case((reversal & (_POSTINGS.c.amount < 0), 1), (~reversal & (_POSTINGS.c.amount > 0), 1), else_=0)
    # Naming the cash's currencies lets the planner read the cash lines of the two years as one range per
    # currency of the (account, currency, date) index, not every posting of the two years by date.
    currencies = (
        await ctx.session.execute(select(_POSTINGS.c.currency).where(_POSTINGS.c.account_id == cash_id).distinct())
    ).scalars()
    cash_lines = (
        select(in_year, _ENTRIES.c.source_type, original.c.source_type, inflow, func.sum(_POSTINGS.c.reporting_amount))
        .select_from(_POSTINGS.join(with_original, _ENTRIES.c.id == _POSTINGS.c.entry_id))
        .where(
            _POSTINGS.c.account_id == cash_id,
            _POSTINGS.c.currency.in_(sorted(currencies)),
            _POSTINGS.c.entry_date.between(first, last),
        )
        .group_by(in_year, _ENTRIES.c.source_type, original.c.source_type, inflow)
    )
    # The events read line by line: as posted (so the source type's index finds their entries) and as
    # counted (a reversal as the event it reverses).
    posted_as: set[str] = set()
    counted_as: set[str] = set()
    for bucket, own_type, reversed_type, debit, amount in (await ctx.session.execute(cash_lines)).all():
        source_type = str(reversed_type if reversed_type is not None else own_type)
        if source_type in EVENTS_BY_CASH_LINE:
            flows[int(bucket)][cash_line_flow(source_type, inflow=bool(debit))] += int(amount)
        else:
            posted_as.add(str(own_type))
            counted_as.add(source_type)
    if not posted_as:
        return flows

    cash_line = _POSTINGS.alias("cash_line")
    moved_cash = (
        select(cash_line.c.entry_id)
        .where(cash_line.c.entry_id == _ENTRIES.c.id, cash_line.c.account_id == cash_id)
        .exists()
    )
    # Entries found by the source type's index (such events are few), whatever their date; the date is
    # the postings' own.
    of_those_events = select(_ENTRIES.c.id).where(_ENTRIES.c.source_type.in_(sorted(posted_as)))
    source = case((reversal, original.c.source_type), else_=_ENTRIES.c.source_type)
    counter_lines = (
        select(in_year, _POSTINGS.c.account_id, func.sum(_POSTINGS.c.reporting_amount))
        .select_from(_POSTINGS.join(with_original, _ENTRIES.c.id == _POSTINGS.c.entry_id))
        .where(
            _POSTINGS.c.entry_id.in_(of_those_events.scalar_subquery()),
            _POSTINGS.c.entry_date.between(first, last),
            source.in_(sorted(counted_as)),
            moved_cash,
            _POSTINGS.c.account_id != cash_id,
        )
        .group_by(in_year, _POSTINGS.c.account_id)
    )
    codes = {account_id: code for code, account_id in chart_.ids.items()}
    for bucket, account_id, amount in (await ctx.session.execute(counter_lines)).all():
        code = codes.get(account_id)
        if code in chart_.types:  # the budgetary book balances on its own
            flows[int(bucket)][cash_flow_of(str(code))] -= int(amount)
    return flows


@dataclass(frozen=True, slots=True)
class _ApprovedBudget:
    year: int
    amount: int
    currency: str
    decision_id: int


async def _approved_budget(ctx: ReportContext, year: int) -> _ApprovedBudget | None:
    """The year's approved budget as the report's ledger state knows it. Once the year's last month is
    closed, that is the last admin_budget decision adopted by the time it closed (a later revision must not
    change final statements); until then, the current ``admin_budgets`` row."""
    december = await ctx.session.get(Period, f"{year:04d}-12")
    if december is None or december.status != PeriodStatus.CLOSED.value or december.closed_at is None:
        row = await ctx.session.get(AdminBudget, year)
        return None if row is None else _ApprovedBudget(year, row.amount, row.currency, row.decision_id)
    # Decisions up to and including the instant the year closed.
    decision = await adopted_budget(ctx.session, year, december.closed_at + timedelta(microseconds=1))
    if decision is None:
        return None
    approved = rules.terms_money(json.loads(decision.terms))
    assert approved is not None, "an admin_budget decision's terms carry its amount"
    return _ApprovedBudget(year, approved.minor, approved.currency, int(decision.id or 0))


async def _budgets(ctx: ReportContext, years: Years) -> dict[int, Budget]:
    budgets: dict[int, Budget] = {}
    for year in years.both():
        row = await _approved_budget(ctx, year)
        if row is None:
            continue
        approved = Amount(row.amount, row.currency)
        if row.currency == ctx.currency:
            budgets[row.year] = Budget(row.year, approved, row.decision_id, None, None, row.amount)
            continue
        rate = await _closing_rate(ctx, row.currency, years.end_of(row.year))
        reporting = None if rate is None else convert_minor(row.amount, row.currency, rate[1], ctx.currency)
        budgets[row.year] = Budget(
            row.year,
            approved,
            row.decision_id,
            None if rate is None else rate[1],
            None if rate is None else rate[0],
            reporting,
        )
    return budgets


async def _closing_rate(ctx: ReportContext, currency: str, day: date) -> tuple[date, Decimal] | None:
    found = (
        await ctx.session.execute(
            select(col(FxRate.rate_date), col(FxRate.rate))
            .where(col(FxRate.currency) == currency, col(FxRate.rate_date) <= day)
            .order_by(col(FxRate.rate_date).desc())
            .limit(1)
        )
    ).first()
    return None if found is None else (found[0], Decimal(found[1]))


async def _closing_rates(ctx: ReportContext, days: tuple[date, ...]) -> dict[str, dict[date, tuple[date, str]]]:
    """Per currency with a rate on or before the last of ``days``: the latest rate on or before each day."""
    rates: dict[str, dict[date, tuple[date, str]]] = {}
    for day in days:
        newest = (
            select(col(FxRate.currency), func.max(col(FxRate.rate_date)).label("rate_date"))
            .where(col(FxRate.rate_date) <= day)
            .group_by(col(FxRate.currency))
            .subquery()
        )
        rows = (
            await ctx.session.execute(
                select(col(FxRate.currency), col(FxRate.rate_date), col(FxRate.rate)).join(
                    newest,
                    (newest.c.currency == col(FxRate.currency)) & (newest.c.rate_date == col(FxRate.rate_date)),
                )
            )
        ).all()
        for currency, rate_date, rate in rows:
            rates.setdefault(currency, {})[day] = (rate_date, rate)
    return rates


# ---------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Years:
    """The two columns: the current year, up to ``end``, and the prior year. ``end`` is 31 December, or, for
    the year under way, today: the statements are then interim."""

    current: int
    end: date

    @classmethod
    def of(cls, year: int, today: date) -> Years:
        if today < _first(year):
            raise ValueError(f"the year {year} has not begun on {today.isoformat()}")  # the API refuses it first
        return cls(year, min(_last(year), today))

    @property
    def prior(self) -> int:
        return self.current - 1

    @property
    def interim(self) -> bool:
        return self.end < _last(self.current)

    def both(self) -> tuple[int, int]:
        return (self.current, self.prior)

    def end_of(self, year: int) -> date:
        """The last day of ``year``'s column: ``end`` for the current year, 31 December for earlier ones."""
        return self.end if year == self.current else _last(year)


def _first(year: int) -> date:
    return date(year, 1, 1)


def _last(year: int) -> date:
    return date(year, 12, 31)


class Builder:
    """Turns the figures read for two years into the statements' tables, each figure with its entries."""

    def __init__(
        self,
        ctx: ReportContext,
        years: Years,
        chart_: Chart,
        ends: Mapping[date, YearEnd],
        flows: Mapping[int, Mapping[CashFlow, int]],
        budgets: Mapping[int, Budget],
        rates: Mapping[str, Mapping[date, tuple[date, str]]],
    ) -> None:
        self.ctx, self.years, self.chart, self.ends = ctx, years, chart_, ends
        self.flows, self.budgets, self.rates = flows, budgets, rates

    # ------------------------------------------------------------ helpers

    def amount(self, minor: int, **query: Any) -> Amount:
        accounts = tuple(query.pop("accounts", ()))
        if len(accounts) > MAX_QUERY_ACCOUNTS:
            accounts = ()
        return Amount(minor, self.ctx.currency, EntryQuery(accounts=accounts, **query))

    def columns(self, first: Label) -> tuple[Column, ...]:
        current = "statements.column.interim" if self.years.interim else "statements.column.year"
        return (
            Column("item", first, ColumnKind.TEXT),
            Column("current", Label.of(current, year=self.years.current), ColumnKind.MONEY),
            Column("prior", Label.of("statements.column.year", year=self.years.prior), ColumnKind.MONEY),
        )

    def title(self, key: str) -> Label:
        """A statement's title with the day it is at or the period it covers ("as at 31 December 2025",
        "for the year ended ...", or "for the period ended ..." while the year is under way)."""
        return Label.of(self.interim(key), day=self.years.end)

    def interim(self, key: str) -> str:
        """The key of a label that names the year ("at 31 December", "for the year"), or of its variant for
        the period of interim statements ("at the end of the period", "for the period")."""
        return f"{key}_interim" if self.years.interim else key

    def row(self, key: str, figure: Callable[[int], Amount | None], style: RowStyle = RowStyle.LINE) -> Row:
        level = 1 if style == RowStyle.LINE else 0
        return Row((Label(key), *(figure(year) for year in self.years.both())), style, level)

    @staticmethod
    def heading(key: str) -> Row:
        return Row((Label(key), None, None), RowStyle.HEADING)

    def balance(self, year: int, codes: tuple[str, ...], *, sign: int) -> Amount:
        """A balance at the year's end: debit positive (``sign`` 1) or credit positive (``sign`` -1)."""
        end = self.years.end_of(year)
        return self.amount(sign * self.ends[end].sum(codes), accounts=codes, date_to=end)

    def flow(self, year: int, codes: tuple[str, ...], *, sign: int) -> Amount:
        """What the accounts moved during the year (the difference of two year-end balances)."""
        end = self.years.end_of(year)
        minor = self.ends[end].sum(codes) - self.ends[_last(year - 1)].sum(codes)
        return self.amount(sign * minor, accounts=codes, date_from=_first(year), date_to=end)

    def surplus_accounts(self) -> tuple[str, ...]:
        return self.chart.of_type(AccountType.REVENUE) + self.chart.of_type(AccountType.EXPENSE)

    def net_asset_accounts(self) -> tuple[str, ...]:
        return self.chart.of_type(AccountType.NET_ASSETS) + self.surplus_accounts()

    def net_assets(self, day: date) -> Amount:
        codes = self.net_asset_accounts()
        return self.amount(-self.ends[day].sum(codes), accounts=codes, date_to=day)

    # ------------------------------------------------------------ statements

    def position(self) -> Table:
        assets = self.chart.of_type(AccountType.ASSET)
        liabilities = self.chart.of_type(AccountType.LIABILITY)
        rows = [self.heading("statements.position.assets")]
        rows += self._lines(ASSET_LINES, AccountType.ASSET, "statements.position.other_assets", self.balance, 1)
        rows.append(
            self.row("statements.position.total_assets", lambda y: self.balance(y, assets, sign=1), RowStyle.SUBTOTAL)
        )
        rows.append(self.heading("statements.position.liabilities"))
        rows += self._lines(
            LIABILITY_LINES, AccountType.LIABILITY, "statements.position.other_liabilities", self.balance, -1
        )
        rows.append(
            self.row(
                "statements.position.total_liabilities",
                lambda y: self.balance(y, liabilities, sign=-1),
                RowStyle.SUBTOTAL,
            )
        )
        rows.append(self.heading("statements.position.net_assets"))
        rows += self._lines(
            NET_ASSET_LINES, AccountType.NET_ASSETS, "statements.position.other_net_assets", self.balance, -1
        )
        surplus = self.surplus_accounts()
        rows.append(self.row("statements.position.accumulated_surplus", lambda y: self.balance(y, surplus, sign=-1)))
        rows.append(
            self.row(
                "statements.position.total_net_assets",
                lambda y: self.net_assets(self.years.end_of(y)),
                RowStyle.SUBTOTAL,
            )
        )
        everything = liabilities + self.net_asset_accounts()
        rows.append(
            self.row(
                "statements.position.total_liabilities_net_assets",
                lambda y: self.balance(y, everything, sign=-1),
                RowStyle.TOTAL,
            )
        )
        return Table(
            "financial_position",
            self.title("statements.position.title"),
            self.columns(Label("statements.column.item")),
            tuple(rows),
        )

    def _lines(
        self,
        named: tuple[Line, ...],
        kind: AccountType,
        other_key: str,
        figure: Callable[..., Amount],
        sign: int,
    ) -> list[Row]:
        """The named lines, then one line for accounts of the same type added to the chart, if any."""

        def of(codes: tuple[str, ...]) -> Callable[[int], Amount]:
            return lambda year: figure(year, codes, sign=sign)

        rows = [self.row(line.key, of(line.accounts)) for line in named]
        others = self.chart.others(kind, named)
        if others:
            rows.append(self.row(other_key, of(others)))
        return rows

    def performance(self) -> Table:
        revenue = self.chart.of_type(AccountType.REVENUE)
        expenses = self.chart.of_type(AccountType.EXPENSE)
        rows = [self.heading("statements.performance.revenue")]
        rows += self._lines(REVENUE_LINES, AccountType.REVENUE, "statements.performance.other_revenue", self.flow, -1)
        rows.append(
            self.row(
                "statements.performance.total_revenue", lambda y: self.flow(y, revenue, sign=-1), RowStyle.SUBTOTAL
            )
        )
        rows.append(self.heading("statements.performance.expenses"))
        rows += self._lines(EXPENSE_LINES, AccountType.EXPENSE, "statements.performance.other_expenses", self.flow, 1)
        rows.append(
            self.row(
                "statements.performance.total_expenses", lambda y: self.flow(y, expenses, sign=1), RowStyle.SUBTOTAL
            )
        )
        rows.append(self.row(self.interim("statements.performance.surplus"), self.surplus, RowStyle.TOTAL))
        return Table(
            "financial_performance",
            self.title("statements.performance.title"),
            self.columns(Label("statements.column.item")),
            tuple(rows),
        )

    def surplus(self, year: int) -> Amount:
        return self.flow(year, self.surplus_accounts(), sign=-1)

    def changes_in_net_assets(self) -> Table:
        direct = self.chart.of_type(AccountType.NET_ASSETS)
        rows = (
            self.row("statements.changes.opening", lambda y: self.net_assets(_last(y - 1)), RowStyle.SUBTOTAL),
            self.row(self.interim("statements.performance.surplus"), self.surplus),
            self.row("statements.changes.direct", lambda y: self.flow(y, direct, sign=-1)),
            self.row(
                self.interim("statements.changes.closing"),
                lambda y: self.net_assets(self.years.end_of(y)),
                RowStyle.TOTAL,
            ),
        )
        return Table(
            "changes_in_net_assets",
            self.title("statements.changes.title"),
            self.columns(Label("statements.column.item")),
            rows,
        )

    def cash_flow_amount(self, year: int, line: CashFlow) -> Amount:
        return self.amount(
            self.flows[year][line],
            date_from=_first(year),
            date_to=self.years.end_of(year),
            **CASH_FLOW_QUERIES[line],
        )

    def cash_flow(self) -> Table:
        cash = (chart.CASH,)

        def flows_total(year: int, lines: tuple[CashFlow, ...]) -> Amount:
            return self.amount(
                sum(self.flows[year][line] for line in lines),
                accounts=cash,
                date_from=_first(year),
                date_to=self.years.end_of(year),
            )

        def line(flow: CashFlow) -> Row:
            return self.row(f"statements.cash.{flow.value}", lambda y: self.cash_flow_amount(y, flow))

        rows = [
            self.heading("statements.cash.operating"),
            self.heading("statements.cash.receipts"),
            *(line(flow) for flow in RECEIPT_FLOWS),
            self.heading("statements.cash.payments"),
            *(line(flow) for flow in PAYMENT_FLOWS),
            self.row("statements.cash.net_operating", lambda y: flows_total(y, OPERATING_FLOWS), RowStyle.SUBTOTAL),
            line(CashFlow.FX_EFFECT),
            self.row("statements.cash.net_change", lambda y: self.flow(y, cash, sign=1), RowStyle.SUBTOTAL),
            self.row("statements.cash.opening", lambda y: self.balance(y - 1, cash, sign=1)),
            self.row(self.interim("statements.cash.closing"), lambda y: self.balance(y, cash, sign=1), RowStyle.TOTAL),
        ]
        return Table(
            "cash_flow",
            self.title("statements.cash.title"),
            self.columns(Label("statements.column.item")),
            tuple(rows),
        )

    def budget_comparison(self) -> Table:
        columns = (
            Column("item", Label("statements.budget.column.item"), ColumnKind.TEXT),
            Column("approved", Label("statements.budget.column.approved"), ColumnKind.MONEY),
            Column("rate", Label("statements.budget.column.rate"), ColumnKind.RATE),
            Column("budget", Label("statements.budget.column.budget"), ColumnKind.MONEY),
            Column("actual", Label("statements.budget.column.actual"), ColumnKind.MONEY),
            Column("variance", Label("statements.budget.column.variance"), ColumnKind.MONEY),
            Column("used", Label("statements.budget.column.used"), ColumnKind.PERCENT),
        )
        rows = []
        for year in self.years.both():
            costs = (chart.SECRETARIAT_DIRECT_COSTS,)
            actual = self.flow(year, costs, sign=1)
            budget = self.budgets.get(year)
            planned = None if budget is None else budget.reporting_minor
            rows.append(
                Row(
                    (
                        Label.of("statements.budget.row", year=year),
                        None if budget is None else budget.approved,
                        None if budget is None or budget.rate is None else Rate(budget.rate),
                        None if planned is None else Amount(planned, self.ctx.currency),
                        actual,
                        None if planned is None else Amount(planned - actual.minor, self.ctx.currency, actual.entries),
                        Ratio.of(actual.minor, planned or 0),
                    )
                )
            )
        return Table("budget_comparison", self.title("statements.budget.title"), columns, tuple(rows))

    def exchange_rates(self) -> Table:
        ends = tuple(self.years.end_of(year) for year in self.years.both())
        columns = [Column("currency", Label("statements.fx.column.currency"), ColumnKind.TEXT)]
        for key, year in (("current", self.years.current), ("prior", self.years.prior)):
            columns.append(Column(f"{key}_rate", Label.of("statements.fx.column.rate", year=year), ColumnKind.RATE))
            columns.append(Column(f"{key}_date", Label.of("statements.fx.column.date", year=year), ColumnKind.DATE))
        rows = []
        for currency in sorted(self.rates):
            cells: list[Cell] = [currency]
            for day in ends:
                found = self.rates[currency].get(day)
                cells += [None, None] if found is None else [Rate(Decimal(found[1])), found[0]]
            rows.append(Row(tuple(cells)))
        return Table(
            "exchange_rates",
            Label.of("statements.fx.title", currency=self.ctx.currency),
            tuple(columns),
            tuple(rows),
        )

    def commitments(self) -> Table:
        signed = (chart.COMMITTED, chart.GRANTS_PAYABLE)
        allocated = (chart.ALLOCATED,)
        rows = (
            self.row("statements.commitments.signed", lambda y: self.balance(y, signed, sign=1)),
            self.row("statements.commitments.allocated", lambda y: self.balance(y, allocated, sign=1)),
            self.row(
                "statements.commitments.total", lambda y: self.balance(y, signed + allocated, sign=1), RowStyle.TOTAL
            ),
        )
        return Table(
            "commitments",
            Label("statements.commitments.title"),
            self.columns(Label("statements.column.item")),
            rows,
        )

    def notes(self) -> tuple[Note, ...]:
        policies = Note(
            Label("statements.note.policies.title"),
            tuple(
                Label.of(f"statements.note.policies.{key}", currency=self.ctx.currency)
                for key in (
                    "basis",
                    "revenue",
                    "grants",
                    "fee",
                    "fx",
                    "net_assets",
                    "cash_flow",
                    "budget",
                    "commitments",
                )
            ),
        )
        budget_paragraphs: list[Label | str] = []
        for year in self.years.both():
            budget = self.budgets.get(year)
            if budget is None:
                budget_paragraphs.append(Label.of("statements.note.budget.none", year=year))
            else:
                budget_paragraphs.append(
                    Label.of("statements.note.budget.approved", year=year, decision=budget.decision_id)
                )
                if budget.rate_date is not None:
                    budget_paragraphs.append(
                        Label.of(
                            "statements.note.budget.converted",
                            year=year,
                            currency=budget.approved.currency,
                            reporting=self.ctx.currency,
                            rate=Rate(budget.rate) if budget.rate is not None else "",
                            day=budget.rate_date,
                        )
                    )
                elif budget.reporting_minor is None:
                    budget_paragraphs.append(
                        Label.of(
                            "statements.note.budget.no_rate",
                            year=year,
                            currency=budget.approved.currency,
                            day=self.years.end_of(year),
                        )
                    )
        budget_note = Note(Label("statements.note.budget.title"), tuple(budget_paragraphs))
        if not self.years.interim:
            return (policies, budget_note)
        interim = Note(
            Label("statements.note.interim.title"),
            (
                Label.of(
                    "statements.note.interim",
                    year=self.years.current,
                    start=_first(self.years.current),
                    day=self.years.end,
                    prior=self.years.prior,
                ),
            ),
        )
        return (interim, policies, budget_note)


async def build(ctx: ReportContext, *, year: int) -> Report:
    """The financial statements of ``year`` (1 January to 31 December) with ``year - 1`` beside them. While
    the year is under way (``ctx.today`` falls in it) they are interim: up to today, and they say so."""
    years = Years.of(year, ctx.today)
    chart_ = await _chart(ctx)
    ends = await _year_ends(ctx, chart_, (_last(year - 2), _last(year - 1), years.end))
    flows = await _cash_flows(ctx, chart_, years)
    budgets = await _budgets(ctx, years)
    rates = await _closing_rates(ctx, (years.end, _last(year - 1)))
    builder = Builder(ctx, years, chart_, ends, flows, budgets, rates)
    return await ctx.report(
        NAME,
        Label("statements.interim_title" if years.interim else "statements.title"),
        _first(year),
        years.end,
        (
            builder.position(),
            builder.performance(),
            builder.changes_in_net_assets(),
            builder.cash_flow(),
            builder.budget_comparison(),
            builder.exchange_rates(),
            builder.commitments(),
        ),
        notes=builder.notes(),
        parameters={"year": str(year), "interim": "true" if years.interim else "false"},
        signatures=(Label("statements.sign.prepared"), Label("statements.sign.reviewed")),
    )


# ---------------------------------------------------------------- words (IPSAS terminology in es and fr)


def _words(en: str, es: str, fr: str) -> dict[str, str]:
    return {"en": en, "es": es, "fr": fr}


register(
    {
        "statements.title": _words("Financial statements", "Estados financieros", "États financiers"),
        "statements.interim_title": _words(
            "Interim financial statements", "Estados financieros intermedios", "États financiers intermédiaires"
        ),
        "statements.column.item": _words("Item", "Partida", "Poste"),
        "statements.column.year": _words("{year}", "{year}", "{year}"),
        "statements.column.interim": _words("{year} (interim)", "{year} (intermedio)", "{year} (intermédiaire)"),
        # statement of financial position
        "statements.position.title": _words(
            "Statement of financial position as at {day}",
            "Estado de situación financiera al {day}",
            "État de la situation financière au {day}",
        ),
        "statements.position.title_interim": _words(
            "Statement of financial position as at {day}",
            "Estado de situación financiera al {day}",
            "État de la situation financière au {day}",
        ),
        "statements.position.assets": _words("Assets", "Activos", "Actifs"),
        "statements.position.cash": _words(
            "Cash held by the trustee", "Efectivo en poder del fideicomisario", "Trésorerie détenue par le fiduciaire"
        ),
        "statements.position.contributions_receivable": _words(
            "Contributions receivable", "Contribuciones por cobrar", "Contributions à recevoir"
        ),
        "statements.position.interest_receivable": _words(
            "Interest receivable", "Intereses por cobrar", "Intérêts à recevoir"
        ),
        "statements.position.other_assets": _words("Other assets", "Otros activos", "Autres actifs"),
        "statements.position.total_assets": _words("Total assets", "Total de activos", "Total des actifs"),
        "statements.position.liabilities": _words("Liabilities", "Pasivos", "Passifs"),
        "statements.position.grants_payable": _words(
            "Grants payable to implementing partners",
            "Subvenciones por pagar a los asociados en la ejecución",
            "Subventions à payer aux partenaires d'exécution",
        ),
        "statements.position.refunds_payable": _words(
            "Refunds payable to contributors",
            "Reembolsos por pagar a los contribuyentes",
            "Remboursements dus aux contributeurs",
        ),
        "statements.position.deferred_revenue": _words(
            "Deferred revenue (conditional contributions)",
            "Ingresos diferidos (contribuciones condicionadas)",
            "Produits différés (contributions conditionnelles)",
        ),
        "statements.position.unapplied": _words(
            "Contributions received in advance (unapplied)",
            "Contribuciones recibidas por anticipado (no aplicadas)",
            "Contributions reçues d'avance (non affectées)",
        ),
        "statements.position.other_liabilities": _words("Other liabilities", "Otros pasivos", "Autres passifs"),
        "statements.position.total_liabilities": _words("Total liabilities", "Total de pasivos", "Total des passifs"),
        "statements.position.net_assets": _words("Net assets", "Activos netos/patrimonio", "Actif net"),
        "statements.position.net_assets_pooled": _words(
            "Net assets \u2013 pooled fund", "Activos netos \u2013 fondo mancomunado", "Actif net \u2013 fonds commun"
        ),
        "statements.position.net_assets_windows": _words(
            "Net assets \u2013 thematic windows",
            "Activos netos \u2013 ventanillas temáticas",
            "Actif net \u2013 guichets thématiques",
        ),
        "statements.position.other_net_assets": _words(
            "Other net assets", "Otros activos netos/patrimonio", "Autres éléments de l'actif net"
        ),
        "statements.position.accumulated_surplus": _words(
            "Accumulated surplus/(deficit)", "Superávit/(déficit) acumulado", "Excédent/(déficit) cumulé"
        ),
        "statements.position.total_net_assets": _words(
            "Total net assets", "Total de activos netos/patrimonio", "Total de l'actif net"
        ),
        "statements.position.total_liabilities_net_assets": _words(
            "Total liabilities and net assets",
            "Total de pasivos y activos netos/patrimonio",
            "Total des passifs et de l'actif net",
        ),
        # statement of financial performance
        "statements.performance.title": _words(
            "Statement of financial performance for the year ended {day}",
            "Estado de rendimiento financiero del ejercicio terminado el {day}",
            "État de la performance financière de l'exercice clos le {day}",
        ),
        "statements.performance.title_interim": _words(
            "Statement of financial performance for the period ended {day}",
            "Estado de rendimiento financiero del período terminado el {day}",
            "État de la performance financière de la période close le {day}",
        ),
        "statements.performance.revenue": _words("Revenue", "Ingresos", "Produits"),
        "statements.performance.contributions": _words(
            "Contributions (fees and pledges)",
            "Contribuciones (cuotas y promesas)",
            "Contributions (cotisations et annonces)",
        ),
        "statements.performance.investment_income": _words(
            "Investment income", "Ingresos por inversiones", "Produits des placements"
        ),
        "statements.performance.fx_gains_realised": _words(
            "Foreign exchange gains \u2013 realised", "Ganancias cambiarias realizadas", "Gains de change réalisés"
        ),
        "statements.performance.fx_gains_unrealised": _words(
            "Foreign exchange gains \u2013 unrealised", "Ganancias cambiarias no realizadas", "Gains de change latents"
        ),
        "statements.performance.other_revenue": _words("Other revenue", "Otros ingresos", "Autres produits"),
        "statements.performance.total_revenue": _words("Total revenue", "Total de ingresos", "Total des produits"),
        "statements.performance.expenses": _words("Expenses", "Gastos", "Charges"),
        "statements.performance.transfers": _words(
            "Transfers to implementing partners",
            "Transferencias a los asociados en la ejecución",
            "Transferts aux partenaires d'exécution",
        ),
        "statements.performance.aa_fee": _words(
            "Administrative agent fee", "Comisión del agente administrativo", "Commission de l'agent administratif"
        ),
        "statements.performance.direct_costs": _words(
            "Secretariat direct costs", "Costos directos de la secretaría", "Coûts directs du secrétariat"
        ),
        "statements.performance.bank_charges": _words("Bank charges", "Gastos bancarios", "Frais bancaires"),
        "statements.performance.fx_losses_realised": _words(
            "Foreign exchange losses \u2013 realised", "Pérdidas cambiarias realizadas", "Pertes de change réalisées"
        ),
        "statements.performance.fx_losses_unrealised": _words(
            "Foreign exchange losses \u2013 unrealised",
            "Pérdidas cambiarias no realizadas",
            "Pertes de change latentes",
        ),
        "statements.performance.other_expenses": _words("Other expenses", "Otros gastos", "Autres charges"),
        "statements.performance.total_expenses": _words("Total expenses", "Total de gastos", "Total des charges"),
        "statements.performance.surplus": _words(
            "Surplus/(deficit) for the year", "Superávit/(déficit) del ejercicio", "Excédent/(déficit) de l'exercice"
        ),
        "statements.performance.surplus_interim": _words(
            "Surplus/(deficit) for the period", "Superávit/(déficit) del período", "Excédent/(déficit) de la période"
        ),
        # statement of changes in net assets
        "statements.changes.title": _words(
            "Statement of changes in net assets for the year ended {day}",
            "Estado de cambios en los activos netos/patrimonio del ejercicio terminado el {day}",
            "État des variations de l'actif net de l'exercice clos le {day}",
        ),
        "statements.changes.title_interim": _words(
            "Statement of changes in net assets for the period ended {day}",
            "Estado de cambios en los activos netos/patrimonio del período terminado el {day}",
            "État des variations de l'actif net de la période close le {day}",
        ),
        "statements.changes.opening": _words(
            "Net assets at 1 January", "Activos netos/patrimonio al 1 de enero", "Actif net au 1er janvier"
        ),
        "statements.changes.direct": _words(
            "Movements recognised directly in net assets",
            "Movimientos reconocidos directamente en los activos netos/patrimonio",
            "Mouvements comptabilisés directement en actif net",
        ),
        "statements.changes.closing": _words(
            "Net assets at 31 December", "Activos netos/patrimonio al 31 de diciembre", "Actif net au 31 décembre"
        ),
        "statements.changes.closing_interim": _words(
            "Net assets at the end of the period",
            "Activos netos/patrimonio al cierre del período",
            "Actif net à la clôture de la période",
        ),
        # cash flow statement
        "statements.cash.title": _words(
            "Cash flow statement for the year ended {day}",
            "Estado de flujos de efectivo del ejercicio terminado el {day}",
            "Tableau des flux de trésorerie de l'exercice clos le {day}",
        ),
        "statements.cash.title_interim": _words(
            "Cash flow statement for the period ended {day}",
            "Estado de flujos de efectivo del período terminado el {day}",
            "Tableau des flux de trésorerie de la période close le {day}",
        ),
        "statements.cash.operating": _words(
            "Cash flows from operating activities",
            "Flujos de efectivo de las actividades de operación",
            "Flux de trésorerie liés aux activités opérationnelles",
        ),
        "statements.cash.receipts": _words("Receipts", "Cobros", "Encaissements"),
        "statements.cash.contributors": _words(
            "Receipts from contributors", "Cobros de contribuyentes", "Encaissements des contributeurs"
        ),
        "statements.cash.investment_income": _words(
            "Investment income received", "Ingresos por inversiones cobrados", "Produits des placements encaissés"
        ),
        "statements.cash.partner_refunds": _words(
            "Refunds received from implementing partners",
            "Reembolsos recibidos de los asociados en la ejecución",
            "Remboursements reçus des partenaires d'exécution",
        ),
        "statements.cash.payments": _words("Payments", "Pagos", "Décaissements"),
        "statements.cash.partner_payments": _words(
            "Transfers paid to implementing partners",
            "Transferencias pagadas a los asociados en la ejecución",
            "Transferts versés aux partenaires d'exécution",
        ),
        "statements.cash.aa_fee": _words(
            "Administrative agent fee paid",
            "Comisión del agente administrativo pagada",
            "Commission de l'agent administratif versée",
        ),
        "statements.cash.direct_costs": _words(
            "Secretariat direct costs paid",
            "Costos directos de la secretaría pagados",
            "Coûts directs du secrétariat payés",
        ),
        "statements.cash.bank_charges": _words(
            "Bank charges paid", "Gastos bancarios pagados", "Frais bancaires payés"
        ),
        "statements.cash.other": _words(
            "Other receipts and payments", "Otros cobros y pagos", "Autres encaissements et décaissements"
        ),
        "statements.cash.net_operating": _words(
            "Net cash flows from operating activities",
            "Flujos netos de efectivo de las actividades de operación",
            "Flux nets de trésorerie liés aux activités opérationnelles",
        ),
        "statements.cash.fx_effect": _words(
            "Effect of exchange rate changes on cash",
            "Efecto de las variaciones de los tipos de cambio sobre el efectivo",
            "Incidence des variations des taux de change sur la trésorerie",
        ),
        "statements.cash.net_change": _words(
            "Net increase/(decrease) in cash",
            "Aumento/(disminución) neto del efectivo",
            "Augmentation/(diminution) nette de la trésorerie",
        ),
        "statements.cash.opening": _words("Cash at 1 January", "Efectivo al 1 de enero", "Trésorerie au 1er janvier"),
        "statements.cash.closing": _words(
            "Cash at 31 December", "Efectivo al 31 de diciembre", "Trésorerie au 31 décembre"
        ),
        "statements.cash.closing_interim": _words(
            "Cash at the end of the period", "Efectivo al cierre del período", "Trésorerie à la clôture de la période"
        ),
        # comparison of budget and actual amounts
        "statements.budget.title": _words(
            "Statement of comparison of budget and actual amounts (secretariat budget) for the year ended {day}",
            "Estado de comparación de los importes presupuestados y realizados (presupuesto de la secretaría) del "
            "ejercicio terminado el {day}",
            "État comparatif des montants budgétisés et des montants réels (budget du secrétariat) de l'exercice "
            "clos le {day}",
        ),
        "statements.budget.title_interim": _words(
            "Statement of comparison of budget and actual amounts (secretariat budget) for the period ended {day}",
            "Estado de comparación de los importes presupuestados y realizados (presupuesto de la secretaría) del "
            "período terminado el {day}",
            "État comparatif des montants budgétisés et des montants réels (budget du secrétariat) de la période "
            "close le {day}",
        ),
        "statements.budget.column.item": _words("Budget year", "Ejercicio presupuestario", "Exercice budgétaire"),
        "statements.budget.column.approved": _words(
            "Approved budget (currency of approval)",
            "Presupuesto aprobado (moneda de aprobación)",
            "Budget approuvé (monnaie d'approbation)",
        ),
        "statements.budget.column.rate": _words("Conversion rate", "Tipo de conversión", "Taux de conversion"),
        "statements.budget.column.budget": _words("Final budget", "Presupuesto final", "Budget définitif"),
        "statements.budget.column.actual": _words(
            "Actual amounts (direct costs)", "Importes realizados (costos directos)", "Montants réels (coûts directs)"
        ),
        "statements.budget.column.variance": _words(
            "Difference: budget less actual",
            "Diferencia: presupuesto menos realizado",
            "Écart : budget moins réel",
        ),
        "statements.budget.column.used": _words("Budget used", "Presupuesto utilizado", "Taux d'utilisation"),
        "statements.budget.row": _words(
            "Secretariat budget {year}", "Presupuesto de la secretaría {year}", "Budget du secrétariat {year}"
        ),
        # notes: exchange rates and commitments
        "statements.fx.title": _words(
            "Note: closing exchange rates used (units of {currency} per unit of currency)",
            "Nota: tipos de cambio de cierre utilizados (unidades de {currency} por unidad de moneda)",
            "Note : cours de clôture utilisés (unités de {currency} par unité de monnaie)",
        ),
        "statements.fx.column.currency": _words("Currency", "Moneda", "Monnaie"),
        "statements.fx.column.rate": _words(
            "Closing rate {year}", "Tipo de cambio de cierre {year}", "Cours de clôture {year}"
        ),
        "statements.fx.column.date": _words("Date of the rate {year}", "Fecha del tipo {year}", "Date du cours {year}"),
        "statements.commitments.title": _words(
            "Note: commitments not yet recognised",
            "Nota: compromisos aún no reconocidos",
            "Note : engagements non encore comptabilisés",
        ),
        "statements.commitments.signed": _words(
            "Signed grant agreements not yet recognised as expense",
            "Acuerdos de subvención firmados aún no reconocidos como gasto",
            "Accords de subvention signés non encore comptabilisés en charges",
        ),
        "statements.commitments.allocated": _words(
            "Grants approved by funding decisions, agreements not yet signed",
            "Subvenciones aprobadas por decisiones de financiación, acuerdos aún no firmados",
            "Subventions approuvées par des décisions de financement, accords non encore signés",
        ),
        "statements.commitments.total": _words(
            "Total commitments not yet recognised",
            "Total de compromisos aún no reconocidos",
            "Total des engagements non encore comptabilisés",
        ),
        # notes: accounting policies
        "statements.note.policies.title": _words(
            "Note 1: significant accounting policies",
            "Nota 1: políticas contables significativas",
            "Note 1 : principales méthodes comptables",
        ),
        "statements.note.policies.basis": _words(
            "The financial statements are prepared on the accrual basis of accounting in accordance with the "
            "International Public Sector Accounting Standards (IPSAS) and are presented in {currency}. They are "
            "derived at the time of generation from the facility's double-entry ledger: every figure is a sum of "
            "journal entries, listed by the link it carries.",
            "Los estados financieros se preparan según la base contable de acumulación (o devengo), de "
            "conformidad con las Normas Internacionales de Contabilidad del Sector Público (IPSAS), y se "
            "presentan en {currency}. Se obtienen, en el momento de su generación, del libro mayor por partida "
            "doble del mecanismo: cada cifra es una suma de asientos contables, enumerados en el enlace que la "
            "acompaña.",
            "Les états financiers sont établis selon la méthode de la comptabilité d'exercice, conformément aux "
            "Normes comptables internationales du secteur public (IPSAS), et sont présentés en {currency}. Ils "
            "sont tirés, au moment de leur production, du grand livre en partie double du mécanisme : chaque "
            "montant est une somme d'écritures comptables, énumérées par le lien qui l'accompagne.",
        ),
        "statements.note.policies.revenue": _words(
            "Contributions are revenue from non-exchange transactions (IPSAS 23). Annual membership fees are "
            "recognised when assessed and unconditional pledges when the contribution agreement is signed, as "
            "contributions receivable. Pledges subject to a condition are recognised as deferred revenue (a "
            "liability) and become revenue when the condition is met. Money received that settles no receivable "
            "is held as contributions received in advance.",
            "Las contribuciones son ingresos procedentes de transacciones sin contraprestación (IPSAS 23). Las "
            "cuotas anuales de los miembros se reconocen cuando se fijan y las promesas de contribución "
            "incondicionales cuando se firma el acuerdo de contribución, como contribuciones por cobrar. Las "
            "promesas sujetas a una condición se reconocen como ingresos diferidos (un pasivo) y pasan a ser "
            "ingresos cuando se cumple la condición. El dinero recibido que no liquida ninguna cuenta por cobrar "
            "se mantiene como contribuciones recibidas por anticipado.",
            "Les contributions sont des produits d'opérations sans contrepartie directe (IPSAS 23). Les "
            "cotisations annuelles des membres sont comptabilisées lors de leur mise en recouvrement et les "
            "annonces de contributions inconditionnelles à la signature de l'accord de contribution, en "
            "contributions à recevoir. Les annonces assorties d'une condition sont comptabilisées en produits "
            "différés (un passif) et deviennent des produits lorsque la condition est remplie. Les fonds reçus "
            "qui ne règlent aucune créance sont tenus en contributions reçues d'avance.",
        ),
        "statements.note.policies.grants": _words(
            "Transfers to implementing partners are recognised as an expense tranche by tranche: tranches "
            "without a condition when the grant agreement is signed, conditional tranches when the report they "
            "depend on is accepted. Recognised tranches not yet paid are grants payable. Refunds from partners "
            "reduce the expense; when a grant closes, recognised tranches that were never paid are reversed.",
            "Las transferencias a los asociados en la ejecución se reconocen como gasto tramo por tramo: los "
            "tramos sin condición cuando se firma el acuerdo de subvención, los tramos condicionados cuando se "
            "acepta el informe del que dependen. Los tramos reconocidos y aún no pagados son subvenciones por "
            "pagar. Los reembolsos de los asociados reducen el gasto; al cierre de una subvención se revierten "
            "los tramos reconocidos que nunca se pagaron.",
            "Les transferts aux partenaires d'exécution sont comptabilisés en charges tranche par tranche : les "
            "tranches sans condition à la signature de l'accord de subvention, les tranches conditionnelles à "
            "l'acceptation du rapport dont elles dépendent. Les tranches comptabilisées et non encore versées "
            "sont des subventions à payer. Les remboursements des partenaires réduisent la charge ; à la clôture "
            "d'une subvention, les tranches comptabilisées jamais versées sont contrepassées.",
        ),
        "statements.note.policies.fee": _words(
            "The administrative agent fee is charged on each deposit that settles a receivable and is recognised "
            "as an expense when the deposit is received.",
            "La comisión del agente administrativo se cobra sobre cada depósito que liquida una cuenta por cobrar "
            "y se reconoce como gasto cuando se recibe el depósito.",
            "La commission de l'agent administratif est prélevée sur chaque dépôt qui règle une créance et "
            "comptabilisée en charges à la réception du dépôt.",
        ),
        "statements.note.policies.fx": _words(
            "Transactions in foreign currencies are translated into {currency} at the rate of the day of the "
            "transaction. Monetary items (cash, receivables, payables and contributions received in advance) are "
            "revalued at the closing rate; differences arising on settlement are realised, and those arising on "
            "revaluation unrealised, foreign exchange gains or losses. The closing rates used are given below.",
            "Las transacciones en moneda extranjera se convierten a {currency} al tipo de cambio del día de la "
            "transacción. Las partidas monetarias (efectivo, cuentas por cobrar, cuentas por pagar y "
            "contribuciones recibidas por anticipado) se reevalúan al tipo de cambio de cierre; las diferencias "
            "que surgen en la liquidación son ganancias o pérdidas cambiarias realizadas, y las que surgen en la "
            "reevaluación, no realizadas. Los tipos de cierre utilizados figuran más abajo.",
            "Les opérations en devises sont converties en {currency} au cours du jour de l'opération. Les "
            "éléments monétaires (trésorerie, créances, dettes et contributions reçues d'avance) sont réévalués "
            "au cours de clôture ; les écarts constatés au règlement sont des gains ou pertes de change réalisés, "
            "ceux constatés à la réévaluation des gains ou pertes latents. Les cours de clôture utilisés figurent "
            "ci-dessous.",
        ),
        "statements.note.policies.net_assets": _words(
            "No closing entries are posted: net assets are the balances of the net assets accounts (pooled fund "
            "and thematic windows) plus the accumulated surplus, the revenue less the expenses of every year "
            "since inception. The accumulated surplus is shown as one amount, not split between the pooled fund "
            "and the windows, because allocations of pooled funds to windows are recorded in the budgetary book "
            "only.",
            "No se registran asientos de cierre: los activos netos/patrimonio son los saldos de las cuentas de "
            "activos netos (fondo mancomunado y ventanillas temáticas) más el superávit acumulado, es decir, los "
            "ingresos menos los gastos de todos los ejercicios desde el inicio. El superávit acumulado se presenta "
            "como un único importe, sin dividirlo entre el fondo mancomunado y las ventanillas, porque las "
            "asignaciones de fondos mancomunados a las ventanillas solo se registran en la contabilidad "
            "presupuestaria.",
            "Aucune écriture de clôture n'est passée : l'actif net correspond aux soldes des comptes d'actif net "
            "(fonds commun et guichets thématiques) augmentés de l'excédent cumulé, soit les produits moins les "
            "charges de tous les exercices depuis l'origine. L'excédent cumulé est présenté en un seul montant, "
            "sans répartition entre le fonds commun et les guichets, car les allocations de fonds communs aux "
            "guichets ne sont enregistrées qu'en comptabilité budgétaire.",
        ),
        "statements.note.policies.cash_flow": _words(
            "The cash flow statement is presented using the direct method. Each movement of cash is classified "
            "by the transaction that caused it: deposits of contributors (net of the administrative agent fee "
            "they pay), transfers to and refunds from implementing partners, and, for other entries, the "
            "accounts they were recorded against. The revaluation of cash balances at closing rates is the "
            "effect of exchange rate changes on cash.",
            "El estado de flujos de efectivo se presenta por el método directo. Cada movimiento de efectivo se "
            "clasifica según la transacción que lo originó: depósitos de los contribuyentes (sin la comisión del "
            "agente administrativo que pagan), transferencias a los asociados en la ejecución y reembolsos de "
            "estos y, para los demás asientos, las cuentas con las que se registraron. La reevaluación de los "
            "saldos de efectivo a los tipos de cierre es el efecto de las variaciones de los tipos de cambio "
            "sobre el efectivo.",
            "Le tableau des flux de trésorerie est présenté selon la méthode directe. Chaque mouvement de "
            "trésorerie est classé selon l'opération qui l'a causé : dépôts des contributeurs (hors commission de "
            "l'agent administratif qu'ils acquittent), transferts aux partenaires d'exécution et remboursements "
            "reçus d'eux et, pour les autres écritures, les comptes en contrepartie desquels elles ont été "
            "passées. La réévaluation des soldes de trésorerie aux cours de clôture constitue l'incidence des "
            "variations des taux de change sur la trésorerie.",
        ),
        "statements.note.policies.budget": _words(
            "The budget is the secretariat's administrative budget approved by decision of the members. It is "
            "compared with the secretariat's direct costs on the same accrual basis and classification. A budget "
            "approved in a currency other than {currency} is converted at the closing rate of its year.",
            "El presupuesto es el presupuesto administrativo de la secretaría aprobado por decisión de los "
            "miembros. Se compara con los costos directos de la secretaría con la misma base contable de "
            "acumulación y la misma clasificación. Un presupuesto aprobado en una moneda distinta de {currency} "
            "se convierte al tipo de cambio de cierre de su ejercicio.",
            "Le budget est le budget administratif du secrétariat approuvé par décision des membres. Il est "
            "comparé aux coûts directs du secrétariat selon la même méthode de la comptabilité d'exercice et la "
            "même classification. Un budget approuvé dans une monnaie autre que {currency} est converti au cours "
            "de clôture de son exercice.",
        ),
        "statements.note.policies.commitments": _words(
            "Commitments not yet recognised are taken from the budgetary book: grant agreements signed and not "
            "yet recognised as expense (committed funds less grants payable), and grants approved by funding "
            "decisions whose agreement is not yet signed.",
            "Los compromisos aún no reconocidos proceden de la contabilidad presupuestaria: acuerdos de "
            "subvención firmados y aún no reconocidos como gasto (fondos comprometidos menos subvenciones por "
            "pagar) y subvenciones aprobadas por decisiones de financiación cuyo acuerdo aún no se ha firmado.",
            "Les engagements non encore comptabilisés sont tirés de la comptabilité budgétaire : accords de "
            "subvention signés et non encore comptabilisés en charges (fonds engagés moins subventions à payer) "
            "et subventions approuvées par des décisions de financement dont l'accord n'est pas encore signé.",
        ),
        # interim statements
        "statements.note.interim.title": _words(
            "Interim financial statements", "Estados financieros intermedios", "États financiers intermédiaires"
        ),
        "statements.note.interim": _words(
            "The year {year} has not ended: these statements cover {start} to {day}, the day they were generated, "
            "and are provisional; they will change as the entries of the year are recorded. The column of the "
            "prior year covers the whole of {prior}.",
            "El ejercicio {year} no ha terminado: estos estados abarcan del {start} al {day}, fecha en que se "
            "generaron, y son provisionales; cambiarán a medida que se registren los asientos del ejercicio. La "
            "columna del ejercicio anterior abarca todo el año {prior}.",
            "L'exercice {year} n'est pas clos : ces états couvrent la période du {start} au {day}, date à laquelle "
            "ils ont été produits, et sont provisoires ; ils évolueront à mesure que les écritures de l'exercice "
            "seront enregistrées. La colonne de l'exercice précédent couvre toute l'année {prior}.",
        ),
        # certification of the printed statements
        "statements.sign.prepared": _words("Prepared by", "Preparado por", "Préparé par"),
        "statements.sign.reviewed": _words("Reviewed by", "Revisado por", "Révisé par"),
        # notes: the budget's approval
        "statements.note.budget.title": _words(
            "Note 2: approval of the budget",
            "Nota 2: aprobación del presupuesto",
            "Note 2 : approbation du budget",
        ),
        "statements.note.budget.approved": _words(
            "The secretariat budget for {year} was approved by decision {decision}.",
            "El presupuesto de la secretaría para {year} fue aprobado por la decisión {decision}.",
            "Le budget du secrétariat pour {year} a été approuvé par la décision {decision}.",
        ),
        "statements.note.budget.converted": _words(
            "The {year} budget, approved in {currency}, is converted at {rate} {reporting} per {currency}, the "
            "rate of {day}.",
            "El presupuesto de {year}, aprobado en {currency}, se convierte a {rate} {reporting} por {currency}, "
            "el tipo de cambio del {day}.",
            "Le budget {year}, approuvé en {currency}, est converti à {rate} {reporting} pour 1 {currency}, le "
            "cours du {day}.",
        ),
        "statements.note.budget.no_rate": _words(
            "The {year} budget, approved in {currency}, cannot be converted: the ledger holds no {currency} rate "
            "on or before {day}.",
            "El presupuesto de {year}, aprobado en {currency}, no puede convertirse: el libro mayor no tiene "
            "ningún tipo de cambio de {currency} al {day} o anterior.",
            "Le budget {year}, approuvé en {currency}, ne peut être converti : le grand livre ne contient aucun "
            "cours du {currency} au {day} ou antérieur.",
        ),
        "statements.note.budget.none": _words(
            "No secretariat budget was approved for {year}.",
            "No se aprobó ningún presupuesto de la secretaría para {year}.",
            "Aucun budget du secrétariat n'a été approuvé pour {year}.",
        ),
    }
)
