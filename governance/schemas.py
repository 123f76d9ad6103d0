"""Governance API models (first half). Amounts are decimal strings with a currency code."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    RootModel,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from fundapp.core.schemas import Id, Input, Output
from governance.models import (
    ContributorKind,
    CountryGroup,
    DecisionKind,
    MemberStatus,
    Procedure,
    Tier,
    WindowStatus,
)
from governance.rules import is_country
from ledger import DecimalString, KnownCurrency, MoneyOut, to_money


def _iso_country(code: str) -> str:
    if not is_country(code):
        raise PydanticCustomError("iso_3166_alpha3", "{code} is not an ISO 3166-1 alpha-3 country code", {"code": code})
    return code


CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_country)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
Year = Annotated[int, Field(ge=2000, le=2100)]


def _positive_amount(amount: str, info: ValidationInfo) -> str:
    """Field validator body for an ``amount`` declared after its ``currency``."""
    currency = info.data.get("currency")
    if currency is not None and not to_money(amount, currency).is_positive:
        raise PydanticCustomError("positive_amount", "the amount must be above zero")
    return amount


# ---------------------------------------------------------------- members


class MemberCreate(Input):
    code: CountryCode
    tier: Tier
    joined_on: date


class MemberUpdate(Input):
    tier: Tier | None = None
    status: MemberStatus | None = None
    effective_on: date | None = None
    reason: LongText = ""

    @model_validator(mode="after")
    def _something(self) -> MemberUpdate:
        if self.tier is None and self.status is None:
            raise PydanticCustomError("nothing_to_change", "give a new tier or status")
        return self


class VotingRights(Output):
    suspended: bool
    reason: str
    rule_on: bool
    years_before_suspension: int


class MemberPublic(Output):
    code: str
    names: dict[str, str]
    tier: str
    status: str
    joined_on: date
    contributor_id: int
    delegates: list[str]
    voting_rights: VotingRights


class MemberChangePublic(Output):
    field: str
    old_value: str | None
    new_value: str
    effective_on: date
    reason: str
    changed_by: int | None
    changed_at: datetime


# ---------------------------------------------------------------- windows


class WindowCreate(Input):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9-]{1,15}$")]
    name_en: Text
    name_es: Text
    name_fr: Text
    description: LongText = ""


class WindowUpdate(Input):
    status: WindowStatus | None = None
    name_en: Text | None = None
    name_es: Text | None = None
    name_fr: Text | None = None
    description: LongText | None = None


class WindowPublic(Output):
    id: int
    code: str
    names: dict[str, str]
    description: str
    status: str


# ---------------------------------------------------------------- tiers and assessments


class TierFeeSet(Input):
    year: Year
    tier: Tier
    currency: KnownCurrency
    amount: DecimalString

    _amount = field_validator("amount")(_positive_amount)


class TierFeePublic(Output):
    year: int
    tier: str
    fee: MoneyOut


class AssessmentRun(Input):
    year: Year


class AssessmentPublic(Output):
    id: int
    member_code: str
    contributor_id: int
    year: int
    tier: str
    months: int
    fee: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut
    assessed_on: date
    due_on: date
    status: Literal["notified", "recognised"] = Field(
        description="notified: a fee of a year that has not begun, posted on 1 January of its year; "
        "recognised: posted (receivable and revenue)"
    )
    recognised_on: date | None = Field(description="the date its receivable and revenue were posted")
    entry_id: int | None


class AssessmentRunPublic(Output):
    year: int
    created: list[AssessmentPublic]
    already_assessed: list[str]
    not_due: list[str]


# ---------------------------------------------------------------- contributors, pledges, contributions


class ContributorCreate(Input):
    kind: ContributorKind
    name: Text
    country: CountryCode | None = None

    @field_validator("kind")
    @classmethod
    def _not_member(cls, kind: ContributorKind) -> ContributorKind:
        if kind == ContributorKind.MEMBER_STATE:
            raise PydanticCustomError(
                "member_via_members", "a member state becomes a contributor when it is admitted under /members"
            )
        return kind


class ContributorPublic(Output):
    id: int
    kind: str
    name: str
    member_code: str | None
    country: str | None
    votes: bool


class InstalmentIn(Input):
    due_on: date
    amount: DecimalString


class PledgeCreate(Input):
    contributor_id: Id
    currency: KnownCurrency
    amount: DecimalString
    signed_on: date
    window_code: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = Field(
        default=None, description="earmark to exactly one window; omit for pooled funds"
    )
    conditional: bool = False
    # Validated even when absent, so a conditional pledge without a condition names this field.
    condition: LongText = Field(default="", validate_default=True)
    reference: Annotated[str, StringConstraints(max_length=100)] = ""
    instalments: Annotated[list[InstalmentIn], Field(min_length=1, max_length=120)]

    _amount = field_validator("amount")(_positive_amount)

    @field_validator("window_code", mode="before")
    @classmethod
    def _one_window(cls, value: object) -> object:
        if isinstance(value, list):
            raise PydanticCustomError("single_earmark", "a pledge is pooled or earmarked to exactly one window")
        return value

    @field_validator("instalments")
    @classmethod
    def _instalments(cls, value: list[InstalmentIn], info: ValidationInfo) -> list[InstalmentIn]:
        currency = info.data.get("currency")
        amount = info.data.get("amount")
        if currency is None or amount is None:
            return value
        total = to_money(amount, currency)
        parts = [to_money(i.amount, currency) for i in value]
        if any(not p.is_positive for p in parts):
            raise PydanticCustomError("positive_amount", "every instalment must be above zero")
        if sum(p.minor for p in parts) != total.minor:
            raise PydanticCustomError(
                "instalments_sum",
                "the instalments sum to {sum}, not to the pledge's {total}",
                {"sum": str(sum(p.amount for p in parts)), "total": total.to_str()},
            )
        if [i.due_on for i in value] != sorted(i.due_on for i in value):
            raise PydanticCustomError("instalments_order", "instalments are listed by due date")
        return value

    @field_validator("condition")
    @classmethod
    def _stated(cls, condition: str, info: ValidationInfo) -> str:
        if info.data.get("conditional") and not condition.strip():
            raise PydanticCustomError("condition_required", "a conditional pledge states its condition")
        return condition


class InstalmentPublic(Output):
    id: int
    number: int
    due_on: date
    amount: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut


class PledgePublic(Output):
    id: int
    contributor_id: int
    amount: MoneyOut
    window_code: str | None
    signed_on: date
    conditional: bool
    condition: str
    condition_met_on: date | None
    reference: str
    entry_id: int
    condition_entry_id: int | None
    instalments: list[InstalmentPublic]
    paid: MoneyOut
    outstanding: MoneyOut


class ConditionMet(Input):
    met_on: date


class ContributionCreate(Input):
    contributor_id: Id
    value_date: date
    currency: KnownCurrency
    amount: DecimalString
    instalment_id: Id | None = Field(default=None, description="the pledge instalment this payment settles")
    assessment_id: Id | None = Field(default=None, description="the assessed fee this payment settles")
    reference: Annotated[str, StringConstraints(max_length=100)] = ""

    _amount = field_validator("amount")(_positive_amount)

    @field_validator("assessment_id")
    @classmethod
    def _one_settlement(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("instalment_id") is not None:
            raise PydanticCustomError("one_settlement", "a payment settles one instalment or one assessment, not both")
        return value


class ReceiptCreate(ContributionCreate):
    """One credit line of a bank statement: a contribution and the key that makes sending it again safe."""

    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="the bank's reference of the credit, or any key unique to it: a statement sent again, "
        "whole or in part, records no receipt twice"
    )

    def contribution(self) -> ContributionCreate:
        """The receipt as the contribution it records (validated already), without its key."""
        return ContributionCreate.model_construct(**self.model_dump(exclude={"idempotency_key"}))


MAX_RECEIPTS_PER_STATEMENT = 1000


class BankStatementCreate(Input):
    """Receipts recorded together, in order, all or none."""

    receipts: Annotated[list[ReceiptCreate], Field(min_length=1, max_length=MAX_RECEIPTS_PER_STATEMENT)]


class BankStatementRecorded(Output):
    recorded: int = Field(description="receipts recorded by this request")
    replayed: int = Field(description="receipts whose key was recorded before with the same body")
    contributions: list[ContributionPublic] = Field(description="one per receipt, in the statement's order")


class ContributionPublic(Output):
    id: int
    contributor_id: int
    value_date: date
    amount: MoneyOut
    instalment_id: int | None
    assessment_id: int | None
    window_code: str | None
    applied: MoneyOut
    unapplied: MoneyOut
    fee: MoneyOut
    reference: str
    entry_id: int
    advance: bool = Field(
        description="paid for a fee notice before its year began: held as received in advance until then"
    )
    applied_entry_id: int | None = Field(description="the entry that applied the advance when the year began")
    idempotency_key: str | None


class ArrearsYear(Output):
    year: int
    assessed: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut
    due_on: date
    days_overdue: int


class MemberArrears(Output):
    member_code: str
    years: list[ArrearsYear]
    years_overdue: int
    voting_rights: VotingRights


class CurrencyBalance(Output):
    balance: MoneyOut
    reporting: MoneyOut


class StatementLine(Output):
    date: date
    kind: str
    description: str
    amount: MoneyOut
    reporting_amount: MoneyOut
    entry_id: int


class MemberStatement(Output):
    member_code: str
    contributor_id: int
    as_of: date
    reporting_currency: str
    lines: list[StatementLine]
    receivable: list[CurrencyBalance]
    unapplied_credit: list[CurrencyBalance]
    paid_in_advance: list[CurrencyBalance] = Field(
        description="paid for fee notices of a year that has not begun (applied to the fee on 1 January)"
    )
    fx_effects: MoneyOut
    balance_due_reporting: MoneyOut
    assessments: list[AssessmentPublic]
    pledges: list[PledgePublic]


# ---------------------------------------------------------------- decisions (second half)

DecisionText = Annotated[str, StringConstraints(min_length=1, max_length=20000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
MemberCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


# The terms a decision may carry, in the order their refusals are listed; each kind takes some of them.
TERM_FIELDS = (
    "proposal_id",
    "member_code",
    "tier",
    "joined_on",
    "window_code",
    "year",
    "currency",
    "amount",
    "request_id",
    "country",
    "group",
    "reason",
)
WindowCode = Annotated[str, StringConstraints(min_length=1, max_length=16)]


class _DecisionInput(Input):
    """What every decision put to the members states, whatever its kind."""

    kind: DecisionKind
    title: Text
    text: DecisionText
    closes_at: datetime
    procedure: Procedure | None = None
    justification: LongText = ""
    open: bool = False

    @field_validator("closes_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise PydanticCustomError("timezone_required", "give the closing time with its UTC offset")
        return value


class FundProposalDecision(_DecisionInput):
    """Fund a proposal: the amount and window are the proposal's."""

    kind: Literal[DecisionKind.FUND_PROPOSAL]
    proposal_id: Id


class AdmitMemberDecision(_DecisionInput):
    kind: Literal[DecisionKind.ADMIT_MEMBER]
    member_code: CountryCode
    tier: Tier
    joined_on: date


class SetTierDecision(_DecisionInput):
    kind: Literal[DecisionKind.SET_TIER]
    member_code: MemberCode
    tier: Tier


class FeeScheduleDecision(_DecisionInput):
    kind: Literal[DecisionKind.FEE_SCHEDULE]
    tier: Tier
    year: Year
    currency: KnownCurrency
    amount: DecimalString


class AdminBudgetDecision(_DecisionInput):
    """The secretariat's budget of a year, in the reporting currency."""

    kind: Literal[DecisionKind.ADMIN_BUDGET]
    year: Year
    amount: DecimalString


class WindowAllocationDecision(_DecisionInput):
    """Pooled funds allocated to a window, in the reporting currency."""

    kind: Literal[DecisionKind.WINDOW_ALLOCATION]
    window_code: WindowCode
    amount: DecimalString


class PolicyDecision(_DecisionInput):
    """A policy: the text only."""

    kind: Literal[DecisionKind.POLICY]


class ConcessionalFinancingDecision(_DecisionInput):
    """Finance a concessional operation: a financing request the TAG has reviewed; the amount (its
    concessionality plus the agency's costs), the window, country and agency are the request's."""

    kind: Literal[DecisionKind.CONCESSIONAL_FINANCING]
    request_id: Id


class CancelConcessionalDecision(_DecisionInput):
    """Cancel an adopted concessional operation: what was not transferred goes back to the window."""

    kind: Literal[DecisionKind.CANCEL_CONCESSIONAL]
    request_id: Id


RatePart = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,2}(\.[0-9]{1,8})?$")]


class RestructureConcessionalDecision(_DecisionInput):
    """Restructure an adopted concessional operation: a new loan amount (the loan's currency) and/or new
    concessional terms (base rate and spread as fractions, "0.0125"); the concessionality is computed again."""

    kind: Literal[DecisionKind.RESTRUCTURE_CONCESSIONAL]
    request_id: Id
    loan_amount: DecimalString | None = None
    concessional_base_rate: RatePart | None = None
    concessional_spread: RatePart | None = None


class AddCountryDecision(_DecisionInput):
    """A country becomes a benefitting country, in a group."""

    kind: Literal[DecisionKind.ADD_COUNTRY]
    country: CountryCode
    group: CountryGroup


class RemoveCountryDecision(_DecisionInput):
    """A benefitting country is taken off the list (money already decided for it is not touched)."""

    kind: Literal[DecisionKind.REMOVE_COUNTRY]
    country: CountryCode
    reason: Reason


class SetCountryGroupDecision(_DecisionInput):
    """A benefitting country moves to another group."""

    kind: Literal[DecisionKind.SET_COUNTRY_GROUP]
    country: CountryCode
    group: CountryGroup


DecisionInput = (
    Annotated[FundProposalDecision, Tag(DecisionKind.FUND_PROPOSAL.value)]
    | Annotated[AdmitMemberDecision, Tag(DecisionKind.ADMIT_MEMBER.value)]
    | Annotated[SetTierDecision, Tag(DecisionKind.SET_TIER.value)]
    | Annotated[FeeScheduleDecision, Tag(DecisionKind.FEE_SCHEDULE.value)]
    | Annotated[AdminBudgetDecision, Tag(DecisionKind.ADMIN_BUDGET.value)]
    | Annotated[WindowAllocationDecision, Tag(DecisionKind.WINDOW_ALLOCATION.value)]
    | Annotated[PolicyDecision, Tag(DecisionKind.POLICY.value)]
    | Annotated[ConcessionalFinancingDecision, Tag(DecisionKind.CONCESSIONAL_FINANCING.value)]
    | Annotated[CancelConcessionalDecision, Tag(DecisionKind.CANCEL_CONCESSIONAL.value)]
    | Annotated[RestructureConcessionalDecision, Tag(DecisionKind.RESTRUCTURE_CONCESSIONAL.value)]
    | Annotated[AddCountryDecision, Tag(DecisionKind.ADD_COUNTRY.value)]
    | Annotated[RemoveCountryDecision, Tag(DecisionKind.REMOVE_COUNTRY.value)]
    | Annotated[SetCountryGroupDecision, Tag(DecisionKind.SET_COUNTRY_GROUP.value)]
)


def _kind_of(value: Any) -> str | None:
    """The discriminator: a body's ``kind`` (a kind's schema carries its own)."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


# Each kind's schema (the table of kinds in governance.kinds holds the rest of what a kind is).
DECISION_SCHEMAS: dict[DecisionKind, type[_DecisionInput]] = {
    DecisionKind.FUND_PROPOSAL: FundProposalDecision,
    DecisionKind.ADMIT_MEMBER: AdmitMemberDecision,
    DecisionKind.SET_TIER: SetTierDecision,
    DecisionKind.FEE_SCHEDULE: FeeScheduleDecision,
    DecisionKind.ADMIN_BUDGET: AdminBudgetDecision,
    DecisionKind.WINDOW_ALLOCATION: WindowAllocationDecision,
    DecisionKind.POLICY: PolicyDecision,
    DecisionKind.CONCESSIONAL_FINANCING: ConcessionalFinancingDecision,
    DecisionKind.CANCEL_CONCESSIONAL: CancelConcessionalDecision,
    DecisionKind.RESTRUCTURE_CONCESSIONAL: RestructureConcessionalDecision,
    DecisionKind.ADD_COUNTRY: AddCountryDecision,
    DecisionKind.REMOVE_COUNTRY: RemoveCountryDecision,
    DecisionKind.SET_COUNTRY_GROUP: SetCountryGroupDecision,
}


def terms_needed(kind: DecisionKind) -> tuple[str, ...]:
    """The terms a decision of the kind states, in the order of TERM_FIELDS."""
    fields = DECISION_SCHEMAS[kind].model_fields
    return tuple(name for name in TERM_FIELDS if name in fields)


def _as_before(error: ErrorDetails, kind: str) -> InitErrorDetails:
    """One error of a kind's schema named as the one flat schema named it: the field without the kind's tag,
    a term missing or given to a kind that takes none as ``required-for-kind`` / ``not-for-kind``."""
    loc = tuple(error["loc"])
    field = loc[1] if len(loc) == 2 else None
    if error["type"] == "missing" and field in TERM_FIELDS:
        kind_error = PydanticCustomError(
            "required-for-kind", "a {kind} decision needs {name}", {"kind": kind, "name": field}
        )
    elif error["type"] == "extra_forbidden" and field in TERM_FIELDS:
        kind_error = PydanticCustomError(
            "not-for-kind", "a {kind} decision takes no {name}", {"kind": kind, "name": field}
        )
    else:
        return _named(error, loc[1:])
    return InitErrorDetails(type=kind_error, loc=loc[1:], input=error["input"])


def _term_order(error: InitErrorDetails) -> int:
    kind_error = error["type"]
    if isinstance(kind_error, PydanticCustomError) and kind_error.type in ("required-for-kind", "not-for-kind"):
        return 1 + TERM_FIELDS.index(str(error["loc"][0]))
    return 0


def _kind_errors(value: object) -> list[InitErrorDetails]:
    """The errors of a body whose kind is missing or unknown: the kind's own error, as the flat schema gave."""
    if not isinstance(value, dict):
        return [InitErrorDetails(type="model_type", loc=(), input=value, ctx={"class_name": "DecisionCreate"})]
    if "kind" not in value:
        return [InitErrorDetails(type="missing", loc=("kind",), input=value)]
    try:
        _KIND.validate_python(value["kind"])
    except ValidationError as unknown:
        return [_named(e, ("kind", *e["loc"])) for e in unknown.errors()]
    return []


def _named(error: ErrorDetails, loc: tuple[int | str, ...]) -> InitErrorDetails:
    """An error as it was, at ``loc``."""
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], "{message}", {"message": error["msg"]}), loc=loc, input=error["input"]
    )


_KIND: TypeAdapter[DecisionKind] = TypeAdapter(DecisionKind)


class DecisionCreate(RootModel[Annotated[DecisionInput, Discriminator(_kind_of)]]):
    """A decision put to the members. Which terms apply depends on the kind (see docs/governance.md):
    fund_proposal: proposal_id; admit_member: member_code (a country), tier, joined_on; set_tier:
    member_code, tier; fee_schedule: year, tier, currency, amount; admin_budget: year, amount (reporting
    currency); window_allocation: window_code, amount (reporting currency, from the pooled funds); policy:
    the text only; concessional_financing and cancel_concessional: request_id; restructure_concessional:
    request_id and loan_amount and/or concessional_base_rate, concessional_spread."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _named_as_before(cls, value: Any, handler: ModelWrapValidatorHandler[DecisionCreate]) -> DecisionCreate:
        if isinstance(value, dict):
            # A term given as null is a term not given: required where the kind needs it, ignored elsewhere.
            value = {name: given for name, given in value.items() if not (name in TERM_FIELDS and given is None)}
        try:
            return handler(value)
        except ValidationError as refused:
            kind = value.get("kind") if isinstance(value, dict) else None
            if isinstance(kind, str) and kind in DecisionKind.__members__.values():
                # The kind's terms after the other fields' errors, in the order of TERM_FIELDS, as the flat
                # schema's errors came before the hand checks of the terms.
                errors = sorted((_as_before(e, kind) for e in refused.errors()), key=_term_order)
            else:
                errors = _kind_errors(value)
            raise ValidationError.from_exception_data(refused.title, errors) from None


class BallotCast(Input):
    choice: Annotated[str, StringConstraints(pattern=r"^(yes|no|abstain)$")]
    # The member voting; a delegate acts only for its own member (which is the default).
    member_code: MemberCode | None = None


class RecusalDeclare(Input):
    reason: Reason
    member_code: MemberCode | None = None


class ObjectionRaise(Input):
    reason: Reason
    member_code: MemberCode | None = None


class MeetingRecord(Input):
    """The chair's record of a consensus meeting: who attended and who objected (present members only)."""

    present: Annotated[list[MemberCode], Field(max_length=400)]
    objectors: Annotated[list[MemberCode], Field(max_length=400)] = []
    notes: LongText = ""


class BallotReceipt(Output):
    decision_id: int
    member_code: str
    choice: str
    seq: int
    receipt: str
    cast_at: datetime
    replaced: bool


class BallotWithdraw(Input):
    member_code: MemberCode | None = None


class BallotWithdrawal(Output):
    decision_id: int
    member_code: str
    seq: int
    receipt: str
    withdrawn_at: datetime


class RecusalPublic(Output):
    member_code: str
    reason: str
    automatic: bool
    declared_at: datetime


class TagLink(Output):
    consolidated_score: str | None
    recommendation: str | None
    justification: str


class DecisionPublic(Output):
    id: int
    kind: str
    subject: str
    title: str
    text: str
    terms: dict[str, object]
    procedure: str
    quorum: str
    majority: str
    status: str
    opens_at: datetime | None
    closes_at: datetime
    closed_at: datetime | None
    result: str | None
    result_reason: str
    justification: str
    amount: MoneyOut | None
    window_code: str | None
    tag: TagLink | None
    tally: dict[str, object] | None
    ballots_cast: int | None
    my_ballot: str | None
    recusals: list[RecusalPublic]
    chain_head: str
    entry_id: int | None


# ---------------------------------------------------------------- investment income


class InvestmentIncomeCreate(Input):
    """Interest earned on the cash the trustee holds in one currency over a period (both days included), as
    the bank credited it."""

    currency: KnownCurrency
    amount: DecimalString = Field(description="the interest credited, in the currency; above zero")
    period_start: date
    period_end: date = Field(description="the period's last day, also the entry's date; not after today")
    bank_reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]

    @field_validator("amount")
    @classmethod
    def _exact(cls, amount: str, info: ValidationInfo) -> str:
        currency = info.data.get("currency")
        if currency is not None:
            to_money(amount, currency)
        return amount


class InvestmentIncomeReject(Input):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class IncomeSharePublic(Output):
    window_id: int | None = Field(description="None: the pooled fund")
    window_code: str | None
    amount: MoneyOut
    reporting_amount: MoneyOut
    time_weighted_balance: MoneyOut = Field(
        description="the fund's average balance of cash held over the period (reporting currency, rounded)"
    )


class InvestmentIncomePublic(Output):
    id: int
    status: str
    amount: MoneyOut
    reporting_amount: MoneyOut
    period_start: date
    period_end: date
    bank_reference: str
    allocation: list[IncomeSharePublic]
    approvals_needed: int
    approvals: int
    prepared_by: int
    prepared_at: datetime
    first_approved_by: int | None
    approved_by: int | None
    approved_at: datetime | None
    rejected_by: int | None
    rejection_reason: str
    entry_id: int | None


# ---------------------------------------------------------------- benefitting countries


class CountryChangePublic(Output):
    change: str
    old_group: str | None
    new_group: str | None
    effective_on: date
    decision_id: int
    reason: str


class BenefittingCountryPublic(Output):
    """A benefitting country with the terms its loans are measured against under the charter's method
    (fractions as decimal strings: "0.07" is 7%)."""

    code: str
    names: dict[str, str]
    group: str
    method: str
    discount_rate: str
    threshold: str
    current: bool
    added_on: date
    added_by_decision_id: int
    removed_on: date | None
    removed_by_decision_id: int | None


class BenefittingCountryDetail(BenefittingCountryPublic):
    history: list[CountryChangePublic]
