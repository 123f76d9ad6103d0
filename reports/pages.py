"""The reports as pages: the list of what the reader may read, and each report inside the site's layout with
its downloads (PDF, CSV, JSON) in the reader's language. A page builds the report through the same entry as
the API and the command line (``reports.api.build_report``) behind the same permissions (``reports.read``;
``reports.contributor`` for one contributor's report)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import web
from fundapp.core.db import read_snapshot
from fundapp.core.errors import DomainError, FieldError, NotFound
from fundapp.core.security import Principal, current_user, ensure_permission, has_permission, require
from fundapp.core.web import N_, NavItem, gettext, i18n
from governance import Contributor, Window
from reports import contributors, render
from reports.api import build_report
from reports.service import report_context

HERE = Path(__file__).resolve().parent
web.register_templates(HERE / "templates")
i18n.register_catalogue(HERE / "locale")
REPORTS_PATH = f"{web.PAGE_PREFIX}/reports"
AnyRequest = web.AnyRequest
Db = NamedDependency[AsyncSession]
Param = Annotated[str | None, QueryParameter(max_length=40, required=False)]

REPORT_TITLES = {
    "sources-and-uses": N_("Sources and uses of funds"),
    "funds-available": N_("Funds available for decisions"),
    "funds-available-gcff": N_("Funds available in the GCFF's layout"),
    "financial-statements": N_("Financial statements"),
    "window-portfolio": N_("Portfolio of a window"),
    "concessional-portfolio": N_("Concessional portfolio"),
    "contributor": N_("Contributor report"),
}


def _reads_reports(user: Principal) -> bool:
    return has_permission("reports.read", user)[0]


web.register_nav(NavItem(N_("Reports"), lambda _u: REPORTS_PATH, _reads_reports, order=30))
web.register_rule_messages(
    {
        "not-in-future": N_("The date is after today: a report describes what has happened."),
        "out_of_range": N_("The year must be between 1900 and 2999."),
        "period-order": N_("The first day is after the last day."),
        "reports.contributor": N_("Only the contributor's own delegates, the secretariat and auditors read it."),
    }
)


async def _my_contributor(session: AsyncSession, user: Principal) -> Contributor | None:
    if user.member_code is None:
        return None
    return (
        await session.execute(select(Contributor).where(col(Contributor.member_code) == user.member_code))
    ).scalar_one_or_none()


class ReportPages(Controller):
    path = REPORTS_PATH
    include_in_schema = False
    guards = [require("reports.read")]

    @get("/")
    async def index(self, request: AnyRequest, db_session: Db) -> Response[str]:
        user = current_user(request)
        windows = (await db_session.execute(select(Window).order_by(col(Window.code)))).scalars().all()
        mine = await _my_contributor(db_session, user)
        today = web.now_of(request).date()
        return web.render(
            request,
            "reports/index.html",
            title=N_("Reports"),
            windows=[(w.code, getattr(w, "name_" + i18n.current(), w.name_en)) for w in windows],
            contributor=mine,
            years=list(range(today.year, today.year - 5, -1)),
            today=today,
        )

    @get("/{name:str}")
    async def report(
        self,
        request: AnyRequest,
        db_session: Db,
        name: FromPath[str],
        date_from: Param = None,
        date_to: Param = None,
        year: Param = None,
        as_of: Param = None,
        window: Param = None,
        contributor: Param = None,
        display_unit: Annotated[str | None, QueryParameter(name="unit", max_length=40, required=False)] = None,
    ) -> Response[str]:
        """One report as a page; its parameters (dates, year, window, contributor, unit) as the API takes them."""
        if name not in REPORT_TITLES:
            raise NotFound(f"no report {name!r}")
        user = current_user(request)
        params = {
            k: v
            for k, v in (
                ("date_from", date_from),
                ("date_to", date_to),
                ("year", year),
                ("as_of", as_of),
                ("unit", display_unit if name == "funds-available-gcff" else None),
            )
            if v
        }
        await read_snapshot(db_session)
        try:
            built = await self._build(request, db_session, name, params, window, contributor)
        except DomainError as refused:
            errors = refused.errors or [FieldError("", refused.rule or refused.slug, refused.detail)]
            if refused.status in (403, 404):
                raise
            return web.render(
                request,
                "reports/report.html",
                status=refused.status,
                title=REPORT_TITLES[name],
                errors=errors,
                report=None,
                downloads=[],
                name=name,
            )
        query = {
            **params,
            **({"window": window} if window else {}),
            **({"contributor": contributor} if contributor else {}),
        }
        return web.render(
            request,
            "reports/report.html",
            title=REPORT_TITLES[name],
            report=render.screen_view(built, i18n.current(), links=has_permission("ledger.read", user)[0]),
            downloads=_downloads(name, query, window, contributor, i18n.current()),
            name=name,
        )

    async def _build(
        self,
        request: AnyRequest,
        session: AsyncSession,
        name: str,
        params: dict[str, str],
        window: str | None,
        contributor: str | None,
    ) -> Any:
        ctx = await report_context(session, request.app.state.settings, web.now_of(request))
        typed: dict[str, Any] = {}
        for key, value in params.items():
            if key == "unit":
                typed[key] = value
            else:
                typed[key] = int(value) if key == "year" and value.isdigit() else _day(key, value)
        if name == "contributor":
            contributor_id = int(contributor) if contributor and contributor.isdigit() else 0
            found = await contributors.find(session, contributor_id)
            ensure_permission("reports.contributor", current_user(request), found.member_code)
            typed["contributor_id"] = contributor_id
        if name == "window-portfolio":
            typed["window_code"] = window or ""
        return await build_report(ctx, name, **typed)


def _day(field: str, value: str) -> date:
    from fundapp.core.errors import InvalidInput

    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{field} is not a date (YYYY-MM-DD)", field=field, rule="date_from_datetime_parsing"
        ) from exc


def _downloads(name: str, query: dict[str, str], window: str | None, contributor: str | None, locale: str) -> list[Any]:
    """The report's files through the API, in the page's language."""
    path = {
        "window-portfolio": f"/api/v1/reports/windows/{window}",
        "contributor": f"/api/v1/reports/contributors/{contributor}",
    }.get(name, f"/api/v1/reports/{name}")
    api_query = {k: v for k, v in query.items() if k not in ("window", "contributor")}
    return [
        (label, f"{path}?{urlencode({**api_query, 'format': fmt, 'locale': locale})}")
        for fmt, label in (("pdf", gettext("PDF")), ("csv", gettext("CSV (spreadsheet)")), ("json", gettext("JSON")))
    ]


web.register_rule_messages({"date-format": N_("Give a date as YYYY-MM-DD.")})
page_handlers = [ReportPages]
