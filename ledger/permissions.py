"""Who may read and write the ledger (registered with the one has_permission of fundapp.core)."""

from __future__ import annotations

from fundapp.core.models import Role
from fundapp.core.security import register_permission, roles_may

FINANCE = (Role.FINANCE_OFFICER, Role.FINANCE_APPROVER)
READERS = (*FINANCE, Role.SECRETARIAT_ADMIN, Role.AUDITOR)

register_permission("ledger.read", roles_may(*READERS))
# Four eyes: a finance officer prepares a manual entry or a reversal, a finance approver who did not
# prepare it approves (ledger.requests); no user holds both roles (fundapp.core.accounts).
register_permission("ledger.prepare", roles_may(Role.FINANCE_OFFICER))
register_permission("ledger.approve", roles_may(Role.FINANCE_APPROVER))
register_permission("ledger.close_period", roles_may(*FINANCE))
register_permission("ledger.rates", roles_may(*FINANCE))
register_permission("ledger.revalue", roles_may(*FINANCE))
register_permission("ledger.accounts.manage", roles_may(*FINANCE))
