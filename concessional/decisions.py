"""The concessional side of the members' decisions and the grants' transfers, joined by the shell
(``fundapp.wiring``): governance's concessional decision kinds call :class:`ConcessionalHandler`, the grants'
transfers and refunds ask :func:`grant_money_guard`, the proposals' edits and steps
:func:`proposal_hook`.

- ``concessional_financing``: the request's facts for the members; on adoption the proposal is approved and
  the grant to the agency created (governance posts the allocation, source type ``concessional_decision``);
  otherwise the request is not approved.
- ``cancel_concessional`` / ``restructure_concessional``: planned by ``concessional.rules``
  (``plan_cancellation``, ``plan_restructuring``) from the grant's balances, written with ``write_plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from concessional import rules
from concessional.models import FinancingRequest, LoanStatus
from concessional.service import Concessional, compute, shape_of
from fundapp.core.errors import Conflict, DomainError, InvalidInput, NotFound
from fundapp.core.plans import write_plan
from fundapp.core.unit import Unit
from governance import ConcessionalFacts, Governance, HookContext
from ledger import Ledger, Money, chart, to_json
from proposals import (
    Disbursement,
    DisbursementStatus,
    Grant,
    Grants,
    Organisation,
    Proposal,
    Proposals,
    Tranche,
)

# An adopted operation, until it is cancelled.
ADOPTED = frozenset({LoanStatus.APPROVED, LoanStatus.BOARD_APPROVED, LoanStatus.EFFECTIVE})
FINANCING, CANCEL, RESTRUCTURE = "concessional_financing", "cancel_concessional", "restructure_concessional"
AWAITING_APPROVAL = (DisbursementStatus.PREPARED.value, DisbursementStatus.AWAITING_SECOND_APPROVAL.value)
# The request's columns a restructuring may change (the rest of its calculation follows).
RESTRUCTURED = ("loan_amount", "concessional_base_rate", "concessional_spread")


def _unit(ctx: HookContext) -> Unit:
    return Unit(ctx.session, ctx.settings, ctx.user, ctx.now)


async def _request(session: AsyncSession, request_id: int, *, lock: bool = False) -> FinancingRequest:
    query = select(FinancingRequest).where(col(FinancingRequest.id) == request_id)
    if lock:
        query = query.with_for_update()
    found = (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no financing request with id {request_id}", field="request_id", rule="request-exists")
    return found


def _require_adopted(row: FinancingRequest) -> None:
    if row.status not in ADOPTED or row.grant_id is None:
        raise Conflict(
            f"request {row.id} is {row.status}; only an adopted operation (approved, board approved or effective) "
            "is cancelled or restructured",
            field="request_id",
            rule="operation-adopted",
            loan_status=row.status,
        )


async def operation_book(ctx: HookContext, row: FinancingRequest, *, lock: bool = False) -> rules.OperationBook:
    """The facts of an adopted operation's money: its grant, the grant's balances and tranches."""
    assert row.id is not None and row.grant_id is not None
    query = select(Grant).where(col(Grant.id) == row.grant_id)
    grant = (
        await ctx.session.execute(
            (query.with_for_update() if lock else query).execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert grant.id is not None
    ledger = Ledger.of(_unit(ctx))

    async def balance(account: str) -> int:
        amount, _ = await ledger.balance(account, grant.currency, window_id=grant.window_id, grant_id=grant.id)
        return amount

    tranches = (
        await ctx.session.execute(
            select(Tranche)
            .where(col(Tranche.grant_id) == grant.id)
            .order_by(col(Tranche.id))
            .execution_options(populate_existing=True)
        )
    ).scalars()
    pending = await ctx.session.scalar(
        select(func.count())
        .select_from(Disbursement)
        .where(col(Disbursement.grant_id) == grant.id, col(Disbursement.status).in_(AWAITING_APPROVAL))
    )
    return rules.OperationBook(
        request_id=row.id,
        grant_id=grant.id,
        window_id=grant.window_id,
        currency=grant.currency,
        grant_status=grant.status,
        grant_amount=grant.amount,
        allocated=await balance(chart.ALLOCATED),
        committed=await balance(chart.COMMITTED),
        payable=-(await balance(chart.GRANTS_PAYABLE)),
        disbursed=await balance(chart.DISBURSED),
        tranches=tuple(rules.TrancheBook(t.id or 0, t.number, t.amount, t.paid, t.status) for t in tranches),
        pending_disbursements=int(pending or 0),
    )


def _money(minor: int, currency: str) -> dict[str, object]:
    return dict(to_json(Money.from_minor(minor, currency)))


async def _common_terms(ctx: HookContext, row: FinancingRequest) -> dict[str, Any]:
    agency = await ctx.session.get(Organisation, row.agency_id)
    return {
        "country": row.country,
        "agency_id": row.agency_id,
        "agency": agency.name if agency is not None else "",
    }


def _previous_terms(row: FinancingRequest, currency: str) -> dict[str, Any]:
    """A restructuring's "before": the operation's terms as adopted (the members read old against new)."""
    return {
        "previous_loan_amount": _money(row.loan_amount, row.loan_currency),
        "previous_concessional_base_rate": row.concessional_base_rate,
        "previous_concessional_spread": row.concessional_spread,
        "previous_concessionality": _money(row.concessionality, currency),
        "previous_grant_element_after": row.grant_element_after,
        "previous_leverage": row.leverage,
        "grant_element_before": row.grant_element_before,
        "threshold": row.threshold,
        "agency_costs": _money(row.agency_costs, currency),
    }


class ConcessionalHandler:
    """Governance's concessional decisions, implemented (``governance.register_concessional_handler``)."""

    async def facts(self, ctx: HookContext, kind: str, data: Any) -> ConcessionalFacts:
        row = await _request(ctx.session, int(data.request_id))
        if kind == FINANCING:
            return await self._financing_facts(ctx, row)
        _require_adopted(row)
        book = await operation_book(ctx, row)
        rules.refuse_open(book)
        if kind == CANCEL:
            terms = {
                **await _common_terms(ctx, row),
                "grant_id": book.grant_id,
                "grant_amount": _money(book.grant_amount, book.currency),
                "transferred": _money(book.disbursed, book.currency),
                "to_release": _money(book.grant_amount - book.paid, book.currency),
            }
            return ConcessionalFacts(row.id or 0, row.proposal_id, row.window_id, 0, (row.country,), terms)
        values, new_grant = self._restructured(ctx, row, data, book)
        terms = {
            **await _common_terms(ctx, row),
            "grant_id": book.grant_id,
            "previous_grant_amount": _money(book.grant_amount, book.currency),
            "grant_amount": _money(new_grant, book.currency),
            "loan_amount": _money(int(values["loan_amount"]), row.loan_currency),
            "concessional_base_rate": values["concessional_base_rate"],
            "concessional_spread": values["concessional_spread"],
            "concessionality": _money(int(values["concessionality"]), book.currency),
            "grant_element_after": values["grant_element_after"],
            "leverage": values["leverage"],
            "request_values": values,
            **_previous_terms(row, book.currency),
        }
        increase = max(0, new_grant - book.grant_amount)
        return ConcessionalFacts(row.id or 0, row.proposal_id, row.window_id, increase, (row.country,), terms)

    async def _financing_facts(self, ctx: HookContext, row: FinancingRequest) -> ConcessionalFacts:
        if row.status != LoanStatus.IN_REVIEW:
            raise Conflict(
                f"request {row.id} is {row.status}; the members decide on a submitted request",
                field="request_id",
                rule="request-submitted",
                loan_status=row.status,
            )
        await Governance.of(_unit(ctx)).benefitting_country(row.country)
        currency = ctx.settings.reporting_currency
        terms = {
            **await _common_terms(ctx, row),
            "loan_amount": _money(row.loan_amount, row.loan_currency),
            "maturity_months": row.maturity_months,
            "grace_months": row.grace_months,
            "repayments_per_year": row.repayments_per_year,
            "concessionality": _money(row.concessionality, currency),
            "agency_costs": _money(row.agency_costs, currency),
            "grant_element_before": row.grant_element_before,
            "grant_element_after": row.grant_element_after,
            "discount_rate": row.discount_rate,
            "threshold": row.threshold,
            "leverage": row.leverage,
        }
        amount = row.concessionality + row.agency_costs
        return ConcessionalFacts(row.id or 0, row.proposal_id, row.window_id, amount, (row.country,), terms)

    @staticmethod
    def _restructured(
        ctx: HookContext, row: FinancingRequest, data: Any, book: rules.OperationBook
    ) -> tuple[dict[str, Any], int]:
        """The request's new columns and the new grant of a restructuring, computed with the country's terms
        as stored at the request's calculation."""
        given = {name: getattr(data, name, None) for name in RESTRUCTURED}
        if all(value is None for value in given.values()):
            raise InvalidInput(
                "a restructuring changes the loan amount or the concessional terms",
                field="loan_amount",
                rule="restructure-changes",
            )
        shape = shape_of(row)
        loan = row.loan_amount
        if given["loan_amount"] is not None:
            loan = Concessional.money_in(str(given["loan_amount"]), row.loan_currency, "loan_amount")
        for name in ("concessional_base_rate", "concessional_spread"):
            if given[name] is not None:
                shape[name] = str(given[name])
        computed = compute(
            loan,
            row.loan_currency,
            shape,
            discount_rate=Decimal(row.discount_rate),
            threshold=Decimal(row.threshold),
        )
        if ctx.settings.charter.concessional_threshold_required and not computed.meets_threshold:
            raise InvalidInput(
                f"the new terms give a grant element of {computed.values['grant_element_after']}%, below the "
                "threshold the charter requires",
                field="concessional_spread",
                rule="grant-element-threshold",
            )
        values = {
            **computed.values,
            "loan_amount": loan,
            "concessional_base_rate": shape["concessional_base_rate"],
            "concessional_spread": shape["concessional_spread"],
        }
        new_grant = computed.concessionality + row.agency_costs
        if new_grant < book.paid or new_grant <= 0:
            raise Conflict(
                f"{Money.from_minor(book.paid, book.currency)} was already transferred; the grant cannot become "
                f"{Money.from_minor(new_grant, book.currency)}",
                field="loan_amount",
                rule="restructure-above-transferred",
            )
        return values, new_grant

    async def problem(self, ctx: HookContext, kind: str, terms: Mapping[str, Any]) -> str | None:
        try:
            row = await _request(ctx.session, int(terms["request_id"]))
            if kind == FINANCING:
                await self._financing_facts(ctx, row)
                return None
            _require_adopted(row)
            book = await operation_book(ctx, row)
            rules.refuse_open(book)
            if kind == RESTRUCTURE and int(terms["request_values"]["concessionality"]) + row.agency_costs < book.paid:
                return "more was transferred since the decision opened than the restructured grant"
        except DomainError as refused:
            return refused.detail
        return None

    async def adopt(self, ctx: HookContext, request_id: int, decision_id: int) -> int:
        row = await _request(ctx.session, request_id, lock=True)
        reason = f"decision {decision_id}: adopted"
        await Proposals.of(_unit(ctx)).decide(row.proposal_id, approved=True, reason=reason)
        grant = await Grants.of(_unit(ctx)).create_from_decision(row.proposal_id, decision_id=decision_id)
        assert grant.id is not None
        row.status, row.decision_id, row.grant_id, row.updated_at = LoanStatus.APPROVED, decision_id, grant.id, ctx.now
        ctx.session.add(row)
        await ctx.session.flush()
        await _unit(ctx).audit(
            "concessional.approve",
            "financing_request",
            request_id,
            before={"status": LoanStatus.IN_REVIEW.value},
            after={"status": row.status, "decision_id": decision_id, "grant_id": grant.id},
        )
        return grant.id

    async def change(self, ctx: HookContext, kind: str, decision_id: int, terms: Mapping[str, Any]) -> int | None:
        row = await _request(ctx.session, int(terms["request_id"]), lock=True)
        _require_adopted(row)
        book = await operation_book(ctx, row, lock=True)
        today = ctx.now.date()
        if kind == CANCEL:
            plan = rules.plan_cancellation(book, decision_id=decision_id, today=today, now=ctx.now)
        else:
            values = dict(terms["request_values"])
            new_grant = int(values["concessionality"]) + row.agency_costs
            plan = rules.plan_restructuring(
                book, new_grant, decision_id=decision_id, request_values=values, today=today, now=ctx.now
            )
        unit = _unit(ctx)
        written = await write_plan(ctx.session, plan, poster=Ledger.of(unit), actor=unit.actor, at=ctx.now)
        return written.entries[0].id if written.entries else None

    async def declined(self, ctx: HookContext, kind: str, decision_id: int, terms: Mapping[str, Any]) -> None:
        if kind != FINANCING:
            return
        row = await _request(ctx.session, int(terms["request_id"]), lock=True)
        before = row.status
        row.status, row.decision_id, row.updated_at = LoanStatus.NOT_APPROVED, decision_id, ctx.now
        ctx.session.add(row)
        await ctx.session.flush()
        await _unit(ctx).audit(
            "concessional.not_approved",
            "financing_request",
            row.id,
            before={"status": before},
            after={"status": row.status, "decision_id": decision_id},
        )


async def grant_money_guard(session: AsyncSession, grant: Grant, action: str) -> None:
    """A concessional operation's grant transfers nothing before its loan is effective (409
    ``effective_on`` / ``loan-effective``), and a cancelled operation's grant takes no refund through the
    grants (409 ``grant_id`` / ``use-concessional-refund``: the refund due is received through the request,
    ``concessional.refunds``); other grants are not concerned (``proposals.register_grant_guard``)."""
    row = (
        await session.execute(select(FinancingRequest).where(col(FinancingRequest.grant_id) == grant.id))
    ).scalar_one_or_none()
    if row is None:
        return
    if action == "refund" and row.status == LoanStatus.CANCELLED:
        raise Conflict(
            f"grant {grant.id} belongs to financing request {row.id}, cancelled: what the agency owes is a refund "
            f"due, received at POST /api/v1/concessional/requests/{row.id}/refund-received",
            field="grant_id",
            rule="use-concessional-refund",
            request_id=row.id,
        )
    if action != "prepare_disbursement" or row.status == LoanStatus.EFFECTIVE:
        return
    raise Conflict(
        f"the loan of financing request {row.id} is {row.status}, not effective: transfers to the agency wait "
        "for the loan's signature and effectiveness",
        field="effective_on",
        rule="loan-effective",
        loan_status=row.status,
    )


# A proposal's workflow step the request's status follows (a decision's own steps are the handler's).
FOLLOWED = {"reject": LoanStatus.NOT_APPROVED, "withdraw": LoanStatus.WITHDRAWN}
BEFORE_DECISION = frozenset({LoanStatus.DRAFT, LoanStatus.IN_REVIEW})


async def proposal_hook(unit: Unit, proposal: Proposal, action: str) -> None:
    """Proposals' hook (``proposals.register_proposal_hook``) on a financing request's proposal: its content
    is the request's, so the proposal's own edit is refused (409 ``proposal_id`` /
    ``edit-through-financing-request``); its rejection at screening or its withdrawal sets the request
    ``not_approved`` or ``withdrawn``."""
    if action != "edit" and action not in FOLLOWED:
        return
    row = (
        await unit.session.execute(select(FinancingRequest).where(col(FinancingRequest.proposal_id) == proposal.id))
    ).scalar_one_or_none()
    if row is None:
        return
    if action == "edit":
        raise Conflict(
            f"proposal {proposal.id} carries financing request {row.id}: edit it through the request "
            f"(PUT /api/v1/concessional/requests/{row.id}), which rewrites the proposal",
            field="proposal_id",
            rule="edit-through-financing-request",
            request_id=row.id,
        )
    if row.status not in BEFORE_DECISION:
        return
    before, row.status, row.updated_at = row.status, FOLLOWED[action], unit.now
    unit.session.add(row)
    await unit.session.flush()
    await unit.audit(
        f"concessional.request.{row.status}",
        "financing_request",
        row.id,
        before={"status": before},
        after={"status": row.status, "proposal_action": action},
    )
