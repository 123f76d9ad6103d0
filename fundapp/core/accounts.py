"""Accounts: users and roles, login and logout, API tokens. The only module that writes these tables."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import audit
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from fundapp.core.models import ApiToken, AuthSession, LoginFailure, Role, RoleGrant, User, UserRole
from fundapp.core.schemas import (
    INT32_MAX,
    PasswordChange,
    Preferences,
    RoleGrantPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from fundapp.core.security import TOKEN_PREFIX, PasswordHashing, Principal, new_secret, secret_hash
from fundapp.core.unit import actor_of

# ---------------------------------------------------------------- separation of duties (pure rules)

# The roles that move money: given by one administrator, held only once a second one approves (ASVS 5.0
# 2.3.5); the operator's CLI and the demo (no person in the request) give them directly, audited as the system.
FINANCE_ROLES = frozenset({Role.FINANCE_OFFICER, Role.FINANCE_APPROVER})
# Roles one user never holds together: who prepares a money movement never approves it.
INCOMPATIBLE_ROLES: tuple[frozenset[Role], ...] = (frozenset({Role.FINANCE_OFFICER, Role.FINANCE_APPROVER}),)


def duty_conflicts(roles: set[Role] | frozenset[Role]) -> list[frozenset[Role]]:
    """The pairs of incompatible roles that ``roles`` holds together (none: the set is allowed)."""
    return [pair for pair in INCOMPATIBLE_ROLES if pair <= roles]


def refuse_duty_conflicts(
    roles: set[Role] | frozenset[Role], *, held: set[Role] | frozenset[Role] = frozenset()
) -> None:
    """409 ``separation-of-duties`` naming ``roles`` when the user would hold incompatible roles."""
    for pair in duty_conflicts(set(roles) | set(held)):
        names = " and ".join(sorted(r.value for r in pair))
        raise Conflict(
            f"one user never holds both {names}: who prepares a money movement never approves it",
            field="roles",
            rule="separation-of-duties",
        )


async def roles_for(session: AsyncSession, user_id: int) -> list[Role]:
    rows = (await session.execute(select(col(UserRole.role)).where(col(UserRole.user_id) == user_id))).scalars()
    return sorted(Role(r) for r in rows)


async def pending_roles_for(session: AsyncSession, user_id: int) -> list[Role]:
    rows = (
        await session.execute(
            select(col(RoleGrant.role)).where(col(RoleGrant.user_id) == user_id, col(RoleGrant.status) == "pending")
        )
    ).scalars()
    return sorted(Role(r) for r in rows)


async def user_public(session: AsyncSession, user: User) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        pending_roles=await pending_roles_for(session, user.id),
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        is_active=user.is_active,
        roles=await roles_for(session, user.id),
        member_code=user.member_code,
        organisation_id=user.organisation_id,
        locale=user.locale,
        time_zone=user.time_zone,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


# A user's bindings name records of the domains (a delegate's member, a grantee's organisation), which the core
# cannot read: each domain registers how to check that the record exists (the shell's fundapp.wiring). The
# check returns why the value is refused, or None.
ReferenceCheck = Callable[[AsyncSession, Any], Awaitable[str | None]]
_REFERENCES: dict[str, tuple[str, ReferenceCheck]] = {}


def register_reference(field: str, rule: str, check: ReferenceCheck) -> None:
    """Declare how a user's binding ``field`` (``member_code``, ``organisation_id``) is checked."""
    _REFERENCES[field] = (rule, check)


async def check_references(session: AsyncSession, values: dict[str, Any]) -> None:
    """Refuse (422, naming each field and its rule) bindings that name no existing record. A binding
    whose check nobody registered is a wiring fault, never silently accepted."""
    errors: list[FieldError] = []
    for field, value in values.items():
        if value is None:
            continue
        if field not in _REFERENCES:
            raise RuntimeError(f"no reference check is registered for {field} (fundapp.wiring.register_hooks)")
        rule, check = _REFERENCES[field]
        problem = await check(session, value)
        if problem is not None:
            errors.append(FieldError(field, rule, problem))
    if errors:
        raise InvalidInput(errors[0].message, errors=errors)


async def create_user(
    session: AsyncSession,
    data: UserCreate,
    *,
    hashing: PasswordHashing,
    actor: Principal | None,
    now: datetime,
) -> UserPublic:
    """A new account. Its finance roles are held at once when no person asks (the operator's CLI, the demo);
    given by an administrator, each is a grant that a second administrator approves (``decide_role_grant``)."""
    refuse_duty_conflicts(set(data.roles))
    taken = (await session.execute(select(col(User.id)).where(col(User.username) == data.username))).first()
    if taken is not None:
        raise Conflict(f"the username {data.username!r} is taken", field="username", rule="unique")
    same_person = (await session.execute(select(col(User.username)).where(col(User.email) == data.email))).first()
    if same_person is not None:
        raise Conflict(
            f"the address {data.email!r} is the account {same_person[0]!r}'s: one account per person",
            field="email",
            rule="one-account-per-person",
        )
    await check_references(session, {"member_code": data.member_code, "organisation_id": data.organisation_id})
    user = User(
        username=data.username,
        full_name=data.full_name,
        email=data.email,
        password_hash=await hashing.hash(data.password),
        member_code=data.member_code,
        organisation_id=data.organisation_id,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    for role in data.roles:
        if actor is not None and role in FINANCE_ROLES:
            session.add(
                RoleGrant(user_id=user.id, role=role.value, status="pending", requested_by=actor.id, requested_at=now)
            )
        else:
            session.add(UserRole(user_id=user.id, role=role.value))
    await session.flush()
    public = await user_public(session, user)
    await audit.record(
        session,
        actor=actor_of(actor),
        action="user.create",
        object_type="user",
        object_id=user.id,
        at=now,
        after=public.model_dump(exclude={"created_at", "disabled_at"}),
    )
    return public


async def role_grant_public(session: AsyncSession, grant: RoleGrant) -> RoleGrantPublic:
    assert grant.id is not None
    user = await get_user(session, grant.user_id)
    return RoleGrantPublic(
        id=grant.id,
        user_id=grant.user_id,
        username=user.username,
        role=Role(grant.role),
        status=grant.status,
        requested_by=grant.requested_by,
        requested_at=grant.requested_at,
        decided_by=grant.decided_by,
        decided_at=grant.decided_at,
        reason=grant.reason,
    )


async def list_role_grants(
    session: AsyncSession, *, status: str | None, limit: int, offset: int
) -> tuple[list[RoleGrantPublic], int]:
    where = [col(RoleGrant.status) == status] if status else []
    total = int((await session.execute(select(func.count()).select_from(RoleGrant).where(*where))).scalar_one())
    grants = (
        await session.execute(
            select(RoleGrant).where(*where).order_by(col(RoleGrant.id).desc()).limit(limit).offset(offset)
        )
    ).scalars()
    return [await role_grant_public(session, g) for g in grants], total


async def decide_role_grant(
    session: AsyncSession, grant_id: int, *, approve: bool, reason: str, actor: Principal, now: datetime
) -> RoleGrantPublic:
    """A second administrator approves (the user holds the role from now) or rejects a finance role grant.
    The administrator who asked for it, or the user it is for, is refused (403 ``four-eyes``); a grant that
    would give a user incompatible roles is refused (409 ``separation-of-duties``)."""
    grant = (
        (
            await session.execute(select(RoleGrant).where(col(RoleGrant.id) == grant_id).with_for_update())
        ).scalar_one_or_none()
        if 0 < grant_id <= INT32_MAX
        else None
    )
    if grant is None:
        raise NotFound(f"no role grant {grant_id}")
    if grant.status != "pending":
        raise Conflict(f"role grant {grant_id} is {grant.status}", field="status", rule="grant-pending")
    if actor.id in (grant.requested_by, grant.user_id):
        raise PermissionDenied(
            "a finance role is approved by a second administrator, never by who asked for it or who receives it",
            rule="four-eyes",
        )
    user = await get_user(session, grant.user_id)
    if approve:
        if not user.is_active:
            raise Conflict(f"user {user.username!r} is disabled", field="user_id", rule="active-user")
        refuse_duty_conflicts({Role(grant.role)}, held=set(await roles_for(session, grant.user_id)))
        session.add(UserRole(user_id=grant.user_id, role=grant.role))
    grant.status = "approved" if approve else "rejected"
    grant.decided_by = actor.id
    grant.decided_at = now
    grant.reason = reason
    session.add(grant)
    await session.flush()
    public = await role_grant_public(session, grant)
    await audit.record(
        session,
        actor=actor_of(actor),
        action=f"user.role_grant.{'approve' if approve else 'reject'}",
        object_type="user",
        object_id=grant.user_id,
        at=now,
        before={"role": grant.role, "status": "pending", "requested_by": grant.requested_by},
        after={"role": grant.role, "status": grant.status, "reason": reason},
    )
    return public


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id) if 0 < user_id <= INT32_MAX else None
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


async def find_user(session: AsyncSession, username: str) -> User | None:
    return (await session.execute(select(User).where(col(User.username) == username.lower()))).scalar_one_or_none()


async def list_users(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[UserPublic], int]:
    total = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    users = (await session.execute(select(User).order_by(col(User.id)).limit(limit).offset(offset))).scalars().all()
    return [await user_public(session, u) for u in users], total


async def disable_user(session: AsyncSession, user_id: int, *, actor: Principal | None, now: datetime) -> UserPublic:
    """Disable an account and end all its sessions and tokens in the same transaction."""
    user = await get_user(session, user_id)
    if not user.is_active:
        raise Conflict(f"user {user.username!r} is already disabled", rule="already-disabled")
    if actor is not None and actor.id == user_id:
        raise Conflict("you cannot disable your own account", rule="self-disable")
    user.is_active = False
    user.disabled_at = now
    ended_sessions = (
        await session.execute(
            update(AuthSession)
            .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
    ).rowcount  # type: ignore[attr-defined]
    ended_tokens = (
        await session.execute(
            update(ApiToken)
            .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )
    ).rowcount  # type: ignore[attr-defined]
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        actor=actor_of(actor),
        action="user.disable",
        object_type="user",
        object_id=user_id,
        at=now,
        before={"is_active": True},
        after={"is_active": False, "sessions_ended": ended_sessions, "tokens_revoked": ended_tokens},
    )
    return await user_public(session, user)


# ---------------------------------------------------------------- login


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: UserPublic
    session_token: str
    csrf_token: str
    expires_at: datetime


# Advisory-lock classes (PostgreSQL, two-key form) under which attempts on one account, and from one client, are
# counted and claimed one at a time. SQLite needs none: the claim is a write transaction (BEGIN IMMEDIATE).
LOGIN_ACCOUNT_LOCK = 7_270_010
LOGIN_CLIENT_LOCK = 7_270_011
# Both locks in one statement, always the account's first (every claim takes them in that order: no deadlock).
_PG_LOGIN_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:account_lock, hashtext(:username)), "
    "pg_advisory_xact_lock(:client_lock, hashtext(:client))"
).bindparams(account_lock=LOGIN_ACCOUNT_LOCK, client_lock=LOGIN_CLIENT_LOCK)


def _retry_after(oldest: datetime, settings: Settings, now: datetime) -> int:
    # The aggregate bypasses the column type: SQLite hands back a naive UTC timestamp.
    oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
    reopens_at = oldest_at + timedelta(seconds=settings.login_window_seconds)
    return max(1, math.ceil((reopens_at - now).total_seconds()))


async def _claim_attempt(database: Database, settings: Settings, username: str, client: str, now: datetime) -> int:
    """Count this attempt against the limits before any password is checked, or refuse it with 429.

    The attempt is recorded as a failure at once, in the same transaction that counted the recent ones, and
    claims are taken one at a time per account and per client (SQLite: the write lock; PostgreSQL: advisory
    locks), so a burst of attempts sent together cannot all pass a count that none of them has added to yet.
    A refused attempt hashes nothing. Returns the attempt's row: the caller deletes it when the password was
    right (a successful login clears all the account's failures)."""
    since = now - timedelta(seconds=settings.login_window_seconds)
    is_account = col(LoginFailure.username) == username
    is_client = col(LoginFailure.client) == client
    async with database.session(write=True) as session:
        if database.dialect == "postgresql":
            await session.execute(_PG_LOGIN_LOCKS, {"username": username, "client": client})
        recent = (
            await session.execute(
                select(
                    func.count().filter(is_account),
                    func.min(col(LoginFailure.at)).filter(is_account),
                    func.count().filter(is_client),
                    func.min(col(LoginFailure.at)).filter(is_client),
                ).where(col(LoginFailure.at) > since, or_(is_account, is_client))
            )
        ).one()
        for scope, count, oldest, limit in (
            ("account", recent[0], recent[1], settings.login_max_failures_per_account),
            ("client", recent[2], recent[3], settings.login_max_failures_per_client),
        ):
            if count >= limit:
                retry_after = _retry_after(oldest, settings, now)
                raise RateLimited(
                    f"too many failed logins for this {scope}; try again in {retry_after} seconds",
                    retry_after=retry_after,
                )
        attempt = LoginFailure(username=username, client=client, at=now)
        session.add(attempt)
        await session.flush()
        await session.commit()
    assert attempt.id is not None
    return attempt.id


async def _forget_attempt(database: Database, attempt_id: int) -> None:
    """The attempt's password was right: it is no failure."""
    async with database.session(write=True) as session:
        await session.execute(delete(LoginFailure).where(col(LoginFailure.id) == attempt_id))
        await session.commit()


async def _record_failure(database: Database, username: str, client: str, now: datetime) -> None:
    """The failed attempt's audit event (its row was written by ``_claim_attempt``), in its own committed
    transaction: the failed request itself changes nothing else."""
    async with database.session(write=True) as session:
        await audit.record(
            session,
            actor=audit.Actor(None, username[:100]),
            action="auth.login_failed",
            object_type="login",
            object_id=username,
            at=now,
            after={"client": client},
        )
        await session.commit()


async def login(
    database: Database,
    settings: Settings,
    hashing: PasswordHashing,
    *,
    username: str,
    password: str,
    client: str,
    now: datetime,
) -> LoginResult:
    username = username.lower()
    await _claim_attempt(database, settings, username, client, now)
    async with database.session(write=False) as session:
        user = await find_user(session, username)
    valid = await hashing.verify(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        await _record_failure(database, username, client, now)
        raise NotAuthenticated("invalid username or password, or the account is disabled", rule="credentials")
    assert user.id is not None
    token, csrf = new_secret(), new_secret()
    expires_at = now + timedelta(seconds=settings.session_absolute_timeout)
    async with database.session(write=True) as session:
        auth_session = AuthSession(
            token_hash=secret_hash(settings.secret_key, token),
            user_id=user.id,
            csrf_token=csrf,
            client=client[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
        session.add(auth_session)
        await session.execute(delete(LoginFailure).where(col(LoginFailure.username) == username))
        await session.flush()
        await audit.record(
            session,
            actor=audit.Actor(user.id, user.username),
            action="auth.login",
            object_type="session",
            object_id=auth_session.id,
            at=now,
            after={"client": client, "expires_at": expires_at},
        )
        public = await user_public(session, user)
        await session.commit()
    return LoginResult(public, token, csrf, expires_at)


async def logout(session: AsyncSession, user: Principal, *, now: datetime) -> None:
    if user.session_id is None:
        raise InvalidInput("logout ends a browser session; revoke a bearer token through /auth/tokens")
    await session.execute(update(AuthSession).where(col(AuthSession.id) == user.session_id).values(revoked_at=now))
    await audit.record(
        session, actor=actor_of(user), action="auth.logout", object_type="session", object_id=user.session_id, at=now
    )


# ---------------------------------------------------------------- API tokens


async def create_token(
    session: AsyncSession, data: TokenCreate, *, user: Principal, settings: Settings, now: datetime
) -> TokenCreated:
    secret = new_secret(TOKEN_PREFIX)
    expires_at = now + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    token = ApiToken(
        token_hash=secret_hash(settings.secret_key, secret),
        prefix=secret[:10],
        user_id=user.id,
        name=data.name,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    await audit.record(
        session,
        actor=actor_of(user),
        action="token.create",
        object_type="api_token",
        object_id=token.id,
        at=now,
        after={"name": data.name, "prefix": token.prefix, "expires_at": expires_at},
    )
    return TokenCreated(**TokenPublic.model_validate(token).model_dump(), token=secret)


async def list_tokens(session: AsyncSession, user: Principal) -> list[TokenPublic]:
    rows = (
        await session.execute(select(ApiToken).where(col(ApiToken.user_id) == user.id).order_by(col(ApiToken.id)))
    ).scalars()
    return [TokenPublic.model_validate(t) for t in rows]


async def revoke_token(session: AsyncSession, token_id: int, *, user: Principal, now: datetime) -> TokenPublic:
    token = await session.get(ApiToken, token_id) if 0 < token_id <= INT32_MAX else None
    # Another user's token is reported as absent, so token ids cannot be probed.
    if token is None or token.user_id != user.id:
        raise NotFound(f"no token with id {token_id} among your tokens")
    if token.revoked_at is not None:
        raise Conflict("this token is already revoked", rule="already-revoked")
    token.revoked_at = now
    session.add(token)
    await session.flush()
    await audit.record(
        session,
        actor=actor_of(user),
        action="token.revoke",
        object_type="api_token",
        object_id=token_id,
        at=now,
        before={"revoked_at": None},
        after={"revoked_at": now},
    )
    return TokenPublic.model_validate(token)


# ---------------------------------------------------------------- one's own account


async def change_password(
    database: Database,
    settings: Settings,
    hashing: PasswordHashing,
    data: PasswordChange,
    *,
    user: Principal,
    client: str,
    now: datetime,
) -> None:
    """Change the caller's password: the current one must be given (a wrong one counts as a failed login, so
    a stolen session cannot try passwords faster than the login form); every other session and none of the
    API tokens of the user end."""
    attempt = await _claim_attempt(database, settings, user.username, client, now)
    async with database.session(write=False) as session:
        found = await get_user(session, user.id)
    if not await hashing.verify(found.password_hash, data.current_password):
        await _record_failure(database, user.username, client, now)
        raise InvalidInput("the current password is not right", field="current_password", rule="current-password")
    await _forget_attempt(database, attempt)
    if await hashing.verify(found.password_hash, data.new_password):
        raise InvalidInput("the new password is the current one", field="new_password", rule="new-password-differs")
    new_hash = await hashing.hash(data.new_password)
    async with database.session(write=True) as session:
        await session.execute(update(User).where(col(User.id) == user.id).values(password_hash=new_hash))
        ended = (
            await session.execute(
                update(AuthSession)
                .where(
                    col(AuthSession.user_id) == user.id,
                    col(AuthSession.revoked_at).is_(None),
                    col(AuthSession.id) != (user.session_id or 0),
                )
                .values(revoked_at=now)
            )
        ).rowcount  # type: ignore[attr-defined]
        await audit.record(
            session,
            actor=actor_of(user),
            action="user.password_change",
            object_type="user",
            object_id=user.id,
            at=now,
            after={"other_sessions_ended": ended},
        )
        await session.commit()


async def set_preferences(session: AsyncSession, data: Preferences, *, user: Principal, now: datetime) -> UserPublic:
    """The caller's language and time zone for the web pages (None: Accept-Language, and UTC)."""
    found = await get_user(session, user.id)
    before = {"locale": found.locale, "time_zone": found.time_zone}
    found.locale, found.time_zone = data.locale, data.time_zone
    session.add(found)
    await session.flush()
    await audit.record(
        session,
        actor=actor_of(user),
        action="user.preferences",
        object_type="user",
        object_id=user.id,
        at=now,
        before=before,
        after={"locale": data.locale, "time_zone": data.time_zone},
    )
    return await user_public(session, found)
