"""Reports benchmark: every JSON report and a 50-page PDF at 1M postings, and the service's small reads
while a PDF renders (issue 8, acceptance 6).

    .venv/bin/python bench/reports.py                                   # SQLite and PostgreSQL, ~1M postings
    .venv/bin/python bench/reports.py --backend sqlite --postings 60000 --json
    .venv/bin/python bench/reports.py --backend postgresql --keep       # keep the database afterwards

**The facility** (``bench/facility.py``). A fresh database (SQLite: a temporary file; PostgreSQL:
``fundapp_bench_reports_<pid>`` on the server named by ``--database-url``, dropped at the end unless
``--keep``), migrated with the real migrations. Its history runs for 35 months up to a week before today (so
the API's defaults, "to today", cover all of it). What people do once or weekly goes through the real
services (users, FX rates, members and their fees, donors, organisations, calls, the members' decisions,
funding decisions, grant agreements, revaluations, the closing of the months); what happens by the thousand
(pledges, deposits, proposals, transfers, accepted reports, refunds, closures, the secretariat's month) is
written in bulk, each command's entry and rows made by one function of ``bench/plans.py`` in the services'
shape (same lines, dimensions, source types and idempotency keys).

**Checks** (a failure exits 1): both trial balances are zero; the real services still accept the bulk
rows (a deposit settling a bulk instalment, a transfer of a bulk-recognised tranche, a refund, the closure
of a grant whose final report was accepted in bulk, an agreement); sources and uses' balance equals the
cash and interest receivable in the ledger; funds available equals the budgetary 8200 balance.

**Measured.** Each JSON report through its builder and ``render.encode`` in one read transaction with
the API's snapshot (best of ``--runs``, each run printed, with the time spent waiting for SQL and the
statements sent): sources and uses from inception and for the last full year, the financial statements of
that year, funds available, the report of the contributor with the most deposits, the portfolio of the
window with the most grants (a report over 2 s is profiled with cProfile, to stderr). Then a PDF of at
least 50 pages: sources and uses from inception to the month end that gives it about 56 pages (one row per
contributor, organisation and grant), built and rendered in this process, its pages counted with pypdf.
Then the real service (``uvicorn``, one worker) on the database: a client sends ``GET /api/v1/windows``
with a token ``--read-rate`` times a second (50 by default; 0 for back to back), for ``--baseline-s``
alone and then for as long as another client waits for that PDF from
``/api/v1/reports/sources-and-uses?format=pdf``: p50/p95/p99 of the small read in both cases, with
WeasyPrint in a thread of the service (``anyio.to_thread``), in the process pool (``reports/pdf_pool.py``)
and in the pool with its workers at a lower priority (nice +10): the service is started with
``FUNDAPP_PDF_RENDERING`` and ``FUNDAPP_PDF_WORKER_NICENESS`` set for each.

Targets (2-core machine): each JSON report under 2 s, the 50-page PDF under 15 s, p99 of the small read
under 100 ms while the PDF renders. Progress goes to stderr; the table (or ``--json``) to stdout. Times
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and bench/ holds ledger.py, named like
# the ``ledger`` package: drop the directory and put the repository root first.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

import httpx  # noqa: E402
from sqlalchemy import bindparam, func, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402
from sqlmodel import col  # noqa: E402

from bench.common import (  # noqa: E402
    PG_DEFAULT_ADMIN_URL,
    bench_database,
    free_port,
    percentile,
)
from bench.facility import (  # noqa: E402
    Facility,
    Timeline,
    add_months,
    ledger_checks,
    log,
    service_checks,
    vacuum_analyze,
)
from fundapp.cli import upgrade_database  # noqa: E402
from fundapp.core.config import Settings  # noqa: E402
from fundapp.core.db import Database, read_snapshot  # noqa: E402
from fundapp.wiring import register_hooks  # noqa: E402
from governance.models import Contributor, Window  # noqa: E402
from ledger import chart  # noqa: E402
from ledger.models import LedgerAccount, Posting  # noqa: E402
from proposals.models import Grant  # noqa: E402
from reports import contributors as contributor_report  # noqa: E402
from reports import funds_available, portfolio, render, sources_uses, statements  # noqa: E402
from reports.document import Report  # noqa: E402
from reports.rules import ReportFormat  # noqa: E402
from reports.service import ReportContext, report_context  # noqa: E402

SECRET = "bench-reports-" + "x" * 40
TARGET_JSON_S = 2.0
TARGET_PDF_S = 15.0
TARGET_PDF_PAGES = 50
TARGET_P99_MS = 100.0


# ------------------------------------------------------------------------------------------ the reports' checks


async def ledger_sum(session: AsyncSession, codes: tuple[str, ...], day: date, window_id: int | None = None) -> int:
    """An independent sum of reporting amounts (raw SQL) for the report checks."""
    query = (
        "SELECT coalesce(sum(p.reporting_amount), 0) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE a.code IN :codes AND p.entry_date <= :day"
    )
    statement = text(query).bindparams(bindparam("codes", expanding=True))
    return int((await session.execute(statement, {"codes": list(codes), "day": day})).scalar_one())


def cell_of(report: Report, table: str, label: str, column: str) -> Any:
    found = report.table(table)
    index = found.column(column)
    for row in found.rows:
        first = row.cells[0]
        if getattr(first, "key", None) == label:
            return row.cells[index]
    raise KeyError(f"{report.name}: no row {label} in {table}")


async def report_checks(db: Database, reports: dict[str, Report]) -> list[str]:
    """The figures the reports must agree with, summed independently from the postings."""
    problems: list[str] = []
    async with db.session(write=False) as session:
        if "sources-and-uses (inception)" in reports:
            report = reports["sources-and-uses (inception)"]
            try:
                balance = cell_of(report, "summary", "sources_uses.balance", "inception").minor
                cash = await ledger_sum(session, (chart.CASH, chart.INTEREST_RECEIVABLE), report.date_to)
                if balance != cash:
                    problems.append(f"sources and uses: balance {balance} but cash and interest receivable {cash}")
            except KeyError as missing:
                problems.append(f"sources and uses: {missing}")
        if "funds-available" in reports:
            report = reports["funds-available"]
            try:
                available = cell_of(report, "funds", "funds_available.available", "total").minor
                book = await ledger_sum(session, (chart.AVAILABLE,), report.date_to)
                if available != book:
                    problems.append(f"funds available: {available} but the 8200 balance is {book}")
            except KeyError as missing:
                problems.append(f"funds available: {missing}")
    return problems


# ------------------------------------------------------------------------------------------ report timings


class SqlMeter:
    """Statements sent and the time spent waiting for them (SQLAlchemy's cursor events)."""

    def __init__(self, db: Database) -> None:
        from sqlalchemy import event

        self.statements = 0
        self.seconds = 0.0
        self._started: list[float] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *_: Any) -> None:
        self.statements += 1
        if self._started:
            self.seconds += time.perf_counter() - self._started.pop()

    def mark(self) -> tuple[int, float]:
        return self.statements, self.seconds


Builder = Callable[[ReportContext], Awaitable[Report]]


def report_builders(facility_facts: dict[str, Any], timeline: Timeline, today: date) -> dict[str, Builder]:
    year = timeline.statement_year
    contributor = facility_facts["biggest_contributor"]
    window = facility_facts["biggest_window"]
    return {
        "sources-and-uses (inception)": lambda ctx: sources_uses.build(ctx, date_from=None, date_to=today),
        f"sources-and-uses ({year})": lambda ctx: sources_uses.build(
            ctx, date_from=date(year, 1, 1), date_to=date(year, 12, 31)
        ),
        f"financial-statements ({year})": lambda ctx: statements.build(ctx, year=year),
        "funds-available": lambda ctx: funds_available.build(ctx, as_of=today),
        "contributor": lambda ctx: contributor_report.build(ctx, contributor, as_of=today),
        "window-portfolio": lambda ctx: portfolio.build(ctx, window, as_of=today),
    }


async def build_report(db: Database, settings: Settings, build: Builder) -> tuple[Report, dict[str, float]]:
    """One report as the API builds it: one read transaction (one snapshot), the context, the builder."""
    started = time.perf_counter()
    async with db.session(write=False) as session:
        await read_snapshot(session)
        ctx = await report_context(session, settings, datetime.now(UTC))
        built = time.perf_counter()
        report = await build(ctx)
        done = time.perf_counter()
    return report, {"context_s": built - started, "build_s": done - built}


async def time_json_reports(
    db: Database, settings: Settings, builders: dict[str, Builder], runs: int, profile: bool
) -> tuple[dict[str, Any], dict[str, Report]]:
    meter = SqlMeter(db)
    results: dict[str, Any] = {}
    reports: dict[str, Report] = {}
    for name, build in builders.items():
        attempts = []
        for _ in range(runs):
            statements_before, sql_before = meter.mark()
            started = time.perf_counter()
            report, parts = await build_report(db, settings, build)
            encoded = time.perf_counter()
            body = render.encode(report, ReportFormat.JSON, "en")
            finished = time.perf_counter()
            statements_after, sql_after = meter.mark()
            attempts.append(
                {
                    "total_s": finished - started,
                    "build_s": parts["build_s"] + parts["context_s"],
                    "json_s": finished - encoded,
                    "sql_s": sql_after - sql_before,
                    "statements": statements_after - statements_before,
                    "bytes": len(body),
                }
            )
        reports[name] = report
        best = min(attempts, key=lambda a: a["total_s"])
        results[name] = {
            "runs": attempts,
            "best_s": best["total_s"],
            "rows": sum(len(t.rows) for t in report.tables),
            "verdict": "PASS" if best["total_s"] < TARGET_JSON_S else "MISS",
        }
        log(
            f"  {name}: best {best['total_s'] * 1000:,.0f} ms of "
            + ", ".join(f"{a['total_s'] * 1000:,.0f}" for a in attempts)
            + f" (SQL {best['sql_s'] * 1000:,.0f} ms in {best['statements']} statements, "
            f"JSON {best['json_s'] * 1000:,.0f} ms;"
            f" {results[name]['rows']:,} rows, {best['bytes'] / 1024:,.0f} KiB) {results[name]['verdict']}"
        )
        if profile or best["total_s"] >= TARGET_JSON_S:
            results[name]["profile"] = await profile_report(db, settings, build)
    return results, reports


async def profile_report(db: Database, settings: Settings, build: Builder, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    report, _ = await build_report(db, settings, build)
    render.encode(report, ReportFormat.JSON, "en")
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(top)
    print(f"\n---- cProfile of {report.name}, top {top} by cumulative time ----\n{out.getvalue()}", file=sys.stderr)
    return out.getvalue()


def pdf_pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


# Rows of sources and uses that fill about 56 A4 pages (about 24 rows a page: grant titles take two lines).
PDF_ROWS = 1350


async def time_pdf(db: Database, settings: Settings, build: Builder, runs: int) -> dict[str, Any]:
    """The PDF built and rendered in this process (WeasyPrint on this thread), each run timed; one run
    only when it has fewer pages than the target."""
    attempts: list[dict[str, float]] = []
    pages = 0
    for _ in range(runs):
        if attempts and pages < TARGET_PDF_PAGES:
            break
        started = time.perf_counter()
        report, _ = await build_report(db, settings, build)
        built = time.perf_counter()
        pdf = render.encode(report, ReportFormat.PDF, "en", facility_name=settings.facility_name)
        finished = time.perf_counter()
        pages = pdf_pages(pdf)
        attempts.append(
            {"total_s": finished - started, "build_s": built - started, "render_s": finished - built, "bytes": len(pdf)}
        )
        log(
            f"  PDF: {pages} pages, {len(pdf) / 1024:,.0f} KiB in {finished - started:.1f} s "
            f"(build {built - started:.1f} s, WeasyPrint {finished - built:.1f} s)"
        )
    best = min(attempts, key=lambda a: a["total_s"])
    return {
        "report": report.name,
        "pages": pages,
        "rows": sum(len(t.rows) for t in report.tables),
        "runs": attempts,
        "best_s": best["total_s"],
        "verdict": "PASS" if best["total_s"] < TARGET_PDF_S and pages >= TARGET_PDF_PAGES else "MISS",
    }


# ------------------------------------------------------------------------------------------ the live service


def serve(argv: list[str]) -> None:
    """``bench/reports.py serve PORT``: the real service on ``FUNDAPP_DATABASE_URL``, one worker, rendering PDFs
    where its settings say (``FUNDAPP_PDF_RENDERING``, ``FUNDAPP_PDF_WORKER_NICENESS``)."""
    import uvicorn

    uvicorn.run(
        "fundapp.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=int(argv[0]),
        workers=1,
        log_level="warning",
        access_log=False,
    )


@contextlib.contextmanager
def live_service(url: str, workdir: Path, mode: str, niceness: int | None = None) -> Any:
    """The service in a process of its own, its PDFs rendered in ``mode`` (``Settings.pdf_rendering``), the
    pool's workers at ``niceness`` (``Settings.pdf_worker_niceness``; the default if None)."""
    port = free_port()
    env = {
        **os.environ,
        "FUNDAPP_ENV": "test",
        "FUNDAPP_DATABASE_URL": url,
        "FUNDAPP_SECRET_KEY": SECRET,
        "FUNDAPP_VAR_DIR": str(workdir / "var"),
        "FUNDAPP_PDF_RENDERING": mode,
        "FUNDAPP_PDF_WORKER_NICENESS": str(Settings().pdf_worker_niceness if niceness is None else niceness),
    }
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve", str(port)], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def latency_figures(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"requests": 0}
    return {
        "requests": len(latencies),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
    }


async def small_reads_during(
    base: str, token: str, pdf_path: str | None, seconds: float, warm_path: str, rate: float
) -> dict[str, Any]:
    """``GET /api/v1/windows`` from one client, ``rate`` a second (0: back to back), for ``seconds`` alone or
    for as long as another client waits for ``pdf_path``. Latencies of the reads started while it was in
    flight."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=300) as client:
        warm = await client.get(warm_path)
        if warm.status_code != 200:
            raise RuntimeError(f"warm-up {warm_path}: {warm.status_code} {warm.text[:200]}")
        for _ in range(20):
            await client.get("/api/v1/windows")
        done = asyncio.Event()
        pdf: dict[str, Any] = {}

        async def fetch_pdf() -> None:
            assert pdf_path is not None
            started = time.perf_counter()
            try:
                response = await client.get(pdf_path)
                pdf.update(
                    status=response.status_code,
                    seconds=time.perf_counter() - started,
                    bytes=len(response.content),
                    pages=pdf_pages(response.content) if response.status_code == 200 else 0,
                )
            finally:
                done.set()

        async def read() -> None:
            deadline = time.perf_counter() + seconds
            next_start = time.perf_counter()
            while not done.is_set() and (pdf_path is not None or time.perf_counter() < deadline):
                if rate:
                    await asyncio.sleep(max(0.0, next_start - time.perf_counter()))
                    next_start = max(next_start + 1 / rate, time.perf_counter() - 1 / rate)
                started = time.perf_counter()
                response = await client.get("/api/v1/windows")
                if not done.is_set() or pdf_path is None:
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status_code] += 1

        load_before = os.getloadavg()[0]
        tasks = [asyncio.create_task(read())]
        if pdf_path is not None:
            tasks.append(asyncio.create_task(fetch_pdf()))
        await asyncio.gather(*tasks)
    return {
        **latency_figures(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "pdf": pdf or None,
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
    }


# The service's PDF modes measured: WeasyPrint in a thread of the service, or in the process pool (its
# workers at the pool's own priority, or at a lower one).
SERVICE_MODES: dict[str, tuple[str, int | None]] = {
    "thread": ("thread", None),
    "pool": ("pool", None),
    "pool, workers at nice +10": ("pool", 10),
}


def measure_service(
    url: str, workdir: Path, token: str, pdf_path: str, baseline_s: float, rate: float
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    warm = "/api/v1/reports/funds-available?format=pdf"
    for mode, (how, niceness) in SERVICE_MODES.items():
        with live_service(url, workdir, how, niceness) as base:
            log(f"  service up ({mode}): small reads alone for {baseline_s:g} s")
            alone = asyncio.run(small_reads_during(base, token, None, baseline_s, warm, rate))
            log(f"  ({mode}) p99 {alone.get('p99_ms', 0):.1f} ms alone; now during {pdf_path}")
            during = asyncio.run(small_reads_during(base, token, pdf_path, 0, warm, rate))
            pdf = during["pdf"] or {}
            log(
                f"  ({mode}) during the PDF ({pdf.get('pages')} pages, {pdf.get('seconds', 0):.1f} s): "
                f"p50 {during.get('p50_ms', 0):.1f}, p95 {during.get('p95_ms', 0):.1f}, "
                f"p99 {during.get('p99_ms', 0):.1f}, max {during.get('max_ms', 0):.1f} ms "
                f"over {during['requests']} reads"
            )
            result[mode] = {
                "alone": alone,
                "during_pdf": during,
                "verdict": "PASS" if during.get("p99_ms", 1e9) < TARGET_P99_MS else "MISS",
            }
    return result


# ------------------------------------------------------------------------------------------ one backend


def settings_for(url: str, workdir: Path) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        secret_key=SECRET,
        var_dir=workdir / "var",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
    )


async def biggest(db: Database) -> dict[str, Any]:
    """The contributor with the most deposits made available (8100) and the window with the most grants."""
    async with db.session(write=False) as session:
        contributor = (
            await session.execute(
                select(col(Posting.contributor_id))
                .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
                .where(col(LedgerAccount.code) == chart.RESOURCES_RECEIVED)
                .group_by(col(Posting.contributor_id))
                .order_by(func.sum(col(Posting.reporting_amount)))
                .limit(1)
            )
        ).scalar_one()
        window = (
            await session.execute(
                select(col(Window.code))
                .join(Grant, col(Grant.window_id) == col(Window.id))
                .group_by(col(Window.code))
                .order_by(func.count().desc(), col(Window.code))
                .limit(1)
            )
        ).scalar_one()
        name = (
            await session.execute(select(col(Contributor.name)).where(col(Contributor.id) == contributor))
        ).scalar_one()
    return {"biggest_contributor": int(contributor or 0), "contributor_name": name, "biggest_window": window}


async def build_and_measure(url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    settings = settings_for(url, workdir)
    today = datetime.now(UTC).date()
    timeline = Timeline.before(today)
    result: dict[str, Any] = {"timeline": {"start": timeline.start, "end": timeline.end}}
    try:
        facility = Facility(db, settings, timeline, postings=args.postings, seed=args.seed, batch_size=args.batch_size)
        started = time.perf_counter()
        log(f"building the facility, {timeline.start} to {timeline.end} (~{args.postings:,} postings)")
        await facility.setup()
        await facility.run()
        await facility.finish()
        build_s = time.perf_counter() - started
        log(
            f"facility built in {build_s:.0f} s (bulk {facility.bulk_s:.0f} s in {facility.counts.flushes} "
            f"transactions, services {facility.service_s:.0f} s)"
        )
        log("checking: the services on the bulk rows, both trial balances")
        services = await service_checks(facility)
        ledger = await ledger_checks(db)
        if not db.is_sqlite:
            await vacuum_analyze(db)
        counts = facility.counts
        result["facility"] = {
            "build_s": build_s,
            "bulk_s": facility.bulk_s,
            "services_s": facility.service_s,
            "size": ledger["size"],
            "pledges": counts.pledges,
            "conditional_pledges": counts.conditional_pledges,
            "instalments": counts.instalments,
            "deposits": dict(counts.deposits),
            "proposals": dict(counts.proposals),
            "grants": counts.grants,
            "agreements": counts.agreements,
            "disbursements": counts.disbursements,
            "reports_accepted": counts.reports_accepted,
            "tranches_recognised": counts.tranches_recognised,
            "refunds": counts.refunds,
            "closures": counts.closures,
            "window_allocations": counts.allocations,
            "manual_entries": counts.manual_entries,
            "revaluations": counts.revaluations,
            "periods_closed": counts.periods_closed,
            "grants_not_decided_for_want_of_funds": counts.grants_skipped_no_funds,
        }
        result["checks"] = {"services": services, "ledger": {k: v for k, v in ledger.items() if k != "size"}}
        facts = await biggest(db)
        result["subjects"] = facts
        log(
            f"data: {ledger['size']['entries']:,} entries, {ledger['size']['postings']:,} postings, "
            f"{ledger['size']['grants']:,} grants, {ledger['size']['contributions']:,} contributions; "
            f"balanced: {ledger['balanced']}; service checks: {services['problems'] or 'all accepted'}"
        )
        builders = report_builders(facts, timeline, today)
        log(f"JSON reports, best of {args.runs}")
        result["json"], reports = await time_json_reports(db, settings, builders, args.runs, args.profile)
        result["checks"]["reports"] = await report_checks(db, reports)
        # The PDF: sources and uses from inception to the month end that gives it about 56 pages (one row per
        # grant, organisation and contributor), later when it has fewer than 50.
        day = facility.pdf_day(PDF_ROWS)
        if day >= timeline.end:  # a small facility: the whole history is not 50 pages
            day = today
        while True:
            log(f"PDF of sources and uses from inception to {day} ({args.pdf_runs} run(s))")
            pdf = await time_pdf(
                db, settings, functools.partial(sources_uses.build, date_from=None, date_to=day), args.pdf_runs
            )
            if pdf["pages"] >= TARGET_PDF_PAGES or day >= today:
                break
            day = min(today, add_months(day, 4) - timedelta(days=1))
        result["pdf"] = {**pdf, "date_to": day}
    finally:
        await db.dispose()
    result["token"] = facility.token
    result["correct"] = bool(ledger["balanced"] and not services["problems"] and not result["checks"]["reports"])
    return result


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = ("shared_buffers", "autovacuum")
    with bench_database(backend, args.database_url, "reports", keep=args.keep, settings=settings) as database:
        url, workdir = database.url, database.workdir
        log(f"[{backend}] migrating")
        upgrade_database(url)
        load_before = os.getloadavg()
        result = asyncio.run(build_and_measure(url, workdir, args))
        token = result.pop("token")
        if not args.no_service:
            log("the live service: small reads alone and while the PDF renders")
            result["service"] = measure_service(
                url,
                workdir,
                token,
                f"/api/v1/reports/sources-and-uses?format=pdf&date_to={result['pdf']['date_to']}",
                args.baseline_s,
                args.read_rate,
            )
        load = {"before": list(load_before), "after": list(os.getloadavg())}
        return {"backend": backend, "server": database.server, "load_average": load, **result}


# ------------------------------------------------------------------------------------------ output


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def api_pdf_mode() -> str:
    """Where the service renders PDFs by default (``Settings.pdf_rendering``): in the process pool or in a
    thread."""
    return Settings().pdf_rendering


def table_rows(run: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    size = run["facility"]["size"]
    f = run["facility"]
    rows.append(
        (
            "data",
            f"{size['entries']:,} entries, {size['postings']:,} postings; {size['contributors']} contributors, "
            f"{size['pledges']:,} pledges ({size['instalments']:,} instalments), {size['contributions']:,} "
            f"contributions, {size['proposals']:,} proposals, {size['grants']:,} grants, "
            f"{size['disbursements']:,} transfers; {size['database_bytes'] / 2**20:,.0f} MiB",
            "",
            "",
        )
    )
    rows.append(
        (
            "build",
            f"{f['build_s']:.0f} s (bulk {f['bulk_s']:.0f} s, services {f['services_s']:.0f} s)",
            "",
            "",
        )
    )
    for name, figures in run["json"].items():
        best = min(figures["runs"], key=lambda a: a["total_s"])
        rows.append(
            (
                f"JSON {name}",
                f"{figures['best_s'] * 1000:,.0f} ms (runs "
                + " / ".join(f"{a['total_s'] * 1000:,.0f}" for a in figures["runs"])
                + f"; SQL {best['sql_s'] * 1000:,.0f} ms in {best['statements']} statements; {figures['rows']:,} rows)",
                f"< {TARGET_JSON_S:g} s",
                figures["verdict"],
            )
        )
    pdf = run["pdf"]
    best = min(pdf["runs"], key=lambda a: a["total_s"])
    rows.append(
        (
            f"PDF {pdf['report']} to {pdf['date_to']} (in process)",
            f"{pdf['pages']} pages in {pdf['best_s']:.1f} s (runs "
            + " / ".join(f"{a['total_s']:.1f}" for a in pdf["runs"])
            + f"; build {best['build_s']:.1f} s, WeasyPrint {best['render_s']:.1f} s; {pdf['rows']:,} rows)",
            f">= {TARGET_PDF_PAGES} pages, < {TARGET_PDF_S:g} s",
            pdf["verdict"],
        )
    )
    service = run.get("service") or {}
    for mode, figures in service.items():
        alone, during = figures["alone"], figures["during_pdf"]
        pdf_seen = during.get("pdf") or {}
        rows.append(
            (
                f"GET /api/v1/windows alone ({mode})",
                f"p50 {alone['p50_ms']:.1f} / p95 {alone['p95_ms']:.1f} / p99 {alone['p99_ms']:.1f} ms "
                f"({alone['requests']:,} reads)",
                "",
                "",
            )
        )
        rows.append(
            (
                f"GET /api/v1/windows during the PDF ({mode})",
                f"p50 {during.get('p50_ms', 0):.1f} / p95 {during.get('p95_ms', 0):.1f} / p99 "
                f"{during.get('p99_ms', 0):.1f} / max {during.get('max_ms', 0):.1f} ms ({during['requests']:,} reads; "
                f"PDF {pdf_seen.get('pages')} pages, {pdf_seen.get('seconds', 0):.1f} s over HTTP)",
                f"p99 < {TARGET_P99_MS:g} ms",
                figures["verdict"],
            )
        )
    return rows


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"reports benchmark - {report['date']} - {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(f"command: {report['command']}; reports/api.py renders PDFs in: {report['api_pdf_mode']}")
    for run in report["runs"]:
        print()
        load = run["load_average"]
        print(
            f"{run['backend']} ({run['server']}); load average before {' '.join(f'{v:.2f}' for v in load['before'])}, "
            f"after {' '.join(f'{v:.2f}' for v in load['after'])}; history {run['timeline']['start']} to "
            f"{run['timeline']['end']}"
        )
        rows = table_rows(run)
        widths = [max(len(r[i]) for r in [*rows, ("metric", "measured", "target", "result")]) for i in range(4)]
        print(
            "| "
            + " | ".join(h.ljust(w) for h, w in zip(("metric", "measured", "target", "result"), widths, strict=True))
            + " |"
        )
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        checks = run["checks"]
        problems = checks["services"]["problems"] + checks["reports"]
        balanced = checks["ledger"]["balanced"]
        print(
            f"checks: trial balances {'zero' if balanced else 'OFF'}; services on bulk rows: "
            + "; ".join(checks["services"]["done"].values())
            + (f"; PROBLEMS: {problems}" if problems else "; report figures equal the ledger's sums")
        )
        print(f"correct: {'OK' if run['correct'] else 'FAILED'}")


def main(argv: list[str] | None = None) -> int:
    register_hooks()  # users' bindings are checked by the domains, as in the app
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postings", type=int, default=1_000_000, help="postings to build (default 1,000,000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--database-url", default=None, help=f"PostgreSQL admin URL (default {PG_DEFAULT_ADMIN_URL})")
    parser.add_argument("--runs", type=int, default=3, help="runs of each JSON report (the best is the figure)")
    parser.add_argument("--pdf-runs", type=int, default=2, help="runs of the PDF")
    parser.add_argument("--baseline-s", type=float, default=5.0, help="seconds of small reads with no PDF")
    parser.add_argument("--batch-size", type=int, default=2000, help="drafts per post_batch transaction")
    parser.add_argument("--no-service", action="store_true", help="skip the live service's latency phase")
    parser.add_argument(
        "--read-rate", type=float, default=50.0, help="small reads a second while the PDF renders (0: back to back)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each report once (to stderr)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints where it is)")
    parser.add_argument("--save", metavar="FILE", help="also write the JSON object to FILE")
    args = parser.parse_args(argv)
    if args.postings < 20_000:
        parser.error("--postings must be at least 20000")
    if min(args.runs, args.pdf_runs) < 1:
        parser.error("--runs and --pdf-runs must be at least 1")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {
        "benchmark": "reports",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": " ".join(["bench/reports.py", *argv]),
        "api_pdf_mode": api_pdf_mode(),
        "targets": {
            "json_s": TARGET_JSON_S,
            "pdf_s": TARGET_PDF_S,
            "pdf_pages": TARGET_PDF_PAGES,
            "small_read_p99_ms": TARGET_P99_MS,
        },
        "runs": [run_backend(b, args) for b in backends],
    }
    document = json.dumps(report, indent=2, default=str)
    if args.save:
        Path(args.save).write_text(document + "\n", encoding="utf-8")
    if args.json:
        print(document)
    else:
        print_report(report)
    return 0 if all(r["correct"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
