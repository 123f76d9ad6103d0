"""The demo facility: loaded by ``fundapp demo`` and ``make run``; loading it again adds nothing.

Every demo account shares one documented password (README, "Demo logins"). Never load it into a
production database: the CLI refuses to. The data the story is told with is in ``fundapp.demo_data``;
this module tells it, through the services, in the story's order (the demo is deterministic: loaded on the
same day with the same clock, it writes the same rows, ids and ledger entries).
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from concessional.models import FinancingRequest
from concessional.schemas import BoardApprovalIn, EffectivenessIn, FinancingRequestIn, ProceduresAgreementIn
from concessional.service import Concessional
from fundapp.core import accounts, audit
from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import User
from fundapp.core.schemas import UserCreate
from fundapp.core.security import PasswordHashing, Principal
from fundapp.core.unit import Unit, actor_of
from fundapp.demo_data import (
    BUDGET_VOTERS,
    DEMO_ADMIN_BUDGETS,
    DEMO_CALLS,
    DEMO_CONCESSIONAL_REQUEST,
    DEMO_CONCESSIONAL_TITLE,
    DEMO_CONCESSIONAL_TRANCHES,
    DEMO_COUNTRIES,
    DEMO_DONORS,
    DEMO_ENTRY_REASONS,
    DEMO_FEES,
    DEMO_FINANCE_ENTRIES,
    DEMO_GRANT_PROPOSALS,
    DEMO_MEMBERS,
    DEMO_ORGANISATIONS,
    DEMO_PASSWORD,
    DEMO_PENDING_ENTRY,
    DEMO_PLEDGES,
    DEMO_PROPOSALS,
    DEMO_RATES,
    DEMO_USERS,
    GRANT_VOTERS,
    LETTER,
    MEETING_PRESENT,
    RUBRIC,
    STORY_END,
    STORY_START,
    YES_MOSTLY,
    DemoPledge,
    DemoUser,
)
from fundapp.wiring import register_hooks
from governance.decisions import Decisions
from governance.models import (
    AdminBudget,
    Assessment,
    BenefittingCountry,
    Contributor,
    Decision,
    Member,
    PledgeInstalment,
    Window,
)
from governance.rules import country_names
from governance.schemas import (
    ContributionCreate,
    ContributorCreate,
    DecisionCreate,
    InstalmentIn,
    MeetingRecord,
    MemberCreate,
    PledgeCreate,
    TierFeeSet,
)
from governance.service import Governance
from ledger import EntryDraft, Ledger, Line, Money
from ledger.manual import revalue_manual
from ledger.models import EntryRequest
from ledger.requests import EntryRequests
from proposals.grants import Grants
from proposals.models import Call, Grant, GrantReport, Organisation, Proposal
from proposals.schemas import (
    AgreementIn,
    CallCreate,
    ConflictDeclaration,
    DisbursementCreate,
    DueDiligenceSet,
    EndorsementIn,
    GrantAction,
    OrganisationCreate,
    ProposalContent,
    RefundCreate,
    ReportReview,
    ReportSubmit,
    ReviewIn,
)
from proposals.service import Proposals

__all__ = [
    "DEMO_ACTOR",
    "DEMO_MEMBERS",
    "DEMO_PASSWORD",
    "DEMO_PLEDGES",
    "DEMO_USERS",
    "STORY_END",
    "STORY_START",
    "DemoPledge",
    "DemoReport",
    "DemoUser",
    "Timeline",
    "demo_concessional",
    "demo_finances",
    "demo_grants",
    "load",
]


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = ["demo facility: " + ("; ".join(self.created) if self.created else "already loaded, nothing added"), ""]
        lines += [
            "sign in at http://127.0.0.1:8000/login (make run serves there) with one of these accounts",
            f"demo logins (password for every account: {DEMO_PASSWORD})",
        ]
        for user in DEMO_USERS:
            binding = f" for {user.member_code}" if user.member_code else ""
            binding += f" for organisation {user.organisation_id}" if user.organisation_id else ""
            lines.append(f"  {user.username:<14} {', '.join(r.value for r in user.roles)}{binding}")
        return "\n".join(lines)


DEMO_ACTOR = audit.Actor(None, "demo")


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


@dataclass(frozen=True, slots=True)
class Timeline:
    """Where the story's dates fall when the demo is loaded on a given day.

    ``months`` is the shift: every story date moves by that many months (the day kept, or the month's last
    day when the month is shorter), so the story's order and its days of the month are kept; the story's
    last day falls in the month before the load day (or on the load day's eve when that is a month's end).
    Fee years (and every year the story names: fee schedules, budgets) move by ``months`` rounded to the
    nearest whole year, so a fee the story assesses in January is assessed within six months of its year.
    """

    months: int

    @classmethod
    def loaded_on(cls, today: date) -> Timeline:
        yesterday = today - timedelta(days=1)
        months = _month_index(yesterday) - _month_index(STORY_END)
        timeline = cls(months)
        return timeline if timeline.day(STORY_END) <= yesterday else cls(months - 1)

    def day(self, story: date) -> date:
        year, month0 = divmod(_month_index(story) + self.months, 12)
        return date(year, month0 + 1, min(story.day, calendar.monthrange(year, month0 + 1)[1]))

    def moment(self, story: datetime) -> datetime:
        return datetime.combine(self.day(story.date()), story.timetz())

    def at(self, story: date, hour: int = 10) -> datetime:
        return datetime.combine(self.day(story), time(hour, tzinfo=UTC))

    def year(self, story_year: int) -> int:
        return story_year + (self.months + 6) // 12

    @property
    def first_day(self) -> date:
        return self.day(STORY_START)

    @property
    def last_day(self) -> date:
        return self.day(STORY_END)


def _principal(user: User) -> Principal:
    demo = next(d for d in DEMO_USERS if d.username == user.username)
    return Principal(
        id=user.id or 0,
        username=user.username,
        roles=frozenset(demo.roles),
        member_code=user.member_code,
        organisation_id=user.organisation_id,
    )


async def _users(session: AsyncSession) -> dict[str, User]:
    return {u.username: u for u in (await session.execute(select(User))).scalars()}


def _delegate(code: str) -> str:
    """The username of a member state's delegate."""
    return f"delegate.{code.lower()}"


def _grantee(organisation_index: int) -> str:
    """The username of the grantee of the demo organisation at ``organisation_index`` (ids 1..5)."""
    return "grantee" if organisation_index == 0 else f"grantee{organisation_index + 1}"


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass(slots=True)
class _Desk:
    """The services as the demo's users (by username; ``None`` for the facility itself) at a story moment,
    moved by ``t``, or (``story=False``) at a real one."""

    session: AsyncSession
    settings: Settings
    t: Timeline
    users: dict[str, User]

    def _now(self, moment: datetime, story: bool) -> datetime:
        return self.t.moment(moment) if story else moment

    def _user(self, username: str | None) -> Principal | None:
        return None if username is None else _principal(self.users[username])

    def proposals(self, username: str | None, moment: datetime, *, story: bool = True) -> Proposals:
        return Proposals(self.session, settings=self.settings, user=self._user(username), now=self._now(moment, story))

    def grants(self, username: str, moment: datetime) -> Grants:
        return Grants(self.session, settings=self.settings, user=self._user(username), now=self.t.moment(moment))

    def concessional(self, username: str, moment: datetime) -> Concessional:
        unit = Unit(self.session, self.settings, self._user(username), self.t.moment(moment))
        return Concessional.of(unit)

    async def users_refresh(self) -> None:
        self.users = await _users(self.session)

    def by(self, username: str | None, moment: datetime, *, story: bool = True) -> Decisions:
        """The decisions service."""
        return Decisions(self.session, settings=self.settings, user=self._user(username), now=self._now(moment, story))

    async def decision(self, moment: datetime, closes: datetime, *, story: bool = True, **terms: object) -> int:
        """A decision opened by the secretariat at ``moment``, closing at ``closes``."""
        created = await self.by("admin", moment, story=story).create(
            DecisionCreate.model_validate({"closes_at": self._now(closes, story), "open": True, **terms})
        )
        return created.id or 0

    async def votes(self, decision_id: int, moment: datetime, ballots: dict[str, str], *, story: bool = True) -> None:
        for code, choice in ballots.items():
            await self.by(_delegate(code), moment, story=story).cast(decision_id, choice)

    async def close(self, decision_id: int, moment: datetime, *, story: bool = True) -> None:
        await self.by(None, moment, story=story).close(decision_id)


# ---------------------------------------------------------------- members, fees, donors, pledges, deposits


@dataclass(frozen=True, slots=True)
class _Treasury:
    """The governance service on the story's days."""

    session: AsyncSession
    settings: Settings
    t: Timeline

    def at(self, day: date) -> Governance:
        """The governance service on a story day (noon)."""
        return Governance(self.session, settings=self.settings, actor=DEMO_ACTOR, now=self.t.at(day, 12))


async def _load_governance(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    if (await session.execute(select(func.count()).select_from(Member))).scalar_one():
        report.existing.append("members, fees, pledges and contributions")
        return
    await _add_rates(session, settings, t)
    treasury = _Treasury(session, settings, t)
    gov = treasury.at(date(2025, 1, 10))
    await _admit_members(treasury, gov)
    report.created.append(f"{len(DEMO_MEMBERS)} members, fees and assessments for {t.year(2025)} and {t.year(2026)}")
    await _pay_fees(treasury)
    donors = await _add_donors(session, gov)
    for demo in DEMO_PLEDGES:
        await _pledge(treasury, donors, demo)
    # Money that settles nothing is kept as the contributor's credit.
    await treasury.at(date(2026, 5, 5)).record_contribution(
        ContributionCreate.model_validate(
            {
                "contributor_id": donors["Asian Development Partnership"],
                "value_date": t.day(date(2026, 5, 5)),
                "amount": "75000.00",
                "currency": "USD",
                "reference": "advance, agreement pending",
            }
        ),
        idempotency_key="demo-advance-adp",
    )
    report.created.append(f"{len(DEMO_DONORS)} donors, {len(DEMO_PLEDGES)} pledges with instalments, deposits")


async def _add_rates(session: AsyncSession, settings: Settings, t: Timeline) -> None:
    """One rate a month for every currency of the demo, from November 2024 to November 2026."""
    first = t.at(date(2025, 1, 10), 12)
    ledger = Ledger(session, reporting_currency=settings.reporting_currency, actor=DEMO_ACTOR, now=first)
    for currency, rate in DEMO_RATES.items():
        for month in range(25):
            story_year, m = 2024 + (month + 11) // 12, (month + 11) % 12 + 1
            # A gentle drift, so revaluations and settlements show FX effects.
            drift = Decimal(1) + Decimal(month - 13) / Decimal(1000)
            ledger.now = t.at(date(story_year, m, 1), 12)
            await ledger.add_rate(
                currency,
                t.day(date(story_year, m, 1)),
                (Decimal(rate) * drift).quantize(Decimal("0.000001")),
                source="demo",
            )


async def _admit_members(treasury: _Treasury, gov: Governance) -> None:
    """The member states, the fees of both tiers for the story's two years, and their assessments."""
    t = treasury.t
    for code, tier, joined in DEMO_MEMBERS:
        await gov.admit_member(MemberCreate.model_validate({"code": code, "tier": tier, "joined_on": t.day(joined)}))
    for story_year in (2025, 2026):
        for tier, amount in DEMO_FEES.items():
            await gov.set_fee(
                TierFeeSet.model_validate(
                    {"year": t.year(story_year), "tier": tier, "amount": amount, "currency": "USD"}
                )
            )
    for story_year in (2025, 2026):
        # Early in each fee year (or, when the story falls late in the calendar, as a notice before it).
        await treasury.at(date(story_year, 1, 15)).assess(t.year(story_year))


async def _pay_fees(treasury: _Treasury) -> None:
    """Fees paid in March of each story year: everyone but Bangladesh, two years in arrears."""
    t = treasury.t
    assessments = (
        await treasury.session.execute(select(Assessment).order_by(col(Assessment.year), col(Assessment.member_code)))
    ).scalars()
    for assessment in assessments.all():
        if assessment.member_code == "BGD":
            continue
        paid = Money.from_minor(assessment.amount, assessment.currency)
        story_year = assessment.year - t.year(0)
        value_date = t.day(date(story_year, 3, 20))
        payer = treasury.at(date(story_year, 3, 20))
        await payer.open_fee_years()  # a fee year that has begun is posted before it is paid
        await payer.record_contribution(
            ContributionCreate.model_validate(
                {
                    "contributor_id": assessment.contributor_id,
                    "value_date": value_date,
                    "amount": paid.to_str(),
                    "currency": assessment.currency,
                    "assessment_id": assessment.id,
                    "reference": f"{assessment.year} fee",
                }
            ),
            idempotency_key=f"demo-fee-{assessment.member_code}-{assessment.year}",
        )
    await treasury.at(STORY_END).open_fee_years()


async def _add_donors(session: AsyncSession, gov: Governance) -> dict[str, int]:
    """The donors; every contributor's id by the donor's name or the member state's code."""
    donors: dict[str, int] = {}
    for kind, name, country in DEMO_DONORS:
        contributor = await gov.add_contributor(
            ContributorCreate.model_validate({"kind": kind, "name": name, "country": country})
        )
        assert contributor.id is not None
        donors[name] = contributor.id
    for member_contributor in (
        await session.execute(select(Contributor).where(col(Contributor.member_code).is_not(None)))
    ).scalars():
        assert member_contributor.member_code is not None and member_contributor.id is not None
        donors[member_contributor.member_code] = member_contributor.id
    return donors


async def _pledge(treasury: _Treasury, donors: dict[str, int], demo: DemoPledge) -> None:
    """A pledge with its instalments, those paid deposited on the tenth of the month they fall due."""
    t = treasury.t
    signed_on = t.day(demo.signed_on)
    pledge = await treasury.at(demo.signed_on).pledge(
        PledgeCreate(
            contributor_id=donors[demo.contributor],
            amount=demo.amount,
            currency=demo.currency,
            signed_on=signed_on,
            window_code=demo.window,
            conditional=bool(demo.condition),
            condition=demo.condition,
            reference=f"CA-{signed_on.year}-{demo.contributor[:3].upper()}",
            instalments=[InstalmentIn(due_on=t.day(due), amount=amount) for due, amount in demo.instalments],
        )
    )
    instalments = (
        (
            await treasury.session.execute(
                select(PledgeInstalment)
                .where(col(PledgeInstalment.pledge_id) == pledge.id)
                .order_by(col(PledgeInstalment.number))
            )
        )
        .scalars()
        .all()
    )
    for instalment, (story_due, amount) in zip(instalments, demo.instalments, strict=True):
        if instalment.number not in demo.paid:
            continue
        story_paid = story_due.replace(day=10)
        await treasury.at(story_paid).record_contribution(
            ContributionCreate.model_validate(
                {
                    "contributor_id": pledge.contributor_id,
                    "value_date": t.day(story_paid),
                    "amount": amount,
                    "currency": demo.currency,
                    "instalment_id": instalment.id,
                    "reference": f"instalment {instalment.number}",
                }
            ),
            idempotency_key=f"demo-pledge-{pledge.id}-{instalment.number}",
        )


async def load(database: Database, settings: Settings, clock: Clock) -> DemoReport:
    """Load the demo facility (what is already there is kept), its story moved to end before today."""
    register_hooks()
    report = DemoReport()
    hashing = PasswordHashing(settings)
    t = Timeline.loaded_on(clock.now().date())
    async with database.session() as session:
        await _load_governance(session, settings, report, t)
        await session.commit()
    created_users: list[str] = []

    async def add_users(session: AsyncSession, *, grantees: bool) -> None:
        """The demo's accounts: every role but grantees first; grantees once their organisations exist."""
        for demo_user in DEMO_USERS:
            if (demo_user.organisation_id is not None) != grantees:
                continue
            if await accounts.find_user(session, demo_user.username) is not None:
                report.existing.append(f"user {demo_user.username}")
                continue
            if (
                demo_user.organisation_id is not None
                and await session.get(Organisation, demo_user.organisation_id) is None
            ):
                continue  # its organisation comes later (the agency, on a demo loaded before it existed)
            data = UserCreate(
                username=demo_user.username,
                full_name=demo_user.full_name,
                email=f"{demo_user.username}@demo.fundapp.invalid",
                password=DEMO_PASSWORD,
                roles=list(demo_user.roles),
                member_code=demo_user.member_code,
                organisation_id=demo_user.organisation_id,
            )
            await accounts.create_user(session, data, hashing=hashing, actor=None, now=clock.now())
            created_users.append(demo_user.username)

    async with database.session() as session:
        await add_users(session, grantees=False)
        await session.commit()
    async with database.session() as session:
        await _load_proposals(session, settings, report, t, lambda: add_users(session, grantees=True))
        await add_users(session, grantees=True)  # when the organisations were there already
        await session.commit()
    if created_users:
        report.created.append(f"{len(created_users)} users covering every role")
    async with database.session() as session:
        await _load_decisions(session, settings, report, clock, t)
        await session.commit()
    async with database.session() as session:
        await _load_countries(session, settings, report, t)
        await session.commit()
    async with database.session() as session:
        await demo_grants(session, settings, report, t)
        await session.commit()
    async with database.session() as session:
        await demo_finances(session, settings, report, t)
        await session.commit()
    async with database.session() as session:
        await demo_concessional(session, settings, report, t)
        await add_users(session, grantees=True)  # the agency's user, on a demo loaded before it existed
        await session.commit()
    return report


# ---------------------------------------------------------------- calls, organisations, proposals


async def _load_proposals(
    session: AsyncSession,
    settings: Settings,
    report: DemoReport,
    t: Timeline,
    add_grantees: Callable[[], Awaitable[None]],
) -> None:
    if (await session.execute(select(func.count()).select_from(Call))).scalar_one():
        report.existing.append("calls and proposals")
        return
    moment = t.at(date(2026, 4, 15))
    desk = _Desk(session, settings, t, await _users(session))
    admin = desk.proposals("admin", moment, story=False)
    organisations = await _create_organisations(admin)
    await add_grantees()
    desk.users = await _users(session)
    calls = await _create_calls(admin, t)
    # Organisations are created in the order of DEMO_ORGANISATIONS, so ids 1..5 match the demo grantees.
    assert [o.id for o in organisations] == list(range(1, len(organisations) + 1)), "demo needs a fresh database"
    open_calls = [calls["SKL"], calls["LMG"], calls["PRO"]]
    for n, (title, amount, countries, org_index, steps) in enumerate(DEMO_PROPOSALS):
        call = open_calls[n % len(open_calls)]
        grantee = desk.proposals(_grantee(org_index), moment, story=False)
        proposal = await grantee.create(
            call.id or 0, ProposalContent.model_validate(_content(title, amount, countries, t))
        )
        pid = proposal.id or 0
        if steps:
            await _endorse(desk, admin, pid, [country for country, _share in countries], moment)
        for action in steps:
            await _take_step(desk, admin, grantee, pid, action, moment)
    report.created.append(
        f"{len(DEMO_ORGANISATIONS)} organisations, {len(calls)} calls, {len(DEMO_PROPOSALS)} proposals in every state"
    )


async def _create_organisations(admin: Proposals) -> list[Organisation]:
    """The demo's organisations, their due diligence cleared."""
    organisations = []
    for name, kind, country in DEMO_ORGANISATIONS:
        organisation = await admin.create_organisation(
            OrganisationCreate.model_validate({"name": name, "type": kind, "country": country})
        )
        await admin.set_due_diligence(organisation.id or 0, DueDiligenceSet.model_validate({"status": "cleared"}))
        organisations.append(organisation)
    return organisations


async def _create_calls(admin: Proposals, t: Timeline) -> dict[str, Call]:
    """The calls for proposals, by window code."""
    calls = {}
    for window, title, opens, closes in DEMO_CALLS:
        calls[window] = await admin.create_call(
            CallCreate.model_validate(
                {
                    "window_code": window,
                    "title": f"{title} {t.day(opens).year}",
                    "opens_at": t.at(opens, 0),
                    "closes_at": t.at(closes, 0),
                    "envelope": "3000000.00",
                    "min_grant": "50000.00",
                    "max_grant": "500000.00",
                    "rubric": RUBRIC,
                    "reviews_required": 2,
                }
            )
        )
    return calls


async def _endorse(desk: _Desk, admin: Proposals, pid: int, countries: list[str], moment: datetime) -> None:
    """Each country's endorsement: by its delegate, or by the secretariat with the country's letter."""
    for country in countries:
        delegate = _delegate(country) if _delegate(country) in desk.users else None
        if delegate is not None:
            await desk.proposals(delegate, moment, story=False).endorse(
                pid, EndorsementIn(country=country, decision="endorsed")
            )
        else:
            letter = await admin.attach(pid, f"endorsement-{country}.pdf", LETTER)
            await admin.endorse(
                pid, EndorsementIn(country=country, decision="endorsed", letter_attachment_id=letter.id)
            )


async def _take_step(
    desk: _Desk, admin: Proposals, grantee: Proposals, pid: int, action: str, moment: datetime
) -> None:
    """One of the actions of DEMO_PROPOSALS that bring a proposal to its state."""
    if action in {"submit", "withdraw"}:
        await grantee.act(pid, action)
    elif action in {"review-one", "review-all"}:
        reviewers = ["reviewer"] if action == "review-one" else ["reviewer", "reviewer2"]
        await admin.assign(pid, [desk.users[r].id or 0 for r in ("reviewer", "reviewer2")])
        for r, reviewer in enumerate(reviewers):
            service = desk.proposals(reviewer, moment, story=False)
            await service.declare(pid, ConflictDeclaration(has_conflict=False))
            scores = {str(c["key"]): {"score": 3 + (r + len(str(c["key"]))) % 3} for c in RUBRIC}
            await service.review(pid, ReviewIn.model_validate({"scores": scores, "recommendation": "recommend"}))
    elif action == "approve":
        await desk.proposals(None, moment, story=False).decide(
            pid, approved=True, reason="adopted by the members (demo)"
        )
    else:
        reason = "" if action in {"screen", "pass"} else f"demo: {action.replace('_', ' ')}"
        await admin.act(pid, action, reason=reason)


def _content(title: str, amount: str, countries: list[tuple[str, str]], t: Timeline) -> dict[str, object]:
    money = Money.of(amount, "USD")
    isc = Money.from_minor(money.minor * 7 // 107, "USD")
    staff = Money.from_minor((money.minor - isc.minor) * 6 // 10, "USD")
    travel = money - isc - staff
    first = Money.from_minor(money.minor * 6 // 10, "USD")
    return {
        "title": title,
        "summary": f"{title}: a two-year programme with national partners.",
        "requested_amount": amount,
        "duration_months": 24,
        "countries": [{"country": c, "share": share} for c, share in countries],
        "budget": [
            {"category": "staff", "amount": staff.to_str()},
            {"category": "travel", "amount": travel.to_str()},
            {"category": "indirect_support_costs", "amount": isc.to_str()},
        ],
        "tranches": [
            {"planned_date": t.day(date(2026, 9, 1)).isoformat(), "amount": first.to_str()},
            {
                "planned_date": t.day(date(2027, 6, 1)).isoformat(),
                "amount": (money - first).to_str(),
                "condition": "progress_report",
            },
        ],
        "results": [
            {"title": "Migrants reached", "indicators": [{"name": "people trained", "baseline": "0", "target": "2000"}]}
        ],
        "gender_marker": 2,
        "gcm_objectives": [5, 18],
        "sdg_targets": ["10.7.2", "8.8"],
        "beneficiaries": [
            {"sex": "female", "age_group": "25-59", "count": 1200},
            {"sex": "male", "age_group": "25-59", "count": 800},
        ],
    }


# ---------------------------------------------------------------- decisions of the member states

# Story moments are written in the story's calendar (and moved by ``t``); the open decisions start today.
_FUNDING_OPENS = datetime(2026, 5, 4, 10, tzinfo=UTC)
_LATER = _FUNDING_OPENS + timedelta(days=35)
_WEEK = timedelta(days=7)
_FUND_TEXT = "The member states approve the grant as recommended by the Technical Advisory Group."


async def _load_decisions(
    session: AsyncSession, settings: Settings, report: DemoReport, clock: Clock, t: Timeline
) -> None:
    """Closed decisions of every kind with their records (one funding decision refused for lack of funds at
    its close), open decisions waiting for votes and a written procedure running."""
    if (await session.execute(select(func.count()).select_from(Decision))).scalar_one():
        report.existing.append("decisions")
        return
    desk = _Desk(session, settings, t, await _users(session))
    proposal_ids = {
        p.title: p.id or 0 for p in (await session.execute(select(Proposal).order_by(col(Proposal.id)))).scalars()
    }
    await _funding_decisions(desk, proposal_ids)
    await _membership_decisions(desk)
    await _next_year_decisions(desk)
    await _allocation_and_policy(desk)
    await _open_decisions(desk, proposal_ids, clock.now())
    report.created.append("13 decisions: closed ones of every kind with their records, 3 open")


async def _load_countries(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    """The benefitting countries, each added by a vote of the members (kept when any is there already)."""
    if (await session.execute(select(func.count()).select_from(BenefittingCountry))).scalar_one():
        report.existing.append("benefitting countries")
        return
    desk, opens, week = _Desk(session, settings, t, await _users(session)), _LATER, _WEEK
    for code, group, text in DEMO_COUNTRIES:
        decision = await desk.decision(
            opens,
            opens + 2 * week,
            kind="add_country",
            country=code,
            group=group,
            title=f"{country_names(code)['en']} becomes a benefitting country",
            text=text,
        )
        await desk.votes(decision, opens + timedelta(days=4), {**YES_MOSTLY, "MEX": "yes", "PHL": "yes"})
        await desk.close(decision, opens + 2 * week + timedelta(hours=1))
    report.created.append(f"{len(DEMO_COUNTRIES)} benefitting countries, each added by a vote of the members")


async def _fund(
    desk: _Desk, title: str, proposal_id: int, opens: datetime, closes: datetime, *, story: bool = True
) -> int:
    """A decision to fund a proposal, as the Technical Advisory Group recommended it."""
    return await desk.decision(
        opens,
        closes,
        story=story,
        kind="fund_proposal",
        proposal_id=proposal_id,
        title=f"Fund: {title}",
        text=_FUND_TEXT,
    )


async def _funding_decisions(desk: _Desk, proposal_ids: dict[str, int]) -> None:
    """Three funding decisions on the protection window: each affordable when it opened, not all together."""
    day, week = _FUNDING_OPENS, _WEEK

    async def fund(title: str, opens: datetime, closes: datetime) -> int:
        return await _fund(desk, title, proposal_ids[title], opens, closes)

    vocational = await fund("Vocational training in origin communities", day, day + 2 * week)
    await desk.by(_delegate("MEX"), day + timedelta(days=1)).recuse(vocational, "Mexico is the beneficiary country.")
    await desk.votes(vocational, day + timedelta(days=2), {**YES_MOSTLY, "PHL": "abstain", "MAR": "no"})
    digital = await fund("Digital identity for migrant workers", day + timedelta(days=1), day + 3 * week)
    shelters = await fund(
        "Shelter network for migrants in transit", day + timedelta(days=1), day + 3 * week + timedelta(days=1)
    )
    for decision_id in (digital, shelters):
        await desk.votes(decision_id, day + timedelta(days=3), {**YES_MOSTLY, "MEX": "yes", "PHL": "yes"})
    await desk.close(vocational, day + 2 * week + timedelta(hours=1))
    await desk.close(digital, day + 3 * week + timedelta(hours=1))
    await desk.close(shelters, day + 3 * week + timedelta(days=1, hours=1))  # not adopted: the window is short


async def _membership_decisions(desk: _Desk) -> None:
    """Costa Rica admitted by consensus at a meeting of the members; a tier change under the written
    procedure, where an objection turns it into a vote, which fails."""
    t, later, week = desk.t, _LATER, _WEEK
    admission = await desk.decision(
        later,
        later + 2 * week,
        kind="admit_member",
        member_code="CRI",
        tier="II",
        joined_on=t.day(date(2026, 7, 1)),
        procedure="consensus",
        title="Admission of Costa Rica",
        text=f"Costa Rica is admitted as a Part II member from {t.day(date(2026, 7, 1)):%-d %B %Y}.",
    )
    await desk.by("admin", later + week).record_meeting(
        admission, MeetingRecord(present=list(MEETING_PRESENT), notes="Members' meeting, Geneva")
    )
    tier = await desk.decision(
        later,
        later + week,
        kind="set_tier",
        member_code="GTM",
        tier="I",
        procedure="no_objection",
        title="Guatemala moves to Part I",
        text=f"Guatemala pays the Part I fee from {t.year(2027)}.",
    )
    await desk.by(_delegate("GTM"), later + timedelta(days=2)).object(
        tier, f"Our budget for {t.year(2027)} is already fixed."
    )
    await desk.votes(
        tier,
        later + timedelta(days=3),
        {"DEU": "yes", "CHE": "no", "SWE": "no", "JPN": "abstain", "MEX": "no", "SEN": "no", "GTM": "no"},
    )
    await desk.close(tier, later + timedelta(days=3) + week + timedelta(hours=1))


async def _next_year_decisions(desk: _Desk) -> None:
    """The fee schedule and the administrative budget for the next year, by vote."""
    later, week = _LATER, _WEEK
    next_year = desk.t.year(2027)
    for tier_code, amount in (("I", "160000.00"), ("II", "26000.00")):
        fee = await desk.decision(
            later,
            later + 2 * week,
            kind="fee_schedule",
            year=next_year,
            tier=tier_code,
            currency="USD",
            amount=amount,
            title=f"Part {tier_code} fee for {next_year}",
            text=f"The annual fee of Part {tier_code} members for {next_year} is USD {amount}.",
        )
        await desk.votes(fee, later + timedelta(days=4), {**YES_MOSTLY, "MEX": "yes", "PHL": "yes", "MAR": "yes"})
        await desk.close(fee, later + 2 * week + timedelta(hours=1))
    budget = await desk.decision(
        later,
        later + 2 * week,
        kind="admin_budget",
        year=next_year,
        amount="450000.00",
        title=f"Secretariat budget {next_year}",
        text=f"The secretariat's administrative budget for {next_year} is USD 450,000.00.",
    )
    await desk.votes(budget, later + timedelta(days=5), {**YES_MOSTLY, "MEX": "yes", "PHL": "no"})
    await desk.close(budget, later + 2 * week + timedelta(hours=1))


async def _allocation_and_policy(desk: _Desk) -> None:
    """Pooled funds to the technologies window, without objection; a policy adopted by consensus."""
    later, week = _LATER, _WEEK
    allocation = await desk.decision(
        later,
        later + week,
        kind="window_allocation",
        window_code="TEC",
        amount="600000.00",
        title="Pooled funds to the technologies window",
        text="USD 600,000.00 of the pooled funds are allocated to the TEC window.",
    )
    await desk.close(allocation, later + week + timedelta(hours=1))
    policy = await desk.decision(
        later,
        later + 2 * week,
        kind="policy",
        title="Gender policy of the facility",
        text="Every funded project reports its results disaggregated by sex and age.",
    )
    await desk.by("admin", later + week).record_meeting(
        policy, MeetingRecord(present=[*MEETING_PRESENT, "GTM", "ECU"], notes="Members' meeting, Geneva")
    )


async def _open_decisions(desk: _Desk, proposal_ids: dict[str, int], now: datetime) -> None:
    """Open now: decisions waiting for votes and a written procedure running."""
    week = _WEEK
    title = "Regional policy dialogue on labour mobility"
    dialogue = await _fund(desk, title, proposal_ids[title], now, now + 2 * week, story=False)
    await desk.votes(dialogue, now, {"DEU": "yes", "SEN": "yes", "PHL": "abstain"}, story=False)
    data_policy = await desk.decision(
        now,
        now + 3 * week,
        story=False,
        kind="policy",
        procedure="vote",
        title="Data protection policy",
        text="Personal data of beneficiaries is processed under the facility's data protection policy.",
    )
    await desk.votes(data_policy, now, {"CHE": "yes", "MEX": "yes"}, story=False)
    await desk.decision(
        now,
        now + 10 * timedelta(days=1),
        story=False,
        kind="window_allocation",
        window_code="SKL",
        amount="250000.00",
        title="Pooled funds to the skills window",
        text="USD 250,000.00 of the pooled funds are allocated to the SKL window.",
    )


# ---------------------------------------------------------------- grants at every stage


async def demo_grants(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    """Grants at every stage, from funding decisions: one awaiting its agreement, one disbursed in part, one
    whose final report is overdue, one with a refund, and one closed with its unused commitment released.

    The two grants the members adopted in ``_load_decisions`` are used as they are (awaiting agreement) or
    taken further (disbursed in part); three more proposals are reviewed, recommended and funded here by
    decisions of early March of the story's second year, so that their dates fall before anyone reads them."""
    first_title = DEMO_GRANT_PROPOSALS[0][0]
    if (
        await session.execute(select(func.count()).select_from(Proposal).where(col(Proposal.title) == first_title))
    ).scalar_one():
        report.existing.append("grants")
        return
    desk = _Desk(session, settings, t, await _users(session))
    calls = {
        window: call
        for window, call in (
            await session.execute(
                select(col(Window.code), Call).join(Call, col(Call.window_id) == col(Window.id)).order_by(col(Call.id))
            )
        ).all()
    }
    # Three proposals submitted in February 2026, reviewed and recommended, funded by the members in March.
    funded: dict[str, int] = {}
    for title, window, amount, months, org_index, countries in DEMO_GRANT_PROPOSALS:
        funded[title] = await _recommended(desk, calls[window].id or 0, title, amount, months, org_index, countries)
    opened, closes = _at(date(2026, 2, 23)), _at(date(2026, 3, 9))
    for title, pid in funded.items():
        decision_id = await _fund(desk, title, pid, opened, closes)
        await desk.votes(decision_id, opened + timedelta(days=2), dict.fromkeys(GRANT_VOTERS, "yes"))
        await desk.close(decision_id, closes + timedelta(hours=1))
    await _grants_at_every_stage(desk)
    report.created.append(
        "5 grants: awaiting agreement, disbursed in part, with an overdue report, with a refund, closed"
    )


async def _recommended(
    desk: _Desk,
    call_id: int,
    title: str,
    amount: str,
    months: int,
    org_index: int,
    countries: list[tuple[str, str]],
) -> int:
    """A proposal submitted in February 2026, endorsed, screened, reviewed and recommended; its id."""
    submitted = _at(date(2026, 2, 16))
    content = _content(title, amount, countries, desk.t)
    content["duration_months"] = months
    grantee = desk.proposals(_grantee(org_index), submitted)
    pid = (await grantee.create(call_id, ProposalContent.model_validate(content))).id or 0
    for country, _share in countries:
        await desk.proposals(_delegate(country), submitted).endorse(
            pid, EndorsementIn(country=country, decision="endorsed")
        )
    await grantee.act(pid, "submit")
    admin = desk.proposals("admin", submitted + timedelta(days=1))
    await admin.act(pid, "screen")
    await admin.act(pid, "pass")
    await admin.assign(pid, [desk.users["reviewer"].id or 0, desk.users["reviewer2"].id or 0])
    for r, reviewer in enumerate(("reviewer", "reviewer2")):
        service = desk.proposals(reviewer, submitted + timedelta(days=3))
        await service.declare(pid, ConflictDeclaration(has_conflict=False))
        scores = {str(c["key"]): {"score": 4 - (r + len(str(c["key"]))) % 2} for c in RUBRIC}
        await service.review(pid, ReviewIn.model_validate({"scores": scores, "recommendation": "recommend"}))
    await desk.proposals("admin", submitted + timedelta(days=5)).act(
        pid, "recommend", reason="Urgent, feasible and well costed."
    )
    return pid


async def _grants_at_every_stage(desk: _Desk) -> None:
    """The funded grants taken to their stages: signed, paid, refunded, reported and closed."""
    t = desk.t
    # Disbursed in part: the vocational training grant the members adopted in May.
    vocational = await _grant_of(desk, "Vocational training in origin communities")
    await _sign(desk, vocational, date(2026, 6, 1), "003")
    await _transfer(desk, vocational, 1, date(2026, 6, 15), "100000.00")

    # An overdue report: the three-month emergency grant, its first tranche paid, its final report (due
    # 90 days after the end, early September of the story's second year) never submitted.
    emergency = await _grant_of(desk, "Emergency assistance to stranded migrants")
    await _sign(desk, emergency, date(2026, 3, 16), "001")
    await _transfer(desk, emergency, 1, date(2026, 3, 20))

    # A refund: the employers' training grant returned part of its first tranche (a cancelled workshop).
    recruitment = await _grant_of(desk, "Ethical recruitment training for employers")
    await _sign(desk, recruitment, date(2026, 3, 23), "002")
    await _transfer(desk, recruitment, 1, date(2026, 4, 1))
    await desk.grants("finance", _at(date(2026, 7, 10))).record_refund(
        recruitment.id or 0,
        RefundCreate(amount="15000.00", received_on=t.day(date(2026, 7, 10)), reference="cancelled workshop in Cebu"),
        idempotency_key="demo-refund-recruitment",
    )

    # Closed: the diaspora pilot reported, received most of its second tranche and closed; the 4,000.00
    # committed and not paid went back to the SKL window.
    pilot = await _grant_of(desk, "Diaspora skills exchange pilot")
    await _sign(desk, pilot, date(2026, 3, 16), "004")
    await _transfer(desk, pilot, 1, date(2026, 3, 25))
    spent = {"staff": "55000.00", "travel": "33000.00", "indirect_support_costs": "6000.00"}
    await _reported(desk, pilot, 1, date(2026, 9, 20), spent, "grantee5")
    await _transfer(desk, pilot, 2, date(2026, 10, 5), "36000.00")
    await desk.grants("admin", _at(date(2026, 10, 15))).close(
        pilot.id or 0, GrantAction(reason="Pilot completed; final report accepted."), idempotency_key="demo-close-pilot"
    )


async def _grant_of(desk: _Desk, title: str) -> Grant:
    return (
        await desk.session.execute(
            select(Grant).join(Proposal, col(Proposal.id) == col(Grant.proposal_id)).where(col(Proposal.title) == title)
        )
    ).scalar_one()


async def _sign(desk: _Desk, grant: Grant, day: date, number: str) -> None:
    reference = f"GA-{desk.t.day(day).year}-{number}"
    await desk.grants("admin", _at(day)).sign_agreement(
        grant.id or 0, AgreementIn(signed_on=desk.t.day(day), reference=reference), idempotency_key=f"demo-{reference}"
    )


async def _transfer(desk: _Desk, grant: Grant, tranche: int, day: date, amount: str | None = None) -> None:
    """A tranche prepared by the finance officer in the morning and approved in the afternoon."""
    prepared = await desk.grants("finance", _at(day, 9)).prepare_disbursement(
        grant.id or 0,
        DisbursementCreate(tranche=tranche, amount=amount, reference=f"demo transfer {grant.id}-{tranche}"),
        idempotency_key=f"demo-transfer-{grant.id}-{tranche}-{day}",
    )
    await desk.grants("approver", _at(day, 15)).approve_disbursement(
        prepared.value.id or 0, idempotency_key=f"demo-approval-{grant.id}-{tranche}-{day}"
    )


async def _reported(desk: _Desk, grant: Grant, number: int, day: date, spent: dict[str, str], grantee: str) -> None:
    """A scheduled report submitted by the grantee and accepted by the secretariat ten days later."""
    scheduled = (
        await desk.session.execute(
            select(GrantReport).where(col(GrantReport.grant_id) == grant.id, col(GrantReport.number) == number)
        )
    ).scalar_one()
    report_id = scheduled.id or 0
    await desk.grants(grantee, _at(day)).submit_report(
        grant.id or 0,
        ReportSubmit.model_validate(
            {
                "report_id": report_id,
                "narrative": "Activities on schedule; the partners' reports are attached to the file.",
                "indicators": [{"outcome": "Migrants reached", "indicator": "people trained", "value": "850"}],
                "expenditure": [{"category": c, "amount": a} for c, a in spent.items()],
            }
        ),
    )
    await desk.grants("admin", _at(day + timedelta(days=10))).accept_report(
        grant.id or 0, report_id, ReportReview(note="Accepted."), idempotency_key=f"demo-report-{report_id}"
    )


# ---------------------------------------------------------------- the secretariat's finances for the statements


async def demo_finances(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    """The secretariat's budgets for the story's two years (by decision), its direct costs, the trustee's
    interest and bank charges, and the revaluation of foreign-currency balances at the closing rates of every
    year end the story spans: what the financial statements show besides contributions and grants."""
    first_key = DEMO_FINANCE_ENTRIES[0][0]
    if (
        await session.execute(
            select(func.count()).select_from(EntryRequest).where(col(EntryRequest.idempotency_key) == first_key)
        )
    ).scalar_one():
        report.existing.append("secretariat budgets, costs, interest and bank charges")
        return
    desk = _Desk(session, settings, t, await _users(session))
    await _adopt_admin_budgets(desk)
    await _record_finance_entries(desk)
    # Revalued at every year end the story spans and at its last day (a month end, as a month's close would).
    year_ends = [date(year, 12, 31) for year in range(t.first_day.year, t.last_day.year)]
    for closing in sorted({*year_ends, t.last_day}):
        ledger = Ledger(session, reporting_currency=settings.reporting_currency, actor=DEMO_ACTOR, now=_at(closing, 18))
        await revalue_manual(ledger, closing)
    report.created.append(
        f"secretariat budgets for {t.year(2025)} and {t.year(2026)}, direct costs, interest, bank charges "
        "and year-end revaluations"
    )


async def _adopt_admin_budgets(desk: _Desk) -> None:
    """The secretariat's budgets of the story's years, adopted by vote (those already there are kept)."""
    for story_year, amount, opened_on in DEMO_ADMIN_BUDGETS:
        year = desk.t.year(story_year)
        if await desk.session.get(AdminBudget, year) is not None:
            continue
        opened = desk.t.at(opened_on)
        decision_id = await desk.decision(
            opened,
            opened + timedelta(days=14),
            story=False,
            kind="admin_budget",
            year=year,
            amount=amount,
            title=f"Secretariat budget {year}",
            text=f"The secretariat's administrative budget for {year} is USD {Decimal(amount):,}.",
        )
        await desk.votes(decision_id, opened + timedelta(days=3), dict.fromkeys(BUDGET_VOTERS, "yes"), story=False)
        await desk.close(decision_id, opened + timedelta(days=14, hours=1), story=False)


async def _record_finance_entries(desk: _Desk) -> None:
    """Each entry prepared by the finance officer with its reason in the morning and approved by the finance
    approver in the afternoon (four eyes); the story's last one waits for its approval."""
    t, settings = desk.t, desk.settings
    threshold = settings.charter.second_approver_threshold
    for key, story_day, what, lines in (*DEMO_FINANCE_ENTRIES, DEMO_PENDING_ENTRY):
        day = t.day(story_day)
        ledger = Ledger(
            desk.session,
            reporting_currency=settings.reporting_currency,
            actor=actor_of(_principal(desk.users["finance"])),
            now=t.at(story_day),
        )
        prepared = await EntryRequests(ledger, threshold=threshold).prepare_entry(
            EntryDraft(
                entry_date=day,
                description=f"{what} to {day:%-d %B %Y}",
                lines=tuple(Line(account, Money.of(amount, currency)) for account, amount, currency in lines),
                source_type="manual",
            ),
            f"{what}: {DEMO_ENTRY_REASONS[what]}",
            idempotency_key=key,
        )
        if key == DEMO_PENDING_ENTRY[0]:
            break
        checker = Ledger(
            desk.session,
            reporting_currency=settings.reporting_currency,
            actor=actor_of(_principal(desk.users["approver"])),
            now=t.at(story_day, 15),
        )
        await EntryRequests(checker, threshold=threshold).approve(prepared.request.id or 0)


# ---------------------------------------------------------------- concessional financing


async def demo_concessional(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    """One concessional operation, after Jordan was added as a benefitting country (``_load_countries``): the
    World Bank (an implementation support agency with its financial procedures agreement) requests the
    concessionality of a loan to Jordan, the TAG reviews it, the members adopt it, the agreement is signed,
    the loan is board approved and effective, and the first tranche is transferred."""
    if (
        await session.execute(
            select(func.count())
            .select_from(FinancingRequest)
            .where(col(FinancingRequest.title) == DEMO_CONCESSIONAL_TITLE)
        )
    ).scalar_one():
        report.existing.append("concessional operation")
        return
    desk = _Desk(session, settings, t, await _users(session))
    agency = await _demo_agency(desk)
    request_id = await _demo_request(desk, agency)
    opened, closes = _at(date(2026, 7, 13)), _at(date(2026, 7, 27))
    decision = await desk.decision(
        opened,
        closes,
        kind="concessional_financing",
        request_id=request_id,
        title=f"Concessional financing: {DEMO_CONCESSIONAL_TITLE}",
        text=_FUND_TEXT,
    )
    await desk.votes(decision, opened + timedelta(days=2), dict.fromkeys(GRANT_VOTERS, "yes"))
    await desk.close(decision, closes + timedelta(hours=1))
    row = await session.get(FinancingRequest, request_id)
    assert row is not None and row.grant_id is not None, "the demo's concessional decision was not adopted"
    grant = await session.get(Grant, row.grant_id)
    assert grant is not None
    await _sign(desk, grant, date(2026, 8, 3), "101")
    await desk.concessional("worldbank", _at(date(2026, 8, 10))).board_approval(
        request_id, BoardApprovalIn(approved_on=t.day(date(2026, 8, 10)))
    )
    day = t.day(date(2026, 8, 24))
    await desk.concessional("worldbank", _at(date(2026, 8, 24))).effectiveness(
        request_id, EffectivenessIn(signed_on=day, effective_on=day)
    )
    await _transfer(desk, grant, 1, date(2026, 9, 1))
    report.created.append("a concessional operation (World Bank, Jordan): adopted, effective, one tranche transferred")


async def _demo_agency(desk: _Desk) -> Organisation:
    """The World Bank, its due diligence cleared and its financial procedures agreement recorded."""
    name, kind, country = DEMO_ORGANISATIONS[-1]
    admin = desk.proposals("admin", _at(date(2026, 6, 15)))
    agency = (
        await desk.session.execute(select(Organisation).where(col(Organisation.name) == name))
    ).scalar_one_or_none()
    if agency is None:
        agency = await admin.create_organisation(
            OrganisationCreate.model_validate({"name": name, "type": kind, "country": country})
        )
        await admin.set_due_diligence(agency.id or 0, DueDiligenceSet.model_validate({"status": "cleared"}))
    await desk.concessional("admin", _at(date(2026, 6, 15))).record_procedures_agreement(
        agency.id or 0, ProceduresAgreementIn(agreed_on=desk.t.day(date(2026, 6, 15)), document="FPA-IBRD-2026-01")
    )
    return agency


async def _demo_request(desk: _Desk, agency: Organisation) -> int:
    """The World Bank's request, drafted and submitted at the end of June, screened, reviewed and recommended."""
    t = desk.t
    body = {
        **DEMO_CONCESSIONAL_REQUEST,
        "endorsed_on": t.day(date(2026, 6, 25)),
        "tranches": [{"planned_date": t.day(day), "amount": amount} for day, amount in DEMO_CONCESSIONAL_TRANCHES],
    }
    drafted = _at(date(2026, 6, 29))
    agent = desk.concessional("worldbank", drafted)
    request = await agent.create(FinancingRequestIn.model_validate(body))
    request_id = request.id or 0
    await agent.submit(request_id)
    pid = request.proposal_id
    admin = desk.proposals("admin", drafted + timedelta(days=1))
    await admin.act(pid, "screen")
    await admin.act(pid, "pass")
    await admin.assign(pid, [desk.users["reviewer"].id or 0, desk.users["reviewer2"].id or 0])
    for r, reviewer in enumerate(("reviewer", "reviewer2")):
        service = desk.proposals(reviewer, drafted + timedelta(days=3))
        await service.declare(pid, ConflictDeclaration(has_conflict=False))
        scores = {key: {"score": 5 - r} for key in ("development_impact", "concessionality", "agency_capacity")}
        await service.review(pid, ReviewIn.model_validate({"scores": scores, "recommendation": "recommend"}))
    await desk.proposals("admin", drafted + timedelta(days=5)).act(
        pid, "recommend", reason="Strong leverage (5.84) for jobs in host communities."
    )
    return request_id
