"""idempotency keys scoped to their sender: a contribution's key is stored as "{recorded_by}/{key}" (0 for
the system), so another user's same key is another request (fundapp.core.idempotency); the keys recorded
before are rewritten so. A grant's requests recorded no sender: their keys stay as they were, and a retry
of such a request after the upgrade is a new request (keys serve retries of moments ago)

Revision ID: 0015_scoped_keys
Revises: 0014_role_grants
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_scoped_keys"
down_revision: str | None = "0014_role_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A client's key (up to 200 characters) and its scope: "{user id}/" takes at most 11 more.
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.alter_column(
            "idempotency_key", existing_type=sa.String(length=200), type_=sa.String(length=220), existing_nullable=True
        )
    with op.batch_alter_table("grant_requests", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sa.String(length=200), type_=sa.String(length=220), existing_nullable=False
        )
    op.execute(
        "UPDATE contributions SET idempotency_key = "
        "CAST(COALESCE(recorded_by, 0) AS VARCHAR(12)) || '/' || idempotency_key "
        "WHERE idempotency_key IS NOT NULL"
    )


def downgrade() -> None:
    position = "STRPOS" if op.get_bind().dialect.name == "postgresql" else "INSTR"
    op.execute(
        f"UPDATE contributions SET idempotency_key = SUBSTR(idempotency_key, {position}(idempotency_key, '/') + 1) "  # noqa: S608 - a function name of two constants
        "WHERE idempotency_key IS NOT NULL"
    )
    with op.batch_alter_table("grant_requests", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sa.String(length=220), type_=sa.String(length=200), existing_nullable=False
        )
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.alter_column(
            "idempotency_key", existing_type=sa.String(length=220), type_=sa.String(length=200), existing_nullable=True
        )
