"""Proposals and grants: organisations, proposals and their review, grants, tranches, disbursements, refunds and
grantee reports.

Other packages use proposals through this module only (tests/unit/test_architecture.py).
"""

from proposals import rules, workflow
from proposals.grants import Grants, register_grant_guard
from proposals.models import (
    Call,
    Disbursement,
    DisbursementStatus,
    Endorsement,
    EndorsementDecision,
    Grant,
    GrantReport,
    GrantStatus,
    Organisation,
    OrganisationType,
    Proposal,
    ProposalCountry,
    ProposalVersion,
    Refund,
    Tranche,
    TrancheStatus,
    Transition,
)
from proposals.schemas import (
    AgreementIn,
    BudgetCategory,
    BudgetLine,
    CountryShare,
    DisbursementCreate,
    Indicator,
    Outcome,
    ProposalContent,
    TrancheCondition,
    TrancheIn,
)
from proposals.service import Proposals, register_proposal_hook

__all__ = [
    "AgreementIn",
    "BudgetCategory",
    "BudgetLine",
    "Call",
    "CountryShare",
    "Disbursement",
    "DisbursementCreate",
    "DisbursementStatus",
    "Endorsement",
    "EndorsementDecision",
    "Grant",
    "GrantReport",
    "GrantStatus",
    "Grants",
    "Indicator",
    "Organisation",
    "OrganisationType",
    "Outcome",
    "Proposal",
    "ProposalContent",
    "ProposalCountry",
    "ProposalVersion",
    "Proposals",
    "Refund",
    "Tranche",
    "TrancheCondition",
    "TrancheIn",
    "TrancheStatus",
    "Transition",
    "register_grant_guard",
    "register_proposal_hook",
    "rules",
    "workflow",
]
