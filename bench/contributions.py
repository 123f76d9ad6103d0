"""Contribution benchmark: deposits per second through ``Governance.record_contribution`` (one deposit per
request) or ``Governance.record_bank_statement`` (``--statement N``: a bank statement's N receipts per request).

    .venv/bin/python bench/contributions.py --backend both --deposits 50000
    .venv/bin/python bench/contributions.py --backend both --deposits 50000 --statement 100
    .venv/bin/python bench/contributions.py --backend sqlite --deposits 5000 --json
    .venv/bin/python bench/contributions.py --backend postgresql --deposits 3000 --profile

Creates a fresh database (SQLite: a temporary file; PostgreSQL: ``fundapp_bench_contrib_<pid>`` on the
server named by ``--database-url``, dropped at the end), migrates it with the real migrations, and builds
a realistic facility through the real services: 12 members in two tiers assessed for 2025 and 2026, 40
donors, monthly FX rates for EUR, GBP, CHF, JPY and SEK over 24 months, and 500 pledges (pooled or
earmarked to the six windows, some conditional) whose instalments are scaled so the deposits have
something to settle (up to 120 per pledge).

Then it posts N deposits, one transaction each (a new session, ``Governance`` and commit per deposit, like one
API request) or, with ``--statement``, one transaction per bank statement; each with an idempotency key,
from ``--clients`` concurrent clients (default 1). The mix is about 60% USD, 15% EUR, 10% GBP and 5% each
CHF, JPY and SEK; about 75% settle an instalment (or an assessed fee) exactly, 10% in part, 7% over-pay it
and 8% settle nothing (unapplied credit). At the end both trial balances must be zero and every deposit
must have been recorded once; a sample of keys is replayed and must post nothing.

Reported: deposits/s against the target (500/s on a 2-core machine: PASS/MISS), latency percentiles,
statements through SQLAlchemy per deposit, data sizes. ``--profile`` runs the deposits under cProfile and prints the top
costs to stderr. Progress goes to stderr; the table (or ``--json``) to stdout. The exit code is 1 only
when a check of correctness fails (a book off balance, a deposit missing), never for speed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and bench/ holds ledger.py, named like
# the ``ledger`` package: drop the directory and put the repository root first.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

from sqlalchemy import event, func, select, text  # noqa: E402

from bench.common import (  # noqa: E402
    PG_DEFAULT_ADMIN_URL,
    bench_database,
    percentile,
)
from fundapp.cli import upgrade_database  # noqa: E402
from fundapp.core.audit import Actor  # noqa: E402
from fundapp.core.config import Settings  # noqa: E402
from fundapp.core.db import Database  # noqa: E402
from governance.models import Contribution, PledgeInstalment  # noqa: E402
from governance.schemas import (  # noqa: E402
    MAX_RECEIPTS_PER_STATEMENT,
    ContributionCreate,
    ContributorCreate,
    MemberCreate,
    PledgeCreate,
    TierFeeSet,
)
from governance.service import Governance, Receipt  # noqa: E402
from ledger import Book, Ledger, trial_balance  # noqa: E402
from ledger.models import JournalEntry, Posting  # noqa: E402
from ledger.money import exponent  # noqa: E402

REPORTING = "USD"
ACTOR = Actor(None, "bench")
TARGET = 500  # deposits/s on the reference 2-core machine

START = date(2025, 1, 1)
MONTHS = 24
END = date(2026, 12, 31)
BASE_RATES = {
    "EUR": ("1.0850", 4),
    "GBP": ("1.2700", 4),
    "CHF": ("1.1250", 4),
    "JPY": ("0.006650", 6),
    "SEK": ("0.09500", 5),
}
# Deposits, pledges and donors follow the same currency mix.
MIX = {"USD": 60, "EUR": 15, "GBP": 10, "CHF": 5, "JPY": 5, "SEK": 5}
MEMBERS = [
    ("MEX", "I"),
    ("PHL", "I"),
    ("MAR", "I"),
    ("SEN", "II"),
    ("GHA", "II"),
    ("ECU", "II"),
    ("BGD", "I"),
    ("LKA", "II"),
    ("JOR", "II"),
    ("KEN", "II"),
    ("SLV", "II"),
    ("NPL", "II"),
]
DONORS = 40
PLEDGES = 500
WINDOWS = ["LMG", "SKL", "TEC", "PRO", "IRR", "PAR"]
KINDS = ("exact", "partial", "over", "unapplied")
KIND_WEIGHTS = (75, 10, 7, 8)
MAX_INSTALMENTS = 120
BOOKS = ("financial", "budgetary")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def text_amount(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-exponent(currency)))


def usd_to_minor(usd: float, currency: str) -> int:
    """A round amount in ``currency`` worth about ``usd`` US dollars (whole units)."""
    local = usd if currency == REPORTING else usd / float(BASE_RATES[currency][0])
    return int(max(1, round(local)) * 10 ** exponent(currency))


def apportion(total: int, parts: int, step: int) -> list[int]:
    """``total`` in ``parts`` instalments, each a multiple of ``step`` but the last, summing exactly."""
    each = max(step, total // parts // step * step)
    amounts = [each] * (parts - 1)
    amounts.append(total - sum(amounts))
    assert amounts[-1] > 0 and sum(amounts) == total
    return amounts


# ------------------------------------------------------------------------------------------ the facility


@dataclass
class Receivable:
    """An instalment (or assessed fee) the deposits may settle, with what the bench thinks is still due."""

    kind: str  # "instalment" | "assessment"
    id: int
    contributor: int
    currency: str
    due_on: date
    outstanding: int


@dataclass
class Facility:
    contributors: dict[str, list[int]] = field(default_factory=dict)  # currency -> contributors paying in it
    open: dict[str, deque[Receivable]] = field(default_factory=dict)  # currency -> receivables by due date
    pledges: int = 0
    instalments: int = 0
    assessments: int = 0
    conditional: int = 0
    conditions_met: int = 0
    rates: int = 0


async def in_transaction(db: Database, settings: Settings, now: datetime, work: Callable[[Governance], Any]) -> Any:
    async with db.session() as session:
        result = await work(Governance(session, settings=settings, actor=ACTOR, now=now))
        await session.commit()
        return result


async def admit_members_and_assess(
    db: Database, settings: Settings, rng: random.Random, now: datetime, facility: Facility
) -> None:
    """The members, the fee schedule and the assessments of 2025 and 2026 (USD)."""
    for code, tier in MEMBERS:
        joined = date(2023, 1, 1) if rng.random() < 0.8 else date(2025, rng.randint(2, 9), rng.randint(1, 28))

        async def admit(gov: Governance, code: str = code, tier: str = tier, joined: date = joined) -> int:
            await gov.admit_member(MemberCreate.model_validate({"code": code, "tier": tier, "joined_on": joined}))
            contributor = await gov.member_contributor(code)
            assert contributor.id is not None
            return contributor.id

        facility.contributors["USD"].append(await in_transaction(db, settings, now, admit))
    for year in (2025, 2026):
        for tier, amount in (("I", "250000.00"), ("II", "100000.00")):
            fee = TierFeeSet.model_validate({"year": year, "tier": tier, "amount": amount, "currency": "USD"})
            await in_transaction(db, settings, now, functools.partial(Governance.set_fee, data=fee))
        assessed_at = datetime(year, 1, 15, 9, tzinfo=UTC)
        created, _, _ = await in_transaction(db, settings, assessed_at, functools.partial(Governance.assess, year=year))
        for a in created:
            facility.open["USD"].append(Receivable("assessment", a.id, a.contributor_id, "USD", a.due_on, a.amount))
            facility.assessments += 1


async def build_facility(db: Database, settings: Settings, rng: random.Random, deposits: int) -> Facility:
    facility = Facility(contributors={c: [] for c in MIX}, open={c: deque() for c in MIX})
    now = datetime(2027, 1, 1, 9, tzinfo=UTC)  # the facility as built by the end of its history

    # Monthly rates: a random walk per currency, on the first of each month.
    async def rates(gov: Governance) -> int:
        ledger = Ledger(gov.session, reporting_currency=REPORTING, actor=ACTOR, now=now)
        count = 0
        for currency, (base, places) in BASE_RATES.items():
            value, quantum = float(base), Decimal(1).scaleb(-places)
            for month in range(MONTHS + 1):
                await ledger.add_rate(currency, add_months(START, month), Decimal(repr(value)).quantize(quantum))
                value *= 1 + rng.gauss(0, 0.015)
                count += 1
        return count

    facility.rates = await in_transaction(db, settings, now, rates)

    await admit_members_and_assess(db, settings, rng, now, facility)

    # Donors, each paying in one currency of the mix.
    donor_currencies = [c for c, w in MIX.items() for _ in range(round(DONORS * w / 100))]
    kinds = ["government"] * 6 + ["multilateral", "foundation", "private_sector"]
    for n, currency in enumerate(donor_currencies):
        body: dict[str, Any] = {"kind": rng.choice(kinds), "name": f"Donor {n + 1:02d} ({currency})"}

        async def add(gov: Governance, body: dict[str, Any] = body) -> int:
            contributor = await gov.add_contributor(ContributorCreate.model_validate(body))
            assert contributor.id is not None
            return contributor.id

        facility.contributors[currency].append(await in_transaction(db, settings, now, add))

    # Pledges: the currency mix, pooled or earmarked, instalments spread over the 24 months. Enough
    # instalments that most deposits settle one: ~1.1 per deposit, at most 120 per pledge.
    per_pledge = max(1, min(MAX_INSTALMENTS, -(-int(deposits * 1.1) // PLEDGES)))
    pledge_currencies = [c for c, w in MIX.items() for _ in range(round(PLEDGES * w / 100))]
    receivables: list[Receivable] = []
    for n, currency in enumerate(pledge_currencies):
        contributor = rng.choice(facility.contributors[currency])
        signed_on = START + timedelta(days=rng.randint(0, 30))
        parts = max(1, min(MAX_INSTALMENTS, round(per_pledge * rng.uniform(0.8, 1.2))))
        total = usd_to_minor(rng.lognormvariate(14.5, 0.8), currency)
        total = max(total, parts * 10 ** exponent(currency))
        first_due = signed_on + timedelta(days=14)
        spacing = (END - timedelta(days=20) - first_due).days / parts
        dues = [first_due + timedelta(days=int(k * spacing)) for k in range(parts)]
        conditional = rng.random() < 0.05
        body = {
            "contributor_id": contributor,
            "amount": text_amount(total, currency),
            "currency": currency,
            "signed_on": signed_on,
            "window_code": None if rng.random() < 0.3 else rng.choice(WINDOWS),
            "conditional": conditional,
            "condition": "subject to parliamentary appropriation" if conditional else "",
            "reference": f"CA-{n + 1:04d}",
            "instalments": [
                {"due_on": d, "amount": text_amount(a, currency)}
                for d, a in zip(dues, apportion(total, parts, 10 ** exponent(currency)), strict=True)
            ],
        }
        met_on = signed_on + timedelta(days=rng.randint(30, 200)) if conditional and rng.random() < 0.5 else None

        async def sign(gov: Governance, body: dict[str, Any] = body, met_on: date | None = met_on) -> list[Any]:
            pledge = await gov.pledge(PledgeCreate.model_validate(body))
            if met_on is not None:
                assert pledge.id is not None
                await gov.condition_met(pledge.id, met_on)
            rows = await gov.session.execute(
                select(PledgeInstalment)
                .where(PledgeInstalment.pledge_id == pledge.id)  # type: ignore[arg-type]
                .order_by(PledgeInstalment.number)  # type: ignore[arg-type]
            )
            return list(rows.scalars())

        for i in await in_transaction(db, settings, now, sign):
            receivables.append(Receivable("instalment", i.id, contributor, currency, i.due_on, i.amount))
        facility.pledges += 1
        facility.instalments += parts
        facility.conditional += conditional
        facility.conditions_met += met_on is not None
        if (n + 1) % 100 == 0:
            log(f"  {n + 1} pledges signed ({facility.instalments} instalments)")
    receivables.sort(key=lambda r: (r.due_on, r.id))
    for r in receivables:
        facility.open[r.currency].append(r)
    for currency in MIX:
        facility.open[currency] = deque(sorted(facility.open[currency], key=lambda r: (r.due_on, r.kind, r.id)))
    return facility


# ------------------------------------------------------------------------------------------ the deposits


@dataclass
class Deposit:
    body: dict[str, Any]
    key: str
    kind: str
    currency: str


def next_deposit(n: int, facility: Facility, rng: random.Random) -> Deposit:
    currency = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
    queue = facility.open[currency]
    if kind == "unapplied" or not queue:
        contributor = rng.choice(facility.contributors[currency])
        amount = usd_to_minor(rng.lognormvariate(10.5, 1.0), currency)
        value_date = START + timedelta(days=rng.randint(0, (END - START).days))
        body = {"contributor_id": contributor, "value_date": value_date, "amount": text_amount(amount, currency)}
        return Deposit({**body, "currency": currency, "reference": f"TT-{n:07d}"}, f"bench-{n}", "unapplied", currency)
    # One of the first few receivables due, so consecutive deposits come from different contributors.
    index = rng.randrange(min(len(queue), 8))
    target = queue[index]
    step = 10 ** exponent(currency)
    if kind == "partial" and target.outstanding >= 2 * step:
        amount = max(step, target.outstanding * rng.randint(30, 90) // 100 // step * step)
    elif kind == "over":
        amount = target.outstanding + max(step, target.outstanding * rng.randint(1, 20) // 100 // step * step)
    else:
        kind, amount = "exact", target.outstanding
    target.outstanding -= min(amount, target.outstanding)
    if target.outstanding == 0:
        del queue[index]
    value_date = min(END, target.due_on + timedelta(days=rng.randint(-5, 10)))
    body = {
        "contributor_id": target.contributor,
        "value_date": value_date,
        "amount": text_amount(amount, currency),
        "currency": currency,
        f"{target.kind}_id": target.id,
        "reference": f"TT-{n:07d}",
    }
    return Deposit(body, f"bench-{n}", kind, currency)


class StatementCounter:
    """Counts SQL statements sent through SQLAlchemy (its cursor-execute event). On SQLite the one-trip
    INSERTs of ``fundapp.core.writes`` go to the driver directly and are not among them."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_: Any) -> None:
        self.count += 1


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a local process, from /proc (None when it is not visible here)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_cpu(db: Database) -> dict[int, float] | None:
    """CPU seconds of each server backend of the benchmark's database (PostgreSQL on this machine), or None."""
    if db.is_sqlite:
        return None
    async with db.session(write=False) as session:
        pids = (
            await session.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
        ).scalars()
        found = {int(pid): proc_cpu(int(pid)) for pid in pids}
    visible = {pid: cpu for pid, cpu in found.items() if cpu is not None}
    return visible or None


async def analyze(db: Database) -> None:
    """What autovacuum would do for these insert-only tables: statistics for the planner, and the visibility
    map that lets a covering index be read without the table (PostgreSQL 13+ vacuums after inserts too)."""
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM (ANALYZE)")


async def post_deposits(
    db: Database,
    settings: Settings,
    facility: Facility,
    rng: random.Random,
    n: int,
    profile: bool,
    analyze_every: int | None = None,
    clients: int = 1,
    statement: int = 1,
) -> dict[str, Any]:
    counter = StatementCounter(db)
    latencies: list[float] = []
    kinds: Counter[str] = Counter()
    currencies: Counter[str] = Counter()
    deposits = [next_deposit(i, facility, rng) for i in range(n)]
    validated = [(ContributionCreate.model_validate(d.body), d) for d in deposits]
    profiler = cProfile.Profile() if profile else None
    statements_before = counter.count
    how = "one transaction each" if statement == 1 else f"in bank statements of {statement} receipts"
    log(f"posting {n} deposits, {how}, from {clients} concurrent client(s)")
    # CPU of this process (SQLite runs in it, in aiosqlite's thread) and of the server's backends: what an
    # otherwise idle machine would reach is about deposits / (client + server CPU seconds).
    servers_before = await server_cpu(db)
    client_cpu = -time.process_time()
    started = time.perf_counter()
    last_report = started
    paused = 0.0  # time spent in VACUUM (ANALYZE), not counted
    done = 0

    async def deposit(i: int) -> None:
        """Deposit i alone (one request), or the bank statement that starts with it."""
        nonlocal done, last_report
        batch = validated[i - 1 : min(n, i - 1 + statement)]
        t0 = time.perf_counter()
        now = datetime(2026, 12, 31, 12, tzinfo=UTC) + timedelta(microseconds=i)
        async with db.session() as session:
            gov = Governance(session, settings=settings, actor=ACTOR, now=now)
            if statement == 1:
                data, d = batch[0]
                recorded = [await gov.record_contribution(data, idempotency_key=d.key)]
            else:
                recorded = await gov.record_bank_statement([Receipt(data, d.key) for data, d in batch])
            await session.commit()
        assert not any(r.replayed for r in recorded)
        # A statement's latency is shared by its receipts: one figure per deposit, as for single requests.
        latencies.extend([(time.perf_counter() - t0) / len(batch)] * len(batch))
        for _, d in batch:
            kinds[d.kind] += 1
            currencies[d.currency] += 1
        done += len(batch)
        if time.perf_counter() - last_report > 10 or done == n:
            last_report = time.perf_counter()
            elapsed = last_report - started - paused
            recent = 1 / statistics.fmean(latencies[-500:]) * clients
            log(f"  {done}/{n} deposits, {done / elapsed:,.0f}/s overall, about {recent:,.0f}/s over the last 500")

    async def client(numbers: Iterator[int]) -> None:
        for i in numbers:
            await deposit(i)

    if profiler is not None:
        profiler.enable()
    # Rounds between two VACUUM (ANALYZE)s; in each, the clients take the next deposit in turn.
    # Each statement lies within one round: a round holds whole statements.
    round_size = max(statement, analyze_every - analyze_every % statement) if analyze_every else n
    for first in range(1, n + 1, round_size):
        if first > 1:
            t0, statements_then, cpu_then = time.perf_counter(), counter.count, time.process_time()
            await analyze(db)
            paused += time.perf_counter() - t0
            client_cpu -= time.process_time() - cpu_then
            statements_before += counter.count - statements_then
        numbers = iter(range(first, min(n, first + round_size - 1) + 1, statement))
        await asyncio.gather(*(client(numbers) for _ in range(clients)))
    elapsed = time.perf_counter() - started - paused
    client_cpu += time.process_time()
    if profiler is not None:
        profiler.disable()
    servers_after = await server_cpu(db)
    # A backend's CPU includes the (untimed) VACUUM it ran, so the server figure is an upper bound.
    server_seconds = (
        sum(cpu - servers_before.get(pid, 0.0) for pid, cpu in servers_after.items())
        if servers_before is not None and servers_after is not None
        else None
    )
    statements = counter.count - statements_before
    result: dict[str, Any] = {
        "deposits": n,
        "seconds": elapsed,
        "deposits_per_s": n / elapsed,
        # From the latencies: one client's rate, times the clients (about the total while all are busy).
        "first_tenth_per_s": clients * len(latencies[: n // 10 or 1]) / sum(latencies[: n // 10 or 1]),
        "last_tenth_per_s": clients * len(latencies[-(n // 10 or 1) :]) / sum(latencies[-(n // 10 or 1) :]),
        "latency_ms": {
            "p50": 1000 * statistics.median(latencies),
            "p95": 1000 * percentile(latencies, 0.95),
            "p99": 1000 * percentile(latencies, 0.99),
            "max": 1000 * max(latencies),
        },
        "statements_per_deposit": statements / n,
        "receipts_per_statement": statement,
        "cpu_ms_per_deposit": {
            "client": 1000 * client_cpu / n,
            **({"server": 1000 * server_seconds / n} if server_seconds is not None else {}),
        },
        "cpu_bound_deposits_per_s": n / (client_cpu + (server_seconds or 0.0)),
        "analyze": f"VACUUM (ANALYZE) after the set-up and every {analyze_every:,} deposits, not timed "
        "(autovacuum is off)"
        if analyze_every
        else None,
        "kinds": dict(kinds),
        "currencies": dict(currencies),
    }
    if profiler is not None:
        result["profile"] = profile_report(profiler)
    # Replays of a sample of keys: the first record comes back, nothing is posted.
    entries_before = await count_rows(db, JournalEntry)
    for data, d in rng.sample(validated, min(200, n)):
        async with db.session() as session:
            recorded = await Governance(
                session, settings=settings, actor=ACTOR, now=datetime(2027, 1, 1, tzinfo=UTC)
            ).record_contribution(data, idempotency_key=d.key)
            await session.commit()
        assert recorded.replayed, f"{d.key} was posted twice"
    result["replays_posted_nothing"] = await count_rows(db, JournalEntry) == entries_before
    return result


def profile_report(profiler: cProfile.Profile, top: int = 30) -> dict[str, str]:
    report = {}
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        report[order] = out.getvalue()
        print(f"\n---- cProfile, top {top} by {order} ----\n{out.getvalue()}", file=sys.stderr)
    return report


async def count_rows(db: Database, model: Any) -> int:
    async with db.session(write=False) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def checks(db: Database, n: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with db.session(write=False) as session:
        for book in (Book.FINANCIAL, Book.BUDGETARY):
            started = time.perf_counter()
            rows = await trial_balance(session, book=book)
            per_currency: Counter[str] = Counter()
            for row in rows:
                per_currency[row.currency] += row.amount
            result[f"{book.value}_off"] = {c: v for c, v in per_currency.items() if v}
            result[f"{book.value}_reporting_off"] = sum(r.reporting_amount for r in rows)
            result[f"{book.value}_trial_balance_s"] = time.perf_counter() - started
        contributions = int((await session.execute(select(func.count()).select_from(Contribution))).scalar_one())
        keys = int(
            (await session.execute(select(func.count(func.distinct(Contribution.idempotency_key))))).scalar_one()
        )
        result["contributions"] = contributions
        result["all_recorded_once"] = contributions == n and keys == n
        result["entries"] = int((await session.execute(select(func.count()).select_from(JournalEntry))).scalar_one())
        result["postings"] = int((await session.execute(select(func.count()).select_from(Posting))).scalar_one())
        result["audit_events"] = int((await session.execute(text("SELECT count(*) FROM audit_events"))).scalar_one())
        if db.is_sqlite:
            path = Path(db.url.split("///", 1)[1])
            result["database_bytes"] = sum(
                f.stat().st_size for f in (path, path.with_name(path.name + "-wal")) if f.exists()
            )
        else:
            size = await session.execute(text("SELECT pg_database_size(current_database())"))
            result["database_bytes"] = int(size.scalar_one())
    result["balanced"] = all(
        not result[f"{b}_off"] and result[f"{b}_reporting_off"] == 0 for b in ("financial", "budgetary")
    )
    return result


# ------------------------------------------------------------------------------------------ one backend


def settings_for(url: str, workdir: Path) -> Settings:
    return Settings(env="test", database_url=url, secret_key="bench-" + "x" * 40, var_dir=workdir / "var")


async def run(url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    db = Database(url)
    settings = settings_for(url, workdir)
    try:
        log("building the facility (members, assessments, donors, rates, pledges)")
        started = time.perf_counter()
        facility = await build_facility(db, settings, rng, args.deposits)
        setup_s = time.perf_counter() - started
        log(
            f"facility built in {setup_s:.1f} s: {facility.pledges} pledges, {facility.instalments} instalments, "
            f"{facility.assessments} assessments"
        )
        # PostgreSQL plans from statistics, and reads a covering index alone where the visibility map allows,
        # both kept up by autovacuum; on a server where it is off, vacuum and analyze as it would (after the
        # bulk set-up, then as the tables grow), outside the timing.
        analyze_every = None
        if not db.is_sqlite:
            async with db.session(write=False) as session:
                autovacuum = (await session.execute(text("SHOW autovacuum"))).scalar_one()
            if autovacuum == "off":
                analyze_every = 10_000
                await analyze(db)
        deposits = await post_deposits(
            db, settings, facility, rng, args.deposits, args.profile, analyze_every, args.clients, args.statement
        )
        log("checking both trial balances")
        end = await checks(db, args.deposits)
    finally:
        await db.dispose()
    return {
        "facility": {
            "members": len(MEMBERS),
            "donors": DONORS,
            "pledges": facility.pledges,
            "conditional_pledges": facility.conditional,
            "conditions_met": facility.conditions_met,
            "instalments": facility.instalments,
            "assessments": facility.assessments,
            "fx_rates": facility.rates,
            "setup_s": setup_s,
        },
        **deposits,
        "end": end,
        "verdict": "PASS" if deposits["deposits_per_s"] >= TARGET else "MISS",
        "correct": end["balanced"] and end["all_recorded_once"] and deposits["replays_posted_nothing"],
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with bench_database(backend, args.database_url, "contrib", keep=args.keep) as database:
        log(f"[{backend}] migrating {database.url.split('@')[-1]}")
        upgrade_database(database.url)
        load_before = os.getloadavg()
        result = asyncio.run(run(database.url, database.workdir, args))
        # Other work on the machine slows the run down: the 1-minute load average says how busy it was.
        load = {"before": load_before[0], "after": os.getloadavg()[0]}
        return {"backend": backend, "server": database.server, "load_average": load, **result}


# ------------------------------------------------------------------------------------------ output


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"Contribution benchmark — {report['date']} — {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(f"command: {report['command']}")
    for r in report["runs"]:
        f, e, lat = r["facility"], r["end"], r["latency_ms"]
        print()
        print(f"backend            {r['backend']} ({r['server']})")
        load = r["load_average"]
        print(f"machine load       1-minute load average {load['before']:.2f} before, {load['after']:.2f} after")
        print(
            f"facility           {f['members']} members, {f['donors']} donors, {f['pledges']} pledges "
            f"({f['conditional_pledges']} conditional), {f['instalments']:,} instalments, "
            f"{f['assessments']} assessments, {f['fx_rates']} FX rates; built in {f['setup_s']:.1f} s"
        )
        how = (
            "one per transaction (a request each)"
            if r["receipts_per_statement"] == 1
            else f"in bank statements of {r['receipts_per_statement']} receipts, one transaction each"
        )
        print(
            f"deposits           {r['deposits']:,} {how}, in {r['seconds']:.1f} s — "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(r["kinds"].items()))
        )
        print("currencies         " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["currencies"].items())))
        print(
            f"rate               {r['deposits_per_s']:,.0f} deposits/s (first tenth {r['first_tenth_per_s']:,.0f}/s, "
            f"last tenth {r['last_tenth_per_s']:,.0f}/s)   target {TARGET}/s   {r['verdict']}"
        )
        print(
            f"latency            p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms, p99 {lat['p99']:.2f} ms, "
            f"max {lat['max']:.1f} ms; {r['statements_per_deposit']:.1f} statements through SQLAlchemy per deposit"
        )
        cpu = r["cpu_ms_per_deposit"]
        print(
            f"CPU per deposit    client {cpu['client']:.2f} ms"
            + (f" + server {cpu['server']:.2f} ms (at most: it includes the untimed VACUUM)" if "server" in cpu else "")
            + f" -> {r['cpu_bound_deposits_per_s']:,.0f} deposits/s CPU-bound"
        )
        print(
            f"data at the end    {e['entries']:,} journal entries, {e['postings']:,} postings, "
            f"{e['contributions']:,} contributions, {e['audit_events']:,} audit events, "
            f"{e['database_bytes'] / 2**20:,.1f} MiB"
        )
        state = {b: "zero" if not e[f"{b}_off"] and not e[f"{b}_reporting_off"] else "OFF" for b in BOOKS}
        print(
            f"trial balances     financial {state['financial']} ({e['financial_trial_balance_s'] * 1000:.0f} ms), "
            f"budgetary {state['budgetary']} ({e['budgetary_trial_balance_s'] * 1000:.0f} ms); "
            f"every deposit recorded once: {e['all_recorded_once']}; "
            f"replayed keys posted nothing: {r['replays_posted_nothing']}"
        )
        if r.get("analyze"):
            print(f"statistics         {r['analyze']}")
        print(f"correct            {'OK' if r['correct'] else 'FAILED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--deposits", type=int, default=50_000, help="deposits to post (default 50000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--database-url", default=None, help=f"PostgreSQL admin URL (default {PG_DEFAULT_ADMIN_URL})")
    parser.add_argument("--profile", action="store_true", help="run the deposits under cProfile (top costs to stderr)")
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients, each on its own connection")
    parser.add_argument(
        "--statement",
        type=int,
        default=1,
        help="receipts per bank statement, recorded in one transaction (default 1: one deposit per request)",
    )
    parser.add_argument("--seed", type=int, default=20260316)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints where it is)")
    args = parser.parse_args(argv)
    if args.deposits < 1:
        parser.error("--deposits must be at least 1")
    if not 1 <= args.statement <= MAX_RECEIPTS_PER_STATEMENT:
        parser.error(f"--statement must be from 1 to {MAX_RECEIPTS_PER_STATEMENT}")

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, "bench/contributions.py", *(argv or sys.argv[1:])]),
        "target_deposits_per_s": TARGET,
        "runs": [run_backend(b, args) for b in backends],
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 0 if all(r["correct"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
