"""The journal as an hledger file, so an auditor re-derives every balance with an independent tool.

Each posting keeps its currency; a foreign-currency posting carries its reporting amount as a total cost
(``@@``), so ``hledger balance`` gives the trial balance in transaction currencies and
``hledger balance --cost`` the trial balance in the reporting currency. Reporting-only lines (FX gains
and losses, revaluations) are ``0 CUR @@ X USD``: nothing in their currency, X in the reporting one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.money import exponent


def hledger_account(account: LedgerAccount) -> str:
    return f"{account.book}:{account.type}:{account.code}"


def _amount(minor: int, currency: str) -> str:
    places = exponent(currency)
    value = Decimal(minor).scaleb(-places)
    return f"{value:.{places}f} {currency}"


def _posting_lines(name: str, currency: str, amount: int, reporting: int, reporting_currency: str) -> list[str]:
    if currency == reporting_currency:
        return [f"    {name}  {_amount(amount, currency)}"]
    if amount == 0:
        return [f"    {name}  {_amount(0, currency)} @@ {_amount(reporting, reporting_currency)}"]
    if reporting == 0 or (reporting > 0) == (amount > 0):
        return [f"    {name}  {_amount(amount, currency)} @@ {_amount(abs(reporting), reporting_currency)}"]
    # Signs differ (rare): the amount at no cost, plus a reporting-only line.
    return [
        f"    {name}  {_amount(amount, currency)} @@ {_amount(0, reporting_currency)}",
        f"    {name}  {_amount(0, currency)} @@ {_amount(reporting, reporting_currency)}",
    ]


def _description(text: str) -> str:
    return " ".join(text.replace(";", ",").split())


async def hledger_journal(session: AsyncSession, *, reporting_currency: str, batch: int = 5000) -> AsyncIterator[str]:
    """The whole journal, in chunks of text, oldest entry first."""
    accounts = {
        a.id: a for a in (await session.execute(select(LedgerAccount).order_by(col(LedgerAccount.code)))).scalars()
    }
    currencies = sorted(
        {c for c in (await session.execute(select(col(Posting.currency)).distinct())).scalars()} | {reporting_currency}
    )
    header = ["; Concessional Migration Financing Facility - journal export (hledger format)", ""]
    # hledger wants a decimal mark in every commodity directive, even for currencies without decimals.
    header += [
        f"commodity {_amount(100000 * 10 ** exponent(c), c)}" if exponent(c) else f"commodity 100000. {c}"
        for c in currencies
    ]
    header.append("")
    for a in accounts.values():
        header.append(f"account {hledger_account(a)}  ; {a.name}")
    yield "\n".join(header) + "\n\n"
    last = 0
    while True:
        entries = (
            (
                await session.execute(
                    select(JournalEntry).where(col(JournalEntry.id) > last).order_by(col(JournalEntry.id)).limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not entries:
            return
        postings: dict[int, list[Posting]] = {}
        for p in (
            await session.execute(
                select(Posting)
                .where(col(Posting.entry_id).between(entries[0].id, entries[-1].id))
                .order_by(col(Posting.entry_id), col(Posting.line_no))
            )
        ).scalars():
            postings.setdefault(p.entry_id, []).append(p)
        chunk: list[str] = []
        for e in entries:
            chunk.append(
                f"{e.entry_date.isoformat()} * {_description(e.description)}  ; entry:{e.id}, source:{e.source_type}"
            )
            for p in postings.get(e.id, []):
                chunk.extend(
                    _posting_lines(
                        hledger_account(accounts[p.account_id]),
                        p.currency,
                        p.amount,
                        p.reporting_amount,
                        reporting_currency,
                    )
                )
            chunk.append("")
        last = entries[-1].id
        yield "\n".join(chunk) + "\n"
