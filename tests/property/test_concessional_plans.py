"""The concessional money planners (``concessional.rules``), on generated operations: every entry balances in
each book; a cancellation gives back exactly what was not transferred and makes the transferred amount a
refund receivable, leaving nothing allocated, committed or payable; a restructuring moves exactly the
difference, keeps every tranche at or above what it paid, and never leaves a negative balance; the refund
due, received in parts, moves cash in and the budget back by each part and never past what is due."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from concessional import rules
from fundapp.core.errors import DomainError
from ledger import Money, chart

TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
BUDGETARY = {chart.AVAILABLE, chart.ALLOCATED, chart.COMMITTED, chart.DISBURSED}


@st.composite
def operations(draw: st.DrawFn) -> rules.OperationBook:
    """A grant of 1-6 tranches, awaiting its agreement (nothing paid) or signed (some tranches recognised,
    some paid in part or in full), with balances consistent with its tranches."""
    amounts = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=6))
    signed = draw(st.booleans())
    tranches = []
    for number, amount in enumerate(amounts, start=1):
        if not signed:
            tranches.append(rules.TrancheBook(number, number, amount, 0, rules.PENDING))
            continue
        status = draw(st.sampled_from([rules.PENDING, rules.RECOGNISED, rules.PAID]))
        paid = amount if status == rules.PAID else draw(st.integers(0, amount - 1)) if status == rules.RECOGNISED else 0
        tranches.append(rules.TrancheBook(number, number, amount, paid, status))
    total, paid = sum(amounts), sum(t.paid for t in tranches)
    recognised_unpaid = sum(t.amount - t.paid for t in tranches if t.status == rules.RECOGNISED)
    return rules.OperationBook(
        request_id=1,
        grant_id=7,
        window_id=3,
        currency="USD",
        grant_status="active" if signed else "awaiting_agreement",
        grant_amount=total,
        allocated=0 if signed else total,
        committed=total - paid if signed else 0,
        payable=recognised_unpaid,
        disbursed=paid,
        tranches=tuple(tranches),
        pending_disbursements=0,
    )


def _moves(plan: rules.Plan) -> dict[str, int]:
    """The plan's net movement per account (minor units), every entry balanced in each book."""
    moved: dict[str, int] = defaultdict(int)
    for entry in plan.entries:
        books: dict[bool, int] = defaultdict(int)
        for line in entry.lines:
            books[line.account in BUDGETARY] += line.amount.minor
            moved[line.account] += line.amount.minor
        assert all(total == 0 for total in books.values()), entry
    return moved


@given(operations())
def test_a_cancellation_releases_what_was_not_transferred_and_claims_what_was(book: rules.OperationBook) -> None:
    plan = rules.plan_cancellation(book, decision_id=9, today=TODAY, now=NOW)
    moved = _moves(plan)
    assert moved[chart.AVAILABLE] == book.grant_amount - book.paid
    assert book.allocated + moved[chart.ALLOCATED] == 0
    assert book.committed + moved[chart.COMMITTED] == 0
    assert -book.payable + moved[chart.GRANTS_PAYABLE] == 0
    assert moved[chart.REFUNDS_RECEIVABLE] == book.disbursed
    assert moved[chart.DISBURSED] == 0
    released = {row["id"] for row in plan.updates.get("grant_tranches", [])}
    assert released == {t.id for t in book.tranches if t.status in rules.UNPAID_STATES}


@given(operations(), st.data())
def test_a_restructuring_moves_the_difference_and_keeps_balances_whole(
    book: rules.OperationBook, data: st.DataObject
) -> None:
    new_amount = data.draw(st.integers(max(book.paid, 1), book.grant_amount * 2 + 1))
    plan = rules.plan_restructuring(book, new_amount, decision_id=9, request_values={}, today=TODAY, now=NOW)
    moved = _moves(plan)
    delta = new_amount - book.grant_amount
    assert moved[chart.AVAILABLE] == -delta
    assert book.allocated + moved[chart.ALLOCATED] >= 0
    assert book.committed + moved[chart.COMMITTED] >= 0
    assert book.payable - moved[chart.GRANTS_PAYABLE] >= 0
    changed = {row["id"]: row for row in plan.updates.get("grant_tranches", [])}
    live = 0
    for tranche in book.tranches:
        row = changed.get(tranche.id, {})
        amount, status = row.get("amount", tranche.amount), row.get("status", tranche.status)
        assert amount >= tranche.paid and amount > 0
        live += tranche.paid if status == rules.RELEASED else amount
    live += sum(row["amount"] for row in plan.rows.get("grant_tranches", []))
    assert live == new_amount


@st.composite
def refunds_due(draw: st.DrawFn) -> tuple[rules.RefundFacts, list[int]]:
    """A cancelled operation with a refund due, and receipts that pay part of it or all of it."""
    due = draw(st.integers(1, 10**10))
    parts = draw(st.lists(st.integers(1, 10**10), min_size=1, max_size=5))
    receipts, left = [], due
    for part in parts:
        if left == 0:
            break
        receipts.append(min(part, left))
        left -= receipts[-1]
    facts = rules.RefundFacts(
        request_id=1, status="cancelled", grant_id=7, window_id=3, currency="USD", cancelled_on=TODAY, due=due
    )
    return facts, receipts


@given(refunds_due())
def test_a_refund_received_moves_cash_in_and_the_budget_back_never_past_what_is_due(
    case: tuple[rules.RefundFacts, list[int]],
) -> None:
    facts, receipts = case
    due, available = facts.due, 0
    for minor in receipts:
        current = replace(facts, due=due)
        plan = rules.plan_refund_received(
            current, Money.from_minor(minor, "USD"), received_on=TODAY, reference="r", key=None, today=TODAY
        )
        (entry,) = plan.entries
        assert entry.source_type == "concessional_refund_received"
        moved = _moves(plan)
        assert moved[chart.CASH] == minor and moved[chart.REFUNDS_RECEIVABLE] == -minor
        assert moved[chart.AVAILABLE] == minor and moved[chart.DISBURSED] == -minor
        assert all(line.window_id == 3 for line in entry.lines)
        assert {line.grant_id for line in entry.lines if line.account != chart.AVAILABLE} == {7}
        due -= minor
        available += minor
        assert due >= 0
    assert available == sum(receipts) <= facts.due
    # One minor unit more than what is still due is refused, naming the field and rule.
    more = Money.from_minor(due + 1, "USD")
    left = replace(facts, due=due)
    try:
        rules.plan_refund_received(left, more, received_on=TODAY, reference="", key=None, today=TODAY)
    except DomainError as refused:
        named = (refused.errors[0].field, refused.errors[0].rule)
        assert named == (("amount", "within-refund-due") if due else ("amount", "refund-due"))
    else:
        raise AssertionError("a receipt above the refund due was planned")
