"""Concessional financing API models. Amounts and rates travel as decimal strings, never JSON numbers: an
amount in its currency's units ("300000000.00"), a rate or threshold as a fraction ("0.025" for 2.5%)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from concessional.models import RepaymentMethod
from fundapp.core.schemas import Input, Output
from governance import CountryCode
from ledger import DecimalString, KnownCurrency, MoneyOut


def _rate(value: str) -> str:
    """A rate as a normalised decimal fraction ("0.0250" -> "0.025")."""
    number = Decimal(value)
    return "0" if number == 0 else format(number.normalize(), "f")


RateString = Annotated[
    str,
    StringConstraints(pattern=r"^-?[0-9](\.[0-9]{1,12})?$"),
    AfterValidator(_rate),
    Field(description='A yearly rate as a decimal fraction, e.g. "0.025" for 2.5%; never a JSON number.'),
]
Months = Annotated[int, Field(ge=-100_000, le=100_000, description="a number of months")]


class CalculatorIn(Input):
    """A loan's terms to try: its amount, schedule, market terms and the concessional terms sought (each a
    base rate plus a spread), and the discount rate (and optionally the grant-element threshold) that apply."""

    loan_amount: DecimalString = Field(description='the loan\'s face value in its currency, e.g. "1000.00"')
    currency: KnownCurrency
    maturity_months: Months
    grace_months: Months = Field(description="months from disbursement to the first repayment of principal")
    repayments_per_year: int = Field(ge=-100, le=100, description="1, 2, 4 or 12")
    method: RepaymentMethod = RepaymentMethod.EQUAL_PRINCIPAL
    market_base_rate: RateString
    market_spread: RateString
    concessional_base_rate: RateString
    concessional_spread: RateString
    discount_rate: RateString
    threshold: RateString | None = Field(
        default=None, description="the grant element the concessional terms must reach, as a fraction"
    )


class ScheduleRow(Output):
    """One period of a schedule, its amounts rounded to the currency's minor unit for reading (the calculator
    works on the unrounded figures)."""

    period: int
    months: int = Field(description="months from disbursement to the end of the period")
    principal: str
    interest: str
    debt_service: str
    outstanding: str


class CalculatorOut(Output):
    """The calculator's results (rounded once, at the end) and both loans' schedules."""

    loan_amount: MoneyOut
    market_rate: str = Field(description="market base rate + spread, a fraction")
    concessional_rate: str = Field(description="concessional base rate + spread, a fraction")
    discount_rate: str
    per_period_discount_rate: str = Field(description="(1 + discount rate)^(1/repayments a year) - 1, 12 decimals")
    threshold: str | None
    grant_element_before: str = Field(description="percent, 4 decimals: the loan on market terms")
    grant_element_after: str = Field(description="percent, 4 decimals: the loan on concessional terms")
    concessionality: MoneyOut = Field(description="the present value of the buy-down, in the loan's currency")
    leverage: str | None = Field(description="loan amount / concessionality, 2 decimals; null when it is 0")
    meets_threshold: bool | None = Field(description="null when no threshold was given")
    market_schedule: list[ScheduleRow]
    concessional_schedule: list[ScheduleRow]


# ---------------------------------------------------------------- agencies, financing requests, loans

Text = Annotated[str, StringConstraints(min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
# A rate or a spread as a fraction: "0.025" for 2.5% (a spread may be negative).
Rate = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,2}(\.[0-9]{1,8})?$")]


class ProceduresAgreementIn(Input):
    agreed_on: date
    document: Text = Field(description="the agreement's document reference")


class AgencyPublic(Output):
    organisation_id: int
    name: str
    type: str
    country: str
    due_diligence: str
    procedures_agreement_on: date | None
    procedures_agreement_document: str


class RequestTranche(Input):
    """One tranche of the grant to the agency, following the loan's disbursement (reporting currency)."""

    planned_date: date
    amount: DecimalString


class FinancingRequestIn(Input):
    """A financing request as the agency writes it (created as a draft, edited until submitted)."""

    window_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    country: CountryCode
    title: Text
    description: LongText = ""
    results: LongText = ""
    endorsement_reference: LongText = ""
    endorsed_on: date | None = None
    loan_amount: DecimalString
    loan_currency: KnownCurrency
    maturity_months: Annotated[int, Field(ge=1, le=720)]
    grace_months: Annotated[int, Field(ge=0, le=720)]
    repayments_per_year: Annotated[int, Field(ge=1, le=12)]
    method: RepaymentMethod = RepaymentMethod.EQUAL_PRINCIPAL
    market_base_rate: Rate
    market_spread: Rate
    concessional_base_rate: Rate
    concessional_spread: Rate
    agency_costs: DecimalString = "0"
    tranches: Annotated[list[RequestTranche], Field(max_length=24)] = Field(
        default_factory=list,
        description="the grant's tranches (amounts sum to concessionality + agency costs); none: one tranche",
    )


class BoardApprovalIn(Input):
    approved_on: date


class EffectivenessIn(Input):
    signed_on: date
    effective_on: date


class TranchePlan(Output):
    planned_date: date
    amount: MoneyOut


class FinancingRequestPublic(Output):
    id: int
    proposal_id: int
    proposal_state: str
    agency_id: int
    agency_name: str
    window_code: str
    country: str
    title: str
    description: str
    results: str
    endorsement_reference: str
    endorsed_on: date | None
    loan_amount: MoneyOut
    maturity_months: int
    grace_months: int
    repayments_per_year: int
    method: str
    market_base_rate: str
    market_spread: str
    concessional_base_rate: str
    concessional_spread: str
    discount_rate: str
    threshold: str
    grant_element_before: str
    grant_element_after: str
    leverage: str
    meets_threshold: bool | None
    concessionality: MoneyOut
    agency_costs: MoneyOut
    grant_amount: MoneyOut
    tranches: list[TranchePlan]
    status: str
    decision_id: int | None
    grant_id: int | None
    board_approved_on: date | None
    signed_on: date | None
    effective_on: date | None
    cancelled_on: date | None
    created_at: datetime
    updated_at: datetime


class RefundReceivedIn(Input):
    """Money the agency paid back of the refund due after a cancellation."""

    amount: DecimalString
    currency: KnownCurrency
    received_on: date
    reference: Annotated[str, StringConstraints(max_length=200)] = ""


class RefundReceivedPublic(Output):
    request_id: int
    grant_id: int
    amount: MoneyOut
    received_on: date
    reference: str
    entry_id: int
    refund_due: MoneyOut = Field(description="what the agency still owes after this receipt")
