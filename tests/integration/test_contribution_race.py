"""Concurrent deposits (acceptance 4), on PostgreSQL, where writers really run at the same time.

The app runs under uvicorn in a background thread on a free localhost port; 20 requests are sent at once
with ``httpx.AsyncClient`` and ``asyncio.gather``:

- the same deposit 20 times with one Idempotency-Key posts exactly once: one contributions row, one
  journal entry, every caller gets the same contribution id (201 once, 200 for the rest), no 5xx;
- 20 deposits with different keys on one instalment never apply more than the instalment: the rest is
  kept as the contributor's unapplied credit.

The same-key race is also run as 20 concurrent service calls, each in its own session and transaction.
Both books' trial balances are zero at the end of every test. SQLite is skipped: its writers take the
database lock at BEGIN (``BEGIN IMMEDIATE``), so two writers never overlap there.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from fundapp.core import accounts
from fundapp.core.audit import Actor as AuditActor
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import TokenCreate, UserCreate
from fundapp.core.security import PasswordHashing, Principal
from governance.schemas import ContributionCreate, ContributorCreate, PledgeCreate
from governance.service import Governance, Recorded
from ledger import Book, Ledger, trial_balance
from tests.support import PASSWORD, DatabaseProbe, LiveServer, LockWatcher

CALLERS = 20
CONTRIBUTIONS = "/api/v1/contributions"
SYSTEM = AuditActor(None, "test")


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE: there is no concurrent writer to race")


# ---------------------------------------------------------------- the server and the facility


@pytest.fixture
def server(postgresql_only: None, app: Litestar) -> Iterator[LiveServer]:
    with LiveServer(app) as running:
        yield running


def finance_officer_token(db: DatabaseProbe, settings: Settings, clock: FrozenClock) -> str:
    data = UserCreate(
        username="finance-officer",
        full_name="Finance Officer",
        email="finance-officer@example.org",
        password=PASSWORD,
        roles=[Role.FINANCE_OFFICER],
    )

    async def work(database: Database) -> str:
        async with database.session() as session:
            user = await accounts.create_user(
                session, data, hashing=PasswordHashing(settings), actor=None, now=clock.now()
            )
            principal = Principal(id=user.id, username=user.username, roles=frozenset({Role.FINANCE_OFFICER}))
            token = await accounts.create_token(
                session, TokenCreate(name="race"), user=principal, settings=settings, now=clock.now()
            )
            await session.commit()
            return token.token

    return db.run(work)


def donor_with_pledge(db: DatabaseProbe, settings: Settings, clock: FrozenClock) -> tuple[int, int]:
    """A donor who pledged EUR 1,000.00 to a window in one instalment; returns (contributor, instalment)."""

    async def work(database: Database) -> tuple[int, int]:
        async with database.session() as session:
            now = clock.now()
            ledger = Ledger(session, reporting_currency="USD", actor=SYSTEM, now=now)
            await ledger.add_rate("EUR", date(2026, 1, 1), Decimal("1.0850"))
            await ledger.add_rate("EUR", date(2026, 3, 1), Decimal("1.1020"))  # settled at a gain
            gov = Governance(session, settings=settings, actor=SYSTEM, now=now)
            donor = await gov.add_contributor(
                ContributorCreate.model_validate({"kind": "government", "name": "Norway"})
            )
            assert donor.id is not None
            pledge = await gov.pledge(
                PledgeCreate.model_validate(
                    {
                        "contributor_id": donor.id,
                        "amount": "1000.00",
                        "currency": "EUR",
                        "signed_on": "2026-01-15",
                        "window_code": "LMG",
                        "instalments": [{"due_on": "2026-03-31", "amount": "1000.00"}],
                    }
                )
            )
            await session.commit()
            instalment = await session.execute(
                text("SELECT id FROM pledge_instalments WHERE pledge_id = :p"),
                {"p": pledge.id},
            )
            return donor.id, int(instalment.scalar_one())

    return db.run(work)


def deposit(contributor: int, instalment: int, amount: str, reference: str = "") -> dict[str, Any]:
    return {
        "contributor_id": contributor,
        "value_date": "2026-03-10",
        "amount": amount,
        "currency": "EUR",
        "instalment_id": instalment,
        "reference": reference,
    }


async def send_all(url: str, token: str, requests: list[tuple[dict[str, Any], str]]) -> list[httpx.Response]:
    """POST every (body, Idempotency-Key) at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        start = asyncio.Event()

        async def one(body: dict[str, Any], key: str) -> httpx.Response:
            await start.wait()
            return await client.post(
                CONTRIBUTIONS, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
            )

        tasks = [asyncio.create_task(one(body, key)) for body, key in requests]
        await asyncio.sleep(0)
        start.set()
        return list(await asyncio.gather(*tasks))


def assert_books_balance(db: DatabaseProbe) -> None:
    async def work(database: Database) -> None:
        async with database.session(write=False) as session:
            for book in (Book.FINANCIAL, Book.BUDGETARY):
                rows = await trial_balance(session, book=book)
                per_currency = Counter[str]()
                for row in rows:
                    per_currency[row.currency] += row.amount
                assert {c: v for c, v in per_currency.items() if v} == {}, f"{book.value} book off per currency"
                assert sum(r.reporting_amount for r in rows) == 0, f"{book.value} book off in USD"

    db.run(work)


def ledger_sums(db: DatabaseProbe, contributor: int) -> dict[str, int]:
    rows = db.rows(
        "SELECT a.code, sum(p.amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE p.contributor_id = :c GROUP BY a.code",
        c=contributor,
    )
    return {code: int(total) for code, total in rows}


# ---------------------------------------------------------------- the races


def test_one_key_sent_twenty_times_at_once_posts_once(
    server: LiveServer, db: DatabaseProbe, settings: Settings, clock: FrozenClock
) -> None:
    token = finance_officer_token(db, settings, clock)
    donor, instalment = donor_with_pledge(db, settings, clock)
    entries_before = db.count("journal_entries")
    body = deposit(donor, instalment, "400.00", "one transfer, sent 20 times")

    with LockWatcher(db, advisory_only=True) as watcher:
        responses = asyncio.run(send_all(server.url, token, [(body, "same-transfer-2026-03-10")] * CALLERS))

    assert watcher.most_waiting >= 2, "the requests did not overlap: nothing ever waited for the writer lock"

    statuses = Counter(r.status_code for r in responses)
    assert not [r for r in responses if r.status_code >= 500], [r.text for r in responses if r.status_code >= 500]
    assert statuses == {201: 1, 200: CALLERS - 1}, {s: n for s, n in statuses.items()}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1, f"callers got different contributions: {ids}"
    assert db.count("contributions") == 1
    assert db.count("journal_entries") == entries_before + 1
    assert db.scalar("SELECT count(*) FROM journal_entries WHERE source_type = 'contribution'") == 1
    only = db.rows("SELECT id, applied, unapplied, fee, idempotency_key FROM contributions")[0]
    # Stored under its sender's scope (fundapp.core.idempotency).
    assert tuple(only[:4]) == (ids.pop(), 40000, 0, 400)
    assert only[4].endswith("/same-transfer-2026-03-10")
    assert db.scalar("SELECT count(*) FROM audit_events WHERE action = 'contribution.record'") == 1
    assert_books_balance(db)


def test_twenty_keys_on_one_instalment_never_apply_more_than_it(
    server: LiveServer, db: DatabaseProbe, settings: Settings, clock: FrozenClock
) -> None:
    token = finance_officer_token(db, settings, clock)
    donor, instalment = donor_with_pledge(db, settings, clock)
    requests = [(deposit(donor, instalment, "80.00", f"transfer {n}"), f"transfer-{n}") for n in range(CALLERS)]

    with LockWatcher(db, advisory_only=True) as watcher:
        responses = asyncio.run(send_all(server.url, token, requests))

    assert watcher.most_waiting >= 2, "the requests did not overlap: nothing ever waited for the writer lock"

    assert [r.status_code for r in responses] == [201] * CALLERS, [r.text for r in responses if r.status_code != 201]
    assert len({r.json()["id"] for r in responses}) == CALLERS
    rows = db.rows("SELECT amount, applied, unapplied, fee FROM contributions ORDER BY id")
    assert len(rows) == CALLERS
    assert all(amount == applied + unapplied for amount, applied, unapplied, _ in rows)
    assert sum(r.applied for r in rows) == 100000, "exactly the instalment (EUR 1,000.00) is applied"
    assert sum(r.unapplied for r in rows) == CALLERS * 8000 - 100000, "the rest is unapplied credit"
    # In posting order the instalment fills up: full deposits, at most one split, then credit only.
    applied = [r.applied for r in rows]
    assert applied == sorted(applied, reverse=True)
    assert sum(1 for r in rows if 0 < r.applied < r.amount) <= 1
    sums = ledger_sums(db, donor)
    assert sums["1200"] == 0, "the receivable is settled, never over-settled"
    assert sums["2400"] == -(CALLERS * 8000 - 100000)
    assert sums["5200"] == sum(r.fee for r in rows)
    assert_books_balance(db)


def test_one_key_in_twenty_concurrent_service_calls_posts_once(
    postgresql_only: None, db: DatabaseProbe, settings: Settings, clock: FrozenClock
) -> None:
    donor, instalment = donor_with_pledge(db, settings, clock)
    data = ContributionCreate.model_validate(deposit(donor, instalment, "1000.00", "service race"))

    async def race(database: Database) -> list[Recorded]:
        async def one() -> Recorded:
            async with database.session() as session:
                recorded = await Governance(
                    session, settings=settings, actor=SYSTEM, now=clock.now()
                ).record_contribution(data, idempotency_key="service-race")
                await session.commit()
                return recorded

        return list(await asyncio.gather(*(one() for _ in range(CALLERS))))

    with LockWatcher(db, advisory_only=True) as watcher:
        results = db.run(race)

    assert watcher.most_waiting >= 2, "the calls did not overlap: nothing ever waited for the writer lock"

    assert sorted(r.replayed for r in results) == [False] + [True] * (CALLERS - 1)
    assert len({r.contribution.id for r in results}) == 1
    assert db.count("contributions") == 1
    assert db.scalar("SELECT count(*) FROM journal_entries WHERE source_type = 'contribution'") == 1
    assert ledger_sums(db, donor)["1200"] == 0
    assert_books_balance(db)
