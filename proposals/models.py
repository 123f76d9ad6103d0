"""Proposals tables: calls, organisations, proposals with their versions, countries, endorsements and
attachments, the transition history, reviewer assignments and reviews; then grants with their tranches,
disbursements, reports, refunds and idempotency keys.

A proposal's full content (budget, tranches, results framework, beneficiaries...) is one validated JSON
document, snapshotted at every submission into ``proposal_versions``; the columns beside it are the ones
lists filter on.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from fundapp.core.db import utc_column


class OrganisationType(StrEnum):
    GOVERNMENT = "government"
    INTERNATIONAL_ORGANISATION = "international_organisation"
    NGO = "ngo"
    PRIVATE_SECTOR = "private_sector"
    ACADEMIA = "academia"
    # A multilateral development bank that lends to benefitting countries (concessional financing, DESIGN §12).
    IMPLEMENTATION_SUPPORT_AGENCY = "implementation_support_agency"


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
    # An implementation support agency's financial procedures agreement with the trustee (its date and the
    # document's reference): no transfer to the agency before it exists.
    procedures_agreement_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    procedures_agreement_document: str = Field(default="", sa_column=Column(Text(), nullable=False))
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


# ---------------------------------------------------------------- grants (second half)


class GrantStatus(StrEnum):
    AWAITING_AGREEMENT = "awaiting_agreement"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class TrancheStatus(StrEnum):
    """Stored states of a tranche; ``partly_paid`` is shown when a recognised tranche is paid in part."""

    PENDING = "pending"  # agreement not signed, or its condition not yet met
    RECOGNISED = "recognised"  # expense and grants payable posted: it may be disbursed
    PAID = "paid"  # disbursed in full
    RELEASED = "released"  # the grant closed before it was paid in full; the rest went back to the window


class DisbursementStatus(StrEnum):
    PREPARED = "prepared"
    AWAITING_SECOND_APPROVAL = "awaiting_second_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReportKind(StrEnum):
    PROGRESS = "progress"
    FINAL = "final"


class ReportStatus(StrEnum):
    DUE = "due"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"


def status_column(states: type[StrEnum], length: int, *, index: bool = False) -> Column:  # type: ignore[type-arg]
    """A status column typed by its StrEnum and stored as the same strings in a VARCHAR(``length``): no
    native enum type and no CHECK, so the schema is the one the migrations made."""
    return Column(
        Enum(
            states,
            native_enum=False,
            create_constraint=False,
            length=length,
            values_callable=lambda enum: [member.value for member in enum],
        ),
        nullable=False,
        index=index,
    )


class Grant(SQLModel, table=True):
    """A grant made by an adopted funding decision. Amounts in minor units of ``currency`` (the reporting
    currency, as the proposal's). The money itself lives in the ledger under the grant dimension."""

    __tablename__ = "grants"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, unique=True))
    decision_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True, index=True))
    organisation_id: int = Field(
        sa_column=Column(Integer(), ForeignKey("organisations.id"), nullable=False, index=True)
    )
    window_id: int = Field(sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=False, index=True))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    # Indirect support costs over direct costs in the approved budget, a decimal string ("0.0700").
    isc_rate: str = Field(sa_column=Column(String(16), nullable=False))
    start_date: date = Field(sa_column=Column(Date(), nullable=False))
    end_date: date = Field(sa_column=Column(Date(), nullable=False))
    status: GrantStatus = Field(sa_column=status_column(GrantStatus, 20, index=True))
    agreement_signed_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    agreement_reference: str = Field(default="", sa_column=Column(Text(), nullable=False))
    agreement_entry_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    closed_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    close_entry_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    status_reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class Tranche(SQLModel, table=True):
    """One instalment of a grant. ``paid`` is the sum of its approved disbursements, never over its amount
    (a CHECK on both backends; approvals also lock the row)."""

    __tablename__ = "grant_tranches"
    __table_args__ = (
        UniqueConstraint("grant_id", "number"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("paid >= 0 AND paid <= amount", name="paid_within_amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(sa_column=Column(Integer(), ForeignKey("grants.id"), nullable=False, index=True))
    number: int = Field(nullable=False)
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    planned_date: date = Field(sa_column=Column(Date(), nullable=False))
    # "none" or "progress_report" (an accepted report meets it).
    condition: str = Field(sa_column=Column(String(20), nullable=False))
    status: TrancheStatus = Field(sa_column=status_column(TrancheStatus, 12))
    paid: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    recognised_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    recognised_entry_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    # The accepted report that met the condition, for a conditional tranche.
    met_by_report_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True))


class Disbursement(SQLModel, table=True):
    """A transfer of (part of) a tranche, prepared by one finance officer and approved by a different
    finance approver (two different ones above the charter's threshold). The database refuses an approver
    who prepared it (CHECK, on both backends)."""

    __tablename__ = "disbursements"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("prepared_by <> approved_by", name="maker_is_not_checker"),
        CheckConstraint(
            "prepared_by <> second_approved_by AND approved_by <> second_approved_by", name="second_checker"
        ),
        CheckConstraint("prepared_by <> rejected_by", name="maker_does_not_reject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(sa_column=Column(Integer(), ForeignKey("grants.id"), nullable=False, index=True))
    tranche_id: int = Field(sa_column=Column(Integer(), ForeignKey("grant_tranches.id"), nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    status: DisbursementStatus = Field(sa_column=status_column(DisbursementStatus, 30, index=True))
    reference: str = Field(default="", sa_column=Column(String(200), nullable=False))
    prepared_by: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False))
    prepared_at: datetime = Field(sa_column=utc_column())
    approved_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    approved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    second_approved_by: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True)
    )
    second_approved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    rejected_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    rejected_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    rejection_reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    # The journal entry of the transfer, once approved.
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True, unique=True))


class GrantReport(SQLModel, table=True):
    """One report of a grant's schedule: narrative, indicator values and cumulative expenditure by budget
    category. Progress reports fall due every ``grant_report_interval_months``; the final one after the end."""

    __tablename__ = "grant_reports"
    __table_args__ = (UniqueConstraint("grant_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(sa_column=Column(Integer(), ForeignKey("grants.id"), nullable=False, index=True))
    number: int = Field(nullable=False)
    kind: ReportKind = Field(sa_column=status_column(ReportKind, 10))
    period_start: date = Field(sa_column=Column(Date(), nullable=False))
    period_end: date = Field(sa_column=Column(Date(), nullable=False))
    due_on: date = Field(sa_column=Column(Date(), nullable=False, index=True))
    status: ReportStatus = Field(sa_column=status_column(ReportStatus, 10))
    narrative: str = Field(default="", sa_column=Column(Text(), nullable=False))
    # Canonical JSON: [{"outcome", "indicator", "value"}] and [{"category", "amount"}] (cumulative).
    indicators: str = Field(default="[]", sa_column=Column(Text(), nullable=False))
    expenditure: str = Field(default="[]", sa_column=Column(Text(), nullable=False))
    expenditure_total: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    submitted_by: int | None = Field(default=None, nullable=True)
    submitted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reviewed_by: int | None = Field(default=None, nullable=True)
    reviewed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    review_note: str = Field(default="", sa_column=Column(Text(), nullable=False))


class Refund(SQLModel, table=True):
    """Money a grantee returned: cash in, expense reduced, budgetary back to the window's available funds."""

    __tablename__ = "grant_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(sa_column=Column(Integer(), ForeignKey("grants.id"), nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    received_on: date = Field(sa_column=Column(Date(), nullable=False))
    reference: str = Field(default="", sa_column=Column(String(200), nullable=False))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True, unique=True))
    recorded_by: int | None = Field(default=None, nullable=True)
    recorded_at: datetime = Field(sa_column=utc_column())


class GrantRequest(SQLModel, table=True):
    """An Idempotency-Key used on a grant's money movement: the same key and body return the first result;
    the same key with another operation or body is refused. Keys are scoped to their grant and sender."""

    __tablename__ = "grant_requests"

    grant_id: int = Field(sa_column=Column(Integer(), ForeignKey("grants.id"), primary_key=True))
    key: str = Field(sa_column=Column(String(220), primary_key=True))  # "{user id}/{client's key}"
    operation: str = Field(sa_column=Column(String(40), nullable=False))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # What the first request produced (a disbursement, a refund, the grant itself).
    result_id: int = Field(nullable=False)
    created_at: datetime = Field(sa_column=utc_column())
