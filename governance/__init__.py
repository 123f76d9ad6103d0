"""Governance: member states, contributors, pledges and contributions, the windows, decisions and their
votes.

Other packages use governance through this module only (tests/unit/test_architecture.py).
"""

from governance import rules
from governance.decisions import FundingFacts, HookContext, ProposalSummary, register_funding_handler
from governance.models import (
    AdminBudget,
    Contribution,
    Contributor,
    Decision,
    DecisionKind,
    DecisionResult,
    Member,
    Pledge,
    PledgeInstalment,
    Window,
    WindowStatus,
)
from governance.rules import country_names, iso_alpha3
from governance.schemas import ContributionCreate, CountryCode, PledgeCreate

__all__ = [
    "AdminBudget",
    "Contribution",
    "ContributionCreate",
    "Contributor",
    "CountryCode",
    "Decision",
    "DecisionKind",
    "DecisionResult",
    "FundingFacts",
    "HookContext",
    "Member",
    "Pledge",
    "PledgeCreate",
    "PledgeInstalment",
    "ProposalSummary",
    "Window",
    "WindowStatus",
    "country_names",
    "iso_alpha3",
    "register_funding_handler",
    "rules",
]
