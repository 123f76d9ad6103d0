"""Reports HTTP API (thin: parse, authorise, build at request time, render in the asked format).

Every report route takes ``format`` (json, csv, html, pdf) and ``locale`` (en, es, fr). Without
``format``, the Accept header chooses among application/json, text/csv, text/html and application/pdf
(by its q-values; JSON otherwise); without ``locale``, Accept-Language does (English otherwise). PDFs are
rendered where ``FUNDAPP_PDF_RENDERING`` says: by default in a small pool of worker processes
(``reports/pdf_pool.py``), so the event loop keeps answering other requests; or in a worker thread of the
service (``thread``).
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

import reports.permissions  # noqa: F401 - registers the reports' actions
from fundapp.core.api import API_PREFIX, AnyRequest, clock_of, settings_of
from fundapp.core.config import Settings
from fundapp.core.db import read_snapshot
from fundapp.core.errors import InvalidInput, NotFound
from fundapp.core.security import current_user, ensure_permission, require
from reports import (
    concessional,
    contributors,
    funds_available,
    funds_available_gcff,
    iati,
    pdf_pool,
    portfolio,
    render,
    rules,
    sources_uses,
    statements,
)
from reports.document import Report
from reports.rules import MEDIA_TYPES, ReportFormat
from reports.service import ReportContext, report_context

Db = NamedDependency[AsyncSession]
DateParam = Annotated[date | None, QueryParameter(description="an ISO date (YYYY-MM-DD), not after today")]
FormatParam = Annotated[
    str | None,
    QueryParameter(
        max_length=16, description="json, csv, html or pdf; without it the Accept header chooses, else json"
    ),
]
LocaleParam = Annotated[
    str | None,
    QueryParameter(max_length=16, description="en, es or fr; without it Accept-Language chooses, else en"),
]
UnitParam = Annotated[
    str | None,
    # The query's "unit"; the name ``unit`` is the unit of work's dependency.
    QueryParameter(name="unit", max_length=16, description="units (default: whole units of the currency) or millions"),
]
YearParam = Annotated[int | None, QueryParameter(description="the financial year, 1900 to 2999 (required)")]

XML = "application/xml"
# An HTML report is a document, not an application: no script, no remote resource, no framing.
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Output:
    """The format and locale of one response, checked before any report is built."""

    def __init__(self, request: AnyRequest, fmt: str | None, locale: str | None) -> None:
        self.format = rules.choose_format(fmt, request.headers.get("accept"))
        self.locale = rules.choose_locale(locale, request.headers.get("accept-language"))


async def context_of(request: AnyRequest, session: AsyncSession) -> ReportContext:
    return await report_context(session, settings_of(request), clock_of(request).now())


async def pdf_of(report: Report, locale: str, settings: Settings) -> bytes:
    """The report as PDF, rendered where ``settings.pdf_rendering`` says: in the process pool (the event loop
    stays free; the workers at ``settings.pdf_worker_niceness``) or in a worker thread of this process."""
    if settings.pdf_rendering == "thread":
        work = functools.partial(render.to_pdf, report, locale, facility_name=settings.facility_name)
        return await anyio.to_thread.run_sync(work)
    return await pdf_pool.render_pdf(report, locale, settings.facility_name, niceness=settings.pdf_worker_niceness)


async def respond(request: AnyRequest, report: Report, out: Output, qualifier: str = "") -> Response[bytes]:
    """The report's bytes with its media type; its generation time and chain head also in headers."""
    settings = settings_of(request)
    facility = settings.facility_name
    if out.format is ReportFormat.PDF:
        body = await pdf_of(report, out.locale, settings)
    else:
        body = render.encode(report, out.format, out.locale, facility_name=facility)
    headers = {
        "Content-Language": out.locale,
        "Vary": "Accept, Accept-Language",
        "X-Content-Type-Options": "nosniff",
        "X-Generated-At": report.generated_at.isoformat(),
        "X-Ledger-Head": report.ledger_head,
    }
    if out.format in (ReportFormat.CSV, ReportFormat.PDF):
        name = render.filename(report, out.format, out.locale, qualifier)
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if out.format is ReportFormat.HTML:
        headers["Content-Security-Policy"] = HTML_POLICY
    return Response(body, media_type=MEDIA_TYPES[out.format], headers=headers)


class ReportsController(Controller):
    path = f"{API_PREFIX}/reports"
    tags = ["reports"]

    @get("/sources-and-uses", guards=[require("reports.read")])
    async def sources_and_uses(
        self,
        request: AnyRequest,
        db_session: Db,
        date_from: DateParam = None,
        date_to: DateParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """Sources and uses of funds for a period (default: inception to today), in total, per window and
        per contributor; transfers, expenditure and delivery per implementing organisation."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        ctx = await context_of(request, db_session)
        return await respond(
            request, await build_report(ctx, "sources-and-uses", date_from=date_from, date_to=date_to), out
        )

    @get("/contributors/{contributor_id:int}", guards=[require("reports.read")])
    async def contributor(
        self,
        request: AnyRequest,
        db_session: Db,
        contributor_id: FromPath[int],
        as_of: DateParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """One contributor: pledged, paid, outstanding, FX effects, its share of each window and what its
        money financed. A member delegate reads only its own member's."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        contributor = await contributors.find(db_session, contributor_id)
        ensure_permission("reports.contributor", current_user(request), contributor.member_code)
        ctx = await context_of(request, db_session)
        report = await build_report(ctx, "contributor", as_of=as_of, contributor_id=contributor_id)
        return await respond(request, report, out, qualifier=str(contributor_id))

    @get("/financial-statements", guards=[require("reports.read")])
    async def financial_statements(
        self,
        request: AnyRequest,
        db_session: Db,
        year: YearParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """The IPSAS set for a year with the prior year beside it: financial position, performance,
        changes in net assets, cash flow, budget and actual, notes."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        ctx = await context_of(request, db_session)
        return await respond(request, await build_report(ctx, "financial-statements", year=year), out)

    @get("/funds-available", guards=[require("reports.read")])
    async def funds_available(
        self,
        request: AnyRequest,
        db_session: Db,
        as_of: DateParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """The status of funds available for funding decisions, in total and per window."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        ctx = await context_of(request, db_session)
        return await respond(request, await build_report(ctx, "funds-available", as_of=as_of), out)

    @get("/funds-available-gcff", guards=[require("reports.read")])
    async def funds_available_gcff(
        self,
        request: AnyRequest,
        db_session: Db,
        as_of: DateParam = None,
        display_unit: UnitParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """Funds available in the GCFF's layout: contributions, pledges outstanding, cash receipts and
        investment income; funding decisions (concessionality, MDB costs, own grants, administrative budget);
        funds held in trust less approved amounts pending cash transfer. ``unit=millions`` shows millions
        with two decimals, each line rounded on its own."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        ctx = await context_of(request, db_session)
        report = await build_report(ctx, "funds-available-gcff", as_of=as_of, unit=display_unit)
        return await respond(request, report, out)

    @get("/windows/{code:str}", guards=[require("reports.read")])
    async def window_portfolio(
        self,
        request: AnyRequest,
        db_session: Db,
        code: FromPath[str],
        as_of: DateParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """A window's portfolio: proposals by state, approved, committed, disbursed, expenditure and
        delivery; by country, gender marker, GCM objective and SDG target; planned beneficiaries."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        if not 1 <= len(code) <= 16:
            raise NotFound(f"no window with code {code[:20]!r}", field="code", rule="exists")
        ctx = await context_of(request, db_session)
        report = await build_report(ctx, "window-portfolio", as_of=as_of, window_code=code)
        return await respond(request, report, out, qualifier=code)

    @get("/concessional-portfolio", guards=[require("reports.read")])
    async def concessional_portfolio(
        self,
        request: AnyRequest,
        db_session: Db,
        as_of: DateParam = None,
        format: FormatParam = None,
        locale: LocaleParam = None,
    ) -> Response[bytes]:
        """The concessional operations by implementation support agency: country, window, loan,
        concessionality, agency costs, grant element before and after, leverage, status and dates, and the
        grant's transfers, pending cash transfer and refunds receivable, with subtotals and a total."""
        out = Output(request, format, locale)
        await read_snapshot(db_session)
        ctx = await context_of(request, db_session)
        return await respond(request, await build_report(ctx, "concessional-portfolio", as_of=as_of), out)

    @get("/iati/activities.xml", guards=[require("reports.iati")])
    async def iati_activities(self, request: AnyRequest, db_session: Db) -> Response[bytes]:
        """The facility's IATI 2.03 activity file (its funds and every grant)."""
        await read_snapshot(db_session)
        return _xml(await iati.activities(await context_of(request, db_session)))

    @get("/iati/organisation.xml", guards=[require("reports.iati")])
    async def iati_organisation(self, request: AnyRequest, db_session: Db) -> Response[bytes]:
        """The facility's IATI 2.03 organisation file."""
        await read_snapshot(db_session)
        return _xml(await iati.organisation(await context_of(request, db_session)))


def _xml(document: bytes) -> Response[bytes]:
    return Response(document, media_type=XML, headers={"X-Content-Type-Options": "nosniff"})


# ---------------------------------------------------------------- the same reports for the command line


async def build_report(
    ctx: ReportContext,
    name: str,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    year: int | None = None,
    as_of: date | None = None,
    contributor_id: int | None = None,
    window_code: str | None = None,
    unit: str | None = None,
) -> Report:
    """One of the reports by its name, its parameters checked: the routes and the command line both
    come here, so they refuse the same things alike."""
    if name == "sources-and-uses":
        period = rules.check_period(date_from, date_to, ctx.today)
        return await sources_uses.build(ctx, date_from=period.date_from, date_to=period.date_to)
    if name == "contributor":
        if contributor_id is None:
            raise InvalidInput("the contributor report needs a contributor id", field="contributor", rule="missing")
        return await contributors.build(ctx, contributor_id, as_of=rules.check_as_of(as_of, ctx.today))
    if name == "financial-statements":
        return await statements.build(ctx, year=rules.check_year(year, ctx.today))
    if name == "funds-available":
        return await funds_available.build(ctx, as_of=rules.check_as_of(as_of, ctx.today))
    if name == "funds-available-gcff":
        shown = funds_available_gcff.check_unit(unit)
        return await funds_available_gcff.build(ctx, as_of=rules.check_as_of(as_of, ctx.today), unit=shown)
    if name == "window-portfolio":
        if not window_code:
            raise InvalidInput("the window portfolio needs a window code", field="window", rule="missing")
        return await portfolio.build(ctx, window_code, as_of=rules.check_as_of(as_of, ctx.today))
    if name == "concessional-portfolio":
        return await concessional.build(ctx, as_of=rules.check_as_of(as_of, ctx.today))
    raise InvalidInput(f"no report named {name!r}; one of {', '.join(rules.REPORT_NAMES)}", field="name", rule="one_of")


async def build_named(ctx: ReportContext, name: str, **params: Any) -> Report | bytes:
    """A report (``build_report``) or an IATI file's bytes, by name: the command line's entry."""
    if name == "iati-activities":
        return await iati.activities(ctx)
    if name == "iati-organisation":
        return await iati.organisation(ctx)
    return await build_report(ctx, name, **params)


route_handlers = [ReportsController]
