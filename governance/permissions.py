"""Who may read and write the facility's structure and incoming money."""

from __future__ import annotations

from typing import Any

from fundapp.core.models import Role
from fundapp.core.security import Decision, Principal, register_permission, roles_may

SECRETARIAT = (Role.SECRETARIAT_ADMIN, Role.FINANCE_OFFICER, Role.FINANCE_APPROVER)
READ_ALL = (*SECRETARIAT, Role.AUDITOR)


def _member_statement(user: Principal, member_code: Any) -> Decision:
    if user.has_role(*READ_ALL):
        return True, "secretariat and auditors read every member's statement"
    if user.has_role(Role.MEMBER_DELEGATE) and member_code is not None and user.member_code == member_code:
        return True, "a delegate reads its own member's statement"
    return False, "only the member's own delegates, the secretariat and auditors read a member's statement"


# Membership, windows and the fee schedule are public to every signed-in user of the facility.
register_permission("governance.read", roles_may(*Role))
register_permission("governance.read_money", roles_may(*READ_ALL))
register_permission("governance.members.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("governance.windows.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("governance.tiers.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("governance.assess", roles_may(Role.SECRETARIAT_ADMIN, Role.FINANCE_OFFICER))
register_permission("governance.contributors.manage", roles_may(*SECRETARIAT))
register_permission("governance.pledges.manage", roles_may(*SECRETARIAT))
register_permission("governance.contributions.record", roles_may(Role.FINANCE_OFFICER, Role.FINANCE_APPROVER))
register_permission("governance.member_statement", _member_statement)
# Investment income: a finance officer records it, a finance approver who did not record it approves it (the
# last approval posts it); no user holds both roles (fundapp.core.accounts).
register_permission("governance.income.record", roles_may(Role.FINANCE_OFFICER))
register_permission("governance.income.approve", roles_may(Role.FINANCE_APPROVER))

# Decisions: the register and records are open to the members, the secretariat and auditors; only
# secretariat admins create, open, close and chair; delegates act for their own member (checked by object).
register_permission("governance.decisions.read", roles_may(*READ_ALL, Role.MEMBER_DELEGATE))
register_permission("governance.decisions.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("governance.decisions.participate", roles_may(Role.MEMBER_DELEGATE))
