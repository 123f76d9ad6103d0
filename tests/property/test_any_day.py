"""On any day the facility's clock may show (acceptance 2 of the time issue): the demo facility loaded that
day and then worked on (deposits, manual entries, ballots, report requests with dates around the clock, the
clock moving on between them) never holds a fact dated after the clock, and its reports agree with each
other for the same period: the financial statements of the year (interim for the current one), the sources
and uses of the same span and the funds available at its end.

Hypothesis draws the day (explicit examples: 1 January, 29 February of a leap year, 31 December, the last day
before a month of 28 days) and the operations; each example is a fresh copy of the migrated SQLite template
(the same property runs on PostgreSQL with fewer examples).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from fundapp import demo
from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.db import Database
from tests import conftest
from tests.support import DatabaseProbe

V1 = "/api/v1"
# Columns that record a fact (a day or a moment something happened): none may lie after the clock.
FACT_DATES = (
    ("journal_entries", "entry_date"),
    ("postings", "entry_date"),
    ("contributions", "value_date"),
    ("assessments", "assessed_on"),
    ("assessments", "recognised_on"),
    ("pledges", "signed_on"),
    ("pledges", "condition_met_on"),
    ("ledger_fx_rates", "rate_date"),
    ("grants", "agreement_signed_on"),
    ("grants", "closed_on"),
    ("grant_tranches", "recognised_on"),
    ("grant_refunds", "received_on"),
)
FACT_MOMENTS = (
    ("journal_entries", "posted_at"),
    ("contributions", "created_at"),
    ("decisions", "opens_at"),
    ("decisions", "closed_at"),
    ("decision_events", "at"),
    ("ballots", "cast_at"),
    ("recusals", "declared_at"),
    ("audit_events", "occurred_at"),
    ("disbursements", "approved_at"),
    ("entry_requests", "prepared_at"),
    ("entry_requests", "approved_at"),
    ("grant_reports", "submitted_at"),
    ("grant_reports", "reviewed_at"),
    ("proposal_transitions", "at"),
    ("reviews", "submitted_at"),
)
_copies = itertools.count()


def latest(probe: DatabaseProbe, table: str, column: str) -> Any:
    return probe.scalar(f"SELECT max({column}) FROM {table}")


def as_day(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


def as_moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def assert_nothing_after(probe: DatabaseProbe, now: datetime) -> None:
    for table, column in FACT_DATES:
        found = latest(probe, table, column)
        assert found is None or as_day(found) <= now.date(), (table, column, found, now)
    for table, column in FACT_MOMENTS:
        found = latest(probe, table, column)
        assert found is None or as_moment(found) <= now, (table, column, found, now)


# ---------------------------------------------------------------- the facility and its clients


@dataclass
class Facility:
    client: TestClient[Any]
    clock: FrozenClock
    probe: DatabaseProbe
    tokens: dict[str, str]

    def headers(self, username: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}", **extra}

    def get(self, path: str, username: str = "auditor", **params: Any) -> httpx.Response:
        return self.client.get(V1 + path, params=params, headers=self.headers(username))


def token_of(client: TestClient[Any], username: str) -> str:
    client.cookies.clear()
    login = client.post(f"{V1}/auth/login", json={"username": username, "password": demo.DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    created = client.post(
        f"{V1}/auth/tokens", json={"name": "any-day"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
    )
    assert created.status_code == 201, created.text
    client.cookies.clear()
    return str(created.json()["token"])


def build_facility(url: str, var_dir: Path, today: datetime) -> Iterator[Facility]:
    """The demo loaded on ``today`` into ``url``; the API on the same clock, with tokens of three demo users."""
    settings = conftest.make_settings(url, var_dir)
    clock = FrozenClock(today)
    app = create_app(settings, clock=clock)  # also registers the cross-domain hooks the demo's loading needs

    async def load() -> None:
        database = Database(url)
        try:
            await demo.load(database, settings, clock)
        finally:
            await database.dispose()

    asyncio.run(load())
    probe = DatabaseProbe(settings)
    try:
        with TestClient(app, base_url="http://testserver.local") as client:
            tokens = {name: token_of(client, name) for name in ("auditor", "finance", "approver", "delegate.deu")}
            yield Facility(client, clock, probe, tokens)
    finally:
        probe.close()


# ---------------------------------------------------------------- what the reports must agree on


def money(table: Any, key: str, column: str) -> int:
    """The minor units of the cell in ``column`` of the row labelled ``key``."""
    index = table.column(column)
    for row in table.rows:
        label = row.cells[0]
        if getattr(label, "key", None) == key:
            return int(row.cells[index].minor)
    raise KeyError(key)


async def build_reports(url: str, settings: Any, now: datetime, year: int) -> tuple[Any, Any, Any]:
    from reports import funds_available, sources_uses, statements
    from reports.service import report_context

    end = min(date(year, 12, 31), now.date())
    database = Database(url)
    try:
        async with database.session(write=False) as session:
            ctx = await report_context(session, settings, now)
            fs = await statements.build(ctx, year=year)
            su = await sources_uses.build(ctx, date_from=date(year, 1, 1), date_to=end)
            fa = await funds_available.build(ctx, as_of=end)
        return fs, su, fa
    finally:
        await database.dispose()


def assert_reports_agree(url: str, settings: Any, now: datetime, year: int) -> None:
    fs, su, fa = asyncio.run(build_reports(url, settings, now, year))
    performance, position, cash = (fs.table(k) for k in ("financial_performance", "financial_position", "cash_flow"))
    summary, funds = su.table("summary"), fa.table("funds")

    def fs_(table: Any, key: str) -> int:
        return money(table, f"statements.{key}", "current")

    def su_(key: str, column: str = "period") -> int:
        return money(summary, f"sources_uses.{key}", column)

    def fa_(key: str) -> int:
        return money(funds, f"funds_available.{key}", "total")

    same = [
        # the year's expenses and income, in the statements and in the sources and uses of the same span
        (fs_(performance, "performance.direct_costs"), su_("direct_costs")),
        (fs_(performance, "performance.bank_charges"), su_("bank_charges")),
        (fs_(performance, "performance.aa_fee"), su_("fee")),
        (fs_(performance, "performance.investment_income"), su_("investment_income")),
        # cash received from contributors and the exchange differences on cash
        (fs_(cash, "cash.contributors"), su_("contributions")),
        (fs_(cash, "cash.fx_effect"), su_("other_income")),
        # the balance with the facility is the cash and the interest receivable, at both ends of the span
        (fs_(position, "position.cash") + fs_(position, "position.interest_receivable"), su_("balance")),
        (
            fs_(cash, "cash.opening") + money(position, "statements.position.interest_receivable", "prior"),
            su_("opening"),
        ),
        # the funds available at the end of the span: the year's direct costs, the receivables, the income
        (fs_(performance, "performance.direct_costs"), fa_("direct_costs")),
        (fs_(position, "position.contributions_receivable"), fa_("outstanding")),
        (su_("investment_income", "inception"), fa_("investment_income")),
        (su_("transfers", "inception") + su_("refunds", "inception"), fa_("transferred")),
    ]
    for n, (left, right) in enumerate(same):
        assert left == right, (year, n, left, right)


# ---------------------------------------------------------------- working on the facility


@dataclass(frozen=True)
class Operation:
    kind: str  # deposit | entry | ballot | report
    offset: int  # days from the clock's day that the operation names (after the clock: refused)
    wait: int  # days the clock moves on before the operation


operations = st.lists(
    st.builds(
        Operation,
        kind=st.sampled_from(["deposit", "entry", "ballot", "report"]),
        offset=st.integers(-40, 5),
        wait=st.integers(0, 20),
    ),
    max_size=6,
)


def perform(f: Facility, op: Operation, n: int, donor: int) -> None:
    f.clock.advance(days=op.wait)
    today = f.clock.now().date()
    day = (today + timedelta(days=op.offset)).isoformat()
    future = op.offset > 0
    if op.kind == "deposit":
        body = {"contributor_id": donor, "value_date": day, "amount": "100.00", "currency": "USD"}
        response = f.client.post(
            f"{V1}/contributions", json=body, headers=f.headers("finance", **{"Idempotency-Key": f"any-day-{n}"})
        )
        ok = {201}
    elif op.kind == "entry":
        lines = [
            {"account": "5400", "amount": "1.00", "currency": "USD"},
            {"account": "1100", "amount": "-1.00", "currency": "USD"},
        ]
        body = {"entry_date": day, "description": "bank charge", "lines": lines, "reason": "Bank charge of the day"}
        response = f.client.post(f"{V1}/ledger/entries", json=body, headers=f.headers("finance"))
        if response.status_code == 202:  # prepared: a second person approves it (four eyes)
            request_id = response.json()["id"]
            response = f.client.post(f"{V1}/ledger/entry-requests/{request_id}/approve", headers=f.headers("approver"))
        ok = {200}
    elif op.kind == "report":
        response = f.get("/reports/sources-and-uses", date_to=day)
        ok = {200}
    else:
        # A ballot is dated by the clock itself: accepted while a vote is open, refused after its close.
        decisions = f.get("/decisions", limit=100).json()["items"]
        open_votes = [d for d in decisions if d["status"] == "open" and d["procedure"] == "vote"]
        if not open_votes:
            return
        response = f.client.post(
            f"{V1}/decisions/{open_votes[0]['id']}/ballots", json={"choice": "yes"}, headers=f.headers("delegate.deu")
        )
        assert response.status_code in (201, 409), response.text
        return
    if future:
        assert response.status_code == 422, response.text
        assert any(e["rule"] == "not-in-future" for e in response.json()["errors"]), response.text
    else:
        assert response.status_code in ok, response.text


def check_day(url: str, var_dir: Path, today: datetime, ops: list[Operation]) -> None:
    for f in build_facility(url, var_dir, today):
        assert_nothing_after(f.probe, f.clock.now())
        settings = conftest.make_settings(url, var_dir)
        for year in (today.year - 1, today.year):
            assert_reports_agree(url, settings, f.clock.now(), year)
        donor = int(f.probe.scalar("SELECT id FROM contributors WHERE name = 'Government of Norway'"))
        for n, op in enumerate(ops):
            perform(f, op, n, donor)
        assert_nothing_after(f.probe, f.clock.now())
        assert_reports_agree(url, settings, f.clock.now(), f.clock.now().year)


days = st.dates(date(2025, 6, 1), date(2032, 12, 31)).map(lambda d: datetime(d.year, d.month, d.day, 9, tzinfo=UTC))
ANY_DAY = settings(max_examples=4, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@ANY_DAY
@given(today=days, ops=operations)
@example(today=datetime(2027, 1, 1, 0, 30, tzinfo=UTC), ops=[Operation("deposit", 0, 0), Operation("entry", 1, 0)])
@example(today=datetime(2028, 2, 29, 12, tzinfo=UTC), ops=[Operation("ballot", 0, 0), Operation("report", 3, 16)])
@example(today=datetime(2026, 12, 31, 23, 59, tzinfo=UTC), ops=[Operation("entry", 0, 1), Operation("deposit", -1, 0)])
@example(today=datetime(2027, 3, 1, 9, tzinfo=UTC), ops=[])
def test_on_any_day_nothing_is_dated_after_the_clock_and_the_reports_agree(
    sqlite_template: Path, tmp_path: Path, today: datetime, ops: list[Operation]
) -> None:
    n = next(_copies)
    path = tmp_path / f"any-day-{n}.sqlite3"
    shutil.copyfile(sqlite_template, path)
    check_day(f"sqlite+aiosqlite:///{path}", tmp_path / f"var-{n}", today, ops)


@pytest.mark.postgresql
@settings(max_examples=1, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(today=days, ops=operations)
@example(today=datetime(2028, 2, 29, 12, tzinfo=UTC), ops=[Operation("deposit", 2, 0), Operation("ballot", 0, 30)])
def test_on_any_day_on_postgresql(pg_template: str, tmp_path: Path, today: datetime, ops: list[Operation]) -> None:
    assert conftest.PG_ADMIN_URL is not None
    name = f"fundapp_anyday_{next(_copies)}_{tmp_path.name[-8:]}".lower().replace("-", "_")
    conftest._pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        check_day(conftest._with_database(conftest.PG_ADMIN_URL, name), tmp_path / name, today, ops)
    finally:
        conftest._pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_story_ends_before_the_day_it_is_loaded_on_every_day_of_four_years() -> None:
    """The timeline alone, for every day from 2025 to 2028: the story's last day is before it, within a
    month and a day, and fee years move by whole years within six months of the story's own."""
    day = date(2025, 1, 1)
    while day < date(2029, 1, 1):
        t = demo.Timeline.loaded_on(day)
        assert t.last_day < day, day
        assert (day - t.last_day).days <= 31, day
        assert abs(t.months - 12 * (t.year(2026) - 2026)) <= 6, day
        assert t.day(date(2025, 3, 20)) < t.day(date(2025, 3, 21)) <= t.day(date(2026, 12, 31)), day
        day += timedelta(days=1)
