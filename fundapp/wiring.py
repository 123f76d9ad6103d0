"""The shell's one place that connects the domains to each other and to the core: the hooks each side
declares and only the shell may join (the core and a domain never import a domain to their right)."""

from __future__ import annotations

from fundapp.core import accounts
from governance.service import member_reference
from proposals.service import organisation_reference


def register_hooks() -> None:
    """Register every cross-domain hook (idempotent: registering again replaces with the same)."""
    accounts.register_reference("member_code", "member-exists", member_reference)
    accounts.register_reference("organisation_id", "organisation-exists", organisation_reference)
