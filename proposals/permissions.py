"""Who may see and do what with calls, organisations, proposals and reviews (object-level, Hypha-style:
each predicate answers ``(allowed, reason)`` for a user and the object's access facts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fundapp.core.models import Role
from fundapp.core.security import Decision, Principal, register_permission, roles_may
from proposals.workflow import State

OVERSIGHT = (Role.SECRETARIAT_ADMIN, Role.AUDITOR, Role.FINANCE_OFFICER, Role.FINANCE_APPROVER)
DECIDED_OR_DECIDING = frozenset({State.UNDER_DECISION, State.APPROVED, State.REJECTED})


@dataclass(frozen=True, slots=True)
class ProposalFacts:
    """What access depends on: whose it is, where it stands, where it happens, and the asker's assignment."""

    organisation_id: int
    state: str
    countries: frozenset[str]
    # The asking reviewer's assignment status (assigned, declared, reviewed, conflicted) or None.
    assignment: str | None = None


def _read_full(user: Principal, facts: Any) -> Decision:
    if not isinstance(facts, ProposalFacts):
        return (
            (True, "listing")
            if user.has_role(*OVERSIGHT, Role.GRANTEE, Role.TAG_REVIEWER, Role.MEMBER_DELEGATE)
            else (False, "no role that reads proposals")
        )
    if user.has_role(*OVERSIGHT):
        return True, "the secretariat and auditors read every proposal"
    if user.has_role(Role.GRANTEE) and user.organisation_id == facts.organisation_id:
        return True, "a grantee reads its own organisation's proposals"
    if user.has_role(Role.TAG_REVIEWER) and facts.assignment in {"declared", "reviewed"}:
        return True, "an assigned reviewer without a conflict reads the proposal"
    if user.has_role(Role.MEMBER_DELEGATE) and (
        facts.state in DECIDED_OR_DECIDING or (user.member_code or "") in facts.countries
    ):
        return True, "delegates read proposals under decision and those touching their country"
    return False, "this proposal is not visible to you"


def _read_summary(user: Principal, facts: Any) -> Decision:
    allowed, reason = _read_full(user, facts)
    if allowed:
        return allowed, reason
    if isinstance(facts, ProposalFacts) and user.has_role(Role.TAG_REVIEWER) and facts.assignment == "assigned":
        return True, "an assigned reviewer sees the summary until declaring conflicts of interest"
    return False, reason


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


register_permission("proposals.read", _read_full)
register_permission("proposals.read_summary", _read_summary)
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


def _read_grant(user: Principal, facts: Any) -> Decision:
    if user.has_role(*GRANT_READERS):
        return True, "the secretariat, finance staff, auditors and member delegates read every grant"
    if user.has_role(Role.GRANTEE):
        if not isinstance(facts, GrantFacts):
            return True, "listing: a grantee lists its own organisation's grants"
        if user.organisation_id == facts.organisation_id:
            return True, "a grantee reads its own organisation's grants"
    return False, "this grant is not visible to you"


def _report(user: Principal, facts: Any) -> Decision:
    if not user.has_role(Role.GRANTEE):
        return False, "reports are submitted by the grantee"
    if isinstance(facts, GrantFacts) and user.organisation_id != facts.organisation_id:
        return False, "a grantee reports only on its own organisation's grants"
    return True, "own grant"


register_permission("grants.read", _read_grant)
register_permission("grants.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("grants.prepare", roles_may(Role.FINANCE_OFFICER))
register_permission("grants.approve", roles_may(Role.FINANCE_APPROVER))
register_permission("grants.refund", roles_may(Role.FINANCE_OFFICER, Role.FINANCE_APPROVER))
register_permission("grants.report", _report)
