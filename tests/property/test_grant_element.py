"""Properties of the grant element and the concessionality (``concessional.rules``; issue 21, acceptance 1).

Loans are generated with every frequency, both methods, maturities up to 30 years and a first repayment at
the end of any period up to maturity. The convention (docs/concessional.md): the per-period discount rate is
D = (1 + I)^(1/A) - 1, so a loan whose per-period interest is D has a grant element of exactly 0.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from concessional.models import RepaymentMethod
from concessional.rules import (
    Loan,
    Terms,
    calculate,
    concessionality,
    grant_element,
    per_period_discount_rate,
    present_value,
    present_value_closed_form,
    schedule,
)

FAST = settings(max_examples=60, deadline=None)
TINY = Decimal("1e-30")

rates = st.integers(min_value=0, max_value=2000).map(lambda bp: Decimal(bp) / 10000)  # 0% to 20%
discounts = st.integers(min_value=1, max_value=2000).map(lambda bp: Decimal(bp) / 10000)
amounts = st.integers(min_value=1, max_value=10**12).map(lambda minor: Decimal(minor) / 100)
methods = st.sampled_from(list(RepaymentMethod))


@st.composite
def loans(draw: st.DrawFn, method: RepaymentMethod | None = None, rate: Decimal | None = None) -> Loan:
    frequency = draw(st.sampled_from([1, 2, 4, 12]))
    months = 12 // frequency
    periods = draw(st.integers(min_value=1, max_value=30 * frequency))
    first = draw(st.integers(min_value=1, max_value=periods))
    return Loan(
        amount=draw(amounts),
        maturity_months=periods * months,
        grace_months=first * months,
        repayments_per_year=frequency,
        method=method or draw(methods),
        rate=draw(rates) if rate is None else rate,
    )


def _with(loan: Loan, **changes: Any) -> Loan:
    return replace(loan, **changes)


@FAST
@given(loans(), rates, rates, discounts)
def test_falls_as_the_interest_rate_rises(loan: Loan, a: Decimal, b: Decimal, discount: Decimal) -> None:
    low, high = sorted((a, b))
    ge_low = grant_element(_with(loan, rate=low), discount)
    ge_high = grant_element(_with(loan, rate=high), discount)
    assert ge_low - ge_high >= -TINY
    if high > low:
        assert ge_low - ge_high > 0


@FAST
@given(loans(), discounts, discounts)
def test_rises_with_the_discount_rate(loan: Loan, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert grant_element(loan, high) - grant_element(loan, low) >= -TINY


@FAST
@given(loans(), discounts, st.data())
def test_rises_with_the_grace_period(loan: Loan, discount: Decimal, data: st.DataObject) -> None:
    months = 12 // loan.repayments_per_year
    longer = data.draw(st.integers(min_value=loan.grace_months // months, max_value=loan.maturity_months // months))
    later = _with(loan, grace_months=longer * months)
    # At a rate below the discount rate's per-period equivalent a longer grace is worth more to the borrower.
    d = per_period_discount_rate(discount, loan.repayments_per_year)
    if loan.rate / loan.repayments_per_year <= d:
        assert grant_element(later, discount) - grant_element(loan, discount) >= -TINY


@FAST
@given(loans(), discounts)
def test_a_loan_at_the_discount_rate_has_no_grant_element(loan: Loan, discount: Decimal) -> None:
    with localcontext() as ctx:
        ctx.prec = 80
        at_discount = _with(
            loan, rate=per_period_discount_rate(discount, loan.repayments_per_year) * loan.repayments_per_year
        )
    assert abs(grant_element(at_discount, discount)) < TINY
    terms = Terms(
        loan.amount,
        loan.maturity_months,
        loan.grace_months,
        loan.repayments_per_year,
        loan.method,
        at_discount.rate,
        at_discount.rate,
    )
    assert calculate(terms, discount_rate=discount, threshold=None).grant_element_before == 0
    if loan.repayments_per_year == 1:  # annual: D is the discount rate itself
        assert abs(grant_element(_with(loan, rate=discount), discount)) < TINY


@FAST
@given(loans(), st.sampled_from([Decimal(0)]) | discounts)
def test_closed_form_and_cash_flows_agree(loan: Loan, discount: Decimal) -> None:
    difference = present_value(loan, discount) - present_value_closed_form(loan, discount)
    assert abs(difference) <= Decimal("1e-9") * loan.amount


@FAST
@given(loans(), rates, rates, discounts)
def test_concessionality_is_the_grant_element_difference(loan: Loan, a: Decimal, b: Decimal, discount: Decimal) -> None:
    concessional_rate, market_rate = sorted((a, b))
    terms = Terms(
        loan.amount,
        loan.maturity_months,
        loan.grace_months,
        loan.repayments_per_year,
        loan.method,
        market_rate,
        concessional_rate,
    )
    exact = concessionality(terms, discount)
    before = grant_element(_with(loan, rate=market_rate), discount)
    after = grant_element(_with(loan, rate=concessional_rate), discount)
    assert abs(exact - (after - before) * loan.amount) <= Decimal("1e-20") * loan.amount
    assert exact >= 0
    result = calculate(terms, discount_rate=discount, threshold=None)
    # Rounded once: each figure within half a unit of its last place of the exact one.
    assert abs(result.concessionality - exact) <= Decimal("0.005")
    shown = (result.grant_element_after - result.grant_element_before) / 100 * loan.amount
    assert abs(result.concessionality - shown) <= Decimal("0.0001") / 100 * loan.amount + Decimal("0.005")


@FAST
@given(loans(method=RepaymentMethod.ANNUITY))
def test_annuities_repay_the_face_exactly(loan: Loan) -> None:
    payments = schedule(loan)
    with localcontext() as ctx:
        ctx.prec = 80
        assert sum(p.principal for p in payments) == loan.amount
    assert payments[-1].outstanding == 0
    repayments = [p for p in payments if p.period * 12 // loan.repayments_per_year >= loan.grace_months]
    with localcontext() as ctx:
        ctx.prec = 80
        instalments = {(p.principal + p.interest).quantize(Decimal("1e-30")) for p in repayments}
    assert len(instalments) == 1  # equal instalments of principal and interest


@FAST
@given(loans(method=RepaymentMethod.EQUAL_PRINCIPAL))
def test_equal_principal_repays_the_face_in_equal_parts(loan: Loan) -> None:
    payments = schedule(loan)
    assert payments[-1].outstanding == 0
    with localcontext() as ctx:
        ctx.prec = 80
        assert sum(p.principal for p in payments) == loan.amount
