"""Concessional financing HTTP API: the calculator (saving nothing), agencies' financial procedures
agreements, financing requests (the agency's drafts, their calculation, submission and withdrawal), the loan's
board approval and effectiveness, and the refund due after a cancellation, received. The
request's review and decision are the proposals' and the decisions' own endpoints; its transfers are the
grant's."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, RequestBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

import concessional.permissions  # noqa: F401 - registers the concessional actions
from concessional.calculator import run
from concessional.models import FinancingRequest
from concessional.refunds import ConcessionalRefunds
from concessional.schemas import (
    AgencyPublic,
    BoardApprovalIn,
    CalculatorIn,
    CalculatorOut,
    EffectivenessIn,
    FinancingRequestIn,
    FinancingRequestPublic,
    ProceduresAgreementIn,
    RefundReceivedIn,
    RefundReceivedPublic,
    TranchePlan,
)
from concessional.service import Concessional
from fundapp.core.api import API_PREFIX, IdempotencyKey, in_id_range
from fundapp.core.security import require
from fundapp.core.unit import provide
from governance import Window
from ledger import MoneyOut
from proposals import Organisation, Proposal

IdPath = FromPath[int]
dependencies = {
    "concessional": provide(Concessional.of),
    "concessional_refunds": provide(ConcessionalRefunds.of),
}
ConcessionalService = NamedDependency[Concessional]
RefundsService = NamedDependency[ConcessionalRefunds]


def agency_public(organisation: Organisation) -> AgencyPublic:
    assert organisation.id is not None
    return AgencyPublic(
        organisation_id=organisation.id,
        name=organisation.name,
        type=organisation.type,
        country=organisation.country,
        due_diligence=organisation.due_diligence,
        procedures_agreement_on=organisation.procedures_agreement_on,
        procedures_agreement_document=organisation.procedures_agreement_document,
    )


async def request_public(service: Concessional, row: FinancingRequest) -> FinancingRequestPublic:
    assert row.id is not None
    session, currency = service.session, service.currency
    proposal = await session.get(Proposal, row.proposal_id)
    agency = await session.get(Organisation, row.agency_id)
    window = await session.get(Window, row.window_id)
    meets = None
    if row.grant_element_after and row.threshold:
        meets = Decimal(row.grant_element_after) >= Decimal(row.threshold) * 100
    return FinancingRequestPublic(
        id=row.id,
        proposal_id=row.proposal_id,
        proposal_state=proposal.state if proposal else "",
        agency_id=row.agency_id,
        agency_name=agency.name if agency else "",
        window_code=window.code if window else "",
        country=row.country,
        title=row.title,
        description=row.description,
        results=row.results,
        endorsement_reference=row.endorsement_reference,
        endorsed_on=row.endorsed_on,
        loan_amount=MoneyOut.of(row.loan_amount, row.loan_currency),
        maturity_months=row.maturity_months,
        grace_months=row.grace_months,
        repayments_per_year=row.repayments_per_year,
        method=row.method,
        market_base_rate=row.market_base_rate,
        market_spread=row.market_spread,
        concessional_base_rate=row.concessional_base_rate,
        concessional_spread=row.concessional_spread,
        discount_rate=row.discount_rate,
        threshold=row.threshold,
        grant_element_before=row.grant_element_before,
        grant_element_after=row.grant_element_after,
        leverage=row.leverage,
        meets_threshold=meets,
        concessionality=MoneyOut.of(row.concessionality, currency),
        agency_costs=MoneyOut.of(row.agency_costs, currency),
        grant_amount=MoneyOut.of(row.concessionality + row.agency_costs, currency),
        tranches=[
            TranchePlan(planned_date=on, amount=MoneyOut.of(amount, currency))
            for on, amount in await service.tranche_plan(row)
        ],
        status=row.status,
        decision_id=row.decision_id,
        grant_id=row.grant_id,
        board_approved_on=row.board_approved_on,
        signed_on=row.signed_on,
        effective_on=row.effective_on,
        cancelled_on=row.cancelled_on,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CalculatorController(Controller):
    path = f"{API_PREFIX}/concessional"
    tags = ["concessional"]

    @post("/calculator", guards=[require("concessional.calculate")], status_code=HTTP_200_OK, sync_to_thread=False)
    def calculate(self, data: RequestBody[CalculatorIn]) -> CalculatorOut:
        """Compute a loan's grant element before and after the buy-down, the concessionality amount and the
        leverage, with both schedules, saving nothing. Every refusal names its field and rule (422)."""
        return run(data)


class AgencyController(Controller):
    path = f"{API_PREFIX}/concessional/agencies"
    tags = ["concessional"]

    @post(
        "/{organisation_id:int}/procedures-agreement",
        guards=[require("proposals.manage")],
        status_code=HTTP_200_OK,
    )
    async def procedures_agreement(
        self, concessional: ConcessionalService, organisation_id: IdPath, data: RequestBody[ProceduresAgreementIn]
    ) -> AgencyPublic:
        """The secretariat records an implementation support agency's financial procedures agreement with the
        trustee (date and document). Refused for another kind of organisation (``agency-type``) or one whose
        due diligence is not cleared; no commitment to the agency is recorded before it exists."""
        agency = await concessional.record_procedures_agreement(in_id_range(organisation_id), data)
        return agency_public(agency)


class FinancingRequestController(Controller):
    path = f"{API_PREFIX}/concessional/requests"
    tags = ["concessional"]

    @get("/", guards=[require("concessional.read")])
    async def list_requests(
        self,
        concessional: ConcessionalService,
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
    ) -> list[FinancingRequestPublic]:
        """The financing requests the user may read (an agency's users: their own; nobody else a draft)."""
        return [await request_public(concessional, row) for row in await concessional.requests(status=status)]

    @post("/", guards=[require("concessional.request")], status_code=HTTP_201_CREATED)
    async def create(
        self, concessional: ConcessionalService, data: RequestBody[FinancingRequestIn]
    ) -> FinancingRequestPublic:
        """An agency's new draft request, computed with the benefitting country's discount rate and threshold."""
        return await request_public(concessional, await concessional.create(data))

    @get("/{request_id:int}", guards=[require("concessional.read")])
    async def get_request(self, concessional: ConcessionalService, request_id: IdPath) -> FinancingRequestPublic:
        return await request_public(concessional, await concessional.request(in_id_range(request_id)))

    @put("/{request_id:int}", guards=[require("concessional.request")])
    async def update(
        self, concessional: ConcessionalService, request_id: IdPath, data: RequestBody[FinancingRequestIn]
    ) -> FinancingRequestPublic:
        """The agency edits its draft (or a request the secretariat returned), computed again."""
        return await request_public(concessional, await concessional.update(in_id_range(request_id), data))

    @post("/{request_id:int}/submit", guards=[require("concessional.request")], status_code=HTTP_200_OK)
    async def submit(self, concessional: ConcessionalService, request_id: IdPath) -> FinancingRequestPublic:
        """Submit the request: the threshold, the tranches and the endorsement checked, its proposal submitted
        to the secretariat's screening and the TAG's review."""
        return await request_public(concessional, await concessional.submit(in_id_range(request_id)))

    @post("/{request_id:int}/board-approval", guards=[require("concessional.loan")], status_code=HTTP_200_OK)
    async def board_approval(
        self, concessional: ConcessionalService, request_id: IdPath, data: RequestBody[BoardApprovalIn]
    ) -> FinancingRequestPublic:
        """The agency's board approved the loan (the agency's users or the secretariat)."""
        return await request_public(concessional, await concessional.board_approval(in_id_range(request_id), data))

    @post("/{request_id:int}/effectiveness", guards=[require("concessional.loan")], status_code=HTTP_200_OK)
    async def effectiveness(
        self, concessional: ConcessionalService, request_id: IdPath, data: RequestBody[EffectivenessIn]
    ) -> FinancingRequestPublic:
        """The loan is signed and effective: the grant's transfers may be prepared from now on."""
        return await request_public(concessional, await concessional.effectiveness(in_id_range(request_id), data))

    @post("/{request_id:int}/withdraw", guards=[require("concessional.request")], status_code=HTTP_200_OK)
    async def withdraw(self, concessional: ConcessionalService, request_id: IdPath) -> FinancingRequestPublic:
        """The agency withdraws its request (a draft, or submitted and not yet in the TAG's review): its
        proposal is withdrawn and the request with it."""
        return await request_public(concessional, await concessional.withdraw(in_id_range(request_id)))

    @post("/{request_id:int}/refund-received", guards=[require("grants.refund")], status_code=HTTP_201_CREATED)
    async def refund_received(
        self,
        concessional_refunds: RefundsService,
        request_id: IdPath,
        data: RequestBody[RefundReceivedIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[RefundReceivedPublic]:
        """Money the agency paid back of the refund due after its operation was cancelled (a finance officer,
        as the grants' refunds): 1100 / 1300 and 8200 / 8500. A repeated Idempotency-Key with the same body
        returns the first receipt (200)."""
        done = await concessional_refunds.receive(in_id_range(request_id), data, idempotency_key=idempotency_key)
        body = RefundReceivedPublic(
            request_id=done.request_id,
            grant_id=done.grant_id,
            amount=MoneyOut.of(done.amount.minor, done.amount.currency),
            received_on=done.received_on,
            reference=done.reference,
            entry_id=done.entry_id,
            refund_due=MoneyOut.of(done.refund_due.minor, done.refund_due.currency),
        )
        return Response(body, status_code=HTTP_200_OK if done.replayed else HTTP_201_CREATED)


route_handlers = [CalculatorController, AgencyController, FinancingRequestController]
