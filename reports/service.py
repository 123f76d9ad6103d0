"""What every report is built from: one read of the database at one ledger state.

A report reads the ledger and the domain tables in the request's session; the journal's chain head is
read first and printed on the report, so a reader can tell which ledger state the figures came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core.config import Settings
from ledger import queries


@dataclass(frozen=True, slots=True)
class ReportContext:
    session: AsyncSession
    settings: Settings
    now: datetime
    ledger_head: str

    @property
    def currency(self) -> str:
        return self.settings.reporting_currency

    @property
    def today(self) -> date:
        return self.now.date()


async def report_context(session: AsyncSession, settings: Settings, now: datetime) -> ReportContext:
    return ReportContext(session, settings, now, await queries.chain_head(session))
