"""Four eyes on the books: a manual journal entry or a reversal is *prepared* by one person, with its reason,
and *posted* only when a different person approves it (two different approvers when its size is above the
charter's threshold). Preparing checks everything posting would refuse and writes no entry; approving posts it
(the one write), exactly as it was prepared.

An entry a domain owns (a deposit, a grant agreement, a transfer, a decision's allocation...) is never reversed
here: it is corrected through its domain (a refund, a rejected or cancelled disbursement...), so the domain's
records and the books never disagree. Only manual entries and revaluations are reversible by request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from fundapp.core.chain import digest
from fundapp.core.errors import NotFound
from fundapp.core.unit import Unit
from ledger import rules
from ledger.errors import IdempotencyConflict
from ledger.models import EntryRequest, RequestStatus
from ledger.rules import draft_payload
from ledger.service import Ledger
from ledger.types import EntryDraft, EntryView


@dataclass(frozen=True, slots=True)
class Prepared:
    request: EntryRequest
    replayed: bool = False


class EntryRequests:
    """Preparing, approving and rejecting manual entries and reversals, in the caller's transaction."""

    def __init__(self, ledger: Ledger, *, threshold: Decimal) -> None:
        self.ledger = ledger
        self.unit = ledger.unit
        self.session = ledger.session
        self.user = ledger.user
        self.actor = ledger.actor
        self.threshold = threshold

    @classmethod
    def of(cls, unit: Unit) -> EntryRequests:
        return cls(Ledger.of(unit), threshold=unit.settings.charter.second_approver_threshold)

    @property
    def _user_id(self) -> int:
        return rules.require_person(self.ledger.actor.user_id)

    async def _replay(self, key: str | None, payload_hash: str) -> EntryRequest | None:
        """The request this preparer made earlier with ``key`` (keys are each preparer's own)."""
        if key is None:
            return None
        found = (
            await self.session.execute(
                select(EntryRequest).where(
                    col(EntryRequest.prepared_by) == self._user_id, col(EntryRequest.idempotency_key) == key
                )
            )
        ).scalar_one_or_none()
        if found is not None and found.payload_hash != payload_hash:
            raise IdempotencyConflict(
                f"the idempotency key was used for request {found.id} with a different body",
                field="Idempotency-Key",
                rule="idempotency-same-payload",
            )
        return found

    async def prepare_entry(self, draft: EntryDraft, reason: str, *, idempotency_key: str | None) -> Prepared:
        """A manual entry, checked as posting would check it, waiting for its approval."""
        payload = draft_payload(draft)
        payload_hash = digest({"kind": "entry", "payload": payload, "reason": reason})
        earlier = await self._replay(idempotency_key, payload_hash)
        if earlier is not None:
            return Prepared(earlier, replayed=True)
        size = await self.ledger.check(draft)
        return Prepared(await self._save("entry", payload, payload_hash, reason, size, idempotency_key, None))

    async def prepare_reversal(
        self, entry_id: int, entry_date: date, description: str | None, reason: str, *, idempotency_key: str | None
    ) -> Prepared:
        """A reversal of a manual entry or a revaluation, checked as posting it would be, waiting for approval."""
        payload = {"entry_id": entry_id, "entry_date": entry_date.isoformat(), "description": description}
        payload_hash = digest({"kind": "reversal", "payload": payload, "reason": reason})
        earlier = await self._replay(idempotency_key, payload_hash)
        if earlier is not None:
            return Prepared(earlier, replayed=True)
        original = await self.ledger.check_reversal(entry_id, entry_date)
        pending = (
            await self.session.execute(
                select(col(EntryRequest.id)).where(
                    col(EntryRequest.reverses_id) == entry_id, col(EntryRequest.status) == RequestStatus.PENDING.value
                )
            )
        ).first()
        rules.check_reversal_request(entry_id, original.source_type, None if pending is None else pending[0])
        size = rules.reversal_size((await self.ledger.entry(entry_id)).postings)
        return Prepared(await self._save("reversal", payload, payload_hash, reason, size, idempotency_key, entry_id))

    async def _save(
        self,
        kind: str,
        payload: dict[str, Any],
        payload_hash: str,
        reason: str,
        size: int,
        idempotency_key: str | None,
        reverses_id: int | None,
    ) -> EntryRequest:
        plan = rules.plan_request(
            kind=kind,
            payload=payload,
            payload_hash=payload_hash,
            reason=reason,
            size=size,
            idempotency_key=idempotency_key,
            reverses_id=reverses_id,
            prepared_by=self.ledger.actor.user_id,
            now=self.ledger.now,
            threshold=self.threshold,
            reporting_currency=self.ledger.reporting_currency,
        )
        request = EntryRequest(**plan.values)
        self.session.add(request)
        await self.session.flush()
        await self._audit(plan.audit, request)
        return request

    async def get(self, request_id: int) -> EntryRequest:
        found = await self.session.get(EntryRequest, request_id) if 0 < request_id < 2**31 else None
        if found is None:
            raise NotFound(f"no entry request {request_id}")
        return found

    async def _locked(self, request_id: int) -> tuple[EntryRequest, rules.RequestFacts]:
        await self.ledger.lock()  # every posting's lock: two approvals of one request are ordered
        request = await self.get(request_id)
        await self.session.refresh(request)
        assert request.id is not None
        facts = rules.RequestFacts(
            id=request.id,
            kind=request.kind,
            status=request.status,
            payload=request.payload,
            amount=request.amount,
            approvals_needed=request.approvals_needed,
            prepared_by=request.prepared_by,
            first_approved_by=request.first_approved_by,
        )
        return request, facts

    async def _update(self, request: EntryRequest, updates: Mapping[str, Any], audit_event: rules.PlannedAudit) -> None:
        for name, value in updates.items():
            setattr(request, name, value)
        self.session.add(request)
        await self.session.flush()
        await self._audit(audit_event, request)

    async def approve(self, request_id: int) -> tuple[EntryRequest, EntryView | None]:
        """Approve: a different person than who prepared it (and than the first approver when two are needed);
        the last approval posts the entry or the reversal."""
        request, facts = await self._locked(request_id)
        plan = rules.plan_approval(facts, self.ledger.actor.user_id, self.ledger.now, self.ledger.reporting_currency)
        if plan.posts is None:
            assert plan.audit is not None
            await self._update(request, plan.updates, plan.audit)
            return request, None
        if isinstance(plan.posts, rules.ReversalOrder):
            order = plan.posts
            entry = await self.ledger.reverse(
                order.entry_id,
                entry_date=order.entry_date,
                description=order.description,
                idempotency_key=order.idempotency_key,
            )
        else:
            entry = await self.ledger.post(plan.posts)
        updates, audit_event = rules.approved(plan, facts.id, entry.id, entry.hash)
        await self._update(request, updates, audit_event)
        return request, entry

    async def reject(self, request_id: int, reason: str) -> EntryRequest:
        request, facts = await self._locked(request_id)
        updates, audit_event = rules.plan_rejection(facts, self.ledger.actor.user_id, reason, self.ledger.now)
        await self._update(request, updates, audit_event)
        return request

    async def list(self, *, status: str | None, limit: int, offset: int) -> tuple[int, list[EntryRequest]]:
        conditions = [] if status is None else [col(EntryRequest.status) == status]
        counted = select(func.count()).select_from(EntryRequest).where(*conditions)
        total = (await self.session.execute(counted)).scalar_one()
        rows = (
            await self.session.execute(
                select(EntryRequest)
                .where(*conditions)
                .order_by(col(EntryRequest.id).desc())
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
        return int(total), list(rows)

    async def _audit(self, event: rules.PlannedAudit, request: EntryRequest) -> None:
        object_id = request.id if event.object_id is None else event.object_id
        await self.unit.audit(event.action, event.object_type, object_id, after=dict(event.after))
