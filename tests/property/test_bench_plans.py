"""The reports benchmark's bulk commands (``bench/plans.py``) on generated facts, with no database: each
entry balances in every currency and book, a deposit divides exactly as ``governance.rules`` says, and the
rows behind an entry get its id when written."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.plans import (
    BulkPlan,
    DepositFacts,
    Instalment,
    TransferFacts,
    closure_plan,
    condition_met_plan,
    deposit_plan,
    pledge_plan,
    recognition_plan,
    refund_plan,
    transfer_plan,
    transition_rows,
)
from governance import rules as governance_rules
from ledger import Money, chart
from ledger.money import percentage

CURRENCIES = ("USD", "EUR", "JPY", "CHF")
DAY = date(2026, 3, 12)
minor = st.integers(min_value=1, max_value=10**11)


def balances(plan: BulkPlan) -> Counter[str]:
    """What the entry's lines leave in each currency: nothing when the entry balances (the reporting amounts
    are the ledger's to fill in and settle, with a realised FX line for a deposit)."""
    left: Counter[str] = Counter()
    for line in plan.draft.lines:
        left[line.amount.currency] += line.amount.minor
    return Counter({currency: value for currency, value in left.items() if value})


@given(
    currency=st.sampled_from(CURRENCIES),
    amount=minor,
    outstanding=st.integers(min_value=0, max_value=10**11),
    carried=st.integers(min_value=0, max_value=10**11),
    rate=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5"), places=4),
    window=st.sampled_from((None, 3)),
)
def test_a_deposit_balances_and_divides_as_the_rule_says(
    currency: str, amount: int, outstanding: int, carried: int, rate: Decimal, window: int | None
) -> None:
    facts = DepositFacts(
        contribution_id=7,
        day=DAY,
        contributor=11,
        contributor_name="Donor",
        window=window,
        money=Money.from_minor(amount, currency),
        outstanding=outstanding,
        carrying=(outstanding, carried),
        fee_rate=Decimal("0.01"),
        rate=rate,
        reporting_currency="USD",
        instalment_id=5,
        assessment_id=None,
        recorded_by=2,
    )
    plan = deposit_plan(facts)
    split = governance_rules.split_deposit(amount, outstanding)
    assert (plan.applied, plan.unapplied) == (split.applied, split.unapplied)
    assert plan.applied + plan.unapplied == amount
    fee = percentage(Money.from_minor(split.applied, currency), Decimal("0.01")) if split.applied else None
    assert plan.fee == (fee.minor if fee else 0)
    assert not balances(plan)
    assert plan.draft.settle_fx and plan.draft.source_type == "contribution"
    ((table, row),) = plan.rows_for(99)
    assert (table, row["entry_id"], row["applied"], row["fee"]) == ("contributions", 99, plan.applied, plan.fee)
    made_available = sum(line.amount.minor for line in plan.draft.lines if line.account == chart.AVAILABLE)
    assert made_available == plan.available


@given(amount=minor, second=st.booleans())
def test_grant_commands_balance_in_both_books(amount: int, second: bool) -> None:
    money = Money.from_minor(amount, "USD")
    facts = TransferFacts(
        disbursement_id=4,
        day=DAY,
        grant=8,
        window=3,
        tranche_id=21,
        tranche_number=2,
        money=money,
        prepared_by=1,
        approved_by=2,
        second_approved_by=3 if second else None,
    )
    plans = [
        transfer_plan(facts),
        recognition_plan(day=DAY, grant=8, window=3, tranche_id=21, tranche_number=2, report_number=1, money=money),
        refund_plan(refund_id=5, day=DAY, grant=8, window=3, money=money, recorded_by=1),
    ]
    for plan in plans:
        budgetary = sum(line.amount.minor for line in plan.draft.lines if line.account.startswith("8"))
        assert not balances(plan) and budgetary == 0
        assert all(line.grant_id in (8, None) and line.window_id == 3 for line in plan.draft.lines)
    ((_, transfer_row),) = plans[0].rows_for(40)
    assert transfer_row["entry_id"] == 40 and (transfer_row["second_approved_at"] is not None) == second


@given(released=st.integers(min_value=0, max_value=10**10), unpaid=st.integers(min_value=0, max_value=10**10))
def test_a_closure_posts_what_is_left_or_nothing(released: int, unpaid: int) -> None:
    plan = closure_plan(
        day=DAY, grant=8, window=3, released=Money.from_minor(released, "USD"), unpaid=Money.from_minor(unpaid, "USD")
    )
    if not released and not unpaid:
        assert plan is None
        return
    assert plan is not None and not balances(plan)
    posted = Counter({line.account: line.amount.minor for line in plan.draft.lines})
    assert posted[chart.AVAILABLE] == released and posted[chart.GRANTS_PAYABLE] == unpaid


def test_proposal_transitions_follow_the_workflow_table() -> None:
    when = datetime(2026, 3, 1, 9, tzinfo=UTC)
    actions = [(a, when, "") for a in ("submit", "screen", "pass", "recommend")]
    rows = transition_rows(12, actions, 1)
    assert [(r["from_state"], r["to_state"]) for r in rows] == [
        ("draft", "submitted"),
        ("submitted", "screening"),
        ("screening", "in_review"),
        ("in_review", "recommended"),
    ]
    with pytest.raises(ValueError, match="no 'pass' from 'draft'"):
        transition_rows(12, [("pass", when, "")], 1)


@given(
    currency=st.sampled_from(CURRENCIES),
    parts=st.integers(min_value=1, max_value=6),
    each=st.integers(min_value=1, max_value=10**9),
    conditional=st.booleans(),
)
def test_a_pledge_keeps_the_bench_s_instalment_ids_and_balances(
    currency: str, parts: int, each: int, conditional: bool
) -> None:
    money = Money.from_minor(each * parts, currency)
    instalments = [Instalment(100 + n, n, DAY, each) for n in range(1, parts + 1)]
    plan = pledge_plan(
        pledge_id=9,
        day=DAY,
        contributor=11,
        contributor_name="Donor",
        window=3,
        window_code="LMG",
        money=money,
        conditional=conditional,
        instalments=instalments,
    )
    assert not balances(plan)
    rows = plan.rows_for(77)
    assert [(t, r["id"]) for t, r in rows] == [("pledges", 9)] + [
        ("pledge_instalments", 100 + n) for n in range(1, parts + 1)
    ]
    assert rows[0][1]["entry_id"] == 77 and rows[0][1]["window_id"] == 3
    met = condition_met_plan(
        pledge_id=9, day=DAY, contributor=11, window=3, money=money, reporting=Money.from_minor(each, "USD")
    )
    assert not balances(met) and met.draft.source_id == "9"


@given(amount=st.integers(min_value=1, max_value=10**9), threshold=st.integers(min_value=0, max_value=10**7))
def test_a_transfer_takes_the_approvals_the_charter_s_threshold_asks(amount: int, threshold: int) -> None:
    money = Money.from_minor(amount, "USD")
    second = money.amount > threshold
    facts = TransferFacts(
        disbursement_id=4,
        day=DAY,
        grant=8,
        window=3,
        tranche_id=21,
        tranche_number=2,
        money=money,
        prepared_by=1,
        approved_by=2,
        second_approved_by=3 if second else None,
        threshold=Decimal(threshold),
    )
    ((_, row),) = transfer_plan(facts).rows_for(40)
    assert row["status"] == "approved" and row["entry_id"] == 40
    assert (row["second_approved_by"] == 3) == second
