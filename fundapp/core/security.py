"""Who is asking and what they may do.

- Authentication: a browser session cookie (with a CSRF token for unsafe methods) or an opaque bearer
  token; both are random secrets whose keyed hash is stored, looked up on every request, and refused as
  soon as the session, token or user is revoked or disabled.
- Authorisation: one ``has_permission(action, user, obj) -> (allowed, reason)``. Every domain registers
  its actions as predicates; guards (route level) and services (object level) ask the same function.
- Passwords: Argon2id, hashed and verified in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import Row, Select, Table, bindparam, select, update
from sqlmodel import col

from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import SAFE_METHODS, Database
from fundapp.core.errors import NotAuthenticated, PermissionDenied
from fundapp.core.metrics import METRICS_AUTH, METRICS_PATH
from fundapp.core.models import ApiToken, AuthSession, Role, User, UserRole
from fundapp.core.trouble import trouble_of

T = TypeVar("T")
CSRF_HEADER = "X-CSRF-Token"
# Web pages (fundapp.core.web) carry the session's CSRF token as a form field, checked by the pages' guard.
PAGES_PREFIX = "/app"
TOKEN_PREFIX = "fa_"  # noqa: S105 - a visible marker, not a secret
# Sliding idle timeout: refresh last_seen at most this often, so reads do not all become writes.
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request (an immutable snapshot, safe to pass to services)."""

    id: int
    username: str
    roles: frozenset[Role]
    member_code: str | None = None
    organisation_id: int | None = None
    via: str = "session"  # "session", "token" or "cli"
    session_id: int | None = None
    token_id: int | None = None
    csrf_token: str | None = None
    # What the web pages show and speak: the user's name, chosen language and time zone (None: not chosen).
    full_name: str = ""
    locale: str | None = None
    time_zone: str | None = None

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)


# ---------------------------------------------------------------- passwords


class PasswordHashing:
    """Argon2id with the configured cost; the async methods run in a worker thread, at most
    ``argon2_max_concurrent`` at a time per process (each holds ``argon2_memory_kib`` while it runs: a burst
    of logins otherwise ran one hash per request at once, 64 MiB each). The others wait their turn on the event
    loop, holding no thread. ``running`` and ``most_running`` say how many ran at once, now and at most."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.max_concurrent = settings.argon2_max_concurrent
        # One limiter per event loop (a limiter belongs to the loop it waits on).
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )
        self._count_lock = threading.Lock()
        self.running = 0
        self.most_running = 0
        # Verified when the user does not exist, so timing does not reveal which usernames exist.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def _limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.max_concurrent)
        return limiter

    def _counted(self, work: Callable[[], T]) -> T:
        with self._count_lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            return work()
        finally:
            with self._count_lock:
                self.running -= 1

    async def _in_thread(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(self._counted, work, limiter=self._limiter())

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await self._in_thread(lambda: self._hasher.hash(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def _verify() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await self._in_thread(_verify)


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret_key: str, token: str) -> str:
    """Keyed hash of a session or API token: a stolen table cannot be used or even tested offline."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- permissions

Decision = tuple[bool, str]
Predicate = Callable[[Principal, Any], Decision]

_PERMISSIONS: dict[str, Predicate] = {}


def register_permission(action: str, predicate: Predicate) -> None:
    """Declare who may do ``action``. Each action is declared once, by the package that owns it."""
    if action in _PERMISSIONS and _PERMISSIONS[action] is not predicate:
        raise ValueError(f"permission {action!r} is already declared")
    _PERMISSIONS[action] = predicate


def roles_may(*roles: Role) -> Predicate:
    """A predicate that allows any of ``roles``, whatever the object."""
    names = ", ".join(sorted(r.value for r in roles))

    def predicate(user: Principal, _obj: Any) -> Decision:
        if user.has_role(*roles):
            return True, "allowed by role"
        return False, f"requires one of the roles: {names}"

    return predicate


def anyone_authenticated(_user: Principal, _obj: Any) -> Decision:
    return True, "allowed to every authenticated user"


def has_permission(action: str, user: Principal | None, obj: Any = None) -> Decision:
    """The one authorisation question: may ``user`` do ``action`` (on ``obj``)? Denied by default."""
    if user is None:
        return False, "authentication required"
    predicate = _PERMISSIONS.get(action)
    if predicate is None:
        return False, f"no permission is declared for {action!r}"
    return predicate(user, obj)


def ensure_permission(action: str, user: Principal | None, obj: Any = None) -> None:
    """Raise 401/403 problem details unless ``has_permission`` allows."""
    if user is None:
        raise NotAuthenticated("authentication required")
    allowed, reason = has_permission(action, user, obj)
    if not allowed:
        raise PermissionDenied(reason, action=action)


def require(action: str) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """A Litestar guard for a route-level action (object-level checks happen in services). A coroutine
    function, though it awaits nothing: Litestar runs a plain function guard in a worker thread."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        ensure_permission(action, user if isinstance(user, Principal) else None)

    guard.__name__ = f"require_{action.replace('.', '_')}"
    return guard


# The core's own actions.
register_permission("users.read", roles_may(Role.SECRETARIAT_ADMIN, Role.AUDITOR))
register_permission("users.manage", roles_may(Role.SECRETARIAT_ADMIN))
register_permission("audit.read", roles_may(Role.AUDITOR, Role.SECRETARIAT_ADMIN))
register_permission("me.read", anyone_authenticated)


def _own_token(user: Principal, token: Any) -> Decision:
    if token is None or getattr(token, "user_id", None) == user.id:
        return True, "own tokens"
    return False, "a token can be managed only by its owner"


register_permission("tokens.manage", _own_token)


# ---------------------------------------------------------------- authentication


def roles_of(rows: Iterable[str]) -> frozenset[Role]:
    return frozenset(Role(r) for r in rows if r in Role._value2member_map_)


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the session cookie or bearer token of each request to a ``Principal``.

    Excluded paths (health, schema, login) are reachable anonymously; everything else answers 401 when
    no valid credential is given.
    """

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        app_state = connection.app.state
        settings: Settings = app_state.settings
        database: Database = app_state.db
        clock: Clock = app_state.clock
        now = clock.now()

        authorization = connection.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
            if (
                settings.metrics_token
                and connection.scope.get("path") == METRICS_PATH
                and hmac.compare_digest(token.strip().encode(), settings.metrics_token.encode())
            ):
                return AuthenticationResult(user=None, auth=METRICS_AUTH)
            principal = await self._from_token(database, settings, token.strip(), now)
            return AuthenticationResult(user=principal, auth="token")

        cookie = connection.cookies.get(settings.session_cookie_name)
        if cookie:
            principal = await self._from_session(database, settings, cookie, now)
            unsafe = connection.scope.get("method", "GET") not in SAFE_METHODS
            page = connection.scope.get("path", "").startswith(PAGES_PREFIX + "/")
            if unsafe and not page:
                sent = connection.headers.get(CSRF_HEADER, "")
                if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
                    raise PermissionDenied(
                        f"the {CSRF_HEADER} header is missing or does not match this session",
                        rule="csrf",
                    )
            return AuthenticationResult(user=principal, auth="session")

        raise NotAuthenticated("authentication required: log in or send a bearer token")

    async def _from_token(self, database: Database, settings: Settings, token: str, now: datetime) -> Principal:
        async with database.engine.connect() as connection:
            rows = (
                await connection.execute(_TOKEN_LOOKUP, {"p_token_hash": secret_hash(settings.secret_key, token)})
            ).all()
        if not rows or rows[0].revoked_at is not None:
            raise NotAuthenticated("the bearer token is unknown or revoked")
        found = rows[0]
        if found.expires_at is not None and found.expires_at <= now:
            raise NotAuthenticated("the bearer token has expired")
        principal = _principal(rows, via="token", token_id=found.id)
        if found.last_used_at is None or now - found.last_used_at > SESSION_TOUCH_INTERVAL:
            await _touch(database, update(ApiToken).where(col(ApiToken.id) == found.id).values(last_used_at=now))
        return principal

    async def _from_session(self, database: Database, settings: Settings, token: str, now: datetime) -> Principal:
        rows = await _credential_rows(database, _SESSION_LOOKUP, secret_hash(settings.secret_key, token))
        if not rows or rows[0].revoked_at is not None:
            raise NotAuthenticated("the session is unknown or has ended; log in again")
        found = rows[0]
        idle_limit = found.last_seen_at + timedelta(seconds=settings.session_idle_timeout)
        if now >= found.expires_at or now >= idle_limit:
            raise NotAuthenticated("the session has expired; log in again", rule="session-expired")
        principal = _principal(rows, via="session", session_id=found.id, csrf_token=found.csrf_token)
        if now - found.last_seen_at > SESSION_TOUCH_INTERVAL:
            await _touch(database, update(AuthSession).where(col(AuthSession.id) == found.id).values(last_seen_at=now))
        return principal


_touch_failures = logging.getLogger("fundapp.security")
# When a failed touch was last logged (monotonic seconds): at most one line a minute while the database refuses.
_touch_logged_at = -math.inf


async def _touch(database: Database, statement: Any) -> None:
    """Note a credential's use (a token's ``last_used_at``, a session's ``last_seen_at``) in a transaction of its
    own, best effort: reading needs no write, so when the database refuses the write (read-only, full, busy
    with another writer) the request goes on as a read and the failure is logged, at most once a minute. A
    session not touched meanwhile may then end at its idle timeout. Any other error is the request's."""
    global _touch_logged_at
    try:
        async with database.session(write=True) as session:
            await session.execute(statement)
            await session.commit()
    except Exception as error:
        trouble = trouble_of(error)
        if trouble is None:
            raise
        if time.monotonic() - _touch_logged_at >= 60:
            _touch_logged_at = time.monotonic()
            _touch_failures.warning("a credential's last use was not recorded (%s): %s", trouble.slug, error)


# A credential (token or session) with its user and the user's roles, one row per role, in one statement
# built once: every authenticated request runs it.
def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


_USERS, _USER_ROLES = _table(User), _table(UserRole)


def _credential_lookup(credentials: Table, *columns: str) -> Select[Any]:
    return (
        select(
            credentials.c.id,
            credentials.c.revoked_at,
            *(credentials.c[name] for name in columns),
            _USERS.c.username,
            _USERS.c.full_name,
            _USERS.c.locale,
            _USERS.c.time_zone,
            _USERS.c.is_active,
            _USERS.c.member_code,
            _USERS.c.organisation_id,
            _USER_ROLES.c.role,
            credentials.c.user_id,
        )
        .select_from(
            credentials.join(_USERS, _USERS.c.id == credentials.c.user_id).outerjoin(
                _USER_ROLES, _USER_ROLES.c.user_id == _USERS.c.id
            )
        )
        .where(credentials.c.token_hash == bindparam("p_token_hash"))
    )


_TOKEN_LOOKUP = _credential_lookup(_table(ApiToken), "expires_at", "last_used_at")
_SESSION_LOOKUP = _credential_lookup(_table(AuthSession), "expires_at", "last_seen_at", "csrf_token")


async def _credential_rows(database: Database, lookup: Select[Any], token_hash: str) -> Sequence[Row[Any]]:
    """The credential's rows, read on a connection of its own (a read transaction, ended at once)."""
    async with database.engine.connect() as connection:
        rows: Sequence[Row[Any]] = (await connection.execute(lookup, {"p_token_hash": token_hash})).all()
    return rows


def _principal(rows: Sequence[Row[Any]], **extra: Any) -> Principal:
    """The principal of a credential's rows (one per role of its user)."""
    user = rows[0]
    if not user.is_active:
        raise NotAuthenticated("this account is disabled", rule="account-disabled")
    return Principal(
        id=user.user_id,
        username=user.username,
        roles=roles_of(row.role for row in rows if row.role is not None),
        member_code=user.member_code,
        organisation_id=user.organisation_id,
        full_name=user.full_name,
        locale=user.locale,
        time_zone=user.time_zone,
        **extra,
    )


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The request's principal (the middleware guarantees one on authenticated routes)."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthenticated("authentication required")
    return user
