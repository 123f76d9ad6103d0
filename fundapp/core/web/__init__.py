"""The web pages' foundation: one template environment, the shared layout, the page context, forms with CSRF,
messages after POST/redirect/GET, error pages, and the registries every package's pages add to.

Pages are server-rendered HTML (Jinja2, autoescaped) under ``/app`` (signed in) and ``/login``; they work
without JavaScript. A page controller calls the same service and the same permission predicate as its API
twin; what a template shows it is given, no rule lives in a template. See docs/pages.md.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta, get_timezone_name
from babel.numbers import format_decimal
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect
from markupsafe import Markup

from fundapp.core.errors import DomainError, FieldError, PermissionDenied, register_page_errors
from fundapp.core.models import Role
from fundapp.core.security import Principal
from fundapp.core.web import i18n
from fundapp.core.web.i18n import N_, gettext

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
PAGE_PREFIX = "/app"
LOGIN_PATH = "/login"
LANG_COOKIE = "fundapp_lang"
FLASH_COOKIE = "fundapp_flash"
LOGIN_CSRF_COOKIE = "fundapp_login_csrf"
AnyRequest = Request[Any, Any, Any]

i18n.register_catalogue(WEB_DIR / "locale")

# ---------------------------------------------------------------- registries (filled by each package's pages)


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link of the navigation, shown to the users ``visible`` admits; ``label`` is marked with ``N_``."""

    label: str
    href: Callable[[Principal], str]
    visible: Callable[[Principal], bool]
    order: int = 100


_nav: list[NavItem] = []
_templates: list[Path] = [WEB_DIR / "templates"]
# A refusal's rule -> its message in words people read (marked with N_, translated where shown).
_rule_messages: dict[str, str] = {}
# A message shown once after a redirect: key -> text (marked with N_; may name parameters).
_flash_messages: dict[str, str] = {}


ROLE_LABELS = {
    Role.SECRETARIAT_ADMIN: N_("Secretariat administrator"),
    Role.FINANCE_OFFICER: N_("Finance officer"),
    Role.FINANCE_APPROVER: N_("Finance approver"),
    Role.TAG_REVIEWER: N_("Technical Advisory Group reviewer"),
    Role.MEMBER_DELEGATE: N_("Delegate of a member state"),
    Role.GRANTEE: N_("Grantee"),
    Role.AUDITOR: N_("Auditor"),
}
# Functions templates may call, added by packages (e.g. governance's CLDR country names).
_globals: dict[str, Callable[..., Any]] = {"country_name": lambda code: code}


def register_template_global(name: str, function: Callable[..., Any]) -> None:
    _globals[name] = function
    _environment.cache_clear()


def register_nav(item: NavItem) -> None:
    if item not in _nav:
        _nav.append(item)
        _nav.sort(key=lambda n: n.order)


def register_templates(directory: Path) -> None:
    if directory not in _templates:
        _templates.append(directory)
        _environment.cache_clear()


def register_rule_messages(messages: Mapping[str, str]) -> None:
    _rule_messages.update(messages)


def register_flash_messages(messages: Mapping[str, str]) -> None:
    _flash_messages.update(messages)


def everyone(_user: Principal) -> bool:
    return True


def with_role(*roles: Role) -> Callable[[Principal], bool]:
    def visible(user: Principal) -> bool:
        return user.has_role(*roles)

    return visible


register_nav(NavItem(N_("Dashboard"), lambda _u: PAGE_PREFIX, everyone, order=0))
register_nav(NavItem(N_("My account"), lambda _u: f"{PAGE_PREFIX}/account", everyone, order=900))
register_flash_messages(
    {
        "signed-in": N_("You are signed in."),
        "signed-out": N_("You are signed out."),
        "password-changed": N_("Your password was changed. Your other sessions have ended."),
        "preferences-saved": N_("Your preferences were saved."),
        "token-revoked": N_("The API token was revoked."),
        "token-created": N_("The API token was created. Copy it now: it is shown only once."),
    }
)
register_rule_messages(
    {
        "csrf": N_("This form has expired or did not come from this site. Please try again."),
        "credentials": N_(
            "The username or password is not right, or the account is disabled. If your account was disabled, "
            "ask the secretariat."
        ),
        "current-password": N_("The current password is not right."),
        "new-password-differs": N_("The new password must differ from the current one."),
        "passwords_match": N_("The confirmation differs from the new password."),
        "string_too_short": N_("This is too short."),
        "string_too_long": N_("This is too long."),
        "missing": N_("This is required."),
        "time_zone": N_("Choose a time zone from the list."),
        "literal_error": N_("Choose one of the options offered."),
        "rate-limited": N_("Too many failed attempts. Try again later."),
        "not-found": N_("This does not exist, or you may not see it."),
    }
)

# ---------------------------------------------------------------- formatting for templates


_page_zone: ContextVar[ZoneInfo | None] = ContextVar("fundapp_page_zone", default=None)
UTC_ZONE = ZoneInfo("UTC")


def _zone() -> ZoneInfo:
    return _page_zone.get() or UTC_ZONE


def fmt_date(value: date | None) -> str:
    return "" if value is None else format_date(value, "long", locale=_babel_locale())


def fmt_datetime(value: datetime | None) -> str:
    """A moment in the reader's time zone, its zone named ("3 December 2026 11:00 CET")."""
    if value is None:
        return ""
    local = value.astimezone(_zone())
    clock = format_time(local, "HH:mm", locale=_babel_locale())
    return f"{format_date(local.date(), 'long', locale=_babel_locale())} {clock} {local.tzname() or ''}".strip()


def fmt_time_left(deadline: datetime, now: datetime) -> str:
    """How long until ``deadline`` in words ("in 3 days"), or that it has passed."""
    if deadline <= now:
        return gettext("closed")
    return format_timedelta(deadline - now, add_direction=True, threshold=1.5, locale=_babel_locale())


def fmt_number(value: int | Decimal) -> str:
    return format_decimal(value, locale=_babel_locale())


# The names CLDR gives UTC itself ("Coordinated Universal Time"); Babel's get_timezone_name says "Unknown
# Region (UTC) Time" for it.
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"})


def zone_name() -> str:
    """The reader's time zone by name: CLDR's for UTC ("Coordinated Universal Time", "temps universel
    coordonné"), else CLDR's with the IANA key ("Central European Time (Europe/Paris)")."""
    zone = _zone()
    if zone.key in _UTC_KEYS:
        name = Locale.parse(_babel_locale()).time_zones.get("Etc/UTC", {}).get("long", {}).get("standard")
        if name:
            return str(name)
    return f"{get_timezone_name(zone, width='long', locale=_babel_locale())} ({zone.key})"


def _babel_locale() -> str:
    return {"en": "en_GB"}.get(i18n.current(), i18n.current())


# ---------------------------------------------------------------- the template environment


def _environment_factory() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in _templates]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        fmt_date=fmt_date,
        fmt_datetime=fmt_datetime,
        fmt_number=fmt_number,
        fmt_time_left=fmt_time_left,
        zone_name=zone_name,
        language_name=i18n.language_name,
    )
    env.globals.update(_globals)
    return env


class _EnvironmentCache:
    """The environment, built once and rebuilt when a package adds its templates."""

    def __init__(self) -> None:
        self._env: Environment | None = None

    def __call__(self) -> Environment:
        if self._env is None:
            self._env = _environment_factory()
        return self._env

    def cache_clear(self) -> None:
        self._env = None


_environment = _EnvironmentCache()


def environment() -> Environment:
    return _environment()


# ---------------------------------------------------------------- the page context


@dataclass(frozen=True, slots=True)
class Flash:
    key: str
    params: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        template = _flash_messages.get(self.key)
        if template is None:
            return ""
        return gettext(template) % self.params if self.params else gettext(template)


def page_user(request: AnyRequest) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def page_locale(request: AnyRequest, user: Principal | None = None) -> str:
    """The cookie of this browser's last choice, the user's saved choice, Accept-Language, English."""
    cookie = request.cookies.get(LANG_COOKIE)
    chosen = cookie if cookie in i18n.LOCALES else (user.locale if user else None)
    return i18n.negotiate(request.headers.get("accept-language"), chosen=chosen)


def page_zone(user: Principal | None) -> ZoneInfo:
    try:
        return ZoneInfo(user.time_zone) if user and user.time_zone else ZoneInfo("UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _flash_of(request: AnyRequest) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        key, params = str(data["k"]), {str(k): str(v) for k, v in dict(data.get("p", {})).items()}
    except (ValueError, KeyError, TypeError):
        return None
    return Flash(key, params) if key in _flash_messages else None


def safe_next(target: str | None, default: str = PAGE_PREFIX) -> str:
    """A redirect target inside this site's pages only (never another host or scheme)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return default
    if not (parts.path == PAGE_PREFIX or parts.path.startswith(PAGE_PREFIX + "/") or parts.path == LOGIN_PATH):
        return default
    return target


def render(
    request: AnyRequest,
    template: str,
    *,
    status: int = 200,
    title: str = "",
    errors: Iterable[FieldError] = (),
    form: Mapping[str, Any] | None = None,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Response[str]:
    """A page in the reader's language and time zone, inside the shared layout.

    ``errors`` (a refusal's field errors) are shown beside their fields (``field_errors``) and summarised
    at the top, linking to each field; ``form`` holds the input to show again after a refusal."""
    user = page_user(request)
    locale = page_locale(request, user)
    zone = page_zone(user)
    flash = _flash_of(request)
    error_list = list(errors)
    with i18n.using(locale):
        token = _page_zone.set(zone)
        try:
            page = {
                "user": user,
                "locale": locale,
                "locales": i18n.LOCALES,
                "path": request.url.path,
                "query": request.url.query,
                "csrf_token": user.csrf_token if user else "",
                "nav": [
                    {"label": gettext(n.label), "href": n.href(user), "current": _current(request, n.href(user))}
                    for n in _nav
                    if user is not None and n.visible(user)
                ],
                "flash": flash.text() if flash else "",
                "facility": request.app.state.settings.facility_name,
                "now": request.app.state.clock.now(),
                "role_names": [gettext(ROLE_LABELS[r]) for r in sorted(user.roles)] if user else [],
            }
            messages = [_error_entry(e) for e in error_list]
            html = (
                environment()
                .get_template(template)
                .render(
                    page=page,
                    title=gettext(title) if title else "",  # a title given as N_("...") is shown translated
                    errors=messages,
                    field_errors={m["field"]: m["message"] for m in reversed(messages)},
                    form=form or {},
                    **context,
                )
            )
        finally:
            _page_zone.reset(token)
    response = Response(
        html,
        status_code=status,
        media_type="text/html",
        headers={"Content-Language": locale, "Cache-Control": "no-store"},
        cookies=list(cookies or []),
    )
    if flash is not None:
        response.set_cookie(Cookie(key=FLASH_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax"))
    return response


def _current(request: AnyRequest, href: str) -> bool:
    path = request.url.path
    return path == href or (href != PAGE_PREFIX and path.startswith(href + "/"))


def rule_message(rule: str | None, fallback: str) -> str:
    """A refusal in the reader's words when its rule is known, else the service's own message."""
    template = _rule_messages.get(rule or "")
    return gettext(template) if template else fallback


def _error_entry(error: FieldError) -> dict[str, str]:
    field_name = error.field.replace(".", "-") or "form"
    return {"field": field_name, "rule": error.rule, "message": rule_message(error.rule, error.message)}


def redirect(to: str, *, flash: str | None = None, cookies: list[Cookie] | None = None, **params: Any) -> Redirect:
    """POST/redirect/GET: 303 to ``to``, with a message to show once on the next page."""
    all_cookies = list(cookies or [])
    if flash is not None:
        value = json.dumps({"k": flash, "p": {k: str(v) for k, v in params.items()}}, separators=(",", ":"))
        all_cookies.append(Cookie(key=FLASH_COOKIE, value=value, max_age=60, path="/", httponly=True, samesite="lax"))
    return Redirect(to, status_code=303, cookies=all_cookies)


# ---------------------------------------------------------------- forms and CSRF


async def form_of(request: AnyRequest) -> dict[str, str]:
    """The submitted form's fields (last value of each), its CSRF token already checked by the page guard."""
    data = await request.form()
    return {key: str(value) for key, value in data.items() if key != "csrf_token" and isinstance(value, str)}


async def page_csrf_guard(connection: Any, _handler: Any) -> None:
    """The pages' guard. It sets the request's language and time zone for everything the handler words (not
    only the template), and checks that every unsafe request carries the session's CSRF token as the form
    field ``csrf_token``."""
    user = page_user(connection)
    i18n.set_current(page_locale(connection, user))
    _page_zone.set(page_zone(user))
    if connection.scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return
    data = await connection.form()
    sent = data.get("csrf_token")
    if (
        user is None
        or not isinstance(sent, str)
        or not user.csrf_token
        or not secrets.compare_digest(sent, user.csrf_token)
    ):
        raise PermissionDenied("the form's CSRF token is missing or does not match this session", rule="csrf")


def login_csrf_cookie(value: str) -> Cookie:
    return Cookie(key=LOGIN_CSRF_COOKIE, value=value, max_age=3600, path=LOGIN_PATH, httponly=True, samesite="strict")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- error pages


def is_page_request(request: AnyRequest) -> bool:
    path = request.url.path
    return path == "/" or path == LOGIN_PATH or path.startswith(PAGE_PREFIX) or path.startswith("/language/")


_STATUS_TITLES = {
    401: N_("Sign-in needed"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("Not allowed"),
    409: N_("That cannot be done now"),
    422: N_("Some answers need correcting"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
}


def error_page(request: AnyRequest, status: int, exc: BaseException | None) -> Response[Any]:
    """An error as a page in the reader's language: 401 sends to the sign-in page (a disabled account gets
    a page saying so); 403 gives the reason; 500 never shows a trace."""
    # A refusal names its rule, or (a permission) its action: either may have words registered for it.
    rule = (exc.rule or str(exc.extra.get("action") or "")) if isinstance(exc, DomainError) else None
    if status == 401 and rule != "account-disabled":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"{LOGIN_PATH}?next={quote(safe_next(target))}", status_code=303)
    detail = ""
    if isinstance(exc, DomainError) and status < 500:
        detail = rule_message(rule, exc.detail)
    with i18n.using(page_locale(request, page_user(request))):
        title = gettext(_STATUS_TITLES.get(status, N_("Something went wrong")))
    headers = dict(exc.headers) if isinstance(exc, DomainError) else {}
    response = render(
        request,
        "core/error.html",
        status=status,
        title=title,
        status_code=status,
        detail=detail,
        disabled=rule == "account-disabled",
    )
    response.headers.update(headers)
    return response


def now_of(request: AnyRequest) -> datetime:
    moment: datetime = request.app.state.clock.now()
    return moment


register_page_errors((is_page_request, error_page))

__all__ = [
    "LANG_COOKIE",
    "LOGIN_PATH",
    "N_",
    "PAGE_PREFIX",
    "STATIC_DIR",
    "Flash",
    "Markup",
    "NavItem",
    "environment",
    "error_page",
    "everyone",
    "form_of",
    "gettext",
    "i18n",
    "is_page_request",
    "page_csrf_guard",
    "page_user",
    "redirect",
    "register_flash_messages",
    "register_nav",
    "register_rule_messages",
    "register_templates",
    "render",
    "rule_message",
    "safe_next",
    "with_role",
]
