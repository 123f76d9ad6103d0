"""governance: members in two tiers and their history, windows (with the six GFMD themes), tier fees,
contributors, assessments, pledges and instalments, contributions

Revision ID: 0003_governance
Revises: 0002_ledger
Create Date: 2026-11-21 00:26:12.120723
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0003_governance"
down_revision: str | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("tier", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_members")),
    )
    op.create_table(
        "tier_fees",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tier", sa.String(length=2), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("set_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", "tier", name=op.f("pk_tier_fees")),
    )
    op.create_table(
        "windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_es", sa.String(length=200), nullable=False),
        sa.Column("name_fr", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_windows")),
        sa.UniqueConstraint("code", name=op.f("uq_windows_code")),
    )
    op.create_table(
        "contributors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=True),
        sa.Column("country", sa.String(length=3), nullable=True),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_code"], ["members.code"], name=op.f("fk_contributors_member_code_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributors")),
        sa.UniqueConstraint("member_code", name=op.f("uq_contributors_member_code")),
    )
    op.create_table(
        "member_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=False),
        sa.Column("field", sa.String(length=10), nullable=False),
        sa.Column("old_value", sa.String(length=20), nullable=True),
        sa.Column("new_value", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_code"], ["members.code"], name=op.f("fk_member_changes_member_code_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_changes")),
    )
    with op.batch_alter_table("member_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_changes_member_code"), ["member_code"], unique=False)

    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=False),
        sa.Column("contributor_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=2), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contributor_id"], ["contributors.id"], name=op.f("fk_assessments_contributor_id_contributors")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_assessments_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(["member_code"], ["members.code"], name=op.f("fk_assessments_member_code_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint("member_code", "year", name=op.f("uq_assessments_member_code_year")),
    )
    op.create_table(
        "pledges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contributor_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("conditional", sa.Boolean(), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("condition_met_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("condition_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["condition_entry_id"], ["journal_entries.id"], name=op.f("fk_pledges_condition_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["contributor_id"], ["contributors.id"], name=op.f("fk_pledges_contributor_id_contributors")
        ),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name=op.f("fk_pledges_entry_id_journal_entries")),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_pledges_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledges")),
    )
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pledges_contributor_id"), ["contributor_id"], unique=False)

    op.create_table(
        "pledge_instalments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledges.id"], name=op.f("fk_pledge_instalments_pledge_id_pledges")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledge_instalments")),
        sa.UniqueConstraint("pledge_id", "number", name=op.f("uq_pledge_instalments_pledge_id_number")),
    )
    with op.batch_alter_table("pledge_instalments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pledge_instalments_pledge_id"), ["pledge_id"], unique=False)

    op.create_table(
        "contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contributor_id", sa.Integer(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("instalment_id", sa.Integer(), nullable=True),
        sa.Column("assessment_id", sa.Integer(), nullable=True),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("unapplied", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name=op.f("fk_contributions_assessment_id_assessments")
        ),
        sa.ForeignKeyConstraint(
            ["contributor_id"], ["contributors.id"], name=op.f("fk_contributions_contributor_id_contributors")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_contributions_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["instalment_id"], ["pledge_instalments.id"], name=op.f("fk_contributions_instalment_id_pledge_instalments")
        ),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_contributions_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_contributions_idempotency_key")),
    )
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contributions_assessment_id"), ["assessment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contributions_contributor_id"), ["contributor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contributions_instalment_id"), ["instalment_id"], unique=False)

    _insert_gfmd_windows()


def downgrade() -> None:
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contributions_instalment_id"))
        batch_op.drop_index(batch_op.f("ix_contributions_contributor_id"))
        batch_op.drop_index(batch_op.f("ix_contributions_assessment_id"))

    op.drop_table("contributions")
    with op.batch_alter_table("pledge_instalments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pledge_instalments_pledge_id"))

    op.drop_table("pledge_instalments")
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pledges_contributor_id"))

    op.drop_table("pledges")
    op.drop_table("assessments")
    with op.batch_alter_table("member_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_changes_member_code"))

    op.drop_table("member_changes")
    op.drop_table("contributors")
    op.drop_table("windows")
    op.drop_table("tier_fees")
    op.drop_table("members")


# The six thematic windows of the facility's proposal (GFMD themes).
GFMD_WINDOWS = [
    (
        "LMG",
        "Labour migration governance",
        "Gobernanza de la migración laboral",
        "Gouvernance de la migration de main-d'œuvre",
    ),
    (
        "SKL",
        "Migrants' skills development for employment",
        "Desarrollo de competencias de los migrantes para el empleo",
        "Développement des compétences des migrants pour l'emploi",
    ),
    (
        "TEC",
        "New technologies to empower migrants",
        "Nuevas tecnologías para empoderar a los migrantes",
        "Nouvelles technologies pour autonomiser les migrants",
    ),
    (
        "PRO",
        "Closing protection gaps",
        "Cerrar las brechas de protección",
        "Combler les lacunes en matière de protection",
    ),
    ("IRR", "Preventing irregular migration", "Prevenir la migración irregular", "Prévenir la migration irrégulière"),
    (
        "PAR",
        "Partnerships for migration-related goals",
        "Alianzas para los objetivos relacionados con la migración",
        "Partenariats pour les objectifs liés à la migration",
    ),
]


def _insert_gfmd_windows() -> None:
    windows = sa.table(
        "windows",
        *(sa.column(name) for name in ("code", "name_en", "name_es", "name_fr", "description", "status")),
        sa.column("created_at", fundapp.core.db.UTCDateTime()),
    )
    created_at = datetime(2026, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        windows,
        [
            {
                "code": code,
                "name_en": en,
                "name_es": es,
                "name_fr": fr,
                "description": "",
                "status": "open",
                "created_at": created_at,
            }
            for code, en, es, fr in GFMD_WINDOWS
        ],
    )
