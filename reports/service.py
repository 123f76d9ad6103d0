"""What every report is built from: one read of the database at one ledger state.

A report reads the ledger and the domain tables in the request's session; the journal's chain head is
read first and printed on the report, so a reader can tell which ledger state the figures came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core.config import Settings
from ledger import Period, PeriodStatus, chain_head_up_to, queries, rules
from reports.document import Label, Report, Table


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

    async def report(
        self, name: str, title: Label, date_from: date | None, date_to: date, tables: Sequence[Table], **more: Any
    ) -> Report:
        """A report of this context covering ``date_from`` (None: inception) to ``date_to``, in the reporting
        currency, stamped with the ledger state its figures come from (see ``ledger_state``)."""
        state = await self.ledger_state(date_to)
        return Report(
            name=name,
            title=title,
            currency=self.currency,
            generated_at=self.now,
            ledger_head=state.head,
            closed=state.closed,
            date_from=date_from,
            date_to=date_to,
            tables=tuple(tables),
            **more,
        )

    async def ledger_state(self, as_of: date) -> LedgerState:
        """The ledger state a report as of ``as_of`` comes from. Once the month of ``as_of`` is closed (and
        months close in order, so every earlier one is too) nothing can be posted on or before that day:
        the state is the chain head of the last entry of a month up to that one, fixed for ever. Until
        then it is the journal's current head."""
        period_id = rules.period_of(as_of)
        period = await self.session.get(Period, period_id)
        if period is None or period.status != PeriodStatus.CLOSED.value:
            return LedgerState(self.ledger_head, closed=False)
        return LedgerState(await chain_head_up_to(self.session, period_id), closed=True)


@dataclass(frozen=True, slots=True)
class LedgerState:
    head: str
    closed: bool


async def report_context(session: AsyncSession, settings: Settings, now: datetime) -> ReportContext:
    return ReportContext(session, settings, now, await queries.chain_head(session))
