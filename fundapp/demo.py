"""The demo facility: loaded by ``fundapp demo`` and ``make run``; loading it again adds nothing.

Every demo account shares one documented password (README, "Demo logins"). Never load it into a
production database: the CLI refuses to.
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

from fundapp.core import accounts, audit
from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role, User
from fundapp.core.schemas import UserCreate
from fundapp.core.security import PasswordHashing, Principal
from fundapp.core.unit import actor_of
from fundapp.wiring import register_hooks
from governance.decisions import Decisions
from governance.models import Assessment, Contributor, Decision, Member, PledgeInstalment
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
from proposals.models import Call, Proposal
from proposals.schemas import (
    CallCreate,
    ConflictDeclaration,
    DueDiligenceSet,
    EndorsementIn,
    OrganisationCreate,
    ProposalContent,
    ReviewIn,
)
from proposals.service import Proposals

DEMO_PASSWORD = "fundapp-demo-2026"  # noqa: S105 - documented demo credential, refused in production


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[Role, ...]
    member_code: str | None = None
    organisation_id: int | None = None


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Secretariat administrator", (Role.SECRETARIAT_ADMIN,)),
    DemoUser("finance", "Finance officer", (Role.FINANCE_OFFICER,)),
    DemoUser("approver", "Finance approver", (Role.FINANCE_APPROVER,)),
    DemoUser("reviewer", "Technical Advisory Group reviewer", (Role.TAG_REVIEWER,)),
    DemoUser("reviewer2", "Technical Advisory Group reviewer", (Role.TAG_REVIEWER,)),
    DemoUser("delegate.mex", "Delegate of Mexico", (Role.MEMBER_DELEGATE,), member_code="MEX"),
    DemoUser("delegate.sen", "Delegate of Senegal", (Role.MEMBER_DELEGATE,), member_code="SEN"),
    # Every other member state has a delegate too, so the demo's decisions are voted by real accounts.
    *(
        DemoUser(f"delegate.{code.lower()}", f"Delegate of {name}", (Role.MEMBER_DELEGATE,), member_code=code)
        for code, name in (
            ("DEU", "Germany"),
            ("CHE", "Switzerland"),
            ("SWE", "Sweden"),
            ("JPN", "Japan"),
            ("GBR", "the United Kingdom"),
            ("PHL", "the Philippines"),
            ("MAR", "Morocco"),
            ("GTM", "Guatemala"),
            ("BGD", "Bangladesh"),
            ("ECU", "Ecuador"),
        )
    ),
    DemoUser("grantee", "Officer of Red de Apoyo al Migrante", (Role.GRANTEE,), organisation_id=1),
    DemoUser("grantee2", "Officer of the Ministry of Labour of Senegal", (Role.GRANTEE,), organisation_id=2),
    DemoUser(
        "grantee3", "Officer of the International Centre for Migration Policy", (Role.GRANTEE,), organisation_id=3
    ),
    DemoUser("grantee4", "Officer of Remit Fair Ltd", (Role.GRANTEE,), organisation_id=4),
    DemoUser("grantee5", "Officer of the University of Dakar Migration Lab", (Role.GRANTEE,), organisation_id=5),
    DemoUser("auditor", "External auditor", (Role.AUDITOR,)),
)


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

# The demo's story is written in its own calendar, from November 2024 to STORY_END. Loaded on any day it is
# moved by whole months so that its last day falls before the day it is loaded (nothing is ever dated after
# the facility's clock), and the fee years it names move with it.
STORY_END = date(2026, 12, 31)


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


STORY_START = date(2024, 11, 4)

# Part I members pay the higher fee; both tiers vote with the same weight.
DEMO_MEMBERS: tuple[tuple[str, str, date], ...] = (
    ("DEU", "I", date(2024, 1, 1)),
    ("CHE", "I", date(2024, 1, 1)),
    ("SWE", "I", date(2024, 1, 1)),
    ("JPN", "I", date(2024, 1, 1)),
    ("MEX", "I", date(2024, 1, 1)),
    ("GBR", "I", date(2024, 6, 1)),
    ("SEN", "II", date(2024, 1, 1)),
    ("PHL", "II", date(2024, 1, 1)),
    ("MAR", "II", date(2024, 1, 1)),
    ("GTM", "II", date(2025, 3, 1)),
    ("BGD", "II", date(2024, 1, 1)),
    ("ECU", "II", date(2026, 4, 15)),
)
DEMO_FEES = {"I": "150000.00", "II": "25000.00"}
# Units of USD per unit of each currency, one rate a month (indicative demo values).
DEMO_RATES = {"EUR": "1.0850", "GBP": "1.2700", "CHF": "1.1300", "JPY": "0.006700", "SEK": "0.095000"}
DEMO_DONORS = (
    ("government", "Government of Norway", "NOR"),
    ("foundation", "Nordic Migration Foundation", "NOR"),
    ("multilateral", "Asian Development Partnership", "PHL"),
    ("private_sector", "Global Remittance Alliance", "SGP"),
)


@dataclass(frozen=True, slots=True)
class DemoPledge:
    contributor: str  # a member code or a donor's name
    amount: str
    currency: str
    window: str | None
    signed_on: date
    instalments: tuple[tuple[date, str], ...]
    paid: tuple[int, ...]  # instalment numbers paid
    condition: str = ""


DEMO_PLEDGES: tuple[DemoPledge, ...] = (
    DemoPledge(
        "DEU",
        "2000000.00",
        "EUR",
        "SKL",
        date(2026, 1, 20),
        ((date(2026, 2, 1), "1200000.00"), (date(2026, 8, 1), "800000.00")),
        (1,),
    ),
    DemoPledge(
        "CHE",
        "1500000.00",
        "CHF",
        None,
        date(2026, 1, 25),
        ((date(2026, 3, 1), "500000.00"), (date(2026, 6, 1), "500000.00"), (date(2026, 12, 1), "500000.00")),
        (1, 2),
    ),
    DemoPledge(
        "SWE",
        "10000000.00",
        "SEK",
        "PRO",
        date(2026, 2, 3),
        ((date(2026, 3, 1), "5000000.00"), (date(2026, 9, 1), "5000000.00")),
        (1, 2),
    ),
    DemoPledge("JPN", "150000000", "JPY", "TEC", date(2026, 2, 10), ((date(2026, 4, 1), "150000000"),), (1,)),
    DemoPledge(
        "GBR",
        "1000000.00",
        "GBP",
        "LMG",
        date(2026, 3, 2),
        ((date(2026, 4, 1), "600000.00"), (date(2026, 10, 1), "400000.00")),
        (1,),
    ),
    DemoPledge(
        "Government of Norway",
        "3000000.00",
        "USD",
        "PAR",
        date(2026, 1, 12),
        ((date(2026, 2, 1), "1500000.00"), (date(2026, 7, 1), "1500000.00")),
        (1, 2),
    ),
    DemoPledge(
        "Nordic Migration Foundation",
        "500000.00",
        "USD",
        None,
        date(2026, 2, 14),
        ((date(2026, 5, 1), "500000.00"),),
        (),
        condition="subject to the foundation board's approval",
    ),
    DemoPledge(
        "Global Remittance Alliance",
        "250000.00",
        "USD",
        "IRR",
        date(2026, 4, 1),
        ((date(2026, 6, 30), "250000.00"),),
        (),
    ),
)


async def _load_governance(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    if (await session.execute(select(func.count()).select_from(Member))).scalar_one():
        report.existing.append("members, fees, pledges and contributions")
        return
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

    def at(day: date) -> Governance:
        """The governance service on a story day (noon)."""
        return Governance(session, settings=settings, actor=DEMO_ACTOR, now=t.at(day, 12))

    gov = at(date(2025, 1, 10))
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
        await at(date(story_year, 1, 15)).assess(t.year(story_year))
    report.created.append(f"{len(DEMO_MEMBERS)} members, fees and assessments for {t.year(2025)} and {t.year(2026)}")

    # Fees paid in March of each story year: everyone but Bangladesh, two years in arrears.
    assessments = (
        await session.execute(select(Assessment).order_by(col(Assessment.year), col(Assessment.member_code)))
    ).scalars()
    for assessment in assessments.all():
        if assessment.member_code == "BGD":
            continue
        paid = Money.from_minor(assessment.amount, assessment.currency)
        story_year = assessment.year - t.year(0)
        value_date = t.day(date(story_year, 3, 20))
        payer = at(date(story_year, 3, 20))
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
    await at(STORY_END).open_fee_years()

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

    for demo in DEMO_PLEDGES:
        signed_on = t.day(demo.signed_on)
        pledge = await at(demo.signed_on).pledge(
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
                await session.execute(
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
            await at(story_paid).record_contribution(
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
    # Money that settles nothing is kept as the contributor's credit.
    await at(date(2026, 5, 5)).record_contribution(
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
        await demo_grants(session, settings, report, t)
        await session.commit()
    async with database.session() as session:
        await demo_finances(session, settings, report, t)
        await session.commit()
    return report


# ---------------------------------------------------------------- calls, organisations, proposals

DEMO_ORGANISATIONS = (
    ("Red de Apoyo al Migrante", "ngo", "MEX"),
    ("Ministry of Labour of Senegal", "government", "SEN"),
    ("International Centre for Migration Policy", "international_organisation", "CHE"),
    ("Remit Fair Ltd", "private_sector", "PHL"),
    ("University of Dakar Migration Lab", "academia", "SEN"),
)
RUBRIC = [
    {"key": "relevance", "label": "Relevance to the window", "weight": 3},
    {"key": "feasibility", "label": "Feasibility and budget", "weight": 2},
    {"key": "results", "label": "Results framework", "weight": 2},
    {"key": "gender", "label": "Gender responsiveness", "weight": 1},
]


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


# (title, amount, countries, organisation index, the actions that bring it to its state)
DEMO_PROPOSALS: tuple[tuple[str, str, list[tuple[str, str]], int, tuple[str, ...]], ...] = (
    ("Skills passports for returning migrants", "250000.00", [("MEX", "100")], 0, ()),
    ("Fair recruitment corridor Senegal-Spain", "300000.00", [("SEN", "100")], 1, ("submit",)),
    ("Remittance price transparency", "150000.00", [("KEN", "100")], 3, ("submit", "screen")),
    ("Labour migration statistics", "200000.00", [("SEN", "70"), ("NGA", "30")], 4, ("submit", "screen", "return")),
    (
        "Protection desks at border crossings",
        "400000.00",
        [("MEX", "60"), ("HND", "40")],
        0,
        ("submit", "screen", "pass", "review-one"),
    ),
    (
        "Digital identity for migrant workers",
        "350000.00",
        [("SEN", "100")],
        1,
        ("submit", "screen", "pass", "review-all", "recommend"),
    ),
    (
        "Recruitment fee reimbursement pilot",
        "120000.00",
        [("KEN", "100")],
        3,
        ("submit", "screen", "pass", "review-all", "not_recommend"),
    ),
    (
        "Regional policy dialogue on labour mobility",
        "180000.00",
        [("COL", "100")],
        2,
        ("submit", "screen", "pass", "review-all", "recommend", "refer"),
    ),
    (
        "Vocational training in origin communities",
        "220000.00",
        [("MEX", "100")],
        0,
        ("submit", "screen", "pass", "review-all", "recommend", "refer"),
    ),
    ("Information campaign on irregular routes", "90000.00", [("SEN", "100")], 1, ("submit", "screen", "reject")),
    ("Remittance app for seasonal workers", "110000.00", [("KEN", "100")], 3, ("submit", "withdraw")),
    (
        "Shelter network for migrants in transit",
        "500000.00",
        [("MEX", "50"), ("GTM", "50")],
        0,
        ("submit", "screen", "pass", "review-all", "recommend"),
    ),
)


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
    users = {u.username: u for u in (await session.execute(select(User))).scalars()}

    def as_user(username: str | None) -> Proposals:
        if username is None:
            return Proposals(session, settings=settings, user=None, now=moment)
        user = users[username]
        assert user.id is not None
        demo = next(d for d in DEMO_USERS if d.username == username)
        principal = Principal(
            id=user.id,
            username=username,
            roles=frozenset(demo.roles),
            member_code=user.member_code,
            organisation_id=user.organisation_id,
        )
        return Proposals(session, settings=settings, user=principal, now=moment)

    admin = as_user("admin")
    organisations = []
    for name, kind, country in DEMO_ORGANISATIONS:
        organisation = await admin.create_organisation(
            OrganisationCreate.model_validate({"name": name, "type": kind, "country": country})
        )
        await admin.set_due_diligence(organisation.id or 0, DueDiligenceSet.model_validate({"status": "cleared"}))
        organisations.append(organisation)
    await add_grantees()
    users = {u.username: u for u in (await session.execute(select(User))).scalars()}
    calls = {}
    for window, title, opens, closes in (
        ("SKL", "Skills and employment", date(2026, 2, 1), date(2027, 12, 31)),
        ("PRO", "Closing protection gaps", date(2026, 2, 1), date(2027, 12, 31)),
        ("LMG", "Labour migration governance", date(2026, 2, 1), date(2027, 12, 31)),
        ("TEC", "New technologies", date(2025, 2, 1), date(2025, 6, 30)),
    ):
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
    # Organisations are created in the order of DEMO_ORGANISATIONS, so ids 1..5 match the demo grantees.
    assert [o.id for o in organisations] == list(range(1, len(organisations) + 1)), "demo needs a fresh database"
    grantee_of = {0: "grantee", **{i: f"grantee{i + 1}" for i in range(1, len(organisations))}}

    def grantee_service(index: int) -> Proposals:
        user = users[grantee_of[index]]
        principal = Principal(
            id=user.id or 0,
            username=user.username,
            roles=frozenset({Role.GRANTEE}),
            organisation_id=user.organisation_id,
        )
        return Proposals(session, settings=settings, user=principal, now=moment)

    open_calls = [calls["SKL"], calls["LMG"], calls["PRO"]]
    for n, (title, amount, countries, org_index, steps) in enumerate(DEMO_PROPOSALS):
        call = open_calls[n % len(open_calls)]
        grantee = grantee_service(org_index)
        proposal = await grantee.create(
            call.id or 0, ProposalContent.model_validate(_content(title, amount, countries, t))
        )
        pid = proposal.id or 0
        if steps:
            for country, _share in countries:
                delegate = f"delegate.{country.lower()}" if f"delegate.{country.lower()}" in users else None
                if delegate is not None:
                    await as_user(delegate).endorse(pid, EndorsementIn(country=country, decision="endorsed"))
                else:
                    letter = await admin.attach(pid, f"endorsement-{country}.pdf", _LETTER)
                    await admin.endorse(
                        pid, EndorsementIn(country=country, decision="endorsed", letter_attachment_id=letter.id)
                    )
        for action in steps:
            if action in {"submit", "withdraw"}:
                await grantee.act(pid, action)
            elif action in {"review-one", "review-all"}:
                reviewers = ["reviewer"] if action == "review-one" else ["reviewer", "reviewer2"]
                await admin.assign(pid, [users[r].id or 0 for r in ("reviewer", "reviewer2")])
                for r, reviewer in enumerate(reviewers):
                    service = as_user(reviewer)
                    await service.declare(pid, ConflictDeclaration(has_conflict=False))
                    scores = {str(c["key"]): {"score": 3 + (r + len(str(c["key"]))) % 3} for c in RUBRIC}
                    await service.review(
                        pid, ReviewIn.model_validate({"scores": scores, "recommendation": "recommend"})
                    )
            elif action == "approve":
                await as_user(None).decide(pid, approved=True, reason="adopted by the members (demo)")
            else:
                reason = "" if action in {"screen", "pass"} else f"demo: {action.replace('_', ' ')}"
                await admin.act(pid, action, reason=reason)
    report.created.append(
        f"{len(DEMO_ORGANISATIONS)} organisations, {len(calls)} calls, {len(DEMO_PROPOSALS)} proposals in every state"
    )


# A minimal PDF, for the endorsement letters of non-member countries.
_LETTER = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


# ---------------------------------------------------------------- decisions of the member states


def _principal(user: User) -> Principal:
    demo = next(d for d in DEMO_USERS if d.username == user.username)
    return Principal(
        id=user.id or 0,
        username=user.username,
        roles=frozenset(demo.roles),
        member_code=user.member_code,
        organisation_id=user.organisation_id,
    )


async def _load_decisions(
    session: AsyncSession, settings: Settings, report: DemoReport, clock: Clock, t: Timeline
) -> None:
    """Closed decisions of every kind with their records (one funding decision refused for lack of funds at
    its close), open decisions waiting for votes and a written procedure running."""
    if (await session.execute(select(func.count()).select_from(Decision))).scalar_one():
        report.existing.append("decisions")
        return
    users = {u.username: u for u in (await session.execute(select(User))).scalars()}
    proposal_ids = {
        p.title: p.id or 0 for p in (await session.execute(select(Proposal).order_by(col(Proposal.id)))).scalars()
    }

    def by(username: str | None, moment: datetime, *, story: bool = True) -> Decisions:
        """The decisions service as a user at a story moment (moved by ``t``), or at a real one."""
        user = None if username is None else _principal(users[username])
        return Decisions(session, settings=settings, user=user, now=t.moment(moment) if story else moment)

    def delegate(code: str) -> str:
        return f"delegate.{code.lower()}"

    async def decision(moment: datetime, closes: datetime, *, story: bool = True, **terms: object) -> int:
        closes = t.moment(closes) if story else closes
        created = await by("admin", moment, story=story).create(
            DecisionCreate.model_validate({"closes_at": closes, "open": True, **terms})
        )
        return created.id or 0

    async def votes(decision_id: int, moment: datetime, ballots: dict[str, str], *, story: bool = True) -> None:
        for code, choice in ballots.items():
            await by(delegate(code), moment, story=story).cast(decision_id, choice)

    async def close(decision_id: int, moment: datetime) -> None:
        await by(None, moment).close(decision_id)

    # Story moments are written in the story's calendar (and moved by ``t``); the open decisions start today.
    day = datetime(2026, 5, 4, 10, tzinfo=UTC)
    week = timedelta(days=7)
    yes_mostly = {"DEU": "yes", "CHE": "yes", "SWE": "yes", "JPN": "yes", "GBR": "yes", "SEN": "yes"}

    # Three funding decisions on the protection window: each affordable when it opened, not all together.
    vocational = await decision(
        day,
        day + 2 * week,
        kind="fund_proposal",
        proposal_id=proposal_ids["Vocational training in origin communities"],
        title="Fund: Vocational training in origin communities",
        text="The member states approve the grant as recommended by the Technical Advisory Group.",
    )
    await by(delegate("MEX"), day + timedelta(days=1)).recuse(vocational, "Mexico is the beneficiary country.")
    await votes(vocational, day + timedelta(days=2), {**yes_mostly, "PHL": "abstain", "MAR": "no"})
    digital = await decision(
        day + timedelta(days=1),
        day + 3 * week,
        kind="fund_proposal",
        proposal_id=proposal_ids["Digital identity for migrant workers"],
        title="Fund: Digital identity for migrant workers",
        text="The member states approve the grant as recommended by the Technical Advisory Group.",
    )
    shelters = await decision(
        day + timedelta(days=1),
        day + 3 * week + timedelta(days=1),
        kind="fund_proposal",
        proposal_id=proposal_ids["Shelter network for migrants in transit"],
        title="Fund: Shelter network for migrants in transit",
        text="The member states approve the grant as recommended by the Technical Advisory Group.",
    )
    for decision_id in (digital, shelters):
        await votes(decision_id, day + timedelta(days=3), {**yes_mostly, "MEX": "yes", "PHL": "yes"})
    await close(vocational, day + 2 * week + timedelta(hours=1))
    await close(digital, day + 3 * week + timedelta(hours=1))
    await close(shelters, day + 3 * week + timedelta(days=1, hours=1))  # not adopted: the window is short

    later = day + 5 * week
    # Admitting Costa Rica by consensus at a meeting of the members.
    admission = await decision(
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
    present = ["DEU", "CHE", "SWE", "JPN", "MEX", "GBR", "SEN", "PHL", "MAR"]
    await by("admin", later + week).record_meeting(
        admission, MeetingRecord(present=present, notes="Members' meeting, Geneva")
    )
    # A tier change under the written procedure: an objection turns it into a vote, which fails.
    tier = await decision(
        later,
        later + week,
        kind="set_tier",
        member_code="GTM",
        tier="I",
        procedure="no_objection",
        title="Guatemala moves to Part I",
        text=f"Guatemala pays the Part I fee from {t.year(2027)}.",
    )
    await by(delegate("GTM"), later + timedelta(days=2)).object(
        tier, f"Our budget for {t.year(2027)} is already fixed."
    )
    await votes(
        tier,
        later + timedelta(days=3),
        {"DEU": "yes", "CHE": "no", "SWE": "no", "JPN": "abstain", "MEX": "no", "SEN": "no", "GTM": "no"},
    )
    await close(tier, later + timedelta(days=3) + week + timedelta(hours=1))
    # The fee schedule and the administrative budget for the next year, by vote.
    next_year = t.year(2027)
    for tier_code, amount in (("I", "160000.00"), ("II", "26000.00")):
        fee = await decision(
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
        await votes(fee, later + timedelta(days=4), {**yes_mostly, "MEX": "yes", "PHL": "yes", "MAR": "yes"})
        await close(fee, later + 2 * week + timedelta(hours=1))
    budget = await decision(
        later,
        later + 2 * week,
        kind="admin_budget",
        year=next_year,
        amount="450000.00",
        title=f"Secretariat budget {next_year}",
        text=f"The secretariat's administrative budget for {next_year} is USD 450,000.00.",
    )
    await votes(budget, later + timedelta(days=5), {**yes_mostly, "MEX": "yes", "PHL": "no"})
    await close(budget, later + 2 * week + timedelta(hours=1))
    # Pooled funds to the technologies window, without objection; a policy adopted by consensus.
    allocation = await decision(
        later,
        later + week,
        kind="window_allocation",
        window_code="TEC",
        amount="600000.00",
        title="Pooled funds to the technologies window",
        text="USD 600,000.00 of the pooled funds are allocated to the TEC window.",
    )
    await close(allocation, later + week + timedelta(hours=1))
    policy = await decision(
        later,
        later + 2 * week,
        kind="policy",
        title="Gender policy of the facility",
        text="Every funded project reports its results disaggregated by sex and age.",
    )
    await by("admin", later + week).record_meeting(
        policy, MeetingRecord(present=[*present, "GTM", "ECU"], notes="Members' meeting, Geneva")
    )

    # Open now: decisions waiting for votes and a written procedure running.
    now = clock.now()
    dialogue = await decision(
        now,
        now + 2 * week,
        story=False,
        kind="fund_proposal",
        proposal_id=proposal_ids["Regional policy dialogue on labour mobility"],
        title="Fund: Regional policy dialogue on labour mobility",
        text="The member states approve the grant as recommended by the Technical Advisory Group.",
    )
    await votes(dialogue, now, {"DEU": "yes", "SEN": "yes", "PHL": "abstain"}, story=False)
    data_policy = await decision(
        now,
        now + 3 * week,
        story=False,
        kind="policy",
        procedure="vote",
        title="Data protection policy",
        text="Personal data of beneficiaries is processed under the facility's data protection policy.",
    )
    await votes(data_policy, now, {"CHE": "yes", "MEX": "yes"}, story=False)
    await decision(
        now,
        now + 10 * timedelta(days=1),
        story=False,
        kind="window_allocation",
        window_code="SKL",
        amount="250000.00",
        title="Pooled funds to the skills window",
        text="USD 250,000.00 of the pooled funds are allocated to the SKL window.",
    )
    report.created.append("13 decisions: closed ones of every kind with their records, 3 open")


# ---------------------------------------------------------------- grants at every stage

# (title, window, amount, duration in months, organisation index, countries)
DEMO_GRANT_PROPOSALS: tuple[tuple[str, str, str, int, int, list[tuple[str, str]]], ...] = (
    ("Emergency assistance to stranded migrants", "SKL", "120000.00", 3, 1, [("SEN", "100")]),
    ("Ethical recruitment training for employers", "LMG", "200000.00", 24, 3, [("PHL", "100")]),
    ("Diaspora skills exchange pilot", "SKL", "100000.00", 6, 4, [("SEN", "100")]),
)


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def demo_grants(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    """Grants at every stage, from funding decisions: one awaiting its agreement, one disbursed in part, one
    whose final report is overdue, one with a refund, and one closed with its unused commitment released.

    The two grants the members adopted in ``_load_decisions`` are used as they are (awaiting agreement) or
    taken further (disbursed in part); three more proposals are reviewed, recommended and funded here by
    decisions of early March of the story's second year, so that their dates fall before anyone reads them."""
    # Imported here so that this section of the demo stays in one place.
    from governance.models import Window
    from proposals.grants import Grants
    from proposals.models import Grant, GrantReport
    from proposals.schemas import (
        AgreementIn,
        DisbursementCreate,
        GrantAction,
        RefundCreate,
        ReportReview,
        ReportSubmit,
    )

    first_title = DEMO_GRANT_PROPOSALS[0][0]
    if (
        await session.execute(select(func.count()).select_from(Proposal).where(col(Proposal.title) == first_title))
    ).scalar_one():
        report.existing.append("grants")
        return
    users = {u.username: u for u in (await session.execute(select(User))).scalars()}
    calls = {
        window: call
        for window, call in (
            await session.execute(
                select(col(Window.code), Call).join(Call, col(Call.window_id) == col(Window.id)).order_by(col(Call.id))
            )
        ).all()
    }
    grantee_of = {0: "grantee", **{i: f"grantee{i + 1}" for i in range(1, len(DEMO_ORGANISATIONS))}}

    def proposals_as(username: str, moment: datetime) -> Proposals:
        return Proposals(session, settings=settings, user=_principal(users[username]), now=t.moment(moment))

    def grants_as(username: str, moment: datetime) -> Grants:
        return Grants(session, settings=settings, user=_principal(users[username]), now=t.moment(moment))

    # Three proposals submitted in February 2026, reviewed and recommended, funded by the members in March.
    submitted = _at(date(2026, 2, 16))
    funded: dict[str, int] = {}
    for title, window, amount, months, org_index, countries in DEMO_GRANT_PROPOSALS:
        content = _content(title, amount, countries, t)
        content["duration_months"] = months
        grantee = proposals_as(grantee_of[org_index], submitted)
        pid = (await grantee.create(calls[window].id or 0, ProposalContent.model_validate(content))).id or 0
        for country, _share in countries:
            await proposals_as(f"delegate.{country.lower()}", submitted).endorse(
                pid, EndorsementIn(country=country, decision="endorsed")
            )
        await grantee.act(pid, "submit")
        admin = proposals_as("admin", submitted + timedelta(days=1))
        await admin.act(pid, "screen")
        await admin.act(pid, "pass")
        await admin.assign(pid, [users["reviewer"].id or 0, users["reviewer2"].id or 0])
        for r, reviewer in enumerate(("reviewer", "reviewer2")):
            service = proposals_as(reviewer, submitted + timedelta(days=3))
            await service.declare(pid, ConflictDeclaration(has_conflict=False))
            scores = {str(c["key"]): {"score": 4 - (r + len(str(c["key"]))) % 2} for c in RUBRIC}
            await service.review(pid, ReviewIn.model_validate({"scores": scores, "recommendation": "recommend"}))
        await proposals_as("admin", submitted + timedelta(days=5)).act(
            pid, "recommend", reason="Urgent, feasible and well costed."
        )
        funded[title] = pid

    opened, closes = _at(date(2026, 2, 23)), _at(date(2026, 3, 9))
    for title, pid in funded.items():
        created = await Decisions(
            session, settings=settings, user=_principal(users["admin"]), now=t.moment(opened)
        ).create(
            DecisionCreate.model_validate(
                {
                    "kind": "fund_proposal",
                    "proposal_id": pid,
                    "title": f"Fund: {title}",
                    "text": "The member states approve the grant as recommended by the Technical Advisory Group.",
                    "closes_at": t.moment(closes),
                    "open": True,
                }
            )
        )
        for code in ("DEU", "CHE", "SWE", "JPN", "MEX", "GBR", "SEN", "MAR"):
            voter = _principal(users[f"delegate.{code.lower()}"])
            await Decisions(session, settings=settings, user=voter, now=t.moment(opened + timedelta(days=2))).cast(
                created.id or 0, "yes"
            )
        await Decisions(session, settings=settings, user=None, now=t.moment(closes + timedelta(hours=1))).close(
            created.id or 0
        )

    async def grant_of(title: str) -> Grant:
        return (
            await session.execute(
                select(Grant)
                .join(Proposal, col(Proposal.id) == col(Grant.proposal_id))
                .where(col(Proposal.title) == title)
            )
        ).scalar_one()

    async def sign(grant: Grant, day: date, number: str) -> None:
        reference = f"GA-{t.day(day).year}-{number}"
        await grants_as("admin", _at(day)).sign_agreement(
            grant.id or 0, AgreementIn(signed_on=t.day(day), reference=reference), idempotency_key=f"demo-{reference}"
        )

    async def transfer(grant: Grant, tranche: int, day: date, amount: str | None = None) -> None:
        prepared = await grants_as("finance", _at(day, 9)).prepare_disbursement(
            grant.id or 0,
            DisbursementCreate(tranche=tranche, amount=amount, reference=f"demo transfer {grant.id}-{tranche}"),
            idempotency_key=f"demo-transfer-{grant.id}-{tranche}-{day}",
        )
        await grants_as("approver", _at(day, 15)).approve_disbursement(
            prepared.value.id or 0, idempotency_key=f"demo-approval-{grant.id}-{tranche}-{day}"
        )

    async def reported(grant: Grant, number: int, day: date, spent: dict[str, str], grantee: str) -> None:
        scheduled = (
            await session.execute(
                select(GrantReport).where(col(GrantReport.grant_id) == grant.id, col(GrantReport.number) == number)
            )
        ).scalar_one()
        report_id = scheduled.id or 0
        await grants_as(grantee, _at(day)).submit_report(
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
        await grants_as("admin", _at(day + timedelta(days=10))).accept_report(
            grant.id or 0, report_id, ReportReview(note="Accepted."), idempotency_key=f"demo-report-{report_id}"
        )

    # Disbursed in part: the vocational training grant the members adopted in May.
    vocational = await grant_of("Vocational training in origin communities")
    await sign(vocational, date(2026, 6, 1), "003")
    await transfer(vocational, 1, date(2026, 6, 15), "100000.00")

    # An overdue report: the three-month emergency grant, its first tranche paid, its final report (due
    # 90 days after the end, early September of the story's second year) never submitted.
    emergency = await grant_of("Emergency assistance to stranded migrants")
    await sign(emergency, date(2026, 3, 16), "001")
    await transfer(emergency, 1, date(2026, 3, 20))

    # A refund: the employers' training grant returned part of its first tranche (a cancelled workshop).
    recruitment = await grant_of("Ethical recruitment training for employers")
    await sign(recruitment, date(2026, 3, 23), "002")
    await transfer(recruitment, 1, date(2026, 4, 1))
    await grants_as("finance", _at(date(2026, 7, 10))).record_refund(
        recruitment.id or 0,
        RefundCreate(amount="15000.00", received_on=t.day(date(2026, 7, 10)), reference="cancelled workshop in Cebu"),
        idempotency_key="demo-refund-recruitment",
    )

    # Closed: the diaspora pilot reported, received most of its second tranche and closed; the 4,000.00
    # committed and not paid went back to the SKL window.
    pilot = await grant_of("Diaspora skills exchange pilot")
    await sign(pilot, date(2026, 3, 16), "004")
    await transfer(pilot, 1, date(2026, 3, 25))
    spent = {"staff": "55000.00", "travel": "33000.00", "indirect_support_costs": "6000.00"}
    await reported(pilot, 1, date(2026, 9, 20), spent, "grantee5")
    await transfer(pilot, 2, date(2026, 10, 5), "36000.00")
    await grants_as("admin", _at(date(2026, 10, 15))).close(
        pilot.id or 0, GrantAction(reason="Pilot completed; final report accepted."), idempotency_key="demo-close-pilot"
    )
    report.created.append(
        "5 grants: awaiting agreement, disbursed in part, with an overdue report, with a refund, closed"
    )


# ---------------------------------------------------------------- the secretariat's finances for the statements

# (idempotency key, story date, what it is, lines as (account, amount, currency)): what the finance officer
# records through POST /ledger/entries; interest on the trustee's cash, its bank charges, the secretariat's
# costs (some paid in Swiss francs from the CHF cash), and interest accrued at the end of the story. The
# description names the real date the entry falls on ("Secretariat costs to 31 March 2026").
DEMO_FINANCE_ENTRIES: tuple[tuple[str, date, str, tuple[tuple[str, str, str], ...]], ...] = tuple(
    (key, day, what, ((debit, amount, currency), (credit, f"-{amount}", currency)))
    for key, day, what, debit, credit, amount, currency in (
        ("demo-costs-2025-1", date(2025, 4, 30), "Secretariat costs", "5300", "1100", "95000.00", "USD"),
        ("demo-costs-2025-2", date(2025, 7, 31), "Secretariat costs", "5300", "1100", "98500.00", "USD"),
        ("demo-costs-2025-3", date(2025, 10, 31), "Secretariat costs", "5300", "1100", "92250.00", "USD"),
        ("demo-costs-2025-4", date(2025, 12, 15), "Secretariat costs", "5300", "1100", "81400.00", "USD"),
        ("demo-interest-2025-1", date(2025, 6, 30), "Interest on cash", "1100", "4200", "6420.00", "USD"),
        ("demo-interest-2025-2", date(2025, 12, 31), "Interest on cash", "1100", "4200", "9815.00", "USD"),
        ("demo-charges-2025-1", date(2025, 6, 30), "Bank charges", "5400", "1100", "1250.00", "USD"),
        ("demo-charges-2025-2", date(2025, 12, 31), "Bank charges", "5400", "1100", "1380.00", "USD"),
        ("demo-costs-2026-1", date(2026, 3, 31), "Secretariat costs", "5300", "1100", "104300.00", "USD"),
        ("demo-costs-2026-2", date(2026, 6, 30), "Geneva office", "5300", "1100", "88000.00", "CHF"),
        ("demo-costs-2026-3", date(2026, 9, 30), "Secretariat costs", "5300", "1100", "112600.00", "USD"),
        ("demo-costs-2026-4", date(2026, 12, 15), "Geneva office", "5300", "1100", "91500.00", "CHF"),
        ("demo-interest-2026-1", date(2026, 6, 30), "Interest on cash", "1100", "4200", "24880.00", "USD"),
        ("demo-interest-2026-2", date(2026, 12, 31), "Interest on EUR cash", "1100", "4200", "8650.00", "EUR"),
        ("demo-interest-2026-3", date(2026, 12, 31), "Interest accrued", "1210", "4200", "7300.00", "USD"),
        ("demo-charges-2026-1", date(2026, 6, 30), "Bank charges", "5400", "1100", "1940.00", "USD"),
        ("demo-charges-2026-2", date(2026, 12, 31), "Bank charges", "5400", "1100", "2215.00", "USD"),
    )
)
# Prepared on the story's last day and waiting for the finance approver.
DEMO_PENDING_ENTRY = (
    "demo-charges-pending",
    STORY_END,
    "Bank charges",
    (("5400", "310.00", "USD"), ("1100", "-310.00", "USD")),
)
# Why each kind of entry is made: what the finance approver reads before approving it.
DEMO_ENTRY_REASONS = {
    "Secretariat costs": "the secretariat's invoices for the quarter, paid from the trustee's account",
    "Geneva office": "the Geneva office's rent and services for the quarter, paid in Swiss francs",
    "Interest on cash": "interest credited by the trustee's bank on the statement",
    "Interest on EUR cash": "interest credited on the euro account on the statement",
    "Interest accrued": "interest earned to the year end, credited by the bank in January",
    "Bank charges": "charges debited by the trustee's bank on the statement",
}
# The secretariat's budgets, adopted by vote of the members before each year (the next one's is in
# _load_decisions): (story year, amount, story day of the vote's opening).
DEMO_ADMIN_BUDGETS = ((2025, "400000.00", date(2024, 11, 4)), (2026, "430000.00", date(2025, 11, 3)))


async def demo_finances(session: AsyncSession, settings: Settings, report: DemoReport, t: Timeline) -> None:
    """The secretariat's budgets for the story's two years (by decision), its direct costs, the trustee's
    interest and bank charges, and the revaluation of foreign-currency balances at the closing rates of every
    year end the story spans: what the financial statements show besides contributions and grants."""
    from governance.models import AdminBudget
    from ledger.manual import revalue_manual
    from ledger.models import EntryRequest
    from ledger.requests import EntryRequests

    first_key = DEMO_FINANCE_ENTRIES[0][0]
    if (
        await session.execute(
            select(func.count()).select_from(EntryRequest).where(col(EntryRequest.idempotency_key) == first_key)
        )
    ).scalar_one():
        report.existing.append("secretariat budgets, costs, interest and bank charges")
        return
    users = {u.username: u for u in (await session.execute(select(User))).scalars()}
    for story_year, amount, opened_on in DEMO_ADMIN_BUDGETS:
        year = t.year(story_year)
        if await session.get(AdminBudget, year) is not None:
            continue
        opened = t.at(opened_on)
        created = await Decisions(session, settings=settings, user=_principal(users["admin"]), now=opened).create(
            DecisionCreate.model_validate(
                {
                    "kind": "admin_budget",
                    "year": year,
                    "amount": amount,
                    "title": f"Secretariat budget {year}",
                    "text": f"The secretariat's administrative budget for {year} is USD {Decimal(amount):,}.",
                    "closes_at": opened + timedelta(days=14),
                    "open": True,
                }
            )
        )
        for code in ("DEU", "CHE", "SWE", "JPN", "MEX", "SEN", "PHL", "MAR"):
            voter = _principal(users[f"delegate.{code.lower()}"])
            await Decisions(session, settings=settings, user=voter, now=opened + timedelta(days=3)).cast(
                created.id or 0, "yes"
            )
        await Decisions(session, settings=settings, user=None, now=opened + timedelta(days=14, hours=1)).close(
            created.id or 0
        )
    # Each one prepared by the finance officer with its reason in the morning and approved by the finance
    # approver in the afternoon (four eyes); the story's last one waits for its approval.
    threshold = settings.charter.second_approver_threshold
    for key, story_day, what, lines in (*DEMO_FINANCE_ENTRIES, DEMO_PENDING_ENTRY):
        day = t.day(story_day)
        ledger = Ledger(
            session,
            reporting_currency=settings.reporting_currency,
            actor=actor_of(_principal(users["finance"])),
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
            session,
            reporting_currency=settings.reporting_currency,
            actor=actor_of(_principal(users["approver"])),
            now=t.at(story_day, 15),
        )
        await EntryRequests(checker, threshold=threshold).approve(prepared.request.id or 0)
    # Revalued at every year end the story spans and at its last day (a month end, as a month's close would).
    year_ends = [date(year, 12, 31) for year in range(t.first_day.year, t.last_day.year)]
    for closing in sorted({*year_ends, t.last_day}):
        ledger = Ledger(session, reporting_currency=settings.reporting_currency, actor=DEMO_ACTOR, now=_at(closing, 18))
        await revalue_manual(ledger, closing)
    report.created.append(
        f"secretariat budgets for {t.year(2025)} and {t.year(2026)}, direct costs, interest, bank charges "
        "and year-end revaluations"
    )
