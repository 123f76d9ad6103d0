"""the concessional decision kinds: decisions.kind widened to 32 characters (restructure_concessional)

Revision ID: 0023_concessional_kinds
Revises: 0022_investment_income
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_concessional_kinds"
down_revision: str | None = "0022_investment_income"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.alter_column(
            "kind", existing_type=sa.String(length=20), type_=sa.String(length=32), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.alter_column(
            "kind", existing_type=sa.String(length=32), type_=sa.String(length=20), existing_nullable=False
        )
