"""The core's pages: the landing redirect, signing in and out, the language switch, the dashboard frame and
"my account" (password, language and time zone, API tokens). Each calls the same service as its API twin
(``fundapp.core.accounts``)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core import accounts
from fundapp.core.errors import DomainError, FieldError, InvalidInput, NotAuthenticated, RateLimited
from fundapp.core.schemas import PasswordChange, Preferences, TokenCreate
from fundapp.core.security import Principal, current_user
from fundapp.core.web import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    LOGIN_PATH,
    PAGE_PREFIX,
    AnyRequest,
    form_of,
    i18n,
    login_csrf_cookie,
    new_login_csrf,
    page_locale,
    redirect,
    render,
    safe_next,
)

# Where to go after signing in or switching language (a page of this site only: safe_next).
NextPage = Annotated[str | None, QueryParameter(max_length=2000, required=False)]

# ---------------------------------------------------------------- the dashboard's panels (from each package)


@dataclass(frozen=True, slots=True)
class Panel:
    """A part of the dashboard: a template (included in the dashboard) and what it shows."""

    template: str
    context: dict[str, Any]


DashboardProvider = Callable[[AnyRequest, AsyncSession, Principal], Awaitable[list[Panel]]]
_providers: list[DashboardProvider] = []


def register_dashboard(provider: DashboardProvider) -> None:
    """A package adds its panels to the dashboard (each decides for which users it has any)."""
    if provider not in _providers:
        _providers.append(provider)


def field_errors(error: ValidationError) -> list[FieldError]:
    """pydantic's errors of a form, each naming its field and rule (as the API's 422 does)."""
    return [
        FieldError(".".join(str(p) for p in e.get("loc", ())) or "", str(e.get("type") or "invalid"), str(e["msg"]))
        for e in error.errors()
    ]


def lang_cookie(locale: str) -> Cookie:
    return Cookie(key=LANG_COOKIE, value=locale, max_age=365 * 24 * 3600, path="/", samesite="lax")


# ---------------------------------------------------------------- public pages


@get("/", exclude_from_auth=True, include_in_schema=False)
async def landing() -> Redirect:
    """The site's root: the dashboard (which asks to sign in first when nobody is)."""
    return Redirect(PAGE_PREFIX, status_code=303)


@get("/language/{locale:str}", exclude_from_auth=True, include_in_schema=False)
async def choose_language(locale: FromPath[str], next: NextPage = None) -> Redirect:
    """The language switch: remembered in this browser (a cookie); saved to the account on "my account"."""
    target = safe_next(next, PAGE_PREFIX)
    if locale not in i18n.LOCALES:
        return Redirect(target, status_code=303)
    return Redirect(target, status_code=303, cookies=[lang_cookie(locale)])


class LoginPages(Controller):
    path = LOGIN_PATH
    include_in_schema = False

    @get("/", exclude_from_auth=True)
    async def form(self, request: AnyRequest, next: NextPage = None) -> Response[str]:
        token = new_login_csrf()
        return render(
            request,
            "core/login.html",
            title=i18n.N_("Sign in"),
            form={"next": safe_next(next)},
            login_csrf=token,
            cookies=[login_csrf_cookie(token)],
        )

    @post("/", exclude_from_auth=True, status_code=303)
    async def sign_in(self, request: AnyRequest) -> Response[Any]:
        data = await request.form()
        fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        username, target = fields.get("username", "").strip(), safe_next(fields.get("next"))
        shown = {"username": username, "next": target}
        sent, expected = fields.get("login_csrf", ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not sent or not expected or not secrets.compare_digest(sent, expected):
            return self._again(request, shown, [FieldError("", "csrf", "the sign-in form expired")], status=403)
        try:
            result = await accounts.login(
                request.app.state.db,
                request.app.state.settings,
                request.app.state.hashing,
                username=username,
                password=fields.get("password", ""),
                client=request.client.host if request.client else "unknown",
                now=request.app.state.clock.now(),
            )
        except RateLimited as refused:
            wait = int(refused.extra.get("retry_after", 60))
            minutes = max(1, -(-wait // 60))
            with i18n.using(page_locale(request)):
                message = i18n.ngettext(
                    "Too many failed attempts. Try again in %(num)d minute.",
                    "Too many failed attempts. Try again in %(num)d minutes.",
                    minutes,
                ) % {"num": minutes}
            response = self._again(request, shown, [FieldError("", "login-throttled", message)], status=429)
            response.headers["Retry-After"] = str(wait)
            return response
        except NotAuthenticated as refused:
            return self._again(request, shown, refused.errors, status=401)
        settings = request.app.state.settings
        cookies = [
            Cookie(
                key=settings.session_cookie_name,
                value=result.session_token,
                httponly=True,
                samesite="lax",
                secure=settings.cookie_secure,
                path="/",
                max_age=settings.session_absolute_timeout,
            ),
            Cookie(key=LOGIN_CSRF_COOKIE, value="", max_age=0, path=LOGIN_PATH),
        ]
        if result.user.locale:
            cookies.append(lang_cookie(result.user.locale))
        return redirect(target, flash="signed-in", cookies=cookies)

    @staticmethod
    def _again(request: AnyRequest, shown: dict[str, str], errors: list[FieldError], *, status: int) -> Response[str]:
        token = new_login_csrf()
        return render(
            request,
            "core/login.html",
            status=status,
            title=i18n.N_("Sign in"),
            errors=errors,
            form=shown,
            login_csrf=token,
            cookies=[login_csrf_cookie(token)],
        )


# ---------------------------------------------------------------- signed-in pages


class AccountPages(Controller):
    """The dashboard frame, signing out and one's own account."""

    path = PAGE_PREFIX
    include_in_schema = False

    @get("/")
    async def dashboard(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        user = current_user(request)
        panels: list[Panel] = []
        for provider in _providers:
            panels += await provider(request, db_session, user)
        return render(request, "core/dashboard.html", title=i18n.N_("Dashboard"), panels=panels)

    @post("/logout", status_code=303)
    async def sign_out(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Redirect:
        await accounts.logout(db_session, current_user(request), now=request.app.state.clock.now())
        expired = Cookie(
            key=request.app.state.settings.session_cookie_name, value="", max_age=0, path="/", httponly=True
        )
        return redirect(LOGIN_PATH, flash="signed-out", cookies=[expired])

    @get("/account")
    async def account(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        return await self._account(request, db_session)

    async def _account(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        *,
        status: int = 200,
        errors: list[FieldError] | None = None,
        form: dict[str, str] | None = None,
        created_token: str | None = None,
    ) -> Response[str]:
        user = current_user(request)
        public = await accounts.user_public(db_session, await accounts.get_user(db_session, user.id))
        tokens = await accounts.list_tokens(db_session, user)
        shown = {"locale": public.locale or "", "time_zone": public.time_zone or "", **(form or {})}
        return render(
            request,
            "core/account.html",
            status=status,
            title=i18n.N_("My account"),
            account=public,
            tokens=tokens,
            language_options=[(code, i18n.language_name(code)) for code in i18n.LOCALES],
            zone_options=[(zone, zone.replace("_", " ")) for zone in COMMON_ZONES if zone != "UTC"],
            errors=errors or [],
            form=shown,
            created_token=created_token,
        )

    async def _refused(
        self, request: AnyRequest, db_session: AsyncSession, errors: list[FieldError], form: dict[str, str]
    ) -> Response[str]:
        await db_session.rollback()  # a refused form changes nothing
        return await self._account(request, db_session, status=422, errors=errors, form=form)

    @post("/account/password", status_code=303)
    async def change_password(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        fields = await form_of(request)
        try:
            data = PasswordChange.model_validate(
                {k: fields.get(k, "") for k in ("current_password", "new_password", "confirm_password")}
            )
            await accounts.change_password(
                request.app.state.db,
                request.app.state.settings,
                request.app.state.hashing,
                data,
                user=current_user(request),
                client=request.client.host if request.client else "unknown",
                now=request.app.state.clock.now(),
            )
        except ValidationError as refused:
            return await self._refused(request, db_session, _named(field_errors(refused), "confirm_password"), {})
        except RateLimited as refused:
            return await self._refused(request, db_session, refused.errors or [FieldError("", "rate-limited", "")], {})
        except InvalidInput as refused:
            return await self._refused(request, db_session, refused.errors, {})
        return redirect(f"{PAGE_PREFIX}/account", flash="password-changed")

    @post("/account/preferences", status_code=303)
    async def save_preferences(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        fields = await form_of(request)
        shown = {"locale": fields.get("locale", ""), "time_zone": fields.get("time_zone", "")}
        try:
            data = Preferences.model_validate({k: v or None for k, v in shown.items()})
            await accounts.set_preferences(
                db_session, data, user=current_user(request), now=request.app.state.clock.now()
            )
        except ValidationError as refused:
            return await self._refused(request, db_session, field_errors(refused), shown)
        cookies = (
            [lang_cookie(data.locale)] if data.locale else [Cookie(key=LANG_COOKIE, value="", max_age=0, path="/")]
        )
        return redirect(f"{PAGE_PREFIX}/account", flash="preferences-saved", cookies=cookies)

    @post("/account/tokens", status_code=200)
    async def create_token(self, request: AnyRequest, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        fields = await form_of(request)
        try:
            data = TokenCreate.model_validate({"name": fields.get("name", "")})
            created = await accounts.create_token(
                db_session,
                data,
                user=current_user(request),
                settings=request.app.state.settings,
                now=request.app.state.clock.now(),
            )
        except ValidationError as refused:
            return await self._refused(request, db_session, field_errors(refused), {"name": fields.get("name", "")})
        await db_session.commit()
        # The secret is shown once, on this page (never in a redirect or a cookie).
        return await self._account(request, db_session, created_token=created.token)

    @post("/account/tokens/{token_id:int}/revoke", status_code=303)
    async def revoke_token(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], token_id: FromPath[int]
    ) -> Response[Any]:
        try:
            await accounts.revoke_token(
                db_session, token_id, user=current_user(request), now=request.app.state.clock.now()
            )
        except DomainError as refused:
            return await self._refused(request, db_session, refused.errors or [FieldError("", refused.slug, "")], {})
        return redirect(f"{PAGE_PREFIX}/account", flash="token-revoked")


def _named(errors: list[FieldError], model_field: str) -> list[FieldError]:
    """Errors of the form as a whole (a model's own check) named after the field they concern."""
    return [FieldError(e.field or model_field, e.rule, e.message) for e in errors]


# The time zones offered on "my account" (any IANA name is accepted through the API).
COMMON_ZONES = (
    "UTC",
    "Africa/Abidjan",
    "Africa/Cairo",
    "Africa/Dakar",
    "Africa/Lagos",
    "Africa/Nairobi",
    "America/Bogota",
    "America/Guatemala",
    "America/Mexico_City",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Bangkok",
    "Asia/Dhaka",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Manila",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/Berlin",
    "Europe/Zurich",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Stockholm",
    "Pacific/Auckland",
)

route_handlers = [landing, choose_language, LoginPages]
page_handlers = [AccountPages]
