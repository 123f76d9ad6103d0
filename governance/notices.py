"""What the member states' delegates are told by e-mail (docs/operations.md): a decision opened for their
member, and a decision closing within 24 hours on which their member has not taken part yet. Only members on
the decision's roll (fixed at its opening) are told; the texts are in this package's catalogue."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.config import Settings
from fundapp.core.mail import Notice, Value, recipients
from fundapp.core.models import Role
from fundapp.core.web import PAGE_PREFIX, i18n
from fundapp.core.web.i18n import N_
from governance.models import Ballot, Decision, DecisionRoll, DecisionStatus, Recusal

i18n.register_catalogue(Path(__file__).resolve().parent / "locale")

REMINDER_BEFORE = timedelta(hours=24)

OPENED_SUBJECT = N_("Decision open for your member state: %(title)s")
OPENED_BODY = N_(
    "Dear %(name)s,\n\n"
    "The decision “%(title)s” is open for %(member)s until %(closes_at)s.\n\n"
    "Read it and take part: %(link)s\n"
)
CLOSING_SUBJECT = N_("Decision closing within 24 hours: %(title)s")
CLOSING_BODY = N_(
    "Dear %(name)s,\n\n"
    "The decision “%(title)s” closes on %(closes_at)s and %(member)s has not taken part yet.\n\n"
    "Read it and take part: %(link)s\n"
)


async def decision_notices(session: AsyncSession, settings: Settings, now: datetime) -> list[Notice]:
    """The notices of every open decision: its opening to each delegate of a member on its roll, and, in its
    last 24 hours, a reminder to each delegate whose member has neither a ballot nor a recusal. A decision
    that opened with less than a day to run gets no reminder (its opening notice says when it closes)."""
    decisions = list(
        (
            await session.execute(
                select(Decision)
                .where(col(Decision.status) == DecisionStatus.OPEN.value, col(Decision.closes_at) > now)
                .order_by(col(Decision.id))
            )
        ).scalars()
    )
    if not decisions:
        return []
    ids = [d.id for d in decisions]
    roll: dict[int, set[str]] = defaultdict(set)
    for decision_id, code in await session.execute(
        select(col(DecisionRoll.decision_id), col(DecisionRoll.member_code)).where(
            col(DecisionRoll.decision_id).in_(ids)
        )
    ):
        roll[decision_id].add(code)
    took_part: dict[int, set[str]] = defaultdict(set)
    for table in (Ballot, Recusal):
        for decision_id, code in await session.execute(
            select(col(table.decision_id), col(table.member_code)).where(col(table.decision_id).in_(ids))
        ):
            took_part[decision_id].add(code)
    delegates = await recipients(
        session, Role.MEMBER_DELEGATE, member_codes=set().union(*roll.values()) if roll else set()
    )
    notices: list[Notice] = []
    for decision in decisions:
        assert decision.id is not None
        params: dict[str, Value] = {
            "title": decision.title,
            "closes_at": decision.closes_at,
            "link": f"{settings.public_url}{PAGE_PREFIX}/decisions/{decision.id}",
        }
        remind = decision.closes_at - now <= REMINDER_BEFORE and (
            decision.opens_at is None or decision.closes_at - decision.opens_at > REMINDER_BEFORE
        )
        for delegate in delegates:
            member = delegate.member_code
            if member is None or member not in roll[decision.id]:
                continue
            values = {**params, "member": member}
            notices.append(
                Notice(
                    f"decision-opened:{decision.id}:user:{delegate.user_id}",
                    delegate,
                    OPENED_SUBJECT,
                    OPENED_BODY,
                    values,
                )
            )
            if remind and member not in took_part[decision.id]:
                notices.append(
                    Notice(
                        f"decision-closing:{decision.id}:user:{delegate.user_id}",
                        delegate,
                        CLOSING_SUBJECT,
                        CLOSING_BODY,
                        values,
                    )
                )
    return notices
