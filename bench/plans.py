"""What each command the reports benchmark writes in bulk posts and records: one pure function per command
(facts in; the entry's draft and the rows behind it out; no database, no clock, no randomness).

``bench/facility.py`` draws the facility's history and keeps its running balances; for each pledge,
deposit, transfer, tranche recognition, refund, closure and manual entry it calls the function here and
writes what it returns with ``Ledger.post_batch`` and Core inserts. Each function is the one place to switch
to the domain's planner when the domain has one (``governance.rules``, ``proposals.rules``,
``ledger.rules``): the deposit's split, carrying share, fee and conversion already come from the domain's
rules; the other commands' lines are written here in the services' shape (same accounts, dimensions, source
types and idempotency keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fundapp.core.chain import digest
from governance import rules as governance_rules
from ledger import Line, Money, chart
from ledger.money import percentage
from ledger.rules import convert_minor
from ledger.types import EntryDraft
from proposals import workflow


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class BulkPlan:
    """An entry and the rows behind it. A row holding the key ``entry_id`` gets the entry's id when it is
    written (the entry's id is known only once ``post_batch`` has run)."""

    draft: EntryDraft
    rows: tuple[tuple[str, dict[str, Any]], ...] = ()

    def rows_for(self, entry_id: int) -> list[tuple[str, dict[str, Any]]]:
        return [(table, {**v, "entry_id": entry_id} if "entry_id" in v else v) for table, v in self.rows]


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
    money: Money,
    conditional: bool,
    instalments: list[Instalment],
) -> BulkPlan:
    """A pledge signed (``Governance.record_pledge``): the receivable against revenue, or deferred revenue
    when conditional; the pledge and its instalments."""
    credit = chart.DEFERRED_REVENUE if conditional else chart.CONTRIBUTION_REVENUE
    dims: dict[str, Any] = {"contributor_id": contributor, "window_id": window}
    pledge = {
        "id": pledge_id,
        "contributor_id": contributor,
        "amount": money.minor,
        "currency": money.currency,
        "window_id": window,
        "signed_on": day,
        "conditional": conditional,
        "condition": "subject to parliamentary appropriation" if conditional else "",
        "condition_met_on": None,
        "reference": f"CA-{day.year}-{pledge_id:05d}",
        "entry_id": None,
        "condition_entry_id": None,
        "created_at": at(day, 10),
    }
    rows = [("pledges", pledge)] + [
        (
            "pledge_instalments",
            {"id": i.id, "pledge_id": pledge_id, "number": i.number, "due_on": i.due_on, "amount": i.amount},
        )
        for i in instalments
    ]
    draft = EntryDraft(
        entry_date=day,
        description=f"Pledge of {contributor_name}" + (" (conditional)" if conditional else ""),
        lines=(Line(chart.CONTRIBUTIONS_RECEIVABLE, money, **dims), Line(credit, -money, **dims)),
        source_type="pledge",
    )
    return BulkPlan(draft, tuple(rows))


def condition_met_plan(
    *, pledge_id: int, day: date, contributor: int, window: int | None, money: Money, reporting: Money
) -> BulkPlan:
    """A conditional pledge's condition met: deferred revenue becomes revenue at the pledge's value."""
    dims: dict[str, Any] = {"contributor_id": contributor, "window_id": window}
    draft = EntryDraft(
        entry_date=day,
        description=f"Condition met on pledge {pledge_id}",
        lines=(
            Line(chart.DEFERRED_REVENUE, money, reporting, **dims),
            Line(chart.CONTRIBUTION_REVENUE, -money, -reporting, **dims),
        ),
        source_type="pledge-condition",
        source_id=str(pledge_id),
    )
    return BulkPlan(draft)


@dataclass(frozen=True)
class DepositFacts:
    """What a deposit's entry depends on: the money, what it may settle, the receivable's carrying value
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


@dataclass(frozen=True)
class DepositPlan(BulkPlan):
    applied: int = 0
    unapplied: int = 0
    fee: int = 0
    settled_reporting: int = 0  # the carrying value the applied part takes off the receivable
    available: int = 0  # reporting amount made available (8200)


def deposit_lines(facts: DepositFacts) -> tuple[list[Line], governance_rules.Split, Money, int, int]:
    """The deposit rule (``Governance.record_contribution``): the split, the receivable leaving at its
    carrying value, unapplied credit, the administrative-agent fee and the net made available."""
    money, currency, reporting = facts.money, facts.money.currency, facts.reporting_currency
    split = governance_rules.split_deposit(money.minor, facts.outstanding)
    applied = Money.from_minor(split.applied, currency)
    unapplied = Money.from_minor(split.unapplied, currency)
    fee = percentage(applied, facts.fee_rate) if applied.is_positive else Money.zero(currency)
    dims: dict[str, Any] = {"contributor_id": facts.contributor, "window_id": facts.window}
    lines = [Line(chart.CASH, money, **dims)]
    share = 0
    if applied.is_positive:
        amount, carried = facts.carrying
        share = governance_rules.carrying_share(carried, amount, applied.minor, reporting)
        lines.append(Line(chart.CONTRIBUTIONS_RECEIVABLE, -applied, Money.from_minor(-share, reporting), **dims))
    if unapplied.is_positive:
        lines.append(Line(chart.UNAPPLIED_CONTRIBUTIONS, -unapplied, contributor_id=facts.contributor))
    if fee.is_positive:
        lines += [Line(chart.ADMIN_AGENT_FEE, fee, **dims), Line(chart.CASH, -fee, **dims)]
    net = applied - fee
    available = 0
    if net.is_positive:
        converted = net.minor if currency == reporting else convert_minor(net.minor, currency, facts.rate, reporting)
        if converted > 0:
            net_reporting = Money.from_minor(converted, reporting)
            lines += [
                Line(chart.AVAILABLE, net_reporting, window_id=facts.window),
                Line(chart.RESOURCES_RECEIVED, -net_reporting, **dims),
            ]
            available = converted
    return lines, split, fee, share, available


def deposit_plan(facts: DepositFacts) -> DepositPlan:
    """A deposit as ``Governance.record_contribution`` posts and records it (the ledger adds the realised FX
    line: ``settle_fx``)."""
    lines, split, fee, share, available = deposit_lines(facts)
    money = facts.money
    reference = f"TT-{facts.contribution_id:07d}"
    body = {
        "contributor_id": facts.contributor,
        "value_date": facts.day.isoformat(),
        "amount": money.to_str(),
        "currency": money.currency,
        "instalment_id": facts.instalment_id,
        "assessment_id": facts.assessment_id,
        "reference": reference,
    }
    row = {
        "id": facts.contribution_id,
        "contributor_id": facts.contributor,
        "value_date": facts.day,
        "amount": money.minor,
        "currency": money.currency,
        "instalment_id": facts.instalment_id,
        "assessment_id": facts.assessment_id,
        "window_id": facts.window,
        "applied": split.applied,
        "unapplied": split.unapplied,
        "fee": fee.minor,
        "idempotency_key": f"bench-deposit-{facts.contribution_id}",
        "payload_hash": digest(body),
        "reference": reference,
        "entry_id": None,
        "recorded_by": facts.recorded_by,
        "created_at": at(facts.day, 11),
    }
    draft = EntryDraft(
        entry_date=facts.day,
        description=f"Contribution from {facts.contributor_name} ({reference})",
        lines=tuple(lines),
        source_type="contribution",
        settle_fx=True,
    )
    return DepositPlan(draft, (("contributions", row),), split.applied, split.unapplied, fee.minor, share, available)


# ---------------------------------------------------------------- grants


def _grant_line(account: str, money: Money, window: int, grant: int) -> Line:
    return Line(account, money, window_id=window, grant_id=grant)


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


def transfer_plan(facts: TransferFacts) -> BulkPlan:
    """A disbursement prepared and approved (``Grants.approve_disbursement``): payable and cash, and the
    budgetary commitment become disbursed."""
    f, money = facts, facts.money
    reference = f"T-{f.grant}-{f.tranche_number}-{f.disbursement_id}"
    second = f.second_approved_by is not None
    row = {
        "id": f.disbursement_id,
        "grant_id": f.grant,
        "tranche_id": f.tranche_id,
        "amount": money.minor,
        "currency": money.currency,
        "status": "approved",
        "reference": reference,
        "prepared_by": f.prepared_by,
        "prepared_at": at(f.day, 9),
        "approved_by": f.approved_by,
        "approved_at": at(f.day, 15),
        "second_approved_by": f.second_approved_by,
        "second_approved_at": at(f.day, 16) if second else None,
        "rejected_by": None,
        "rejected_at": None,
        "rejection_reason": "",
        "entry_id": None,
    }
    draft = EntryDraft(
        entry_date=f.day,
        description=f"Grant {f.grant} tranche {f.tranche_number} transfer ({reference})",
        lines=(
            _grant_line(chart.GRANTS_PAYABLE, money, f.window, f.grant),
            _grant_line(chart.CASH, -money, f.window, f.grant),
            _grant_line(chart.DISBURSED, money, f.window, f.grant),
            _grant_line(chart.COMMITTED, -money, f.window, f.grant),
        ),
        source_type="grant_disbursement",
        source_id=str(f.disbursement_id),
        idempotency_key=f"grant-disbursement:{f.disbursement_id}",
    )
    return BulkPlan(draft, (("disbursements", row),))


def recognition_plan(
    *, day: date, grant: int, window: int, tranche_id: int, tranche_number: int, report_number: int, money: Money
) -> BulkPlan:
    """A conditional tranche recognised when its report is accepted (``Grants.accept_report``)."""
    draft = EntryDraft(
        entry_date=day,
        description=f"Grant {grant} tranche {tranche_number} recognised: report {report_number} accepted",
        lines=(
            _grant_line(chart.TRANSFERS_TO_PARTNERS, money, window, grant),
            _grant_line(chart.GRANTS_PAYABLE, -money, window, grant),
        ),
        source_type="grant_tranche",
        source_id=str(tranche_id),
        idempotency_key=f"grant-tranche:{tranche_id}",
    )
    return BulkPlan(draft)


def refund_plan(*, refund_id: int, day: date, grant: int, window: int, money: Money, recorded_by: int) -> BulkPlan:
    """Unspent money returned by a grantee (``Grants.record_refund``): cash back, the expense reduced, the
    money available to the window again."""
    row = {
        "id": refund_id,
        "grant_id": grant,
        "amount": money.minor,
        "currency": money.currency,
        "received_on": day,
        "reference": "unspent balance",
        "entry_id": None,
        "recorded_by": recorded_by,
        "recorded_at": at(day, 14),
    }
    draft = EntryDraft(
        entry_date=day,
        description=f"Grant {grant} refund from the grantee (unspent balance)",
        lines=(
            _grant_line(chart.CASH, money, window, grant),
            _grant_line(chart.TRANSFERS_TO_PARTNERS, -money, window, grant),
            Line(chart.AVAILABLE, money, window_id=window),
            _grant_line(chart.DISBURSED, -money, window, grant),
        ),
        source_type="grant_refund",
        source_id=str(refund_id),
        idempotency_key=f"grant-refund:{refund_id}",
    )
    return BulkPlan(draft, (("grant_refunds", row),))


def closure_plan(*, day: date, grant: int, window: int, released: Money, unpaid: Money) -> BulkPlan | None:
    """A grant closed (``Grants.close``): the unused commitment back to the window, recognised tranches not
    paid reversed; no entry when there is neither."""
    lines: list[Line] = []
    if released.minor:
        lines += [
            Line(chart.AVAILABLE, released, window_id=window),
            _grant_line(chart.COMMITTED, -released, window, grant),
        ]
    if unpaid.minor:
        lines += [
            _grant_line(chart.GRANTS_PAYABLE, unpaid, window, grant),
            _grant_line(chart.TRANSFERS_TO_PARTNERS, -unpaid, window, grant),
        ]
    if not lines:
        return None
    draft = EntryDraft(
        entry_date=day,
        description=f"Grant {grant} closed: unused commitment released to the window",
        lines=tuple(lines),
        source_type="grant_closure",
        source_id=str(grant),
        idempotency_key=f"grant:{grant}:closure",
    )
    return BulkPlan(draft)


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
