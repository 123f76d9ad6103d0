"""Properties of the grants' workflows (``proposals/grant_workflow.py``) and of the pure planners of their
money commands (``proposals/rules.py``), checked with hypothesis and no database:

- every workflow: each state is reachable from the initial one, the terminal states are the ones no step
  leaves, no two steps share a (state, action), and ``advance`` either takes the declared step or refuses;
- every plan's entry balances, by currency and in both books;
- a transfer never pays a tranche over its amount (so never more than was committed and not yet
  transferred), and credits the commitment exactly what it pays;
- a refund returns exactly its amount to the window and never more than was transferred and not refunded;
- closure releases exactly what remains committed, reverses exactly what remains payable, and releases
  every unpaid tranche;
- the agreement commits exactly the grant's amount and recognises exactly its unconditional tranches.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundapp.core.errors import Conflict, DomainError, InvalidInput, PermissionDenied
from ledger import Money, chart
from proposals import grant_workflow as gw
from proposals import rules

TODAY = date(2026, 6, 30)
NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
CURRENCY = "EUR"
THRESHOLD = Decimal("40000.00")

minor = st.integers(min_value=1, max_value=10**12)


def book(status: str = "active", amount: int = 10_000_00) -> rules.GrantBook:
    return rules.GrantBook(7, 3, CURRENCY, status, amount, date(2026, 1, 15))


def balances(plan: rules.GrantPlan) -> dict[str, int]:
    """The plan's entry, summed by account (signed minor units, debit positive)."""
    assert plan.entry is not None
    totals: dict[str, int] = defaultdict(int)
    for line in plan.entry.lines:
        assert line.amount.currency == CURRENCY
        totals[line.account] += line.amount.minor
    return totals


def balanced(plan: rules.GrantPlan) -> bool:
    """Both books balance: the sum of the plan's lines is zero (budgetary accounts are 8xxx)."""
    assert plan.entry is not None
    financial = sum(x.amount.minor for x in plan.entry.lines if not x.account.startswith("8"))
    budgetary = sum(x.amount.minor for x in plan.entry.lines if x.account.startswith("8"))
    return financial == 0 and budgetary == 0


def rows(plan: rules.GrantPlan, table: str) -> dict[int | None, dict[str, object]]:
    return {w.id: dict(w.values) for w in plan.rows if w.table == table}


# ---------------------------------------------------------------- workflows


@pytest.mark.parametrize("workflow", gw.WORKFLOWS, ids=lambda w: w.name)
def test_every_state_is_reachable_from_the_initial_one(workflow: gw.Workflow) -> None:  # type: ignore[type-arg]
    reached, frontier = {workflow.initial}, [workflow.initial]
    while frontier:
        state = frontier.pop()
        for step in workflow.steps:
            if step.state == state and step.to not in reached:
                reached.add(step.to)
                frontier.append(step.to)
    assert reached == workflow.every_state


@pytest.mark.parametrize("workflow", gw.WORKFLOWS, ids=lambda w: w.name)
def test_terminal_states_have_no_step_and_steps_are_unique(workflow: gw.Workflow) -> None:  # type: ignore[type-arg]
    keys = [(s.state, s.action) for s in workflow.steps]
    assert len(keys) == len(set(keys))
    assert workflow.terminal, "every workflow ends"
    assert not [s for s in workflow.steps if s.state in workflow.terminal]
    assert workflow.initial not in workflow.terminal
    assert all(s.state in workflow.every_state and s.to in workflow.every_state for s in workflow.steps)


def test_the_terminal_states_are_the_expected_ones() -> None:
    assert gw.GRANT.terminal == {"closed"}
    assert gw.TRANCHE.terminal == {"paid", "released"}
    assert gw.DISBURSEMENT.terminal == {"approved", "rejected"}
    assert gw.REPORT.terminal == {"accepted"}
    assert {"active", "suspended"} == gw.SIGNED and {"active"} == gw.MOVES_MONEY
    assert {"prepared", "awaiting_second_approval"} == gw.AWAITING_APPROVAL
    assert {"due", "returned"} == gw.AWAITING_SUBMISSION


@given(st.data())
def test_advance_takes_the_declared_step_or_refuses(data: st.DataObject) -> None:
    workflow = data.draw(st.sampled_from(gw.WORKFLOWS))
    state = data.draw(st.sampled_from(sorted(workflow.every_state)))
    action = data.draw(st.sampled_from(sorted({s.action for s in workflow.steps})))
    subject = gw.TrancheSubject(2, True) if workflow is gw.TRANCHE else 5
    declared = workflow.step(state, action)
    try:
        step = gw.advance(workflow, state, action, subject)
    except DomainError as refusal:
        assert declared is None
        assert isinstance(refusal, Conflict) and refusal.rule
    else:
        assert step == declared


# ---------------------------------------------------------------- planners


tranche_amounts = st.lists(st.tuples(minor, st.booleans()), min_size=1, max_size=5)


@given(tranche_amounts)
def test_the_agreement_commits_the_grant_and_recognises_the_unconditional_tranches(
    drawn: list[tuple[int, bool]],
) -> None:
    tranches = [
        rules.TrancheFacts(10 + n, n + 1, amount, 0, "pending", "progress_report" if conditional else "none")
        for n, (amount, conditional) in enumerate(drawn)
    ]
    total = sum(t.amount for t in tranches)
    plan = rules.plan_agreement(
        book("awaiting_agreement", total),
        tranches,
        allocated=total,
        signed_on=TODAY,
        reference="A-1",
        today=TODAY,
        now=NOW,
    )
    sums = balances(plan)
    unconditional = sum(t.amount for t in tranches if t.condition == "none")
    assert balanced(plan)
    assert sums[chart.COMMITTED] == total and sums[chart.ALLOCATED] == -total
    assert sums.get(chart.TRANSFERS_TO_PARTNERS, 0) == unconditional
    recognised = rows(plan, "grant_tranches")
    assert set(recognised) == {t.id for t in tranches if t.condition == "none"}
    assert all(v["status"] == "recognised" for v in recognised.values())
    assert rows(plan, "grants")[7]["status"] == "active"


@given(minor, st.integers(min_value=0, max_value=10**12), minor, st.sampled_from([None, 41, 42]))
def test_a_transfer_never_pays_a_tranche_over_its_amount(amount: int, paid: int, asked: int, first: int | None) -> None:
    paid = min(paid, amount)
    tranche = rules.TrancheFacts(10, 1, amount, paid, "recognised" if paid < amount else "paid", "none")
    status = "prepared" if first is None else "awaiting_second_approval"
    row = rules.TransferFacts(5, status, asked, CURRENCY, "", 40, first, 43, "Org", "cleared")
    try:
        plan = rules.plan_transfer(book(), tranche, row, threshold=THRESHOLD, today=TODAY, now=NOW)
    except Conflict as refusal:
        assert refusal.rule == "within-tranche"
        assert asked > amount - paid
        return
    except PermissionDenied:
        pytest.fail("the approver is neither the preparer nor the first approver")
    disbursement = rows(plan, "disbursements")[5]
    if plan.entry is None:  # a first of two approvals: nothing moves yet
        assert disbursement["status"] == "awaiting_second_approval"
        assert Money.from_minor(asked, CURRENCY).amount > THRESHOLD
        return
    assert asked <= amount - paid
    sums = balances(plan)
    assert balanced(plan)
    assert sums[chart.DISBURSED] == asked and sums[chart.COMMITTED] == -asked
    assert sums[chart.CASH] == -asked and sums[chart.GRANTS_PAYABLE] == asked
    paid_now = rows(plan, "grant_tranches")[10]
    assert paid_now["paid"] == paid + asked <= amount
    assert paid_now["status"] == ("paid" if paid + asked == amount else "recognised")
    assert disbursement["status"] == "approved"


@given(minor, st.integers(min_value=0, max_value=10**12), st.sampled_from(["active", "suspended", "closed"]))
def test_a_refund_returns_exactly_its_amount_within_what_was_transferred(
    amount: int, disbursed: int, status: str
) -> None:
    try:
        plan = rules.plan_refund(
            book(status),
            refund_id=9,
            amount=Money.from_minor(amount, CURRENCY),
            disbursed=disbursed,
            received_on=TODAY,
            reference="R",
            recorded_by=1,
            today=TODAY,
            now=NOW,
        )
    except Conflict as refusal:
        assert status == "closed" and refusal.rule == "grant-closed"
        return
    except InvalidInput as refusal:
        assert refusal.rule == "within-disbursed" and amount > disbursed
        return
    assert status in gw.SIGNED and amount <= disbursed
    sums = balances(plan)
    assert balanced(plan)
    assert sums[chart.AVAILABLE] == amount and sums[chart.DISBURSED] == -amount
    assert sums[chart.CASH] == amount and sums[chart.TRANSFERS_TO_PARTNERS] == -amount
    (refund,) = rules_inserted(plan)
    assert refund["amount"] == amount and refund["id"] == 9


def rules_inserted(plan: rules.GrantPlan) -> list[dict[str, object]]:
    return [dict(w.values) for w in plan.rows if w.id is None]


tranche_states = st.sampled_from(["pending", "recognised", "paid", "released"])


@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10**12),
    st.lists(tranche_states, min_size=1, max_size=5),
    st.sampled_from(["accepted", "submitted", "due"]),
    st.integers(min_value=0, max_value=2),
)
def test_closure_releases_exactly_what_remains(
    committed: int, payable: int, states: list[str], final: str, pending: int
) -> None:
    tranches = [rules.TrancheFacts(10 + n, n + 1, 100, 0, s, "none") for n, s in enumerate(states)]
    facts = rules.ClosureFacts(final, pending, committed, payable)
    try:
        plan = rules.plan_closure(book(), tranches, facts, reason="done", today=TODAY, now=NOW)
    except Conflict as refusal:
        assert refusal.rule in {"final-report-accepted", "no-pending-disbursements"}
        assert final != "accepted" or pending
        return
    assert final == "accepted" and not pending
    released = rows(plan, "grant_tranches")
    assert set(released) == {t.id for t in tranches if t.status in {"pending", "recognised"}}
    assert all(v["status"] == "released" for v in released.values())
    assert rows(plan, "grants")[7]["status"] == "closed"
    if plan.entry is None:
        assert committed == payable == 0
        return
    sums = balances(plan)
    assert balanced(plan)
    # What remains committed and payable is brought to zero, and no more.
    assert committed + sums.get(chart.COMMITTED, 0) == 0 and sums.get(chart.AVAILABLE, 0) == committed
    assert -payable + sums.get(chart.GRANTS_PAYABLE, 0) == 0
    assert sums.get(chart.TRANSFERS_TO_PARTNERS, 0) == -payable


@given(st.lists(st.tuples(tranche_states, st.booleans()), min_size=1, max_size=5), st.sampled_from(list(gw.G)))
def test_an_accepted_report_recognises_the_earliest_pending_conditional_tranche(
    drawn: list[tuple[str, bool]], status: str
) -> None:
    tranches = [
        rules.TrancheFacts(10 + n, n + 1, 100 * (n + 1), 0, s, "progress_report" if c else "none")
        for n, (s, c) in enumerate(drawn)
    ]
    plan = rules.plan_recognition(book(status), tranches, report_id=3, report_number=1, today=TODAY)
    waiting = [t for t in tranches if t.condition == "progress_report" and t.status == "pending"]
    if not waiting or status not in gw.SIGNED:
        assert plan is None
        return
    assert plan is not None and balanced(plan)
    assert rows(plan, "grant_tranches") == {
        waiting[0].id: {
            "status": "recognised",
            "recognised_on": TODAY,
            "recognised_entry_id": rules.ENTRY_ID,
            "met_by_report_id": 3,
        }
    }
    assert balances(plan)[chart.TRANSFERS_TO_PARTNERS] == waiting[0].amount
