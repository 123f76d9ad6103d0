"""Ledger API models. Amounts travel as decimal strings with their currency, never as JSON numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fundapp.core.errors import InvalidInput
from fundapp.core.schemas import Id, Input, Output
from ledger.money import Money, MoneyError, PrecisionError, exponent

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _exact_text(value: object) -> object:
    """An amount is exactly its digits: no surrounding space (inputs are otherwise trimmed), no sign but a
    leading minus, no exponent or grouping; checked before any trimming."""
    if isinstance(value, str) and value != value.strip():
        raise PydanticCustomError("amount_format", "an amount has no surrounding spaces: {amount!r}", {"amount": value})
    return value


DecimalString = Annotated[
    str,
    BeforeValidator(_exact_text),
    StringConstraints(pattern=r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$"),
    Field(description='A decimal amount as a string, e.g. "1250.00"; never a JSON number.'),
]
AccountCode = Annotated[str, StringConstraints(min_length=1, max_length=16)]
DimensionId = Id


def _known_currency(code: str) -> str:
    try:
        exponent(code)
    except MoneyError as exc:
        raise PydanticCustomError("unknown_currency", "{code} is not an ISO 4217 currency", {"code": code}) from exc
    return code


KnownCurrency = Annotated[Currency, AfterValidator(_known_currency)]


def to_money(amount: str, currency: str) -> Money:
    """A Money from API input, refusing more decimals than the currency has with a named rule."""
    try:
        return Money.of(amount, currency)
    except PrecisionError as exc:
        raise PydanticCustomError(
            "excess_precision",
            "{currency} has {places} decimals; {amount} has more",
            {"currency": currency, "places": exponent(currency), "amount": amount},
        ) from exc
    except (MoneyError, InvalidOperation) as exc:
        raise PydanticCustomError("invalid_amount", "{amount} is not a decimal amount", {"amount": amount}) from exc


def money_in(amount: str, currency: str, field_name: str) -> Money:
    """``to_money`` for a service: too many decimals or no number is a 422 that names the field."""
    try:
        return to_money(amount, currency)
    except PydanticCustomError as exc:
        raise InvalidInput(exc.message(), field=field_name, rule=exc.type) from exc


class MoneyOut(Output):
    amount: str = Field(description="decimal string")
    currency: str

    @classmethod
    def of(cls, minor: int, currency: str) -> MoneyOut:
        return cls(amount=Money.from_minor(minor, currency).to_str(), currency=currency)


class LineIn(Input):
    account: AccountCode
    currency: KnownCurrency
    amount: DecimalString = Field(description="signed: debit positive, credit negative")
    reporting_amount: DecimalString | None = Field(
        default=None, description="in the reporting currency; computed from the day's rate when omitted"
    )
    contributor_id: DimensionId | None = None
    window_id: DimensionId | None = None
    grant_id: DimensionId | None = None

    @field_validator("amount")
    @classmethod
    def _exact(cls, amount: str, info: ValidationInfo) -> str:
        currency = info.data.get("currency")
        if currency is not None:
            to_money(amount, currency)
        return amount


Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=2000),
    Field(description="why the books are changed this way: what the approver reads before approving"),
]


class EntryIn(Input):
    entry_date: date
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    lines: Annotated[list[LineIn], Field(min_length=2, max_length=500)]
    settle_fx: bool = Field(default=False, description="close a reporting difference with a realised FX line")
    reason: Reason


class ReverseIn(Input):
    entry_date: date | None = Field(default=None, description="defaults to today; must be in an open period")
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    reason: Reason


class RequestRejectIn(Input):
    reason: Reason


class PostingOut(Output):
    line_no: int
    account: str
    amount: MoneyOut
    reporting_amount: MoneyOut
    contributor_id: int | None
    window_id: int | None
    grant_id: int | None


class EntryOut(Output):
    id: int
    entry_date: date
    period: str
    description: str
    source_type: str
    source_id: str | None
    idempotency_key: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    posted_by: int | None
    posted_by_label: str
    posted_at: datetime
    prev_hash: str
    hash: str
    postings: list[PostingOut]


class RequestLineOut(Output):
    account: str
    amount: MoneyOut
    reporting_amount: MoneyOut | None
    contributor_id: int | None
    window_id: int | None
    grant_id: int | None


class EntryRequestOut(Output):
    """A manual entry or a reversal waiting for its approval, or approved (with the entry it posted), or
    rejected. ``lines`` is what will be posted (an entry request)."""

    id: int
    kind: Literal["entry", "reversal"]
    status: Literal["pending", "approved", "rejected"]
    reason: str
    size: MoneyOut = Field(description="the debits in the reporting currency: what the threshold compares")
    approvals_needed: int
    approvals: int
    entry_date: date
    description: str | None
    lines: list[RequestLineOut]
    reverses_id: int | None
    idempotency_key: str | None
    prepared_by: int
    prepared_at: datetime
    first_approved_by: int | None
    first_approved_at: datetime | None
    approved_by: int | None
    approved_at: datetime | None
    rejected_by: int | None
    rejected_at: datetime | None
    rejection_reason: str
    entry_id: int | None
    entry: EntryOut | None = Field(default=None, description="the posted entry, in the answer of its approval")


class EntryRequestPage(Output):
    items: list[EntryRequestOut]
    total: int
    limit: int
    offset: int


class EntryPage(Output):
    items: list[EntryOut]
    total: int
    limit: int
    offset: int


class AccountOut(Output):
    code: str
    name: str
    book: str
    type: str
    normal_side: str
    currencies: str
    is_monetary: bool
    is_open: bool
    description: str


class AccountIn(Input):
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}(\.[0-9A-Z]{1,8})?$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    book: Annotated[str, StringConstraints(pattern=r"^(financial|budgetary)$")]
    type: Annotated[str, StringConstraints(pattern=r"^(asset|liability|net_assets|revenue|expense|budgetary)$")]
    normal_side: Annotated[str, StringConstraints(pattern=r"^(debit|credit)$")]
    currencies: Annotated[str, StringConstraints(pattern=r"^(\*|REPORTING|[A-Z]{3}(,[A-Z]{3})*)$")] = "*"
    is_monetary: bool = False
    description: Annotated[str, StringConstraints(max_length=2000)] = ""

    @model_validator(mode="after")
    def _book_matches_type(self) -> AccountIn:
        if (self.book == "budgetary") != (self.type == "budgetary"):
            raise PydanticCustomError("book_type", "budgetary accounts are exactly those of the budgetary book")
        return self


class TrialBalanceRowOut(Output):
    account: str
    name: str
    type: str
    normal_side: str
    balance: MoneyOut
    reporting_balance: MoneyOut


class TrialBalanceOut(Output):
    book: str
    as_of: date | None
    reporting_currency: str
    rows: list[TrialBalanceRowOut]
    totals_by_currency: dict[str, str]
    total_reporting: str
    balanced: bool
    chain_head: str


class BalanceRowOut(Output):
    key: dict[str, Any]
    amount: MoneyOut | None
    reporting_amount: MoneyOut
    postings: int


class StatementLineOut(Output):
    entry_id: int
    entry_date: date
    description: str
    line_no: int
    amount: MoneyOut
    reporting_amount: MoneyOut
    balance: MoneyOut
    reporting_balance: MoneyOut


class StatementOut(Output):
    account: str
    currency: str
    opening_balance: MoneyOut
    lines: list[StatementLineOut]
    total: int
    limit: int
    offset: int


class FxRateIn(Input):
    currency: KnownCurrency
    rate_date: date
    rate: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,12})?$")] = Field(
        description="units of the reporting currency for one unit of `currency`, as a decimal string"
    )
    source: Annotated[str, StringConstraints(max_length=100)] = ""

    @field_validator("rate")
    @classmethod
    def _positive(cls, rate: str) -> str:
        if Decimal(rate) <= 0:
            raise PydanticCustomError("positive_rate", "a rate must be above zero")
        return rate


class FxRateOut(Output):
    currency: str
    rate_date: date
    rate: str
    source: str


class RevaluationIn(Input):
    as_of: date


class RevaluationOut(Output):
    as_of: date
    entry: EntryOut | None


class PeriodOut(Output):
    id: str
    starts_on: date
    ends_on: date
    status: str
    closed_at: datetime | None
    closed_by: int | None
    closing_chain_head: str | None


class BreakOut(Output):
    entry: int
    reason: str


class VerifyOut(Output):
    ok: bool
    entries: int
    head: str
    broken_entry: int | None
    reason: str | None
    # every break, in order (the first is broken_entry and reason)
    breaks: list[BreakOut] = []
    # where the posting totals (the balances' summary) disagree with the postings
    totals: list[str] = []
