"""A member's statement: what it was assessed and pledged, what it paid, FX effects and the balance,
derived from the ledger's postings for the member's contributor dimension."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlmodel import col

from governance.models import Assessment, Pledge
from governance.schemas import CurrencyBalance, MemberStatement, StatementLine
from governance.service import Governance
from governance.views import assessment_public, pledges_public
from ledger import MoneyOut, balances, chart, postings_for

RECEIVABLE_ACCOUNTS = (chart.CONTRIBUTIONS_RECEIVABLE, chart.UNAPPLIED_CONTRIBUTIONS, chart.RECEIVED_IN_ADVANCE)
FX_ACCOUNTS = (chart.FX_GAIN_REALISED, chart.FX_GAIN_UNREALISED, chart.FX_LOSS_REALISED, chart.FX_LOSS_UNREALISED)
KINDS = {
    "assessment": "assessment",
    "pledge": "pledge",
    "contribution": "payment",
    "revaluation": "revaluation",
    "reversal": "correction",
    "pledge-condition": "pledge",
}


async def member_balance_due(gov: Governance, code: str, *, as_of: date) -> int:
    """The statement's balance due (minor units of the reporting currency) in one sum, without its lines: what
    :func:`member_statement` adds up from the same postings (its receivable, unapplied and advance accounts)."""
    await gov.member(code)
    contributor = await gov.member_contributor(code)
    (total,) = await balances(
        gov.session, group_by=(), accounts=RECEIVABLE_ACCOUNTS, contributor_id=contributor.id, as_of=as_of
    )
    return int(total["reporting_amount"])


async def member_statement(gov: Governance, code: str, *, as_of: date) -> MemberStatement:
    await gov.member(code)
    contributor = await gov.member_contributor(code)
    assert contributor.id is not None
    rc = gov.settings.reporting_currency
    lines = await postings_for(gov.session, accounts=RECEIVABLE_ACCOUNTS, contributor_id=contributor.id, as_of=as_of)
    receivable: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    unapplied: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    advance: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    buckets = {
        chart.CONTRIBUTIONS_RECEIVABLE: receivable,
        chart.UNAPPLIED_CONTRIBUTIONS: unapplied,
        chart.RECEIVED_IN_ADVANCE: advance,
    }
    for line in lines:
        bucket = buckets[line.account]
        bucket[line.currency][0] += line.amount
        bucket[line.currency][1] += line.reporting_amount
    fx = await postings_for(gov.session, accounts=FX_ACCOUNTS, contributor_id=contributor.id, as_of=as_of)
    # Gains are credits (negative); an effect in the member's favour is shown positive.
    fx_effect = -sum(p.reporting_amount for p in fx)
    due = sum(v[1] for bucket in buckets.values() for v in bucket.values())
    assessments = (
        (
            await gov.session.execute(
                select(Assessment).where(col(Assessment.member_code) == code).order_by(col(Assessment.year))
            )
        )
        .scalars()
        .all()
    )
    paid = await gov.paid_by_assessment([a.id for a in assessments if a.id], as_of=as_of)
    pledges = (
        (
            await gov.session.execute(
                select(Pledge).where(col(Pledge.contributor_id) == contributor.id).order_by(col(Pledge.id))
            )
        )
        .scalars()
        .all()
    )
    return MemberStatement(
        member_code=code,
        contributor_id=contributor.id,
        as_of=as_of,
        reporting_currency=rc,
        lines=[
            StatementLine(
                date=p.entry_date,
                kind=KINDS.get(p.source_type, p.source_type),
                description=p.description,
                amount=MoneyOut.of(p.amount, p.currency),
                reporting_amount=MoneyOut.of(p.reporting_amount, rc),
                entry_id=p.entry_id,
            )
            for p in lines
        ],
        receivable=[
            CurrencyBalance(balance=MoneyOut.of(v[0], c), reporting=MoneyOut.of(v[1], rc))
            for c, v in sorted(receivable.items())
        ],
        unapplied_credit=[
            CurrencyBalance(balance=MoneyOut.of(-v[0], c), reporting=MoneyOut.of(-v[1], rc))
            for c, v in sorted(unapplied.items())
            if v[0] or v[1]
        ],
        paid_in_advance=[
            CurrencyBalance(balance=MoneyOut.of(-v[0], c), reporting=MoneyOut.of(-v[1], rc))
            for c, v in sorted(advance.items())
            if v[0] or v[1]
        ],
        fx_effects=MoneyOut.of(fx_effect, rc),
        balance_due_reporting=MoneyOut.of(due, rc),
        assessments=[assessment_public(a, paid.get(a.id or 0, 0)) for a in assessments],
        pledges=await pledges_public(gov, pledges, as_of=as_of),
    )
