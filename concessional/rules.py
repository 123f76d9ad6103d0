"""The concessional financing calculator (DESIGN §12; docs/concessional.md): pure functions, no I/O, no clock.

A loan is disbursed whole at time 0. Its schedule has one period every ``12 / repayments_per_year`` months up
to maturity. Interest at ``rate / repayments_per_year`` on the balance outstanding during the period is paid at
the end of every period, the grace period included. The principal is repaid from the first repayment (at
``grace_months``, a whole number of periods, at least one) to maturity: in equal instalments
(``equal_principal``, the OECD DAC method's) or as an annuity (equal instalments of principal and interest).

The grant element follows the OECD DAC method: with the annual discount rate I and A repayments a year the
per-period discount rate is D = (1 + I)^(1/A) - 1, and the grant element is 1 - PV(debt service at D)/face.
Under this convention a loan whose per-period interest equals D (a nominal rate of A·D) has a grant element of
exactly 0; with A = 1 that is a loan at the discount rate itself. (With A > 1 a loan at the nominal rate I
charges I/A a period, more than D, and its grant element is slightly negative.)

Every figure is computed with :class:`decimal.Decimal` in a local context of ``PRECISION`` significant digits
(principal instalments carried to 40 decimal places, so that a schedule repays its face exactly) and nothing
is rounded until :func:`calculate` rounds its results once, at the end, half to even: the grant
elements as percentages to 4 decimals, the concessionality to the currency's minor unit, the leverage to
2 decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from concessional.models import RepaymentMethod
from fundapp.core.errors import FieldError, InvalidInput

PRECISION = 80
# Principal instalments are carried to 40 decimal places (far below any figure shown), so that they, and the
# balances, are exact and the instalments of a schedule add up to the face value exactly.
PRINCIPAL_PLACES = Decimal("1e-40")
FREQUENCIES = (1, 2, 4, 12)
MAX_MATURITY_MONTHS = 600  # 50 years: no development loan runs longer
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
PERCENT_PLACES = Decimal("0.0001")
LEVERAGE_PLACES = Decimal("0.01")


@contextmanager
def _exact() -> Iterator[None]:
    with localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        yield


# ---------------------------------------------------------------- loans and their schedules


@dataclass(frozen=True)
class Loan:
    """A loan's face value (in its currency's units, not minor units), schedule and fixed annual nominal
    ``rate`` as a fraction (0.025 for 2.5%). ``grace_months`` is the time to the first repayment."""

    amount: Decimal
    maturity_months: int
    grace_months: int
    repayments_per_year: int
    method: RepaymentMethod
    rate: Decimal


@dataclass(frozen=True)
class Payment:
    """What is paid at the end of ``period`` (1, 2, ...; ``period_months(loan)`` months each) and the
    balance outstanding after it. Unrounded."""

    period: int
    principal: Decimal
    interest: Decimal
    outstanding: Decimal

    @property
    def debt_service(self) -> Decimal:
        return self.principal + self.interest


def period_months(loan: Loan) -> int:
    """The length of one period in months."""
    return 12 // loan.repayments_per_year


def _rate_errors(value: Decimal, field: str) -> list[FieldError]:
    if not value.is_finite() or value < 0 or value >= 1:
        return [FieldError(field, "rate-range", f"{field} must be a fraction from 0 up to (not including) 1")]
    return []


def _schedule_errors(loan: Loan) -> list[FieldError]:
    """Why ``loan``'s schedule cannot be built (empty when it can), each naming its field and rule."""
    errors: list[FieldError] = []
    if not loan.amount.is_finite() or loan.amount <= 0:
        errors.append(FieldError("loan_amount", "positive", "the loan amount must be positive"))
    if loan.maturity_months <= 0:
        errors.append(FieldError("maturity_months", "positive", "the maturity must be a positive number of months"))
    elif loan.maturity_months > MAX_MATURITY_MONTHS:
        errors.append(
            FieldError("maturity_months", "at-most-50-years", f"the maturity is at most {MAX_MATURITY_MONTHS} months")
        )
    if loan.repayments_per_year not in FREQUENCIES:
        errors.append(
            FieldError("repayments_per_year", "known-frequency", "repayments are made 1, 2, 4 or 12 times a year")
        )
    if loan.method not in tuple(RepaymentMethod):
        errors.append(FieldError("method", "known-method", "the method is equal_principal or annuity"))
    if errors:
        return errors
    months = period_months(loan)
    if not months <= loan.grace_months <= loan.maturity_months:
        errors.append(
            FieldError(
                "grace_months",
                "grace-within-maturity",
                f"the first repayment falls between the end of the first period ({months} months) and maturity",
            )
        )
    elif loan.grace_months % months:
        errors.append(
            FieldError(
                "grace_months",
                "schedule-adds-up",
                f"the first repayment must fall at the end of a period ({months} months each)",
            )
        )
    elif (loan.maturity_months - loan.grace_months) % months:
        errors.append(
            FieldError(
                "maturity_months",
                "schedule-adds-up",
                f"the repayments from the first to maturity must be a whole number of periods ({months} months each)",
            )
        )
    return errors


def check_loan(loan: Loan, *, rate_field: str = "rate") -> None:
    """Refuse a loan whose schedule does not add up (422, every broken rule named)."""
    errors = _schedule_errors(loan) + _rate_errors(loan.rate, rate_field)
    if errors:
        raise InvalidInput(errors[0].message, errors=errors)


def _shape(loan: Loan) -> tuple[int, int, Decimal]:
    """(first repayment period g, last period T, per-period rate r); the loan already checked."""
    months = period_months(loan)
    return loan.grace_months // months, loan.maturity_months // months, loan.rate / loan.repayments_per_year


def _annuity_instalment(amount: Decimal, r: Decimal, n: int) -> Decimal:
    if r == 0:
        return amount / n
    return amount * r / (ONE - (ONE + r) ** -n)


def _schedule(loan: Loan) -> tuple[Payment, ...]:
    first, last, r = _shape(loan)
    count = last - first + 1
    instalment = _annuity_instalment(loan.amount, r, count)
    outstanding = loan.amount
    payments = []
    for period in range(1, last + 1):
        interest = outstanding * r
        if period < first:
            principal = ZERO
        elif period == last:
            principal = outstanding  # the last instalment repays exactly what is left
        elif loan.method == RepaymentMethod.ANNUITY:
            principal = (instalment - interest).quantize(PRINCIPAL_PLACES)
        else:
            principal = (loan.amount / count).quantize(PRINCIPAL_PLACES)
        outstanding -= principal
        payments.append(Payment(period, principal, interest, outstanding))
    return tuple(payments)


def schedule(loan: Loan) -> tuple[Payment, ...]:
    """The loan's payments, one per period from the first to maturity (unrounded); refuses a schedule that
    does not add up."""
    check_loan(loan)
    with _exact():
        return _schedule(loan)


def per_period_discount_rate(discount_rate: Decimal, repayments_per_year: int) -> Decimal:
    """The OECD DAC convention: D = (1 + I)^(1/A) - 1."""
    with _exact():
        if repayments_per_year == 1:
            return discount_rate
        return (ONE + discount_rate) ** (ONE / Decimal(repayments_per_year)) - ONE


def _discount_factor(discount_rate: Decimal, repayments_per_year: int) -> Decimal:
    return ONE / (ONE + per_period_discount_rate(discount_rate, repayments_per_year))


def _check_discount(discount_rate: Decimal) -> None:
    errors = _rate_errors(discount_rate, "discount_rate")
    if errors:
        raise InvalidInput(errors[0].message, errors=errors)


def _present_value(flows: tuple[Payment, ...], v: Decimal) -> Decimal:
    total, factor = ZERO, ONE
    for payment in flows:
        factor *= v
        total += payment.debt_service * factor
    return total


def present_value(loan: Loan, discount_rate: Decimal) -> Decimal:
    """The present value of the loan's debt service at the annual ``discount_rate`` (the OECD DAC per-period
    rate), summed payment by payment; unrounded."""
    check_loan(loan)
    _check_discount(discount_rate)
    with _exact():
        return _present_value(_schedule(loan), _discount_factor(discount_rate, loan.repayments_per_year))


def present_value_closed_form(loan: Loan, discount_rate: Decimal) -> Decimal:
    """The same present value by formula (unrounded). Equal principal: the OECD DAC formula,
    PV/face = r/d + (1 - r/d)·(v^(g-1) - v^T)/(d·N); annuity: the grace period's interest annuity and the
    instalments' annuity, deferred. r per-period interest, d per-period discount rate, v = 1/(1+d), g the
    first repayment's period, T the last, N = T - g + 1 the number of repayments."""
    check_loan(loan)
    _check_discount(discount_rate)
    with _exact():
        first, last, r = _shape(loan)
        count = last - first + 1
        d = per_period_discount_rate(discount_rate, loan.repayments_per_year)
        v = ONE / (ONE + d)
        face = loan.amount
        if loan.method == RepaymentMethod.EQUAL_PRINCIPAL:
            if d == 0:
                return face * (ONE + r * (first + Decimal(count - 1) / 2))
            return face * (r / d + (ONE - r / d) * (v ** (first - 1) - v**last) / (d * count))

        def annuity(n: int) -> Decimal:
            return Decimal(n) if d == 0 else (ONE - v**n) / d

        instalment = _annuity_instalment(face, r, count)
        return face * r * annuity(first - 1) + instalment * v ** (first - 1) * annuity(count)


def grant_element(loan: Loan, discount_rate: Decimal) -> Decimal:
    """1 - PV(debt service)/face, a fraction, unrounded (OECD DAC method)."""
    pv = present_value(loan, discount_rate)
    with _exact():
        return ONE - pv / loan.amount


# ---------------------------------------------------------------- a buy-down: market terms to concessional terms


@dataclass(frozen=True)
class Terms:
    """A loan request: one schedule, two annual nominal rates (fractions; base + spread each)."""

    amount: Decimal
    maturity_months: int
    grace_months: int
    repayments_per_year: int
    method: RepaymentMethod
    market_rate: Decimal
    concessional_rate: Decimal

    def loan(self, rate: Decimal) -> Loan:
        return Loan(self.amount, self.maturity_months, self.grace_months, self.repayments_per_year, self.method, rate)


@dataclass(frozen=True)
class Calculation:
    """The calculator's results, rounded once: grant elements as percentages to 4 decimals, the
    concessionality in the loan's currency to its minor unit, the leverage (loan ÷ concessionality) to
    2 decimals (None when the concessionality is 0). ``meets_threshold``: the grant element after the buy-down,
    as shown, reaches the threshold (a fraction; always true without one)."""

    grant_element_before: Decimal
    grant_element_after: Decimal
    concessionality: Decimal
    leverage: Decimal | None
    discount_rate: Decimal
    threshold: Decimal | None
    meets_threshold: bool


def check_terms(terms: Terms, *, discount_rate: Decimal, threshold: Decimal | None) -> None:
    """Every broken rule of a request at once (422), each naming its field and rule."""
    errors = _schedule_errors(terms.loan(terms.market_rate))
    rates = _rate_errors(terms.market_rate, "market_rate") + _rate_errors(terms.concessional_rate, "concessional_rate")
    errors += rates
    if not rates and terms.concessional_rate > terms.market_rate:
        errors.append(
            FieldError(
                "concessional_rate", "not-above-market", "the concessional rate may not be above the market rate"
            )
        )
    errors += _rate_errors(discount_rate, "discount_rate")
    if threshold is not None and (not threshold.is_finite() or threshold < 0 or threshold > 1):
        errors.append(FieldError("threshold", "threshold-range", "the threshold is a fraction from 0 to 1"))
    if errors:
        raise InvalidInput(errors[0].message, errors=errors)


def concessionality(terms: Terms, discount_rate: Decimal) -> Decimal:
    """What brings the loan from market to concessional terms, unrounded: the present value at the discount
    rate of the difference in debt service between the two loans over the schedule. With equal principal
    repayments both repay the same principal at the same dates, so this is the present value of the
    interest difference; it always equals (GE after - GE before)·face."""
    check_terms(terms, discount_rate=discount_rate, threshold=None)
    with _exact():
        market = _schedule(terms.loan(terms.market_rate))
        concessional = _schedule(terms.loan(terms.concessional_rate))
        v = _discount_factor(discount_rate, terms.repayments_per_year)
        total, factor = ZERO, ONE
        for m, c in zip(market, concessional, strict=True):
            factor *= v
            total += (m.debt_service - c.debt_service) * factor
        return total


def _round(value: Decimal, places: Decimal) -> Decimal:
    """The one rounding: half to even, to ``places``; never a negative zero."""
    rounded = value.quantize(places, rounding=ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded == 0 else rounded


def calculate(terms: Terms, *, discount_rate: Decimal, threshold: Decimal | None, minor_digits: int = 2) -> Calculation:
    """The grant element before and after the buy-down, the concessionality and the leverage, rounded once
    at the end (half to even); refuses terms whose schedule does not add up or whose rates are out of range."""
    check_terms(terms, discount_rate=discount_rate, threshold=threshold)
    before = grant_element(terms.loan(terms.market_rate), discount_rate)
    after = grant_element(terms.loan(terms.concessional_rate), discount_rate)
    amount = concessionality(terms, discount_rate)
    with _exact():
        before_pct = _round(before * HUNDRED, PERCENT_PLACES)
        after_pct = _round(after * HUNDRED, PERCENT_PLACES)
        rounded = _round(amount, Decimal(1).scaleb(-minor_digits))
        leverage = None if rounded == 0 else _round(terms.amount / amount, LEVERAGE_PLACES)
        meets = threshold is None or after_pct >= threshold * HUNDRED
    return Calculation(
        grant_element_before=before_pct,
        grant_element_after=after_pct,
        concessionality=rounded,
        leverage=leverage,
        discount_rate=discount_rate,
        threshold=threshold,
        meets_threshold=meets,
    )
