"""The proposal workflow, declared once as data: (state, action) -> next state, who may act, and the
guard that must hold. The service consults this table for every transition and nothing else moves a
proposal's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fundapp.core.models import Role


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCREENING = "screening"
    RETURNED = "returned"
    IN_REVIEW = "in_review"
    RECOMMENDED = "recommended"
    NOT_RECOMMENDED = "not_recommended"
    UNDER_DECISION = "under_decision"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Guard(StrEnum):
    """Named conditions checked by the service (they need the database)."""

    NONE = "none"
    OWN_ORGANISATION = "own_organisation"  # the acting grantee belongs to the proposal's organisation
    SUBMISSION_RULES = "submission_rules"  # every rule of a complete, eligible, endorsed submission
    REASON = "reason"  # a written reason is given
    REVIEWS_COMPLETE = "reviews_complete"  # the call's required number of reviews is in
    DECISION = "decision"  # only the member states' decision (governance hook) takes this step


@dataclass(frozen=True, slots=True)
class Step:
    state: State
    action: str
    to: State
    roles: frozenset[Role]
    guards: tuple[Guard, ...] = ()


S, R = State, Role
SECRETARIAT = frozenset({R.SECRETARIAT_ADMIN})
GRANTEE = frozenset({R.GRANTEE})
NOBODY: frozenset[Role] = frozenset()

TRANSITIONS: tuple[Step, ...] = (
    Step(S.DRAFT, "submit", S.SUBMITTED, GRANTEE, (Guard.OWN_ORGANISATION, Guard.SUBMISSION_RULES)),
    Step(S.RETURNED, "submit", S.SUBMITTED, GRANTEE, (Guard.OWN_ORGANISATION, Guard.SUBMISSION_RULES)),
    Step(S.SUBMITTED, "screen", S.SCREENING, SECRETARIAT),
    Step(S.SCREENING, "pass", S.IN_REVIEW, SECRETARIAT),
    Step(S.SCREENING, "return", S.RETURNED, SECRETARIAT, (Guard.REASON,)),
    Step(S.SCREENING, "reject", S.REJECTED, SECRETARIAT, (Guard.REASON,)),
    Step(S.IN_REVIEW, "recommend", S.RECOMMENDED, SECRETARIAT, (Guard.REVIEWS_COMPLETE, Guard.REASON)),
    Step(S.IN_REVIEW, "not_recommend", S.NOT_RECOMMENDED, SECRETARIAT, (Guard.REVIEWS_COMPLETE, Guard.REASON)),
    Step(S.RECOMMENDED, "refer", S.UNDER_DECISION, SECRETARIAT),
    Step(S.NOT_RECOMMENDED, "refer", S.UNDER_DECISION, SECRETARIAT, (Guard.REASON,)),
    Step(S.UNDER_DECISION, "approve", S.APPROVED, NOBODY, (Guard.DECISION,)),
    Step(S.UNDER_DECISION, "decline", S.REJECTED, NOBODY, (Guard.DECISION,)),
    *(
        Step(state, "withdraw", S.WITHDRAWN, GRANTEE, (Guard.OWN_ORGANISATION,))
        for state in (S.DRAFT, S.SUBMITTED, S.SCREENING, S.RETURNED)
    ),
)

ACTIONS: frozenset[str] = frozenset(step.action for step in TRANSITIONS)
# States whose content the grantee may still edit.
EDITABLE: frozenset[State] = frozenset({S.DRAFT, S.RETURNED})
FINAL: frozenset[State] = frozenset({S.APPROVED, S.REJECTED, S.WITHDRAWN})


def step(state: str, action: str) -> Step | None:
    for candidate in TRANSITIONS:
        if candidate.state == state and candidate.action == action:
            return candidate
    return None


def allowed_actions(state: str, roles: frozenset[Role]) -> list[str]:
    """The actions these roles could take from ``state`` (guards aside), for 409 answers and the UI."""
    return sorted({t.action for t in TRANSITIONS if t.state == state and t.roles & roles})
