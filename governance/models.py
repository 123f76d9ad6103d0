"""Governance tables, first half: members in two tiers and their history, thematic windows, the tier fee
schedule, contributors, assessments, pledges with instalments, and contributions received.

Amounts are integer minor units with their ISO 4217 currency; every money movement names the journal
entry that records it in the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from fundapp.core.db import utc_column


class Tier(StrEnum):
    PART_I = "I"
    PART_II = "II"


class MemberStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class WindowStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ContributorKind(StrEnum):
    MEMBER_STATE = "member_state"
    GOVERNMENT = "government"
    MULTILATERAL = "multilateral"
    FOUNDATION = "foundation"
    PRIVATE_SECTOR = "private_sector"


class Member(SQLModel, table=True):
    __tablename__ = "members"

    code: str = Field(sa_column=Column(String(3), primary_key=True))
    tier: str = Field(sa_column=Column(String(2), nullable=False))
    status: str = Field(sa_column=Column(String(10), nullable=False))
    joined_on: date = Field(sa_column=Column(Date(), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class MemberChange(SQLModel, table=True):
    """One change of a member's tier or status (the member's history)."""

    __tablename__ = "member_changes"

    id: int | None = Field(default=None, primary_key=True)
    member_code: str = Field(sa_column=Column(String(3), ForeignKey("members.code"), nullable=False, index=True))
    field: str = Field(sa_column=Column(String(10), nullable=False))
    old_value: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    new_value: str = Field(sa_column=Column(String(20), nullable=False))
    effective_on: date = Field(sa_column=Column(Date(), nullable=False))
    reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    changed_by: int | None = Field(default=None, nullable=True)
    changed_at: datetime = Field(sa_column=utc_column())


class Window(SQLModel, table=True):
    __tablename__ = "windows"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    name_en: str = Field(sa_column=Column(String(200), nullable=False))
    name_es: str = Field(sa_column=Column(String(200), nullable=False))
    name_fr: str = Field(sa_column=Column(String(200), nullable=False))
    description: str = Field(default="", sa_column=Column(Text(), nullable=False))
    status: str = Field(sa_column=Column(String(8), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class TierFee(SQLModel, table=True):
    """The annual fee of one tier for one year."""

    __tablename__ = "tier_fees"

    year: int = Field(sa_column=Column(Integer(), primary_key=True, autoincrement=False))
    tier: str = Field(sa_column=Column(String(2), primary_key=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    set_at: datetime = Field(sa_column=utc_column())


class Contributor(SQLModel, table=True):
    """Anyone who pays in. A member state is one (and votes); other contributors never vote."""

    __tablename__ = "contributors"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    member_code: str | None = Field(
        default=None, sa_column=Column(String(3), ForeignKey("members.code"), nullable=True, unique=True)
    )
    country: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


class Assessment(SQLModel, table=True):
    """A member's fee for a year, pro-rated by whole months for a member who joined during the year."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("member_code", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    member_code: str = Field(sa_column=Column(String(3), ForeignKey("members.code"), nullable=False))
    contributor_id: int = Field(sa_column=Column(Integer(), ForeignKey("contributors.id"), nullable=False))
    year: int = Field(nullable=False)
    tier: str = Field(sa_column=Column(String(2), nullable=False))
    months: int = Field(nullable=False)
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    assessed_on: date = Field(sa_column=Column(Date(), nullable=False))
    due_on: date = Field(sa_column=Column(Date(), nullable=False))
    # A fee notice for a year that has not begun has no entry yet: its receivable and revenue are posted on
    # 1 January of the fee year (recognised_on); a fee of the current or a past year is posted when assessed.
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True)
    )
    recognised_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))


class Pledge(SQLModel, table=True):
    """A contribution agreement: pooled, or earmarked to exactly one window."""

    __tablename__ = "pledges"

    id: int | None = Field(default=None, primary_key=True)
    contributor_id: int = Field(sa_column=Column(Integer(), ForeignKey("contributors.id"), nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    window_id: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=True))
    signed_on: date = Field(sa_column=Column(Date(), nullable=False))
    conditional: bool = Field(sa_column=Column(Boolean(), nullable=False))
    condition: str = Field(default="", sa_column=Column(Text(), nullable=False))
    condition_met_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    reference: str = Field(default="", sa_column=Column(String(100), nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=False))
    condition_entry_id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=utc_column())


class PledgeInstalment(SQLModel, table=True):
    __tablename__ = "pledge_instalments"
    __table_args__ = (UniqueConstraint("pledge_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: int = Field(sa_column=Column(Integer(), ForeignKey("pledges.id"), nullable=False, index=True))
    number: int = Field(nullable=False)
    due_on: date = Field(sa_column=Column(Date(), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))


class Contribution(SQLModel, table=True):
    """Money received. What it settles, the fee deducted and any unapplied credit are recorded with it."""

    __tablename__ = "contributions"

    id: int | None = Field(default=None, primary_key=True)
    contributor_id: int = Field(sa_column=Column(Integer(), ForeignKey("contributors.id"), nullable=False, index=True))
    value_date: date = Field(sa_column=Column(Date(), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    instalment_id: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("pledge_instalments.id"), nullable=True, index=True)
    )
    assessment_id: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("assessments.id"), nullable=True, index=True)
    )
    window_id: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=True))
    applied: int = Field(sa_column=Column(BigInteger(), nullable=False))
    unapplied: int = Field(sa_column=Column(BigInteger(), nullable=False))
    fee: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # "{sender's user id}/{client's key}" (fundapp.core.idempotency): one sender's keys never meet another's.
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(220), nullable=True, unique=True))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    reference: str = Field(default="", sa_column=Column(String(100), nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=False))
    # Paid for a fee notice before its year began: the applied part was held in 2450 (received in advance)
    # until the entry that applied it to the fee on 1 January (applied_entry_id; the fee is charged then).
    advance: bool = Field(default=False, sa_column=Column(Boolean(), nullable=False, server_default=false()))
    applied_entry_id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True)
    )
    recorded_by: int | None = Field(default=None, nullable=True)
    created_at: datetime = Field(sa_column=utc_column())


class IncomeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class InvestmentIncome(SQLModel, table=True):
    """Interest earned on the cash the trustee holds over a period, recorded by a finance officer and posted
    only when a different finance approver approves it (two different approvers above the charter's
    threshold). ``allocation`` is each fund's part (JSON: window_id, amount, reporting_amount, balance_days),
    worked out when it is recorded and posted as it was recorded. The database refuses an approver who
    recorded it (CHECK, on both backends)."""

    __tablename__ = "investment_income"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("period_start <= period_end", name="period_in_order"),
        CheckConstraint("prepared_by <> first_approved_by", name="maker_is_not_checker"),
        CheckConstraint(
            "prepared_by <> approved_by AND (first_approved_by IS NULL OR first_approved_by <> approved_by)",
            name="checkers_differ",
        ),
        CheckConstraint("prepared_by <> rejected_by", name="maker_does_not_reject"),
        CheckConstraint("approvals_needed IN (1, 2)", name="one_or_two_approvals"),
        UniqueConstraint("prepared_by", "idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False, index=True))
    reporting_amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    period_start: date = Field(sa_column=Column(Date(), nullable=False))
    period_end: date = Field(sa_column=Column(Date(), nullable=False))
    bank_reference: str = Field(sa_column=Column(String(100), nullable=False))
    allocation: str = Field(sa_column=Column(Text(), nullable=False))
    approvals_needed: int = Field(nullable=False)
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    prepared_by: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False))
    prepared_at: datetime = Field(sa_column=utc_column())
    first_approved_by: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True)
    )
    first_approved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    approved_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    approved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    rejected_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    rejected_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    rejection_reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True)
    )


# ---------------------------------------------------------------- decisions (second half)


class DecisionKind(StrEnum):
    FUND_PROPOSAL = "fund_proposal"
    ADMIT_MEMBER = "admit_member"
    SET_TIER = "set_tier"
    FEE_SCHEDULE = "fee_schedule"
    ADMIN_BUDGET = "admin_budget"
    WINDOW_ALLOCATION = "window_allocation"
    POLICY = "policy"
    CONCESSIONAL_FINANCING = "concessional_financing"
    CANCEL_CONCESSIONAL = "cancel_concessional"
    RESTRUCTURE_CONCESSIONAL = "restructure_concessional"
    ADD_COUNTRY = "add_country"
    REMOVE_COUNTRY = "remove_country"
    SET_COUNTRY_GROUP = "set_country_group"


class Procedure(StrEnum):
    VOTE = "vote"
    NO_OBJECTION = "no_objection"
    CONSENSUS = "consensus"


class DecisionStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class DecisionResult(StrEnum):
    ADOPTED = "adopted"
    NOT_ADOPTED = "not_adopted"


class Decision(SQLModel, table=True):
    """A question put to the member states, with the procedure and rules it is decided under.

    ``terms`` is the kind's canonical JSON (the proposal and amount, the member and tier, the fee...);
    ``tally`` is the canonical JSON of the count recorded at the close.
    """

    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    subject: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    text: str = Field(sa_column=Column(Text(), nullable=False))
    terms: str = Field(sa_column=Column(Text(), nullable=False))
    procedure: str = Field(sa_column=Column(String(14), nullable=False))
    quorum: str = Field(sa_column=Column(String(12), nullable=False))
    majority: str = Field(sa_column=Column(String(10), nullable=False))
    justification: str = Field(default="", sa_column=Column(Text(), nullable=False))
    window_id: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=True))
    amount: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    status: str = Field(sa_column=Column(String(8), nullable=False, index=True))
    opens_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closes_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    result: str | None = Field(default=None, sa_column=Column(String(12), nullable=True))
    result_reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    tally: str = Field(default="", sa_column=Column(Text(), nullable=False))
    events: int = Field(default=0, sa_column=Column(Integer(), nullable=False))
    chain_head: str = Field(default="", sa_column=Column(String(64), nullable=False))
    # Members on the roll fixed at the opening (``decision_roll``); None for a decision opened before rolls
    # were recorded, whose roll is the members active at its close.
    roll_size: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True))
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True)
    )
    created_by: int | None = Field(default=None, nullable=True)
    created_at: datetime = Field(sa_column=utc_column())


class DecisionEvent(SQLModel, table=True):
    """One event of a decision's record (opened, ballot, recusal, objection, meeting, closed), hash-chained
    per decision: each hash covers the canonical event and the previous event's hash. Append-only."""

    __tablename__ = "decision_events"
    __table_args__ = (UniqueConstraint("decision_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), nullable=False))
    seq: int = Field(nullable=False)
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    member_code: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    choice: str | None = Field(default=None, sa_column=Column(String(10), nullable=True))
    reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    data: str = Field(default="{}", sa_column=Column(Text(), nullable=False))
    at: datetime = Field(sa_column=utc_column())
    cast_by: int | None = Field(default=None, nullable=True)
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class Ballot(SQLModel, table=True):
    """A member's current ballot on a decision (the latest of its ballot events)."""

    __tablename__ = "ballots"

    decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), primary_key=True))
    member_code: str = Field(sa_column=Column(String(3), ForeignKey("members.code"), primary_key=True))
    choice: str = Field(sa_column=Column(String(10), nullable=False))
    event_seq: int = Field(nullable=False)
    cast_by: int | None = Field(default=None, nullable=True)
    cast_at: datetime = Field(sa_column=utc_column())


class DecisionRoll(SQLModel, table=True):
    """A member on a decision's roll: eligible when the decision opened (active, and not suspended for arrears
    when the charter says so). Written with the opening, whose hash-chained event lists the same members;
    append-only. A ballot reads it to know whether the member may take part."""

    __tablename__ = "decision_roll"

    decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), primary_key=True))
    member_code: str = Field(sa_column=Column(String(3), ForeignKey("members.code"), primary_key=True))


class Recusal(SQLModel, table=True):
    """A member stepping aside from one decision: declared with a reason, or automatic by charter."""

    __tablename__ = "recusals"

    decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), primary_key=True))
    member_code: str = Field(sa_column=Column(String(3), ForeignKey("members.code"), primary_key=True))
    reason: str = Field(sa_column=Column(Text(), nullable=False))
    automatic: bool = Field(sa_column=Column(Boolean(), nullable=False))
    declared_by: int | None = Field(default=None, nullable=True)
    declared_at: datetime = Field(sa_column=utc_column())


class AdminBudget(SQLModel, table=True):
    """The secretariat's administrative budget for a year, as approved by an admin_budget decision."""

    __tablename__ = "admin_budgets"

    year: int = Field(sa_column=Column(Integer(), primary_key=True, autoincrement=False))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), nullable=False))
    approved_at: datetime = Field(sa_column=utc_column())


# ---------------------------------------------------------------- benefitting countries


class CountryGroup(StrEnum):
    """A benefitting country's group: its World Bank income group, or a GCFF-style group (A: lower-middle-
    income-like, B: upper-middle-income-like; ``governance.rules.applicable_terms``)."""

    LDC_LIC = "ldc_lic"  # least developed or low-income
    LMIC = "lmic"  # lower-middle-income
    UMIC = "umic"  # upper-middle-income
    GCFF_A = "gcff_a"
    GCFF_B = "gcff_b"


class BenefittingCountry(SQLModel, table=True):
    """A country the facility's concessional financing may benefit, kept by member decision (add_country,
    remove_country, set_country_group). A removed country keeps its row (removed_on); adding it again opens a
    new period on the same row. Every change is a ``BenefittingCountryChange`` too."""

    __tablename__ = "benefitting_countries"

    code: str = Field(sa_column=Column(String(3), primary_key=True))  # ISO 3166-1 alpha-3; names from CLDR
    group: str = Field(sa_column=Column(String(8), nullable=False))
    added_on: date = Field(sa_column=Column(Date(), nullable=False))
    added_by_decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), nullable=False))
    removed_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    removed_by_decision_id: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("decisions.id"), nullable=True)
    )
    updated_at: datetime = Field(sa_column=utc_column())


class BenefittingCountryChange(SQLModel, table=True):
    """One change of a benefitting country, by the decision that made it: ``added`` (new value: the group),
    ``group`` (old and new group) or ``removed`` (old value: the group; reason: the decision's). Append-only."""

    __tablename__ = "benefitting_country_changes"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(3), ForeignKey("benefitting_countries.code"), nullable=False, index=True))
    change: str = Field(sa_column=Column(String(8), nullable=False))
    old_group: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    new_group: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    effective_on: date = Field(sa_column=Column(Date(), nullable=False))
    decision_id: int = Field(sa_column=Column(Integer(), ForeignKey("decisions.id"), nullable=False))
    reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    changed_at: datetime = Field(sa_column=utc_column())
