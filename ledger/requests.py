"""Four eyes on the books: a manual journal entry or a reversal is *prepared* by one person, with its reason,
and *posted* only when a different person approves it (two different approvers when its size is above the
charter's threshold). Preparing checks everything posting would refuse and writes no entry; approving posts it
(the one write), exactly as it was prepared.

An entry a domain owns (a deposit, a grant agreement, a transfer, a decision's allocation...) is never reversed
here: it is corrected through its domain (a refund, a rejected or cancelled disbursement...), so the domain's
records and the books never disagree. Only manual entries and revaluations are reversible by request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from fundapp.core.chain import digest
from fundapp.core.errors import Conflict, NotFound, PermissionDenied
from fundapp.core.unit import Unit
from ledger.errors import IdempotencyConflict
from ledger.models import EntryRequest, RequestStatus
from ledger.money import Money
from ledger.rules import approvals_needed, checker_step
from ledger.service import Ledger
from ledger.types import EntryDraft, EntryView, Line

# Entries a person may ask to reverse through the ledger; every other source belongs to a domain.
REVERSIBLE_SOURCES = frozenset({"manual", "revaluation"})
# Where each domain's entries are corrected instead (shown in the refusal).
DOMAIN_CORRECTIONS = {
    "contribution": "contributions are corrected through governance (a payment recorded against the right target)",
    "assessment": "an assessed fee is set by the fee schedule and the assessment",
    "pledge": "a pledge is corrected by a new agreement or its condition",
    "grant_agreement": "a grant's agreement is corrected through the grant (its closure releases the commitment)",
    "grant_disbursement": "a transfer is corrected by a refund from the grantee (POST /grants/{id}/refunds)",
    "grant_refund": "a refund belongs to its grant",
    "grant_closure": "a closure belongs to its grant",
    "grant_tranche": "a recognised tranche belongs to its grant",
    "funding_decision": "a funding decision's allocation is changed by a decision of the members",
    "window_allocation": "an allocation of pooled funds is changed by a decision of the members",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    request: EntryRequest
    replayed: bool = False


def draft_payload(draft: EntryDraft) -> dict[str, Any]:
    """What is to be posted, as canonical JSON values (money as decimal strings with their currency)."""
    return {
        "entry_date": draft.entry_date.isoformat(),
        "description": draft.description,
        "settle_fx": draft.settle_fx,
        "lines": [
            {
                "account": line.account,
                "amount": line.amount.to_str(),
                "currency": line.amount.currency,
                "reporting_amount": None if line.reporting_amount is None else line.reporting_amount.to_str(),
                "contributor_id": line.contributor_id,
                "window_id": line.window_id,
                "grant_id": line.grant_id,
            }
            for line in draft.lines
        ],
    }


def draft_of(payload: dict[str, Any], reporting_currency: str, *, request_id: int) -> EntryDraft:
    return EntryDraft(
        entry_date=date.fromisoformat(payload["entry_date"]),
        description=payload["description"],
        lines=tuple(
            Line(
                line["account"],
                Money.of(line["amount"], line["currency"]),
                None if line["reporting_amount"] is None else Money.of(line["reporting_amount"], reporting_currency),
                contributor_id=line["contributor_id"],
                window_id=line["window_id"],
                grant_id=line["grant_id"],
            )
            for line in payload["lines"]
        ),
        source_type="manual",
        source_id=f"request:{request_id}",
        # The system's own key space: no request's key can take this form (request keys are scoped).
        idempotency_key=f"entry-request:{request_id}",
        settle_fx=payload["settle_fx"],
    )


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
        user_id = self.ledger.actor.user_id
        if user_id is None:
            raise PermissionDenied("a request is prepared and approved by people", rule="person-required")
        return user_id

    def _approvals_needed(self, size: int) -> int:
        return approvals_needed(Money.from_minor(size, self.ledger.reporting_currency).amount, self.threshold)

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
        if original.source_type not in REVERSIBLE_SOURCES:
            where = DOMAIN_CORRECTIONS.get(original.source_type, f"its domain ({original.source_type})")
            raise Conflict(
                f"entry {entry_id} belongs to {original.source_type}: never reversed by itself; {where}",
                field="entry_id",
                rule="domain-correction",
                source_type=original.source_type,
            )
        pending = (
            await self.session.execute(
                select(col(EntryRequest.id)).where(
                    col(EntryRequest.reverses_id) == entry_id, col(EntryRequest.status) == RequestStatus.PENDING.value
                )
            )
        ).first()
        if pending is not None:
            raise Conflict(
                f"request {pending[0]} to reverse entry {entry_id} is already waiting for approval",
                field="entry_id",
                rule="one-pending-reversal",
            )
        view = await self.ledger.entry(entry_id)
        size = sum(p.reporting_amount for p in view.postings if p.reporting_amount > 0)
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
        request = EntryRequest(
            kind=kind,
            status=RequestStatus.PENDING.value,
            payload=json.dumps(payload, sort_keys=True),
            payload_hash=payload_hash,
            reason=reason,
            amount=size,
            approvals_needed=self._approvals_needed(size),
            idempotency_key=idempotency_key,
            reverses_id=reverses_id,
            prepared_by=self._user_id,
            prepared_at=self.ledger.now,
        )
        self.session.add(request)
        await self.session.flush()
        await self._audit("ledger.request.prepare", request, {"kind": kind, "reason": reason, "size": size})
        return request

    async def get(self, request_id: int) -> EntryRequest:
        found = await self.session.get(EntryRequest, request_id) if 0 < request_id < 2**31 else None
        if found is None:
            raise NotFound(f"no entry request {request_id}")
        return found

    async def _locked(self, request_id: int) -> EntryRequest:
        await self.ledger.lock()  # every posting's lock: two approvals of one request are ordered
        request = await self.get(request_id)
        await self.session.refresh(request)
        if request.status != RequestStatus.PENDING.value:
            raise Conflict(f"request {request_id} is {request.status}", field="status", rule="request-pending")
        return request

    async def approve(self, request_id: int) -> tuple[EntryRequest, EntryView | None]:
        """Approve: a different person than who prepared it (and than the first approver when two are needed);
        the last approval posts the entry or the reversal."""
        request = await self._locked(request_id)
        approver = self._user_id
        step = checker_step(
            needed=request.approvals_needed,
            approver=approver,
            prepared_by=request.prepared_by,
            first_approver=request.first_approved_by,
        )
        if step.refused is not None:
            raise PermissionDenied(step.reason, field="request", rule=step.refused)
        if not step.final:
            request.first_approved_by, request.first_approved_at = approver, self.ledger.now
            self.session.add(request)
            await self.session.flush()
            await self._audit("ledger.request.first_approval", request, {"size": request.amount})
            return request, None
        payload = json.loads(request.payload)
        assert request.id is not None
        if request.kind == "entry":
            entry = await self.ledger.post(draft_of(payload, self.ledger.reporting_currency, request_id=request.id))
        else:
            entry = await self.ledger.reverse(
                int(payload["entry_id"]),
                entry_date=date.fromisoformat(payload["entry_date"]),
                description=payload["description"],
                idempotency_key=f"entry-request:{request.id}",
            )
        request.status = RequestStatus.APPROVED.value
        request.approved_by, request.approved_at = approver, self.ledger.now
        request.entry_id = entry.id
        self.session.add(request)
        await self.session.flush()
        await self._audit("ledger.request.approve", request, {"entry_id": entry.id, "hash": entry.hash})
        return request, entry

    async def reject(self, request_id: int, reason: str) -> EntryRequest:
        request = await self._locked(request_id)
        rejector = self._user_id
        if rejector == request.prepared_by:
            raise PermissionDenied("who prepared it cannot reject it", field="request", rule="maker-checker")
        request.status = RequestStatus.REJECTED.value
        request.rejected_by, request.rejected_at = rejector, self.ledger.now
        request.rejection_reason = reason
        self.session.add(request)
        await self.session.flush()
        await self._audit("ledger.request.reject", request, {"reason": reason})
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

    async def _audit(self, action: str, request: EntryRequest, after: dict[str, Any]) -> None:
        await self.unit.audit(action, "entry_request", request.id, after=after)
