"""Who may see and do what with calls, organisations, proposals and reviews (object-level, Hypha-style:
each predicate answers ``(allowed, reason)`` for a user and the object's access facts).

The read permissions of proposals, reviews and grants are pairs (``fundapp.core.visibility``): the predicate
for one object and, beside each of its clauses, the same rule as a SQL condition for lists. The API's lists
filter with ``PROPOSAL_SUMMARY.where(user)``, ``REVIEWS.where(user)`` and ``GRANTS.where(user)``; the services
ask the predicates of the same pairs for one object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlmodel import col

from fundapp.core.models import Role
from fundapp.core.security import Decision, Principal, register_permission, roles_may
from fundapp.core.visibility import Clause, Condition, Visibility, every_object, every_row, register_visibility
from proposals.models import Assignment, Grant, Proposal, ProposalCountry, Review
from proposals.workflow import State

OVERSIGHT = (Role.SECRETARIAT_ADMIN, Role.AUDITOR, Role.FINANCE_OFFICER, Role.FINANCE_APPROVER)
DECIDED_OR_DECIDING = frozenset({State.UNDER_DECISION, State.APPROVED, State.REJECTED})
# A reviewer's assignment statuses that open the full proposal (conflicts declared, none found).
CLEARED = frozenset({"declared", "reviewed"})


@dataclass(frozen=True, slots=True)
class ProposalFacts:
    """What access depends on: whose it is, where it stands, where it happens, and the asker's assignment."""

    organisation_id: int
    state: str
    countries: frozenset[str]
    # The asking reviewer's assignment status (assigned, declared, reviewed, conflicted) or None.
    assignment: str | None = None


def _assigned_to(user: Principal, statuses: frozenset[str]) -> Condition:
    """The proposals on which ``user`` holds an assignment in one of ``statuses``."""
    return col(Proposal.id).in_(
        select(col(Assignment.proposal_id)).where(
            col(Assignment.reviewer_id) == user.id, col(Assignment.status).in_(sorted(statuses))
        )
    )


def _own_organisation(user: Principal, facts: ProposalFacts) -> bool:
    return user.organisation_id == facts.organisation_id


def _own_organisation_rows(user: Principal) -> Condition:
    if user.organisation_id is None:
        return false()
    return col(Proposal.organisation_id) == user.organisation_id


def _decided_or_in_country(user: Principal, facts: ProposalFacts) -> bool:
    return facts.state in DECIDED_OR_DECIDING or (user.member_code or "") in facts.countries


def _decided_or_in_country_rows(user: Principal) -> Condition:
    in_country = select(col(ProposalCountry.proposal_id)).where(
        col(ProposalCountry.country) == (user.member_code or "")
    )
    return or_(col(Proposal.state).in_(sorted(s.value for s in DECIDED_OR_DECIDING)), col(Proposal.id).in_(in_country))


PROPOSAL_FULL: Visibility[ProposalFacts] = Visibility(
    ProposalFacts,
    (
        Clause(OVERSIGHT, "the secretariat and auditors read every proposal", every_object, every_row, "listing"),
        Clause(
            (Role.GRANTEE,),
            "a grantee reads its own organisation's proposals",
            _own_organisation,
            _own_organisation_rows,
            "listing",
        ),
        Clause(
            (Role.TAG_REVIEWER,),
            "an assigned reviewer without a conflict reads the proposal",
            lambda _user, facts: facts.assignment in CLEARED,
            lambda user: _assigned_to(user, CLEARED),
            "listing",
        ),
        Clause(
            (Role.MEMBER_DELEGATE,),
            "delegates read proposals under decision and those touching their country",
            _decided_or_in_country,
            _decided_or_in_country_rows,
            "listing",
        ),
    ),
    denied="this proposal is not visible to you",
    no_role="no role that reads proposals",
)

# The summary: everything the full proposal allows, and an assigned reviewer's summary until it declares.
PROPOSAL_SUMMARY: Visibility[ProposalFacts] = PROPOSAL_FULL.extended(
    Clause(
        (Role.TAG_REVIEWER,),
        "an assigned reviewer sees the summary until declaring conflicts of interest",
        lambda _user, facts: facts.assignment == "assigned",
        lambda user: _assigned_to(user, frozenset({"assigned"})),
        "listing",
    )
)


@dataclass(frozen=True, slots=True)
class ReviewFacts:
    """What access to a review depends on: who gave it, and the asker's assignment on its proposal."""

    reviewer_id: int
    # The asking reviewer's assignment status on the review's proposal, or None.
    assignment: str | None = None


def _own_cleared_review_rows(user: Principal) -> Condition:
    cleared = select(col(Assignment.proposal_id)).where(
        col(Assignment.reviewer_id) == user.id, col(Assignment.status).in_(sorted(CLEARED))
    )
    return and_(col(Review.reviewer_id) == user.id, col(Review.proposal_id).in_(cleared))


REVIEWS: Visibility[ReviewFacts] = Visibility(
    ReviewFacts,
    (
        Clause(
            (Role.SECRETARIAT_ADMIN, Role.AUDITOR),
            "the secretariat and auditors read every review",
            every_object,
            every_row,
            "the secretariat and auditors read every review",
        ),
        Clause(
            (Role.TAG_REVIEWER,),
            "a reviewer without a conflict reads its own reviews",
            lambda user, facts: facts.reviewer_id == user.id and facts.assignment in CLEARED,
            _own_cleared_review_rows,
            "a reviewer reads its own reviews",
        ),
    ),
    denied="reviews are read by the secretariat, auditors and their own reviewer",
    no_role="reviews are read by the secretariat, auditors and their own reviewer",
)


def _edit(user: Principal, facts: Any) -> Decision:
    if not user.has_role(Role.GRANTEE):
        return False, "only the grantee edits its proposal"
    if isinstance(facts, ProposalFacts) and user.organisation_id != facts.organisation_id:
        return False, "a grantee edits only its own organisation's proposals"
    return True, "own proposal"


def _endorse(user: Principal, country: Any) -> Decision:
    # Without a country (the route-level check) a delegate may proceed; the service checks the country.
    if user.has_role(Role.MEMBER_DELEGATE) and (country is None or user.member_code == country):
        return True, "a delegate endorses for its own member"
    if user.has_role(Role.SECRETARIAT_ADMIN):
        return True, "the secretariat records a non-member country's endorsement letter"
    return False, "a country's endorsement comes from its delegates (or, for a non-member, the secretariat)"


register_visibility("proposals.read", PROPOSAL_FULL)
register_visibility("proposals.read_summary", PROPOSAL_SUMMARY)
register_visibility("proposals.read_reviews", REVIEWS)
register_permission("proposals.create", roles_may(Role.GRANTEE))
register_permission("proposals.edit", _edit)
register_permission("proposals.endorse", _endorse)
register_permission("proposals.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("proposals.review", roles_may(Role.TAG_REVIEWER))
register_permission("calls.read", roles_may(*Role))
register_permission("organisations.read", roles_may(*OVERSIGHT, Role.GRANTEE, Role.TAG_REVIEWER, Role.MEMBER_DELEGATE))


# ---------------------------------------------------------------- grants

GRANT_READERS = (*OVERSIGHT, Role.MEMBER_DELEGATE)


@dataclass(frozen=True, slots=True)
class GrantFacts:
    """What access to a grant depends on: the organisation that implements it."""

    organisation_id: int


def _own_grant_rows(user: Principal) -> Condition:
    if user.organisation_id is None:
        return false()
    return col(Grant.organisation_id) == user.organisation_id


GRANTS: Visibility[GrantFacts] = Visibility(
    GrantFacts,
    (
        Clause(
            GRANT_READERS,
            "the secretariat, finance staff, auditors and member delegates read every grant",
            every_object,
            every_row,
            "the secretariat, finance staff, auditors and member delegates read every grant",
        ),
        Clause(
            (Role.GRANTEE,),
            "a grantee reads its own organisation's grants",
            lambda user, facts: user.organisation_id == facts.organisation_id,
            _own_grant_rows,
            "listing: a grantee lists its own organisation's grants",
        ),
    ),
    denied="this grant is not visible to you",
    no_role="this grant is not visible to you",
)


def _report(user: Principal, facts: Any) -> Decision:
    if not user.has_role(Role.GRANTEE):
        return False, "reports are submitted by the grantee"
    if isinstance(facts, GrantFacts) and user.organisation_id != facts.organisation_id:
        return False, "a grantee reports only on its own organisation's grants"
    return True, "own grant"


register_visibility("grants.read", GRANTS)
register_permission("grants.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("grants.prepare", roles_may(Role.FINANCE_OFFICER))
register_permission("grants.approve", roles_may(Role.FINANCE_APPROVER))
register_permission("grants.refund", roles_may(Role.FINANCE_OFFICER, Role.FINANCE_APPROVER))
register_permission("grants.report", _report)
