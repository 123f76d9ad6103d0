"""The service runs by itself (docs/operations.md): time-driven work and the e-mail notifications.

``Jobs`` holds the job functions, each on the facility's clock (tests move it; nothing sleeps): close the
decisions whose deadline passed (their effects apply in the closing transaction), open the fee years that
have begun, and send the notifications that are due. ``Jobs.tick`` runs all three; every one of them is
idempotent under the services' own locks (a decision closes under its row lock, once; a fee year opens under
the journal's lock, once; a notification is claimed under its unique key, once), so two workers that both
run a tick change nothing twice.

What runs the tick:

- PostgreSQL: the job queue procrastinate. A periodic task defers one ``fundapp.tick`` job per interval; its
  table of periodic defers (unique per task and time) lets only one worker defer it and the queueing lock
  keeps at most one waiting, and a job is fetched by one worker (``FOR UPDATE SKIP LOCKED``). Its schema is
  created by migration 0016.
- SQLite: the same tick in-process, every interval, in each serving process (SQLite is one machine's).

Both run in ``fundapp serve`` (with ``FUNDAPP_SCHEDULER`` on, the default) and in ``fundapp worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate import JobContext
from procrastinate.psycopg_connector import PsycopgConnector

from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.mail import Email, Mailer, Notice, deliver, mailer_for
from fundapp.wiring import register_hooks
from governance.decisions import close_due_decisions
from governance.notices import decision_notices
from governance.service import open_due_fee_years
from proposals.notices import grant_notices

log = logging.getLogger("fundapp.jobs")

QUEUE = "fundapp"
TICK_TASK = "fundapp.tick"


@dataclass(frozen=True, slots=True)
class TickReport:
    at: datetime
    closed: list[int] = field(default_factory=list)
    fee_years: list[int] = field(default_factory=list)
    sent: list[Email] = field(default_factory=list)

    def describe(self) -> str:
        parts = [
            f"closed decisions: {', '.join(map(str, self.closed)) or 'none'}",
            f"fee years opened: {', '.join(map(str, self.fee_years)) or 'none'}",
            f"notifications sent: {len(self.sent)}",
        ]
        return "; ".join(parts)


@dataclass
class Jobs:
    """The job functions, bound to a database, the settings, the facility's clock and the mailer (None: no
    SMTP host, nothing is sent)."""

    database: Database
    settings: Settings
    clock: Clock
    mailer: Mailer | None = None

    async def close_decisions(self) -> list[int]:
        closed = await close_due_decisions(self.database, self.settings, self.clock.now())
        return [d.id for d in closed if d.id is not None]

    async def open_fee_years(self) -> list[int]:
        return await open_due_fee_years(self.database, self.settings, self.clock.now())

    async def notices(self) -> list[Notice]:
        now = self.clock.now()
        async with self.database.session(write=False) as session:
            return [
                *await decision_notices(session, self.settings, now),
                *await grant_notices(session, self.settings, now),
            ]

    async def notify(self) -> list[Email]:
        if self.mailer is None:
            return []
        return await deliver(self.database, self.settings, self.mailer, await self.notices(), self.clock.now())

    async def tick(self) -> TickReport:
        """Everything that is due now, in order: the closes first (a closed decision is no longer open for
        reminders), then the fee years, then the notifications."""
        closed = await self.close_decisions()
        years = await self.open_fee_years()
        sent = await self.notify()
        report = TickReport(self.clock.now(), closed, years, sent)
        if closed or years or sent:
            log.info("scheduled work: %s", report.describe())
        return report


def jobs_for(database: Database, settings: Settings, clock: Clock) -> Jobs:
    register_hooks()  # closing a funding decision calls proposals
    return Jobs(database, settings, clock, mailer_for(settings))


# ---------------------------------------------------------------- PostgreSQL: procrastinate


def queue_conninfo(database_url: str) -> str:
    """The libpq URL of the service's database URL (``postgresql+asyncpg://`` -> ``postgresql://``)."""
    scheme, _, rest = database_url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def cron(interval_seconds: int) -> str:
    """procrastinate's cron for the interval: seconds as a sixth column below a minute."""
    if interval_seconds < 60:
        return f"* * * * * */{interval_seconds}"
    return f"*/{interval_seconds // 60} * * * *"


async def _tick_task(context: JobContext, timestamp: int) -> None:
    jobs: Jobs = context.additional_context["jobs"]
    await jobs.tick()


def queue_app(settings: Settings) -> procrastinate.App:
    """A procrastinate app on the service's PostgreSQL database with the periodic tick."""
    app = procrastinate.App(connector=PsycopgConnector(conninfo=queue_conninfo(settings.database_url), max_size=4))
    task = app.task(name=TICK_TASK, queue=QUEUE, queueing_lock=TICK_TASK, pass_context=True)(_tick_task)
    app.periodic(cron=cron(settings.scheduler_interval_seconds), periodic_id="tick")(task)
    return app


async def run_queue_worker(jobs: Jobs, *, name: str = "fundapp") -> None:
    """A procrastinate worker: defers the periodic tick and runs the queue's jobs until cancelled."""
    app = queue_app(jobs.settings)
    async with app.open_async():
        await app.run_worker_async(
            queues=[QUEUE],
            name=name,
            additional_context={"jobs": jobs},
            install_signal_handlers=False,
            delete_jobs="successful",
        )


# ---------------------------------------------------------------- SQLite: in-process


async def run_in_process(jobs: Jobs, interval_seconds: float) -> None:
    """The tick every interval, until cancelled; a failed tick is logged and the next one tries again."""
    while True:
        try:
            await jobs.tick()
        except Exception:  # the loop goes on; the work is retried at the next tick
            log.exception("scheduled work failed; trying again in %s s", interval_seconds)
        await asyncio.sleep(interval_seconds)


async def run_scheduler(jobs: Jobs, *, name: str = "fundapp") -> None:
    """The scheduler for the database in use, until cancelled."""
    if jobs.settings.is_sqlite:
        await run_in_process(jobs, jobs.settings.scheduler_interval_seconds)
    else:
        await run_queue_worker(jobs, name=name)


class Scheduler:
    """The scheduler as a background task of a serving process (started and stopped by its lifespan)."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="fundapp-scheduler")

    async def _run(self) -> None:
        try:
            await run_scheduler(self.jobs)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the scheduler stopped; time-driven work waits for `fundapp worker` or a restart")

    async def stop(self) -> None:
        if self.task is None:
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None


def describe_settings(settings: Settings) -> dict[str, Any]:
    return {
        "scheduler": "procrastinate (PostgreSQL)" if not settings.is_sqlite else "in-process (SQLite)",
        "interval_seconds": settings.scheduler_interval_seconds,
        "smtp": f"{settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host else "off",
    }
