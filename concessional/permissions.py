"""Who may use the concessional financing domain's actions."""

from __future__ import annotations

from fundapp.core.security import anyone_authenticated, register_permission

# The calculator computes and saves nothing: every signed-in user (members, MDBs, the secretariat) may try terms.
register_permission("concessional.calculate", anyone_authenticated)
