"""Grants services: the only code that writes grants, tranches, disbursements, grant reports, refunds and
their idempotency keys. Every money movement is posted to the ledger under the grant's dimensions in the
same transaction, and every change writes an audit event.

Concurrency: every operation that changes a grant first locks the grant's row, then the tranche rows it
touches (in id order), then the disbursement's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
writers already hold the database's write lock from ``BEGIN IMMEDIATE``), and reads what it decides on
only after holding the locks. Posting then takes the journal's lock. So two approvals of one disbursement,
or two disbursements of one tranche, run one after the other and the second sees what the first did. The
database backs this up: a tranche's ``paid`` cannot exceed its amount, an approver cannot be the preparer
(CHECK constraints), and each transfer's journal entry carries an idempotency key derived from the
disbursement, so it can be posted once only.

Every state change goes through the workflows of ``proposals/grant_workflow.py`` (``gw.advance``). Each money
command has one shape: the service reads its facts under the locks (plain values: ``rules.GrantBook``,
``rules.TrancheFacts``, balances), a pure planner of ``proposals/rules.py`` decides (``plan_agreement``,
``plan_recognition``, ``plan_transfer``, ``plan_refund``, ``plan_closure``; ``plan_grant`` at creation) and
``_write`` writes its plan: the entry, the rows, the audit events.

Postings (docs/chart-of-accounts.md, "Grants"):

- adoption (posted by the decision, not here): 8300 allocated Dr / 8200 available Cr;
- agreement: 8400 committed Dr / 8300 allocated Cr, and for tranches without a condition
  5100 transfers Dr / 2100 grants payable Cr;
- a conditional tranche, when a report is accepted: 5100 Dr / 2100 Cr;
- an approved transfer: 2100 Dr / 1100 cash Cr and 8500 disbursed Dr / 8400 committed Cr;
- a refund: 1100 Dr / 5100 Cr and 8200 available Dr / 8500 disbursed Cr;
- closure: 8200 available Dr / 8400 committed Cr for what was committed and not paid, and
  2100 Dr / 5100 Cr for what was recognised and not paid.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from fundapp.core.chain import canonical_json, digest
from fundapp.core.config import Settings
from fundapp.core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from fundapp.core.idempotency import scoped_key
from fundapp.core.ids import new_id
from fundapp.core.security import Principal, ensure_permission, has_permission
from fundapp.core.unit import Service, Unit
from ledger import Ledger, Money, MoneyError, PrecisionError, chart, exponent, postings_for, to_json
from proposals import grant_workflow as gw
from proposals import rules
from proposals.models import (
    Disbursement,
    Grant,
    GrantReport,
    GrantRequest,
    Organisation,
    Proposal,
    Refund,
    ReportKind,
    ReportStatus,
    Tranche,
)
from proposals.permissions import GrantFacts
from proposals.schemas import (
    AgreementIn,
    DisbursementCreate,
    GrantAction,
    ProposalContent,
    RefundCreate,
    RejectIn,
    ReportReview,
    ReportSubmit,
    TrancheCondition,
)

T = TypeVar("T")
# The largest amount one figure may carry, in minor units (as the ledger's line limit).
MAX_MINOR = 10**15
# The accounts a grant statement reads under the grant dimension.
STATEMENT_ACCOUNTS = (
    chart.ALLOCATED,
    chart.COMMITTED,
    chart.DISBURSED,
    chart.TRANSFERS_TO_PARTNERS,
    chart.GRANTS_PAYABLE,
)


# Checks another domain adds before a grant's money moves (the shell joins them in ``fundapp.wiring``):
# concessional refuses a transfer to an agency whose loan is not yet effective, and a refund through the
# grants on a cancelled concessional operation (its refund due is received through the operation). A guard
# takes the session, the locked grant and the action (``prepare_disbursement`` or ``refund``) and raises a
# DomainError naming field and rule; it writes nothing.
GrantGuard = Callable[[AsyncSession, Grant, str], Awaitable[None]]
_grant_guards: list[GrantGuard] = []


def register_grant_guard(guard: GrantGuard) -> None:
    """Add a check run before a grant's transfer is prepared or its refund recorded (registering the same
    guard again changes nothing)."""
    if guard not in _grant_guards:
        _grant_guards.append(guard)


async def _guard(session: AsyncSession, grant: Grant, action: str) -> None:
    for guard in _grant_guards:
        await guard(session, grant, action)


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """The result of a money movement; ``replayed`` when a repeated Idempotency-Key returned the first one."""

    value: T
    replayed: bool = False


class Grants(Service):
    """Operations on grants, bound to one session (and its transaction), one user and one moment."""

    def __init__(self, session: AsyncSession, *, settings: Settings, user: Principal | None, now: datetime) -> None:
        self.bind(Unit(session, settings, user, now))

    def bind(self, unit: Unit) -> None:
        super().bind(unit)
        self.ledger = Ledger.of(unit)

    @property
    def currency(self) -> str:
        return self.settings.reporting_currency

    @property
    def today(self) -> date:
        return self.now.date()

    async def _audit(
        self,
        action: str,
        object_id: object,
        *,
        object_type: str = "grant",
        before: dict[str, Any] | None = None,
        **after: Any,
    ) -> None:
        await self.unit.audit(action, object_type, object_id, before=before, after=after)

    def _money(self, amount: str, field_name: str, *, currency: str | None = None) -> Money:
        """Money from an input decimal string, refused with a named rule rather than rounded."""
        currency = currency or self.currency
        try:
            money = Money.of(amount, currency)
        except PrecisionError as exc:
            raise InvalidInput(
                f"{currency} has {exponent(currency)} decimals; {amount} has more",
                field=field_name,
                rule="excess_precision",
            ) from exc
        except (MoneyError, InvalidOperation) as exc:
            raise InvalidInput(f"{amount} is not a decimal amount", field=field_name, rule="invalid_amount") from exc
        if abs(money.minor) > MAX_MINOR:
            raise InvalidInput(
                f"amounts are at most {Money.from_minor(MAX_MINOR, currency)}",
                field=field_name,
                rule="amount-within-range",
            )
        return money

    def _user(self) -> Principal:
        if self.user is None:
            raise PermissionDenied("this step needs a person")
        return self.user

    # ---------------------------------------------------------------- creation (the decision's hook)

    async def create_from_decision(
        self, proposal_id: int, *, decision_id: int | None = None, decided_on: date | None = None
    ) -> Grant:
        """Create the grant an adopted funding decision makes, in the decision's transaction
        (``rules.plan_grant``): start on the decision's date. Posts nothing: the decision posts the
        allocation (8200 -> 8300) itself."""
        proposal = await self._proposal_facts(proposal_id)
        charter = self.settings.charter
        plan = rules.plan_grant(
            proposal,
            currency=self.currency,
            decision_id=decision_id,
            start=decided_on or self.today,
            terms=rules.ReportTerms(
                charter.grant_report_interval_months, charter.grant_report_due_days, charter.grant_final_report_due_days
            ),
            now=self.now,
        )
        grant = Grant(**plan.grant)
        self.session.add(grant)
        await self.session.flush()
        assert grant.id is not None
        self.session.add_all([Tranche(grant_id=grant.id, **values) for values in plan.tranches])
        self.session.add_all([GrantReport(grant_id=grant.id, **values) for values in plan.reports])
        await self.session.flush()
        await self._audit("grant.create", grant.id, **plan.after)
        return grant

    async def _proposal_facts(self, proposal_id: int) -> rules.ProposalFacts:
        proposal = await self.session.get(Proposal, proposal_id)
        if proposal is None or proposal.id is None:
            raise NotFound(f"no proposal with id {proposal_id}", field="proposal_id", rule="proposal-exists")
        existing = (
            await self.session.execute(select(col(Grant.id)).where(col(Grant.proposal_id) == proposal_id))
        ).scalar_one_or_none()
        return rules.ProposalFacts(
            id=proposal.id,
            state=proposal.state,
            organisation_id=proposal.organisation_id,
            window_id=proposal.window_id,
            title=proposal.title,
            requested=proposal.requested,
            content=self.content_of(proposal),
            grant_id=existing,
        )

    # ---------------------------------------------------------------- reading and locking

    async def visible(self, grant_id: int) -> Grant:
        """The grant if the user may see it; otherwise 404, so ids of others' grants reveal nothing."""
        grant = await self.session.get(Grant, grant_id) if grant_id > 0 else None
        if grant is None or not has_permission("grants.read", self.user, GrantFacts(grant.organisation_id))[0]:
            raise NotFound(f"no grant with id {grant_id}")
        return grant

    async def _lock_grant(self, grant_id: int) -> Grant:
        grant = (
            await self.session.execute(
                select(Grant)
                .where(col(Grant.id) == grant_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return grant

    async def _lock_tranches(self, grant_id: int, tranche_ids: Iterable[int] | None = None) -> list[Tranche]:
        query = select(Tranche).where(col(Tranche.grant_id) == grant_id)
        if tranche_ids is not None:
            query = query.where(col(Tranche.id).in_(list(tranche_ids)))
        rows = await self.session.execute(
            query.order_by(col(Tranche.id)).with_for_update().execution_options(populate_existing=True)
        )
        return list(rows.scalars())

    async def _lock_disbursement(self, disbursement_id: int) -> Disbursement:
        return (
            await self.session.execute(
                select(Disbursement)
                .where(col(Disbursement.id) == disbursement_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()

    async def tranches(self, grant_id: int) -> list[Tranche]:
        return list(
            (
                await self.session.execute(
                    select(Tranche).where(col(Tranche.grant_id) == grant_id).order_by(col(Tranche.number))
                )
            ).scalars()
        )

    async def organisation(self, organisation_id: int) -> Organisation:
        found = await self.session.get(Organisation, organisation_id)
        assert found is not None
        return found

    def content_of(self, proposal: Proposal) -> ProposalContent:
        return ProposalContent.model_validate_json(proposal.content)

    # ---------------------------------------------------------------- idempotency

    def _scoped(self, key: str) -> str:
        """A client's key is its sender's own (``fundapp.core.idempotency``)."""
        stored = scoped_key(self.user.id if self.user is not None else None, key)
        assert stored is not None
        return stored

    async def _replay(self, grant_id: int, key: str | None, operation: str, payload: Any) -> tuple[str, int | None]:
        """The payload's hash, and the result of the first request with this key (None if it is new). The same
        key with another operation or body is refused."""
        payload_hash = digest({"operation": operation, "payload": payload})
        if key is None:
            return payload_hash, None
        found = await self.session.get(GrantRequest, (grant_id, self._scoped(key)))
        if found is None:
            return payload_hash, None
        if found.operation != operation or found.payload_hash != payload_hash:
            raise Conflict(
                f"the idempotency key {key!r} was used on this grant for another request ({found.operation})",
                field="Idempotency-Key",
                rule="idempotency-same-payload",
            )
        return payload_hash, found.result_id

    async def _remember(self, grant_id: int, key: str | None, operation: str, payload_hash: str, result: int) -> None:
        if key is None:
            return
        self.session.add(
            GrantRequest(
                grant_id=grant_id,
                key=self._scoped(key),
                operation=operation,
                payload_hash=payload_hash,
                result_id=result,
                created_at=self.now,
            )
        )
        await self.session.flush()

    # ---------------------------------------------------------------- facts and the one write

    @staticmethod
    def _book(grant: Grant) -> rules.GrantBook:
        assert grant.id is not None
        return rules.GrantBook(grant.id, grant.window_id, grant.currency, grant.status, grant.amount, grant.start_date)

    @staticmethod
    def _tranche_facts(tranches: Iterable[Tranche]) -> list[rules.TrancheFacts]:
        return [rules.TrancheFacts(t.id or 0, t.number, t.amount, t.paid, t.status, t.condition) for t in tranches]

    async def _require_cleared(self, grant: Grant) -> None:
        organisation = await self.organisation(grant.organisation_id)
        rules.require_cleared(organisation.name, organisation.due_diligence)

    async def _balance(self, account: str, grant: Grant) -> int:
        amount, _ = await self.ledger.balance(account, grant.currency, window_id=grant.window_id, grant_id=grant.id)
        return amount

    async def _next_id(self, table: str) -> int:
        """The id the next row of ``table`` will have, for a plan that names it before it is written."""
        return await new_id(self.session, _WRITTEN[table].__table__)  # type: ignore[attr-defined]

    async def _write(self, plan: rules.GrantPlan) -> int | None:
        """Write a plan in one go: post its entry, set its rows (the locked ones, from the session), then
        record its audit events. Returns the entry's id (None when the plan posts nothing)."""
        entry_id = (await self.ledger.post(plan.entry)).id if plan.entry is not None else None

        def resolved(values: Mapping[str, Any]) -> dict[str, Any]:
            return {k: entry_id if v is rules.ENTRY_ID else v for k, v in values.items()}

        for write in plan.rows:
            model = _WRITTEN[write.table]
            if write.id is None:
                self.session.add(model(**resolved(write.values)))
                continue
            row = await self.session.get(model, write.id)
            assert row is not None
            for name, value in resolved(write.values).items():
                setattr(row, name, value)
            self.session.add(row)
        await self.session.flush()
        for event in plan.events:
            await self._audit(
                event.action,
                event.object_id,
                object_type=event.object_type,
                before=dict(event.before) if event.before is not None else None,
                **resolved(event.after),
            )
        return entry_id

    # ---------------------------------------------------------------- agreement

    async def sign_agreement(self, grant_id: int, data: AgreementIn, *, idempotency_key: str | None) -> Done[Grant]:
        """Record the signed agreement: the grant is committed (8300 -> 8400) and its tranches without a
        condition are recognised (5100 / 2100) (``rules.plan_agreement``)."""
        ensure_permission("grants.manage", self.user)
        await self.visible(grant_id)
        grant = await self._lock_grant(grant_id)
        payload_hash, first = await self._replay(grant_id, idempotency_key, "agreement", data.model_dump(mode="json"))
        if first is not None:
            return Done(grant, replayed=True)
        organisation = await self.organisation(grant.organisation_id)
        rules.require_procedures_agreement(organisation.name, organisation.type, organisation.procedures_agreement_on)
        allocated = await self._balance(chart.ALLOCATED, grant)
        tranches = await self._lock_tranches(grant_id)
        plan = rules.plan_agreement(
            self._book(grant),
            self._tranche_facts(tranches),
            allocated=allocated,
            signed_on=data.signed_on,
            reference=data.reference,
            today=self.today,
            now=self.now,
        )
        await self._write(plan)
        await self._remember(grant_id, idempotency_key, "agreement", payload_hash, grant_id)
        return Done(grant)

    # ---------------------------------------------------------------- suspension

    async def suspend(self, grant_id: int, data: GrantAction) -> Grant:
        return await self._set_status(grant_id, data, "suspend")

    async def resume(self, grant_id: int, data: GrantAction) -> Grant:
        return await self._set_status(grant_id, data, "resume")

    async def _set_status(self, grant_id: int, data: GrantAction, action: str) -> Grant:
        ensure_permission("grants.manage", self.user)
        await self.visible(grant_id)
        grant = await self._lock_grant(grant_id)
        step = gw.advance(gw.GRANT, grant.status, action, grant_id)
        if not data.reason.strip():
            raise InvalidInput(f"{action} needs a written reason", field="reason", rule="reason-required")
        grant.status, grant.status_reason, grant.updated_at = step.to, data.reason, self.now
        self.session.add(grant)
        await self.session.flush()
        await self._audit(
            f"grant.{action}", grant_id, before={"status": step.state}, status=step.to, reason=data.reason
        )
        return grant

    # ---------------------------------------------------------------- disbursements

    async def prepare_disbursement(
        self, grant_id: int, data: DisbursementCreate, *, idempotency_key: str | None
    ) -> Done[Disbursement]:
        """A finance officer prepares a transfer of (part of) a recognised tranche of an active grant whose
        organisation is cleared. It moves no money until approved."""
        user = self._user()
        ensure_permission("grants.prepare", user)
        await self.visible(grant_id)
        grant = await self._lock_grant(grant_id)
        payload_hash, first = await self._replay(
            grant_id, idempotency_key, "disbursement", data.model_dump(mode="json")
        )
        if first is not None:
            return Done(await self.disbursement(first), replayed=True)
        gw.advance(gw.GRANT, grant.status, "prepare_disbursement", grant_id)
        await self._require_cleared(grant)
        await _guard(self.session, grant, "prepare_disbursement")
        tranche = next((t for t in await self._lock_tranches(grant_id) if t.number == data.tranche), None)
        if tranche is None or tranche.id is None:
            raise NotFound(f"grant {grant_id} has no tranche {data.tranche}", field="tranche", rule="tranche-exists")
        subject = gw.TrancheSubject(tranche.number, tranche.condition == TrancheCondition.PROGRESS_REPORT)
        gw.advance(gw.TRANCHE, tranche.status, "disburse", subject)
        unpaid = tranche.amount - tranche.paid
        amount = (
            self._money(data.amount, "amount", currency=grant.currency)
            if data.amount is not None
            else Money.from_minor(unpaid, grant.currency)
        )
        if not amount.is_positive:
            raise InvalidInput("a disbursement moves a positive amount", field="amount", rule="positive-amount")
        if amount.minor > unpaid:
            raise InvalidInput(
                f"tranche {tranche.number} has {Money.from_minor(unpaid, grant.currency)} unpaid; {amount} is more",
                field="amount",
                rule="within-tranche",
            )
        row = Disbursement(
            grant_id=grant_id,
            tranche_id=tranche.id,
            amount=amount.minor,
            currency=grant.currency,
            status=gw.DISBURSEMENT.initial,
            reference=data.reference,
            prepared_by=user.id,
            prepared_at=self.now,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        await self._audit(
            "grant.disbursement.prepare",
            row.id,
            object_type="disbursement",
            grant_id=grant_id,
            tranche=tranche.number,
            amount=to_json(amount),
            approvals_needed=self.approvals_needed(row),
        )
        await self._remember(grant_id, idempotency_key, "disbursement", payload_hash, row.id)
        return Done(row)

    def approvals_needed(self, row: Disbursement) -> int:
        return rules.approvals_needed(
            Money.from_minor(row.amount, row.currency), self.settings.charter.second_approver_threshold
        )

    async def disbursement(self, disbursement_id: int) -> Disbursement:
        row = await self.session.get(Disbursement, disbursement_id) if disbursement_id > 0 else None
        if row is None:
            raise NotFound(f"no disbursement with id {disbursement_id}")
        try:
            await self.visible(row.grant_id)
        except NotFound as exc:
            raise NotFound(f"no disbursement with id {disbursement_id}") from exc
        return row

    async def disbursements(self, grant_id: int) -> list[Disbursement]:
        await self.visible(grant_id)
        return list(
            (
                await self.session.execute(
                    select(Disbursement).where(col(Disbursement.grant_id) == grant_id).order_by(col(Disbursement.id))
                )
            ).scalars()
        )

    async def approve_disbursement(self, disbursement_id: int, *, idempotency_key: str | None) -> Done[Disbursement]:
        """A finance approver who did not prepare it approves; above the charter's threshold a second, different
        approver must approve too. The last approval posts the transfer (2100 / 1100; 8500 / 8400)."""
        user = self._user()
        ensure_permission("grants.approve", user)
        seen = await self.disbursement(disbursement_id)
        grant = await self._lock_grant(seen.grant_id)
        (tranche,) = await self._lock_tranches(grant.id or 0, [seen.tranche_id])
        row = await self._lock_disbursement(disbursement_id)
        payload_hash, first = await self._replay(
            grant.id or 0, idempotency_key, "approval", {"disbursement": disbursement_id, "by": user.id}
        )
        if first is not None:
            return Done(row, replayed=True)
        organisation = await self.organisation(grant.organisation_id)
        facts = rules.TransferFacts(
            id=disbursement_id,
            status=row.status,
            amount=row.amount,
            currency=row.currency,
            reference=row.reference,
            prepared_by=row.prepared_by,
            approved_by=row.approved_by,
            approver=user.id,
            organisation=organisation.name,
            due_diligence=organisation.due_diligence,
        )
        (tranche_facts,) = self._tranche_facts([tranche])
        plan = rules.plan_transfer(
            self._book(grant),
            tranche_facts,
            facts,
            threshold=self.settings.charter.second_approver_threshold,
            today=self.today,
            now=self.now,
        )
        await self._write(plan)
        await self._remember(grant.id or 0, idempotency_key, "approval", payload_hash, disbursement_id)
        return Done(row)

    async def reject_disbursement(self, disbursement_id: int, data: RejectIn) -> Disbursement:
        user = self._user()
        ensure_permission("grants.approve", user)
        seen = await self.disbursement(disbursement_id)
        await self._lock_grant(seen.grant_id)
        row = await self._lock_disbursement(disbursement_id)
        step = gw.advance(gw.DISBURSEMENT, row.status, "reject")
        if row.prepared_by == user.id:
            raise PermissionDenied(
                "the person who prepared a disbursement cannot also decide on it",
                field="disbursement",
                rule="maker-checker",
            )
        before = row.status
        row.status = step.to
        row.rejected_by, row.rejected_at, row.rejection_reason = user.id, self.now, data.reason
        self.session.add(row)
        await self.session.flush()
        await self._audit(
            "grant.disbursement.reject",
            disbursement_id,
            object_type="disbursement",
            before={"status": before},
            status=row.status,
            grant_id=row.grant_id,
            reason=data.reason,
        )
        return row

    # ---------------------------------------------------------------- reports

    async def reports(self, grant_id: int) -> list[GrantReport]:
        await self.visible(grant_id)
        return list(
            (
                await self.session.execute(
                    select(GrantReport).where(col(GrantReport.grant_id) == grant_id).order_by(col(GrantReport.number))
                )
            ).scalars()
        )

    async def _report(self, grant_id: int, report_id: int, field_name: str = "report_id") -> GrantReport:
        report = await self.session.get(GrantReport, report_id) if report_id > 0 else None
        if report is None or report.grant_id != grant_id:
            raise NotFound(f"grant {grant_id} has no report {report_id}", field=field_name, rule="report-exists")
        return report

    async def _last_accepted(self, grant_id: int) -> GrantReport | None:
        return (
            await self.session.execute(
                select(GrantReport)
                .where(col(GrantReport.grant_id) == grant_id, col(GrantReport.status) == ReportStatus.ACCEPTED)
                # Acceptance refuses a report below the last accepted one, so the latest accepted dominates
                # every earlier one, category by category (ties in time: the larger total).
                .order_by(
                    col(GrantReport.reviewed_at).desc(),
                    col(GrantReport.expenditure_total).desc(),
                    col(GrantReport.number).desc(),
                )
                .limit(1)
            )
        ).scalar_one_or_none()

    @staticmethod
    def _expenditure(report: GrantReport) -> dict[str, int]:
        """A report's cumulative expenditure by budget category, in minor units."""
        return {e["category"]: int(e["minor"]) for e in json.loads(report.expenditure)}

    async def submit_report(self, grant_id: int, data: ReportSubmit) -> GrantReport:
        """The grantee submits a scheduled report: narrative, indicator values against the results framework,
        and cumulative expenditure by budget category."""
        user = self._user()
        seen = await self.visible(grant_id)
        ensure_permission("grants.report", user, GrantFacts(seen.organisation_id))
        grant = await self._lock_grant(grant_id)
        gw.advance(gw.GRANT, grant.status, "report", grant_id)
        report = await self._report(grant_id, data.report_id)
        step = gw.advance(gw.REPORT, report.status, "submit", report.number)
        proposal = await self.session.get(Proposal, grant.proposal_id)
        assert proposal is not None
        content = self.content_of(proposal)
        problems: list[FieldError] = []
        framework = {(o.title, i.name) for o in content.results for i in o.indicators}
        for n, value in enumerate(data.indicators):
            if (value.outcome, value.indicator) not in framework:
                problems.append(
                    FieldError(
                        f"indicators.{n}",
                        "indicator-in-results-framework",
                        f"{value.indicator!r} under {value.outcome!r} is not in the grant's results framework",
                    )
                )
        spent = {
            line.category.value: self._money(line.amount, f"expenditure.{n}.amount", currency=grant.currency).minor
            for n, line in enumerate(data.expenditure)
        }
        last = await self._last_accepted(grant_id)
        previous = self._expenditure(last) if last else {}
        problems += rules.expenditure_problems(
            spent, previous, budget_categories={b.category.value for b in content.budget}
        )
        if problems:
            raise InvalidInput(
                "the report cannot be accepted as it is: " + "; ".join(p.message for p in problems), errors=problems
            )
        before = report.status
        report.narrative = data.narrative
        report.indicators = canonical_json([v.model_dump(mode="json") for v in data.indicators])
        report.expenditure = canonical_json(
            [
                {"category": c, "amount": Money.from_minor(m, grant.currency).to_str(), "minor": m}
                for c, m in sorted(spent.items())
            ]
        )
        report.expenditure_total = sum(spent.values())
        report.status = step.to
        report.submitted_by, report.submitted_at = user.id, self.now
        self.session.add(report)
        await self.session.flush()
        await self._audit(
            "grant.report.submit",
            report.id,
            object_type="grant_report",
            before={"status": before},
            status=report.status,
            grant_id=grant_id,
            number=report.number,
            kind=report.kind,
            expenditure_total=to_json(Money.from_minor(report.expenditure_total, grant.currency)),
        )
        return report

    async def accept_report(
        self, grant_id: int, report_id: int, data: ReportReview, *, idempotency_key: str | None
    ) -> Done[GrantReport]:
        """The secretariat accepts a submitted report; that meets the condition of the grant's earliest
        conditional tranche not yet recognised, which is recognised now (5100 / 2100)."""
        ensure_permission("grants.manage", self.user)
        await self.visible(grant_id)
        grant = await self._lock_grant(grant_id)
        tranches = await self._lock_tranches(grant_id)
        payload_hash, first = await self._replay(
            grant_id, idempotency_key, "report-acceptance", {"report": report_id, **data.model_dump(mode="json")}
        )
        report = await self._report(grant_id, report_id, "report")
        if first is not None:
            return Done(report, replayed=True)
        step = gw.advance(gw.REPORT, report.status, "accept", report.number)
        last = await self._last_accepted(grant_id)
        if last is not None:
            problems = rules.expenditure_problems(
                self._expenditure(report), self._expenditure(last), budget_categories=self._expenditure(report)
            )
            if problems:
                raise InvalidInput(
                    f"report {report.number} reports less expenditure than report {last.number}, accepted since it "
                    "was submitted; return it for an update",
                    errors=problems,
                )
        report.status = step.to
        report.reviewed_by, report.reviewed_at, report.review_note = self.actor.user_id, self.now, data.note
        self.session.add(report)
        await self.session.flush()
        await self._audit(
            "grant.report.accept",
            report.id,
            object_type="grant_report",
            before={"status": step.state},
            status=report.status,
            grant_id=grant_id,
            number=report.number,
            note=data.note,
        )
        assert report.id is not None
        plan = rules.plan_recognition(
            self._book(grant),
            self._tranche_facts(tranches),
            report_id=report.id,
            report_number=report.number,
            today=self.today,
        )
        if plan is not None:
            await self._write(plan)
        await self._remember(grant_id, idempotency_key, "report-acceptance", payload_hash, report_id)
        return Done(report)

    async def return_report(self, grant_id: int, report_id: int, data: RejectIn) -> GrantReport:
        ensure_permission("grants.manage", self.user)
        await self.visible(grant_id)
        await self._lock_grant(grant_id)
        report = await self._report(grant_id, report_id, "report")
        step = gw.advance(gw.REPORT, report.status, "return", report.number)
        report.status = step.to
        report.reviewed_by, report.reviewed_at, report.review_note = self.actor.user_id, self.now, data.reason
        self.session.add(report)
        await self.session.flush()
        await self._audit(
            "grant.report.return",
            report.id,
            object_type="grant_report",
            before={"status": step.state},
            status=report.status,
            grant_id=grant_id,
            reason=data.reason,
        )
        return report

    # ---------------------------------------------------------------- refunds

    async def refunds(self, grant_id: int) -> list[Refund]:
        await self.visible(grant_id)
        return list(
            (
                await self.session.execute(
                    select(Refund).where(col(Refund.grant_id) == grant_id).order_by(col(Refund.id))
                )
            ).scalars()
        )

    async def record_refund(self, grant_id: int, data: RefundCreate, *, idempotency_key: str | None) -> Done[Refund]:
        """Money the grantee returned: cash in, the expense reduced, and the budget back to the window's
        available funds (1100 / 5100; 8200 / 8500). At most what was transferred and not yet refunded."""
        ensure_permission("grants.refund", self.user)
        await self.visible(grant_id)
        grant = await self._lock_grant(grant_id)
        payload_hash, first = await self._replay(grant_id, idempotency_key, "refund", data.model_dump(mode="json"))
        if first is not None:
            found = await self.session.get(Refund, first)
            assert found is not None
            return Done(found, replayed=True)
        await _guard(self.session, grant, "refund")
        book = self._book(grant)
        amount = self._money(data.amount, "amount", currency=grant.currency)
        disbursed = await self._balance(chart.DISBURSED, grant)

        def plan(refund_id: int) -> rules.GrantPlan:
            return rules.plan_refund(
                book,
                refund_id=refund_id,
                amount=amount,
                disbursed=disbursed,
                received_on=data.received_on,
                reference=data.reference,
                recorded_by=self.actor.user_id,
                today=self.today,
                now=self.now,
            )

        plan(0)  # every refusal before an id is taken
        refund_id = await self._next_id("grant_refunds")
        await self._write(plan(refund_id))
        await self._remember(grant_id, idempotency_key, "refund", payload_hash, refund_id)
        row = await self.session.get(Refund, refund_id)
        assert row is not None
        return Done(row)

    # ---------------------------------------------------------------- closure

    async def close(self, grant_id: int, data: GrantAction, *, idempotency_key: str | None) -> Done[Grant]:
        """Close a grant whose final report was accepted and that has no transfer awaiting approval: what was
        committed and not disbursed goes back to the window's available funds (8200 / 8400), what was
        recognised and not paid is reversed (2100 / 5100), and the grant moves no more money."""
        ensure_permission("grants.manage", self.user)
        await self.visible(grant_id)
        grant = await self._lock_grant(grant_id)
        tranches = await self._lock_tranches(grant_id)
        payload_hash, first = await self._replay(grant_id, idempotency_key, "closure", data.model_dump(mode="json"))
        if first is not None:
            return Done(grant, replayed=True)
        facts = rules.ClosureFacts(
            final_report=await self._final_report_status(grant_id),
            pending=await self._pending_count(grant_id),
            committed=await self._balance(chart.COMMITTED, grant),
            payable=-(await self._balance(chart.GRANTS_PAYABLE, grant)),
        )
        plan = rules.plan_closure(
            self._book(grant), self._tranche_facts(tranches), facts, reason=data.reason, today=self.today, now=self.now
        )
        await self._write(plan)
        await self._remember(grant_id, idempotency_key, "closure", payload_hash, grant_id)
        return Done(grant)

    async def _final_report_status(self, grant_id: int) -> ReportStatus:
        return (
            await self.session.execute(
                select(col(GrantReport.status)).where(
                    col(GrantReport.grant_id) == grant_id, col(GrantReport.kind) == ReportKind.FINAL
                )
            )
        ).scalar_one()

    async def _pending_count(self, grant_id: int) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count())
                    .select_from(Disbursement)
                    .where(
                        col(Disbursement.grant_id) == grant_id,
                        col(Disbursement.status).in_(sorted(gw.AWAITING_APPROVAL)),
                    )
                )
            ).scalar_one()
        )

    # ---------------------------------------------------------------- the statement

    async def statement(self, grant_id: int) -> Statement:
        """The grant's figures, each read from the ledger's grant dimension with the entries behind it."""
        grant = await self.visible(grant_id)
        lines = await postings_for(self.session, accounts=STATEMENT_ACCOUNTS, grant_id=grant_id)
        figures = rules.grant_figures(
            rules.GrantPosting(p.entry_id, p.account, p.amount) for p in lines if p.currency == grant.currency
        )
        tranches = await self.tranches(grant_id)
        disbursements = await self.disbursements(grant_id)
        reports = await self.reports(grant_id)
        accepted = await self._last_accepted(grant_id)
        expenditure = accepted.expenditure_total if accepted else 0
        net = figures["disbursed"].amount - figures["refunded"].amount
        return Statement(
            grant=grant,
            figures=figures,
            tranches=tranches,
            disbursements=disbursements,
            reports=reports,
            expenditure=expenditure,
            expenditure_report_id=accepted.id if accepted else None,
            delivery_rate=rules.delivery_rate(expenditure, net),
            pending=sum(d.status in gw.AWAITING_APPROVAL for d in disbursements),
        )

    async def overdue_counts(self, grant_ids: list[int]) -> dict[int, int]:
        if not grant_ids:
            return {}
        rows = await self.session.execute(
            select(col(GrantReport.grant_id), func.count())
            .where(
                col(GrantReport.grant_id).in_(grant_ids),
                col(GrantReport.status).in_(sorted(gw.AWAITING_SUBMISSION)),
                col(GrantReport.due_on) < self.today,
            )
            .group_by(col(GrantReport.grant_id))
        )
        return {int(g): int(n) for g, n in rows.all()}


# The tables a plan writes, by name.
_WRITTEN: dict[str, type[SQLModel]] = {
    "grants": Grant,
    "grant_tranches": Tranche,
    "disbursements": Disbursement,
    "grant_refunds": Refund,
}


@dataclass(frozen=True, slots=True)
class Statement:
    grant: Grant
    figures: dict[str, rules.Figure]
    tranches: list[Tranche]
    disbursements: list[Disbursement]
    reports: list[GrantReport]
    expenditure: int
    expenditure_report_id: int | None
    delivery_rate: Any
    pending: int
