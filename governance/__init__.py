"""Governance: member states, contributors, pledges and contributions, the windows, decisions and their
votes.

Other packages use governance through this module only (tests/unit/test_architecture.py).
"""

from governance import rules
from governance.decisions import (
    ConcessionalFacts,
    FundingFacts,
    HookContext,
    ProposalSummary,
    register_concessional_handler,
    register_funding_handler,
)
from governance.models import (
    AdminBudget,
    BenefittingCountry,
    Contribution,
    Contributor,
    CountryGroup,
    Decision,
    DecisionKind,
    DecisionResult,
    Member,
    Pledge,
    PledgeInstalment,
    Window,
    WindowStatus,
)
from governance.rules import ConcessionalityMethod, CountryTerms, applicable_terms, country_names, iso_alpha3
from governance.schemas import ContributionCreate, CountryCode, PledgeCreate
from governance.service import CountryStanding, Governance

__all__ = [
    "AdminBudget",
    "BenefittingCountry",
    "ConcessionalFacts",
    "ConcessionalityMethod",
    "Contribution",
    "ContributionCreate",
    "Contributor",
    "CountryCode",
    "CountryGroup",
    "CountryStanding",
    "CountryTerms",
    "Decision",
    "DecisionKind",
    "DecisionResult",
    "FundingFacts",
    "Governance",
    "HookContext",
    "Member",
    "Pledge",
    "PledgeCreate",
    "PledgeInstalment",
    "ProposalSummary",
    "Window",
    "WindowStatus",
    "applicable_terms",
    "country_names",
    "iso_alpha3",
    "register_concessional_handler",
    "register_funding_handler",
    "rules",
]
