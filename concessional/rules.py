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

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from concessional.models import RepaymentMethod
from fundapp.core.errors import Conflict, FieldError, InvalidInput, refuse_future
from fundapp.core.plans import EntryId, Event, Plan
from ledger import EntryDraft, Line, Money, chart, to_json
from ledger import rules as ledger_rules

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


# ---------------------------------------------------------------- money planners (cancellation, restructuring)
# A concessional operation's grant to its agency moves money through the grants' own commands (agreement,
# transfers, refunds). What only a loan has are the members' cancellation and restructuring, planned here as
# ``fundapp.core.plans.Plan`` values and written with ``write_plan`` (docs/concessional.md, "Money"):
#
# - cancellation: what was allocated (8300) or committed (8400) to the grant and not transferred goes back to
#   the window's available funds (Dr 8200 / Cr 8300, 8400), what was recognised and not paid is reversed
#   (Dr 2100 / Cr 5100), source type ``concessional_release``; what was transferred becomes a refund
#   receivable from the agency (Dr 1300 / Cr 5100, source type ``concessional_refund_due``); the grant closes
#   and its unpaid tranches are released;
# - restructuring: a smaller grant releases the difference the same way (taken from the last tranches not
#   yet paid); a larger one allocates the increase from the window (Dr 8300 or 8400 / Cr 8200, source type
#   ``concessional_decision``; the decision's money guard checked the window has it), added to the last
#   tranche not yet paid (or to a new tranche when every tranche is paid).

# Tranche states as the grants store them (proposals.TrancheStatus), and the grant's awaiting state.
PENDING, RECOGNISED, PAID, RELEASED = "pending", "recognised", "paid", "released"
UNPAID_STATES = frozenset({PENDING, RECOGNISED})
AWAITING_AGREEMENT, CLOSED = "awaiting_agreement", "closed"


@dataclass(frozen=True, slots=True)
class TrancheBook:
    """One tranche of the operation's grant as the planners see it (minor units)."""

    id: int
    number: int
    amount: int
    paid: int
    status: str

    @property
    def unpaid(self) -> int:
        return self.amount - self.paid if self.status in UNPAID_STATES else 0


@dataclass(frozen=True, slots=True)
class OperationBook:
    """A concessional operation's grant and its balances under the grant's dimension (minor units, the
    reporting currency; each balance positive on its normal side)."""

    request_id: int
    grant_id: int
    window_id: int
    currency: str
    grant_status: str
    grant_amount: int
    allocated: int  # 8300: adopted, agreement not yet recorded
    committed: int  # 8400: committed by the agreement, not yet transferred
    payable: int  # 2100 (credit): recognised, not yet paid
    disbursed: int  # 8500: transferred to the agency (net of refunds recorded)
    tranches: tuple[TrancheBook, ...]
    pending_disbursements: int

    @property
    def paid(self) -> int:
        return sum(t.paid for t in self.tranches)

    @property
    def signed(self) -> bool:
        return self.grant_status != AWAITING_AGREEMENT


def _line(account: str, minor: int, book: OperationBook) -> Line:
    return Line(account, Money.from_minor(minor, book.currency), window_id=book.window_id, grant_id=book.grant_id)


def _available(minor: int, book: OperationBook) -> Line:
    # Postings to 8200 carry only the window dimension (docs/chart-of-accounts.md).
    return Line(chart.AVAILABLE, Money.from_minor(minor, book.currency), window_id=book.window_id)


def refuse_open(book: OperationBook) -> None:
    if book.grant_status == CLOSED:
        raise Conflict(
            f"grant {book.grant_id} of request {book.request_id} is closed",
            field="request_id",
            rule="operation-open",
        )
    if book.pending_disbursements:
        raise Conflict(
            f"{book.pending_disbursements} transfer(s) to the agency await approval; approve or reject them first",
            field="request_id",
            rule="no-pending-disbursements",
        )


def release_lines(book: OperationBook, *, allocated: int, committed: int, payable: int) -> list[Line]:
    """Lines that give ``allocated`` (8300) and ``committed`` (8400) back to the window and reverse
    ``payable`` (2100 / 5100); empty when all three are 0."""
    lines: list[Line] = []
    if allocated + committed:
        lines.append(_available(allocated + committed, book))
    if allocated:
        lines.append(_line(chart.ALLOCATED, -allocated, book))
    if committed:
        lines.append(_line(chart.COMMITTED, -committed, book))
    if payable:
        lines += [_line(chart.GRANTS_PAYABLE, payable, book), _line(chart.TRANSFERS_TO_PARTNERS, -payable, book)]
    return lines


def plan_cancellation(book: OperationBook, *, decision_id: int, today: date, now: datetime) -> Plan:
    """The adopted cancellation of a concessional operation (module docstring)."""
    refuse_open(book)
    entries: list[EntryDraft] = []
    release = release_lines(book, allocated=book.allocated, committed=book.committed, payable=book.payable)
    if release:
        entries.append(
            EntryDraft(
                entry_date=today,
                description=f"Concessional operation {book.request_id} cancelled (decision {decision_id}): "
                "what was not transferred goes back to the window",
                lines=tuple(release),
                source_type="concessional_release",
                source_id=str(decision_id),
                idempotency_key=f"concessional:{book.request_id}:cancel:{decision_id}",
            )
        )
    if book.disbursed:
        entries.append(
            EntryDraft(
                entry_date=today,
                description=f"Concessional operation {book.request_id} cancelled after a transfer: refund due "
                "from the agency",
                lines=(
                    _line(chart.REFUNDS_RECEIVABLE, book.disbursed, book),
                    _line(chart.TRANSFERS_TO_PARTNERS, -book.disbursed, book),
                ),
                source_type="concessional_refund_due",
                source_id=str(decision_id),
                idempotency_key=f"concessional:{book.request_id}:refund-due:{decision_id}",
            )
        )
    entry_id = EntryId(0) if entries else None
    released = [t for t in book.tranches if t.status in UNPAID_STATES]
    grant = {
        "id": book.grant_id,
        "status": CLOSED,
        "closed_on": today,
        "close_entry_id": entry_id,
        "status_reason": f"cancelled by decision {decision_id}",
        "updated_at": now,
    }
    request = {"id": book.request_id, "status": "cancelled", "cancelled_on": today, "updated_at": now}
    event = Event(
        "concessional.cancel",
        "financing_request",
        book.request_id,
        after={
            "decision_id": decision_id,
            "released": to_json(Money.from_minor(book.allocated + book.committed, book.currency)),
            "payable_reversed": to_json(Money.from_minor(book.payable, book.currency)),
            "refund_due": to_json(Money.from_minor(book.disbursed, book.currency)),
            "released_tranches": [t.number for t in released],
            "entry_id": entry_id,
        },
    )
    updates = {
        "grants": [grant],
        "financing_requests": [request],
        **({"grant_tranches": [{"id": t.id, "status": RELEASED} for t in released]} if released else {}),
    }
    return Plan(entries=tuple(entries), updates=updates, events=(event,))


@dataclass(frozen=True, slots=True)
class TrancheChange:
    """How a restructuring changes one tranche: its new amount and status, and what of the change had been
    recognised (2100 / 5100 to reverse or to post)."""

    tranche: TrancheBook
    amount: int
    status: str
    recognised: int


def cut_tranches(tranches: Sequence[TrancheBook], reduction: int) -> list[TrancheChange]:
    """Take ``reduction`` from the unpaid parts of the tranches, the last first. A tranche cut to what was
    paid is paid; one of which nothing was paid is released (its planned amount stays on the row, CHECK
    amount > 0; it is not part of the grant any more)."""
    changes: list[TrancheChange] = []
    left = reduction
    for tranche in sorted(tranches, key=lambda t: t.number, reverse=True):
        if left <= 0:
            break
        cut = min(tranche.unpaid, left)
        if cut <= 0:
            continue
        left -= cut
        recognised = cut if tranche.status == RECOGNISED else 0
        if cut < tranche.unpaid:
            changes.append(TrancheChange(tranche, tranche.amount - cut, tranche.status, recognised))
        elif tranche.paid:
            changes.append(TrancheChange(tranche, tranche.paid, PAID, recognised))
        else:
            changes.append(TrancheChange(tranche, tranche.amount, RELEASED, recognised))
    if left:
        raise Conflict(
            f"the grant has {sum(t.unpaid for t in tranches)} minor units not yet transferred; "
            f"{reduction} cannot be released",
            field="loan_amount",
            rule="restructure-above-transferred",
        )
    return changes


def _restructure_lines(book: OperationBook, delta: int, recognised: int) -> list[Line]:
    """The budgetary (and recognised financial) lines of a restructuring's change ``delta`` to the grant."""
    held = chart.COMMITTED if book.signed else chart.ALLOCATED
    if delta < 0:
        release = -delta
        return release_lines(
            book,
            allocated=0 if book.signed else release,
            committed=release if book.signed else 0,
            payable=recognised,
        )
    lines = [_line(held, delta, book), _available(-delta, book)]
    if recognised:
        lines += [_line(chart.TRANSFERS_TO_PARTNERS, recognised, book), _line(chart.GRANTS_PAYABLE, -recognised, book)]
    return lines


def _grow_tranches(
    book: OperationBook, increase: int, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Where an increase goes: the last tranche not yet paid, or a new tranche (recognised at once when the
    agreement is signed). Returns (updates, inserts, the part recognised)."""
    open_tranches = sorted((t for t in book.tranches if t.status in UNPAID_STATES), key=lambda t: t.number)
    if open_tranches:
        last = open_tranches[-1]
        recognised = increase if last.status == RECOGNISED else 0
        return [{"id": last.id, "amount": last.amount + increase}], [], recognised
    number = max((t.number for t in book.tranches), default=0) + 1
    row = {
        "grant_id": book.grant_id,
        "number": number,
        "amount": increase,
        "planned_date": today,
        "condition": "none",
        "status": RECOGNISED if book.signed else PENDING,
        "paid": 0,
        "recognised_on": today if book.signed else None,
    }
    return [], [row], increase if book.signed else 0


def plan_restructuring(
    book: OperationBook,
    new_amount: int,
    *,
    decision_id: int,
    request_values: Mapping[str, Any],
    today: date,
    now: datetime,
) -> Plan:
    """The adopted restructuring of a concessional operation to a grant of ``new_amount`` (module docstring);
    ``request_values`` are the request's new loan amount, terms and calculation."""
    refuse_open(book)
    if new_amount < book.paid or new_amount <= 0:
        raise Conflict(
            f"{Money.from_minor(book.paid, book.currency)} was already transferred; the grant cannot become "
            f"{Money.from_minor(new_amount, book.currency)}",
            field="loan_amount",
            rule="restructure-above-transferred",
        )
    delta = new_amount - book.grant_amount
    tranche_updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    if delta < 0:
        changes = cut_tranches(book.tranches, -delta)
        recognised = sum(c.recognised for c in changes)
        tranche_updates = [{"id": c.tranche.id, "amount": c.amount, "status": c.status} for c in changes]
    else:
        tranche_updates, inserts, recognised = _grow_tranches(book, delta, today)
    lines = _restructure_lines(book, delta, recognised) if delta else []
    entries = (
        (
            EntryDraft(
                entry_date=today,
                description=f"Concessional operation {book.request_id} restructured (decision {decision_id})",
                lines=tuple(lines),
                source_type="concessional_release" if delta < 0 else "concessional_decision",
                source_id=str(decision_id),
                idempotency_key=f"concessional:{book.request_id}:restructure:{decision_id}",
            ),
        )
        if lines
        else ()
    )
    event = Event(
        "concessional.restructure",
        "financing_request",
        book.request_id,
        before={"grant_amount": to_json(Money.from_minor(book.grant_amount, book.currency))},
        after={
            "decision_id": decision_id,
            "grant_amount": to_json(Money.from_minor(new_amount, book.currency)),
            "entry_id": EntryId(0) if entries else None,
        },
    )
    updates: dict[str, list[dict[str, Any]]] = {
        "grants": [{"id": book.grant_id, "amount": new_amount, "updated_at": now}],
        "financing_requests": [{"id": book.request_id, **request_values, "updated_at": now}],
    }
    if tranche_updates:
        updates["grant_tranches"] = tranche_updates
    rows = {"grant_tranches": inserts} if inserts else {}
    return Plan(entries=entries, rows=rows, updates=updates, events=(event,))


# ---------------------------------------------------------------- the refund due, received
# A cancellation after a transfer left a refund receivable from the agency (Dr 1300 / Cr 5100,
# ``concessional_refund_due``). Receiving it is cash in and the receivable down (Dr 1100 / Cr 1300), and the
# budget back to the window's available funds (Dr 8200 / Cr 8500), source type ``concessional_refund_received``;
# the grants' own refund (which credits 5100 again) is refused for a cancelled operation's grant.

CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class RefundFacts:
    """A financing request's refund due, as ``plan_refund_received`` sees it (minor units, reporting currency).
    ``replay_hash``: the payload hash of the entry first posted with this receipt's idempotency key, if any."""

    request_id: int
    status: str
    grant_id: int | None
    window_id: int
    currency: str
    cancelled_on: date | None
    due: int  # 1300 under the grant's dimension: due from the agency and not yet received
    replay_hash: str | None = None


def refund_received_entry(
    facts: RefundFacts, amount: Money, *, received_on: date, reference: str, key: str | None
) -> EntryDraft:
    """The entry of a refund received (the same facts and input give the same entry: a replay compares it)."""

    def line(account: str, minor: int) -> Line:
        return Line(
            account, Money.from_minor(minor, facts.currency), window_id=facts.window_id, grant_id=facts.grant_id
        )

    return EntryDraft(
        entry_date=received_on,
        description=f"Concessional operation {facts.request_id}: refund received from the agency"
        + (f" ({reference})" if reference else ""),
        lines=(
            line(chart.CASH, amount.minor),
            line(chart.REFUNDS_RECEIVABLE, -amount.minor),
            Line(chart.AVAILABLE, Money.from_minor(amount.minor, facts.currency), window_id=facts.window_id),
            line(chart.DISBURSED, -amount.minor),
        ),
        source_type="concessional_refund_received",
        source_id=str(facts.request_id),
        idempotency_key=key,
    )


def refuse_refund(facts: RefundFacts, amount: Money, *, received_on: date, today: date) -> None:
    """The refusals of a refund received (each names its field and rule)."""
    if facts.status != CANCELLED or facts.grant_id is None:
        raise Conflict(
            f"request {facts.request_id} is {facts.status}; a refund is due from the agency only after a "
            "cancellation that followed a transfer",
            field="status",
            rule="refund-due",
            loan_status=facts.status,
        )
    if facts.due <= 0:
        raise Conflict(
            f"nothing is due from the agency for request {facts.request_id}", field="amount", rule="refund-due"
        )
    if amount.currency != facts.currency:
        raise InvalidInput(
            f"the refund due is in {facts.currency}, not {amount.currency}", field="currency", rule="refund-currency"
        )
    if not amount.is_positive:
        raise InvalidInput("a refund is a positive amount", field="amount", rule="positive-amount")
    if amount.minor > facts.due:
        raise InvalidInput(
            f"{Money.from_minor(facts.due, facts.currency)} is still due from the agency; {amount} is more",
            field="amount",
            rule="within-refund-due",
        )
    refuse_future(received_on, today, field="received_on", what="the refund")
    if facts.cancelled_on is not None and received_on < facts.cancelled_on:
        raise InvalidInput(
            f"the refund follows the cancellation of {facts.cancelled_on}",
            field="received_on",
            rule="after-cancellation",
        )


def plan_refund_received(
    facts: RefundFacts, amount: Money, *, received_on: date, reference: str, key: str | None, today: date
) -> Plan:
    """Money the agency paid back of its refund due (the section's comment). A repeated idempotency key with
    the same body plans the same entry (the ledger answers the first), with another body it is refused."""
    if facts.replay_hash is not None:
        draft = refund_received_entry(facts, amount, received_on=received_on, reference=reference, key=key)
        if ledger_rules.draft_payload_hash(draft) != facts.replay_hash:
            raise Conflict(
                "the idempotency key was used for another refund received",
                field="Idempotency-Key",
                rule="idempotency-same-payload",
            )
        return Plan(entries=(draft,))
    refuse_refund(facts, amount, received_on=received_on, today=today)
    draft = refund_received_entry(facts, amount, received_on=received_on, reference=reference, key=key)
    event = Event(
        "concessional.refund_received",
        "financing_request",
        facts.request_id,
        after={
            "grant_id": facts.grant_id,
            "amount": to_json(amount),
            "received_on": received_on,
            "reference": reference,
            "refund_due": to_json(Money.from_minor(facts.due - amount.minor, facts.currency)),
            "entry_id": EntryId(0),
        },
    )
    return Plan(entries=(draft,), events=(event,))
