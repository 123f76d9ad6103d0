"""The workflows of grants, tranches, disbursements (transfers) and grantee reports, declared once as data,
as ``proposals/workflow.py`` does for proposals: (state, action) -> next state, who may act, and the guards
that must hold. The grants service and the planners of ``proposals/rules.py`` consult ``advance`` for every
transition; a state with no step for the action is refused with the workflow's own answer (the same
messages, fields and rules as ever). An action that only needs the object in a state (a grant that must be
active for a transfer) is a step back to the same state.

Guards are checked where their facts are: the service (permissions, due diligence, the ledger's balances)
or the pure planners (amounts within a tranche or within what was transferred).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from fundapp.core.errors import Conflict, DomainError
from fundapp.core.models import Role
from proposals.models import DisbursementStatus, GrantStatus, ReportStatus, TrancheStatus

S = TypeVar("S", bound=StrEnum)


class Guard(StrEnum):
    """Named conditions of a step, checked by the service or the planner that takes it."""

    REASON = "reason"  # a written reason is given
    DECISION = "decision"  # the adopted funding decision takes the step (governance's hook)
    AGREEMENT_DATE = "agreement_date"  # signed on or after the decision, and not in the future
    ALLOCATED = "allocated"  # the ledger holds the decision's allocation to the grant
    CLEARED = "cleared"  # the organisation's due diligence is cleared
    WITHIN_TRANCHE = "within_tranche"  # the amount is positive and within the tranche's unpaid amount
    WITHIN_DISBURSED = "within_disbursed"  # a refund is at most what was transferred and not refunded
    CONDITION_MET = "condition_met"  # the agreement is signed, or (conditional) a report was accepted
    PAID_IN_FULL = "paid_in_full"  # this transfer pays the rest of the tranche
    PAID_IN_PART = "paid_in_part"  # this transfer leaves part of the tranche unpaid
    MAKER_CHECKER = "maker_checker"  # the approver did not prepare it (nor gave the first approval)
    ONE_APPROVAL = "one_approval"  # at or below the charter's second-approver threshold
    TWO_APPROVALS = "two_approvals"  # above it
    OWN_ORGANISATION = "own_organisation"  # the grantee reports on its own organisation's grant
    RESULTS_FRAMEWORK = "results_framework"  # indicators of the grant's results framework
    CUMULATIVE_EXPENDITURE = "cumulative_expenditure"  # never below the last accepted report, by category
    FINAL_REPORT_ACCEPTED = "final_report_accepted"
    NO_PENDING_DISBURSEMENTS = "no_pending_disbursements"


@dataclass(frozen=True, slots=True)
class Step(Generic[S]):
    state: S
    action: str
    to: S
    roles: frozenset[Role]
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True, slots=True)
class Workflow(Generic[S]):
    """One object's workflow: its states, the initial one, its steps and the refusal when no step fits."""

    name: str
    states: type[S]
    initial: S
    steps: tuple[Step[S], ...]
    # The refusal for ``action`` from ``state``: (workflow, state, action, subject) -> the error to raise.
    refusal: Callable[[Workflow[S], str, str, object], DomainError]

    def step(self, state: str, action: str) -> Step[S] | None:
        for candidate in self.steps:
            if candidate.state == state and candidate.action == action:
                return candidate
        return None

    def sources(self, action: str) -> frozenset[S]:
        """The states from which ``action`` is a step."""
        return frozenset(s.state for s in self.steps if s.action == action)

    @property
    def every_state(self) -> frozenset[S]:
        return frozenset(self.states)

    @property
    def terminal(self) -> frozenset[S]:
        """The states no step leaves."""
        return self.every_state - frozenset(s.state for s in self.steps)

    def allowed_actions(self, state: str, roles: frozenset[Role]) -> list[str]:
        """The actions these roles could take from ``state`` (guards aside)."""
        return sorted({s.action for s in self.steps if s.state == state and s.roles & roles})


def advance(workflow: Workflow[S], state: str, action: str, subject: object = None) -> Step[S]:
    """The step ``action`` takes from ``state``, or the workflow's refusal. ``subject`` names the object in
    the refusal (a grant's id, a tranche, a report's number)."""
    found = workflow.step(state, action)
    if found is None:
        raise workflow.refusal(workflow, state, action, subject)
    return found


R = Role
SECRETARIAT = frozenset({R.SECRETARIAT_ADMIN})
FINANCE_OFFICER = frozenset({R.FINANCE_OFFICER})
FINANCE_APPROVER = frozenset({R.FINANCE_APPROVER})
FINANCE = FINANCE_OFFICER | FINANCE_APPROVER
GRANTEE = frozenset({R.GRANTEE})
NOBODY: frozenset[Role] = frozenset()

# ---------------------------------------------------------------- grants

G = GrantStatus
# What each action of a grant is called in a refusal ("{doing} needs it to be active").
DOING = {
    "sign_agreement": "recording the agreement",
    "suspend": "to suspend it",
    "resume": "to resume it",
    "prepare_disbursement": "a disbursement",
    "transfer": "a transfer",
    "refund": "a refund",
    "report": "reporting",
    "close": "closing",
    "recognise_tranche": "recognising a tranche",
}


def _grant_refusal(workflow: Workflow[GrantStatus], state: str, action: str, grant_id: object) -> DomainError:
    allowed = workflow.sources(action)
    return Conflict(
        f"grant {grant_id} is {state}; {DOING[action]} needs it to be {' or '.join(sorted(allowed))}",
        field="status",
        rule="grant-closed" if state == G.CLOSED else "grant-active",
        grant_status=state,
    )


GRANT: Workflow[GrantStatus] = Workflow(
    "grant",
    GrantStatus,
    G.AWAITING_AGREEMENT,
    (
        Step(G.AWAITING_AGREEMENT, "sign_agreement", G.ACTIVE, SECRETARIAT, (Guard.AGREEMENT_DATE, Guard.ALLOCATED)),
        Step(G.ACTIVE, "suspend", G.SUSPENDED, SECRETARIAT, (Guard.REASON,)),
        Step(G.SUSPENDED, "resume", G.ACTIVE, SECRETARIAT, (Guard.REASON,)),
        Step(G.ACTIVE, "prepare_disbursement", G.ACTIVE, FINANCE_OFFICER, (Guard.CLEARED,)),
        Step(G.ACTIVE, "transfer", G.ACTIVE, FINANCE_APPROVER, (Guard.CLEARED,)),
        *(
            step
            for state in (G.ACTIVE, G.SUSPENDED)
            for step in (
                Step(state, "refund", state, FINANCE, (Guard.WITHIN_DISBURSED,)),
                Step(state, "report", state, GRANTEE, (Guard.OWN_ORGANISATION,)),
                # An accepted report recognises the earliest conditional tranche of a signed grant.
                Step(state, "recognise_tranche", state, NOBODY, (Guard.CONDITION_MET,)),
                Step(
                    state,
                    "close",
                    G.CLOSED,
                    SECRETARIAT,
                    (Guard.FINAL_REPORT_ACCEPTED, Guard.NO_PENDING_DISBURSEMENTS),
                ),
            )
        ),
    ),
    _grant_refusal,
)
# A grant whose agreement is signed and that is not closed; one that moves money is active.
SIGNED: frozenset[GrantStatus] = GRANT.sources("refund")
MOVES_MONEY: frozenset[GrantStatus] = GRANT.sources("transfer")

# ---------------------------------------------------------------- tranches

T = TrancheStatus


@dataclass(frozen=True, slots=True)
class TrancheSubject:
    number: int
    conditional: bool  # waits for an accepted progress report


def _tranche_refusal(workflow: Workflow[TrancheStatus], state: str, action: str, subject: object) -> DomainError:
    assert isinstance(subject, TrancheSubject)
    if state == T.PENDING:
        condition = "waits for an accepted progress report" if subject.conditional else "waits for the signed agreement"
        return Conflict(f"tranche {subject.number} {condition}", field="tranche", rule="condition-met")
    return Conflict(f"tranche {subject.number} is {state}", field="tranche", rule="tranche-unpaid")


TRANCHE: Workflow[TrancheStatus] = Workflow(
    "tranche",
    TrancheStatus,
    T.PENDING,
    (
        Step(T.PENDING, "recognise", T.RECOGNISED, NOBODY, (Guard.CONDITION_MET,)),
        Step(T.RECOGNISED, "disburse", T.RECOGNISED, FINANCE_OFFICER, (Guard.WITHIN_TRANCHE,)),
        Step(T.RECOGNISED, "pay", T.RECOGNISED, FINANCE_APPROVER, (Guard.WITHIN_TRANCHE, Guard.PAID_IN_PART)),
        Step(T.RECOGNISED, "pay_off", T.PAID, FINANCE_APPROVER, (Guard.WITHIN_TRANCHE, Guard.PAID_IN_FULL)),
        Step(T.PENDING, "release", T.RELEASED, SECRETARIAT),
        Step(T.RECOGNISED, "release", T.RELEASED, SECRETARIAT),
    ),
    _tranche_refusal,
)
UNPAID: frozenset[TrancheStatus] = TRANCHE.sources("release")

# ---------------------------------------------------------------- disbursements

D = DisbursementStatus


def _disbursement_refusal(
    workflow: Workflow[DisbursementStatus], state: str, action: str, subject: object
) -> DomainError:
    return Conflict(
        f"the disbursement is {state}", field="disbursement", rule="disbursement-open", disbursement_status=state
    )


DISBURSEMENT: Workflow[DisbursementStatus] = Workflow(
    "disbursement",
    DisbursementStatus,
    D.PREPARED,
    (
        Step(D.PREPARED, "approve", D.APPROVED, FINANCE_APPROVER, (Guard.MAKER_CHECKER, Guard.ONE_APPROVAL)),
        Step(
            D.PREPARED,
            "first_approval",
            D.AWAITING_SECOND_APPROVAL,
            FINANCE_APPROVER,
            (Guard.MAKER_CHECKER, Guard.TWO_APPROVALS),
        ),
        Step(D.AWAITING_SECOND_APPROVAL, "second_approval", D.APPROVED, FINANCE_APPROVER, (Guard.MAKER_CHECKER,)),
        Step(D.PREPARED, "reject", D.REJECTED, FINANCE_APPROVER, (Guard.MAKER_CHECKER,)),
        Step(D.AWAITING_SECOND_APPROVAL, "reject", D.REJECTED, FINANCE_APPROVER, (Guard.MAKER_CHECKER,)),
    ),
    _disbursement_refusal,
)
# Prepared and not yet decided: approvals or a rejection may follow.
AWAITING_APPROVAL: frozenset[DisbursementStatus] = DISBURSEMENT.sources("reject")

# ---------------------------------------------------------------- grantee reports

P = ReportStatus
# How each review is said in a refusal ("only a submitted report is accepted").
_REVIEWED = {"accept": "accepted", "return": "returned"}


def _report_refusal(workflow: Workflow[ReportStatus], state: str, action: str, number: object) -> DomainError:
    if action == "submit":
        return Conflict(f"report {number} is {state}", field="report_id", rule="report-open", report_status=state)
    return Conflict(
        f"report {number} is {state}; only a submitted report is {_REVIEWED[action]}",
        field="report",
        rule="report-submitted",
        report_status=state,
    )


REPORT: Workflow[ReportStatus] = Workflow(
    "grant_report",
    ReportStatus,
    P.DUE,
    (
        Step(P.DUE, "submit", P.SUBMITTED, GRANTEE, (Guard.OWN_ORGANISATION, Guard.RESULTS_FRAMEWORK)),
        Step(P.RETURNED, "submit", P.SUBMITTED, GRANTEE, (Guard.OWN_ORGANISATION, Guard.RESULTS_FRAMEWORK)),
        Step(P.SUBMITTED, "accept", P.ACCEPTED, SECRETARIAT, (Guard.CUMULATIVE_EXPENDITURE,)),
        Step(P.SUBMITTED, "return", P.RETURNED, SECRETARIAT, (Guard.REASON,)),
    ),
    _report_refusal,
)
# Nothing acceptable is in yet: the report is overdue once its due date has passed.
AWAITING_SUBMISSION: frozenset[ReportStatus] = REPORT.sources("submit")

WORKFLOWS: tuple[Workflow[Any], ...] = (GRANT, TRANCHE, DISBURSEMENT, REPORT)
