"""The demo facility: loaded by ``fundapp demo`` and ``make run``; loading it again adds nothing.

Every demo account shares one documented password (README, "Demo logins"). Never load it into a
production database: the CLI refuses to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import accounts, audit
from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import UserCreate
from fundapp.core.security import PasswordHashing
from governance.models import Assessment, Contributor, Member, PledgeInstalment
from governance.schemas import (
    ContributionCreate,
    ContributorCreate,
    InstalmentIn,
    MemberCreate,
    PledgeCreate,
    TierFeeSet,
)
from governance.service import Governance
from ledger import Ledger, Money

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
    DemoUser("delegate.mex", "Delegate of Mexico", (Role.MEMBER_DELEGATE,), member_code="MEX"),
    DemoUser("grantee", "Grantee organisation officer", (Role.GRANTEE,), organisation_id=1),
    DemoUser("auditor", "External auditor", (Role.AUDITOR,)),
)


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = ["demo facility: " + ("; ".join(self.created) if self.created else "already loaded, nothing added"), ""]
        lines += [
            f"demo logins (password for every account: {DEMO_PASSWORD})",
        ]
        for user in DEMO_USERS:
            binding = f" for {user.member_code}" if user.member_code else ""
            binding += f" for organisation {user.organisation_id}" if user.organisation_id else ""
            lines.append(f"  {user.username:<14} {', '.join(r.value for r in user.roles)}{binding}")
        return "\n".join(lines)


DEMO_ACTOR = audit.Actor(None, "demo")

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


async def _load_governance(session: AsyncSession, settings: Settings, report: DemoReport) -> None:
    if (await session.execute(select(func.count()).select_from(Member))).scalar_one():
        report.existing.append("members, fees, pledges and contributions")
        return
    first = datetime(2025, 1, 10, tzinfo=UTC)
    ledger = Ledger(session, reporting_currency=settings.reporting_currency, actor=DEMO_ACTOR, now=first)
    for currency, rate in DEMO_RATES.items():
        for month in range(24):
            year, m = 2025 + month // 12, month % 12 + 1
            # A gentle drift, so revaluations and settlements show FX effects.
            drift = Decimal(1) + Decimal(month - 12) / Decimal(1000)
            await ledger.add_rate(
                currency, date(year, m, 1), (Decimal(rate) * drift).quantize(Decimal("0.000001")), source="demo"
            )

    def at(day: date) -> Governance:
        return Governance(
            session, settings=settings, actor=DEMO_ACTOR, now=datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        )

    gov = at(date(2025, 1, 10))
    for code, tier, joined in DEMO_MEMBERS:
        await gov.admit_member(MemberCreate.model_validate({"code": code, "tier": tier, "joined_on": joined}))
    for year in (2025, 2026):
        for tier, amount in DEMO_FEES.items():
            await gov.set_fee(
                TierFeeSet.model_validate({"year": year, "tier": tier, "amount": amount, "currency": "USD"})
            )
    await at(date(2025, 1, 15)).assess(2025)
    await at(date(2026, 1, 15)).assess(2026)
    report.created.append(f"{len(DEMO_MEMBERS)} members, fees and assessments for 2025 and 2026")

    # Fees paid: everyone but Bangladesh, two years in arrears.
    assessments = (
        await session.execute(select(Assessment).order_by(col(Assessment.year), col(Assessment.member_code)))
    ).scalars()
    for assessment in assessments.all():
        if assessment.member_code == "BGD":
            continue
        paid = Money.from_minor(assessment.amount, assessment.currency)
        value_date = date(assessment.year, 3, 20)
        await at(value_date).record_contribution(
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
        pledge = await at(demo.signed_on).pledge(
            PledgeCreate(
                contributor_id=donors[demo.contributor],
                amount=demo.amount,
                currency=demo.currency,
                signed_on=demo.signed_on,
                window_code=demo.window,
                conditional=bool(demo.condition),
                condition=demo.condition,
                reference=f"CA-{demo.signed_on.year}-{demo.contributor[:3].upper()}",
                instalments=[InstalmentIn(due_on=due, amount=amount) for due, amount in demo.instalments],
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
        for instalment in instalments:
            if instalment.number not in demo.paid:
                continue
            value_date = instalment.due_on.replace(day=10)
            await at(value_date).record_contribution(
                ContributionCreate.model_validate(
                    {
                        "contributor_id": pledge.contributor_id,
                        "value_date": value_date,
                        "amount": next(a for d, a in demo.instalments if d == instalment.due_on),
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
                "value_date": date(2026, 5, 5),
                "amount": "75000.00",
                "currency": "USD",
                "reference": "advance, agreement pending",
            }
        ),
        idempotency_key="demo-advance-adp",
    )
    report.created.append(f"{len(DEMO_DONORS)} donors, {len(DEMO_PLEDGES)} pledges with instalments, deposits")


async def load(database: Database, settings: Settings, clock: Clock) -> DemoReport:
    report = DemoReport()
    hashing = PasswordHashing(settings)
    async with database.session() as session:
        await _load_governance(session, settings, report)
        await session.commit()
    created_users: list[str] = []
    async with database.session() as session:
        for demo_user in DEMO_USERS:
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
        await session.commit()
    if created_users:
        report.created.append(f"{len(created_users)} users, one per role")
    return report
