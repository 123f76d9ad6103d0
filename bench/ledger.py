"""Ledger benchmark: posting rates, trial balance times, storage per entry, and hledger on the same data.

    .venv/bin/python bench/ledger.py --backend sqlite --entries 280000
    .venv/bin/python bench/ledger.py --backend postgresql --entries 280000 --json

Creates a fresh database (SQLite: a temporary file; PostgreSQL: ``fundapp_bench_ledger_<pid>`` on the server
named by ``--database-url``, dropped at the end), migrates it with the real migrations, adds monthly FX
rates, and generates a fund's ledger through the real posting service (``ledger.service.Ledger``):
pledges and deposits in EUR, GBP, JPY, CHF and SEK (1% administrative agent fee, realised FX on
settlement, budgetary 8100/8200 lines in USD), and grants across 6 windows (8200 -> 8300 -> 8400 -> 8500,
5100/2100 recognition, 2100/1100 transfers with bank charges). Dimensions: ~40 contributors, 6 windows,
~300 grants; dates spread over 24 months; 2 to 6 postings per entry.

Measured: bulk posting (``Ledger.post_batch``, one transaction per batch), single posting (``Ledger.post``,
one session and commit per entry, like one API request), ``ledger.queries.trial_balance`` (median of 3)
at 100k and 1M postings, bytes per entry, and ``hledger balance`` on the journal exported at 100k
entries (median of 3) against the service's trial balance of both books on the same data.

Progress goes to stderr; the table (or ``--json``, one object) to stdout. Figures only: nothing here
asserts on time (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and this file is named like the ``ledger``
# package: drop the directory and put the repository root first, so ``import ledger`` is the package.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlmodel import col  # noqa: E402

from bench.common import (  # noqa: E402
    PG_DEFAULT_ADMIN_URL,
    bench_database,
    percentile,
)
from fundapp.cli import upgrade_database  # noqa: E402
from fundapp.core.audit import Actor  # noqa: E402
from fundapp.core.db import Database  # noqa: E402
from ledger import chart, rules  # noqa: E402
from ledger.export import hledger_journal  # noqa: E402
from ledger.models import Book, JournalEntry, Posting  # noqa: E402
from ledger.money import Money, exponent, percentage  # noqa: E402
from ledger.queries import trial_balance  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.types import EntryDraft, Line  # noqa: E402

REPORTING = "USD"
ACTOR = Actor(None, "bench")

# Targets of the acceptance criterion 8 (2-core machine).
TARGET_BULK = 5_000  # entries/s
TARGET_SINGLE = 500  # entries/s
TARGET_TB_SECONDS = 1.0  # at 1M postings, each book
TARGET_HLEDGER_RATIO = 10.0  # service at least this many times faster than hledger

POSTINGS_CHECKPOINTS = (100_000, 1_000_000)
START = date(2025, 1, 1)
MONTHS = 24
# The facility's clock: the end of its history (every entry and rate is dated by then), whatever the day.
NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)

# Units of USD per unit of currency at the start, and the decimals quoted.
BASE_RATES = {
    "EUR": ("1.0850", 4),
    "GBP": ("1.2700", 4),
    "JPY": ("0.006650", 6),
    "CHF": ("1.1250", 4),
    "SEK": ("0.09500", 5),
}
CONTRIBUTION_CURRENCIES = tuple(BASE_RATES)
CONTRIBUTORS = 40
WINDOWS = 6
GRANTS = 300


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# ------------------------------------------------------------------------------------------------ data


def monthly_rates(rng: random.Random) -> dict[str, list[tuple[date, Decimal]]]:
    """A random walk per currency, one rate on the first of each month (plus the month after the range)."""
    series: dict[str, list[tuple[date, Decimal]]] = {}
    for currency, (base, places) in BASE_RATES.items():
        value = float(base)
        quantum = Decimal(1).scaleb(-places)
        points = []
        for month in range(MONTHS + 1):
            points.append((add_months(START, month), Decimal(repr(value)).quantize(quantum)))
            value *= 1 + rng.gauss(0, 0.015)
        series[currency] = points
    return series


@dataclass
class OpenPledge:
    contributor: int
    currency: str
    window: int | None
    remaining: int  # minor units of currency
    carrying: int  # reporting minor units of what remains


@dataclass
class Payable:
    grant: int
    window: int
    currency: str
    amount: int
    carrying: int


class FundGenerator:
    """Deterministic stream of realistic drafts; keeps just enough state to settle what it pledged."""

    KINDS = ("pledge", "deposit", "allocation", "commitment", "tranche", "transfer")
    WEIGHTS = (0.10, 0.22, 0.08, 0.08, 0.26, 0.26)

    def __init__(self, rng: random.Random, rates: dict[str, list[tuple[date, Decimal]]], keys: bool) -> None:
        self.rng = rng
        self.rates = rates
        self.keys = keys
        self.seq = 0
        self.contributor_currency = {
            k: rng.choices(CONTRIBUTION_CURRENCIES, weights=(35, 20, 15, 15, 15))[0] for k in range(1, CONTRIBUTORS + 1)
        }
        # Donor size: a few large contributors, many small ones.
        self.contributor_scale = {k: rng.lognormvariate(14.0, 0.9) for k in range(1, CONTRIBUTORS + 1)}
        self.grant_window = {g: 1 + (g - 1) % WINDOWS for g in range(1, GRANTS + 1)}
        self.grant_currency = {g: "EUR" if rng.random() < 0.2 else REPORTING for g in range(1, GRANTS + 1)}
        self.pledges: list[OpenPledge] = []
        self.payables: list[Payable] = []

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == REPORTING:
            return Decimal(1)
        return self.rates[currency][(day.year - START.year) * 12 + day.month - START.month][1]

    def usd(self, minor: int, currency: str, day: date) -> int:
        if currency == REPORTING:
            return minor
        return rules.convert_minor(minor, currency, self.rate(currency, day), REPORTING)

    def major_to_minor(self, usd_major: float, currency: str) -> int:
        """A round amount in ``currency`` worth about ``usd_major`` US dollars."""
        local = usd_major / float(BASE_RATES[currency][0]) if currency != REPORTING else usd_major
        rounded = max(1, round(local, -2 if local > 10_000 else 0))
        return int(rounded) * int(10 ** exponent(currency))

    def draft(
        self, day: date, kind: str, description: str, lines: list[Line], *, settle_fx: bool = False
    ) -> EntryDraft:
        self.seq += 1
        source_id = f"{kind}-{self.seq:07d}"
        return EntryDraft(
            entry_date=day,
            description=description,
            lines=tuple(lines),
            source_type=kind,
            source_id=source_id,
            idempotency_key=f"bench:{source_id}" if self.keys else None,
            settle_fx=settle_fx,
        )

    def next(self, day: date) -> EntryDraft:
        kind = self.rng.choices(self.KINDS, weights=self.WEIGHTS)[0]
        if kind == "deposit" and not self.pledges:
            kind = "pledge"
        if kind == "transfer" and not self.payables:
            kind = "tranche"
        make: dict[str, Callable[[date], EntryDraft]] = {
            "pledge": self.pledge,
            "deposit": self.deposit,
            "allocation": self.allocation,
            "commitment": self.commitment,
            "tranche": self.tranche,
            "transfer": self.transfer,
        }
        return make[kind](day)

    # -- contributions

    def pledge(self, day: date) -> EntryDraft:
        rng = self.rng
        k = rng.randint(1, CONTRIBUTORS)
        currency = self.contributor_currency[k]
        window = None if rng.random() < 0.25 else rng.randint(1, WINDOWS)
        amount = self.major_to_minor(self.contributor_scale[k] * rng.uniform(0.3, 2.0), currency)
        self.pledges.append(OpenPledge(k, currency, window, amount, self.usd(amount, currency, day)))
        m = Money.from_minor(amount, currency)
        where = f"window {window}" if window else "the pooled fund"
        return self.draft(
            day,
            "contribution",
            f"Contribution agreement signed: contributor {k:02d} pledges {m} to {where}",
            [
                Line(chart.CONTRIBUTIONS_RECEIVABLE, m, contributor_id=k, window_id=window),
                Line(chart.CONTRIBUTION_REVENUE, -m, contributor_id=k, window_id=window),
            ],
        )

    def deposit(self, day: date) -> EntryDraft:
        rng = self.rng
        index = rng.randrange(min(len(self.pledges), 30))
        pledge = self.pledges[index]
        if pledge.remaining < 1000 * 10 ** exponent(pledge.currency) or rng.random() < 0.5:
            gross, carrying = pledge.remaining, pledge.carrying
            self.pledges.pop(index)
        else:
            gross = pledge.remaining // 2
            carrying = pledge.carrying * gross // pledge.remaining
            pledge.remaining -= gross
            pledge.carrying -= carrying
        cur, k, w = pledge.currency, pledge.contributor, pledge.window
        g = Money.from_minor(gross, cur)
        fee = percentage(g, "0.01")
        net = g - fee
        net_usd = Money.from_minor(self.usd(net.minor, cur, day), REPORTING)
        return self.draft(
            day,
            "deposit",
            f"Deposit received from contributor {k:02d}: {g} less 1% administrative agent fee",
            [
                Line(chart.CASH, net, contributor_id=k, window_id=w),
                Line(chart.ADMIN_AGENT_FEE, fee, contributor_id=k),
                Line(
                    chart.CONTRIBUTIONS_RECEIVABLE,
                    -g,
                    reporting_amount=Money.from_minor(-carrying, REPORTING),
                    contributor_id=k,
                    window_id=w,
                ),
                Line(chart.RESOURCES_RECEIVED, -net_usd, contributor_id=k, window_id=w),
                Line(chart.AVAILABLE, net_usd, window_id=w),
            ],
            settle_fx=True,
        )

    # -- grants

    def allocation(self, day: date) -> EntryDraft:
        rng = self.rng
        window = rng.randint(1, WINDOWS)
        grants = rng.sample([g for g, w in self.grant_window.items() if w == window], rng.choice((1, 1, 2, 3)))
        lines = []
        total = 0
        for g in grants:
            amount = self.major_to_minor(rng.lognormvariate(13.5, 0.7), REPORTING)
            total += amount
            lines.append(Line(chart.ALLOCATED, Money.from_minor(amount, REPORTING), window_id=window, grant_id=g))
        lines.append(Line(chart.AVAILABLE, Money.from_minor(-total, REPORTING), window_id=window))
        names = ", ".join(f"G-{g:04d}" for g in grants)
        return self.draft(day, "funding_decision", f"Funding decision, window {window}: {names}", lines)

    def commitment(self, day: date) -> EntryDraft:
        rng = self.rng
        g = rng.randint(1, GRANTS)
        w = self.grant_window[g]
        m = Money.from_minor(self.major_to_minor(rng.lognormvariate(13.5, 0.7), REPORTING), REPORTING)
        return self.draft(
            day,
            "grant_agreement",
            f"Grant agreement G-{g:04d} signed",
            [
                Line(chart.COMMITTED, m, window_id=w, grant_id=g),
                Line(chart.ALLOCATED, -m, window_id=w, grant_id=g),
            ],
        )

    def tranche(self, day: date) -> EntryDraft:
        rng = self.rng
        g = rng.randint(1, GRANTS)
        w, cur = self.grant_window[g], self.grant_currency[g]
        amount = self.major_to_minor(rng.lognormvariate(12.2, 0.6), cur)
        usd = self.usd(amount, cur, day)
        self.payables.append(Payable(g, w, cur, amount, usd))
        m, u = Money.from_minor(amount, cur), Money.from_minor(usd, REPORTING)
        return self.draft(
            day,
            "tranche",
            f"Tranche recognised under grant G-{g:04d}: {m}",
            [
                Line(chart.TRANSFERS_TO_PARTNERS, m, window_id=w, grant_id=g),
                Line(chart.GRANTS_PAYABLE, -m, window_id=w, grant_id=g),
                Line(chart.DISBURSED, u, window_id=w, grant_id=g),
                Line(chart.COMMITTED, -u, window_id=w, grant_id=g),
            ],
        )

    def transfer(self, day: date) -> EntryDraft:
        rng = self.rng
        p = self.payables.pop(rng.randrange(min(len(self.payables), 20)))
        m = Money.from_minor(p.amount, p.currency)
        foreign = p.currency != REPORTING
        lines = [
            Line(
                chart.GRANTS_PAYABLE,
                m,
                reporting_amount=Money.from_minor(p.carrying, REPORTING) if foreign else None,
                window_id=p.window,
                grant_id=p.grant,
            ),
            Line(chart.CASH, -m, window_id=p.window, grant_id=p.grant),
        ]
        if rng.random() < 0.8:
            charge = Money.from_minor(rng.randint(15, 60) * 10 ** exponent(p.currency), p.currency)
            lines += [Line(chart.BANK_CHARGES, charge, grant_id=p.grant), Line(chart.CASH, -charge, grant_id=p.grant)]
        return self.draft(
            day,
            "disbursement",
            f"Transfer to implementing partner, grant G-{p.grant:04d}: {m}",
            lines,
            settle_fx=foreign,
        )


def estimated_postings(draft: EntryDraft) -> int:
    # A settlement almost always gets one realised FX line from the service.
    return len(draft.lines) + (1 if draft.settle_fx else 0)


# ------------------------------------------------------------------------------------------------ measuring


def median(values: list[float]) -> float:
    return statistics.median(values)


async def counts(db: Database) -> tuple[int, int]:
    async with db.session(write=False) as session:
        entries = (await session.execute(select(func.count()).select_from(JournalEntry))).scalar_one()
        postings = (await session.execute(select(func.count()).select_from(Posting))).scalar_one()
    return int(entries), int(postings)


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a local process, from /proc (None when it is not visible here)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU spent by this process (SQLite runs in its worker thread) and, when PostgreSQL runs on this machine,
    by the server backends of the benchmark database. The machine may be shared: CPU time is the figure that
    other work on it does not inflate, and it says what an idle machine would do."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.client = 0.0
        self.server: float | None = None if db.is_sqlite else 0.0

    async def _backends(self) -> dict[int, float]:
        if self.db.is_sqlite:
            return {}
        async with self.db.session(write=False) as session:
            pids = (
                await session.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
            ).scalars()
            found = {int(pid): proc_cpu(int(pid)) for pid in pids}
        return {pid: cpu for pid, cpu in found.items() if cpu is not None}

    async def start(self) -> tuple[float, dict[int, float]]:
        backends = await self._backends()
        return time.process_time(), backends

    async def stop(self, started: tuple[float, dict[int, float]]) -> None:
        client = time.process_time() - started[0]
        backends = await self._backends()
        self.client += client
        if self.server is not None:
            if backends or not started[1]:
                self.server += sum(cpu - started[1].get(pid, 0.0) for pid, cpu in backends.items())
            else:
                self.server = None  # a remote server: its CPU is not visible from here

    def figures(self, entries: int) -> dict[str, Any]:
        result: dict[str, Any] = {"client_cpu_s": self.client, "client_cpu_ms_per_1000": 1e6 * self.client / entries}
        if self.server is not None:
            result["server_cpu_s"] = self.server
            result["server_cpu_ms_per_1000"] = 1e6 * self.server / entries
        total = self.client + (self.server or 0.0)
        result["cpu_bound_entries_per_s"] = entries / total if total else None
        return result


async def max_posting_id(db: Database) -> int:
    """The number of postings so far, cheaply: ids come from a sequence and nothing is ever deleted."""
    async with db.session(write=False) as session:
        return int((await session.execute(select(func.max(Posting.id)))).scalar_one() or 0)


async def time_trial_balance(db: Database, book: Book, runs: int) -> tuple[float, list[float], int]:
    """Median seconds of ``trial_balance`` over ``runs`` runs, each in a fresh read session."""
    times = []
    rows = 0
    for _ in range(runs):
        async with db.session(write=False) as session:
            start = time.perf_counter()
            result = await trial_balance(session, book=book)
            times.append(time.perf_counter() - start)
        rows = len(result)
    return median(times), times, rows


async def trial_balances(db: Database, runs: int, label: str) -> dict[str, Any]:
    entries, postings = await counts(db)
    result: dict[str, Any] = {"entries": entries, "postings": postings}
    for book in (Book.FINANCIAL, Book.BUDGETARY):
        seconds, times, rows = await time_trial_balance(db, book, runs)
        result[book.value] = {"median_s": seconds, "runs_s": times, "rows": rows}
    log(
        f"trial balance at {label} ({postings:,} postings): financial {result['financial']['median_s'] * 1000:.0f} ms, "
        f"budgetary {result['budgetary']['median_s'] * 1000:.0f} ms"
    )
    return result


def parse_hledger_csv(output: str) -> dict[tuple[str, str], Decimal]:
    """``hledger balance -O csv`` -> {(account code, commodity): amount}; one cell may hold several commodities."""
    found: dict[tuple[str, str], Decimal] = {}
    for row in list(csv.reader(io.StringIO(output)))[1:]:
        if len(row) < 2 or row[0] in ("total", "Total:"):
            continue
        code = row[0].rsplit(":", 1)[-1]
        for part in row[1].split(","):
            part = part.strip()
            if not part or part == "0":
                continue
            amount, commodity = part.rsplit(" ", 1)
            found[(code, commodity)] = Decimal(amount)
    return found


def run_timed(command: list[str], *, keep_output: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command to completion; wall seconds and the finished process (stdout dropped unless kept)."""
    start = time.perf_counter()
    done = subprocess.run(
        command, stdout=subprocess.PIPE if keep_output else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return time.perf_counter() - start, done


async def hledger_comparison(db: Database, runs: int, workdir: Path) -> dict[str, Any]:
    hledger = shutil.which("hledger")
    entries, postings = await counts(db)
    result: dict[str, Any] = {"entries": entries, "postings": postings, "available": hledger is not None}
    if hledger is None:
        log("hledger is not on PATH: skipping the comparison")
        return result
    path = workdir / "journal.hledger"
    start = time.perf_counter()
    async with db.session(write=False) as session:
        with path.open("w", encoding="utf-8") as out:
            async for chunk in hledger_journal(session, reporting_currency=REPORTING):
                out.write(chunk)
    result["export_s"] = time.perf_counter() - start
    result["journal_bytes"] = path.stat().st_size
    log(f"exported {entries:,} entries to {path} ({path.stat().st_size / 1e6:.1f} MB) in {result['export_s']:.1f} s")
    result["version"] = (await asyncio.to_thread(run_timed, [hledger, "--version"]))[1].stdout.strip()
    times = []
    for i in range(runs):
        seconds, done = await asyncio.to_thread(run_timed, [hledger, "-f", str(path), "balance"], keep_output=False)
        times.append(seconds)
        if done.returncode != 0:
            result["error"] = done.stderr.strip()[:2000]
            log(f"hledger refused the export:\n{result['error']}")
            return result
        log(f"hledger balance run {i + 1}/{runs}: {times[-1]:.2f} s")
    result["hledger_median_s"] = median(times)
    result["hledger_runs_s"] = times
    # The service on exactly the same data: both books, as hledger balance reports every account.
    service_times = []
    service_rows: dict[tuple[str, str], int] = {}
    for _ in range(runs):
        start = time.perf_counter()
        for book in (Book.FINANCIAL, Book.BUDGETARY):
            async with db.session(write=False) as session:
                for row in await trial_balance(session, book=book):
                    service_rows[(row.account, row.currency)] = row.amount
        service_times.append(time.perf_counter() - start)
    result["service_median_s"] = median(service_times)
    result["service_runs_s"] = service_times
    result["speedup"] = result["hledger_median_s"] / result["service_median_s"]
    # Both must tell the same story: every account and currency, to the minor unit.
    _, check = await asyncio.to_thread(run_timed, [hledger, "-f", str(path), "balance", "-O", "csv", "--flat", "-N"])
    theirs = parse_hledger_csv(check.stdout)
    ours = {k: Decimal(v).scaleb(-exponent(k[1])) for k, v in service_rows.items() if v}
    result["balances_agree"] = theirs == ours
    if theirs != ours:
        diff = sorted(set(theirs.items()) ^ set(ours.items()))[:10]
        log(f"hledger and the service disagree, e.g. {diff}")
    log(
        f"hledger {result['hledger_median_s']:.2f} s vs service {result['service_median_s'] * 1000:.0f} ms: "
        f"{result['speedup']:.0f}x; balances agree: {result['balances_agree']}"
    )
    return result


async def storage(db: Database, entries: int, postings: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with db.session(write=False) as session:
        if db.is_sqlite:
            await session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            page_size = (await session.execute(text("PRAGMA page_size"))).scalar_one()
            page_count = (await session.execute(text("PRAGMA page_count"))).scalar_one()
            free = (await session.execute(text("PRAGMA freelist_count"))).scalar_one()
            result["database_bytes"] = int(page_size) * (int(page_count) - int(free))
            try:
                journal = (
                    await session.execute(
                        text(
                            "SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master "
                            "WHERE tbl_name IN ('journal_entries', 'postings'))"
                        )
                    )
                ).scalar_one()
                result["journal_bytes"] = int(journal)
                result["method"] = "dbstat (tables and indexes of journal_entries, postings)"
            except OperationalError:  # dbstat is a compile-time option of SQLite
                result["journal_bytes"] = result["database_bytes"]
                result["method"] = "(page_count - freelist_count) * page_size"
        else:
            row = (
                await session.execute(
                    text(
                        "SELECT pg_total_relation_size('journal_entries'), pg_total_relation_size('postings'), "
                        "pg_database_size(current_database())"
                    )
                )
            ).one()
            result["journal_entries_bytes"], result["postings_bytes"] = int(row[0]), int(row[1])
            result["journal_bytes"] = int(row[0]) + int(row[1])
            result["database_bytes"] = int(row[2])
            result["method"] = "pg_total_relation_size(journal_entries) + pg_total_relation_size(postings)"
    result["bytes_per_entry"] = result["journal_bytes"] / entries
    result["bytes_per_posting"] = result["journal_bytes"] / postings
    return result


async def run(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    rates = monthly_rates(rng)
    generator = FundGenerator(rng, rates, keys=args.idempotency_keys)
    db = Database(url)
    report: dict[str, Any] = {}
    try:
        async with db.session() as session:
            ledger = Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=NOW)
            for currency, points in rates.items():
                for day, rate in points:
                    await ledger.add_rate(currency, day, rate, source="bench: monthly random walk")
            await session.commit()
        log(f"added {sum(len(p) for p in rates.values())} FX rates ({', '.join(rates)}), monthly from {START}")

        # -------------------------------------------------------------- bulk: post_batch
        total = args.entries
        days = (add_months(START, MONTHS) - START).days
        hledger_at = args.hledger_entries if args.hledger_entries <= total else None
        pending_postings = [p for p in POSTINGS_CHECKPOINTS]
        posted = postings_now = 0
        bulk_seconds = 0.0
        bulk_cpu = CpuMeter(db)
        batch_times: list[tuple[int, int, float]] = []  # (entries, estimated postings, seconds)
        tb: dict[str, Any] = {}
        hledger: dict[str, Any] = {}
        started = time.perf_counter()
        last_log = started
        while posted < total:
            drafts: list[EntryDraft] = []
            batch_postings = 0
            while posted + len(drafts) < total and len(drafts) < args.batch_size:
                if hledger_at is not None and posted + len(drafts) == hledger_at:
                    break
                if pending_postings and postings_now + batch_postings >= pending_postings[0]:
                    break
                draft = generator.next(START + timedelta(days=(posted + len(drafts)) * days // total))
                drafts.append(draft)
                batch_postings += estimated_postings(draft)
            if drafts:
                cpu = await bulk_cpu.start()
                t0 = time.perf_counter()
                async with db.session() as session:
                    ledger = Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=NOW)
                    await ledger.post_batch(drafts)
                    await session.commit()
                seconds = time.perf_counter() - t0
                await bulk_cpu.stop(cpu)
                bulk_seconds += seconds
                batch_times.append((len(drafts), batch_postings, seconds))
                posted += len(drafts)
                postings_now = await max_posting_id(db)
            if hledger_at is not None and posted == hledger_at:
                hledger = await hledger_comparison(db, args.runs, workdir)
                hledger_at = None
            while pending_postings and postings_now >= pending_postings[0]:
                label = f"{pending_postings.pop(0) // 1000:,}k postings"
                tb[label] = await trial_balances(db, args.runs, label)
            if time.perf_counter() - last_log > 10:
                last_log = time.perf_counter()
                log(
                    f"bulk: {posted:,}/{total:,} entries, {postings_now:,} postings, "
                    f"{posted / bulk_seconds:,.0f} entries/s so far"
                )
        entries_bulk, postings_bulk = await counts(db)
        tail = batch_times[-max(1, len(batch_times) // 10) :]
        report["bulk"] = {
            "entries": entries_bulk,
            "postings": postings_bulk,
            "batch_size": args.batch_size,
            "seconds": bulk_seconds,
            "entries_per_s": entries_bulk / bulk_seconds,
            "postings_per_s": postings_bulk / bulk_seconds,
            "last_10pct_entries_per_s": sum(b[0] for b in tail) / sum(b[2] for b in tail),
            "first_batch_entries_per_s": batch_times[0][0] / batch_times[0][2],
            **bulk_cpu.figures(entries_bulk),
        }
        log(
            f"bulk done: {entries_bulk:,} entries, {postings_bulk:,} postings in {bulk_seconds:.1f} s "
            f"= {report['bulk']['entries_per_s']:,.0f} entries/s (last 10%: "
            f"{report['bulk']['last_10pct_entries_per_s']:,.0f}/s)"
        )
        final_label = f"end of bulk ({postings_bulk // 1000:,}k postings)"
        if not any(v["postings"] >= POSTINGS_CHECKPOINTS[-1] for v in tb.values()):
            tb[final_label] = await trial_balances(db, args.runs, final_label)
        report["trial_balance"] = tb
        report["hledger"] = hledger

        # -------------------------------------------------------------- single: post, one transaction each
        last_month = add_months(START, MONTHS - 1)
        latencies = []
        single_cpu = CpuMeter(db)
        cpu = await single_cpu.start()
        t_all = time.perf_counter()
        for i in range(args.single):
            draft = generator.next(last_month + timedelta(days=i * 28 // max(1, args.single)))
            t0 = time.perf_counter()
            async with db.session() as session:
                ledger = Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=NOW)
                await ledger.post(draft)
                await session.commit()
            latencies.append(time.perf_counter() - t0)
        single_seconds = time.perf_counter() - t_all
        await single_cpu.stop(cpu)
        report["single"] = {
            "entries": args.single,
            "seconds": single_seconds,
            "entries_per_s": args.single / single_seconds,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p95_ms": percentile(latencies, 0.95) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            **single_cpu.figures(args.single),
        }
        log(
            f"single: {args.single:,} entries in {single_seconds:.1f} s = {report['single']['entries_per_s']:,.0f}"
            f" entries/s (p50 {report['single']['p50_ms']:.1f} ms, p95 {report['single']['p95_ms']:.1f} ms)"
        )

        entries, postings = await counts(db)
        report["size"] = {"entries": entries, "postings": postings, "postings_per_entry": postings / entries}
        report["storage"] = await storage(db, entries, postings)
        log(f"storage: {report['storage']['bytes_per_entry']:.0f} bytes/entry ({report['storage']['method']})")
        mix: dict[str, int] = defaultdict(int)
        async with db.session(write=False) as session:
            for source_type, n in await session.execute(
                select(col(JournalEntry.source_type), func.count()).group_by(col(JournalEntry.source_type))
            ):
                mix[source_type] = int(n)
        report["mix"] = dict(sorted(mix.items()))
    finally:
        await db.dispose()
    return report


# ------------------------------------------------------------------------------------------------ output


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def evaluate(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows: metric, measurement, target, verdict."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: str, target: str = "", ok: bool | None = None) -> None:
        rows.append({"metric": metric, "measured": value, "target": target, "result": verdict(ok) if target else ""})

    size = report["size"]
    add("data", f"{size['entries']:,} entries, {size['postings']:,} postings ({size['postings_per_entry']:.2f}/entry)")

    def cpu_text(phase: dict[str, Any]) -> str:
        parts = [f"client {phase['client_cpu_ms_per_1000']:,.0f}"]
        if "server_cpu_ms_per_1000" in phase:
            parts.append(f"server {phase['server_cpu_ms_per_1000']:,.0f}")
        return f"; CPU ms/1,000 entries: {' + '.join(parts)} -> {phase['cpu_bound_entries_per_s']:,.0f}/s CPU-bound"

    bulk = report["bulk"]
    add(
        f"bulk post_batch ({bulk['batch_size']:,}/transaction)",
        f"{bulk['entries_per_s']:,.0f} entries/s ({bulk['postings_per_s']:,.0f} postings/s; "
        f"last 10%: {bulk['last_10pct_entries_per_s']:,.0f} entries/s{cpu_text(bulk)})",
        f">= {TARGET_BULK:,} entries/s",
        bulk["entries_per_s"] >= TARGET_BULK,
    )
    single = report["single"]
    add(
        f"single post ({single['entries']:,} x session+commit)",
        f"{single['entries_per_s']:,.0f} entries/s (p50 {single['p50_ms']:.1f} ms, p95 {single['p95_ms']:.1f} ms"
        f"{cpu_text(single)})",
        f">= {TARGET_SINGLE:,} entries/s",
        single["entries_per_s"] >= TARGET_SINGLE,
    )
    for tb in report["trial_balance"].values():
        at_million = tb["postings"] >= 1_000_000
        for book in ("financial", "budgetary"):
            seconds = tb[book]["median_s"]
            add(
                f"trial balance {book} @ {tb['postings']:,} postings",
                f"{seconds * 1000:,.0f} ms (median of {len(tb[book]['runs_s'])}; {tb[book]['rows']} rows)",
                f"< {TARGET_TB_SECONDS:g} s" if at_million else "",
                seconds < TARGET_TB_SECONDS if at_million else None,
            )
    if not any(tb["postings"] >= 1_000_000 for tb in report["trial_balance"].values()):
        add("trial balance @ 1M postings", "not reached: raise --entries", f"< {TARGET_TB_SECONDS:g} s", None)
    storage = report["storage"]
    add(
        "storage",
        f"{storage['bytes_per_entry']:,.0f} bytes/entry ({storage['bytes_per_posting']:,.0f} bytes/posting; "
        f"whole database {storage['database_bytes'] / 1e6:,.0f} MB)",
    )
    h = report["hledger"]
    if h.get("error"):
        add(
            "hledger balance on the export",
            f"hledger refused the file: {h['error'].splitlines()[0][:100]}",
            f">= {TARGET_HLEDGER_RATIO:g}x faster",
            False,
        )
    elif h.get("available"):
        add(
            f"hledger balance @ {h['entries']:,} entries ({h['postings']:,} postings)",
            f"{h['hledger_median_s']:.2f} s (median of {len(h['hledger_runs_s'])}; export {h['export_s']:.1f} s, "
            f"{h['journal_bytes'] / 1e6:.0f} MB)",
        )
        add(
            "service trial balance, both books, same data",
            f"{h['service_median_s'] * 1000:,.0f} ms -> {h['speedup']:,.1f}x faster than hledger "
            f"(service/hledger = {1 / h['speedup']:.3f}; balances agree: {'yes' if h['balances_agree'] else 'NO'})",
            f">= {TARGET_HLEDGER_RATIO:g}x faster",
            h["speedup"] >= TARGET_HLEDGER_RATIO,
        )
    elif h:
        add("hledger comparison", "hledger not on PATH", f">= {TARGET_HLEDGER_RATIO:g}x faster", None)
    else:
        add("hledger comparison", "not run: --entries below --hledger-entries", f">= {TARGET_HLEDGER_RATIO:g}x", None)
    return rows


def print_table(header: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    print(f"fundapp ledger benchmark - backend {header['backend']} ({header['server']}), {header['date']}")
    print(f"machine: {header['machine']['cpus']} CPUs ({header['machine']['cpu']}), {header['machine']['memory']} RAM")
    print(
        f"load average before/after: {header['load_average_before']} / {header['load_average_after']}; "
        f"total {header['total_s']:.0f} s"
    )
    print()
    widths = [
        max(
            len(str(r[c]))
            for r in [*rows, {"metric": "metric", "measured": "measured", "target": "target", "result": "result"}]
        )
        for c in ("metric", "measured", "target", "result")
    ]
    line = (
        "| "
        + " | ".join(n.ljust(w) for n, w in zip(("metric", "measured", "target", "result"), widths, strict=True))
        + " |"
    )
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(
            "| "
            + " | ".join(
                str(r[c]).ljust(w) for c, w in zip(("metric", "measured", "target", "result"), widths, strict=True)
            )
            + " |"
        )


def load_average() -> str:
    """1, 5 and 15 minute load averages: other work on the machine skews every figure here."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory": memory, "python": platform.python_version()}


# ------------------------------------------------------------------------------------------------ databases


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument(
        "--entries",
        type=positive,
        default=280_000,
        help="entries posted with post_batch (default 280000: just over 1M postings)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--database-url", default=None, help=f"PostgreSQL admin URL (default {PG_DEFAULT_ADMIN_URL})")
    parser.add_argument("--batch-size", type=positive, default=1000, help="drafts per post_batch transaction")
    parser.add_argument("--single", type=positive, default=2000, help="entries posted one per transaction")
    parser.add_argument("--runs", type=positive, default=3, help="runs per timing (the median is reported)")
    parser.add_argument(
        "--hledger-entries", type=positive, default=100_000, help="export for hledger at this many entries"
    )
    parser.add_argument("--idempotency-keys", action="store_true", help="give every draft an idempotency key")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints where it is)")
    parser.add_argument("--save", metavar="FILE", help="also write the JSON object to FILE")
    args = parser.parse_args(argv)

    header: dict[str, Any] = {
        "backend": args.backend,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "arguments": {k: v for k, v in vars(args).items() if k != "database_url"},
    }
    if args.backend == "sqlite" and args.database_url:
        log("--database-url names a PostgreSQL server: ignored with --backend sqlite")
    settings = ("shared_buffers", "synchronous_commit")
    with bench_database(args.backend, args.database_url, "ledger", keep=args.keep, settings=settings) as database:
        header["server"] = database.server
        log(f"migrating {database.url.split('@')[-1]}")
        upgrade_database(database.url)
        started = time.perf_counter()
        header["load_average_before"] = load_average()
        report = asyncio.run(run(args, database.url, database.workdir))
        header["total_s"] = time.perf_counter() - started
        header["load_average_after"] = load_average()
    rows = evaluate(report)
    document = json.dumps({**header, **report, "table": rows}, indent=2, default=str)
    if args.save:
        Path(args.save).write_text(document + "\n", encoding="utf-8")
    if args.json:
        print(document)
    else:
        print_table(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
