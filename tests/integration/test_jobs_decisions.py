"""Decisions close at their deadline by themselves, and the delegates of the members on a decision's roll are
told by e-mail, once, in their own language: when it opens, and in its last 24 hours if their member has not
taken part. On both backends through the job functions on the test's clock; on PostgreSQL also with two
queue workers (procrastinate) against one database; and with the scheduler of a serving process."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.mail import mailer_for
from fundapp.jobs import Jobs, TickReport, jobs_for, run_queue_worker
from tests.decision_support import cast, create_decision, delegates_for, iso
from tests.jobs_support import Inbox, set_language, smtp, smtp_settings, tick, wait_until
from tests.support import V1, Actor, Api, accepted

pytestmark = pytest.mark.timeout(180)
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgresql)
__all__ = ["smtp"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp: Inbox) -> Settings:
    return smtp_settings(database_url, tmp_path / "var", smtp)


def facility(api: Api) -> tuple[Actor, dict[str, Actor]]:
    """An admin; MEX, SEN and PHL members with a delegate each, reading Spanish, French and English."""
    from fundapp.core.models import Role

    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    delegates = delegates_for(api, admin, ["MEX", "SEN", "PHL"])
    set_language(api, delegates["MEX"].headers, "es", "America/Mexico_City")
    set_language(api, delegates["SEN"].headers, "fr", "Africa/Dakar")
    set_language(api, delegates["PHL"].headers, "en")
    return admin, delegates


def budget_decision(api: Api, admin: Actor, closes_at: datetime) -> dict[str, Any]:
    """An administrative budget for 2027 put to the vote; adopted, it records the budget."""
    return create_decision(
        api, admin, kind="admin_budget", year=2027, amount="250000.00", open=True, closes_at=iso(closes_at)
    )


def address(actor: Actor) -> str:
    return f"{actor.username}@example.org"


def closes(api: Api, decision_id: int) -> list[Any]:
    return api.db.rows("SELECT seq FROM decision_events WHERE decision_id = :d AND kind = 'closed'", d=decision_id)


@pytest.mark.usefixtures("backend")
def test_a_decision_closes_at_its_deadline_with_no_request_and_delegates_are_told_once_in_their_language(
    api: Api, smtp: Inbox
) -> None:
    admin, delegates = facility(api)
    decision = budget_decision(api, admin, api.clock.now() + timedelta(days=3))
    did = int(decision["id"])

    # The opening: each delegate of a member on the roll, once, in its language and time zone.
    first = tick(api)
    assert (first.closed, len(first.sent)) == ([], 3)
    mex, sen, phl = (smtp.to(address(delegates[c])) for c in ("MEX", "SEN", "PHL"))
    assert [m["Subject"] for m in mex] == ["Decisión abierta para su Estado miembro: Decision on admin_budget"]
    assert [m["Subject"] for m in sen] == ["Décision ouverte pour votre État membre : Decision on admin_budget"]
    assert [m["Subject"] for m in phl] == ["Decision open for your member state: Decision on admin_budget"]
    assert "19 de marzo de 2026 03:00 CST" in mex[0].get_content()  # 09:00 UTC in Mexico City
    assert "19 mars 2026 09:00 GMT" in sen[0].get_content()
    assert "19 March 2026 09:00 UTC" in phl[0].get_content()
    assert f"https://cmff.example/app/decisions/{did}" in phl[0].get_content()
    assert {m["Content-Language"] for m in smtp.received()} == {"es", "fr", "en"}
    assert {m["From"] for m in smtp.received()} == {"secretariat@cmff.example"}
    assert tick(api).sent == []  # a second run sends nothing again

    # MEX and SEN vote; in the last day PHL's delegate alone is reminded, once.
    cast(api, delegates["MEX"], did, "yes")
    cast(api, delegates["SEN"], did, "yes")
    api.clock.advance(days=2, hours=12)
    reminders = tick(api).sent
    assert [(e.to, e.subject) for e in reminders] == [
        (address(delegates["PHL"]), "Decision closing within 24 hours: Decision on admin_budget")
    ]
    assert tick(api).sent == []

    # The deadline passes and no request arrives: the next run closes it and its effect applies.
    api.clock.advance(hours=12, seconds=1)
    assert api.db.scalar("SELECT status FROM decisions WHERE id = :d", d=did) == "open"
    closing = tick(api)
    assert closing.closed == [did] and closing.sent == []
    assert api.db.rows("SELECT status, result FROM decisions WHERE id = :d", d=did) == [("closed", "adopted")]
    assert api.db.scalar("SELECT amount FROM admin_budgets WHERE year = 2027") == 25_000_000
    assert tick(api).closed == []
    assert len(closes(api, did)) == 1
    assert api.db.scalar("SELECT count(*) FROM audit_events WHERE action = 'decision.close'") == 1
    assert len(smtp.received()) == 4
    assert api.db.scalar("SELECT count(*) FROM notifications WHERE status = 'sent'") == 4
    # Nothing is dated after the facility's clock.
    now = api.clock.now()
    assert all(parsedate_to_datetime(str(m["Date"])) <= now for m in smtp.received())
    assert api.db.scalar("SELECT count(*) FROM notifications WHERE sent_at > :now", now=now) == 0


class Recording(Jobs):
    """The job functions, noting each tick a worker ran and what it closed."""

    ran: list[tuple[str, list[int]]]
    name: str = ""

    async def tick(self) -> TickReport:
        report = await super().tick()
        self.ran.append((self.name, report.closed))
        return report


def recording(database: Database, settings: Settings, api: Api, name: str, ran: list[tuple[str, list[int]]]) -> Jobs:
    jobs = Recording(database, settings, api.clock, mailer_for(settings))
    jobs.name, jobs.ran = name, ran
    return jobs


@pytest.mark.parametrize("backend", [POSTGRESQL])
def test_two_queue_workers_close_a_due_decision_once_and_send_each_notice_once(
    api: Api, smtp: Inbox, settings: Settings, tmp_path: Path
) -> None:
    """Two procrastinate workers (each its own pool and database engine) on one PostgreSQL database, their
    periodic tick every second: the decision's delegates are told once, and once the clock passes the deadline
    the decision closes once, within a minute, with no request."""
    fast = smtp_settings(settings.database_url, tmp_path / "var", smtp, FUNDAPP_SCHEDULER_INTERVAL_SECONDS="1")
    admin, delegates = facility(api)
    decision = budget_decision(api, admin, api.clock.now() + timedelta(hours=2))
    did = int(decision["id"])
    cast(api, delegates["MEX"], did, "yes")
    cast(api, delegates["PHL"], did, "yes")
    ran: list[tuple[str, list[int]]] = []

    async def two_workers() -> None:
        databases = [Database(fast.database_url), Database(fast.database_url)]
        workers = [
            asyncio.create_task(run_queue_worker(recording(db, fast, api, f"w{n}", ran), name=f"test-worker-{n}"))
            for n, db in enumerate(databases)
        ]
        try:
            await until(lambda: len(smtp.received()) >= 3, "the opening notices")
            api.clock.advance(hours=2, seconds=1)  # the deadline passes; nobody asks for the decision
            await until(lambda: closes(api, did), "the close")
            await asyncio.sleep(3)  # three more ticks: nothing more may happen
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for db in databases:
                await db.dispose()

    asyncio.run(two_workers())
    assert len(closes(api, did)) == 1
    assert [closed for _, closed in ran if closed] == [[did]]  # one tick of one worker closed it
    assert len(ran) >= 4
    assert api.db.scalar("SELECT count(*) FROM audit_events WHERE action = 'decision.close'") == 1
    assert api.db.rows("SELECT status, result FROM decisions WHERE id = :d", d=did) == [("closed", "adopted")]
    assert api.db.scalar("SELECT amount FROM admin_budgets WHERE year = 2027") == 25_000_000
    assert smtp.keys() == sorted(f"decision-opened:{did}:user:{delegates[c].id}" for c in ("MEX", "SEN", "PHL"))
    assert [m["Subject"] for m in smtp.to(address(delegates["SEN"]))] == [
        "Décision ouverte pour votre État membre : Decision on admin_budget"
    ]
    # The periodic tick was deferred once per second, not once per worker.
    defers = api.db.rows(
        "SELECT defer_timestamp FROM procrastinate_periodic_defers GROUP BY defer_timestamp HAVING count(*) > 1"
    )
    assert defers == []


@pytest.mark.usefixtures("backend")
def test_two_workers_ticking_at_the_same_moment_send_once_and_close_once(api: Api, smtp: Inbox) -> None:
    """Whatever runs them, two ticks at once (two engines, as two processes would have) change nothing twice:
    the notices are claimed under their unique key, the close happens under the decision's lock."""
    admin, delegates = facility(api)
    decision = budget_decision(api, admin, api.clock.now() + timedelta(hours=2))
    did = int(decision["id"])
    cast(api, delegates["SEN"], did, "no")

    def together() -> list[TickReport]:
        async def work(_database: Database) -> list[TickReport]:
            databases = [Database(api.settings.database_url) for _ in range(2)]
            try:
                return list(await asyncio.gather(*(jobs_for(db, api.settings, api.clock).tick() for db in databases)))
            finally:
                for db in databases:
                    await db.dispose()

        return api.db.run(work)

    opened = together()
    assert sorted(len(r.sent) for r in opened) in ([0, 3], [1, 2])
    assert sum(len(r.sent) for r in opened) == 3
    assert len(smtp.received()) == 3
    api.clock.advance(hours=2, seconds=1)
    closing = together()
    assert sorted(r.closed for r in closing) == [[], [did]]
    assert len(closes(api, did)) == 1
    assert api.db.rows("SELECT status, result FROM decisions WHERE id = :d", d=did) == [("closed", "not_adopted")]
    assert len(smtp.received()) == 3


async def until(condition: Any, what: str, limit: float = 60.0) -> None:
    """Poll ``condition`` (off the loop) while the workers run; fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await asyncio.to_thread(condition):
        if loop.time() > deadline:
            raise AssertionError(f"waited {limit} s for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.usefixtures("backend")
def test_the_serving_process_runs_the_scheduler_and_closes_a_due_decision(
    api: Api, smtp: Inbox, settings: Settings, tmp_path: Path
) -> None:
    """`fundapp serve`'s application with the scheduler on (every second): in-process on SQLite, a queue
    worker on PostgreSQL. The deadline passes on the facility's clock and the decision is closed within a
    minute without any request for it."""
    admin, _delegates = facility(api)
    decision = budget_decision(api, admin, api.clock.now() + timedelta(hours=1))
    did = int(decision["id"])
    serving = smtp_settings(
        settings.database_url,
        tmp_path / "var",
        smtp,
        FUNDAPP_SCHEDULER="on",
        FUNDAPP_SCHEDULER_INTERVAL_SECONDS="1",
    )
    with TestClient(create_app(serving, clock=api.clock), base_url="http://testserver.local") as client:
        assert client.get("/health").status_code == 200
        smtp.wait_for(3)
        api.clock.advance(hours=1, seconds=1)
        wait_until(lambda: closes(api, did), 60.0, "the close")
    assert len(closes(api, did)) == 1
    assert len(smtp.received()) == 3
    closed = accepted(api.client.get(f"{V1}/decisions/{did}", headers=admin.headers))
    assert closed["status"] == "closed"
