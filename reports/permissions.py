"""Who may read the reports.

- ``reports.read``: the facility-wide reports (sources and uses, financial statements, funds available,
  window portfolios): the secretariat, auditors and the member states' delegates.
- ``reports.contributor``: one contributor's report, asked with the contributor's member code (``None``
  for a contributor that is not a member state): the secretariat and auditors read every one; a member
  delegate reads only its own member's.
- ``reports.iati``: the IATI files are published openly; any signed-in user reads them.
"""

from __future__ import annotations

from typing import Any

from fundapp.core.models import Role
from fundapp.core.security import Decision, Principal, anyone_authenticated, register_permission, roles_may

SECRETARIAT = (Role.SECRETARIAT_ADMIN, Role.FINANCE_OFFICER, Role.FINANCE_APPROVER)
READ_ALL = (*SECRETARIAT, Role.AUDITOR)


def _contributor_report(user: Principal, member_code: Any) -> Decision:
    if user.has_role(*READ_ALL):
        return True, "the secretariat and auditors read every contributor's report"
    if user.has_role(Role.MEMBER_DELEGATE) and member_code is not None and user.member_code == member_code:
        return True, "a delegate reads its own member's contributor report"
    return False, "only the contributor's own member delegates, the secretariat and auditors read its report"


register_permission("reports.read", roles_may(*READ_ALL, Role.MEMBER_DELEGATE))
register_permission("reports.contributor", _contributor_report)
register_permission("reports.iati", anyone_authenticated)
