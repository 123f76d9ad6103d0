"""Concessional financing services: agencies' financial procedures agreements, financing requests (the
agency's draft, its calculation and its submission into the proposals' workflow) and the loan's life after
the members' decision (board approval, signature and effectiveness).

A request rides on a proposal of the window's standing call for concessional requests: the draft creates
the proposal, each edit rewrites its content from the request, and the submission submits it, so the
secretariat screens it, the TAG reviews it (conflicts of interest, rubric) and the members decide on it as
on any proposal (docs/concessional.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlmodel import col

# Importing the permissions module registers the concessional actions.
from concessional import permissions as _permissions  # noqa: F401
from concessional import rules
from concessional.models import FinancingRequest, LoanStatus, RepaymentMethod
from concessional.schemas import (
    BoardApprovalIn,
    EffectivenessIn,
    FinancingRequestIn,
    ProceduresAgreementIn,
)
from fundapp.core.chain import canonical_json
from fundapp.core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied, refuse_future
from fundapp.core.models import Role
from fundapp.core.security import Principal, ensure_permission, has_permission
from fundapp.core.unit import Service, Unit
from governance import Governance, Window
from ledger import Money, MoneyError, exponent
from proposals import (
    BudgetCategory,
    BudgetLine,
    Call,
    CountryShare,
    Endorsement,
    EndorsementDecision,
    Grant,
    Indicator,
    Organisation,
    OrganisationType,
    Outcome,
    Proposal,
    ProposalContent,
    Proposals,
    TrancheCondition,
    TrancheIn,
    workflow,
)
from proposals import rules as proposal_rules

# The window's standing call for concessional requests: always open, for agencies only. Its envelope is the
# largest amount a figure may carry: what limits a concessional operation is the window's available funds,
# checked by the members' decision (the money guard), not the call.
STANDING_CALL_TITLE = "Concessional financing requests ({code})"
STANDING_OPENS = datetime(2000, 1, 1, tzinfo=UTC)
STANDING_CLOSES = datetime(2100, 1, 1, tzinfo=UTC)
STANDING_ENVELOPE = 10**15 - 1
STANDING_RUBRIC = (
    {"key": "development_impact", "label": "Development impact and results", "weight": 40},
    {"key": "concessionality", "label": "Value of the concessionality (grant element, leverage)", "weight": 30},
    {"key": "agency_capacity", "label": "The agency's capacity and safeguards", "weight": 30},
)
STANDING_REVIEWS = 2
# A grant's duration as proposals know it is at most 120 months; a loan's maturity may be longer.
MAX_DURATION_MONTHS = 120
EDITABLE_PROPOSAL_STATES = frozenset({"draft", "returned"})
# The calculator's rate fields, as a request names them.
RATE_FIELDS = {"market_rate": "market_spread", "concessional_rate": "concessional_spread"}


@dataclass(frozen=True, slots=True)
class Computed:
    """A request's calculation as stored (decimal strings; amounts in minor units, reporting currency)."""

    values: dict[str, Any]
    concessionality: int
    meets_threshold: bool


SHAPE = (
    "maturity_months",
    "grace_months",
    "repayments_per_year",
    "method",
    "market_base_rate",
    "market_spread",
    "concessional_base_rate",
    "concessional_spread",
)


def shape_of(row: FinancingRequest) -> dict[str, Any]:
    """A request's schedule and rates, as ``compute`` takes them."""
    return {name: getattr(row, name) for name in SHAPE}


def rate_of(base: str, spread: str) -> Decimal:
    return Decimal(base) + Decimal(spread)


def compute(
    loan_amount: int,
    currency: str,
    shape: dict[str, Any],
    *,
    discount_rate: Decimal,
    threshold: Decimal,
) -> Computed:
    """The calculator's results for a loan of ``loan_amount`` (minor units of ``currency``) with ``shape``'s
    schedule and rates (a request's columns); its refusals name the request's fields."""
    terms = rules.Terms(
        amount=Money.from_minor(loan_amount, currency).amount,
        maturity_months=int(shape["maturity_months"]),
        grace_months=int(shape["grace_months"]),
        repayments_per_year=int(shape["repayments_per_year"]),
        method=RepaymentMethod(shape["method"]),
        market_rate=rate_of(shape["market_base_rate"], shape["market_spread"]),
        concessional_rate=rate_of(shape["concessional_base_rate"], shape["concessional_spread"]),
    )
    try:
        found = rules.calculate(
            terms, discount_rate=discount_rate, threshold=threshold, minor_digits=exponent(currency)
        )
    except InvalidInput as refused:
        raise InvalidInput(
            refused.detail,
            errors=[FieldError(RATE_FIELDS.get(e.field, e.field), e.rule, e.message) for e in refused.errors],
        ) from refused
    concessionality = Money.of(str(found.concessionality), currency).minor
    values = {
        "discount_rate": str(discount_rate),
        "threshold": str(threshold),
        "grant_element_before": str(found.grant_element_before),
        "grant_element_after": str(found.grant_element_after),
        "leverage": "" if found.leverage is None else str(found.leverage),
        "concessionality": concessionality,
    }
    return Computed(values, concessionality, found.meets_threshold)


class Concessional(Service):
    """Agencies, financing requests and loans, bound to one unit of work."""

    def bind(self, unit: Unit) -> None:
        super().bind(unit)
        self.proposals = Proposals.of(unit)
        self.gov = Governance.of(unit)

    @property
    def currency(self) -> str:
        return self.settings.reporting_currency

    @property
    def today(self) -> date:
        return self.now.date()

    def _user(self) -> Principal:
        if self.user is None:
            raise PermissionDenied("this step needs a person")
        return self.user

    # ---------------------------------------------------------------- agencies

    async def agency(self, organisation_id: int, *, field: str = "organisation_id") -> Organisation:
        """An implementation support agency (404 when there is no such organisation; 409 ``agency-type``
        when it is another kind of organisation)."""
        found = await self.session.get(Organisation, organisation_id) if 0 < organisation_id <= 2**31 - 1 else None
        if found is None:
            raise NotFound(f"no organisation with id {organisation_id}", field=field, rule="organisation-exists")
        if found.type != OrganisationType.IMPLEMENTATION_SUPPORT_AGENCY:
            raise Conflict(
                f"{found.name} is a {found.type}, not an implementation support agency",
                field=field,
                rule="agency-type",
            )
        return found

    @staticmethod
    def require_cleared(agency: Organisation, field: str = "organisation_id") -> None:
        proposal_rules.require_cleared(agency.name, agency.due_diligence, field=field, why="it must be cleared")

    async def record_procedures_agreement(self, organisation_id: int, data: ProceduresAgreementIn) -> Organisation:
        """The secretariat records an agency's financial procedures agreement with the trustee (the permission
        that records due diligence): its date and document. Refused for another kind of organisation or one
        whose due diligence is not cleared."""
        ensure_permission("proposals.manage", self.user)
        agency = await self.agency(organisation_id)
        self.require_cleared(agency)
        refuse_future(data.agreed_on, self.today, field="agreed_on", what="the financial procedures agreement")
        before = {
            "procedures_agreement_on": agency.procedures_agreement_on,
            "procedures_agreement_document": agency.procedures_agreement_document,
        }
        agency.procedures_agreement_on, agency.procedures_agreement_document = data.agreed_on, data.document
        self.session.add(agency)
        await self.session.flush()
        await self.unit.audit(
            "organisation.procedures_agreement",
            "organisation",
            organisation_id,
            before=before,
            after={"procedures_agreement_on": data.agreed_on, "procedures_agreement_document": data.document},
        )
        return agency

    # ---------------------------------------------------------------- reading requests

    async def request(self, request_id: int) -> FinancingRequest:
        """A request the user may read (404 otherwise: a grantee reads its agency's, nobody else a draft)."""
        ensure_permission("concessional.read", self.user)
        found = await self.session.get(FinancingRequest, request_id) if 0 < request_id <= 2**31 - 1 else None
        user = self._user()
        if found is None or not self.may_read(user, found):
            raise NotFound(f"no financing request with id {request_id}", field="request_id", rule="request-exists")
        return found

    @staticmethod
    def may_read(user: Principal, row: FinancingRequest) -> bool:
        if user.has_role(Role.GRANTEE) and user.organisation_id == row.agency_id:
            return True
        if user.roles == frozenset({Role.GRANTEE}):
            return False
        return row.status != LoanStatus.DRAFT

    async def requests(self, *, status: str | None = None) -> list[FinancingRequest]:
        ensure_permission("concessional.read", self.user)
        user = self._user()
        query = select(FinancingRequest).order_by(col(FinancingRequest.id))
        if status:
            query = query.where(col(FinancingRequest.status) == status)
        rows = (await self.session.execute(query)).scalars().all()
        return [row for row in rows if self.may_read(user, row)]

    # ---------------------------------------------------------------- writing requests

    async def _own_agency(self) -> Organisation:
        user = self._user()
        ensure_permission("concessional.request", user)
        if user.organisation_id is None:
            raise PermissionDenied("a grantee account must belong to an organisation", rule="grantee-organisation")
        agency = await self.agency(user.organisation_id, field="organisation")
        self.require_cleared(agency, "organisation")
        return agency

    async def _own_request(self, request_id: int) -> FinancingRequest:
        row = await self.request(request_id)
        user = self._user()
        if not (user.has_role(Role.GRANTEE) and user.organisation_id == row.agency_id):
            raise PermissionDenied("only the request's own agency may do this", rule="own-organisation")
        return row

    async def country_terms(self, code: str) -> tuple[Decimal, Decimal]:
        """The benefitting country's discount rate and threshold (409 ``country-eligible`` when it is not one)."""
        standing = await self.gov.benefitting_country(code)
        return standing.terms.discount_rate, standing.terms.threshold

    async def _window(self, code: str) -> Window:
        window = await self.gov.window(code)
        if window.status != "open":
            raise InvalidInput(f"window {window.code} is closed", field="window_code", rule="window-open")
        return window

    def _loan_minor(self, data: FinancingRequestIn) -> int:
        if data.loan_currency != self.currency:
            raise InvalidInput(
                f"loans are requested in the facility's reporting currency ({self.currency}), not {data.loan_currency}",
                field="loan_currency",
                rule="loan-currency",
            )
        return self._money(data.loan_amount, "loan_amount", positive=True).minor

    def _money(self, amount: str, field: str, *, positive: bool = False) -> Money:
        minor = self.money_in(amount, self.currency, field, positive=positive)
        return Money.from_minor(minor, self.currency)

    @staticmethod
    def money_in(amount: str, currency: str, field: str, *, positive: bool = True) -> int:
        """An input amount in minor units, refused (naming ``field``) rather than rounded or out of range."""
        try:
            money = Money.of(amount, currency)
        except (MoneyError, InvalidOperation, ValueError) as exc:
            raise InvalidInput(
                f"{amount} is no amount in {currency} (its decimals)", field=field, rule="money"
            ) from exc
        if money.minor < 0 or (positive and money.minor == 0) or money.minor >= STANDING_ENVELOPE:
            raise InvalidInput(f"{money} is out of range", field=field, rule="positive-amount")
        return money.minor

    async def _values(self, data: FinancingRequestIn) -> tuple[dict[str, Any], Computed, Window]:
        """A request's columns from its input, with the calculation (refusals name the field and rule)."""
        window = await self._window(data.window_code)
        discount_rate, threshold = await self.country_terms(data.country)
        loan = self._loan_minor(data)
        costs = self._money(data.agency_costs, "agency_costs").minor
        shape = data.model_dump(mode="json", include=set(SHAPE))
        computed = compute(loan, self.currency, shape, discount_rate=discount_rate, threshold=threshold)
        values = {
            **shape,
            "window_id": window.id,
            "country": data.country,
            "title": data.title,
            "description": data.description,
            "results": data.results,
            "endorsement_reference": data.endorsement_reference,
            "endorsed_on": data.endorsed_on,
            "loan_amount": loan,
            "loan_currency": data.loan_currency,
            "agency_costs": costs,
            **computed.values,
        }
        return values, computed, window

    def content(self, row: FinancingRequest, tranches: list[TrancheIn] | None) -> ProposalContent:
        """The proposal's content built from the request: the budget is the concessionality and the agency's
        costs, the one country has 100%, the tranches are the request's (one tranche of the whole grant when
        it gives none)."""
        currency = self.currency
        grant = Money.from_minor(row.concessionality + row.agency_costs, currency)
        budget = [
            BudgetLine(
                category=BudgetCategory.TRANSFERS_AND_GRANTS,
                description="Concessionality: the buy-down of the loan's interest",
                amount=Money.from_minor(row.concessionality, currency).to_str(),
            )
        ]
        if row.agency_costs:
            budget.append(
                BudgetLine(
                    category=BudgetCategory.GENERAL_OPERATING,
                    description="The agency's costs",
                    amount=Money.from_minor(row.agency_costs, currency).to_str(),
                )
            )
        loan = Money.from_minor(row.loan_amount, row.loan_currency)
        return ProposalContent(
            title=row.title,
            summary=row.description,
            requested_amount=grant.to_str(),
            duration_months=min(row.maturity_months, MAX_DURATION_MONTHS),
            countries=[CountryShare(country=row.country, share="100")],
            budget=budget,
            tranches=tranches or [TrancheIn(planned_date=row.endorsed_on or self.today, amount=grant.to_str())],
            results=[
                Outcome(
                    title=(row.results or row.title)[:300],
                    indicators=[
                        Indicator(
                            name="Concessional loan disbursed",
                            unit=row.loan_currency,
                            baseline="0",
                            target=loan.to_str()[:50],
                        )
                    ],
                )
            ],
            gender_marker=0,
        )

    @staticmethod
    def tranches_of(data: FinancingRequestIn) -> list[TrancheIn]:
        return [
            TrancheIn(planned_date=t.planned_date, amount=t.amount, condition=TrancheCondition.NONE)
            for t in data.tranches
        ]

    async def standing_call(self, window: Window) -> Call:
        """The window's standing call for concessional requests, created the first time one is written."""
        title = STANDING_CALL_TITLE.format(code=window.code)
        found = (
            (
                await self.session.execute(
                    select(Call)
                    .where(col(Call.window_id) == window.id, col(Call.title) == title)
                    .order_by(col(Call.id))
                )
            )
            .scalars()
            .first()
        )
        if found is not None:
            return found
        assert window.id is not None
        call = Call(
            window_id=window.id,
            title=title,
            description="Financing requests of implementation support agencies (concessional financing).",
            opens_at=STANDING_OPENS,
            closes_at=STANDING_CLOSES,
            envelope=STANDING_ENVELOPE,
            min_grant=1,
            max_grant=STANDING_ENVELOPE,
            eligible_types=OrganisationType.IMPLEMENTATION_SUPPORT_AGENCY.value,
            eligible_countries="",
            rubric=canonical_json(list(STANDING_RUBRIC)),
            reviews_required=STANDING_REVIEWS,
            created_at=self.now,
        )
        self.session.add(call)
        await self.session.flush()
        await self.unit.audit("call.create", "call", call.id, after={"title": title, "window": window.code})
        return call

    async def create(self, data: FinancingRequestIn) -> FinancingRequest:
        """The agency's new draft: computed, stored, and its proposal (a draft of the standing call) created."""
        agency = await self._own_agency()
        values, _, window = await self._values(data)
        call = await self.standing_call(window)
        assert agency.id is not None and call.id is not None
        row = FinancingRequest(
            proposal_id=0,
            agency_id=agency.id,
            status=LoanStatus.DRAFT,
            created_at=self.now,
            updated_at=self.now,
            **values,
        )
        proposal = await self.proposals.create(call.id, self.content(row, self.tranches_of(data)))
        assert proposal.id is not None
        row.proposal_id = proposal.id
        self.session.add(row)
        await self.session.flush()
        await self.unit.audit("concessional.request.create", "financing_request", row.id, after=self._audit_of(row))
        return row

    @staticmethod
    def _audit_of(row: FinancingRequest) -> dict[str, Any]:
        return {
            "proposal_id": row.proposal_id,
            "country": row.country,
            "window_id": row.window_id,
            "loan_amount": row.loan_amount,
            "concessionality": row.concessionality,
            "agency_costs": row.agency_costs,
            "grant_element_after": row.grant_element_after,
        }

    async def _editable(self, request_id: int) -> tuple[FinancingRequest, Proposal]:
        row = await self._own_request(request_id)
        proposal = await self.session.get(Proposal, row.proposal_id)
        assert proposal is not None
        if proposal.state not in EDITABLE_PROPOSAL_STATES:
            raise Conflict(
                f"a request is edited as a draft or when returned by the secretariat, not when {proposal.state}",
                field="status",
                rule="editable-state",
            )
        return row, proposal

    async def update(self, request_id: int, data: FinancingRequestIn) -> FinancingRequest:
        """The agency edits its draft (or a request returned for information): computed again."""
        row, proposal = await self._editable(request_id)
        values, _, window = await self._values(data)
        if window.id != proposal.window_id:
            raise Conflict(
                "a request stays in its window; withdraw it and write a new one",
                field="window_code",
                rule="same-window",
            )
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = self.now
        assert proposal.id is not None
        await self.proposals.update(proposal.id, self.content(row, self.tranches_of(data)), own_edit=False)
        self.session.add(row)
        await self.session.flush()
        await self.unit.audit("concessional.request.edit", "financing_request", request_id, after=self._audit_of(row))
        return row

    async def submit(self, request_id: int) -> FinancingRequest:
        """The agency submits its request: computed again with the country's current terms, the threshold
        checked when the charter requires it, the grant's tranches summing to it, the country's endorsement
        recorded on the proposal, and the proposal submitted to the secretariat's screening."""
        row, proposal = await self._editable(request_id)
        agency = await self.agency(row.agency_id, field="organisation")
        self.require_cleared(agency, "organisation")
        discount_rate, threshold = await self.country_terms(row.country)
        computed = compute(
            row.loan_amount, row.loan_currency, shape_of(row), discount_rate=discount_rate, threshold=threshold
        )
        if self.settings.charter.concessional_threshold_required and not computed.meets_threshold:
            raise InvalidInput(
                f"the concessional terms give a grant element of {computed.values['grant_element_after']}%, below "
                f"the {Decimal(threshold) * 100}% the charter requires for {row.country}",
                field="concessional_spread",
                rule="grant-element-threshold",
            )
        self._require_endorsement(row)
        for name, value in computed.values.items():
            setattr(row, name, value)
        # The request's own tranches stay; the one tranche written for a request that gave none follows the
        # grant as computed now.
        content = self.proposals.content_of(proposal)
        default = len(content.tranches) == 1 and content.tranches[0].amount == content.requested_amount
        rebuilt = self.content(row, None if default else list(content.tranches))
        self._require_tranches(rebuilt, row)
        assert proposal.id is not None
        await self.proposals.update(proposal.id, rebuilt, own_edit=False)
        await self._endorse(row)
        await self.proposals.act(proposal.id, "submit")
        row.status, row.updated_at = LoanStatus.IN_REVIEW, self.now
        self.session.add(row)
        await self.session.flush()
        await self.unit.audit("concessional.request.submit", "financing_request", request_id, after=self._audit_of(row))
        return row

    async def withdraw(self, request_id: int) -> FinancingRequest:
        """The agency withdraws its request (a draft, or submitted and not yet in the TAG's review) through its
        proposal's own withdrawal; the proposals' hook sets the request ``withdrawn`` (concessional.decisions)."""
        row = await self._own_request(request_id)
        proposal = await self.session.get(Proposal, row.proposal_id)
        assert proposal is not None and proposal.id is not None
        if row.status not in (LoanStatus.DRAFT, LoanStatus.IN_REVIEW) or not workflow.step(proposal.state, "withdraw"):
            raise Conflict(
                f"request {row.id} is {row.status} (its proposal {proposal.state}); an agency withdraws a request "
                "before the TAG's review begins",
                field="status",
                rule="withdrawable-state",
                proposal_state=proposal.state,
            )
        await self.proposals.act(proposal.id, "withdraw")
        return row

    def _require_endorsement(self, row: FinancingRequest) -> None:
        if not row.endorsement_reference or row.endorsed_on is None:
            raise InvalidInput(
                f"the request needs {row.country}'s endorsement (its reference and date)",
                field="endorsement_reference",
                rule="country-endorsement",
            )
        refuse_future(row.endorsed_on, self.today, field="endorsed_on", what="the country's endorsement")

    def _require_tranches(self, content: ProposalContent, row: FinancingRequest) -> None:
        grant = row.concessionality + row.agency_costs
        amounts = [self._money(t.amount, "tranches", positive=True).minor for t in content.tranches]
        if sum(amounts) != grant:
            raise InvalidInput(
                f"the tranches sum to {Money.from_minor(sum(amounts), self.currency)}, not the grant's "
                f"{Money.from_minor(grant, self.currency)} (concessionality and the agency's costs)",
                field="tranches",
                rule="tranches-sum-to-grant",
            )

    async def _endorse(self, row: FinancingRequest) -> None:
        """The country's endorsement, as the request states it, recorded on the proposal."""
        found = (
            await self.session.execute(
                select(Endorsement).where(
                    col(Endorsement.proposal_id) == row.proposal_id, col(Endorsement.country) == row.country
                )
            )
        ).scalar_one_or_none()
        note = f"endorsement {row.endorsement_reference} of {row.endorsed_on} (financing request {row.id})"
        if found is None:
            found = Endorsement(proposal_id=row.proposal_id, country=row.country, decision="", recorded_at=self.now)
        found.decision, found.note = EndorsementDecision.ENDORSED.value, note[:10_000]
        found.recorded_by, found.recorded_at = self._user().id, self.now
        self.session.add(found)
        await self.session.flush()

    # ---------------------------------------------------------------- the loan's life

    async def _loan(self, request_id: int) -> FinancingRequest:
        user = self._user()
        ensure_permission("concessional.loan", user)
        row = await self.request(request_id)
        if not user.has_role(Role.SECRETARIAT_ADMIN) and user.organisation_id != row.agency_id:
            raise PermissionDenied("only the request's agency or the secretariat may do this", rule="own-organisation")
        return row

    @staticmethod
    def _require_status(row: FinancingRequest, status: LoanStatus, what: str) -> None:
        if row.status != status:
            raise Conflict(
                f"request {row.id} is {row.status}; {what} needs it to be {status.value}",
                field="status",
                rule=f"loan-{status.value.replace('_', '-')}",
                loan_status=row.status,
            )

    async def board_approval(self, request_id: int, data: BoardApprovalIn) -> FinancingRequest:
        """The agency's board approved the loan (on or after the members' decision, not after today)."""
        row = await self._loan(request_id)
        self._require_status(row, LoanStatus.APPROVED, "recording the board's approval")
        refuse_future(data.approved_on, self.today, field="approved_on", what="the board's approval")
        decided = await self._decided_on(row)
        if decided is not None and data.approved_on < decided:
            raise InvalidInput(
                f"the board's approval follows the members' decision of {decided}",
                field="approved_on",
                rule="after-decision",
            )
        row.board_approved_on, row.status, row.updated_at = data.approved_on, LoanStatus.BOARD_APPROVED, self.now
        return await self._saved(row, "concessional.loan.board_approval", approved_on=data.approved_on)

    async def effectiveness(self, request_id: int, data: EffectivenessIn) -> FinancingRequest:
        """The loan is signed and effective: transfers to the agency may be prepared from now on."""
        row = await self._loan(request_id)
        self._require_status(row, LoanStatus.BOARD_APPROVED, "recording the loan's effectiveness")
        refuse_future(data.signed_on, self.today, field="signed_on", what="the loan's signature")
        refuse_future(data.effective_on, self.today, field="effective_on", what="the loan's effectiveness")
        assert row.board_approved_on is not None
        if data.signed_on < row.board_approved_on:
            raise InvalidInput(
                f"the loan is signed after its board approval of {row.board_approved_on}",
                field="signed_on",
                rule="after-board-approval",
            )
        if data.effective_on < data.signed_on:
            raise InvalidInput(
                "the loan becomes effective on or after its signature", field="effective_on", rule="after-signature"
            )
        row.signed_on, row.effective_on = data.signed_on, data.effective_on
        row.status, row.updated_at = LoanStatus.EFFECTIVE, self.now
        return await self._saved(
            row, "concessional.loan.effective", signed_on=data.signed_on, effective_on=data.effective_on
        )

    async def _decided_on(self, row: FinancingRequest) -> date | None:
        grant = await self.session.get(Grant, row.grant_id) if row.grant_id else None
        return None if grant is None else grant.start_date

    async def _saved(self, row: FinancingRequest, action: str, **after: Any) -> FinancingRequest:
        self.session.add(row)
        await self.session.flush()
        await self.unit.audit(action, "financing_request", row.id, after={"status": row.status, **after})
        return row

    # ---------------------------------------------------------------- presenting

    async def agencies(self) -> list[Organisation]:
        """The implementation support agencies, by name (the secretariat's list, under the permission that
        records their procedures agreements)."""
        ensure_permission("proposals.manage", self.user)
        query = (
            select(Organisation)
            .where(col(Organisation.type) == OrganisationType.IMPLEMENTATION_SUPPORT_AGENCY.value)
            .order_by(col(Organisation.name), col(Organisation.id))
        )
        return list((await self.session.execute(query)).scalars())

    async def actions(self, row: FinancingRequest) -> frozenset[str]:
        """What the user may do with the request now ("edit", "submit", "board_approval", "effectiveness"), by
        the same checks the commands make, so that a page offers only these (the commands check again)."""
        user = self._user()
        own = user.has_role(Role.GRANTEE) and user.organisation_id == row.agency_id
        found: set[str] = set()
        if own and has_permission("concessional.request", user)[0]:
            proposal = await self.session.get(Proposal, row.proposal_id)
            if proposal is not None and proposal.state in EDITABLE_PROPOSAL_STATES:
                found |= {"edit", "submit"}
        if has_permission("concessional.loan", user)[0] and (own or user.has_role(Role.SECRETARIAT_ADMIN)):
            if row.status == LoanStatus.APPROVED:
                found.add("board_approval")
            elif row.status == LoanStatus.BOARD_APPROVED:
                found.add("effectiveness")
        return frozenset(found)

    async def tranche_plan(self, row: FinancingRequest) -> list[tuple[date, int]]:
        proposal = await self.session.get(Proposal, row.proposal_id)
        if proposal is None:
            return []
        content = json.loads(proposal.content)
        return [
            (date.fromisoformat(t["planned_date"]), Money.of(str(t["amount"]), self.currency).minor)
            for t in content.get("tranches", [])
        ]
