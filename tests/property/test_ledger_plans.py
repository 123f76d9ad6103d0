"""Properties of the ledger's pure planners (ledger/rules.py), with no database: the revaluation brings every
foreign balance to its closing-rate value in balanced lines; a period's close writes every month before it
closed exactly once, or refuses; a manual entry's plan refuses what the posting service refuses, in its
order, and plans balanced rows otherwise; the four-eyes planners never let the maker check.

The oracles here restate each rule from the ledger's documentation, sharing no code with the planners.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundapp.core.errors import DomainError
from ledger import chart, rules
from ledger.models import PeriodStatus, RequestStatus
from ledger.money import Money
from ledger.types import MAX_LINE_MINOR, ChartAccount, EntryDraft, Line

REPORTING = "USD"
TODAY = date(2026, 4, 15)
NOW = datetime(2026, 4, 15, 12, tzinfo=UTC)
ACCOUNTS = {
    spec.code: ChartAccount(
        n,
        spec.code,
        spec.name,
        spec.book.value,
        spec.type.value,
        spec.normal_side.value,
        spec.currencies,
        spec.is_monetary,
        True,
    )
    for n, spec in enumerate(chart.REFERENCE_CHART, 1)
}
BY_ID = {a.id: a for a in ACCOUNTS.values()}
MONETARY = sorted(a.id for a in ACCOUNTS.values() if a.is_monetary and a.book == "financial")
FOREIGN = ["EUR", "GBP", "JPY", "KWD"]


@st.composite
def closing_rates(draw: st.DrawFn) -> Decimal:
    """A positive rate up to 1,000: every balance drawn below then converts within a line's range."""
    digits = draw(st.integers(min_value=1, max_value=10**6))
    return Decimal(digits).scaleb(-draw(st.integers(min_value=3, max_value=9)))


def open_period(day: date) -> rules.PeriodFacts:
    return rules.PeriodFacts(rules.period_of(day), PeriodStatus.OPEN.value)


# -- revaluation ---------------------------------------------------------------------------------------------

revaluation_keys = st.builds(
    rules.RevaluationKey,
    st.sampled_from(MONETARY),
    st.sampled_from(FOREIGN),
    st.none() | st.integers(1, 3),
    st.none() | st.integers(1, 3),
    st.none() | st.integers(1, 3),
)
balances = st.dictionaries(
    revaluation_keys,
    st.tuples(st.integers(-(10**8), 10**8), st.integers(-(10**10), 10**10)),
    max_size=12,
)


@given(balances=balances, rates=st.fixed_dictionaries({c: closing_rates() for c in FOREIGN}))
def test_revaluation_balances_and_brings_each_foreign_balance_to_its_closing_value(
    balances: dict[rules.RevaluationKey, tuple[int, int]], rates: dict[str, Decimal]
) -> None:
    as_of = date(2026, 3, 31)
    facts = rules.RevaluationFacts(TODAY, REPORTING, open_period(as_of), BY_ID, balances, rates)
    plan = rules.plan_revaluation(facts, as_of, "key")
    assert plan.opens_period is None
    moved: dict[tuple[str, str, int | None, int | None, int | None], int] = defaultdict(int)
    if plan.draft is not None:
        lines = plan.draft.lines
        assert sum(line.reporting_amount.minor for line in lines if line.reporting_amount) == 0
        assert all(line.amount.is_zero for line in lines)
        assert {line.reporting_amount.currency for line in lines if line.reporting_amount} == {REPORTING}
        for line in lines:
            assert line.reporting_amount is not None and not line.reporting_amount.is_zero
            dims = (line.account, line.amount.currency, line.contributor_id, line.window_id, line.grant_id)
            moved[dims] += line.reporting_amount.minor
        # The entry posts: every line of it passes the posting checks, and it balances.
        entry_facts = rules.EntryFacts(TODAY, REPORTING, open_period(as_of), ACCOUNTS, {})
        planned = rules.plan_entry(plan.draft, entry_facts)
        assert planned.draft == plan.draft
    for key, (amount, carrying) in balances.items():
        code = BY_ID[key.account_id].code
        closing = rules.convert_minor(amount, key.currency, rates[key.currency], REPORTING)
        dims = (code, key.currency, key.contributor_id, key.window_id, key.grant_id)
        assert carrying + moved[dims] == closing


def test_revaluation_names_a_missing_rate_and_refuses_a_closed_month() -> None:
    key = rules.RevaluationKey(MONETARY[0], "EUR", None, None, None)
    facts = rules.RevaluationFacts(TODAY, REPORTING, open_period(TODAY), BY_ID, {key: (100, 90)}, {"EUR": None})
    with pytest.raises(DomainError) as refused:
        rules.plan_revaluation(facts, TODAY, None)
    assert (refused.value.rule, refused.value.errors[0].field) == ("fx-rate-known", "currency")
    closed = rules.PeriodFacts(rules.period_of(TODAY), PeriodStatus.CLOSED.value)
    facts = rules.RevaluationFacts(TODAY, REPORTING, closed, BY_ID, {}, {})
    with pytest.raises(DomainError) as refused:
        rules.plan_revaluation(facts, TODAY, None)
    assert (refused.value.rule, refused.value.errors[0].field) == ("period-open", "as_of")


# -- period close --------------------------------------------------------------------------------------------


def month(n: int) -> str:
    return f"{2024 + n // 12:04d}-{n % 12 + 1:02d}"


@given(
    first=st.integers(0, 30),
    period=st.integers(0, 30),
    existing=st.sets(st.integers(0, 30), max_size=30),
    status=st.sampled_from([None, PeriodStatus.OPEN.value, PeriodStatus.CLOSED.value]),
    earlier_open=st.none() | st.integers(0, 30),
    later_postings=st.booleans(),
)
def test_a_close_writes_every_month_before_it_closed_once_or_refuses(
    first: int, period: int, existing: set[int], status: str | None, earlier_open: int | None, later_postings: bool
) -> None:
    period_id = month(period)
    before = {m for m in existing | {first} if m < period}
    closed_through = month(max(before)) if before else None
    if earlier_open is not None and earlier_open >= period:
        earlier_open = None
    facts = rules.CloseFacts(
        period_id=period_id,
        today=date(2026, 12, 1),
        status=status,
        closed_through=closed_through,
        earlier_open=None if earlier_open is None else month(earlier_open),
        first=month(min(existing | {first, period})),
        existing=frozenset(month(m) for m in before),
        head="head",
        head_at_end="at-end" if later_postings else None,
    )
    expected = None
    if status == PeriodStatus.CLOSED.value:
        expected = "period-open"
    elif earlier_open is not None:
        expected = "close-in-order"
    if expected is not None:
        with pytest.raises(DomainError) as refused:
            rules.plan_period_close(facts, now=NOW, closed_by=7)
        assert refused.value.rule == expected
        return
    plan = rules.plan_period_close(facts, now=NOW, closed_by=7)
    start = min(existing | {first, period})
    every = {month(m) for m in range(start, period)}
    assert set(plan.unused_months) | facts.existing == every
    assert not set(plan.unused_months) & facts.existing
    assert len(plan.unused_months) == len(set(plan.unused_months))
    assert plan.creates == (status is None)
    assert plan.closed["status"] == plan.unused_closed["status"] == PeriodStatus.CLOSED.value
    assert plan.closed["closing_chain_head"] == ("at-end" if later_postings else "head")
    assert plan.unused_closed["closing_chain_head"] == "head"


@given(day=st.integers(0, 40))
def test_a_month_closes_only_after_its_last_day(day: int) -> None:
    today = date(2026, 3, 20) + timedelta(days=day)
    facts = rules.CloseFacts("2026-04", today, None, None, None, None, frozenset(), "head", None)
    if today <= date(2026, 4, 30):
        with pytest.raises(DomainError) as refused:
            rules.plan_period_close(facts, now=NOW, closed_by=None)
        assert refused.value.rule == "period-ended"
    else:
        assert rules.plan_period_close(facts, now=NOW, closed_by=None).creates


# -- a manual entry ------------------------------------------------------------------------------------------

CLOSED_ACCOUNT = "9990"
CHART_FOR_ENTRIES = {
    **ACCOUNTS,
    CLOSED_ACCOUNT: ChartAccount(999, CLOSED_ACCOUNT, "closed", "financial", "asset", "debit", "*", True, False),
}
FINANCIAL = [chart.CASH, chart.GRANTS_PAYABLE, chart.CONTRIBUTION_REVENUE, CLOSED_ACCOUNT, "0000"]
REPORTING_ONLY = [a.code for a in ACCOUNTS.values() if a.currencies == "REPORTING"]
ENTRY_RATES = {"EUR": Decimal("1.0843"), "JPY": Decimal("0.006712"), "CHF": None}


@dataclass(frozen=True)
class Pair:
    debit: str
    credit: str
    currency: str
    amount: int
    reporting: int | None


VALID = [chart.CASH, chart.GRANTS_PAYABLE, chart.CONTRIBUTION_REVENUE]
pairs = st.builds(
    Pair,
    st.sampled_from(VALID * 6 + FINANCIAL + REPORTING_ONLY[:1]),
    st.sampled_from(VALID * 6 + FINANCIAL),
    st.sampled_from([REPORTING, "EUR", "JPY"] * 3 + ["CHF"]),
    st.integers(1, 10**9) | st.just(0) | st.just(10**16),
    st.none() | st.none() | st.integers(-5, 10**9),
)


def draft_of(pairs: list[Pair], description: str, entry_date: date, skew: int) -> EntryDraft:
    lines: list[Line] = []
    for p in pairs:
        reporting = None if p.reporting is None else Money.from_minor(p.reporting, REPORTING)
        lines.append(Line(p.debit, Money.from_minor(p.amount, p.currency), reporting))
        back = None if p.reporting is None else Money.from_minor(-p.reporting, REPORTING)
        lines.append(Line(p.credit, Money.from_minor(-p.amount - skew, p.currency), back))
    return EntryDraft(entry_date, description, tuple(lines))


def first_refusal(draft: EntryDraft, period_status: str) -> str | None:
    """The rule the posting service refuses a draft by, for the checks that come before its conversion."""
    if len(draft.lines) < 2:
        return "min-two-lines"
    if not draft.description.strip():
        return "required"
    if draft.entry_date > TODAY:
        return "not-in-future"
    if period_status == PeriodStatus.CLOSED.value:
        return "period-open"
    if any(line.account not in CHART_FOR_ENTRIES for line in draft.lines):
        return "account-exists"
    for line in draft.lines:
        account = CHART_FOR_ENTRIES[line.account]
        if not account.is_open:
            return "account-open"
        if account.currencies == "REPORTING" and line.amount.currency != REPORTING:
            return "account-currency"
    for line in draft.lines:
        given = line.reporting_amount
        if abs(line.amount.minor) > MAX_LINE_MINOR or (line.amount.is_zero and (given is None or given.is_zero)):
            return "lines"
        if line.amount.currency == REPORTING and given is not None and given != line.amount:
            return "lines"
    if any(line.reporting_amount is None and ENTRY_RATES.get(line.amount.currency, 1) is None for line in draft.lines):
        return "fx-rate-known"
    return None


@given(
    pairs=st.lists(pairs, max_size=3),
    description=st.sampled_from(["Accrual"] * 9 + ["  "]),
    day=st.sampled_from([TODAY, date(2026, 4, 1)] * 5 + [date(2026, 4, 16)]),
    period_status=st.sampled_from([PeriodStatus.OPEN.value] * 9 + [PeriodStatus.CLOSED.value]),
    skew=st.sampled_from([0, 0, 1]),
)
def test_a_manual_entry_plan_refuses_what_posting_refuses_and_plans_balanced_rows(
    pairs: list[Pair], description: str, day: date, period_status: str, skew: int
) -> None:
    draft = draft_of(pairs, description, day, skew)
    facts = rules.EntryFacts(
        TODAY,
        REPORTING,
        rules.PeriodFacts(rules.period_of(day), period_status),
        CHART_FOR_ENTRIES,
        {c: ENTRY_RATES[c] for c in rules.converted_currencies(draft) if c != REPORTING},
    )
    expected = first_refusal(draft, period_status)
    try:
        plan = rules.plan_entry(draft, facts)
    except DomainError as refused:
        rule = refused.rule or "lines"
        if expected is None:
            assert rule in ("amount-within-range", "balanced")
        else:
            assert rule == expected
        return
    assert expected is None
    per_currency: dict[tuple[str, str], int] = defaultdict(int)
    per_book: dict[str, int] = defaultdict(int)
    for row in plan.rows:
        book = CHART_FOR_ENTRIES[row["account"]].book
        per_currency[(book, row["currency"])] += row["amount"]
        per_book[book] += row["reporting_amount"]
        assert abs(row["reporting_amount"]) <= MAX_LINE_MINOR
    assert not any(per_currency.values()) and not any(per_book.values())
    assert [row["line_no"] for row in plan.rows] == list(range(1, len(plan.rows) + 1))
    assert plan.opens_period is None


def test_a_month_nobody_used_is_opened_unless_the_books_are_closed_past_it() -> None:
    line = Money.from_minor(100, REPORTING)
    draft = EntryDraft(TODAY, "Accrual", (Line(chart.CASH, line), Line(chart.GRANTS_PAYABLE, -line)))
    unused = rules.PeriodFacts("2026-04", None, "2026-03")
    assert rules.plan_entry(draft, rules.EntryFacts(TODAY, REPORTING, unused, ACCOUNTS, {})).opens_period == "2026-04"
    closed_past = rules.PeriodFacts("2026-04", None, "2026-05")
    with pytest.raises(DomainError) as refused:
        rules.plan_entry(draft, rules.EntryFacts(TODAY, REPORTING, closed_past, ACCOUNTS, {}))
    assert refused.value.rule == "period-open"


# -- four eyes -----------------------------------------------------------------------------------------------


@given(
    needed=st.sampled_from([1, 2]),
    prepared_by=st.integers(1, 3),
    first=st.none() | st.integers(1, 3),
    approver=st.none() | st.integers(1, 3),
    status=st.sampled_from(list(RequestStatus)),
)
def test_an_approval_never_comes_from_the_maker_and_two_come_from_two_people(
    needed: int, prepared_by: int, first: int | None, approver: int | None, status: RequestStatus
) -> None:
    payload = '{"entry_id": 5, "entry_date": "2026-04-01", "description": null}'
    request = rules.RequestFacts(9, "reversal", status.value, payload, 100, needed, prepared_by, first)
    try:
        plan = rules.plan_approval(request, approver, NOW, REPORTING)
    except DomainError as refused:
        assert (
            status is not RequestStatus.PENDING
            or approver is None
            or approver == prepared_by
            or (first is not None and approver == first)
        ), refused.rule
        return
    assert status is RequestStatus.PENDING and approver is not None and approver != prepared_by
    if needed == 2 and first is None:
        assert plan.posts is None and plan.updates["first_approved_by"] == approver
    else:
        assert plan.posts == rules.ReversalOrder(5, date(2026, 4, 1), None, "entry-request:9")
        updates, event = rules.approved(plan, 9, 11, "h")
        assert updates["entry_id"] == 11 and updates["approved_by"] == approver
        assert event.action == "ledger.request.approve" and event.after == {"entry_id": 11, "hash": "h"}


@given(size=st.integers(0, 10**12), threshold=st.integers(0, 10**10), maker=st.none() | st.integers(1, 3))
def test_a_request_needs_two_approvals_above_the_threshold(size: int, threshold: int, maker: int | None) -> None:
    def plan() -> rules.RequestPlan:
        return rules.plan_request(
            kind="entry",
            payload={},
            payload_hash="x",
            reason="r",
            size=size,
            idempotency_key=None,
            reverses_id=None,
            prepared_by=maker,
            now=NOW,
            threshold=Decimal(threshold),
            reporting_currency=REPORTING,
        )

    if maker is None:
        with pytest.raises(DomainError) as refused:
            plan()
        assert refused.value.rule == "person-required"
        return
    values = plan().values
    assert values["approvals_needed"] == (2 if Money.from_minor(size, REPORTING).amount > threshold else 1)
    assert values["status"] == RequestStatus.PENDING.value and values["prepared_by"] == maker
