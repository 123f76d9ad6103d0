"""What grantees and finance approvers are told by e-mail (docs/operations.md): a grant report that became
overdue (its due day passed and it was not submitted, or was returned and not submitted again), to the
grantees of the grant's organisation; a transfer awaiting approval, to every finance approver who may approve
it (not its preparer, nor its first approver for the second approval). The texts are in this package's
catalogue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.config import Settings
from fundapp.core.mail import Notice, Value, recipients
from fundapp.core.models import Role
from fundapp.core.web import PAGE_PREFIX, i18n
from fundapp.core.web.i18n import N_
from ledger import Money, format_money
from proposals import grant_workflow as gw
from proposals.models import Disbursement, DisbursementStatus, Grant, GrantReport, GrantStatus

i18n.register_catalogue(Path(__file__).resolve().parent / "locale")

OVERDUE_SUBJECT = N_("Report overdue: %(grant)s")
OVERDUE_BODY = N_(
    "Dear %(name)s,\n\n"
    "Report %(number)s of the grant “%(grant)s”, for %(period_start)s to %(period_end)s, was due on "
    "%(due_on)s and has not been received.\n\n"
    "Please submit it: %(link)s\n"
)
AWAITING_SUBJECT = N_("Transfer awaiting your approval: %(grant)s")
AWAITING_BODY = N_(
    "Dear %(name)s,\n\nA transfer of %(amount)s for the grant “%(grant)s” awaits %(approval)s.\n\nReview it: %(link)s\n"
)
FIRST_APPROVAL = N_("approval")
SECOND_APPROVAL = N_("a second approval")
AWAITING = tuple(sorted(gw.AWAITING_APPROVAL))


def _money(amount: int, currency: str) -> Callable[[str], str]:
    money = Money.from_minor(amount, currency)
    return lambda locale: format_money(money, "en_GB" if locale == "en" else locale)


def _translated(message: str) -> Callable[[str], str]:
    return lambda _locale: i18n.gettext(message)  # rendered inside the reader's language


async def grant_notices(session: AsyncSession, settings: Settings, now: datetime) -> list[Notice]:
    today = now.date()
    link = f"{settings.public_url}{PAGE_PREFIX}"
    notices: list[Notice] = []
    overdue = (
        await session.execute(
            select(GrantReport, Grant)
            .join(Grant, col(Grant.id) == col(GrantReport.grant_id))
            .where(
                col(GrantReport.status).in_(sorted(gw.AWAITING_SUBMISSION)),
                col(GrantReport.due_on) < today,
                col(Grant.status) != GrantStatus.CLOSED,
            )
            .order_by(col(GrantReport.id))
        )
    ).all()
    if overdue:
        grantees = await recipients(session, Role.GRANTEE, organisation_ids={g.organisation_id for _, g in overdue})
        for report, grant in overdue:
            params: dict[str, Value] = {
                "grant": grant.title,
                "number": report.number,
                "period_start": report.period_start,
                "period_end": report.period_end,
                "due_on": report.due_on,
                "link": link,
            }
            for grantee in grantees:
                if grantee.organisation_id == grant.organisation_id:
                    key = f"report-overdue:{report.id}:user:{grantee.user_id}"
                    notices.append(Notice(key, grantee, OVERDUE_SUBJECT, OVERDUE_BODY, params))
    awaiting = (
        await session.execute(
            select(Disbursement, Grant)
            .join(Grant, col(Grant.id) == col(Disbursement.grant_id))
            .where(col(Disbursement.status).in_(AWAITING))
            .order_by(col(Disbursement.id))
        )
    ).all()
    if awaiting:
        approvers = await recipients(session, Role.FINANCE_APPROVER)
        for row, grant in awaiting:
            second = row.status == DisbursementStatus.AWAITING_SECOND_APPROVAL
            params = {
                "grant": grant.title,
                "amount": _money(row.amount, row.currency),
                "approval": _translated(SECOND_APPROVAL if second else FIRST_APPROVAL),
                "link": link,
            }
            for approver in approvers:
                if approver.user_id in {row.prepared_by, row.approved_by}:
                    continue
                key = f"disbursement-awaiting:{row.id}:{2 if second else 1}:user:{approver.user_id}"
                notices.append(Notice(key, approver, AWAITING_SUBJECT, AWAITING_BODY, params))
    return notices
