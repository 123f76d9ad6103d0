"""Who may do what with concessional financing (``fundapp.core.security``'s registry).

- ``concessional.request``: an agency's own users (grantees of an implementation support agency) write and
  submit its financing requests; the service checks the organisation.
- ``concessional.loan``: the agency's users or the secretariat record the loan's board approval and
  effectiveness (the service checks a grantee's organisation).
- ``concessional.read``: every signed-in role reads requests (a grantee its own agency's only; nobody but
  the agency reads a draft), as the service filters.
- ``concessional.calculate``: the calculator computes and saves nothing: every signed-in user (members,
  MDBs, the secretariat) may try terms.
- The financial procedures agreement is recorded by the secretariat under ``proposals.manage``, the
  permission that records an organisation's due diligence.
"""

from __future__ import annotations

from fundapp.core.models import Role
from fundapp.core.security import anyone_authenticated, register_permission, roles_may

register_permission("concessional.request", roles_may(Role.GRANTEE))
register_permission("concessional.loan", roles_may(Role.GRANTEE, Role.SECRETARIAT_ADMIN))
register_permission("concessional.read", roles_may(*Role))
register_permission("concessional.calculate", anyone_authenticated)
