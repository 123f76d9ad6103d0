"""Governance HTTP API, first half: members, windows, tiers, assessments, contributors, pledges,
contributions, arrears and member statements."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, RequestBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

import governance.permissions  # noqa: F401 - registers the governance actions
from fundapp.core.api import (
    API_PREFIX,
    AnyRequest,
    IdempotencyKey,
    Limit,
    Offset,
    clock_of,
    in_id_range,
    paginate,
    settings_of,
)
from fundapp.core.errors import NotFound
from fundapp.core.schemas import INT32_MAX, Page
from fundapp.core.security import current_user, ensure_permission, require
from fundapp.core.unit import provide
from governance import rules
from governance.decisions import Decisions, close_due_decisions
from governance.income import Income
from governance.models import (
    Assessment,
    Contribution,
    Contributor,
    Decision,
    DecisionKind,
    DecisionStatus,
    IncomeStatus,
    Member,
    Pledge,
    TierFee,
    Window,
)
from governance.schemas import (
    ArrearsYear,
    AssessmentPublic,
    AssessmentRun,
    AssessmentRunPublic,
    BallotCast,
    BallotReceipt,
    BallotWithdraw,
    BallotWithdrawal,
    BankStatementCreate,
    BankStatementRecorded,
    BenefittingCountryDetail,
    BenefittingCountryPublic,
    ConditionMet,
    ContributionCreate,
    ContributionPublic,
    ContributorCreate,
    ContributorPublic,
    DecisionCreate,
    DecisionPublic,
    InvestmentIncomeCreate,
    InvestmentIncomePublic,
    InvestmentIncomeReject,
    MeetingRecord,
    MemberArrears,
    MemberChangePublic,
    MemberCreate,
    MemberPublic,
    MemberStatement,
    MemberUpdate,
    ObjectionRaise,
    PledgeCreate,
    PledgePublic,
    RecusalDeclare,
    RecusalPublic,
    TierFeePublic,
    TierFeeSet,
    WindowCreate,
    WindowPublic,
    WindowUpdate,
)
from governance.service import Governance, Receipt
from governance.statement import member_statement
from governance.views import (
    assessment_public,
    contribution_public,
    contributor_public,
    country_detail,
    country_public,
    decision_public,
    decision_record,
    decisions_public,
    income_public,
    member_public,
    members_public,
    pledge_public,
    pledges_public,
    voting_rights_public,
    window_public,
)
from ledger import MoneyOut

Db = NamedDependency[AsyncSession]
ONE_DAY = timedelta(days=1)
PARTICIPATE = [require("governance.decisions.participate")]
IdPath = FromPath[int]


# The services the handlers take, each built from the request's unit of work (the shell provides ``unit``).
dependencies = {
    "governance": provide(Governance.of),
    "decisions": provide(Decisions.of),
    "income": provide(Income.of),
}
GovernanceService = NamedDependency[Governance]
DecisionsService = NamedDependency[Decisions]
IncomeService = NamedDependency[Income]


# ---------------------------------------------------------------- members


class MemberController(Controller):
    path = f"{API_PREFIX}/members"
    tags = ["members"]

    @get("/", guards=[require("governance.read")])
    async def list_members(
        self,
        db_session: Db,
        governance: GovernanceService,
        limit: Limit = 100,
        offset: Offset = 0,
        tier: Annotated[str | None, QueryParameter(pattern=r"^(I|II)$")] = None,
        status: Annotated[str | None, QueryParameter(pattern=r"^(active|suspended|withdrawn)$")] = None,
    ) -> Page[MemberPublic]:
        conditions: list[Any] = []
        if tier:
            conditions.append(col(Member.tier) == tier)
        if status:
            conditions.append(col(Member.status) == status)
        total, members = await paginate(db_session, Member, conditions, col(Member.code), limit=limit, offset=offset)
        arrears = await governance.arrears()
        items = await members_public(governance, members, arrears)
        return Page[MemberPublic](items=items, total=total, limit=limit, offset=offset)

    @post("/", guards=[require("governance.members.manage")], status_code=HTTP_201_CREATED)
    async def admit(self, governance: GovernanceService, data: RequestBody[MemberCreate]) -> MemberPublic:
        """Admit a member state (it becomes a contributor too)."""
        return await member_public(governance, await governance.admit_member(data))

    @get("/{code:str}", guards=[require("governance.read")])
    async def get_member(self, governance: GovernanceService, code: FromPath[str]) -> MemberPublic:
        return await member_public(governance, await governance.member(code.upper()))

    @patch("/{code:str}", guards=[require("governance.members.manage")])
    async def change(
        self, governance: GovernanceService, code: FromPath[str], data: RequestBody[MemberUpdate]
    ) -> MemberPublic:
        """Change a member's tier or status; the change is kept in its history."""
        return await member_public(governance, await governance.change_member(code.upper(), data))

    @get("/{code:str}/history", guards=[require("governance.read")])
    async def history(self, governance: GovernanceService, code: FromPath[str]) -> list[MemberChangePublic]:
        return [MemberChangePublic.model_validate(c) for c in await governance.history(code.upper())]

    @get("/{code:str}/statement")
    async def statement(
        self,
        request: AnyRequest,
        governance: GovernanceService,
        code: FromPath[str],
        as_of: Annotated[date | None, QueryParameter()] = None,
    ) -> MemberStatement:
        """Assessments, pledges, payments, FX effects and the balance, in each currency and in the
        reporting currency. A delegate reads its own member's statement only."""
        code = code.upper()
        ensure_permission("governance.member_statement", current_user(request), code)
        return await member_statement(governance, code, as_of=as_of or governance.today)


@get(f"{API_PREFIX}/arrears", guards=[require("governance.read_money")], tags=["members"])
async def arrears(
    governance: GovernanceService, as_of: Annotated[date | None, QueryParameter()] = None
) -> list[MemberArrears]:
    """Per member and year: assessed, paid, outstanding, days overdue; and the effect on voting rights."""
    as_of = as_of or governance.today
    result = []
    for code, years in sorted((await governance.arrears(as_of=as_of)).items()):
        result.append(
            MemberArrears(
                member_code=code,
                years=[
                    ArrearsYear(
                        year=y.year,
                        assessed=MoneyOut.of(y.assessed, y.currency),
                        paid=MoneyOut.of(y.paid, y.currency),
                        outstanding=MoneyOut.of(y.outstanding, y.currency),
                        due_on=y.due_on,
                        days_overdue=y.days_overdue,
                    )
                    for y in years
                ],
                years_overdue=rules.years_in_arrears(years),
                voting_rights=voting_rights_public(governance, years),
            )
        )
    return result


# ---------------------------------------------------------------- windows, tiers, assessments


class WindowController(Controller):
    path = f"{API_PREFIX}/windows"
    tags = ["windows"]

    @get("/", guards=[require("governance.read")])
    async def list_windows(self, db_session: Db) -> list[WindowPublic]:
        return [
            window_public(w) for w in (await db_session.execute(select(Window).order_by(col(Window.code)))).scalars()
        ]

    @post("/", guards=[require("governance.windows.manage")], status_code=HTTP_201_CREATED)
    async def create(self, governance: GovernanceService, data: RequestBody[WindowCreate]) -> WindowPublic:
        return window_public(await governance.create_window(data))

    @get("/{code:str}", guards=[require("governance.read")])
    async def get_window(self, governance: GovernanceService, code: FromPath[str]) -> WindowPublic:
        return window_public(await governance.window(code, field_name="code"))

    @patch("/{code:str}", guards=[require("governance.windows.manage")])
    async def update(
        self, governance: GovernanceService, code: FromPath[str], data: RequestBody[WindowUpdate]
    ) -> WindowPublic:
        return window_public(await governance.update_window(code, data))


class TierController(Controller):
    path = f"{API_PREFIX}/tiers"
    tags = ["tiers"]

    @get("/", guards=[require("governance.read")])
    async def schedule(
        self, db_session: Db, year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None
    ) -> list[TierFeePublic]:
        query = select(TierFee).order_by(col(TierFee.year), col(TierFee.tier))
        if year is not None:
            query = query.where(col(TierFee.year) == year)
        return [
            TierFeePublic(year=t.year, tier=t.tier, fee=MoneyOut.of(t.amount, t.currency))
            for t in (await db_session.execute(query)).scalars()
        ]

    @post("/", guards=[require("governance.tiers.manage")], status_code=HTTP_200_OK)
    async def set_fee(self, governance: GovernanceService, data: RequestBody[TierFeeSet]) -> TierFeePublic:
        """Set a tier's annual fee for a year. Part I's fee must be higher than Part II's."""
        row = await governance.set_fee(data)
        return TierFeePublic(year=row.year, tier=row.tier, fee=MoneyOut.of(row.amount, row.currency))


class AssessmentController(Controller):
    path = f"{API_PREFIX}/assessments"
    tags = ["members"]

    @post("/", guards=[require("governance.assess")], status_code=HTTP_200_OK)
    async def run(self, governance: GovernanceService, data: RequestBody[AssessmentRun]) -> AssessmentRunPublic:
        """Assess every active member's fee for a year (pro-rated by whole months); running it again
        creates nothing new."""
        created, already, not_due = await governance.assess(data.year)
        return AssessmentRunPublic(
            year=data.year,
            created=[assessment_public(a, 0) for a in created],
            already_assessed=already,
            not_due=not_due,
        )

    @get("/", guards=[require("governance.read_money")])
    async def list_assessments(
        self,
        db_session: Db,
        governance: GovernanceService,
        year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None,
        member: Annotated[str | None, QueryParameter(pattern=r"^[A-Z]{3}$")] = None,
    ) -> list[AssessmentPublic]:
        query = select(Assessment).order_by(col(Assessment.year), col(Assessment.member_code))
        if year is not None:
            query = query.where(col(Assessment.year) == year)
        if member is not None:
            query = query.where(col(Assessment.member_code) == member)
        rows = (await db_session.execute(query)).scalars().all()
        paid = await governance.paid_by_assessment([a.id for a in rows if a.id])
        return [assessment_public(a, paid.get(a.id or 0, 0)) for a in rows]


# ---------------------------------------------------------------- contributors, pledges, contributions


class ContributorController(Controller):
    path = f"{API_PREFIX}/contributors"
    tags = ["contributors"]

    @get("/", guards=[require("governance.read")])
    async def list_contributors(
        self,
        db_session: Db,
        limit: Limit = 100,
        offset: Offset = 0,
        kind: Annotated[str | None, QueryParameter(max_length=20)] = None,
    ) -> Page[ContributorPublic]:
        conditions = [col(Contributor.kind) == kind] if kind else []
        total, rows = await paginate(
            db_session, Contributor, conditions, col(Contributor.id), limit=limit, offset=offset
        )
        return Page[ContributorPublic](
            items=[contributor_public(c) for c in rows], total=total, limit=limit, offset=offset
        )

    @post("/", guards=[require("governance.contributors.manage")], status_code=HTTP_201_CREATED)
    async def add(self, governance: GovernanceService, data: RequestBody[ContributorCreate]) -> ContributorPublic:
        """Add a non-member contributor (government, multilateral, foundation, private sector)."""
        return contributor_public(await governance.add_contributor(data))

    @get("/{contributor_id:int}", guards=[require("governance.read")])
    async def get_contributor(self, governance: GovernanceService, contributor_id: IdPath) -> ContributorPublic:
        return contributor_public(await governance.contributor(in_id_range(contributor_id)))


class PledgeController(Controller):
    path = f"{API_PREFIX}/pledges"
    tags = ["pledges"]

    @get("/", guards=[require("governance.read_money")])
    async def list_pledges(
        self,
        db_session: Db,
        governance: GovernanceService,
        limit: Limit = 50,
        offset: Offset = 0,
        contributor_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        window: Annotated[str | None, QueryParameter(max_length=16)] = None,
    ) -> Page[PledgePublic]:
        conditions: list[Any] = []
        if contributor_id is not None:
            conditions.append(col(Pledge.contributor_id) == contributor_id)
        if window is not None:
            conditions.append(col(Pledge.window_id) == (await governance.window(window, field_name="window")).id)
        total, rows = await paginate(db_session, Pledge, conditions, col(Pledge.id), limit=limit, offset=offset)
        return Page[PledgePublic](items=await pledges_public(governance, rows), total=total, limit=limit, offset=offset)

    @post("/", guards=[require("governance.pledges.manage")], status_code=HTTP_201_CREATED)
    async def sign(self, governance: GovernanceService, data: RequestBody[PledgeCreate]) -> PledgePublic:
        """Record a signed contribution agreement: a receivable and revenue (or deferred revenue when
        conditional), pooled or earmarked to one window, with its instalment schedule."""
        return await pledge_public(governance, await governance.pledge(data))

    @get("/{pledge_id:int}", guards=[require("governance.read_money")])
    async def get_pledge(self, governance: GovernanceService, pledge_id: IdPath) -> PledgePublic:
        return await pledge_public(governance, await governance.get_pledge(in_id_range(pledge_id)))

    @post("/{pledge_id:int}/condition-met", guards=[require("governance.pledges.manage")], status_code=HTTP_200_OK)
    async def condition_met(
        self, governance: GovernanceService, pledge_id: IdPath, data: RequestBody[ConditionMet]
    ) -> PledgePublic:
        """Record that a conditional pledge's condition is met: deferred revenue becomes revenue."""
        return await pledge_public(governance, await governance.condition_met(in_id_range(pledge_id), data.met_on))


class ContributionController(Controller):
    path = f"{API_PREFIX}/contributions"
    tags = ["contributions"]

    @get("/", guards=[require("governance.read_money")])
    async def list_contributions(
        self,
        db_session: Db,
        governance: GovernanceService,
        limit: Limit = 50,
        offset: Offset = 0,
        contributor_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        date_from: Annotated[date | None, QueryParameter()] = None,
        date_to: Annotated[date | None, QueryParameter()] = None,
    ) -> Page[ContributionPublic]:
        conditions: list[Any] = []
        if contributor_id is not None:
            conditions.append(col(Contribution.contributor_id) == contributor_id)
        if date_from is not None:
            conditions.append(col(Contribution.value_date) >= date_from)
        if date_to is not None:
            conditions.append(col(Contribution.value_date) <= date_to)
        total, rows = await paginate(
            db_session, Contribution, conditions, col(Contribution.id), limit=limit, offset=offset
        )
        return Page[ContributionPublic](
            items=[await contribution_public(governance, c) for c in rows], total=total, limit=limit, offset=offset
        )

    @post("/", guards=[require("governance.contributions.record")], status_code=HTTP_201_CREATED)
    async def record(
        self,
        governance: GovernanceService,
        data: RequestBody[ContributionCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ContributionPublic]:
        """Record money received. A repeated Idempotency-Key with the same body returns the first record (200)."""
        recorded = await governance.record_contribution(data, idempotency_key=idempotency_key)
        body = await contribution_public(governance, recorded.contribution)
        return Response(body, status_code=HTTP_200_OK if recorded.replayed else HTTP_201_CREATED)

    @post("/bank-statement", guards=[require("governance.contributions.record")], status_code=HTTP_201_CREATED)
    async def record_bank_statement(
        self, governance: GovernanceService, data: RequestBody[BankStatementCreate]
    ) -> Response[BankStatementRecorded]:
        """Record a bank statement's receipts in one transaction, in order: all of them, or none when one is
        refused (the problem names it, e.g. ``receipts.3.instalment_id``). Each receipt carries its own
        idempotency key; a statement sent again records nothing twice (200 when nothing was new)."""
        recorded = await governance.record_bank_statement(
            [Receipt(receipt.contribution(), receipt.idempotency_key) for receipt in data.receipts]
        )
        new = sum(not r.replayed for r in recorded)
        body = BankStatementRecorded(
            recorded=new,
            replayed=len(recorded) - new,
            contributions=[await contribution_public(governance, r.contribution) for r in recorded],
        )
        return Response(body, status_code=HTTP_201_CREATED if new else HTTP_200_OK)

    @get("/{contribution_id:int}", guards=[require("governance.read_money")])
    async def get_contribution(
        self, db_session: Db, governance: GovernanceService, contribution_id: IdPath
    ) -> ContributionPublic:
        found = (
            await db_session.get(Contribution, in_id_range(contribution_id)) if in_id_range(contribution_id) else None
        )
        if found is None:
            raise NotFound(f"no contribution with id {contribution_id}")
        return await contribution_public(governance, found)


# ---------------------------------------------------------------- decisions (second half)


async def close_if_due(request: AnyRequest, decision_ids: list[int] | None = None) -> None:
    """Any read of a decision whose deadline passed closes it first (in its own write transaction)."""
    await close_due_decisions(request.app.state.db, settings_of(request), clock_of(request).now(), decision_ids)


class DecisionController(Controller):
    path = f"{API_PREFIX}/decisions"
    tags = ["decisions"]

    @get("/", guards=[require("governance.decisions.read")])
    async def list_decisions(
        self,
        request: AnyRequest,
        db_session: Db,
        decisions: DecisionsService,
        limit: Limit = 100,
        offset: Offset = 0,
        kind: Annotated[DecisionKind | None, QueryParameter()] = None,
        status: Annotated[DecisionStatus | None, QueryParameter()] = None,
        subject: Annotated[str | None, QueryParameter(max_length=40)] = None,
        closes_from: Annotated[date | None, QueryParameter(description="closing on or after this date")] = None,
        closes_to: Annotated[date | None, QueryParameter(description="closing on or before this date")] = None,
    ) -> Page[DecisionPublic]:
        """The decision register: every decision with its result, newest first."""
        await close_if_due(request)
        conditions: list[Any] = []
        if kind:
            conditions.append(col(Decision.kind) == kind.value)
        if status:
            conditions.append(col(Decision.status) == status.value)
        if subject:
            conditions.append(col(Decision.subject) == subject)
        if closes_from:
            conditions.append(col(Decision.closes_at) >= datetime.combine(closes_from, time(0), tzinfo=UTC))
        if closes_to:
            conditions.append(col(Decision.closes_at) < datetime.combine(closes_to, time(0), tzinfo=UTC) + ONE_DAY)
        total, rows = await paginate(
            db_session, Decision, conditions, col(Decision.id).desc(), limit=limit, offset=offset
        )
        items = await decisions_public(decisions, rows, current_user(request))
        return Page[DecisionPublic](items=items, total=total, limit=limit, offset=offset)

    @post("/", guards=[require("governance.decisions.manage")], status_code=HTTP_201_CREATED)
    async def create(
        self, request: AnyRequest, decisions: DecisionsService, data: RequestBody[DecisionCreate]
    ) -> DecisionPublic:
        """Create a decision (a draft, or opened at once with ``open: true``)."""
        decision = await decisions.create(data)
        return await decision_public(decisions, decision, current_user(request))

    @get("/{decision_id:int}", guards=[require("governance.decisions.read")])
    async def get_decision(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: IdPath
    ) -> DecisionPublic:
        await close_if_due(request, [in_id_range(decision_id)])
        decision = await decisions.get(in_id_range(decision_id))
        return await decision_public(decisions, decision, current_user(request))

    @post("/{decision_id:int}/open", guards=[require("governance.decisions.manage")], status_code=HTTP_200_OK)
    async def open_decision(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: IdPath
    ) -> DecisionPublic:
        decision = await decisions.open(in_id_range(decision_id))
        return await decision_public(decisions, decision, current_user(request))

    @post("/{decision_id:int}/close", guards=[require("governance.decisions.manage")], status_code=HTTP_200_OK)
    async def close_decision(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: IdPath
    ) -> DecisionPublic:
        """Close a decision whose deadline has passed: count, apply and record the result."""
        decision = await decisions.close(in_id_range(decision_id))
        return await decision_public(decisions, decision, current_user(request))

    @post("/{decision_id:int}/ballots", guards=PARTICIPATE, status_code=HTTP_201_CREATED)
    async def cast(
        self, decisions: DecisionsService, decision_id: IdPath, data: RequestBody[BallotCast]
    ) -> BallotReceipt:
        """Cast (or replace) the delegate's member's ballot; the receipt is the ballot event's hash."""
        cast = await decisions.cast(in_id_range(decision_id), data.choice, member_code=data.member_code)
        event = cast.event
        return BallotReceipt(
            decision_id=event.decision_id,
            member_code=event.member_code or "",
            choice=event.choice or "",
            seq=event.seq,
            receipt=event.hash,
            cast_at=event.at,
            replaced=cast.replaced,
        )

    @post("/{decision_id:int}/ballots/withdraw", guards=PARTICIPATE, status_code=HTTP_200_OK)
    async def withdraw(
        self, decisions: DecisionsService, decision_id: IdPath, data: RequestBody[BallotWithdraw]
    ) -> BallotWithdrawal:
        """Withdraw the delegate's member's ballot before the close (vote procedure); the withdrawal is an
        event of the decision's chain."""
        event = await decisions.withdraw_ballot(in_id_range(decision_id), member_code=data.member_code)
        return BallotWithdrawal(
            decision_id=event.decision_id,
            member_code=event.member_code or "",
            seq=event.seq,
            receipt=event.hash,
            withdrawn_at=event.at,
        )

    @post(
        "/{decision_id:int}/recusals",
        guards=PARTICIPATE,
        status_code=HTTP_201_CREATED,
    )
    async def recuse(
        self, decisions: DecisionsService, decision_id: IdPath, data: RequestBody[RecusalDeclare]
    ) -> RecusalPublic:
        """Declare the member's recusal (with its reason); a ballot already cast is withdrawn."""
        recusal = await decisions.recuse(in_id_range(decision_id), data.reason, member_code=data.member_code)
        return RecusalPublic(
            member_code=recusal.member_code,
            reason=recusal.reason,
            automatic=recusal.automatic,
            declared_at=recusal.declared_at,
        )

    @post("/{decision_id:int}/objections", guards=PARTICIPATE, status_code=HTTP_200_OK)
    async def object(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: IdPath, data: RequestBody[ObjectionRaise]
    ) -> DecisionPublic:
        """Object under the written procedure: a vote opens at once (or, by charter, the proposal fails)."""
        decision = await decisions.object(in_id_range(decision_id), data.reason, member_code=data.member_code)
        return await decision_public(decisions, decision, current_user(request))

    @post("/{decision_id:int}/meeting", guards=[require("governance.decisions.manage")], status_code=HTTP_200_OK)
    async def meeting(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: IdPath, data: RequestBody[MeetingRecord]
    ) -> DecisionPublic:
        """The chair records a consensus meeting (attendance and objections); this closes the decision."""
        decision = await decisions.record_meeting(in_id_range(decision_id), data)
        return await decision_public(decisions, decision, current_user(request))

    @get("/{decision_id:int}/record", guards=[require("governance.decisions.read")])
    async def record(self, request: AnyRequest, decisions: DecisionsService, decision_id: IdPath) -> dict[str, Any]:
        """The verifiable record: roll call, recusals, tally, rules, every event and the chain head.
        Published at the close (before it only when the charter makes results visible)."""
        await close_if_due(request, [in_id_range(decision_id)])
        decision = await decisions.get(in_id_range(decision_id))
        decisions.ensure_record_published(decision)
        return await decision_record(decisions, decision)


# ---------------------------------------------------------------- investment income


class InvestmentIncomeController(Controller):
    path = f"{API_PREFIX}/investment-income"
    tags = ["investment income"]

    @get("/", guards=[require("governance.read_money")])
    async def list_income(
        self,
        income: IncomeService,
        limit: Limit = 50,
        offset: Offset = 0,
        status: Annotated[IncomeStatus | None, QueryParameter()] = None,
    ) -> Page[InvestmentIncomePublic]:
        """Interest earned as recorded, newest first (``status=pending``: what waits for approval), each with
        its allocation to the funds."""
        total, rows = await income.list(status=None if status is None else status.value, limit=limit, offset=offset)
        items = [await income_public(income, row) for row in rows]
        return Page[InvestmentIncomePublic](items=items, total=total, limit=limit, offset=offset)

    @get("/{income_id:int}", guards=[require("governance.read_money")])
    async def get_income(self, income: IncomeService, income_id: IdPath) -> InvestmentIncomePublic:
        return await income_public(income, await income.get(income_id))

    @post("/", guards=[require("governance.income.record")], status_code=HTTP_202_ACCEPTED)
    async def record_income(
        self,
        income: IncomeService,
        data: RequestBody[InvestmentIncomeCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[InvestmentIncomePublic]:
        """Record interest earned on the cash held in one currency over a period: allocated now to the pooled
        fund and the windows by their time-weighted balances of cash held (docs/contributions.md), and posted
        when a finance approver who did not record it approves it (two different approvers above the
        charter's threshold). Answers 202 with the record. A repeated Idempotency-Key (yours) with the same
        body returns the first record (200)."""
        recorded = await income.record(
            amount=data.amount,
            currency=data.currency,
            period_start=data.period_start,
            period_end=data.period_end,
            bank_reference=data.bank_reference,
            idempotency_key=idempotency_key,
        )
        body = await income_public(income, recorded.income)
        return Response(body, status_code=HTTP_200_OK if recorded.replayed else HTTP_202_ACCEPTED)

    @post("/{income_id:int}/approve", guards=[require("governance.income.approve")], status_code=HTTP_200_OK)
    async def approve_income(self, income: IncomeService, income_id: IdPath) -> InvestmentIncomePublic:
        """Approve recorded income (a finance approver who did not record it); the last approval posts it:
        Dr 1100 cash / Cr 4200 investment income per fund, and each fund's part made available (8200 / 8100)."""
        return await income_public(income, await income.approve(income_id))

    @post("/{income_id:int}/reject", guards=[require("governance.income.approve")], status_code=HTTP_200_OK)
    async def reject_income(
        self, income: IncomeService, income_id: IdPath, data: RequestBody[InvestmentIncomeReject]
    ) -> InvestmentIncomePublic:
        """Reject recorded income, with the reason: nothing is posted and its period may be recorded again."""
        return await income_public(income, await income.reject(income_id, data.reason))


# ---------------------------------------------------------------- benefitting countries


class CountryController(Controller):
    path = f"{API_PREFIX}/countries"
    tags = ["countries"]

    @get("/", guards=[require("governance.read")])
    async def list_countries(
        self, governance: GovernanceService, include_removed: Annotated[bool, QueryParameter()] = False
    ) -> list[BenefittingCountryPublic]:
        """The benefitting countries kept by the members' decisions, each with its group and the discount rate
        and grant-element threshold that apply under the charter's method (fractions: "0.07" is 7%); the
        removed ones too with ``include_removed=true``."""
        found = await governance.benefitting_countries(include_removed=include_removed)
        return [country_public(governance, standing) for standing in found]

    @get("/{code:str}", guards=[require("governance.read")])
    async def get_country(self, governance: GovernanceService, code: FromPath[str]) -> BenefittingCountryDetail:
        """A country that is or was a benefitting country (``current`` says which), with its history."""
        return await country_detail(governance, code.upper())


route_handlers: list[Any] = [
    MemberController,
    arrears,
    WindowController,
    TierController,
    AssessmentController,
    ContributorController,
    PledgeController,
    ContributionController,
    DecisionController,
    InvestmentIncomeController,
    CountryController,
]
