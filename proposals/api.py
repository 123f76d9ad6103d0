"""Proposals HTTP API: calls, organisations, proposals and their workflow, endorsements, attachments, TAG
review; grants with their agreement, disbursements (maker-checker), reports, refunds and closure."""

from __future__ import annotations

import json
from datetime import datetime
from fractions import Fraction
from typing import Annotated, Any

from litestar import Controller, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter, RequestBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
from fundapp.core.errors import InvalidInput
from fundapp.core.schemas import INT32_MAX, Page
from fundapp.core.security import current_user, ensure_permission, require
from fundapp.core.unit import provide
from fundapp.core.uploads import single_file_hook
from governance import Window
from ledger import Money, MoneyOut, exponent
from proposals import rules, workflow
from proposals.grants import Grants
from proposals.models import (
    Call,
    Disbursement,
    Grant,
    GrantReport,
    GrantStatus,
    Organisation,
    Proposal,
    ProposalCountry,
    Refund,
    Tranche,
)

# Importing the permissions module registers the proposals' actions.
from proposals.permissions import GRANTS, OVERSIGHT, PROPOSAL_SUMMARY
from proposals.schemas import (
    ActionInput,
    AgreementIn,
    AgreementPublic,
    AssignInput,
    AssignmentPublic,
    AttachmentPublic,
    CallCreate,
    CallPublic,
    ConflictDeclaration,
    DisbursementCreate,
    DisbursementPublic,
    DueDiligenceSet,
    EndorsementIn,
    EndorsementPublic,
    ExpenditurePublic,
    FigureOut,
    GrantAction,
    GrantStatement,
    GrantSummary,
    OrganisationCreate,
    OrganisationPublic,
    ProposalCreate,
    ProposalPublic,
    ProposalSummary,
    ProposalUpdate,
    RefundCreate,
    RefundPublic,
    RejectIn,
    ReportPublic,
    ReportReview,
    ReportSubmit,
    ReviewIn,
    ReviewPublic,
    TranchePublic,
    TransitionPublic,
)
from proposals.service import MAX_ATTACHMENT_BYTES, Proposals, Visible

Db = NamedDependency[AsyncSession]
IdPath = FromPath[int]


# The services the handlers take, each built from the request's unit of work (the shell provides ``unit``).
dependencies = {"proposals": provide(Proposals.of), "grants": provide(Grants.of)}
ProposalsService = NamedDependency[Proposals]
GrantsService = NamedDependency[Grants]


# ---------------------------------------------------------------- presenters


async def call_public(session: AsyncSession, call: Call, now: datetime, currency: str) -> CallPublic:
    assert call.id is not None
    window = await session.get(Window, call.window_id)
    return CallPublic(
        id=call.id,
        window_code=window.code if window else "",
        title=call.title,
        description=call.description,
        opens_at=call.opens_at,
        closes_at=call.closes_at,
        is_open=call.opens_at <= now < call.closes_at,
        envelope=MoneyOut.of(call.envelope, currency),
        min_grant=MoneyOut.of(call.min_grant, currency),
        max_grant=MoneyOut.of(call.max_grant, currency),
        eligible_types=[t for t in call.eligible_types.split(",") if t],
        eligible_countries=[c for c in call.eligible_countries.split(",") if c],
        rubric=json.loads(call.rubric),
        reviews_required=call.reviews_required,
    )


async def proposal_view(service: Proposals, seen: Visible) -> ProposalSummary | ProposalPublic:
    proposal = seen.proposal
    assert proposal.id is not None
    organisation = await service.organisation(proposal.organisation_id)
    window = await service.session.get(Window, proposal.window_id)
    user = service.user
    summary: dict[str, Any] = {
        "id": proposal.id,
        "title": proposal.title,
        "state": proposal.state,
        "organisation_id": proposal.organisation_id,
        "organisation_name": organisation.name,
        "call_id": proposal.call_id,
        "window_code": window.code if window else "",
        "countries": sorted(seen.facts.countries),
        "requested": MoneyOut.of(proposal.requested, service.currency),
        "version": proposal.version,
        "allowed_actions": workflow.allowed_actions(proposal.state, user.roles if user else frozenset()),
    }
    if not seen.full:
        return ProposalSummary(**summary)
    endorsements = [EndorsementPublic.model_validate(e) for e in await service.endorsements(proposal.id)]
    # While reviews are being given, their scores stay with the secretariat and auditors.
    scores_visible = proposal.state != workflow.State.IN_REVIEW or (user is not None and user.has_role(*OVERSIGHT))
    return ProposalPublic(
        **summary,
        content=service.content_of(proposal),
        gender_marker=proposal.gender_marker,
        consolidated_score=proposal.consolidated_score if scores_visible else None,
        tag_recommendation=proposal.tag_recommendation,
        tag_justification=proposal.tag_justification,
        endorsements=endorsements,
        created_at=proposal.created_at,
        updated_at=proposal.updated_at,
    )


def review_public(row: Any) -> ReviewPublic:
    return ReviewPublic(
        id=row.id,
        proposal_id=row.proposal_id,
        reviewer_id=row.reviewer_id,
        version=row.version,
        scores=json.loads(row.scores),
        weighted_score=rules.score_text(Fraction(row.weighted_score)),
        recommendation=row.recommendation,
        comment=row.comment,
        submitted_at=row.submitted_at,
    )


# ---------------------------------------------------------------- calls and organisations


class CallController(Controller):
    path = f"{API_PREFIX}/calls"
    tags = ["calls"]

    @get("/", guards=[require("calls.read")])
    async def list_calls(
        self,
        request: AnyRequest,
        db_session: Db,
        limit: Limit = 50,
        offset: Offset = 0,
        window: Annotated[str | None, QueryParameter(max_length=16)] = None,
        open_only: Annotated[bool, QueryParameter(name="open")] = False,
    ) -> Page[CallPublic]:
        now, currency = clock_of(request).now(), settings_of(request).reporting_currency
        conditions: list[Any] = []
        if window:
            conditions.append(col(Call.window_id).in_(select(col(Window.id)).where(col(Window.code) == window)))
        if open_only:
            conditions += [col(Call.opens_at) <= now, col(Call.closes_at) > now]
        total, rows = await paginate(db_session, Call, conditions, col(Call.id), limit=limit, offset=offset)
        return Page[CallPublic](
            items=[await call_public(db_session, c, now, currency) for c in rows],
            total=total,
            limit=limit,
            offset=offset,
        )

    @post("/", guards=[require("proposals.manage")], status_code=HTTP_201_CREATED)
    async def create_call(
        self, db_session: Db, proposals: ProposalsService, data: RequestBody[CallCreate]
    ) -> CallPublic:
        return await call_public(db_session, await proposals.create_call(data), proposals.now, proposals.currency)

    @get("/{call_id:int}", guards=[require("calls.read")])
    async def get_call(self, db_session: Db, proposals: ProposalsService, call_id: IdPath) -> CallPublic:
        return await call_public(
            db_session,
            await proposals.call(in_id_range(call_id), field_name="call_id"),
            proposals.now,
            proposals.currency,
        )


class OrganisationController(Controller):
    path = f"{API_PREFIX}/organisations"
    tags = ["organisations"]

    @get("/", guards=[require("organisations.read")])
    async def list_organisations(
        self, request: AnyRequest, db_session: Db, limit: Limit = 100, offset: Offset = 0
    ) -> Page[OrganisationPublic]:
        user = current_user(request)
        conditions: list[Any] = []
        if user.roles == frozenset({workflow.R.GRANTEE}):
            conditions.append(col(Organisation.id) == (user.organisation_id or 0))
        total, rows = await paginate(
            db_session, Organisation, conditions, col(Organisation.id), limit=limit, offset=offset
        )
        return Page[OrganisationPublic](
            items=[OrganisationPublic.model_validate(o) for o in rows], total=total, limit=limit, offset=offset
        )

    @post("/", guards=[require("proposals.manage")], status_code=HTTP_201_CREATED)
    async def create(self, proposals: ProposalsService, data: RequestBody[OrganisationCreate]) -> OrganisationPublic:
        return OrganisationPublic.model_validate(await proposals.create_organisation(data))

    @get("/{organisation_id:int}", guards=[require("organisations.read")])
    async def get_organisation(self, proposals: ProposalsService, organisation_id: IdPath) -> OrganisationPublic:
        return OrganisationPublic.model_validate(await proposals.organisation(in_id_range(organisation_id)))

    @post("/{organisation_id:int}/due-diligence", guards=[require("proposals.manage")], status_code=HTTP_200_OK)
    async def due_diligence(
        self, proposals: ProposalsService, organisation_id: IdPath, data: RequestBody[DueDiligenceSet]
    ) -> OrganisationPublic:
        """Record the secretariat's due-diligence outcome (pending, cleared, refused)."""
        return OrganisationPublic.model_validate(await proposals.set_due_diligence(in_id_range(organisation_id), data))


# ---------------------------------------------------------------- proposals


class ProposalController(Controller):
    path = f"{API_PREFIX}/proposals"
    tags = ["proposals"]

    @get("/", guards=[require("proposals.read")])
    async def list_proposals(
        self,
        request: AnyRequest,
        db_session: Db,
        proposals: ProposalsService,
        limit: Limit = 50,
        offset: Offset = 0,
        window: Annotated[str | None, QueryParameter(max_length=16)] = None,
        call_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        in_state: Annotated[str | None, QueryParameter(name="state", max_length=20)] = None,
        country: Annotated[str | None, QueryParameter(pattern=r"^[A-Z]{3}$")] = None,
        organisation_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
    ) -> Page[ProposalSummary]:
        """Proposals visible to the caller, filterable by window, call, state, country and organisation."""
        conditions: list[Any] = []
        if window:
            conditions.append(col(Proposal.window_id).in_(select(col(Window.id)).where(col(Window.code) == window)))
        if call_id is not None:
            conditions.append(col(Proposal.call_id) == call_id)
        if in_state:
            if in_state not in {s.value for s in workflow.State}:
                raise InvalidInput(f"{in_state!r} is not a proposal state", field="state", rule="known-state")
            conditions.append(col(Proposal.state) == in_state)
        if country:
            conditions.append(
                col(Proposal.id).in_(
                    select(col(ProposalCountry.proposal_id)).where(col(ProposalCountry.country) == country)
                )
            )
        if organisation_id is not None:
            conditions.append(col(Proposal.organisation_id) == organisation_id)
        # The proposals this user may list: the rows of the pair whose predicate reads one (its summary).
        conditions.append(PROPOSAL_SUMMARY.where(current_user(request)))
        total, rows = await paginate(db_session, Proposal, conditions, col(Proposal.id), limit=limit, offset=offset)
        items = []
        for proposal in rows:
            seen = Visible(proposal, await proposals.facts(proposal), False)
            view = await proposal_view(proposals, seen)
            items.append(ProposalSummary.model_validate(view.model_dump()))
        return Page[ProposalSummary](items=items, total=total, limit=limit, offset=offset)

    @post("/", guards=[require("proposals.create")], status_code=HTTP_201_CREATED)
    async def create(self, proposals: ProposalsService, data: RequestBody[ProposalCreate]) -> ProposalPublic:
        """Start a draft for the grantee's organisation under a call."""
        proposal = await proposals.create(data.call_id, data.content)
        view = await proposal_view(proposals, await proposals.visible(proposal.id or 0))
        assert isinstance(view, ProposalPublic)
        return view

    @get("/{proposal_id:int}", guards=[require("proposals.read_summary")])
    async def get_proposal(self, proposals: ProposalsService, proposal_id: IdPath) -> ProposalSummary | ProposalPublic:
        """The full proposal, or its summary for an assigned reviewer who has not yet declared conflicts."""
        return await proposal_view(proposals, await proposals.visible(in_id_range(proposal_id)))

    @put("/{proposal_id:int}", guards=[require("proposals.edit")])
    async def update(
        self, proposals: ProposalsService, proposal_id: IdPath, data: RequestBody[ProposalUpdate]
    ) -> ProposalPublic:
        """Replace a draft's (or returned proposal's) content."""
        await proposals.update(in_id_range(proposal_id), data.content)
        view = await proposal_view(proposals, await proposals.visible(in_id_range(proposal_id)))
        assert isinstance(view, ProposalPublic)
        return view

    @get("/{proposal_id:int}/history", guards=[require("proposals.read_summary")])
    async def history(self, proposals: ProposalsService, proposal_id: IdPath) -> list[TransitionPublic]:
        return [TransitionPublic.model_validate(t) for t in await proposals.history(in_id_range(proposal_id))]

    @get("/{proposal_id:int}/submission-check", guards=[require("proposals.read")])
    async def submission_check(self, proposals: ProposalsService, proposal_id: IdPath) -> dict[str, Any]:
        """Which submission rules the proposal currently breaks (none means it can be submitted)."""
        problems = await proposals.submission_problems((await proposals.full(in_id_range(proposal_id))).proposal)
        return {"ready": not problems, "errors": [p.as_dict() for p in problems]}

    @post("/{proposal_id:int}/endorsements", guards=[require("proposals.endorse")], status_code=HTTP_200_OK)
    async def endorse(
        self, proposals: ProposalsService, proposal_id: IdPath, data: RequestBody[EndorsementIn]
    ) -> EndorsementPublic:
        """A member's delegate endorses or declines for its country; the secretariat records a non-member
        country's letter."""
        return EndorsementPublic.model_validate(await proposals.endorse(in_id_range(proposal_id), data))

    @get("/{proposal_id:int}/endorsements", guards=[require("proposals.read_summary")])
    async def list_endorsements(self, proposals: ProposalsService, proposal_id: IdPath) -> list[EndorsementPublic]:
        await proposals.full(in_id_range(proposal_id))  # endorsements belong to the full view, not the summary
        return [EndorsementPublic.model_validate(e) for e in await proposals.endorsements(in_id_range(proposal_id))]

    @post(
        "/{proposal_id:int}/attachments",
        guards=[require("proposals.read")],
        status_code=HTTP_201_CREATED,
        request_max_body_size=MAX_ATTACHMENT_BYTES + 64 * 1024,
        before_request=single_file_hook("data"),
    )
    async def attach(
        self,
        proposals: ProposalsService,
        proposal_id: IdPath,
        data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> AttachmentPublic:
        """Upload a PDF, DOCX, XLSX, PNG or JPEG (checked by content, at most 10 MiB) as a multipart ``data``."""
        content = await data.read()
        row = await proposals.attach(in_id_range(proposal_id), data.filename or "attachment", content)
        return AttachmentPublic.model_validate(row)

    @get("/{proposal_id:int}/attachments", guards=[require("proposals.read")])
    async def list_attachments(self, proposals: ProposalsService, proposal_id: IdPath) -> list[AttachmentPublic]:
        return [AttachmentPublic.model_validate(a) for a in await proposals.attachments(in_id_range(proposal_id))]

    @post("/{proposal_id:int}/assign", guards=[require("proposals.manage")], status_code=HTTP_200_OK)
    async def assign(
        self, proposals: ProposalsService, proposal_id: IdPath, data: RequestBody[AssignInput]
    ) -> list[AssignmentPublic]:
        """Assign TAG reviewers to a proposal in review."""
        rows = await proposals.assign(in_id_range(proposal_id), list(data.reviewer_ids))
        return [AssignmentPublic.model_validate(a) for a in rows]

    @post("/{proposal_id:int}/conflicts", guards=[require("proposals.review")], status_code=HTTP_200_OK)
    async def conflicts(
        self, proposals: ProposalsService, proposal_id: IdPath, data: RequestBody[ConflictDeclaration]
    ) -> AssignmentPublic:
        """The assigned reviewer declares conflicts of interest; a conflict unassigns the reviewer."""
        return AssignmentPublic.model_validate(await proposals.declare(in_id_range(proposal_id), data))

    @post("/{proposal_id:int}/reviews", guards=[require("proposals.review")], status_code=HTTP_201_CREATED)
    async def review(
        self, proposals: ProposalsService, proposal_id: IdPath, data: RequestBody[ReviewIn]
    ) -> ReviewPublic:
        """Score every rubric criterion 0-5 and recommend (after declaring no conflict)."""
        return review_public(await proposals.review(in_id_range(proposal_id), data))

    @get("/{proposal_id:int}/reviews", guards=[require("proposals.read_summary")])
    async def list_reviews(self, proposals: ProposalsService, proposal_id: IdPath) -> list[ReviewPublic]:
        return [review_public(r) for r in await proposals.reviews(in_id_range(proposal_id))]

    @post("/{proposal_id:int}/{action:str}", guards=[require("proposals.read_summary")], status_code=HTTP_200_OK)
    async def act(
        self,
        proposals: ProposalsService,
        proposal_id: IdPath,
        action: FromPath[str],
        data: RequestBody[ActionInput | None] = None,
    ) -> ProposalPublic | ProposalSummary:
        """Take a workflow step (submit, screen, pass, return, reject, recommend, not_recommend, refer,
        withdraw); an undeclared step is 409 with the allowed actions."""
        if action not in workflow.ACTIONS:
            raise InvalidInput(
                f"{action!r} is not a proposal action; actions: {', '.join(sorted(workflow.ACTIONS))}",
                field="action",
                rule="known-action",
            )
        await proposals.act(in_id_range(proposal_id), action, reason=data.reason if data else "")
        return await proposal_view(proposals, await proposals.visible(in_id_range(proposal_id)))


@get(f"{API_PREFIX}/attachments/{{attachment_id:int}}", guards=[require("proposals.read")], tags=["proposals"])
async def download(request: AnyRequest, proposals: ProposalsService, attachment_id: IdPath) -> Response[bytes]:
    """The file, as a download with safe headers."""
    row, data = await proposals.attachment(in_id_range(attachment_id))
    ensure_permission("proposals.read", current_user(request), None)
    return Response(
        data,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{row.filename}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


route_handlers: list[Any] = [CallController, OrganisationController, ProposalController, download]


# ---------------------------------------------------------------- grants


def _figure(figure: rules.Figure, currency: str) -> FigureOut:
    return FigureOut(
        amount=Money.from_minor(figure.amount, currency).to_str(), currency=currency, entry_ids=figure.entry_ids
    )


async def grant_summary(service: Grants, grant: Grant, overdue: int) -> GrantSummary:
    assert grant.id is not None
    organisation = await service.organisation(grant.organisation_id)
    window = await service.session.get(Window, grant.window_id)
    return GrantSummary(
        id=grant.id,
        title=grant.title,
        proposal_id=grant.proposal_id,
        decision_id=grant.decision_id,
        organisation_id=grant.organisation_id,
        organisation_name=organisation.name,
        window_code=window.code if window else "",
        status=grant.status,
        amount=MoneyOut.of(grant.amount, grant.currency),
        start_date=grant.start_date,
        end_date=grant.end_date,
        overdue_reports=overdue,
    )


async def grant_statement(service: Grants, grant_id: int) -> GrantStatement:
    found = await service.statement(grant_id)
    grant, currency, today = found.grant, found.grant.currency, service.today
    overdue = sum(rules.is_overdue(r.status, r.due_on, today) for r in found.reports)
    summary = await grant_summary(service, grant, overdue)
    by_tranche: dict[int, list[Disbursement]] = {}
    for d in found.disbursements:
        by_tranche.setdefault(d.tranche_id, []).append(d)
    tranches = []
    for t in found.tranches:
        assert t.id is not None
        paid_by = [d for d in by_tranche.get(t.id, []) if d.entry_id is not None]
        entries = ([t.recognised_entry_id] if t.recognised_entry_id else []) + [d.entry_id or 0 for d in paid_by]
        tranches.append(
            TranchePublic(
                id=t.id,
                number=t.number,
                amount=MoneyOut.of(t.amount, currency),
                planned_date=t.planned_date,
                condition=t.condition,
                state=rules.tranche_state(t.status, t.paid, t.amount),
                paid=MoneyOut.of(t.paid, currency),
                unpaid=MoneyOut.of(t.amount - t.paid, currency),
                recognised_on=t.recognised_on,
                recognised_entry_id=t.recognised_entry_id,
                met_by_report_id=t.met_by_report_id,
                disbursement_ids=[d.id or 0 for d in by_tranche.get(t.id, [])],
                entry_ids=entries,
            )
        )
    agreement = (
        AgreementPublic(
            signed_on=grant.agreement_signed_on, reference=grant.agreement_reference, entry_id=grant.agreement_entry_id
        )
        if grant.agreement_signed_on is not None
        else None
    )
    open_reports = [r.due_on for r in found.reports if r.status in {"due", "returned"}]
    f = found.figures
    return GrantStatement(
        **summary.model_dump(),
        isc_rate=grant.isc_rate,
        agreement=agreement,
        status_reason=grant.status_reason,
        closed_on=grant.closed_on,
        close_entry_id=grant.close_entry_id,
        allocated=_figure(f["allocated"], currency),
        committed=_figure(f["committed"], currency),
        disbursed=_figure(f["disbursed"], currency),
        refunded=_figure(f["refunded"], currency),
        recognised=_figure(f["recognised"], currency),
        payable=_figure(f["payable"], currency),
        remaining=_figure(f["remaining"], currency),
        reported_expenditure=MoneyOut.of(found.expenditure, currency),
        expenditure_report_id=found.expenditure_report_id,
        delivery_rate=None if found.delivery_rate is None else str(found.delivery_rate),
        tranches=tranches,
        next_report_due=min(open_reports) if open_reports and grant.status != "closed" else None,
        pending_disbursements=found.pending,
        approvals_above=MoneyOut(
            amount=f"{service.settings.charter.second_approver_threshold:.{exponent(currency)}f}", currency=currency
        ),
    )


async def disbursement_public(service: Grants, row: Disbursement) -> DisbursementPublic:
    assert row.id is not None
    tranche = await service.session.get(Tranche, row.tranche_id)
    return DisbursementPublic(
        id=row.id,
        grant_id=row.grant_id,
        tranche_id=row.tranche_id,
        tranche=tranche.number if tranche else 0,
        amount=MoneyOut.of(row.amount, row.currency),
        status=row.status,
        approvals_needed=service.approvals_needed(row),
        reference=row.reference,
        prepared_by=row.prepared_by,
        prepared_at=row.prepared_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        second_approved_by=row.second_approved_by,
        second_approved_at=row.second_approved_at,
        rejected_by=row.rejected_by,
        rejected_at=row.rejected_at,
        rejection_reason=row.rejection_reason,
        entry_id=row.entry_id,
    )


async def report_public(service: Grants, row: GrantReport) -> ReportPublic:
    assert row.id is not None
    grant = await service.session.get(Grant, row.grant_id)
    currency = grant.currency if grant else service.currency
    met = (
        await service.session.execute(select(col(Tranche.number)).where(col(Tranche.met_by_report_id) == row.id))
    ).scalar_one_or_none()
    return ReportPublic(
        id=row.id,
        grant_id=row.grant_id,
        number=row.number,
        kind=row.kind,
        period_start=row.period_start,
        period_end=row.period_end,
        due_on=row.due_on,
        status=row.status,
        overdue=rules.is_overdue(row.status, row.due_on, service.today),
        narrative=row.narrative,
        indicators=json.loads(row.indicators),
        expenditure=[
            ExpenditurePublic(category=e["category"], amount=MoneyOut.of(int(e["minor"]), currency))
            for e in json.loads(row.expenditure)
        ],
        expenditure_total=MoneyOut.of(row.expenditure_total, currency),
        submitted_by=row.submitted_by,
        submitted_at=row.submitted_at,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        review_note=row.review_note,
        recognised_tranche=met,
    )


def refund_public(row: Refund) -> RefundPublic:
    assert row.id is not None and row.entry_id is not None
    return RefundPublic(
        id=row.id,
        grant_id=row.grant_id,
        amount=MoneyOut.of(row.amount, row.currency),
        received_on=row.received_on,
        reference=row.reference,
        entry_id=row.entry_id,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


def _status(replayed: bool, created: int = HTTP_200_OK) -> int:
    return HTTP_200_OK if replayed else created


class GrantController(Controller):
    path = f"{API_PREFIX}/grants"
    tags = ["grants"]

    @get("/", guards=[require("grants.read")])
    async def list_grants(
        self,
        request: AnyRequest,
        db_session: Db,
        grants: GrantsService,
        limit: Limit = 50,
        offset: Offset = 0,
        window: Annotated[str | None, QueryParameter(max_length=16)] = None,
        in_status: Annotated[str | None, QueryParameter(name="status", max_length=20)] = None,
        organisation_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        overdue: Annotated[bool, QueryParameter(description="only grants with an overdue report")] = False,
    ) -> Page[GrantSummary]:
        """Grants visible to the caller (a grantee: its own organisation's), filterable by window, status,
        organisation and overdue reports."""
        user = current_user(request)
        conditions: list[Any] = []
        if window:
            conditions.append(col(Grant.window_id).in_(select(col(Window.id)).where(col(Window.code) == window)))
        if in_status:
            if in_status not in {s.value for s in GrantStatus}:
                raise InvalidInput(f"{in_status!r} is not a grant status", field="status", rule="known-status")
            conditions.append(col(Grant.status) == in_status)
        if organisation_id is not None:
            conditions.append(col(Grant.organisation_id) == organisation_id)
        if overdue:
            conditions.append(
                col(Grant.id).in_(
                    select(col(GrantReport.grant_id)).where(
                        col(GrantReport.status).in_(["due", "returned"]), col(GrantReport.due_on) < grants.today
                    )
                )
            )
        conditions.append(GRANTS.where(user))  # the rows of the pair whose predicate reads one grant
        total, rows = await paginate(db_session, Grant, conditions, col(Grant.id), limit=limit, offset=offset)
        counts = await grants.overdue_counts([g.id for g in rows if g.id is not None])
        return Page[GrantSummary](
            items=[await grant_summary(grants, g, counts.get(g.id or 0, 0)) for g in rows],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get("/{grant_id:int}", guards=[require("grants.read")])
    async def get_grant(self, grants: GrantsService, grant_id: IdPath) -> GrantStatement:
        """The grant statement: amount, allocated, committed, disbursed, refunded, recognised, payable, remaining
        (each with the journal entries behind it, read from the ledger's grant dimension), reported
        expenditure and delivery rate, and each tranche's state."""
        return await grant_statement(grants, in_id_range(grant_id))

    @post("/{grant_id:int}/agreement", guards=[require("grants.manage")], status_code=HTTP_200_OK)
    async def agreement(
        self,
        grants: GrantsService,
        grant_id: IdPath,
        data: RequestBody[AgreementIn],
        idempotency_key: IdempotencyKey = None,
    ) -> GrantStatement:
        """Record the signed grant agreement: the grant is committed, and its tranches without a condition
        are recognised as expense and grants payable."""
        await grants.sign_agreement(in_id_range(grant_id), data, idempotency_key=idempotency_key)
        return await grant_statement(grants, in_id_range(grant_id))

    @post("/{grant_id:int}/suspend", guards=[require("grants.manage")], status_code=HTTP_200_OK)
    async def suspend(self, grants: GrantsService, grant_id: IdPath, data: RequestBody[GrantAction]) -> GrantStatement:
        """Suspend an active grant (a written reason): no transfer is prepared or approved until resumed."""
        await grants.suspend(in_id_range(grant_id), data)
        return await grant_statement(grants, in_id_range(grant_id))

    @post("/{grant_id:int}/resume", guards=[require("grants.manage")], status_code=HTTP_200_OK)
    async def resume(self, grants: GrantsService, grant_id: IdPath, data: RequestBody[GrantAction]) -> GrantStatement:
        await grants.resume(in_id_range(grant_id), data)
        return await grant_statement(grants, in_id_range(grant_id))

    @post("/{grant_id:int}/close", guards=[require("grants.manage")], status_code=HTTP_200_OK)
    async def close(
        self,
        grants: GrantsService,
        grant_id: IdPath,
        data: RequestBody[GrantAction | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> GrantStatement:
        """Close the grant after its final report is accepted: the unused commitment goes back to the window's
        available funds, unpaid recognised tranches are reversed, and no more money moves."""
        await grants.close(in_id_range(grant_id), data or GrantAction(), idempotency_key=idempotency_key)
        return await grant_statement(grants, in_id_range(grant_id))

    @post("/{grant_id:int}/disbursements", guards=[require("grants.prepare")], status_code=HTTP_201_CREATED)
    async def prepare(
        self,
        grants: GrantsService,
        grant_id: IdPath,
        data: RequestBody[DisbursementCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[DisbursementPublic]:
        """Prepare a transfer of a recognised tranche (finance officer); it moves money once approved by a
        different finance approver (two above the charter's threshold)."""
        done = await grants.prepare_disbursement(in_id_range(grant_id), data, idempotency_key=idempotency_key)
        return Response(
            await disbursement_public(grants, done.value), status_code=_status(done.replayed, HTTP_201_CREATED)
        )

    @get("/{grant_id:int}/disbursements", guards=[require("grants.read")])
    async def list_disbursements(self, grants: GrantsService, grant_id: IdPath) -> list[DisbursementPublic]:
        return [await disbursement_public(grants, d) for d in await grants.disbursements(in_id_range(grant_id))]

    @get("/{grant_id:int}/reports", guards=[require("grants.read")])
    async def list_reports(self, grants: GrantsService, grant_id: IdPath) -> list[ReportPublic]:
        """The grant's report schedule: each report's period, due date, status and whether it is overdue."""
        return [await report_public(grants, r) for r in await grants.reports(in_id_range(grant_id))]

    @post("/{grant_id:int}/reports", guards=[require("grants.report")], status_code=HTTP_200_OK)
    async def submit_report(
        self, grants: GrantsService, grant_id: IdPath, data: RequestBody[ReportSubmit]
    ) -> ReportPublic:
        """The grantee submits a scheduled report: narrative, indicator values against the results framework
        and cumulative expenditure by budget category."""
        return await report_public(grants, await grants.submit_report(in_id_range(grant_id), data))

    @post("/{grant_id:int}/reports/{report_id:int}/accept", guards=[require("grants.manage")], status_code=HTTP_200_OK)
    async def accept_report(
        self,
        grants: GrantsService,
        grant_id: IdPath,
        report_id: IdPath,
        data: RequestBody[ReportReview | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ReportPublic:
        """Accept a submitted report; it meets the condition of the next conditional tranche, which is then
        recognised."""
        done = await grants.accept_report(
            in_id_range(grant_id), in_id_range(report_id), data or ReportReview(), idempotency_key=idempotency_key
        )
        return await report_public(grants, done.value)

    @post("/{grant_id:int}/reports/{report_id:int}/return", guards=[require("grants.manage")], status_code=HTTP_200_OK)
    async def return_report(
        self, grants: GrantsService, grant_id: IdPath, report_id: IdPath, data: RequestBody[RejectIn]
    ) -> ReportPublic:
        """Return a submitted report to the grantee for changes, with a reason."""
        return await report_public(
            grants, await grants.return_report(in_id_range(grant_id), in_id_range(report_id), data)
        )

    @post("/{grant_id:int}/refunds", guards=[require("grants.refund")], status_code=HTTP_201_CREATED)
    async def refund(
        self,
        grants: GrantsService,
        grant_id: IdPath,
        data: RequestBody[RefundCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[RefundPublic]:
        """Record money returned by the grantee (at most what it holds of the transfers)."""
        done = await grants.record_refund(in_id_range(grant_id), data, idempotency_key=idempotency_key)
        return Response(refund_public(done.value), status_code=_status(done.replayed, HTTP_201_CREATED))

    @get("/{grant_id:int}/refunds", guards=[require("grants.read")])
    async def list_refunds(self, grants: GrantsService, grant_id: IdPath) -> list[RefundPublic]:
        return [refund_public(r) for r in await grants.refunds(in_id_range(grant_id))]


class DisbursementController(Controller):
    path = f"{API_PREFIX}/disbursements"
    tags = ["grants"]

    @get("/{disbursement_id:int}", guards=[require("grants.read")])
    async def get_disbursement(self, grants: GrantsService, disbursement_id: IdPath) -> DisbursementPublic:
        return await disbursement_public(grants, await grants.disbursement(in_id_range(disbursement_id)))

    @post("/{disbursement_id:int}/approve", guards=[require("grants.approve")], status_code=HTTP_200_OK)
    async def approve(
        self, grants: GrantsService, disbursement_id: IdPath, idempotency_key: IdempotencyKey = None
    ) -> DisbursementPublic:
        """Approve a prepared transfer (a finance approver who did not prepare it). Above the charter's threshold
        a second, different approver must approve too; the last approval posts the transfer."""
        done = await grants.approve_disbursement(in_id_range(disbursement_id), idempotency_key=idempotency_key)
        return await disbursement_public(grants, done.value)

    @post("/{disbursement_id:int}/reject", guards=[require("grants.approve")], status_code=HTTP_200_OK)
    async def reject(
        self, grants: GrantsService, disbursement_id: IdPath, data: RequestBody[RejectIn]
    ) -> DisbursementPublic:
        """Reject a prepared transfer, with a reason; nothing is posted."""
        return await disbursement_public(grants, await grants.reject_disbursement(in_id_range(disbursement_id), data))


route_handlers += [GrantController, DisbursementController]
