"""Core tables: users and their roles, browser sessions, API tokens, failed logins, the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from fundapp.core.db import utc_column


class Role(StrEnum):
    SECRETARIAT_ADMIN = "secretariat_admin"
    FINANCE_OFFICER = "finance_officer"
    FINANCE_APPROVER = "finance_approver"
    TAG_REVIEWER = "tag_reviewer"
    MEMBER_DELEGATE = "member_delegate"
    GRANTEE = "grantee"
    AUDITOR = "auditor"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    full_name: str = Field(sa_column=Column(String(200), nullable=False))
    # One account per person: an address names one user (kept in lower case, so whatever its case).
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    is_active: bool = Field(default=True, nullable=False)
    # A member_delegate acts for exactly one member state (ISO 3166-1 alpha-3).
    member_code: str | None = Field(default=None, sa_column=Column(String(3), nullable=True, index=True))
    # A grantee acts for exactly one organisation.
    organisation_id: int | None = Field(default=None, nullable=True, index=True)
    created_at: datetime = Field(sa_column=utc_column())
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The web pages' language (en, es, fr) and time zone (IANA); None: Accept-Language, and UTC.
    locale: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    time_zone: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class UserRole(SQLModel, table=True):
    __tablename__ = "user_roles"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    role: str = Field(sa_column=Column(String(32), primary_key=True))


class RoleGrant(SQLModel, table=True):
    """A finance role given to a user by one administrator, held only once a second administrator approves
    it (ASVS 5.0 2.3.5): until then the user does not have the role. The database refuses an administrator
    who approves or rejects a grant it requested, or a grant of a role to its own requester."""

    __tablename__ = "role_grants"
    __table_args__ = (
        CheckConstraint("requested_by <> decided_by", name="requester_is_not_decider"),
        CheckConstraint("requested_by <> user_id AND decided_by <> user_id", name="not_to_oneself"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="known_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False, index=True))
    role: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    requested_by: int = Field(sa_column=Column(Integer(), ForeignKey("users.id"), nullable=False))
    requested_at: datetime = Field(sa_column=utc_column())
    decided_by: int | None = Field(default=None, sa_column=Column(Integer(), ForeignKey("users.id"), nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reason: str = Field(default="", sa_column=Column(Text(), nullable=False))


class AuthSession(SQLModel, table=True):
    """A browser session. The cookie holds a random token; only its keyed hash is stored."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
    client: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    last_seen_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ApiToken(SQLModel, table=True):
    """An API client's bearer token, created by its owner; only its keyed hash is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class LoginFailure(SQLModel, table=True):
    """One failed login, kept for the throttling window (per account and per client)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), nullable=False))
    client: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(sa_column=utc_column())


class AuditEvent(SQLModel, table=True):
    """One state change. Append-only and hash-chained: ``hash`` covers the event and ``prev_hash``."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("hash"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    seq: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    occurred_at: datetime = Field(sa_column=utc_column())
    actor_id: int | None = Field(default=None, nullable=True, index=True)
    actor_label: str = Field(sa_column=Column(String(100), nullable=False))
    action: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    object_type: str = Field(sa_column=Column(String(64), nullable=False))
    object_id: str = Field(sa_column=Column(String(64), nullable=False))
    # Canonical JSON text, hashed exactly as stored.
    before: str = Field(sa_column=Column(Text(), nullable=False))
    after: str = Field(sa_column=Column(Text(), nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))
    # HMAC-SHA256 of ``hash`` under the chain key (a secret kept outside the database): a chain re-hashed by
    # someone without the key no longer carries valid seals. NULL for events written before migration 0018.
    seal: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class Notification(SQLModel, table=True):
    """An e-mail notification, recorded once under its key (``decision-opened:7:user:12``...) before it goes
    out, so a retry or a second worker never sends it again (docs/operations.md). ``sending`` while a worker
    holds it; ``sent`` once the SMTP server accepted it."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    user_id: int = Field(foreign_key="users.id", index=True)
    email: str = Field(sa_column=Column(String(254), nullable=False))
    locale: str = Field(sa_column=Column(String(5), nullable=False))
    subject: str = Field(sa_column=Column(String(300), nullable=False))
    status: str = Field(sa_column=Column(String(10), nullable=False))
    claimed_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ChainAnchor(SQLModel, table=True):
    """The newest row of a hash chain (``audit`` or ``journal``), kept by a trigger on each insert: the chain
    verifier sees the newest rows deleted when the table ends before its anchor."""

    __tablename__ = "chain_anchors"

    name: str = Field(sa_column=Column(String(16), primary_key=True))
    # The chain's length (last seq / entry id) and newest hash when the anchor was last moved; its seal too.
    count: int = Field(sa_column=Column(BigInteger(), nullable=False))
    head: str = Field(sa_column=Column(String(64), nullable=False))
    seal: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # Rows up to this one were written before seals existed (migration 0018): they carry none.
    unsealed_until: int = Field(sa_column=Column(BigInteger(), nullable=False))
