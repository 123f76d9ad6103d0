"""What each command the reports benchmark writes in bulk posts and records, worked out by the domain's own
planner (``governance.rules``, ``proposals.rules``): the bench builds the planner's facts from what it keeps
in memory, calls the planner, and takes the entry's draft and the rows behind it (no database, no clock, no
randomness here).

``bench/facility.py`` draws the facility's history and keeps its running balances; for each pledge,
condition met, deposit, transfer, tranche recognition, refund and closure it calls the function here and
writes what it returns with ``Ledger.post_batch`` and Core inserts. The plans' audit events are not written
(the bulk-written history has no audit trail; the services' part of it has). A manual entry of the
secretariat is written as its draft: there is no planner of a direct manual entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fundapp.core.plans import EntryId, Plan
from governance import ContributionCreate, PledgeCreate
from governance import rules as governance_rules
from ledger import EntryDraft, Line, Money, chart
from proposals import rules as proposals_rules
from proposals import workflow

ACTIVE = "active"  # the grant's status while money moves (``proposals.grant_workflow``)
RECOGNISED = "recognised"


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def _filled(value: Any, entry_id: int) -> Any:
    """``value``, or the entry's id where a planner left its placeholder."""
    return entry_id if isinstance(value, EntryId) or value is proposals_rules.ENTRY_ID else value


@dataclass(frozen=True)
class BulkPlan:
    """An entry and the rows behind it, as a planner made them: a row's value the planner left as the
    entry's placeholder (``EntryId``, ``ENTRY_ID``) gets the entry's id when it is written (the id is known
    only once ``post_batch`` has run)."""

    draft: EntryDraft
    rows: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    def rows_for(self, entry_id: int) -> list[tuple[str, dict[str, Any]]]:
        return [(table, {k: _filled(v, entry_id) for k, v in values.items()}) for table, values in self.rows]


def _bulk(plan: Plan) -> BulkPlan:
    """A governance plan of one entry and new rows (its audit events are not written in bulk)."""
    (draft,) = plan.entries
    return BulkPlan(draft, tuple((table, row) for table, rows in plan.rows.items() for row in rows))


def _grant_bulk(
    plan: proposals_rules.GrantPlan | None, inserts: Sequence[tuple[str, Mapping[str, Any]]] = ()
) -> BulkPlan:
    assert plan is not None and plan.entry is not None, "the bench plans only commands that post"
    return BulkPlan(plan.entry, tuple(inserts))


# ---------------------------------------------------------------- contributions


@dataclass(frozen=True)
class Instalment:
    id: int
    number: int
    due_on: date
    amount: int


def pledge_plan(
    *,
    pledge_id: int,
    day: date,
    contributor: int,
    contributor_name: str,
    window: int | None,
    window_code: str | None = None,
    money: Money,
    conditional: bool,
    instalments: list[Instalment],
) -> BulkPlan:
    """A pledge signed (``governance.rules.plan_pledge``): the receivable against revenue, or deferred
    revenue when conditional; the pledge and its instalments (given the ids the bench keeps for them)."""
    data = PledgeCreate(
        contributor_id=contributor,
        currency=money.currency,
        amount=money.to_str(),
        signed_on=day,
        window_code=window_code if window is not None else None,
        conditional=conditional,
        condition="subject to parliamentary appropriation" if conditional else "",
        reference=f"CA-{day.year}-{pledge_id:05d}",
        instalments=[
            {"due_on": i.due_on, "amount": Money.from_minor(i.amount, money.currency).to_str()} for i in instalments
        ],
    )
    facts = governance_rules.PledgeFacts(contributor_name, window, True, pledge_id)
    plan = governance_rules.plan_pledge(facts, data, now=at(day, 10))
    ids = {i.number: i.id for i in instalments}
    rows = {
        table: [{"id": ids[row["number"]], **row} for row in table_rows]
        if table == governance_rules.INSTALMENTS
        else table_rows
        for table, table_rows in plan.rows.items()
    }
    return _bulk(Plan(plan.entries, rows))


def condition_met_plan(
    *,
    pledge_id: int,
    day: date,
    contributor: int,
    window: int | None,
    money: Money,
    reporting: Money,
    signed_on: date | None = None,
) -> BulkPlan:
    """A conditional pledge's condition met (``governance.rules.plan_condition_met``): deferred revenue
    becomes revenue at the pledge's value. The pledge's row is updated by the caller."""
    facts = governance_rules.ConditionFacts(
        pledge_id=pledge_id,
        conditional=True,
        signed_on=signed_on or day,
        condition_met_on=None,
        contributor_id=contributor,
        window_id=window,
        deferred=money,
        deferred_reporting=reporting.minor,
    )
    plan = governance_rules.plan_condition_met(facts, day, now=at(day, 12), reporting_currency=reporting.currency)
    return _bulk(Plan(plan.entries))


@dataclass(frozen=True)
class DepositFacts:
    """What the bench knows of a deposit: the money, what it may settle, the receivable's carrying value
    (amount, reporting amount) for its contributor, window and currency, the fee rate and the day's rate."""

    contribution_id: int
    day: date
    contributor: int
    contributor_name: str
    window: int | None
    money: Money
    outstanding: int
    carrying: tuple[int, int]
    fee_rate: Decimal
    rate: Decimal
    reporting_currency: str
    instalment_id: int | None
    assessment_id: int | None
    recorded_by: int
    assessment_year: int | None = None
    assessment_entry_id: int | None = None  # None: a fee notice, paid in advance of its year


@dataclass(frozen=True)
class DepositPlan(BulkPlan):
    applied: int = 0
    unapplied: int = 0
    fee: int = 0
    settled_reporting: int = 0  # the carrying value the applied part takes off the receivable
    available: int = 0  # reporting amount made available (8200)


def deposit_facts(facts: DepositFacts) -> governance_rules.DepositFacts:
    """The facts ``governance.rules.plan_deposit`` reads, from what the bench keeps."""
    currency = facts.money.currency
    amount, reporting = facts.carrying
    target: dict[str, Any] = {}
    if facts.instalment_id is not None:
        target = {
            "instalment_due": facts.outstanding,
            "pledge_owner_id": facts.contributor,
            "pledge_currency": currency,
            "window_id": facts.window,
        }
    elif facts.assessment_id is not None:
        target = {
            "assessment_due": facts.outstanding,
            "assessment_owner_id": facts.contributor,
            "assessment_currency": currency,
            "assessment_year": facts.assessment_year,
            "assessment_entry_id": facts.assessment_entry_id,
        }
    return governance_rules.DepositFacts(
        contributor_name=facts.contributor_name,
        carried_amount=amount,
        carried_reporting=reporting,
        rate=facts.rate,
        **target,
    )


def deposit_plan(facts: DepositFacts) -> DepositPlan:
    """A deposit as ``Governance.record_contribution`` posts and records it (``governance.rules.plan_deposit``;
    the ledger adds the realised FX line: ``settle_fx``)."""
    money = facts.money
    data = ContributionCreate(
        contributor_id=facts.contributor,
        value_date=facts.day,
        currency=money.currency,
        amount=money.to_str(),
        instalment_id=facts.instalment_id,
        assessment_id=facts.assessment_id,
        reference=f"TT-{facts.contribution_id:07d}",
    )
    policy = governance_rules.DepositPolicy(
        reporting_currency=facts.reporting_currency,
        fee_rate=facts.fee_rate,
        now=at(facts.day, 11),
        user_id=facts.recorded_by,
    )
    so_far = governance_rules.DepositsSoFar(ids=(facts.contribution_id,))
    key = f"bench-deposit-{facts.contribution_id}"
    plan = governance_rules.plan_deposit(deposit_facts(facts), data, key, so_far, policy)
    assert isinstance(plan, governance_rules.DepositPlan), "a new key is never a replay"
    row = plan.contribution
    settled = sum(
        -line.reporting_amount.minor
        for line in plan.entry.lines
        if line.account == chart.CONTRIBUTIONS_RECEIVABLE and line.reporting_amount is not None
    )
    available = sum(line.amount.minor for line in plan.entry.lines if line.account == chart.AVAILABLE)
    rows = ((governance_rules.CONTRIBUTIONS, row),)
    return DepositPlan(plan.entry, rows, row["applied"], row["unapplied"], row["fee"], settled, available)


# ---------------------------------------------------------------- grants


def _book(grant: int, window: int, currency: str, amount: int = 0) -> proposals_rules.GrantBook:
    """The grant as its money commands see it: active (money moves) since ``date.min``."""
    return proposals_rules.GrantBook(grant, window, currency, ACTIVE, amount, date.min)


@dataclass(frozen=True)
class TransferFacts:
    disbursement_id: int
    day: date
    grant: int
    window: int
    tranche_id: int
    tranche_number: int
    money: Money
    prepared_by: int
    approved_by: int
    second_approved_by: int | None  # above the charter's threshold
    tranche_amount: int | None = None  # None: the transfer pays the tranche off
    tranche_paid: int = 0  # paid before this transfer
    threshold: Decimal | None = None  # the charter's; None: two approvals when there is a second approver


def transfer_plan(facts: TransferFacts) -> BulkPlan:
    """A disbursement prepared and approved (``proposals.rules.plan_transfer``, once per approval): payable
    and cash, and the budgetary commitment become disbursed. Two approvals when it has a second approver."""
    f, money = facts, facts.money
    reference = f"T-{f.grant}-{f.tranche_number}-{f.disbursement_id}"
    threshold = f.threshold
    if threshold is None:  # a threshold the approvals drawn meet: under the amount when there are two
        threshold = Decimal(-1) if f.second_approved_by is not None else money.amount
    tranche_amount = f.tranche_amount if f.tranche_amount is not None else f.tranche_paid + money.minor
    tranche = proposals_rules.TrancheFacts(
        f.tranche_id, f.tranche_number, tranche_amount, f.tranche_paid, RECOGNISED, "none"
    )
    book = _book(f.grant, f.window, money.currency)
    row: dict[str, Any] = {
        "id": f.disbursement_id,
        "grant_id": f.grant,
        "tranche_id": f.tranche_id,
        "amount": money.minor,
        "currency": money.currency,
        "status": "prepared",
        "reference": reference,
        "prepared_by": f.prepared_by,
        "prepared_at": at(f.day, 9),
        "approved_by": None,
        "approved_at": None,
        "second_approved_by": None,
        "second_approved_at": None,
        "rejected_by": None,
        "rejected_at": None,
        "rejection_reason": "",
        "entry_id": None,
    }
    approvals = [(f.approved_by, at(f.day, 15))]
    if f.second_approved_by is not None:
        approvals.append((f.second_approved_by, at(f.day, 16)))
    plan = None
    for approver, moment in approvals:
        disbursement = proposals_rules.TransferFacts(
            f.disbursement_id, row["status"], money.minor, money.currency, reference,
            f.prepared_by, row["approved_by"], approver, "bench", "cleared",
        )  # fmt: skip
        plan = proposals_rules.plan_transfer(book, tranche, disbursement, threshold=threshold, today=f.day, now=moment)
        row.update(plan.rows[0].values)
    return _grant_bulk(plan, (("disbursements", row),))


def recognition_plan(
    *,
    day: date,
    grant: int,
    window: int,
    tranche_id: int,
    tranche_number: int,
    report_number: int,
    money: Money,
    report_id: int = 0,
) -> BulkPlan:
    """A conditional tranche recognised when its report is accepted (``proposals.rules.plan_recognition``).
    The tranche's row is updated by the caller."""
    tranche = proposals_rules.TrancheFacts(tranche_id, tranche_number, money.minor, 0, "pending", "progress_report")
    plan = proposals_rules.plan_recognition(
        _book(grant, window, money.currency), [tranche], report_id=report_id, report_number=report_number, today=day
    )
    return _grant_bulk(plan)


def refund_plan(
    *,
    refund_id: int,
    day: date,
    grant: int,
    window: int,
    money: Money,
    recorded_by: int,
    disbursed: int | None = None,
) -> BulkPlan:
    """Unspent money returned by a grantee (``proposals.rules.plan_refund``): cash back, the expense reduced,
    the money available to the window again. ``disbursed``: transferred and not refunded before (None: the
    refund's amount)."""
    plan = proposals_rules.plan_refund(
        _book(grant, window, money.currency),
        refund_id=refund_id,
        amount=money,
        disbursed=money.minor if disbursed is None else disbursed,
        received_on=day,
        reference="unspent balance",
        recorded_by=recorded_by,
        today=day,
        now=at(day, 14),
    )
    return _grant_bulk(plan, [(w.table, w.values) for w in plan.rows if w.id is None])


def closure_plan(*, day: date, grant: int, window: int, released: Money, unpaid: Money) -> BulkPlan | None:
    """A grant closed (``proposals.rules.plan_closure``): the unused commitment back to the window,
    recognised tranches not paid reversed; no entry when there is neither. The grant's and tranches' rows
    are updated by the caller."""
    facts = proposals_rules.ClosureFacts("accepted", 0, released.minor, unpaid.minor)
    plan = proposals_rules.plan_closure(
        _book(grant, window, released.currency),
        (),
        facts,
        reason="Completed; final report accepted.",
        today=day,
        now=at(day, 12),
    )
    return None if plan.entry is None else _grant_bulk(plan)


# ---------------------------------------------------------------- proposals


def transition_rows(
    proposal_id: int, actions: Sequence[tuple[str, datetime, str]], actor_id: int
) -> list[dict[str, Any]]:
    """The transitions that ``actions`` (action, when, reason) take a proposal through from draft, each step
    as the workflow's table (``proposals/workflow.py``) has it; a step the table does not allow is an error."""
    rows: list[dict[str, Any]] = []
    state = workflow.State.DRAFT.value
    for action, moment, reason in actions:
        step = workflow.step(state, action)
        if step is None:
            raise ValueError(f"the workflow has no {action!r} from {state!r}")
        rows.append(
            {
                "proposal_id": proposal_id,
                "action": action,
                "from_state": state,
                "to_state": step.to.value,
                "reason": reason,
                "actor_id": actor_id,
                "at": moment,
            }
        )
        state = step.to.value
    return rows


# ---------------------------------------------------------------- the secretariat's month


def manual_plan(day: date, description: str, number: int, *lines: Line) -> BulkPlan:
    """A manual entry of the secretariat (costs, bank charges, interest), numbered for its idempotency key."""
    return BulkPlan(EntryDraft(day, description, tuple(lines), "manual", None, f"bench-manual-{number}"))
