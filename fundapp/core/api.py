"""The core's HTTP surface: health, login/logout, API tokens, /me, users, the audit log."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal, TypeVar

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, QueryParameter, RequestBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import accounts, audit
from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.errors import InvalidInput, problem
from fundapp.core.models import AuditEvent
from fundapp.core.schemas import (
    INT32_MAX,
    AuditEventPublic,
    LoginInput,
    LoginPublic,
    MePublic,
    Page,
    PasswordChange,
    Preferences,
    RoleGrantDecision,
    RoleGrantPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from fundapp.core.security import PasswordHashing, current_user, require

API_PREFIX = "/api/v1"
T = TypeVar("T")
log = logging.getLogger("fundapp.health")

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        required=False,
        description="repeat a request safely: the same key and body return the first result",
    ),
]
Offset = Annotated[int, QueryParameter(ge=0, le=INT32_MAX, description="items to skip")]
AnyRequest = Request[Any, Any, Any]


def settings_of(request: AnyRequest) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def clock_of(request: AnyRequest) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def refuse_nul_in_parameters(request: AnyRequest) -> None:
    """Before every request: no text column can store NUL, so no query parameter may carry one."""
    for name, value in request.query_params.items():
        if "\x00" in value or "\x00" in name:
            raise InvalidInput("query parameters may not contain the NUL character", field=name, rule="nul_character")


def in_id_range(value: int) -> int:
    """An id from a path, or 0 (which matches nothing) when no id column could hold it."""
    return value if 0 < value <= INT32_MAX else 0


async def paginate(
    session: AsyncSession, model: type[T], conditions: list[Any], order_by: Any, *, limit: int, offset: int
) -> tuple[int, list[T]]:
    """The total matching ``conditions`` and one page of ``model`` rows."""
    total = (await session.execute(select(func.count()).select_from(model).where(*conditions))).scalar_one()
    rows = (
        await session.execute(select(model).where(*conditions).order_by(order_by).limit(limit).offset(offset))
    ).scalars()
    return int(total), list(rows)


def client_of(request: AnyRequest) -> str:
    return request.client.host if request.client else "unknown"


@get("/health/live", exclude_from_auth=True, tags=["service"])
async def health_live() -> dict[str, str]:
    """Liveness: the process runs and answers (asks nothing of the database). Restart it only when this fails."""
    return {"status": "live"}


@get(["/health/ready", "/health"], exclude_from_auth=True, tags=["service"])
async def health_ready(request: AnyRequest) -> Response[Any]:
    """Readiness: the database can be reached, read and written now (a cheap check that writes nothing).
    503 with ``Retry-After`` and the trouble's problem type (``database-unavailable``, ``database-read-only``,
    ``database-busy``, ``database-full``) otherwise. ``/health`` answers the same."""
    database: Database = request.app.state.db
    trouble = await database.trouble()
    if trouble is not None:
        return problem(
            request,
            status=503,
            slug=trouble.slug,
            title=trouble.title,
            detail=trouble.detail,
            headers={"Retry-After": str(trouble.retry_after)},
            database=database.dialect,
        )
    return Response({"status": "ok", "ready": True, "database": database.dialect})


class AuthController(Controller):
    path = f"{API_PREFIX}/auth"
    tags = ["auth"]

    @post("/login", exclude_from_auth=True, status_code=HTTP_200_OK)
    async def login(self, request: AnyRequest, data: RequestBody[LoginInput]) -> Response[LoginPublic]:
        """Open a browser session: sets an HttpOnly cookie and returns the CSRF token for unsafe requests."""
        settings = settings_of(request)
        hashing: PasswordHashing = request.app.state.hashing
        result = await accounts.login(
            request.app.state.db,
            settings,
            hashing,
            username=data.username,
            password=data.password,
            client=client_of(request),
            now=clock_of(request).now(),
        )
        cookie = Cookie(
            key=settings.session_cookie_name,
            value=result.session_token,
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
            path="/",
            max_age=settings.session_absolute_timeout,
        )
        body = LoginPublic(
            user=result.user,
            csrf_token=result.csrf_token,
            expires_at=result.expires_at,
            idle_timeout_seconds=settings.session_idle_timeout,
        )
        return Response(body, cookies=[cookie])

    @post("/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Response[None]:
        """End the current browser session."""
        await accounts.logout(db_session, current_user(request), now=clock_of(request).now())
        settings = settings_of(request)
        expired = Cookie(key=settings.session_cookie_name, value="", max_age=0, path="/", httponly=True)
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[expired])

    @post("/tokens", guards=[require("tokens.manage")], status_code=HTTP_201_CREATED)
    async def create_token(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], data: RequestBody[TokenCreate]
    ) -> TokenCreated:
        """Create a bearer token for an API client; the secret is returned once."""
        return await accounts.create_token(
            db_session, data, user=current_user(request), settings=settings_of(request), now=clock_of(request).now()
        )

    @get("/tokens", guards=[require("tokens.manage")])
    async def list_tokens(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> list[TokenPublic]:
        """The caller's own tokens (never their secrets)."""
        return await accounts.list_tokens(db_session, current_user(request))

    @post("/tokens/{token_id:int}/revoke", guards=[require("tokens.manage")], status_code=HTTP_200_OK)
    async def revoke_token(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], token_id: FromPath[int]
    ) -> TokenPublic:
        """Revoke one of the caller's tokens, effective on the next request."""
        user = current_user(request)
        return await accounts.revoke_token(db_session, token_id, user=user, now=clock_of(request).now())


@get(f"{API_PREFIX}/me", guards=[require("me.read")], tags=["auth"])
async def me(request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> MePublic:
    """The authenticated user, its roles and bindings, and the session's CSRF token."""
    user = current_user(request)
    public = await accounts.user_public(db_session, await accounts.get_user(db_session, user.id))
    return MePublic(**public.model_dump(), auth=user.via, csrf_token=user.csrf_token)


@patch(f"{API_PREFIX}/me", guards=[require("me.read")], tags=["auth"])
async def set_preferences(
    request: AnyRequest, db_session: NamedDependency[AsyncSession], data: RequestBody[Preferences]
) -> UserPublic:
    """The caller's language (en, es, fr) and time zone (IANA) for the web pages; null for the defaults."""
    return await accounts.set_preferences(db_session, data, user=current_user(request), now=clock_of(request).now())


@post(f"{API_PREFIX}/me/password", guards=[require("me.read")], tags=["auth"], status_code=HTTP_204_NO_CONTENT)
async def change_password(request: AnyRequest, data: RequestBody[PasswordChange]) -> None:
    """Change the caller's password (the current one is asked for); the caller's other sessions end."""
    await accounts.change_password(
        request.app.state.db,
        settings_of(request),
        request.app.state.hashing,
        data,
        user=current_user(request),
        client=client_of(request),
        now=clock_of(request).now(),
    )


async def _decide_role_grant(
    request: AnyRequest, session: AsyncSession, grant_id: int, data: RoleGrantDecision | None, *, approve: bool
) -> RoleGrantPublic:
    return await accounts.decide_role_grant(
        session,
        grant_id,
        approve=approve,
        reason=data.reason if data else "",
        actor=current_user(request),
        now=clock_of(request).now(),
    )


class UserController(Controller):
    path = f"{API_PREFIX}/users"
    tags = ["users"]

    @get("/", guards=[require("users.read")])
    async def list_users(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, offset: Offset = 0
    ) -> Page[UserPublic]:
        items, total = await accounts.list_users(db_session, limit=limit, offset=offset)
        return Page[UserPublic](items=items, total=total, limit=limit, offset=offset)

    @post("/", guards=[require("users.manage")], status_code=HTTP_201_CREATED)
    async def create_user(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], data: RequestBody[UserCreate]
    ) -> UserPublic:
        return await accounts.create_user(
            db_session,
            data,
            hashing=request.app.state.hashing,
            actor=current_user(request),
            now=clock_of(request).now(),
        )

    @get("/role-grants", guards=[require("users.read")])
    async def list_role_grants(
        self,
        db_session: NamedDependency[AsyncSession],
        status: Annotated[Literal["pending", "approved", "rejected"] | None, QueryParameter()] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[RoleGrantPublic]:
        """Finance roles given by an administrator: pending ones wait for a second administrator."""
        items, total = await accounts.list_role_grants(db_session, status=status, limit=limit, offset=offset)
        return Page[RoleGrantPublic](items=items, total=total, limit=limit, offset=offset)

    @post("/role-grants/{grant_id:int}/approve", guards=[require("users.manage")], status_code=HTTP_200_OK)
    async def approve_role_grant(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        grant_id: FromPath[int],
        data: RequestBody[RoleGrantDecision | None] = None,
    ) -> RoleGrantPublic:
        """A second administrator approves a finance role: the user holds it from now."""
        return await _decide_role_grant(request, db_session, grant_id, data, approve=True)

    @post("/role-grants/{grant_id:int}/reject", guards=[require("users.manage")], status_code=HTTP_200_OK)
    async def reject_role_grant(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        grant_id: FromPath[int],
        data: RequestBody[RoleGrantDecision | None] = None,
    ) -> RoleGrantPublic:
        """A second administrator rejects a finance role: the user never holds it."""
        return await _decide_role_grant(request, db_session, grant_id, data, approve=False)

    @get("/{user_id:int}", guards=[require("users.read")])
    async def get_user(self, db_session: NamedDependency[AsyncSession], user_id: FromPath[int]) -> UserPublic:
        return await accounts.user_public(db_session, await accounts.get_user(db_session, user_id))

    @post("/{user_id:int}/disable", guards=[require("users.manage")], status_code=HTTP_200_OK)
    async def disable_user(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], user_id: FromPath[int]
    ) -> UserPublic:
        """Disable the account: its sessions and tokens stop working at once."""
        actor = current_user(request)
        return await accounts.disable_user(db_session, user_id, actor=actor, now=clock_of(request).now())


class AuditController(Controller):
    path = f"{API_PREFIX}/audit"
    tags = ["audit"]
    guards = [require("audit.read")]

    @get("/")
    async def list_events(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 100,
        offset: Offset = 0,
        action: Annotated[str | None, QueryParameter(max_length=100)] = None,
        object_type: Annotated[str | None, QueryParameter(max_length=64)] = None,
        object_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        actor_id: Annotated[int | None, QueryParameter(ge=1, le=INT32_MAX)] = None,
    ) -> Page[AuditEventPublic]:
        """The audit log, newest first, filterable by action, object and actor."""
        filters: list[Any] = []
        if action:
            filters.append(col(AuditEvent.action) == action)
        if object_type:
            filters.append(col(AuditEvent.object_type) == object_type)
        if object_id:
            filters.append(col(AuditEvent.object_id) == object_id)
        if actor_id:
            filters.append(col(AuditEvent.actor_id) == actor_id)
        total = (await db_session.execute(select(func.count()).select_from(AuditEvent).where(*filters))).scalar_one()
        rows = (
            await db_session.execute(
                select(AuditEvent).where(*filters).order_by(col(AuditEvent.seq).desc()).limit(limit).offset(offset)
            )
        ).scalars()
        return Page[AuditEventPublic](
            items=[AuditEventPublic.model_validate(e) for e in rows], total=total, limit=limit, offset=offset
        )

    @get("/verify")
    async def verify(self, db_session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        """Recompute the audit chain; names the first broken event."""
        report = await audit.verify(db_session)
        return {
            "ok": report.ok,
            "events": report.events,
            "head": report.head,
            "broken_seq": report.broken_seq,
            "reason": report.reason,
            "breaks": [{"seq": b.at, "reason": b.reason} for b in report.breaks],
        }


route_handlers = [
    health_live,
    health_ready,
    AuthController,
    me,
    set_preferences,
    change_password,
    UserController,
    AuditController,
]
