"""benefitting countries kept by member decision: the list with each country's group, and its changes

Revision ID: 0021_benefitting_countries
Revises: 0020_concessional
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0021_benefitting_countries"
down_revision: str | None = "0020_concessional"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "benefitting_countries",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("group", sa.String(length=8), nullable=False),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.Column("added_by_decision_id", sa.Integer(), nullable=False),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("removed_by_decision_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_decision_id"],
            ["decisions.id"],
            name=op.f("fk_benefitting_countries_added_by_decision_id_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_decision_id"],
            ["decisions.id"],
            name=op.f("fk_benefitting_countries_removed_by_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_benefitting_countries")),
    )
    op.create_table(
        "benefitting_country_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("old_group", sa.String(length=8), nullable=True),
        sa.Column("new_group", sa.String(length=8), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"],
            ["benefitting_countries.code"],
            name=op.f("fk_benefitting_country_changes_code_benefitting_countries"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_benefitting_country_changes_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefitting_country_changes")),
    )
    op.create_index(op.f("ix_benefitting_country_changes_code"), "benefitting_country_changes", ["code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_benefitting_country_changes_code"), table_name="benefitting_country_changes")
    op.drop_table("benefitting_country_changes")
    op.drop_table("benefitting_countries")
