"""Presenters: governance records as their public schemas (read-only; shared by the API and statements)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from fundapp.core.idempotency import client_key
from fundapp.core.security import Principal
from governance import rules
from governance.decisions import Decisions, event_public, terms_of, timestamp
from governance.income import Income
from governance.models import (
    Assessment,
    Contribution,
    Contributor,
    Decision,
    InvestmentIncome,
    Member,
    Pledge,
    PledgeInstalment,
    Window,
)
from governance.schemas import (
    AssessmentPublic,
    BenefittingCountryDetail,
    BenefittingCountryPublic,
    ContributionPublic,
    ContributorPublic,
    CountryChangePublic,
    DecisionPublic,
    IncomeSharePublic,
    InstalmentPublic,
    InvestmentIncomePublic,
    MemberPublic,
    PledgePublic,
    RecusalPublic,
    TagLink,
    VotingRights,
    WindowPublic,
)
from governance.service import CountryStanding, Governance
from ledger import MoneyOut


async def member_public(
    gov: Governance, member: Member, arrears: list[rules.YearArrears] | None = None
) -> MemberPublic:
    """One member as the API shows it: :func:`members_public` of that one member."""
    if arrears is None:
        arrears = (await gov.arrears(member.code)).get(member.code, [])
    (public,) = await members_public(gov, [member], {member.code: arrears})
    return public


async def members_public(
    gov: Governance, members: Sequence[Member], arrears: Mapping[str, list[rules.YearArrears]]
) -> list[MemberPublic]:
    """Members as the API shows them, with their contributor, active delegates and voting rights (from
    ``arrears``, per member): two statements for any number of members."""
    codes = [m.code for m in members]
    if not codes:
        return []
    found = await gov.session.execute(
        select(col(Contributor.member_code), col(Contributor.id)).where(col(Contributor.member_code).in_(codes))
    )
    contributors = {code: contributor_id for code, contributor_id in found.all() if contributor_id is not None}
    delegates = await gov.delegates_of(codes)
    items = []
    for member in members:
        items.append(
            MemberPublic(
                code=member.code,
                names=rules.country_names(member.code),
                tier=member.tier,
                status=member.status,
                joined_on=member.joined_on,
                contributor_id=contributors[member.code],
                delegates=delegates.get(member.code, []),
                voting_rights=voting_rights_public(gov, arrears.get(member.code, [])),
            )
        )
    return items


def voting_rights_public(gov: Governance, arrears: list[rules.YearArrears]) -> VotingRights:
    """Whether a member with these arrears may vote, and the charter's rule, as the API shows it."""
    suspended, reason = gov.voting_rights(arrears)
    charter = gov.settings.charter
    return VotingRights(
        suspended=suspended,
        reason=reason,
        rule_on=charter.arrears_suspend_voting,
        years_before_suspension=charter.arrears_years_before_suspension,
    )


def window_public(window: Window) -> WindowPublic:
    assert window.id is not None
    return WindowPublic(
        id=window.id,
        code=window.code,
        names={"en": window.name_en, "es": window.name_es, "fr": window.name_fr},
        description=window.description,
        status=window.status,
    )


def assessment_public(a: Assessment, paid: int) -> AssessmentPublic:
    assert a.id is not None
    return AssessmentPublic(
        id=a.id,
        member_code=a.member_code,
        contributor_id=a.contributor_id,
        year=a.year,
        tier=a.tier,
        months=a.months,
        fee=MoneyOut.of(a.amount, a.currency),
        paid=MoneyOut.of(paid, a.currency),
        outstanding=MoneyOut.of(max(0, a.amount - paid), a.currency),
        assessed_on=a.assessed_on,
        due_on=a.due_on,
        status="notified" if a.entry_id is None else "recognised",
        recognised_on=a.recognised_on,
        entry_id=a.entry_id,
    )


async def pledge_public(gov: Governance, pledge: Pledge, *, as_of: date | None = None) -> PledgePublic:
    """One pledge as the API shows it: :func:`pledges_public` of that one pledge."""
    (public,) = await pledges_public(gov, [pledge], as_of=as_of)
    return public


async def pledges_public(
    gov: Governance, pledges: Sequence[Pledge], *, as_of: date | None = None
) -> list[PledgePublic]:
    """Pledges as the API shows them, with their instalments and what was paid on each (by ``as_of``): three
    statements for any number of pledges (instalments, payments, windows), so a list reads no row twice."""
    ids = [p.id for p in pledges if p.id is not None]
    if not ids:
        return []
    instalments: dict[int, list[PledgeInstalment]] = defaultdict(list)
    for i in (
        await gov.session.execute(
            select(PledgeInstalment)
            .where(col(PledgeInstalment.pledge_id).in_(ids))
            .order_by(col(PledgeInstalment.pledge_id), col(PledgeInstalment.number))
        )
    ).scalars():
        instalments[i.pledge_id].append(i)
    paid = await gov.paid_by_instalment(
        [i.id for rows in instalments.values() for i in rows if i.id is not None], as_of=as_of
    )
    window_ids = {p.window_id for p in pledges if p.window_id is not None}
    codes: dict[int, str] = {}
    if window_ids:
        query = select(col(Window.id), col(Window.code)).where(col(Window.id).in_(window_ids))
        found = await gov.session.execute(query)
        codes = {window_id: code for window_id, code in found.all() if window_id is not None}
    return [_pledge_public(p, instalments.get(p.id or 0, []), paid, codes) for p in pledges]


def _pledge_public(
    pledge: Pledge, instalments: Sequence[PledgeInstalment], paid: Mapping[int, int], codes: Mapping[int, str]
) -> PledgePublic:
    assert pledge.id is not None
    total_paid = sum(paid.get(i.id or 0, 0) for i in instalments)
    c = pledge.currency
    return PledgePublic(
        id=pledge.id,
        contributor_id=pledge.contributor_id,
        amount=MoneyOut.of(pledge.amount, c),
        window_code=codes.get(pledge.window_id) if pledge.window_id else None,
        signed_on=pledge.signed_on,
        conditional=pledge.conditional,
        condition=pledge.condition,
        condition_met_on=pledge.condition_met_on,
        reference=pledge.reference,
        entry_id=pledge.entry_id,
        condition_entry_id=pledge.condition_entry_id,
        instalments=[
            InstalmentPublic(
                id=i.id or 0,
                number=i.number,
                due_on=i.due_on,
                amount=MoneyOut.of(i.amount, c),
                paid=MoneyOut.of(paid.get(i.id or 0, 0), c),
                outstanding=MoneyOut.of(max(0, i.amount - paid.get(i.id or 0, 0)), c),
            )
            for i in instalments
        ],
        paid=MoneyOut.of(total_paid, c),
        outstanding=MoneyOut.of(max(0, pledge.amount - total_paid), c),
    )


async def contribution_public(gov: Governance, c: Contribution) -> ContributionPublic:
    assert c.id is not None
    window = await gov.session.get(Window, c.window_id) if c.window_id else None
    return ContributionPublic(
        id=c.id,
        contributor_id=c.contributor_id,
        value_date=c.value_date,
        amount=MoneyOut.of(c.amount, c.currency),
        instalment_id=c.instalment_id,
        assessment_id=c.assessment_id,
        window_code=window.code if window else None,
        applied=MoneyOut.of(c.applied, c.currency),
        unapplied=MoneyOut.of(c.unapplied, c.currency),
        fee=MoneyOut.of(c.fee, c.currency),
        reference=c.reference,
        entry_id=c.entry_id,
        advance=c.advance,
        applied_entry_id=c.applied_entry_id,
        idempotency_key=client_key(c.idempotency_key),
    )


def contributor_public(c: Contributor) -> ContributorPublic:
    assert c.id is not None
    return ContributorPublic(
        id=c.id, kind=c.kind, name=c.name, member_code=c.member_code, country=c.country, votes=c.member_code is not None
    )


# ---------------------------------------------------------------- decisions


async def decision_public(decisions: Decisions, decision: Decision, viewer: Principal | None) -> DecisionPublic:
    """A decision as its readers see it: the running tally only after the close (or when the charter
    makes results visible), and the viewer's own member's ballot."""
    return (await decisions_public(decisions, [decision], viewer))[0]


async def decisions_public(
    decisions: Decisions, found: Sequence[Decision], viewer: Principal | None
) -> list[DecisionPublic]:
    """``decision_public`` for each of ``found`` (a page of the register): their ballots cast, recusals,
    the viewer's member's ballots and windows in one statement each, not in one each per decision."""
    ids = [d.id for d in found if d.id is not None]
    cast = await decisions.ballots_cast_many(ids)
    recusals = await decisions.recusals_many(ids)
    mine = await decisions.ballots_of(ids, viewer.member_code) if viewer is not None and viewer.member_code else {}
    windows = await decisions.window_codes(sorted({d.window_id for d in found if d.window_id is not None}))
    reporting = decisions.settings.reporting_currency
    public: list[DecisionPublic] = []
    for decision in found:
        assert decision.id is not None
        terms = terms_of(decision)
        tally: dict[str, Any] | None = None
        if decisions.results_visible(decision):
            tally = json.loads(decision.tally) if decision.tally else await decisions.running_tally(decision)
        ballot = mine.get(decision.id)
        tag = None
        if decision.kind == "fund_proposal":
            tag = TagLink(
                consolidated_score=terms.get("consolidated_score"),
                recommendation=terms.get("tag_recommendation"),
                justification=decision.justification,
            )
        public.append(
            DecisionPublic(
                id=decision.id,
                kind=decision.kind,
                subject=decision.subject,
                title=decision.title,
                text=decision.text,
                terms=terms,
                procedure=decision.procedure,
                quorum=decision.quorum,
                majority=decision.majority,
                status=decision.status,
                opens_at=decision.opens_at,
                closes_at=decision.closes_at,
                closed_at=decision.closed_at,
                result=decision.result,
                result_reason=decision.result_reason,
                justification=decision.justification,
                amount=None if decision.amount is None else MoneyOut.of(decision.amount, reporting),
                window_code=None if decision.window_id is None else windows.get(decision.window_id),
                tag=tag,
                tally=tally,
                ballots_cast=cast[decision.id] if decision.status != "draft" else None,
                my_ballot=None if ballot is None else ballot.choice,
                recusals=[
                    RecusalPublic(
                        member_code=r.member_code, reason=r.reason, automatic=r.automatic, declared_at=r.declared_at
                    )
                    for r in recusals[decision.id]
                ],
                chain_head=decision.chain_head,
                entry_id=decision.entry_id,
            )
        )
    return public


async def decision_record(decisions: Decisions, decision: Decision) -> dict[str, Any]:
    """The published record: everything needed to re-verify the decision offline (the events with their
    hashes, the roll, the roll call, recusals, electorate, tally, rules and chain head)."""
    assert decision.id is not None
    events = [event_public(e) for e in await decisions.events(decision.id)]
    state = rules.replay(events)
    return {
        "format": rules.RECORD_FORMAT,
        "decision": {
            "id": decision.id,
            "kind": decision.kind,
            "subject": decision.subject,
            "title": decision.title,
            "text": decision.text,
            "terms": terms_of(decision),
            "justification": decision.justification,
            "opens_at": None if decision.opens_at is None else timestamp(decision.opens_at),
            "closes_at": timestamp(decision.closes_at),
            "closed_at": None if decision.closed_at is None else timestamp(decision.closed_at),
            "status": decision.status,
        },
        "rules": {
            "procedure": state.procedure,
            "quorum": str(state.quorum),
            "majority": state.majority,
            "counting": RULES_TEXT,
        },
        "roll_call": [
            {"member": member, "choice": choice, "at": at} for member, (choice, at) in sorted(state.ballots.items())
        ],
        # The roll fixed at the opening ("opening"), or for a decision opened before rolls were recorded the
        # members active at its close ("close"; None while it is open).
        "roll": sorted(state.members) if state.members is not None else None,
        "roll_at": state.roll_at,
        "recusals": [{"member": member, "reason": reason} for member, reason in sorted(state.recusals.items())],
        # The members counted: the roll without the recused.
        "electorate": sorted(state.electorate) if state.electorate is not None else None,
        "tally": json.loads(decision.tally) if decision.tally else None,
        "result": decision.result,
        "result_reason": decision.result_reason,
        "events": events,
        "chain_head": rules.chain_head(events),
    }


RULES_TEXT = (
    "the roll: the members eligible when the decision opens (active, not suspended for arrears when the "
    "charter says so); members admitted, suspended or withdrawn later change nothing in it. vote: quorum counts "
    "the members of the roll not recused who cast any ballot; abstentions count for the quorum, not the "
    "majority; simple majority: more yes than no; qualified: yes at least two thirds of yes + no; a tie fails. "
    "no_objection: adopted at the deadline unless a member of the roll not recused objects. consensus: adopted "
    "with a quorum present and no objection from those present."
)


async def income_public(income: Income, record: InvestmentIncome) -> InvestmentIncomePublic:
    """A record of investment income with each fund's part and its time-weighted balance over the period."""
    rc = income.reporting_currency
    shares = rules.shares_of(record.allocation)
    ids = [s.window_id for s in shares if s.window_id is not None]
    codes: dict[int, str] = {}
    if ids:
        found = await income.session.execute(select(col(Window.id), col(Window.code)).where(col(Window.id).in_(ids)))
        codes = {int(i or 0): str(c) for i, c in found.all()}
    days = Decimal((record.period_end - record.period_start).days + 1)
    allocation = [
        IncomeSharePublic(
            window_id=s.window_id,
            window_code=None if s.window_id is None else codes.get(s.window_id),
            amount=MoneyOut.of(s.amount, record.currency),
            reporting_amount=MoneyOut.of(s.reporting_amount, rc),
            time_weighted_balance=MoneyOut.of(
                int((Decimal(s.balance_days) / days).to_integral_value(ROUND_HALF_EVEN)), rc
            ),
        )
        for s in shares
    ]
    approvals = int(record.first_approved_by is not None) + int(record.approved_by is not None)
    assert record.id is not None
    return InvestmentIncomePublic(
        id=record.id,
        status=record.status,
        amount=MoneyOut.of(record.amount, record.currency),
        reporting_amount=MoneyOut.of(record.reporting_amount, rc),
        period_start=record.period_start,
        period_end=record.period_end,
        bank_reference=record.bank_reference,
        allocation=allocation,
        approvals_needed=record.approvals_needed,
        approvals=approvals,
        prepared_by=record.prepared_by,
        prepared_at=record.prepared_at,
        first_approved_by=record.first_approved_by,
        approved_by=record.approved_by,
        approved_at=record.approved_at,
        rejected_by=record.rejected_by,
        rejection_reason=record.rejection_reason,
        entry_id=record.entry_id,
    )


def country_public(gov: Governance, standing: CountryStanding) -> BenefittingCountryPublic:
    """A benefitting country with its group's terms under the charter's method."""
    row, terms = standing.country, standing.terms
    return BenefittingCountryPublic(
        code=row.code,
        names=rules.country_names(row.code),
        group=row.group,
        method=gov.settings.charter.concessionality_method,
        discount_rate=str(terms.discount_rate),
        threshold=str(terms.threshold),
        current=row.removed_on is None,
        added_on=row.added_on,
        added_by_decision_id=row.added_by_decision_id,
        removed_on=row.removed_on,
        removed_by_decision_id=row.removed_by_decision_id,
    )


async def country_detail(gov: Governance, code: str) -> BenefittingCountryDetail:
    """A country that is or was a benefitting country, with its history of changes."""
    row = await gov.any_benefitting_country(code)
    public = country_public(gov, CountryStanding(row, gov.country_terms(row.group)))
    history = [CountryChangePublic.model_validate(change) for change in await gov.country_history(code)]
    return BenefittingCountryDetail(**public.model_dump(), history=history)
