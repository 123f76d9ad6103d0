"""The proposals side of a fund_proposal decision: the facts governance shows the members, the referral
when the decision opens, and the outcome inside the closing transaction (approved with a new grant, or
rejected). Governance cannot import proposals: the shell registers ``ProposalFunding`` with governance
(``fundapp.wiring.register_hooks``).
"""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import col

from fundapp.core.errors import Conflict, NotFound
from governance import FundingFacts, HookContext, ProposalSummary
from ledger import Money
from proposals.grants import Grants
from proposals.models import Attachment, Organisation, Proposal, ProposalCountry
from proposals.service import Proposals
from proposals.workflow import State

# A proposal may be put to the members once the TAG has reviewed it, or when it is already referred.
DECIDABLE = frozenset({State.RECOMMENDED.value, State.NOT_RECOMMENDED.value, State.UNDER_DECISION.value})


class ProposalFunding:
    async def facts(self, ctx: HookContext, proposal_id: int) -> FundingFacts:
        proposal = await ctx.session.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFound(f"no proposal with id {proposal_id}", field="proposal_id", rule="proposal-exists")
        if proposal.state not in DECIDABLE:
            raise Conflict(
                f"proposal {proposal_id} is {proposal.state}; the members decide on a proposal the TAG has "
                "reviewed (recommended, not recommended or under decision)",
                field="proposal_id",
                rule="proposal-reviewed",
                state=proposal.state,
            )
        countries = (
            await ctx.session.execute(
                select(col(ProposalCountry.country))
                .where(col(ProposalCountry.proposal_id) == proposal_id)
                .order_by(col(ProposalCountry.country))
            )
        ).scalars()
        return FundingFacts(
            proposal_id=proposal_id,
            title=proposal.title,
            window_id=proposal.window_id,
            amount=proposal.requested,
            countries=tuple(countries),
            consolidated_score=proposal.consolidated_score,
            tag_recommendation=proposal.tag_recommendation,
        )

    async def refer(self, ctx: HookContext, proposal_id: int, justification: str) -> None:
        proposal = await ctx.session.get(Proposal, proposal_id)
        if proposal is not None and proposal.state != State.UNDER_DECISION.value:
            service = Proposals(ctx.session, settings=ctx.settings, user=ctx.user, now=ctx.now)
            await service.act(proposal_id, "refer", reason=justification)

    async def summary(self, ctx: HookContext, proposal_id: int) -> ProposalSummary:
        proposal = await ctx.session.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFound(f"no proposal with id {proposal_id}")
        content = json.loads(proposal.content)
        currency = ctx.settings.reporting_currency
        organisation = await ctx.session.get(Organisation, proposal.organisation_id)
        countries = (
            await ctx.session.execute(
                select(col(ProposalCountry.country), col(ProposalCountry.share_bp))
                .where(col(ProposalCountry.proposal_id) == proposal_id)
                .order_by(col(ProposalCountry.share_bp).desc(), col(ProposalCountry.country))
            )
        ).all()
        attachments = (
            await ctx.session.execute(
                select(col(Attachment.id), col(Attachment.filename))
                .where(col(Attachment.proposal_id) == proposal_id)
                .order_by(col(Attachment.id))
            )
        ).all()
        return ProposalSummary(
            proposal_id=proposal_id,
            title=proposal.title,
            summary=str(content.get("summary", "")),
            organisation=organisation.name if organisation else "",
            requested=Money.from_minor(proposal.requested, currency),
            duration_months=int(content.get("duration_months", 0)),
            countries=tuple((str(code), Decimal(share) / 100) for code, share in countries),
            budget=tuple(
                (str(line["category"]), Money.of(str(line["amount"]), currency)) for line in content.get("budget", [])
            ),
            attachments=tuple((int(a_id or 0), str(name)) for a_id, name in attachments),
        )

    async def decided(
        self, ctx: HookContext, proposal_id: int, decision_id: int, *, adopted: bool, reason: str
    ) -> int | None:
        service = Proposals(ctx.session, settings=ctx.settings, user=ctx.user, now=ctx.now)
        await service.decide(proposal_id, approved=adopted, reason=f"decision {decision_id}: {reason}")
        if not adopted:
            return None
        return await create_grant(ctx, proposal_id, decision_id)


async def create_grant(ctx: HookContext, proposal_id: int, decision_id: int) -> int | None:
    """The grant an adopted decision creates, in the closing transaction."""
    grants = Grants(ctx.session, settings=ctx.settings, user=ctx.user, now=ctx.now)
    grant = await grants.create_from_decision(proposal_id, decision_id=decision_id)
    return grant.id
