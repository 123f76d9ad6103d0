"""Concessional financing's pages for financing requests and operations (DESIGN §12; docs/pages.md).

- The agency's (an implementation support agency's users): its requests with their status, the request
  editor (a draft created and edited in sections), "check your answers" with the computed grant elements,
  threshold, concessionality and leverage before submitting, and the request's status page.
- Everyone who reads requests: the status page (the calculation, the proposal's review, the decision, the
  grant's tranches and transfers), with the forms the reader may use now: board approval and effectiveness
  (``Concessional.actions``), the trustee's commitment (``grants.manage``), a tranche's transfer prepared
  (``grants.prepare``) and approved by another person (``grants.approve``).
- Finance, the secretariat and auditors: the adopted operations with their loan's status.

Each form calls the service its API twin calls (``Concessional.create``/``update``/``submit``/
``board_approval``/``effectiveness``; ``Grants.sign_agreement``/``prepare_disbursement``/
``approve_disbursement``) behind the same permission; a refusal is shown beside its field, input kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlmodel import col

import concessional.permissions  # noqa: F401 - registers the concessional actions
from concessional.api import request_public
from concessional.models import LoanStatus
from concessional.pages import FREQUENCY_LABELS, METHOD_LABELS, _fraction, percent_text
from concessional.schemas import FinancingRequestIn, FinancingRequestPublic
from concessional.service import Concessional
from fundapp.core import web
from fundapp.core.errors import DomainError, FieldError, InvalidInput
from fundapp.core.models import Role
from fundapp.core.security import Principal, current_user, has_permission, require
from fundapp.core.web import N_, NavItem, gettext, i18n
from fundapp.core.web.pages import field_errors
from governance import Window
from ledger import Money, format_money
from proposals import DisbursementStatus, Grants

REQUESTS_PATH = f"{web.PAGE_PREFIX}/concessional/requests"
OPERATIONS_PATH = f"{web.PAGE_PREFIX}/concessional/operations"
AnyRequest = web.AnyRequest
ConcessionalService = NamedDependency[Concessional]
GrantsService = NamedDependency[Grants]
TRANCHE_ROWS = 6
TEXT_FIELDS = (
    "title",
    "description",
    "results",
    "endorsement_reference",
    "endorsed_on",
    "window_code",
    "country",
    "loan_amount",
    "loan_currency",
    "maturity_months",
    "grace_months",
    "repayments_per_year",
    "method",
    "agency_costs",
)
RATE_FIELDS = ("market_base_rate", "market_spread", "concessional_base_rate", "concessional_spread")
NUMBER_FIELDS = frozenset({"loan_amount", "agency_costs", "maturity_months", "grace_months", *RATE_FIELDS})
DATE_FIELDS = frozenset({"endorsed_on", "planned_date", "approved_on", "signed_on", "effective_on"})
ADOPTED = (LoanStatus.APPROVED, LoanStatus.BOARD_APPROVED, LoanStatus.EFFECTIVE, LoanStatus.CANCELLED)
AWAITING_APPROVAL = frozenset({DisbursementStatus.PREPARED.value, DisbursementStatus.AWAITING_SECOND_APPROVAL.value})

STATUS_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved, pending cash transfer"),
    "board_approved": N_("Approved by the agency's board"),
    "effective": N_("Loan effective"),
    "not_approved": N_("Not approved"),
    "cancelled": N_("Cancelled"),
    "withdrawn": N_("Withdrawn"),
}
PROPOSAL_STATE_LABELS = {
    "draft": N_("Not submitted"),
    "submitted": N_("Submitted, awaiting screening"),
    "screening": N_("Being screened by the secretariat"),
    "returned": N_("Returned to the agency for information"),
    "in_review": N_("Being reviewed by the Technical Advisory Group"),
    "recommended": N_("Recommended by the Technical Advisory Group"),
    "not_recommended": N_("Not recommended by the Technical Advisory Group"),
    "under_decision": N_("Before the member states"),
    "approved": N_("Approved by the member states"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}
TRANCHE_LABELS = {
    "pending": N_("Pending"),
    "recognised": N_("Due"),
    "paid": N_("Paid"),
    "released": N_("Released"),
}
TRANSFER_LABELS = {
    "prepared": N_("Prepared, awaiting approval"),
    "awaiting_second_approval": N_("Awaiting a second approval"),
    "approved": N_("Approved and transferred"),
    "rejected": N_("Rejected"),
}


def _reads(user: Principal) -> bool:
    return has_permission("concessional.read", user)[0]


web.register_nav(
    NavItem(
        N_("Financing requests"),
        lambda _u: REQUESTS_PATH,
        lambda u: u.has_role(Role.GRANTEE, Role.SECRETARIAT_ADMIN) and _reads(u),
        order=35,
    )
)
web.register_nav(
    NavItem(
        N_("Concessional operations"),
        lambda _u: OPERATIONS_PATH,
        lambda u: u.has_role(Role.FINANCE_OFFICER, Role.FINANCE_APPROVER, Role.SECRETARIAT_ADMIN, Role.AUDITOR),
        order=36,
    )
)
web.register_flash_messages(
    {
        "request-saved": N_("The draft was saved and computed. Check your answers before submitting."),
        "request-submitted": N_("The request was submitted to the secretariat's screening."),
        "board-approval-recorded": N_("The board's approval of the loan was recorded."),
        "effectiveness-recorded": N_("The loan's effectiveness was recorded: transfers may be prepared."),
        "agreement-recorded": N_("The trustee's commitment to the agency was recorded."),
        "transfer-prepared": N_("The transfer was prepared. Another person approves it."),
        "transfer-approved": N_("The transfer was approved."),
    }
)
web.register_rule_messages(
    {
        "date-format": N_("Give a date as YYYY-MM-DD."),
        "whole-number": N_("Give a whole number."),
        "country-eligible": N_("The country is not (or no longer) a benefitting country."),
        "window-open": N_("The window is closed."),
        "loan-currency": N_("Loans are requested in the facility's reporting currency."),
        "money": N_("The amount has more decimals than its currency has."),
        "positive-amount": N_("Give an amount greater than zero."),
        "grant-element-threshold": N_(
            "The concessional terms do not reach the grant-element threshold the charter requires for the country."
        ),
        "country-endorsement": N_("The request needs the country's endorsement: its reference and date."),
        "tranches-sum-to-grant": N_(
            "The tranches must add up to the grant: the concessionality plus the agency's costs."
        ),
        "editable-state": N_("The request is edited only as a draft or when the secretariat returns it."),
        "same-window": N_("A request stays in its window; withdraw it and write a new one."),
        "agency-type": N_("Only implementation support agencies write financing requests."),
        "due-diligence-cleared": N_("The agency's due diligence must be cleared first."),
        "grantee-organisation": N_("Your account belongs to no organisation."),
        "own-organisation": N_("Only the request's own agency (or the secretariat) may do this."),
        "not-before-earliest-date": N_("The date is before the earliest date the facility records."),
        "after-decision": N_("The board's approval follows the members' decision."),
        "after-board-approval": N_("The loan is signed on or after its board approval."),
        "after-signature": N_("The loan becomes effective on or after its signature."),
        "loan-approved": N_("The board's approval is recorded once the members have approved the operation."),
        "loan-board-approved": N_("The loan's effectiveness is recorded after its board approval."),
        "loan-effective": N_(
            "The loan is not effective yet: transfers to the agency wait for its signature and effectiveness."
        ),
        "procedures-agreement": N_("The agency has no financial procedures agreement with the trustee yet."),
        "maker-checker": N_("The person who prepared a transfer cannot approve it: another person must."),
        "within-tranche": N_("The amount is more than what is unpaid of the tranche."),
        "tranche-exists": N_("The grant has no such tranche."),
        "tranche-unpaid": N_("This tranche is not due, or already paid."),
        "disbursement-open": N_("This transfer was already decided."),
    }
)


# ---------------------------------------------------------------- formatting


def _locale() -> str:
    return {"en": "en_GB"}.get(i18n.current(), i18n.current())


def points(value: str | None) -> str:
    """A grant element in percentage points ("26.3417") as the page's language writes it."""
    if not value:
        return ""
    return format_decimal(Decimal(value), format="#,##0.0000", locale=_locale()) + "\u00a0%"


def rate(value: str | Decimal | None) -> str:
    """A fraction ("0.015") as a percentage with the decimals it has ("1.5 %")."""
    if value is None or value == "":
        return ""
    return format_decimal(Decimal(value) * 100, format="#,##0.##########", locale=_locale()) + "\u00a0%"


def amount(value: Any) -> str:
    """Money as the API answers it (``MoneyOut``) as people read it."""
    return format_money(Money.of(value.amount, value.currency), _locale())


def figures(found: FinancingRequestPublic) -> dict[str, Any]:
    """A request's terms and calculation as the page's language writes them."""
    return {
        "loan": amount(found.loan_amount),
        "concessionality": amount(found.concessionality),
        "agency_costs": amount(found.agency_costs),
        "grant": amount(found.grant_amount),
        "before": points(found.grant_element_before),
        "after": points(found.grant_element_after),
        "threshold": rate(found.threshold),
        "discount_rate": rate(found.discount_rate),
        "leverage": format_decimal(Decimal(found.leverage), format="#,##0.00", locale=_locale())
        if found.leverage
        else "",
        "meets_threshold": found.meets_threshold,
        "market_rate": rate(Decimal(found.market_base_rate) + Decimal(found.market_spread)),
        "concessional_rate": rate(Decimal(found.concessional_base_rate) + Decimal(found.concessional_spread)),
        "market_parts": (rate(found.market_base_rate), rate(found.market_spread)),
        "concessional_parts": (rate(found.concessional_base_rate), rate(found.concessional_spread)),
        "frequency": gettext(FREQUENCY_LABELS.get(str(found.repayments_per_year), "")),
        "method": gettext(METHOD_LABELS.get(found.method, found.method)),
        "status": gettext(STATUS_LABELS.get(found.status, found.status)),
        "proposal_state": gettext(PROPOSAL_STATE_LABELS.get(found.proposal_state, found.proposal_state)),
        "tranches": [(t.planned_date, amount(t.amount)) for t in found.tranches],
    }


# ---------------------------------------------------------------- the editor's form


def request_input(fields: dict[str, str]) -> dict[str, Any]:
    """The form's answers as the API's input (rates typed in percent become fractions; blank rows of the
    tranche schedule are left out)."""
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = fields.get(name, "").strip()
        if value:
            data[name] = value.upper() if name in ("loan_currency", "country", "window_code") else value
    for name in RATE_FIELDS:
        value = fields.get(name, "").strip()
        if value:
            data[name] = _fraction(value)
    tranches = []
    for index in range(TRANCHE_ROWS):
        planned = fields.get(f"tranches.{index}.planned_date", "").strip()
        share = fields.get(f"tranches.{index}.amount", "").strip()
        if planned or share:
            tranches.append({"planned_date": planned, "amount": share})
    data["tranches"] = tranches
    return data


def form_of(found: FinancingRequestPublic) -> dict[str, str]:
    """A saved request as the editor shows it (rates in percent)."""
    form = {
        "title": found.title,
        "description": found.description,
        "results": found.results,
        "endorsement_reference": found.endorsement_reference,
        "endorsed_on": found.endorsed_on.isoformat() if found.endorsed_on else "",
        "window_code": found.window_code,
        "country": found.country,
        "loan_amount": found.loan_amount.amount,
        "loan_currency": found.loan_amount.currency,
        "maturity_months": str(found.maturity_months),
        "grace_months": str(found.grace_months),
        "repayments_per_year": str(found.repayments_per_year),
        "method": found.method,
        "agency_costs": found.agency_costs.amount,
        **{name: percent_text(getattr(found, name)) for name in RATE_FIELDS},
    }
    for index, tranche in enumerate(found.tranches[:TRANCHE_ROWS]):
        form[f"tranches.{index}.planned_date"] = tranche.planned_date.isoformat()
        form[f"tranches.{index}.amount"] = tranche.amount.amount
    return form


def input_errors(refused: ValidationError, prefix: str = "") -> list[FieldError]:
    """pydantic's refusals of a form, a number or a date that is not one said as such."""
    errors = []
    for error in field_errors(refused):
        leaf = error.field.rsplit(".", 1)[-1]
        rule = error.rule
        if rule not in ("missing", "excess_precision", "unknown_currency"):
            if leaf in DATE_FIELDS:
                rule = "date-format"
            elif leaf in ("maturity_months", "grace_months"):
                rule = "whole-number"
            elif leaf in NUMBER_FIELDS or leaf == "amount":
                rule = "number-format"
        errors.append(FieldError(prefix + error.field, rule, error.message))
    return errors


def validated(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as refused:
        errors = input_errors(refused, prefix)
        raise InvalidInput(errors[0].message, errors=errors) from refused


def named(errors: list[FieldError], prefix: str, known: tuple[str, ...], fallback: str) -> list[FieldError]:
    """A refusal named after the page's fields: a field of the form gets the form's prefix (once), any other
    ``fallback``, a field of the form, so that the summary links to it and the message stands beside it."""
    found = []
    for error in errors:
        if prefix and error.field.startswith(prefix):
            name = error.field
        elif error.field in known:
            name = prefix + error.field
        else:
            name = fallback
        found.append(FieldError(name, error.rule, error.message))
    return found


async def choices(concessional: Concessional) -> dict[str, list[tuple[str, str]]]:
    """The editor's options: the open windows, the benefitting countries, the frequencies and methods."""
    windows = (
        (
            await concessional.session.execute(
                select(Window).where(col(Window.status) == "open").order_by(col(Window.code))
            )
        )
        .scalars()
        .all()
    )
    countries = await concessional.gov.benefitting_countries()
    named_countries = sorted(((s.country.code, country_name(s.country.code)) for s in countries), key=lambda c: c[1])
    return {
        "windows": [
            ("", gettext("Choose a window")),
            *((w.code, f"{w.code} \u2013 {getattr(w, 'name_' + i18n.current(), w.name_en)}") for w in windows),
        ],
        "countries": [("", gettext("Choose a country")), *named_countries],
        "frequencies": [(value, gettext(label)) for value, label in FREQUENCY_LABELS.items()],
        "methods": [(value, gettext(label)) for value, label in METHOD_LABELS.items()],
    }


def country_name(code: str) -> str:
    """The country's name as the pages write it (governance's CLDR names, a template function)."""
    return str(web.environment().globals["country_name"](code))  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused form: its errors (named after the page's fields), the input to show again, the status."""

    errors: list[FieldError]
    form: dict[str, str]
    status: int


def refusal(
    error: DomainError, form: dict[str, str], *, prefix: str = "", known: tuple[str, ...] = (), fallback: str
) -> Refusal:
    errors = error.errors or [FieldError("", error.rule or error.slug, error.detail)]
    return Refusal(named(errors, prefix, known, fallback), form, error.status)


# ---------------------------------------------------------------- the agency's requests and the editor


class RequestPages(Controller):
    path = REQUESTS_PATH
    include_in_schema = False
    guards = [require("concessional.read")]

    @get("/")
    async def requests(self, request: AnyRequest, concessional: ConcessionalService) -> Response[str]:
        """The requests the reader may read (an agency's users: their own, drafts included), with status."""
        rows = [await request_public(concessional, row) for row in await concessional.requests()]
        return web.render(
            request,
            "concessional/requests.html",
            title=N_("Financing requests"),
            rows=[{"request": r, **figures(r)} for r in reversed(rows)],
            may_write=has_permission("concessional.request", current_user(request))[0],
        )

    @get("/new", guards=[require("concessional.request")])
    async def new(self, request: AnyRequest, concessional: ConcessionalService) -> Response[str]:
        defaults = {"loan_currency": concessional.currency, "repayments_per_year": "2", "method": "equal_principal"}
        return await self._editor(request, concessional, None, defaults)

    @post("/", guards=[require("concessional.request")], status_code=303)
    async def create(self, request: AnyRequest, concessional: ConcessionalService) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            row = await concessional.create(validated(FinancingRequestIn, request_input(fields)))
        except DomainError as refused:
            await concessional.session.rollback()  # a refused form changes nothing
            return await self._editor(request, Concessional.of(concessional.unit), None, fields, refused)
        return web.redirect(f"{REQUESTS_PATH}/{row.id}/check", flash="request-saved")

    @get("/{request_id:int}/edit", guards=[require("concessional.request")])
    async def edit(self, request: AnyRequest, concessional: ConcessionalService, request_id: FromPath[int]) -> Any:
        found = await request_public(concessional, await concessional.request(request_id))
        return await self._editor(request, concessional, request_id, form_of(found))

    @post("/{request_id:int}/edit", guards=[require("concessional.request")], status_code=303)
    async def update(
        self, request: AnyRequest, concessional: ConcessionalService, request_id: FromPath[int]
    ) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            await concessional.update(request_id, validated(FinancingRequestIn, request_input(fields)))
        except DomainError as refused:
            await concessional.session.rollback()
            return await self._editor(request, Concessional.of(concessional.unit), request_id, fields, refused)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}/check", flash="request-saved")

    async def _editor(
        self,
        request: AnyRequest,
        concessional: Concessional,
        request_id: int | None,
        form: dict[str, str],
        refused: DomainError | None = None,
    ) -> Response[str]:
        errors: list[FieldError] = []
        if refused is not None:
            errors = refused.errors or [FieldError("", refused.rule or refused.slug, refused.detail)]
            errors = [
                e if e.field and e.field not in ("organisation", "status") else FieldError("", e.rule, e.message)
                for e in errors
            ]
        return web.render(
            request,
            "concessional/request_form.html",
            status=refused.status if refused is not None else 200,
            title=N_("Edit the financing request") if request_id else N_("New financing request"),
            errors=errors,
            form=form,
            request_id=request_id,
            tranche_rows=range(TRANCHE_ROWS),
            options=await choices(concessional),
        )

    @get("/{request_id:int}/check")
    async def check(self, request: AnyRequest, concessional: ConcessionalService, request_id: FromPath[int]) -> Any:
        return await self._check(request, concessional, request_id)

    async def _check(
        self, request: AnyRequest, concessional: Concessional, request_id: int, refused: DomainError | None = None
    ) -> Response[str]:
        row = await concessional.request(request_id)
        found = await request_public(concessional, row)
        shown = {"window_code", "country", "title", "endorsement_reference", "endorsed_on", "loan_amount"}
        shown |= {"loan_currency", "maturity_months", "grace_months", "repayments_per_year", "market_spread"}
        shown |= {"concessional_spread", "agency_costs", "tranches", "description", "results"}
        errors: list[FieldError] = []
        if refused is not None:
            errors = refused.errors or [FieldError("", refused.rule or refused.slug, refused.detail)]
            errors = [e if e.field in shown else FieldError("", e.rule, e.message) for e in errors]
        return web.render(
            request,
            "concessional/request_check.html",
            status=refused.status if refused is not None else 200,
            title=N_("Check your answers"),
            errors=errors,
            found=found,
            f=figures(found),
            actions=await concessional.actions(row),
        )

    @post("/{request_id:int}/submit", guards=[require("concessional.request")], status_code=303)
    async def submit(
        self, request: AnyRequest, concessional: ConcessionalService, request_id: FromPath[int]
    ) -> Response[Any]:
        try:
            await concessional.submit(request_id)
        except DomainError as refused:
            await concessional.session.rollback()
            return await self._check(request, Concessional.of(concessional.unit), request_id, refused)
        return web.redirect(f"{REQUESTS_PATH}/{request_id}", flash="request-submitted")


page_handlers = [RequestPages]
