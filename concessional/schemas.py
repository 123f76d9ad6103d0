"""Concessional financing API models. Amounts and rates travel as decimal strings, never JSON numbers: an
amount in its currency's units ("300000000.00"), a rate or threshold as a fraction ("0.025" for 2.5%)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from concessional.models import RepaymentMethod
from fundapp.core.schemas import Input, Output
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
