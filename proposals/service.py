"""Proposals services, first half: the only code that writes calls, organisations, proposals, their
endorsements, attachments, transitions, assignments and reviews. Every change is audited; every state
change goes through the workflow table of ``proposals/workflow.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.chain import canonical_json
from fundapp.core.config import Settings
from fundapp.core.errors import Conflict, FieldError, Gone, InvalidInput, NotFound, PermissionDenied
from fundapp.core.models import Role, User, UserRole
from fundapp.core.security import Principal, ensure_permission, has_permission
from fundapp.core.unit import Service, Unit
from governance import Member, Window
from ledger import Money, money_in, to_money
from proposals import rules, workflow
from proposals.models import (
    Assignment,
    Attachment,
    Call,
    DueDiligence,
    Endorsement,
    EndorsementDecision,
    Organisation,
    Proposal,
    ProposalCountry,
    ProposalVersion,
    Review,
    Transition,
)
from proposals.permissions import REVIEWS, ProposalFacts, ReviewFacts
from proposals.schemas import (
    CallCreate,
    ConflictDeclaration,
    DueDiligenceSet,
    EndorsementIn,
    OrganisationCreate,
    ProposalContent,
    ReviewIn,
)
from proposals.workflow import Guard, State

log = logging.getLogger("fundapp.proposals")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


# What another domain adds to a proposal's own actions (the shell joins hooks in ``fundapp.wiring``). A hook
# takes the unit, the proposal and the action: ``edit`` before its content is changed through the proposal's
# own endpoints (the hook may refuse with a DomainError naming field and rule: nothing is written), or a
# workflow step's action once it is taken (the hook may follow it in the same transaction). Concessional
# refuses editing a financing request's proposal (the request is the source of its content) and makes the
# request's status follow its proposal's rejection at screening or its withdrawal.
ProposalHook = Callable[[Unit, Proposal, str], Awaitable[None]]
_proposal_hooks: list[ProposalHook] = []


def register_proposal_hook(hook: ProposalHook) -> None:
    """Add a hook on proposals' edits and workflow steps (registering the same hook again changes nothing)."""
    if hook not in _proposal_hooks:
        _proposal_hooks.append(hook)


def rubric_of(call: Call) -> list[tuple[str, int]]:
    return [(c["key"], int(c["weight"])) for c in json.loads(call.rubric)]


@dataclass(frozen=True, slots=True)
class Visible:
    """A proposal and how much of it the asker may see."""

    proposal: Proposal
    facts: ProposalFacts
    full: bool


class Proposals(Service):
    """Operations on calls, organisations, proposals and reviews, bound to one session and one user."""

    def __init__(self, session: AsyncSession, *, settings: Settings, user: Principal | None, now: datetime) -> None:
        self.bind(Unit(session, settings, user, now))

    @property
    def currency(self) -> str:
        return self.settings.reporting_currency

    async def _audit(self, action: str, object_type: str, object_id: object, **after: Any) -> None:
        await self.unit.audit(action, object_type, object_id, after=after)

    # ---------------------------------------------------------------- calls

    async def create_call(self, data: CallCreate) -> Call:
        window = (
            await self.session.execute(select(Window).where(col(Window.code) == data.window_code))
        ).scalar_one_or_none()
        if window is None or window.id is None:
            raise NotFound(f"no window with code {data.window_code!r}", field="window_code", rule="window-exists")
        if window.status != "open":
            raise InvalidInput(f"window {window.code} is closed", field="window_code", rule="window-open")
        envelope, low, high = (
            money_in(value, self.currency, name)
            for name, value in (
                ("envelope", data.envelope),
                ("min_grant", data.min_grant),
                ("max_grant", data.max_grant),
            )
        )
        errors = []
        if not low.is_positive or not low <= high:
            errors.append(FieldError("min_grant", "grant-limits", "0 < minimum grant <= maximum grant"))
        if not high <= envelope:
            errors.append(FieldError("max_grant", "within-envelope", "the maximum grant fits in the envelope"))
        if errors:
            raise InvalidInput("the call's amounts are inconsistent", errors=errors)
        call = Call(
            window_id=window.id,
            title=data.title,
            description=data.description,
            opens_at=data.opens_at,
            closes_at=data.closes_at,
            envelope=envelope.minor,
            min_grant=low.minor,
            max_grant=high.minor,
            eligible_types=",".join(sorted(t.value for t in data.eligible_types)),
            eligible_countries=",".join(sorted(data.eligible_countries)),
            rubric=canonical_json([c.model_dump() for c in data.rubric]),
            reviews_required=data.reviews_required,
            created_at=self.now,
        )
        self.session.add(call)
        await self.session.flush()
        await self._audit("call.create", "call", call.id, title=data.title, window=data.window_code)
        return call

    async def call(self, call_id: int, *, field_name: str = "call_id") -> Call:
        found = await self.session.get(Call, call_id)
        if found is None:
            raise NotFound(f"no call with id {call_id}", field=field_name, rule="call-exists")
        return found

    # ---------------------------------------------------------------- organisations

    async def create_organisation(self, data: OrganisationCreate) -> Organisation:
        organisation = Organisation(
            name=data.name,
            type=data.type.value,
            country=data.country,
            registration=data.registration,
            due_diligence=DueDiligence.PENDING.value,
            created_at=self.now,
        )
        self.session.add(organisation)
        await self.session.flush()
        await self._audit("organisation.create", "organisation", organisation.id, name=data.name, type=data.type)
        return organisation

    async def organisation(self, organisation_id: int) -> Organisation:
        found = await self.session.get(Organisation, organisation_id)
        if found is None:
            raise NotFound(f"no organisation with id {organisation_id}")
        return found

    async def set_due_diligence(self, organisation_id: int, data: DueDiligenceSet) -> Organisation:
        organisation = await self.organisation(organisation_id)
        before = organisation.due_diligence
        organisation.due_diligence = data.status.value
        organisation.due_diligence_note = data.note
        self.session.add(organisation)
        await self.session.flush()
        await self.unit.audit(
            "organisation.due_diligence",
            "organisation",
            organisation_id,
            before={"due_diligence": before},
            after={"due_diligence": data.status.value},
        )
        return organisation

    # ---------------------------------------------------------------- visibility

    async def facts(self, proposal: Proposal) -> ProposalFacts:
        return await proposal_facts(self.session, self.user, proposal)

    async def visible(self, proposal_id: int) -> Visible:
        """The proposal if the user may see it (fully, or its summary); otherwise 404, so that ids of
        proposals one may not see reveal nothing."""
        proposal = await self.session.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFound(f"no proposal with id {proposal_id}")
        facts = await self.facts(proposal)
        if has_permission("proposals.read", self.user, facts)[0]:
            return Visible(proposal, facts, True)
        if has_permission("proposals.read_summary", self.user, facts)[0]:
            return Visible(proposal, facts, False)
        raise NotFound(f"no proposal with id {proposal_id}")

    async def full(self, proposal_id: int) -> Visible:
        seen = await self.visible(proposal_id)
        if not seen.full:
            raise PermissionDenied(
                "declare your conflicts of interest before reading the full proposal", rule="declare-conflicts-first"
            )
        return seen

    # ---------------------------------------------------------------- drafting

    async def _set_content(self, proposal: Proposal, content: ProposalContent) -> None:
        assert proposal.id is not None
        proposal.content = canonical_json(content.model_dump(mode="json"))
        proposal.title = content.title
        proposal.requested = to_money(content.requested_amount, self.currency).minor
        proposal.gender_marker = content.gender_marker
        proposal.updated_at = self.now
        existing = (
            (await self.session.execute(select(ProposalCountry).where(col(ProposalCountry.proposal_id) == proposal.id)))
            .scalars()
            .all()
        )
        for row in existing:
            await self.session.delete(row)
        await self.session.flush()
        for share in content.countries:
            basis_points = int(Fraction(share.share) * 100)
            self.session.add(ProposalCountry(proposal_id=proposal.id, country=share.country, share_bp=basis_points))
        self.session.add(proposal)
        await self.session.flush()

    async def create(self, call_id: int, content: ProposalContent) -> Proposal:
        user = self._require_user()
        ensure_permission("proposals.create", user)
        if user.organisation_id is None:
            raise PermissionDenied("a grantee account must belong to an organisation", rule="grantee-organisation")
        if await self.session.get(Organisation, user.organisation_id) is None:
            raise PermissionDenied(
                f"your account's organisation {user.organisation_id} does not exist", rule="grantee-organisation"
            )
        call = await self.call(call_id)
        to_money(content.requested_amount, self.currency)
        proposal = Proposal(
            organisation_id=user.organisation_id,
            call_id=call_id,
            window_id=call.window_id,
            state=State.DRAFT.value,
            title=content.title,
            requested=0,
            gender_marker=0,
            content="{}",
            created_by=user.id,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(proposal)
        await self.session.flush()
        await self._set_content(proposal, content)
        await self._audit("proposal.create", "proposal", proposal.id, call_id=call_id, title=content.title)
        return proposal

    async def update(self, proposal_id: int, content: ProposalContent, *, own_edit: bool = True) -> Proposal:
        """Edit a draft or returned proposal. ``own_edit``: through the proposal's own endpoints, which the
        hooks may refuse; another domain that is the source of the content (a financing request) passes False."""
        seen = await self.full(proposal_id)
        ensure_permission("proposals.edit", self.user, seen.facts)
        if seen.proposal.state not in workflow.EDITABLE:
            raise Conflict(
                f"a proposal is edited only as a draft or when returned for information, not when "
                f"{seen.proposal.state}",
                field="state",
                rule="editable-state",
            )
        if own_edit:
            for hook in _proposal_hooks:
                await hook(self.unit, seen.proposal, "edit")
        await self._set_content(seen.proposal, content)
        await self._audit("proposal.edit", "proposal", proposal_id, title=content.title)
        return seen.proposal

    def content_of(self, proposal: Proposal) -> ProposalContent:
        return ProposalContent.model_validate_json(proposal.content)

    # ---------------------------------------------------------------- workflow

    def _require_user(self) -> Principal:
        if self.user is None:
            raise PermissionDenied("this step needs a person")
        return self.user

    async def act(self, proposal_id: int, action: str, *, reason: str = "") -> Proposal:
        """Take one workflow step, if the table allows it for this user, state and guards."""
        user = self._require_user()
        seen = await self.visible(proposal_id)
        proposal = seen.proposal
        step = workflow.step(proposal.state, action)
        if step is None:
            allowed = workflow.allowed_actions(proposal.state, user.roles)
            raise Conflict(
                f"{action!r} is not possible from {proposal.state}; allowed: {', '.join(allowed) or 'none'}",
                field="action",
                rule="declared-transition",
                allowed_actions=allowed,
                state=proposal.state,
            )
        if not step.roles & user.roles:
            who = ", ".join(sorted(r.value for r in step.roles)) or "the members' decision only"
            raise PermissionDenied(f"{action!r} requires: {who}", rule="transition-role")
        await self._check_guards(step, proposal, seen.facts, reason)
        await self._move(proposal, step, reason)
        return proposal

    async def _check_guards(self, step: workflow.Step, proposal: Proposal, facts: ProposalFacts, reason: str) -> None:
        user = self._require_user()
        for guard in step.guards:
            if guard == Guard.OWN_ORGANISATION and user.organisation_id != facts.organisation_id:
                raise PermissionDenied("only the proposal's own organisation may do this", rule="own-organisation")
            if guard == Guard.REASON and not reason.strip():
                raise InvalidInput(f"{step.action!r} needs a written reason", field="reason", rule="reason-required")
            if guard == Guard.SUBMISSION_RULES:
                problems = await self.submission_problems(proposal)
                if problems:
                    raise InvalidInput(
                        "the proposal cannot be submitted yet: " + "; ".join(p.message for p in problems),
                        errors=problems,
                    )
            if guard == Guard.REVIEWS_COMPLETE:
                call = await self.call(proposal.call_id)
                done = await self._review_count(proposal)
                if done < call.reviews_required:
                    raise Conflict(
                        f"{done} of the {call.reviews_required} required reviews are in",
                        field="reviews",
                        rule="reviews-complete",
                    )
            if guard == Guard.DECISION:
                raise PermissionDenied("only the member states' decision takes this step", rule="decision-only")

    async def _move(self, proposal: Proposal, step: workflow.Step, reason: str) -> None:
        assert proposal.id is not None
        before = proposal.state
        if step.action == "submit":
            proposal.version += 1
            self.session.add(
                ProposalVersion(
                    proposal_id=proposal.id,
                    version=proposal.version,
                    content=proposal.content,
                    submitted_by=self.actor.user_id,
                    submitted_at=self.now,
                )
            )
        if step.action in {"recommend", "not_recommend"}:
            proposal.tag_recommendation = step.to.value
            proposal.tag_justification = reason
            proposal.consolidated_score = await self._consolidate(proposal)
        proposal.state = step.to.value
        proposal.updated_at = self.now
        self.session.add(proposal)
        self.session.add(
            Transition(
                proposal_id=proposal.id,
                action=step.action,
                from_state=before,
                to_state=step.to.value,
                reason=reason,
                actor_id=self.actor.user_id,
                at=self.now,
            )
        )
        await self.session.flush()
        await self.unit.audit(
            f"proposal.{step.action}",
            "proposal",
            proposal.id,
            before={"state": before},
            after={"state": proposal.state, "version": proposal.version, "reason": reason},
        )
        for hook in _proposal_hooks:
            await hook(self.unit, proposal, step.action)

    async def decide(self, proposal_id: int, *, approved: bool, reason: str) -> Proposal:
        """The members' decision on a proposal under decision (called by governance, in its transaction)."""
        proposal = await self.session.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFound(f"no proposal with id {proposal_id}")
        step = workflow.step(proposal.state, "approve" if approved else "decline")
        if step is None:
            raise Conflict(f"proposal {proposal_id} is {proposal.state}, not under decision", rule="under-decision")
        await self._move(proposal, step, reason)
        return proposal

    async def history(self, proposal_id: int) -> list[Transition]:
        await self.full(proposal_id)
        return list(
            (
                await self.session.execute(
                    select(Transition).where(col(Transition.proposal_id) == proposal_id).order_by(col(Transition.id))
                )
            ).scalars()
        )

    # ---------------------------------------------------------------- submission rules

    async def submission_problems(self, proposal: Proposal) -> list[FieldError]:
        call = await self.call(proposal.call_id)
        organisation = await self.organisation(proposal.organisation_id)
        endorsed = (
            await self.session.execute(
                select(col(Endorsement.country)).where(
                    col(Endorsement.proposal_id) == proposal.id,
                    col(Endorsement.decision) == EndorsementDecision.ENDORSED.value,
                )
            )
        ).scalars()
        terms = rules.CallTerms(
            opens_at=call.opens_at,
            closes_at=call.closes_at,
            min_grant=call.min_grant,
            max_grant=call.max_grant,
            eligible_types=frozenset(filter(None, call.eligible_types.split(","))),
            eligible_countries=frozenset(filter(None, call.eligible_countries.split(","))),
        )
        applicant = rules.Applicant(organisation.type, organisation.country, organisation.due_diligence)
        return rules.submission_problems(
            content=self.content_of(proposal),
            terms=terms,
            applicant=applicant,
            now=self.now,
            isc_rate_cap=self.settings.charter.indirect_support_cost_cap,
            currency=self.currency,
            endorsed=set(endorsed),
        )

    # ---------------------------------------------------------------- endorsement

    async def endorse(self, proposal_id: int, data: EndorsementIn) -> Endorsement:
        user = self._require_user()
        seen = await self.visible(proposal_id)
        proposal = seen.proposal
        if data.country not in seen.facts.countries:
            raise InvalidInput(
                f"{data.country} is not among the proposal's countries", field="country", rule="country-concerned"
            )
        if proposal.state not in workflow.EDITABLE:
            raise Conflict("endorsements are given before submission", field="state", rule="endorse-before-submission")
        is_member = await self.session.get(Member, data.country) is not None
        if is_member:
            if not (user.has_role(Role.MEMBER_DELEGATE) and user.member_code == data.country):
                raise PermissionDenied(
                    f"{data.country} is a member: one of its delegates endorses", rule="member-endorses-itself"
                )
        else:
            ensure_permission("proposals.manage", user)
            if data.decision == EndorsementDecision.ENDORSED.value:
                letter = (
                    await self.session.get(Attachment, data.letter_attachment_id) if data.letter_attachment_id else None
                )
                if letter is None or letter.proposal_id != proposal_id:
                    raise InvalidInput(
                        "a non-member country's endorsement is recorded with its letter, attached to this proposal",
                        field="letter_attachment_id",
                        rule="letter-required",
                    )
        row = (
            await self.session.execute(
                select(Endorsement).where(
                    col(Endorsement.proposal_id) == proposal_id, col(Endorsement.country) == data.country
                )
            )
        ).scalar_one_or_none()
        before = None if row is None else {"decision": row.decision}
        if row is None:
            row = Endorsement(
                proposal_id=proposal_id,
                country=data.country,
                decision=data.decision,
                note=data.note,
                letter_attachment_id=data.letter_attachment_id,
                recorded_by=user.id,
                recorded_at=self.now,
            )
        else:
            row.decision, row.note, row.letter_attachment_id = data.decision, data.note, data.letter_attachment_id
            row.recorded_by, row.recorded_at = user.id, self.now
        self.session.add(row)
        await self.session.flush()
        await self.unit.audit(
            "proposal.endorsement",
            "proposal",
            proposal_id,
            before=before,
            after={"country": data.country, "decision": data.decision},
        )
        return row

    async def endorsements(self, proposal_id: int) -> list[Endorsement]:
        return list(
            (
                await self.session.execute(
                    select(Endorsement)
                    .where(col(Endorsement.proposal_id) == proposal_id)
                    .order_by(col(Endorsement.country))
                )
            ).scalars()
        )

    # ---------------------------------------------------------------- attachments

    def attachments_dir(self) -> Path:
        return self.settings.var_dir / "attachments"

    async def attach(self, proposal_id: int, filename: str, data: bytes) -> Attachment:
        user = self._require_user()
        seen = await self.full(proposal_id)
        if not (has_permission("proposals.edit", user, seen.facts)[0] or user.has_role(Role.SECRETARIAT_ADMIN)):
            raise PermissionDenied(
                "attachments are added by the proposal's organisation or the secretariat", rule="attach"
            )
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(
                f"attachments are at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB",
                field="file",
                rule="attachment-size",
            )
        if not data:
            raise InvalidInput("the file is empty", field="file", rule="attachment-size")
        try:
            media_type = rules.sniff(data)
        except rules.PackageRefused as refused:
            raise InvalidInput(refused.message, field="file", rule=refused.rule) from None
        if media_type is None:
            raise InvalidInput(
                "only PDF, DOCX, XLSX, PNG and JPEG files are accepted (checked by content)",
                field="file",
                rule="attachment-type",
            )
        await self._within_quota(proposal_id, len(data))
        stored_name = secrets.token_hex(16)
        directory = self.attachments_dir()
        await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
        await anyio.Path(directory / stored_name).write_bytes(data)
        row = Attachment(
            proposal_id=proposal_id,
            filename=rules.safe_filename(filename, media_type),
            stored_name=stored_name,
            media_type=media_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=user.id,
            created_at=self.now,
        )
        self.session.add(row)
        await self.session.flush()
        await self._audit(
            "proposal.attachment",
            "proposal",
            proposal_id,
            attachment=row.id,
            filename=row.filename,
            media_type=media_type,
            size=len(data),
            sha256=row.sha256,
        )
        return row

    async def _within_quota(self, proposal_id: int, size: int) -> None:
        """A proposal holds at most ``max_attachments_per_proposal`` files and
        ``max_attachment_bytes_per_proposal`` bytes (settings): 409 with the rule that one more breaks."""
        count, total = (
            await self.session.execute(
                select(func.count(), func.coalesce(func.sum(col(Attachment.size)), 0)).where(
                    col(Attachment.proposal_id) == proposal_id
                )
            )
        ).one()
        most, most_bytes = self.settings.max_attachments_per_proposal, self.settings.max_attachment_bytes_per_proposal
        if count + 1 > most:
            raise Conflict(
                f"a proposal has at most {most} attachments; this one has {count}",
                field="file",
                rule="attachment-quota-count",
                limit=most,
            )
        if int(total) + size > most_bytes:
            raise Conflict(
                f"a proposal's attachments hold at most {most_bytes} bytes in all; this one holds {int(total)} "
                f"and the file has {size}",
                field="file",
                rule="attachment-quota-bytes",
                limit=most_bytes,
            )

    async def attachments(self, proposal_id: int) -> list[Attachment]:
        await self.full(proposal_id)
        return list(
            (
                await self.session.execute(
                    select(Attachment).where(col(Attachment.proposal_id) == proposal_id).order_by(col(Attachment.id))
                )
            ).scalars()
        )

    async def attachment(self, attachment_id: int) -> tuple[Attachment, bytes]:
        row = await self.session.get(Attachment, attachment_id)
        if row is None:
            raise NotFound(f"no attachment with id {attachment_id}")
        try:
            await self.full(row.proposal_id)
        except (NotFound, PermissionDenied) as exc:
            raise NotFound(f"no attachment with id {attachment_id}") from exc
        try:
            data = await anyio.Path(self.attachments_dir() / row.stored_name).read_bytes()
        except FileNotFoundError:
            log.error(
                "attachment %s of proposal %s: its stored file %s is missing from %s",
                attachment_id,
                row.proposal_id,
                row.stored_name,
                self.attachments_dir(),
            )
            raise Gone(
                f"the file of attachment {attachment_id} is missing from the store; the secretariat has been told "
                "(the error is logged)",
                field="attachment_id",
                rule="file-missing",
            ) from None
        return row, data

    # ---------------------------------------------------------------- review

    async def assign(self, proposal_id: int, reviewer_ids: list[int]) -> list[Assignment]:
        ensure_permission("proposals.manage", self.user)
        seen = await self.visible(proposal_id)
        if seen.proposal.state != State.IN_REVIEW.value:
            raise Conflict("reviewers are assigned to proposals in review", field="state", rule="in-review")
        reviewers = set(
            (
                await self.session.execute(
                    select(col(User.id))
                    .join(UserRole, col(UserRole.user_id) == col(User.id))
                    .where(
                        col(User.id).in_(reviewer_ids),
                        col(User.is_active).is_(True),
                        col(UserRole.role) == Role.TAG_REVIEWER.value,
                    )
                )
            ).scalars()
        )
        not_reviewers = sorted(set(reviewer_ids) - reviewers)
        if not_reviewers:
            raise InvalidInput(f"not active TAG reviewers: {not_reviewers}", field="reviewer_ids", rule="tag-reviewer")
        existing = set(
            (
                await self.session.execute(
                    select(col(Assignment.reviewer_id)).where(col(Assignment.proposal_id) == proposal_id)
                )
            ).scalars()
        )
        if existing & set(reviewer_ids):
            raise Conflict(
                f"already assigned: {sorted(existing & set(reviewer_ids))}", field="reviewer_ids", rule="assigned-once"
            )
        rows = [
            Assignment(
                proposal_id=proposal_id,
                reviewer_id=r,
                status="assigned",
                assigned_by=self.actor.user_id,
                assigned_at=self.now,
            )
            for r in sorted(set(reviewer_ids))
        ]
        self.session.add_all(rows)
        await self.session.flush()
        await self._audit("proposal.assign", "proposal", proposal_id, reviewers=sorted(set(reviewer_ids)))
        return rows

    async def _my_assignment(self, proposal_id: int) -> Assignment:
        user = self._require_user()
        ensure_permission("proposals.review", user)
        row = (
            await self.session.execute(
                select(Assignment).where(
                    col(Assignment.proposal_id) == proposal_id, col(Assignment.reviewer_id) == user.id
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no proposal with id {proposal_id}")
        return row

    async def declare(self, proposal_id: int, data: ConflictDeclaration) -> Assignment:
        assignment = await self._my_assignment(proposal_id)
        if assignment.status != "assigned":
            raise Conflict(f"the declaration was made already ({assignment.status})", rule="declare-once")
        assignment.status = "conflicted" if data.has_conflict else "declared"
        assignment.conflict_reason = data.reason
        assignment.declared_at = self.now
        self.session.add(assignment)
        await self.session.flush()
        await self._audit(
            "proposal.conflict_declaration",
            "proposal",
            proposal_id,
            reviewer=assignment.reviewer_id,
            has_conflict=data.has_conflict,
            reason=data.reason,
        )
        return assignment

    async def review(self, proposal_id: int, data: ReviewIn) -> Review:
        assignment = await self._my_assignment(proposal_id)
        if assignment.status != "declared":
            rule = "declare-conflicts-first" if assignment.status == "assigned" else "review-once"
            raise Conflict(f"this assignment is {assignment.status}", rule=rule)
        proposal = (await self.full(proposal_id)).proposal
        if proposal.state != State.IN_REVIEW.value:
            raise Conflict("reviews are given while the proposal is in review", field="state", rule="in-review")
        rubric = rubric_of(await self.call(proposal.call_id))
        keys = {k for k, _ in rubric}
        if set(data.scores) != keys:
            raise InvalidInput(
                f"score exactly the rubric's criteria: {', '.join(sorted(keys))}",
                field="scores",
                rule="rubric-criteria",
            )
        score = rules.weighted_score({k: v.score for k, v in data.scores.items()}, rubric)
        assert assignment.id is not None and proposal.id is not None
        row = Review(
            assignment_id=assignment.id,
            proposal_id=proposal.id,
            reviewer_id=assignment.reviewer_id,
            version=proposal.version,
            scores=canonical_json({k: v.model_dump() for k, v in data.scores.items()}),
            weighted_score=f"{score.numerator}/{score.denominator}",
            recommendation=data.recommendation,
            comment=data.comment,
            submitted_at=self.now,
        )
        assignment.status = "reviewed"
        self.session.add_all([row, assignment])
        await self.session.flush()
        proposal.consolidated_score = await self._consolidate(proposal)
        self.session.add(proposal)
        await self.session.flush()
        await self._audit(
            "proposal.review",
            "proposal",
            proposal_id,
            reviewer=assignment.reviewer_id,
            version=proposal.version,
            score=rules.score_text(score),
            recommendation=data.recommendation,
        )
        return row

    async def reviews(self, proposal_id: int) -> list[Review]:
        seen = await self.visible(proposal_id)
        user = self._require_user()
        # Whether the user reads any review of this proposal: the pair's predicate, asked of a review of its own.
        if not REVIEWS.allows(user, ReviewFacts(user.id, seen.facts.assignment))[0]:
            raise PermissionDenied(
                "reviews are read by the secretariat, auditors and their own reviewer", rule="read-reviews"
            )
        query = select(Review).where(col(Review.proposal_id) == proposal_id, REVIEWS.where(user))
        return list((await self.session.execute(query.order_by(col(Review.id)))).scalars())

    async def _reviews(self, proposal_id: int) -> list[Review]:
        return list(
            (
                await self.session.execute(
                    select(Review).where(col(Review.proposal_id) == proposal_id).order_by(col(Review.id))
                )
            ).scalars()
        )

    async def _review_count(self, proposal: Proposal) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count())
                    .select_from(Review)
                    .where(col(Review.proposal_id) == proposal.id, col(Review.version) == proposal.version)
                )
            ).scalar_one()
        )

    async def _consolidate(self, proposal: Proposal) -> str | None:
        scores = [
            Fraction(r.weighted_score) for r in await self._reviews(proposal.id or 0) if r.version == proposal.version
        ]
        return rules.score_text(rules.consolidated_score(scores)) if scores else None

    def requested_money(self, proposal: Proposal) -> Money:
        return Money.from_minor(proposal.requested, self.currency)


async def proposal_facts(session: AsyncSession, user: Principal | None, proposal: Proposal) -> ProposalFacts:
    """What access to ``proposal`` depends on, as ``user`` asks (its assignment only if it reviews): the facts
    the pairs of ``proposals.permissions`` judge one proposal by."""
    assert proposal.id is not None
    countries = frozenset(
        (
            await session.execute(
                select(col(ProposalCountry.country)).where(col(ProposalCountry.proposal_id) == proposal.id)
            )
        ).scalars()
    )
    assignment = None
    if user is not None and user.has_role(Role.TAG_REVIEWER):
        assignment = (
            await session.execute(
                select(col(Assignment.status)).where(
                    col(Assignment.proposal_id) == proposal.id, col(Assignment.reviewer_id) == user.id
                )
            )
        ).scalar_one_or_none()
    return ProposalFacts(proposal.organisation_id, proposal.state, countries, assignment)


async def organisation_reference(session: AsyncSession, organisation_id: Any) -> str | None:
    """Why ``organisation_id`` cannot be a grantee's organisation (no such organisation), or None."""
    found = await session.get(Organisation, int(organisation_id)) if 0 < int(organisation_id) <= 2**31 - 1 else None
    return None if found is not None else f"there is no organisation with id {organisation_id}"
