"""Proposals tables, first half: calls, organisations, proposals with their versions, countries,
endorsements and attachments, the transition history, reviewer assignments and reviews.

A proposal's full content (budget, tranches, results framework, beneficiaries...) is one validated JSON
document, snapshotted at every submission into ``proposal_versions``; the columns beside it are the ones
lists filter on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from fundapp.core.db import utc_column


class OrganisationType(StrEnum):
    GOVERNMENT = "government"
    INTERNATIONAL_ORGANISATION = "international_organisation"
    NGO = "ngo"
    PRIVATE_SECTOR = "private_sector"
    ACADEMIA = "academia"


class DueDiligence(StrEnum):
    PENDING = "pending"
    CLEARED = "cleared"
    REFUSED = "refused"


class Call(SQLModel, table=True):
    __tablename__ = "calls"

    id: int | None = Field(default=None, primary_key=True)
    window_id: int = Field(sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=False, index=True))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    description: str = Field(default="", sa_column=Column(Text(), nullable=False))
    opens_at: datetime = Field(sa_column=utc_column())
    closes_at: datetime = Field(sa_column=utc_column())
    # Amounts in minor units of the reporting currency.
    envelope: int = Field(sa_column=Column(BigInteger(), nullable=False))
    min_grant: int = Field(sa_column=Column(BigInteger(), nullable=False))
    max_grant: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # Comma-separated; empty means any.
    eligible_types: str = Field(default="", sa_column=Column(String(200), nullable=False))
    eligible_countries: str = Field(default="", sa_column=Column(Text(), nullable=False))
    # Canonical JSON: [{"key", "label", "weight"}].
    rubric: str = Field(sa_column=Column(Text(), nullable=False))
    reviews_required: int = Field(nullable=False)
    created_at: datetime = Field(sa_column=utc_column())


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    country: str = Field(sa_column=Column(String(3), nullable=False))
    registration: str = Field(default="", sa_column=Column(Text(), nullable=False))
    due_diligence: str = Field(sa_column=Column(String(10), nullable=False))
    due_diligence_note: str = Field(default="", sa_column=Column(Text(), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class Proposal(SQLModel, table=True):
    __tablename__ = "proposals"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(
        sa_column=Column(Integer(), ForeignKey("organisations.id"), nullable=False, index=True)
    )
    call_id: int = Field(sa_column=Column(Integer(), ForeignKey("calls.id"), nullable=False, index=True))
    window_id: int = Field(sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=False, index=True))
    state: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    requested: int = Field(sa_column=Column(BigInteger(), nullable=False))
    gender_marker: int = Field(nullable=False)
    # Canonical JSON of ProposalContent (see schemas.py).
    content: str = Field(sa_column=Column(Text(), nullable=False))
    version: int = Field(default=0, nullable=False)
    consolidated_score: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    tag_recommendation: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    tag_justification: str = Field(default="", sa_column=Column(Text(), nullable=False))
    created_by: int | None = Field(default=None, nullable=True)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class ProposalCountry(SQLModel, table=True):
    __tablename__ = "proposal_countries"

    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), primary_key=True))
    country: str = Field(sa_column=Column(String(3), primary_key=True))
    # Share of the proposal, in hundredths of a percent (60.5% = 6050).
    share_bp: int = Field(nullable=False)


class ProposalVersion(SQLModel, table=True):
    __tablename__ = "proposal_versions"
    __table_args__ = (UniqueConstraint("proposal_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, index=True))
    version: int = Field(nullable=False)
    content: str = Field(sa_column=Column(Text(), nullable=False))
    submitted_by: int | None = Field(default=None, nullable=True)
    submitted_at: datetime = Field(sa_column=utc_column())


class Transition(SQLModel, table=True):
    """One step of a proposal's workflow (its history)."""

    __tablename__ = "proposal_transitions"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, index=True))
    action: str = Field(sa_column=Column(String(20), nullable=False))
    from_state: str = Field(sa_column=Column(String(20), nullable=False))
    to_state: str = Field(sa_column=Column(String(20), nullable=False))
    reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    actor_id: int | None = Field(default=None, nullable=True)
    at: datetime = Field(sa_column=utc_column())


class Endorsement(SQLModel, table=True):
    """A country's answer: endorsed or declined, by one of its delegates or (non-member) a letter."""

    __tablename__ = "endorsements"
    __table_args__ = (UniqueConstraint("proposal_id", "country"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, index=True))
    country: str = Field(sa_column=Column(String(3), nullable=False))
    decision: str = Field(sa_column=Column(String(10), nullable=False))
    note: str = Field(default="", sa_column=Column(Text(), nullable=False))
    letter_attachment_id: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("attachments.id"), nullable=True)
    )
    recorded_by: int | None = Field(default=None, nullable=True)
    recorded_at: datetime = Field(sa_column=utc_column())


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, index=True))
    filename: str = Field(sa_column=Column(String(200), nullable=False))
    stored_name: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    media_type: str = Field(sa_column=Column(String(100), nullable=False))
    size: int = Field(nullable=False)
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    uploaded_by: int | None = Field(default=None, nullable=True)
    created_at: datetime = Field(sa_column=utc_column())


class Assignment(SQLModel, table=True):
    """A TAG reviewer on a proposal. The reviewer declares conflict of interest before seeing it."""

    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("proposal_id", "reviewer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, index=True))
    reviewer_id: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False, index=True))
    # assigned -> declared (no conflict) -> reviewed; or assigned -> conflicted (unassigned).
    status: str = Field(sa_column=Column(String(12), nullable=False))
    conflict_reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    assigned_by: int | None = Field(default=None, nullable=True)
    assigned_at: datetime = Field(sa_column=utc_column())
    declared_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Review(SQLModel, table=True):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("assignment_id"),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(sa_column=Column(Integer(), ForeignKey("review_assignments.id"), nullable=False))
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, index=True))
    reviewer_id: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False))
    # The version of the proposal this review scored.
    version: int = Field(nullable=False)
    # Canonical JSON: {"criterion": {"score": 0-5, "comment": "..."}}.
    scores: str = Field(sa_column=Column(Text(), nullable=False))
    weighted_score: str = Field(sa_column=Column(String(16), nullable=False))
    recommendation: str = Field(sa_column=Column(String(20), nullable=False))
    comment: str = Field(default="", sa_column=Column(Text(), nullable=False))
    submitted_at: datetime = Field(sa_column=utc_column())


class EndorsementDecision(StrEnum):
    ENDORSED = "endorsed"
    DECLINED = "declined"
