"""Ledger tables: accounts in two books, monthly periods, FX rates, journal entries and their postings.

Amounts are signed integers in minor units (debit positive, credit negative), in the posting's own
currency (``amount``) and in the reporting currency (``reporting_amount``). Posted rows are never updated
or deleted (a correction is a reversal entry); on PostgreSQL triggers enforce it, and a deferred
constraint trigger refuses an unbalanced entry at commit.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from fundapp.core.db import UTCDateTime


class Book(StrEnum):
    FINANCIAL = "financial"
    BUDGETARY = "budgetary"


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    NET_ASSETS = "net_assets"
    REVENUE = "revenue"
    EXPENSE = "expense"
    BUDGETARY = "budgetary"


class NormalSide(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class PeriodStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


ANY_CURRENCY = "*"
# Budgetary and net-asset accounts are kept in the facility's reporting currency only.
REPORTING_ONLY = "REPORTING"


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_accounts"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    book: str = Field(sa_column=Column(String(16), nullable=False))
    type: str = Field(sa_column=Column(String(16), nullable=False))
    normal_side: str = Field(sa_column=Column(String(8), nullable=False))
    # "*" for any currency, "REPORTING" for the reporting currency only, else comma-separated ISO 4217 codes.
    currencies: str = Field(sa_column=Column(String(200), nullable=False))
    # Monetary items (cash, receivables, payables) are revalued at closing rates.
    is_monetary: bool = Field(default=False, nullable=False)
    is_open: bool = Field(default=True, nullable=False)
    description: str = Field(default="", sa_column=Column(Text(), nullable=False))

    def allows(self, currency: str, reporting_currency: str) -> bool:
        return currency_allowed(self.currencies, currency, reporting_currency)


def currency_allowed(currencies: str, currency: str, reporting_currency: str) -> bool:
    """Whether an account whose allowed currencies are ``currencies`` takes ``currency``."""
    if currencies == ANY_CURRENCY:
        return True
    if currencies == REPORTING_ONLY:
        return currency == reporting_currency
    return currency in currencies.split(",")


class Period(SQLModel, table=True):
    """A calendar month, ``YYYY-MM``. Open until closed; nothing is ever posted into a closed one."""

    __tablename__ = "ledger_periods"

    id: str = Field(sa_column=Column(String(7), primary_key=True))
    starts_on: date = Field(sa_column=Column(Date(), nullable=False))
    ends_on: date = Field(sa_column=Column(Date(), nullable=False))
    status: str = Field(sa_column=Column(String(8), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_by: int | None = Field(default=None, nullable=True)
    # Hash of the journal's chain head when the period closed: its reports can be re-derived exactly.
    closing_chain_head: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class FxRate(SQLModel, table=True):
    """Units of the reporting currency for one unit of ``currency`` on ``rate_date``."""

    __tablename__ = "ledger_fx_rates"
    __table_args__ = (UniqueConstraint("currency", "rate_date"),)

    id: int | None = Field(default=None, primary_key=True)
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    rate_date: date = Field(sa_column=Column(Date(), nullable=False))
    # A decimal string: exact on every backend (Numeric would go through float on SQLite).
    rate: str = Field(sa_column=Column(String(40), nullable=False))
    source: str = Field(default="", sa_column=Column(String(100), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class JournalEntry(SQLModel, table=True):
    """One balanced, immutable, hash-chained journal entry; ``id`` is its gap-free place in the chain."""

    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_source", "source_type", "source_id"),)

    id: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    entry_date: date = Field(sa_column=Column(Date(), nullable=False, index=True))
    period_id: str = Field(sa_column=Column(String(7), ForeignKey("ledger_periods.id"), nullable=False))
    description: str = Field(sa_column=Column(String(500), nullable=False))
    source_type: str = Field(sa_column=Column(String(40), nullable=False))
    source_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(200), nullable=True, unique=True))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # A reversal names the entry it nets to zero; unique, so an entry is reversed at most once.
    reverses_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True, unique=True),
    )
    posted_by: int | None = Field(default=None, nullable=True)
    posted_by_label: str = Field(sa_column=Column(String(100), nullable=False))
    posted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    # How many postings the entry has: once it has them all it is sealed, and no posting joins it later
    # (SQLite's trigger of migration 0017; PostgreSQL refuses a posting outside its entry's transaction).
    line_count: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True))
    # HMAC-SHA256 of ``hash`` under the chain key (outside the database), as the audit log's events carry.
    seal: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class Posting(SQLModel, table=True):
    """One line of an entry. ``entry_date`` is copied from the entry so balances need no join."""

    __tablename__ = "postings"
    __table_args__ = (
        UniqueConstraint("entry_id", "line_no"),
        # Covers the trial balance: SQLite sums the index without visiting the table.
        Index("ix_postings_account_date", "account_id", "currency", "entry_date", "amount", "reporting_amount"),
        Index("ix_postings_entry_date", "entry_date"),
        # A contributor's balance in one account and currency (each deposit reads one) is one range of this
        # index, read without the table. The entry id before the sums keeps each key's new rows at the end
        # of its range, so posting in bulk touches few pages. Partial: a posting without a contributor costs
        # no work here.
        Index(
            "ix_postings_contributor",
            "contributor_id",
            "account_id",
            "currency",
            "window_id",
            "grant_id",
            "entry_id",
            "amount",
            "reporting_amount",
            sqlite_where=text("contributor_id IS NOT NULL"),
            postgresql_where=text("contributor_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    )
    entry_id: int = Field(sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=False))
    line_no: int = Field(nullable=False)
    account_id: int = Field(sa_column=Column(Integer(), ForeignKey("ledger_accounts.id"), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    reporting_amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    entry_date: date = Field(sa_column=Column(Date(), nullable=False))
    contributor_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True))
    window_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True, index=True))
    grant_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True, index=True))


# The window of a posting total with no window (the pooled fund); window ids start at 1.
POOLED_KEY = 0


class PostingTotal(SQLModel, table=True):
    """The sums of the postings per account, day, currency, window and source type (the entry's), kept by a
    trigger on every insert into postings (migration 0019; on PostgreSQL the service's role may only read
    them). A balance between two dates that needs no other dimension reads whole months from
    :class:`PostingMonthTotal` and the leftover days from here (``ledger.queries.totals_between``) instead of
    every posting; ``ledger.queries.verify_chain`` checks both against the postings."""

    __tablename__ = "posting_totals"

    entry_date: date = Field(sa_column=Column(Date(), primary_key=True))
    account_id: int = Field(sa_column=Column(Integer(), ForeignKey("ledger_accounts.id"), primary_key=True))
    currency: str = Field(sa_column=Column(String(3), primary_key=True))
    window_key: int = Field(sa_column=Column(Integer(), primary_key=True))  # POOLED_KEY: no window
    source_type: str = Field(sa_column=Column(String(40), primary_key=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    reporting_amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    postings: int = Field(sa_column=Column(BigInteger(), nullable=False))


class PostingMonthTotal(SQLModel, table=True):
    """:class:`PostingTotal` per month (``month``: its first day), kept by the same trigger."""

    __tablename__ = "posting_month_totals"

    month: date = Field(sa_column=Column(Date(), primary_key=True))
    account_id: int = Field(sa_column=Column(Integer(), ForeignKey("ledger_accounts.id"), primary_key=True))
    currency: str = Field(sa_column=Column(String(3), primary_key=True))
    window_key: int = Field(sa_column=Column(Integer(), primary_key=True))  # POOLED_KEY: no window
    source_type: str = Field(sa_column=Column(String(40), primary_key=True))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    reporting_amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    postings: int = Field(sa_column=Column(BigInteger(), nullable=False))


class ReferenceVersion(SQLModel, table=True):
    """One row whose token changes (triggers, both backends) with every change to accounts, periods or
    rates: a process may keep those tables in memory for as long as the token it read is current."""

    __tablename__ = "ledger_reference_version"

    id: int = Field(sa_column=Column(Integer(), primary_key=True, autoincrement=False))
    token: str = Field(sa_column=Column(String(32), nullable=False))


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class EntryRequest(SQLModel, table=True):
    """A manual journal entry or a reversal, prepared by one finance officer with its reason and posted only
    when a different finance approver approves it (two different approvers above the charter's threshold).
    The database refuses an approver who prepared it (CHECK, on both backends)."""

    __tablename__ = "entry_requests"
    __table_args__ = (
        CheckConstraint("prepared_by <> first_approved_by", name="maker_is_not_checker"),
        CheckConstraint(
            "prepared_by <> approved_by AND (first_approved_by IS NULL OR first_approved_by <> approved_by)",
            name="checkers_differ",
        ),
        CheckConstraint("prepared_by <> rejected_by", name="maker_does_not_reject"),
        CheckConstraint("approvals_needed IN (1, 2)", name="one_or_two_approvals"),
        # A request's idempotency key is its preparer's own: another user's key is another request.
        UniqueConstraint("prepared_by", "idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # "entry" or "reversal"
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    payload: str = Field(sa_column=Column(Text(), nullable=False))  # canonical JSON of what is to be posted
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    reason: str = Field(sa_column=Column(Text(), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger(), nullable=False))  # reporting minor units: its size
    approvals_needed: int = Field(nullable=False)
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    reverses_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True, index=True))
    prepared_by: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False))
    prepared_at: datetime = Field(sa_column=Column(UTCDateTime(timezone=True), nullable=False))
    first_approved_by: int | None = Field(
        default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True)
    )
    first_approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(timezone=True)))
    approved_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(timezone=True)))
    rejected_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    rejected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(timezone=True)))
    rejection_reason: str = Field(default="", sa_column=Column(Text(), nullable=False))
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), ForeignKey("journal_entries.id"), nullable=True)
    )
