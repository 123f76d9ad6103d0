"""The concessional financing calculator (``concessional.rules``) against the OECD's worked example and its
refusals (issue 21, acceptance 1 and 5)."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from concessional.models import RepaymentMethod
from concessional.rules import (
    Loan,
    Terms,
    calculate,
    grant_element,
    per_period_discount_rate,
    present_value,
    present_value_closed_form,
    schedule,
)
from fundapp.core.errors import InvalidInput

# The OECD's example: 1,000 at 2.5%, 10 years, first repayment after 2.5 years, 16 semi-annual repayments.
OECD = Loan(Decimal(1000), 120, 30, 2, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.025"))
OECD_RESULTS = [("0.10", "32.3909"), ("0.09", "28.9924"), ("0.07", "21.4469"), ("0.06", "17.2547"), ("0.05", "12.7487")]


@pytest.mark.parametrize(("discount", "expected"), OECD_RESULTS)
def test_oecd_worked_example(discount: str, expected: str) -> None:
    ge = grant_element(OECD, Decimal(discount))
    assert (ge * 100).quantize(Decimal("0.0001")) == Decimal(expected)


@pytest.mark.parametrize(("discount", "expected"), OECD_RESULTS)
def test_oecd_example_through_calculate(discount: str, expected: str) -> None:
    terms = Terms(Decimal(1000), 120, 30, 2, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.025"), Decimal("0.025"))
    result = calculate(terms, discount_rate=Decimal(discount), threshold=None)
    assert str(result.grant_element_before) == expected
    assert str(result.grant_element_after) == expected
    assert result.concessionality == 0 and str(result.concessionality) == "0.00"
    assert result.leverage is None
    assert result.meets_threshold


def test_oecd_schedule_shape() -> None:
    payments = schedule(OECD)
    assert len(payments) == 20  # 10 years of half-years
    repayments = [p for p in payments if p.principal]
    assert len(repayments) == 16 and repayments[0].period == 5  # the first after 2.5 years
    assert all(p.principal == Decimal("62.5") for p in repayments)
    assert payments[0].interest == Decimal("12.5")  # 1.25% a half-year on 1,000, paid during the grace too
    assert payments[-1].outstanding == 0
    assert sum(p.principal for p in payments) == 1000


def test_closed_form_matches_example() -> None:
    for discount, _ in OECD_RESULTS:
        diff = present_value(OECD, Decimal(discount)) - present_value_closed_form(OECD, Decimal(discount))
        assert abs(diff) < Decimal("1e-40")


def test_per_period_discount_rate_convention() -> None:
    assert per_period_discount_rate(Decimal("0.10"), 1) == Decimal("0.10")
    d = per_period_discount_rate(Decimal("0.10"), 2)
    with localcontext() as ctx:
        ctx.prec = 60
        assert abs((1 + d) ** 2 - Decimal("1.10")) < Decimal("1e-50")


def test_buy_down_figures() -> None:
    # A USD 300m loan at 6% bought down to 1.5%, 25 years with 5 of grace, semi-annual, at a 5% discount rate.
    terms = Terms(Decimal(300_000_000), 300, 60, 2, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.06"), Decimal("0.015"))
    result = calculate(terms, discount_rate=Decimal("0.05"), threshold=Decimal("0.35"))
    assert result.grant_element_after > result.grant_element_before
    difference = (result.grant_element_after - result.grant_element_before) / 100 * terms.amount
    assert abs(result.concessionality - difference) <= Decimal("0.0001") * terms.amount / 100
    assert result.leverage is not None
    assert abs(result.leverage - terms.amount / result.concessionality) < Decimal("0.01")
    assert result.meets_threshold == (result.grant_element_after >= 35)
    assert result.concessionality == result.concessionality.quantize(Decimal("0.01"))


def test_minor_digits() -> None:
    terms = Terms(Decimal(1_000_000), 120, 30, 2, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.05"), Decimal("0.01"))
    yen = calculate(terms, discount_rate=Decimal("0.05"), threshold=None, minor_digits=0)
    assert yen.concessionality == yen.concessionality.to_integral_value()
    assert yen.concessionality.as_tuple().exponent == 0


def test_threshold() -> None:
    terms = Terms(Decimal(1000), 120, 30, 2, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.05"), Decimal("0.025"))
    assert calculate(terms, discount_rate=Decimal("0.10"), threshold=Decimal("0.3239")).meets_threshold
    assert not calculate(terms, discount_rate=Decimal("0.10"), threshold=Decimal("0.324")).meets_threshold


def _rules(exc: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[str, str]]:
    return {(e.field, e.rule) for e in exc.value.errors}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"maturity_months": 0}, ("maturity_months", "positive")),
        ({"maturity_months": 601}, ("maturity_months", "at-most-50-years")),
        ({"grace_months": 126}, ("grace_months", "grace-within-maturity")),
        ({"grace_months": 0}, ("grace_months", "grace-within-maturity")),
        ({"grace_months": 31}, ("grace_months", "schedule-adds-up")),
        ({"maturity_months": 121}, ("maturity_months", "schedule-adds-up")),
        ({"repayments_per_year": 3}, ("repayments_per_year", "known-frequency")),
        ({"amount": Decimal(0)}, ("loan_amount", "positive")),
        ({"market_rate": Decimal(1)}, ("market_rate", "rate-range")),
        ({"concessional_rate": Decimal("-0.01")}, ("concessional_rate", "rate-range")),
        ({"concessional_rate": Decimal("0.06")}, ("concessional_rate", "not-above-market")),
    ],
)
def test_refusals(changes: dict[str, object], expected: tuple[str, str]) -> None:
    values: dict[str, object] = {
        "amount": Decimal(1000),
        "maturity_months": 120,
        "grace_months": 30,
        "repayments_per_year": 2,
        "method": RepaymentMethod.EQUAL_PRINCIPAL,
        "market_rate": Decimal("0.05"),
        "concessional_rate": Decimal("0.01"),
    } | changes
    with pytest.raises(InvalidInput) as refused:
        calculate(Terms(**values), discount_rate=Decimal("0.05"), threshold=None)  # type: ignore[arg-type]
    assert expected in _rules(refused)
    assert refused.value.status == 422


def test_discount_and_threshold_refusals() -> None:
    terms = Terms(Decimal(1000), 120, 30, 2, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.05"), Decimal("0.01"))
    with pytest.raises(InvalidInput) as refused:
        calculate(terms, discount_rate=Decimal("1.5"), threshold=Decimal("2"))
    assert _rules(refused) == {("discount_rate", "rate-range"), ("threshold", "threshold-range")}
    with pytest.raises(InvalidInput) as refused:
        schedule(Loan(Decimal(1000), 120, 31, 4, RepaymentMethod.ANNUITY, Decimal("0.05")))
    assert _rules(refused) == {("grace_months", "schedule-adds-up")}


def test_bullet_loan_and_monthly() -> None:
    bullet = Loan(Decimal(1000), 60, 60, 1, RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.05"))
    payments = schedule(bullet)
    assert [p.principal for p in payments] == [0, 0, 0, 0, 1000]
    assert abs(grant_element(bullet, Decimal("0.05"))) < Decimal("1e-40")
    monthly = Loan(Decimal(1000), 12, 1, 12, RepaymentMethod.ANNUITY, Decimal("0.12"))
    payments = schedule(monthly)
    assert len(payments) == 12 and payments[-1].outstanding == 0
    assert len({(p.principal + p.interest).quantize(Decimal("1e-20")) for p in payments}) == 1
