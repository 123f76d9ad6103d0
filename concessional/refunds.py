"""Receiving the refund due from an agency after its operation was cancelled (docs/concessional.md, "Money"):
the facts (the request, locked, and its refund receivable), the pure plan (``rules.plan_refund_received``)
and one write (``write_plan``).

A receipt of money is recorded by one person, as the grants' refunds are (``grants.refund``: a finance
officer or approver): it moves no money out of the facility, it records what the bank received.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlmodel import col

from concessional import rules
from concessional.models import FinancingRequest
from concessional.schemas import RefundReceivedIn
from concessional.service import Concessional
from fundapp.core.idempotency import scoped_key
from fundapp.core.plans import write_plan
from fundapp.core.security import ensure_permission
from fundapp.core.unit import Service
from ledger import JournalEntry, Ledger, Money, chart


@dataclass(frozen=True, slots=True)
class RefundReceived:
    """A refund received as written (``replayed`` when a repeated Idempotency-Key returned the first one)."""

    request_id: int
    grant_id: int
    amount: Money
    received_on: date
    reference: str
    entry_id: int
    refund_due: Money
    replayed: bool


class ConcessionalRefunds(Service):
    """The refund due from an agency, received."""

    def _key(self, request_id: int, key: str | None) -> str | None:
        """The journal's idempotency key of a receipt: the request and the sender's key (hashed to fit)."""
        scoped = scoped_key(self.actor.user_id, key)
        if scoped is None:
            return None
        return f"concessional-refund:{request_id}:{hashlib.sha256(scoped.encode()).hexdigest()[:40]}"

    async def _facts(self, request_id: int, key: str | None) -> rules.RefundFacts:
        await Concessional.of(self.unit).request(request_id)  # 404 unless the user may read it
        row = (
            await self.session.execute(
                select(FinancingRequest)
                .where(col(FinancingRequest.id) == request_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        assert row.id is not None
        currency = self.settings.reporting_currency
        due = 0
        if row.grant_id is not None:
            due, _ = await Ledger.of(self.unit).balance(
                chart.REFUNDS_RECEIVABLE, currency, window_id=row.window_id, grant_id=row.grant_id
            )
        replay = None
        if key is not None:
            replay = (
                await self.session.execute(
                    select(col(JournalEntry.payload_hash)).where(col(JournalEntry.idempotency_key) == key)
                )
            ).scalar_one_or_none()
        return rules.RefundFacts(
            request_id=row.id,
            status=row.status,
            grant_id=row.grant_id,
            window_id=row.window_id,
            currency=currency,
            cancelled_on=row.cancelled_on,
            due=due,
            replay_hash=replay,
        )

    async def receive(self, request_id: int, data: RefundReceivedIn, *, idempotency_key: str | None) -> RefundReceived:
        """Record money the agency paid back: Dr 1100 / Cr 1300 and Dr 8200 / Cr 8500 (``rules``)."""
        ensure_permission("grants.refund", self.user)
        key = self._key(request_id, idempotency_key)
        facts = await self._facts(request_id, key)
        amount = Money.from_minor(
            Concessional.money_in(data.amount, data.currency, "amount", positive=False), data.currency
        )
        plan = rules.plan_refund_received(
            facts, amount, received_on=data.received_on, reference=data.reference, key=key, today=self.now.date()
        )
        written = await write_plan(self.session, plan, poster=Ledger.of(self.unit), actor=self.actor, at=self.now)
        replayed = facts.replay_hash is not None
        due = facts.due if replayed else facts.due - amount.minor
        assert facts.grant_id is not None
        return RefundReceived(
            request_id=request_id,
            grant_id=facts.grant_id,
            amount=amount,
            received_on=data.received_on,
            reference=data.reference,
            entry_id=written.entries[0].id,
            refund_due=Money.from_minor(due, facts.currency),
            replayed=replayed,
        )
