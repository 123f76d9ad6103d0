"""proposals: calls, organisations, proposals with versions, countries, endorsements and attachments,
the workflow history, reviewer assignments and reviews

Revision ID: 0004_proposals
Revises: 0003_governance
Create Date: 2026-11-21 00:55:56.172730
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0004_proposals"
down_revision: str | None = "0003_governance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("registration", sa.Text(), nullable=False),
        sa.Column("due_diligence", sa.String(length=10), nullable=False),
        sa.Column("due_diligence_note", sa.Text(), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("opens_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.BigInteger(), nullable=False),
        sa.Column("min_grant", sa.BigInteger(), nullable=False),
        sa.Column("max_grant", sa.BigInteger(), nullable=False),
        sa.Column("eligible_types", sa.String(length=200), nullable=False),
        sa.Column("eligible_countries", sa.Text(), nullable=False),
        sa.Column("rubric", sa.Text(), nullable=False),
        sa.Column("reviews_required", sa.Integer(), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_calls_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_window_id"), ["window_id"], unique=False)

    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("requested", sa.BigInteger(), nullable=False),
        sa.Column("gender_marker", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("consolidated_score", sa.String(length=16), nullable=True),
        sa.Column("tag_recommendation", sa.String(length=20), nullable=True),
        sa.Column("tag_justification", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_proposals_call_id_calls")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_proposals_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_proposals_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposals_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_window_id"), ["window_id"], unique=False)

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_attachments_proposal_id_proposals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_attachments_stored_name")),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_proposal_id"), ["proposal_id"], unique=False)

    op.create_table(
        "proposal_countries",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_countries_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("proposal_id", "country", name=op.f("pk_proposal_countries")),
    )
    op.create_table(
        "proposal_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_transitions_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_transitions")),
    )
    with op.batch_alter_table("proposal_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_transitions_proposal_id"), ["proposal_id"], unique=False)

    op.create_table(
        "proposal_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_versions_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_versions")),
        sa.UniqueConstraint("proposal_id", "version", name=op.f("uq_proposal_versions_proposal_id_version")),
    )
    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_versions_proposal_id"), ["proposal_id"], unique=False)

    op.create_table(
        "review_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("conflict_reason", sa.Text(), nullable=False),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("assigned_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("declared_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_review_assignments_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_review_assignments_reviewer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
        sa.UniqueConstraint("proposal_id", "reviewer_id", name=op.f("uq_review_assignments_proposal_id_reviewer_id")),
    )
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_assignments_proposal_id"), ["proposal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_assignments_reviewer_id"), ["reviewer_id"], unique=False)

    op.create_table(
        "endorsements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("letter_attachment_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_attachment_id"], ["attachments.id"], name=op.f("fk_endorsements_letter_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_endorsements_proposal_id_proposals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endorsements")),
        sa.UniqueConstraint("proposal_id", "country", name=op.f("uq_endorsements_proposal_id_country")),
    )
    with op.batch_alter_table("endorsements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_endorsements_proposal_id"), ["proposal_id"], unique=False)

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("weighted_score", sa.String(length=16), nullable=False),
        sa.Column("recommendation", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("submitted_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["review_assignments.id"], name=op.f("fk_reviews_assignment_id_review_assignments")
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_reviews_proposal_id_proposals")),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_reviews_reviewer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_reviews_assignment_id")),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviews_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviews_proposal_id"))

    op.drop_table("reviews")
    with op.batch_alter_table("endorsements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endorsements_proposal_id"))

    op.drop_table("endorsements")
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_assignments_reviewer_id"))
        batch_op.drop_index(batch_op.f("ix_review_assignments_proposal_id"))

    op.drop_table("review_assignments")
    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_versions_proposal_id"))

    op.drop_table("proposal_versions")
    with op.batch_alter_table("proposal_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_transitions_proposal_id"))

    op.drop_table("proposal_transitions")
    op.drop_table("proposal_countries")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_proposal_id"))

    op.drop_table("attachments")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposals_window_id"))
        batch_op.drop_index(batch_op.f("ix_proposals_state"))
        batch_op.drop_index(batch_op.f("ix_proposals_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_proposals_call_id"))

    op.drop_table("proposals")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_window_id"))

    op.drop_table("calls")
    op.drop_table("organisations")
