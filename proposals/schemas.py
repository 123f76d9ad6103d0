"""Proposals and grants API models. Shapes are checked here; the facility's rules (sums, caps,
eligibility, endorsement; for grants, tranche limits, maker-checker, cumulative expenditure) are checked by
the services with ``rules``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from fundapp.core.schemas import Id, Input, Output
from governance import CountryCode
from ledger import DecimalString, MoneyOut
from proposals.models import DueDiligence, OrganisationType

Text = Annotated[str, StringConstraints(min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]


class BudgetCategory(StrEnum):
    """The UN harmonised budget categories."""

    STAFF = "staff"
    SUPPLIES = "supplies"
    EQUIPMENT = "equipment"
    CONTRACTUAL_SERVICES = "contractual_services"
    TRAVEL = "travel"
    TRANSFERS_AND_GRANTS = "transfers_and_grants"
    GENERAL_OPERATING = "general_operating"
    INDIRECT_SUPPORT_COSTS = "indirect_support_costs"


class TrancheCondition(StrEnum):
    NONE = "none"
    PROGRESS_REPORT = "progress_report"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class AgeGroup(StrEnum):
    CHILDREN = "0-17"
    YOUTH = "18-24"
    ADULTS = "25-59"
    OLDER = "60+"


# ---------------------------------------------------------------- calls and organisations


class Criterion(Input):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: Text
    weight: Annotated[int, Field(ge=1, le=100)]


class CallCreate(Input):
    window_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    title: Text
    description: LongText = ""
    opens_at: datetime
    closes_at: datetime
    envelope: DecimalString
    min_grant: DecimalString
    max_grant: DecimalString
    eligible_types: list[OrganisationType] = Field(default_factory=list)
    eligible_countries: list[CountryCode] = Field(default_factory=list)
    rubric: Annotated[list[Criterion], Field(min_length=1, max_length=20)]
    reviews_required: Annotated[int, Field(ge=1, le=10)] = 2

    @field_validator("closes_at")
    @classmethod
    def _after_opening(cls, closes_at: datetime, info: ValidationInfo) -> datetime:
        opens_at = info.data.get("opens_at")
        if opens_at is not None and closes_at <= opens_at:
            raise PydanticCustomError("closes_after_opening", "a call closes after it opens")
        return closes_at

    @field_validator("rubric")
    @classmethod
    def _distinct(cls, rubric: list[Criterion]) -> list[Criterion]:
        if len({c.key for c in rubric}) != len(rubric):
            raise PydanticCustomError("distinct_criteria", "each rubric criterion has its own key")
        return rubric


class CallPublic(Output):
    id: int
    window_code: str
    title: str
    description: str
    opens_at: datetime
    closes_at: datetime
    is_open: bool
    envelope: MoneyOut
    min_grant: MoneyOut
    max_grant: MoneyOut
    eligible_types: list[str]
    eligible_countries: list[str]
    rubric: list[dict[str, Any]]
    reviews_required: int


class OrganisationCreate(Input):
    name: Text
    type: OrganisationType
    country: CountryCode
    registration: LongText = ""


class DueDiligenceSet(Input):
    status: DueDiligence
    note: LongText = ""


class OrganisationPublic(Output):
    id: int
    name: str
    type: str
    country: str
    registration: str
    due_diligence: str
    due_diligence_note: str


# ---------------------------------------------------------------- proposal content


class CountryShare(Input):
    country: CountryCode
    share: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\.[0-9]{1,2})?$")] = Field(
        description='percentage of the proposal, e.g. "60" or "33.33"'
    )


class BudgetLine(Input):
    category: BudgetCategory
    description: Annotated[str, StringConstraints(max_length=300)] = ""
    amount: DecimalString


class TrancheIn(Input):
    planned_date: date
    amount: DecimalString
    condition: TrancheCondition = TrancheCondition.NONE


class Indicator(Input):
    name: Text
    unit: Annotated[str, StringConstraints(max_length=50)] = ""
    baseline: Annotated[str, StringConstraints(max_length=50)]
    target: Annotated[str, StringConstraints(max_length=50)]


class Outcome(Input):
    title: Text
    indicators: Annotated[list[Indicator], Field(min_length=1, max_length=20)]


class Beneficiaries(Input):
    sex: Sex
    age_group: AgeGroup
    count: Annotated[int, Field(ge=0, le=1_000_000_000)]


SdgTarget = Annotated[str, StringConstraints(pattern=r"^([1-9]|1[0-7])\.([0-9]{1,2}|[a-z])(\.[0-9]{1,2})?$")]


class ProposalContent(Input):
    """Everything a grantee writes; stored as one document and snapshotted at each submission."""

    title: Text
    summary: LongText
    requested_amount: DecimalString = Field(description="in the reporting currency")
    duration_months: Annotated[int, Field(ge=1, le=120)]
    countries: Annotated[list[CountryShare], Field(min_length=1, max_length=60)]
    budget: Annotated[list[BudgetLine], Field(min_length=1, max_length=200)]
    tranches: Annotated[list[TrancheIn], Field(min_length=1, max_length=24)]
    results: Annotated[list[Outcome], Field(min_length=1, max_length=30)]
    gender_marker: Annotated[int, Field(ge=0, le=2)]
    gcm_objectives: Annotated[list[Annotated[int, Field(ge=1, le=23)]], Field(max_length=23)] = Field(
        default_factory=list
    )
    sdg_targets: Annotated[list[SdgTarget], Field(max_length=50)] = Field(default_factory=list)
    beneficiaries: Annotated[list[Beneficiaries], Field(max_length=50)] = Field(default_factory=list)

    @field_validator("countries")
    @classmethod
    def _distinct_countries(cls, value: list[CountryShare]) -> list[CountryShare]:
        if len({c.country for c in value}) != len(value):
            raise PydanticCustomError("distinct_countries", "each country is listed once")
        if any(Decimal(c.share) <= 0 or Decimal(c.share) > 100 for c in value):
            raise PydanticCustomError("share_range", "each country's share is above 0 and at most 100")
        return value

    @field_validator("gcm_objectives")
    @classmethod
    def _distinct_objectives(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


class ProposalCreate(Input):
    call_id: Id
    content: ProposalContent


class ProposalUpdate(Input):
    content: ProposalContent


class ActionInput(Input):
    reason: Annotated[str, StringConstraints(max_length=10_000)] = ""


class TransitionPublic(Output):
    action: str
    from_state: str
    to_state: str
    reason: str
    actor_id: int | None
    at: datetime


class EndorsementPublic(Output):
    country: str
    decision: str
    note: str
    letter_attachment_id: int | None
    recorded_by: int | None
    recorded_at: datetime


class EndorsementIn(Input):
    country: CountryCode
    decision: Annotated[str, StringConstraints(pattern=r"^(endorsed|declined)$")]
    note: LongText = ""
    letter_attachment_id: Id | None = Field(
        default=None, description="for a non-member country: the endorsement letter, recorded by the secretariat"
    )


class AttachmentPublic(Output):
    id: int
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime


class ProposalSummary(Output):
    """What anyone allowed to see a proposal sees, including a reviewer before declaring conflicts."""

    id: int
    title: str
    state: str
    organisation_id: int
    organisation_name: str
    call_id: int
    window_code: str
    countries: list[str]
    requested: MoneyOut
    version: int
    allowed_actions: list[str]


class ProposalPublic(ProposalSummary):
    content: ProposalContent
    gender_marker: int
    consolidated_score: str | None
    tag_recommendation: str | None
    tag_justification: str
    endorsements: list[EndorsementPublic]
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- review


class AssignInput(Input):
    reviewer_ids: Annotated[list[Id], Field(min_length=1, max_length=20)]


class ConflictDeclaration(Input):
    has_conflict: bool
    reason: LongText = ""

    @field_validator("reason")
    @classmethod
    def _explained(cls, reason: str, info: ValidationInfo) -> str:
        if info.data.get("has_conflict") and not reason.strip():
            raise PydanticCustomError("conflict_reason", "a declared conflict says what it is")
        return reason


class CriterionScore(Input):
    score: Annotated[int, Field(ge=0, le=5)]
    comment: LongText = ""


class ReviewIn(Input):
    scores: dict[Annotated[str, StringConstraints(max_length=40)], CriterionScore]
    recommendation: Annotated[str, StringConstraints(pattern=r"^(recommend|do_not_recommend)$")]
    comment: LongText = ""


class AssignmentPublic(Output):
    id: int
    proposal_id: int
    reviewer_id: int
    status: str
    conflict_reason: str
    assigned_at: datetime
    declared_at: datetime | None


class ReviewPublic(Output):
    id: int
    proposal_id: int
    reviewer_id: int
    version: int
    scores: dict[str, Any]
    weighted_score: str
    recommendation: str
    comment: str
    submitted_at: datetime


# ---------------------------------------------------------------- grants

Reason = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Reference = Annotated[str, StringConstraints(max_length=200)]


class AgreementIn(Input):
    signed_on: date = Field(description="the date the grant agreement was signed (not in the future)")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="the signed agreement: its registry number or document reference"
    )


class DisbursementCreate(Input):
    tranche: Annotated[int, Field(ge=1, le=24, description="the tranche's number in the grant (1 = first)")]
    amount: DecimalString | None = Field(
        default=None, description="at most what is unpaid of the tranche; all of it when omitted"
    )
    reference: Reference = ""


class RejectIn(Input):
    reason: Reason


class IndicatorValue(Input):
    outcome: Text
    indicator: Text
    value: Annotated[str, StringConstraints(min_length=1, max_length=50)]


class ExpenditureLine(Input):
    category: BudgetCategory
    amount: DecimalString = Field(description="cumulative since the grant started, in the grant's currency")


class ReportSubmit(Input):
    report_id: Id = Field(description="the scheduled report being submitted (GET /grants/{id}/reports)")
    narrative: Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
    indicators: Annotated[list[IndicatorValue], Field(max_length=200)] = Field(default_factory=list)
    expenditure: Annotated[list[ExpenditureLine], Field(max_length=20)] = Field(default_factory=list)

    @field_validator("expenditure")
    @classmethod
    def _distinct_categories(cls, value: list[ExpenditureLine]) -> list[ExpenditureLine]:
        if len({line.category for line in value}) != len(value):
            raise PydanticCustomError("distinct_categories", "each budget category is listed once")
        return value

    @field_validator("indicators")
    @classmethod
    def _distinct_indicators(cls, value: list[IndicatorValue]) -> list[IndicatorValue]:
        if len({(v.outcome, v.indicator) for v in value}) != len(value):
            raise PydanticCustomError("distinct_indicators", "each indicator is reported once")
        return value


class ReportReview(Input):
    note: LongText = ""


class RefundCreate(Input):
    amount: DecimalString
    received_on: date
    reference: Reference = ""


class GrantAction(Input):
    reason: LongText = ""


class FigureOut(Output):
    amount: str = Field(description="decimal string")
    currency: str
    entry_ids: list[int] = Field(description="the journal entries behind the figure")


class AgreementPublic(Output):
    signed_on: date
    reference: str
    entry_id: int | None


class TranchePublic(Output):
    id: int
    number: int
    amount: MoneyOut
    planned_date: date
    condition: str
    state: str = Field(description="pending, recognised, partly_paid, paid or released")
    paid: MoneyOut
    unpaid: MoneyOut
    recognised_on: date | None
    recognised_entry_id: int | None
    met_by_report_id: int | None
    disbursement_ids: list[int]
    entry_ids: list[int] = Field(description="recognition and transfer entries")


class GrantSummary(Output):
    id: int
    title: str
    proposal_id: int
    decision_id: int | None
    organisation_id: int
    organisation_name: str
    window_code: str
    status: str
    amount: MoneyOut
    start_date: date
    end_date: date
    overdue_reports: int


class GrantStatement(GrantSummary):
    """The grant and its money, every figure read from the ledger's grant dimension."""

    isc_rate: str
    agreement: AgreementPublic | None
    status_reason: str
    closed_on: date | None
    close_entry_id: int | None
    allocated: FigureOut
    committed: FigureOut
    disbursed: FigureOut
    refunded: FigureOut
    recognised: FigureOut = Field(description="expense recognised (transfers to implementing partners)")
    payable: FigureOut = Field(description="recognised and not yet transferred (grants payable)")
    remaining: FigureOut = Field(description="what the grant may still pay out: allocated + committed")
    reported_expenditure: MoneyOut
    expenditure_report_id: int | None = Field(description="the accepted report the expenditure comes from")
    delivery_rate: str | None = Field(description="reported expenditure / (disbursed - refunded), 4 places")
    tranches: list[TranchePublic]
    next_report_due: date | None
    pending_disbursements: int
    approvals_above: MoneyOut = Field(description="disbursements above this need a second approver")


class DisbursementPublic(Output):
    id: int
    grant_id: int
    tranche_id: int
    tranche: int
    amount: MoneyOut
    status: str
    approvals_needed: int
    reference: str
    prepared_by: int
    prepared_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    second_approved_by: int | None
    second_approved_at: datetime | None
    rejected_by: int | None
    rejected_at: datetime | None
    rejection_reason: str
    entry_id: int | None


class ExpenditurePublic(Output):
    category: str
    amount: MoneyOut = Field(description="cumulative since the grant started, in the grant's currency")


class ReportPublic(Output):
    id: int
    grant_id: int
    number: int
    kind: str
    period_start: date
    period_end: date
    due_on: date
    status: str
    overdue: bool
    narrative: str
    indicators: list[dict[str, Any]]
    expenditure: list[ExpenditurePublic]
    expenditure_total: MoneyOut
    submitted_by: int | None
    submitted_at: datetime | None
    reviewed_by: int | None
    reviewed_at: datetime | None
    review_note: str
    recognised_tranche: int | None = Field(description="the conditional tranche its acceptance met")


class RefundPublic(Output):
    id: int
    grant_id: int
    amount: MoneyOut
    received_on: date
    reference: str
    entry_id: int
    recorded_by: int | None
    recorded_at: datetime
