"""Concessional financing's operation pages: a request's status page (its calculation, the proposal's review,
the decision, the grant's tranches and transfers, and the forms the reader may use now) and the finance list
of adopted operations with their loan's status. See ``concessional.request_pages`` for the agency's editor.

The forms call the services their API twins call: ``Concessional.board_approval``/``effectiveness`` (the
agency or the secretariat, ``Concessional.actions`` says when), ``Grants.sign_agreement`` (the trustee's
commitment, ``grants.manage``), ``Grants.prepare_disbursement`` (a finance officer, ``grants.prepare``) and
``Grants.approve_disbursement`` (a different finance approver, ``grants.approve``). A transfer prepared before
the loan is effective is refused by the grants' transfer guard (409 ``loan-effective``): the page says so
beside the transfer form.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath

from concessional.api import request_public
from concessional.models import FinancingRequest
from concessional.request_pages import (
    ADOPTED,
    AWAITING_APPROVAL,
    OPERATIONS_PATH,
    REQUESTS_PATH,
    TRANCHE_LABELS,
    TRANSFER_LABELS,
    ConcessionalService,
    GrantsService,
    Refusal,
    amount,
    figures,
    refusal,
    validated,
)
from concessional.schemas import BoardApprovalIn, EffectivenessIn
from concessional.service import Concessional
from fundapp.core import web
from fundapp.core.errors import Conflict, DomainError, NotFound
from fundapp.core.security import Principal, current_user, has_permission, require
from fundapp.core.web import N_, gettext
from ledger import MoneyOut
from proposals import AgreementIn, DisbursementCreate, Grants

AnyRequest = web.AnyRequest


async def grant_view(grants: Grants, grant_id: int | None, user: Principal) -> dict[str, Any] | None:
    """The grant to the agency: its status, tranches and transfers, and what the reader may do with them."""
    if grant_id is None:
        return None
    try:
        grant = await grants.visible(grant_id)
        tranches = await grants.tranches(grant_id)
        transfers = await grants.disbursements(grant_id)
    except DomainError:
        return None
    numbers = {t.id: t.number for t in tranches}
    currency = grant.currency
    approves = has_permission("grants.approve", user)[0]
    return {
        "id": grant_id,
        "status": grant.status,
        "amount": amount(MoneyOut.of(grant.amount, currency)),
        "tranches": [
            {
                "number": t.number,
                "planned_date": t.planned_date,
                "amount": amount(MoneyOut.of(t.amount, currency)),
                "paid": amount(MoneyOut.of(t.paid, currency)),
                "status": gettext(TRANCHE_LABELS.get(t.status, t.status)),
            }
            for t in tranches
        ],
        "transfers": [
            {
                "id": d.id,
                "tranche": numbers.get(d.tranche_id, ""),
                "amount": amount(MoneyOut.of(d.amount, currency)),
                "reference": d.reference,
                "status": gettext(TRANSFER_LABELS.get(d.status, d.status)),
                "prepared_at": d.prepared_at,
                "approvable": approves and d.status in AWAITING_APPROVAL and d.prepared_by != user.id,
                "mine": d.prepared_by == user.id,
            }
            for d in transfers
        ],
        # Only what is left to transfer: a paid tranche is no choice.
        "tranche_options": [
            (str(t.number), f"{t.number} \u2013 {amount(MoneyOut.of(t.amount - t.paid, currency))}")
            for t in tranches
            if t.amount > t.paid
        ],
        "may_sign": grant.status == "awaiting_agreement" and has_permission("grants.manage", user)[0],
        "may_prepare": grant.status != "closed"
        and any(t.amount > t.paid for t in tranches)
        and has_permission("grants.prepare", user)[0],
    }


class OperationPages(Controller):
    """A request's status page and its forms (under the requests' address)."""

    path = REQUESTS_PATH
    include_in_schema = False
    guards = [require("concessional.read")]

    @get("/{request_id:int}")
    async def status(
        self, request: AnyRequest, concessional: ConcessionalService, grants: GrantsService, request_id: FromPath[int]
    ) -> Response[str]:
        return await self._page(request, concessional, grants, request_id)

    async def _page(
        self,
        request: AnyRequest,
        concessional: Concessional,
        grants: Grants,
        request_id: int,
        refused: Refusal | None = None,
    ) -> Response[str]:
        user = current_user(request)
        row = await concessional.request(request_id)
        found = await request_public(concessional, row)
        return web.render(
            request,
            "concessional/request.html",
            status=refused.status if refused else 200,
            title=found.title,
            errors=refused.errors if refused else [],
            form=refused.form if refused else {},
            found=found,
            f=figures(found),
            actions=await concessional.actions(row),
            grant=await grant_view(grants, row.grant_id, user),
            reads_decisions=has_permission("governance.decisions.read", user)[0],
            today=concessional.today.isoformat(),
        )

    async def _refused(
        self, request: AnyRequest, concessional: Concessional, request_id: int, refused: Refusal
    ) -> Response[str]:
        await concessional.session.rollback()  # a refused form changes nothing
        unit = concessional.unit
        return await self._page(request, Concessional.of(unit), Grants.of(unit), request_id, refused)

    @post("/{request_id:int}/board-approval", guards=[require("concessional.loan")], status_code=303)
    async def board_approval(
        self, request: AnyRequest, concessional: ConcessionalService, request_id: FromPath[int]
    ) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            data = validated(BoardApprovalIn, {"approved_on": fields.get("approved_on", "").strip()})
            await concessional.board_approval(request_id, data)
        except DomainError as error:
            found = refusal(error, fields, known=("approved_on",), fallback="approved_on")
            return await self._refused(request, concessional, request_id, found)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}", flash="board-approval-recorded")

    @post("/{request_id:int}/effectiveness", guards=[require("concessional.loan")], status_code=303)
    async def effectiveness(
        self, request: AnyRequest, concessional: ConcessionalService, request_id: FromPath[int]
    ) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            data = validated(EffectivenessIn, {k: fields.get(k, "").strip() for k in ("signed_on", "effective_on")})
            await concessional.effectiveness(request_id, data)
        except DomainError as error:
            found = refusal(error, fields, known=("signed_on", "effective_on"), fallback="signed_on")
            return await self._refused(request, concessional, request_id, found)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}", flash="effectiveness-recorded")

    @post("/{request_id:int}/agreement", guards=[require("grants.manage")], status_code=303)
    async def agreement(
        self, request: AnyRequest, concessional: ConcessionalService, grants: GrantsService, request_id: FromPath[int]
    ) -> Response[Any]:
        """The trustee's commitment to the agency (the grant's agreement; after the procedures agreement)."""
        fields = await web.form_of(request)
        try:
            row = await concessional.request(request_id)
            data = validated(
                AgreementIn,
                {
                    "signed_on": fields.get("agreement_signed_on", "").strip(),
                    "reference": fields.get("agreement_reference", "").strip(),
                },
                prefix="agreement_",
            )
            await grants.sign_agreement(_grant_of(row), data, idempotency_key=None)
        except DomainError as error:
            known = ("signed_on", "reference")
            found = refusal(error, fields, prefix="agreement_", known=known, fallback="agreement_signed_on")
            return await self._refused(request, concessional, request_id, found)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}", flash="agreement-recorded")

    @post("/{request_id:int}/transfers", guards=[require("grants.prepare")], status_code=303)
    async def prepare(
        self, request: AnyRequest, concessional: ConcessionalService, grants: GrantsService, request_id: FromPath[int]
    ) -> Response[Any]:
        """A finance officer prepares a tranche's transfer (refused before the loan is effective)."""
        fields = await web.form_of(request)
        try:
            row = await concessional.request(request_id)
            data = validated(
                DisbursementCreate,
                {
                    "tranche": fields.get("transfer_tranche", "").strip(),
                    "amount": fields.get("transfer_amount", "").strip() or None,
                    "reference": fields.get("transfer_reference", "").strip(),
                },
                prefix="transfer_",
            )
            await grants.prepare_disbursement(_grant_of(row), data, idempotency_key=None)
        except DomainError as error:
            known = ("tranche", "amount", "reference")
            found = refusal(error, fields, prefix="transfer_", known=known, fallback="transfer_tranche")
            return await self._refused(request, concessional, request_id, found)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}", flash="transfer-prepared")

    @post("/{request_id:int}/transfers/{transfer_id:int}/approve", guards=[require("grants.approve")], status_code=303)
    async def approve(
        self,
        request: AnyRequest,
        concessional: ConcessionalService,
        grants: GrantsService,
        request_id: FromPath[int],
        transfer_id: FromPath[int],
    ) -> Response[Any]:
        """A finance approver who did not prepare it approves the transfer: the money moves."""
        try:
            row = await concessional.request(request_id)
            seen = await grants.disbursement(transfer_id)
            if seen.grant_id != row.grant_id:
                raise NotFound(f"no transfer {transfer_id} of this operation", field="transfers", rule="not-found")
            await grants.approve_disbursement(transfer_id, idempotency_key=None)
        except DomainError as error:
            found = refusal(error, {}, fallback="transfers")
            return await self._refused(request, concessional, request_id, found)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}", flash="transfer-approved")


def _grant_of(row: FinancingRequest) -> int:
    if row.grant_id is None:
        raise Conflict(
            "the request has no grant: the members have not adopted it", field="status", rule="operation-adopted"
        )
    return row.grant_id


class OperationListPages(Controller):
    """The adopted concessional operations with their loan's status (finance, the secretariat, auditors)."""

    path = OPERATIONS_PATH
    include_in_schema = False
    guards = [require("concessional.read")]

    @get("/")
    async def operations(self, request: AnyRequest, concessional: ConcessionalService) -> Response[str]:
        rows = []
        for row in await concessional.requests():
            if row.status in ADOPTED:
                found = await request_public(concessional, row)
                rows.append({"request": found, **figures(found)})
        return web.render(request, "concessional/operations.html", title=N_("Concessional operations"), rows=rows)


page_handlers = [OperationPages, OperationListPages]
