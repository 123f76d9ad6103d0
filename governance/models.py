"""Governance tables, first half: members in two tiers and their history, thematic windows, the tier fee
schedule, contributors, assessments, pledges with instalments, and contributions received.

Amounts are integer minor units with their ISO 4217 currency; every money movement names the journal
entry that records it in the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Column, Date, ForeignKey, Integer, String, Text, UniqueConstraint
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
    entry_id: int = Field(sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=False))


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
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(200), nullable=True, unique=True))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    reference: str = Field(default="", sa_column=Column(String(100), nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=False))
    recorded_by: int | None = Field(default=None, nullable=True)
    created_at: datetime = Field(sa_column=utc_column())
