"""The concessional money planners (``concessional.rules``), on generated operations: every entry balances in
each book; a cancellation gives back exactly what was not transferred and makes the transferred amount a
refund receivable, leaving nothing allocated, committed or payable; a restructuring moves exactly the
difference, keeps every tranche at or above what it paid, and never leaves a negative balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from concessional import rules
from ledger import chart

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
