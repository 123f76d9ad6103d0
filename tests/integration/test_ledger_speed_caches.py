"""What the ledger keeps between statements (migration 0006) is never stale where it matters.

- The chain head is kept per transaction: several posts of one transaction, through one or several
  ``Ledger`` objects, chain correctly, and a savepoint's rollback forgets what it wrote.
- Accounts, periods and rate spans are kept per process under the reference version: a change made by
  another connection (raw SQL included) is seen by the next transaction, and a change made by the
  transaction itself is seen at once by every ``Ledger`` on its session.
- On PostgreSQL the set-based balance check at commit still names the one unbalanced entry of a batch.

Each test runs on SQLite and PostgreSQL; tests never assert on time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
import sqlalchemy as sa

from fundapp.core.audit import Actor
from fundapp.core.db import Database
from ledger import chart
from ledger.errors import ClosedAccount, ClosedPeriod
from ledger.money import Money
from ledger.queries import verify_chain
from ledger.service import Ledger
from ledger.types import EntryDraft, EntryView, Line
from tests.support import DatabaseProbe

T = TypeVar("T")
REPORTING = "USD"
ACTOR = Actor(None, "test")
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
DAY = date(2026, 3, 10)


def ledger_for(database_session: object) -> Ledger:
    return Ledger(database_session, reporting_currency=REPORTING, actor=ACTOR, now=NOW)  # type: ignore[arg-type]


def usd(amount: int) -> Money:
    return Money.from_minor(amount, REPORTING)


def cash_in(amount: int, *, day: date = DAY, account: str = chart.CONTRIBUTION_REVENUE) -> EntryDraft:
    return EntryDraft(
        entry_date=day,
        description=f"cash {amount}",
        lines=(Line(chart.CASH, usd(amount)), Line(account, usd(-amount))),
    )


def in_transaction(db: DatabaseProbe, work: Callable[[Database, object], Awaitable[T]]) -> T:
    async def run(database: Database) -> T:
        async with database.session() as session:
            result = await work(database, session)
            await session.commit()
            return result

    return db.run(run)


def post(db: DatabaseProbe, draft: EntryDraft) -> EntryView:
    async def work(_: Database, session: object) -> EntryView:
        return await ledger_for(session).post(draft)

    return in_transaction(db, work)


def chain_ok(db: DatabaseProbe) -> bool:
    async def work(database: Database) -> bool:
        async with database.session(write=False) as session:
            return (await verify_chain(session)).ok

    return db.run(work)


def test_posts_of_one_transaction_through_two_ledgers_chain_correctly(db: DatabaseProbe) -> None:
    async def work(_: Database, session: object) -> list[int]:
        first, second = ledger_for(session), ledger_for(session)
        await first.lock()
        ids = [(await first.post(cash_in(100))).id, (await second.post(cash_in(200))).id]
        ids += await first.post_batch([cash_in(300), cash_in(400)])
        ids.append((await second.post(cash_in(500))).id)
        return ids

    assert in_transaction(db, work) == [1, 2, 3, 4, 5]
    assert post(db, cash_in(600)).id == 6
    assert chain_ok(db)


def test_a_savepoint_rolled_back_forgets_the_entries_it_wrote(db: DatabaseProbe) -> None:
    if db.dialect == "postgresql":
        pytest.skip("on PostgreSQL a posting is accepted only in its entry's top-level transaction")

    async def work(_: Database, session: object) -> list[int]:
        ledger = ledger_for(session)
        kept = (await ledger.post(cash_in(100))).id
        savepoint = await session.begin_nested()  # type: ignore[attr-defined]
        await ledger.post(cash_in(200))
        await savepoint.rollback()
        return [kept, (await ledger.post(cash_in(300))).id]

    assert in_transaction(db, work) == [1, 2]
    assert db.count("journal_entries") == 2
    assert chain_ok(db)


def test_an_account_closed_by_another_connection_is_refused_next_time(db: DatabaseProbe) -> None:
    post(db, cash_in(100, account=chart.INVESTMENT_INCOME))  # opens 2026-03
    post(db, cash_in(-100, account=chart.INVESTMENT_INCOME))  # back to zero; the chart is kept by this process
    db.execute("UPDATE ledger_accounts SET is_open = :closed WHERE code = :code", closed=False, code="4200")
    with pytest.raises(ClosedAccount):
        post(db, cash_in(100, account=chart.INVESTMENT_INCOME))
    assert db.count("journal_entries") == 2


def test_a_period_closed_by_another_connection_is_refused_next_time(db: DatabaseProbe) -> None:
    post(db, cash_in(100))  # opens 2026-03
    post(db, cash_in(100))  # keeps the periods, 2026-03 open, in this process
    db.execute("UPDATE ledger_periods SET status = 'closed' WHERE id = '2026-03'")
    with pytest.raises(ClosedPeriod):
        post(db, cash_in(100))
    assert db.count("journal_entries") == 2


def test_a_period_closed_through_another_ledger_of_the_session_is_refused_at_once(db: DatabaseProbe) -> None:
    post(db, cash_in(100))

    async def work(_: Database, session: object) -> None:
        poster, closer = ledger_for(session), ledger_for(session)
        await poster.post(cash_in(200))  # the poster has seen 2026-03 open
        await closer.close_period("2026-03")
        with pytest.raises(ClosedPeriod):
            await poster.post(cash_in(300))

    in_transaction(db, work)
    assert db.count("journal_entries") == 2


def test_a_rate_added_by_another_connection_is_used_next_time(db: DatabaseProbe) -> None:
    async def add_rate(_: Database, session: object) -> None:
        await ledger_for(session).add_rate("EUR", date(2026, 3, 1), Decimal("1.0800"))

    in_transaction(db, add_rate)
    post(db, cash_in(100))  # opens 2026-03, so the next transaction changes nothing it keeps
    eur = EntryDraft(
        entry_date=date(2026, 3, 20),
        description="EUR cash",
        lines=(
            Line(chart.CASH, Money.from_minor(10000, "EUR")),
            Line(chart.CONTRIBUTION_REVENUE, Money.from_minor(-10000, "EUR")),
        ),
    )
    assert post(db, eur).postings[0].reporting_amount == 10800  # the span from 2026-03-01 is now kept
    db.execute(
        "INSERT INTO ledger_fx_rates (currency, rate_date, rate, source, created_at) "
        "VALUES ('EUR', :day, '1.1000', 'raw', :at)",
        day=date(2026, 3, 15),
        at=NOW if db.dialect == "postgresql" else NOW.replace(tzinfo=None),
    )
    assert post(db, eur).postings[0].reporting_amount == 11000


def test_an_account_created_in_the_transaction_can_be_posted_to_at_once(db: DatabaseProbe) -> None:
    post(db, cash_in(100))

    async def work(_: Database, session: object) -> EntryView:
        from ledger.manual import create_account
        from ledger.schemas import AccountIn

        ledger = ledger_for(session)
        await ledger.post(cash_in(100))  # the process's chart is in use
        data = {"code": "4900", "name": "Other income", "book": "financial", "type": "revenue"}
        await create_account(ledger, AccountIn.model_validate({**data, "normal_side": "credit", "currencies": "*"}))
        return await ledger_for(session).post(cash_in(100, account="4900"))

    assert in_transaction(db, work).id == 3


def test_the_set_based_check_names_the_unbalanced_entry_of_a_batch(db: DatabaseProbe) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the balance rule is enforced by a deferred constraint trigger on PostgreSQL only")
    post(db, cash_in(100))
    accounts = {code: int(id_) for code, id_ in db.rows("SELECT code, id FROM ledger_accounts")}
    with pytest.raises(sa.exc.IntegrityError, match="journal entry 4 does not balance in USD"), db.engine.begin() as c:
        for entry, amount in ((2, 100), (3, 100), (4, 90), (5, 100)):
            c.execute(
                sa.text(
                    "INSERT INTO journal_entries (id, entry_date, period_id, description, source_type, "
                    "payload_hash, posted_by_label, posted_at, prev_hash, hash) VALUES (:id, :day, '2026-03', "
                    "'raw', 'manual', 'p', 'psql', :at, 'prev', :hash)"
                ),
                {"id": entry, "day": DAY, "at": NOW, "hash": f"h{entry}"},
            )
            for line, (code, value) in enumerate(((chart.CASH, 100), (chart.CONTRIBUTION_REVENUE, -amount)), start=1):
                c.execute(
                    sa.text(
                        "INSERT INTO postings (entry_id, line_no, account_id, currency, amount, reporting_amount, "
                        "entry_date) VALUES (:entry, :line, :account, 'USD', :value, :value, :day)"
                    ),
                    {"entry": entry, "line": line, "account": accounts[code], "value": value, "day": DAY},
                )
    assert db.count("journal_entries") == 1
