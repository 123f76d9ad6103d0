"""The calculator as the API and the page use it: the input's terms to ``concessional.rules.calculate`` and
its results (with both loans' schedules) to the output model. Pure: it reads and writes nothing."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from concessional import rules
from concessional.schemas import CalculatorIn, CalculatorOut, ScheduleRow
from ledger import MoneyOut, exponent, money_in


def terms_of(data: CalculatorIn) -> rules.Terms:
    """The input's terms: each rate is its base plus its spread."""
    return rules.Terms(
        amount=Decimal(data.loan_amount),
        maturity_months=data.maturity_months,
        grace_months=data.grace_months,
        repayments_per_year=data.repayments_per_year,
        method=data.method,
        market_rate=Decimal(data.market_base_rate) + Decimal(data.market_spread),
        concessional_rate=Decimal(data.concessional_base_rate) + Decimal(data.concessional_spread),
    )


def _text(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")


def _rows(loan: rules.Loan, places: Decimal) -> list[ScheduleRow]:
    months = rules.period_months(loan)

    def shown(value: Decimal) -> str:
        rounded = value.quantize(places, rounding=ROUND_HALF_EVEN)
        return str(rounded.copy_abs() if rounded == 0 else rounded)

    return [
        ScheduleRow(
            period=p.period,
            months=p.period * months,
            principal=shown(p.principal),
            interest=shown(p.interest),
            debt_service=shown(p.debt_service),
            outstanding=shown(p.outstanding),
        )
        for p in rules.schedule(loan)
    ]


def run(data: CalculatorIn) -> CalculatorOut:
    """Compute the request's figures; refuses (422, field and rule) what the calculator refuses."""
    digits = exponent(data.currency)
    money_in(data.loan_amount, data.currency, "loan_amount")  # no more decimals than the currency has
    terms = terms_of(data)
    discount = Decimal(data.discount_rate)
    threshold = None if data.threshold is None else Decimal(data.threshold)
    result = rules.calculate(terms, discount_rate=discount, threshold=threshold, minor_digits=digits)
    places = Decimal(1).scaleb(-digits)
    d = rules.per_period_discount_rate(discount, terms.repayments_per_year)
    return CalculatorOut(
        loan_amount=MoneyOut(amount=str(terms.amount.quantize(places)), currency=data.currency),
        market_rate=_text(terms.market_rate),
        concessional_rate=_text(terms.concessional_rate),
        discount_rate=_text(discount),
        per_period_discount_rate=str(d.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)),
        threshold=None if threshold is None else _text(threshold),
        grant_element_before=str(result.grant_element_before),
        grant_element_after=str(result.grant_element_after),
        concessionality=MoneyOut(amount=str(result.concessionality), currency=data.currency),
        leverage=None if result.leverage is None else str(result.leverage),
        meets_threshold=None if threshold is None else result.meets_threshold,
        market_schedule=_rows(terms.loan(terms.market_rate), places),
        concessional_schedule=_rows(terms.loan(terms.concessional_rate), places),
    )
