"""Proposals HTTP API, first half: calls, organisations, proposals and their workflow, endorsements,
attachments, and TAG review."""

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
from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.api import API_PREFIX, AnyRequest, Limit, Offset, clock_of, in_id_range, paginate, settings_of
from fundapp.core.errors import InvalidInput
from fundapp.core.schemas import INT32_MAX, Page
from fundapp.core.security import Principal, current_user, ensure_permission, require
from governance.models import Window
from ledger import MoneyOut
from proposals import rules, workflow
from proposals.models import Assignment, Call, Organisation, Proposal, ProposalCountry

# Importing the permissions module registers the proposals' actions.
from proposals.permissions import DECIDED_OR_DECIDING, OVERSIGHT
from proposals.schemas import (
    ActionInput,
    AssignInput,
    AssignmentPublic,
    AttachmentPublic,
    CallCreate,
    CallPublic,
    ConflictDeclaration,
    DueDiligenceSet,
    EndorsementIn,
    EndorsementPublic,
    OrganisationCreate,
    OrganisationPublic,
    ProposalCreate,
    ProposalPublic,
    ProposalSummary,
    ProposalUpdate,
    ReviewIn,
    ReviewPublic,
    TransitionPublic,
)
from proposals.service import MAX_ATTACHMENT_BYTES, Proposals, Visible

Db = NamedDependency[AsyncSession]
IdPath = FromPath[int]


def proposals_for(request: AnyRequest, session: AsyncSession) -> Proposals:
    return Proposals(session, settings=settings_of(request), user=current_user(request), now=clock_of(request).now())


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
    async def create_call(self, request: AnyRequest, db_session: Db, data: RequestBody[CallCreate]) -> CallPublic:
        service = proposals_for(request, db_session)
        return await call_public(db_session, await service.create_call(data), service.now, service.currency)

    @get("/{call_id:int}", guards=[require("calls.read")])
    async def get_call(self, request: AnyRequest, db_session: Db, call_id: IdPath) -> CallPublic:
        service = proposals_for(request, db_session)
        return await call_public(
            db_session, await service.call(in_id_range(call_id), field_name="call_id"), service.now, service.currency
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
    async def create(
        self, request: AnyRequest, db_session: Db, data: RequestBody[OrganisationCreate]
    ) -> OrganisationPublic:
        return OrganisationPublic.model_validate(await proposals_for(request, db_session).create_organisation(data))

    @get("/{organisation_id:int}", guards=[require("organisations.read")])
    async def get_organisation(
        self, request: AnyRequest, db_session: Db, organisation_id: IdPath
    ) -> OrganisationPublic:
        return OrganisationPublic.model_validate(
            await proposals_for(request, db_session).organisation(in_id_range(organisation_id))
        )

    @post("/{organisation_id:int}/due-diligence", guards=[require("proposals.manage")], status_code=HTTP_200_OK)
    async def due_diligence(
        self, request: AnyRequest, db_session: Db, organisation_id: IdPath, data: RequestBody[DueDiligenceSet]
    ) -> OrganisationPublic:
        """Record the secretariat's due-diligence outcome (pending, cleared, refused)."""
        return OrganisationPublic.model_validate(
            await proposals_for(request, db_session).set_due_diligence(in_id_range(organisation_id), data)
        )


# ---------------------------------------------------------------- proposals


async def _visible_ids(service: Proposals, user: Principal, conditions: list[Any]) -> Any:
    """The proposals this user may list (the same rules as reading one)."""
    if user.has_role(*OVERSIGHT):
        return conditions  # the secretariat and auditors read every proposal
    visible: list[Any] = []
    if user.has_role(workflow.R.GRANTEE):
        visible.append(col(Proposal.organisation_id) == (user.organisation_id or 0))
    if user.has_role(workflow.R.TAG_REVIEWER):
        visible.append(
            col(Proposal.id).in_(
                select(col(Assignment.proposal_id)).where(
                    col(Assignment.reviewer_id) == user.id,
                    col(Assignment.status).in_(["assigned", "declared", "reviewed"]),
                )
            )
        )
    if user.has_role(workflow.R.MEMBER_DELEGATE):
        visible.append(col(Proposal.state).in_([s.value for s in DECIDED_OR_DECIDING]))
        visible.append(
            col(Proposal.id).in_(
                select(col(ProposalCountry.proposal_id)).where(col(ProposalCountry.country) == (user.member_code or ""))
            )
        )
    return [*conditions, or_(*visible) if visible else false()]


class ProposalController(Controller):
    path = f"{API_PREFIX}/proposals"
    tags = ["proposals"]

    @get("/", guards=[require("proposals.read")])
    async def list_proposals(
        self,
        request: AnyRequest,
        db_session: Db,
        limit: Limit = 50,
        offset: Offset = 0,
        window: Annotated[str | None, QueryParameter(max_length=16)] = None,
        call_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        in_state: Annotated[str | None, QueryParameter(name="state", max_length=20)] = None,
        country: Annotated[str | None, QueryParameter(pattern=r"^[A-Z]{3}$")] = None,
        organisation_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
    ) -> Page[ProposalSummary]:
        """Proposals visible to the caller, filterable by window, call, state, country and organisation."""
        service = proposals_for(request, db_session)
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
        conditions = await _visible_ids(service, current_user(request), conditions)
        total, rows = await paginate(db_session, Proposal, conditions, col(Proposal.id), limit=limit, offset=offset)
        items = []
        for proposal in rows:
            seen = Visible(proposal, await service.facts(proposal), False)
            view = await proposal_view(service, seen)
            items.append(ProposalSummary.model_validate(view.model_dump()))
        return Page[ProposalSummary](items=items, total=total, limit=limit, offset=offset)

    @post("/", guards=[require("proposals.create")], status_code=HTTP_201_CREATED)
    async def create(self, request: AnyRequest, db_session: Db, data: RequestBody[ProposalCreate]) -> ProposalPublic:
        """Start a draft for the grantee's organisation under a call."""
        service = proposals_for(request, db_session)
        proposal = await service.create(data.call_id, data.content)
        view = await proposal_view(service, await service.visible(proposal.id or 0))
        assert isinstance(view, ProposalPublic)
        return view

    @get("/{proposal_id:int}", guards=[require("proposals.read_summary")])
    async def get_proposal(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath
    ) -> ProposalSummary | ProposalPublic:
        """The full proposal, or its summary for an assigned reviewer who has not yet declared conflicts."""
        service = proposals_for(request, db_session)
        return await proposal_view(service, await service.visible(in_id_range(proposal_id)))

    @put("/{proposal_id:int}", guards=[require("proposals.edit")])
    async def update(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath, data: RequestBody[ProposalUpdate]
    ) -> ProposalPublic:
        """Replace a draft's (or returned proposal's) content."""
        service = proposals_for(request, db_session)
        await service.update(in_id_range(proposal_id), data.content)
        view = await proposal_view(service, await service.visible(in_id_range(proposal_id)))
        assert isinstance(view, ProposalPublic)
        return view

    @get("/{proposal_id:int}/history", guards=[require("proposals.read_summary")])
    async def history(self, request: AnyRequest, db_session: Db, proposal_id: IdPath) -> list[TransitionPublic]:
        return [
            TransitionPublic.model_validate(t)
            for t in await proposals_for(request, db_session).history(in_id_range(proposal_id))
        ]

    @get("/{proposal_id:int}/submission-check", guards=[require("proposals.read")])
    async def submission_check(self, request: AnyRequest, db_session: Db, proposal_id: IdPath) -> dict[str, Any]:
        """Which submission rules the proposal currently breaks (none means it can be submitted)."""
        service = proposals_for(request, db_session)
        problems = await service.submission_problems((await service.full(in_id_range(proposal_id))).proposal)
        return {"ready": not problems, "errors": [p.as_dict() for p in problems]}

    @post("/{proposal_id:int}/endorsements", guards=[require("proposals.endorse")], status_code=HTTP_200_OK)
    async def endorse(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath, data: RequestBody[EndorsementIn]
    ) -> EndorsementPublic:
        """A member's delegate endorses or declines for its country; the secretariat records a non-member
        country's letter."""
        return EndorsementPublic.model_validate(
            await proposals_for(request, db_session).endorse(in_id_range(proposal_id), data)
        )

    @get("/{proposal_id:int}/endorsements", guards=[require("proposals.read_summary")])
    async def list_endorsements(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath
    ) -> list[EndorsementPublic]:
        service = proposals_for(request, db_session)
        await service.full(in_id_range(proposal_id))  # endorsements belong to the full view, not the summary
        return [EndorsementPublic.model_validate(e) for e in await service.endorsements(in_id_range(proposal_id))]

    @post(
        "/{proposal_id:int}/attachments",
        guards=[require("proposals.read")],
        status_code=HTTP_201_CREATED,
        request_max_body_size=MAX_ATTACHMENT_BYTES + 64 * 1024,
    )
    async def attach(
        self,
        request: AnyRequest,
        db_session: Db,
        proposal_id: IdPath,
        data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> AttachmentPublic:
        """Upload a PDF, DOCX, XLSX, PNG or JPEG (checked by content, at most 10 MiB) as a multipart ``data``."""
        content = await data.read()
        row = await proposals_for(request, db_session).attach(
            in_id_range(proposal_id), data.filename or "attachment", content
        )
        return AttachmentPublic.model_validate(row)

    @get("/{proposal_id:int}/attachments", guards=[require("proposals.read")])
    async def list_attachments(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath
    ) -> list[AttachmentPublic]:
        return [
            AttachmentPublic.model_validate(a)
            for a in await proposals_for(request, db_session).attachments(in_id_range(proposal_id))
        ]

    @post("/{proposal_id:int}/assign", guards=[require("proposals.manage")], status_code=HTTP_200_OK)
    async def assign(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath, data: RequestBody[AssignInput]
    ) -> list[AssignmentPublic]:
        """Assign TAG reviewers to a proposal in review."""
        rows = await proposals_for(request, db_session).assign(in_id_range(proposal_id), list(data.reviewer_ids))
        return [AssignmentPublic.model_validate(a) for a in rows]

    @post("/{proposal_id:int}/conflicts", guards=[require("proposals.review")], status_code=HTTP_200_OK)
    async def conflicts(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath, data: RequestBody[ConflictDeclaration]
    ) -> AssignmentPublic:
        """The assigned reviewer declares conflicts of interest; a conflict unassigns the reviewer."""
        return AssignmentPublic.model_validate(
            await proposals_for(request, db_session).declare(in_id_range(proposal_id), data)
        )

    @post("/{proposal_id:int}/reviews", guards=[require("proposals.review")], status_code=HTTP_201_CREATED)
    async def review(
        self, request: AnyRequest, db_session: Db, proposal_id: IdPath, data: RequestBody[ReviewIn]
    ) -> ReviewPublic:
        """Score every rubric criterion 0-5 and recommend (after declaring no conflict)."""
        return review_public(await proposals_for(request, db_session).review(in_id_range(proposal_id), data))

    @get("/{proposal_id:int}/reviews", guards=[require("proposals.read_summary")])
    async def list_reviews(self, request: AnyRequest, db_session: Db, proposal_id: IdPath) -> list[ReviewPublic]:
        return [review_public(r) for r in await proposals_for(request, db_session).reviews(in_id_range(proposal_id))]

    @post("/{proposal_id:int}/{action:str}", guards=[require("proposals.read_summary")], status_code=HTTP_200_OK)
    async def act(
        self,
        request: AnyRequest,
        db_session: Db,
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
        service = proposals_for(request, db_session)
        await service.act(in_id_range(proposal_id), action, reason=data.reason if data else "")
        return await proposal_view(service, await service.visible(in_id_range(proposal_id)))


@get(f"{API_PREFIX}/attachments/{{attachment_id:int}}", guards=[require("proposals.read")], tags=["proposals"])
async def download(request: AnyRequest, db_session: Db, attachment_id: IdPath) -> Response[bytes]:
    """The file, as a download with safe headers."""
    row, data = await proposals_for(request, db_session).attachment(in_id_range(attachment_id))
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
