"""The shell's one place that connects the domains to each other and to the core: the hooks each side
declares and only the shell may join (the core and a domain never import a domain to their right).

Every entry point calls :func:`register_hooks` before it works: ``create_app``, the CLI's ``main``, the jobs
(``jobs_for``), the demo's ``load``, the benchmarks and the tests' facility builder. No module registers a hook
as a side effect of being imported.
"""

from __future__ import annotations

from concessional.decisions import ConcessionalHandler, grant_money_guard, proposal_hook
from fundapp.core import accounts
from fundapp.core.web.pages import register_dashboard
from governance import register_concessional_handler, register_funding_handler
from governance.pages import delegate_dashboard
from governance.service import member_reference
from proposals import register_grant_guard, register_proposal_hook
from proposals.funding import ProposalFunding
from proposals.service import organisation_reference

# One handler for the process: registering again installs the same object.
_FUNDING = ProposalFunding()
_CONCESSIONAL = ConcessionalHandler()


def register_hooks() -> None:
    """Register every cross-domain hook (idempotent: registering again replaces with the same)."""
    # The core's user accounts ask the domains whether a delegate's member and a grantee's organisation exist.
    accounts.register_reference("member_code", "member-exists", member_reference)
    accounts.register_reference("organisation_id", "organisation-exists", organisation_reference)
    # Governance's fund_proposal decisions read, refer and decide their proposal through proposals.
    register_funding_handler(_FUNDING)
    # Its concessional decisions read and change their financing request through concessional; a concessional
    # operation's grant transfers nothing before its loan is effective and, once cancelled, takes no refund
    # through the grants; a financing request's proposal is edited through the request, and the request's
    # status follows its proposal's rejection or withdrawal.
    register_concessional_handler(_CONCESSIONAL)
    register_grant_guard(grant_money_guard)
    register_proposal_hook(proposal_hook)
    # The dashboard shows a delegate its member's decisions and standing.
    register_dashboard(delegate_dashboard)
