"""Proposals and grants: organisations, proposals and their review, grants, tranches, disbursements, refunds and
grantee reports.

Other packages use proposals through this module only (tests/unit/test_architecture.py).
"""

from proposals import rules, workflow
from proposals.models import (
    Disbursement,
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
    Transition,
)

__all__ = [
    "Disbursement",
    "Grant",
    "GrantReport",
    "GrantStatus",
    "Organisation",
    "OrganisationType",
    "Proposal",
    "ProposalCountry",
    "ProposalVersion",
    "Refund",
    "Tranche",
    "Transition",
    "rules",
    "workflow",
]
