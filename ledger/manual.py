"""Ledger operations that people start through the API or the CLI; each one is audited.

(Postings made by other domains are audited by those domains' own events, which name the entry.)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import col

from fundapp.core.errors import Conflict
from ledger.errors import LedgerRuleError
from ledger.models import FxRate, LedgerAccount, Period
from ledger.money import Money, PrecisionError, exponent
from ledger.schemas import AccountIn, EntryIn, FxRateIn
from ledger.service import Ledger
from ledger.types import EntryDraft, EntryView, Line


def _reporting(value: str | None, currency: str, index: int) -> Money | None:
    if value is None:
        return None
    try:
        return Money.of(value, currency)
    except PrecisionError as exc:
        raise LedgerRuleError(
            f"{currency} has {exponent(currency)} decimals; {value} has more",
            field=f"lines.{index}.reporting_amount",
            rule="excess_precision",
        ) from exc


def draft_from(data: EntryIn, *, idempotency_key: str | None, reporting_currency: str) -> EntryDraft:
    lines = tuple(
        Line(
            account=line.account,
            amount=Money.of(line.amount, line.currency),
            reporting_amount=_reporting(line.reporting_amount, reporting_currency, i),
            contributor_id=line.contributor_id,
            window_id=line.window_id,
            grant_id=line.grant_id,
        )
        for i, line in enumerate(data.lines)
    )
    return EntryDraft(data.entry_date, data.description, lines, "manual", None, idempotency_key, data.settle_fx)


async def _record(ledger: Ledger, action: str, object_type: str, object_id: object, after: dict[str, object]) -> None:
    await ledger.unit.audit(action, object_type, object_id, after=after)


async def post_manual(ledger: Ledger, draft: EntryDraft) -> EntryView:
    entry = await ledger.post(draft)
    if not entry.replayed:
        await _record(
            ledger,
            "ledger.entry.post",
            "journal_entry",
            entry.id,
            {"hash": entry.hash, "lines": len(entry.postings), "description": entry.description},
        )
    return entry


async def close_period_manual(ledger: Ledger, period_id: str) -> Period:
    period = await ledger.close_period(period_id)
    await _record(
        ledger,
        "ledger.period.close",
        "ledger_period",
        period_id,
        {"status": period.status, "closing_chain_head": period.closing_chain_head},
    )
    return period


async def add_rate_manual(ledger: Ledger, data: FxRateIn) -> FxRate:
    existing = (
        await ledger.session.execute(
            select(col(FxRate.id)).where(col(FxRate.currency) == data.currency, col(FxRate.rate_date) == data.rate_date)
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(
            f"a {data.currency} rate for {data.rate_date.isoformat()} exists; rates are never changed",
            field="rate_date",
            rule="one-rate-per-day",
        )
    if data.currency == ledger.reporting_currency:
        raise Conflict(
            f"{data.currency} is the reporting currency; its rate is always 1",
            field="currency",
            rule="not-reporting-currency",
        )
    rate = await ledger.add_rate(data.currency, data.rate_date, Decimal(data.rate), source=data.source)
    await _record(
        ledger,
        "ledger.fx_rate.add",
        "fx_rate",
        rate.id,
        {"currency": rate.currency, "rate_date": rate.rate_date, "rate": rate.rate},
    )
    return rate


async def revalue_manual(ledger: Ledger, as_of: date) -> EntryView | None:
    entry = await ledger.revalue(as_of)
    await _record(
        ledger, "ledger.revalue", "revaluation", as_of.isoformat(), {"entry": None if entry is None else entry.id}
    )
    return entry


async def create_account(ledger: Ledger, data: AccountIn) -> LedgerAccount:
    await ledger.lock()  # every writer of the chart holds the journal's lock first (see ledger.service)
    if data.code in await ledger.accounts():
        raise Conflict(f"an account with code {data.code} exists", field="code", rule="unique")
    account = LedgerAccount.model_validate(data.model_dump() | {"is_open": True})
    ledger.session.add(account)
    await ledger.session.flush()
    ledger.forget_accounts()
    await _record(ledger, "ledger.account.create", "ledger_account", data.code, data.model_dump())
    return account


async def close_account_manual(ledger: Ledger, code: str) -> LedgerAccount:
    account = await ledger.close_account(code)
    await _record(ledger, "ledger.account.close", "ledger_account", code, {"is_open": False})
    return account
