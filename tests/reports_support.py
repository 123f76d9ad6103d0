"""The generated facility every reports test reads: two years of a realistic facility, built once per backend.

What it contains (deterministic: one seeded ``random.Random``, the same facility on every run and backend):

- **Members and donors.** Twelve members in both tiers (DEU, CHE, SWE, JPN, GBR, MEX in Part I; SEN, PHL,
  MAR, GTM, BGD, ECU in Part II; GTM joined on 2025-03-01 and ECU on 2026-04-15, so their fees are pro
  rata) and three non-member donors (the Government of Norway, the Nordic Migration Foundation, the Global
  Remittance Alliance). Fees of USD 150,000 (Part I) and 25,000 (Part II) are assessed for 2025 and 2026.
- **FX.** Monthly rates for EUR, GBP, CHF, JPY and SEK from 2025-01 to 2027-01 (a seeded random walk, so
  settlements realise gains and losses) plus year-end closing rates on 2025-12-31 and 2026-12-31.
- **Pledges.** ``PLEDGES`` pledges signed between January 2025 and June 2026 by ten contributors in six
  currencies, pooled or earmarked to the six windows (each window gets an early earmarked pledge), two to
  six instalments each; some conditional (their condition met before the first instalment falls due, but
  one left unmet and unpaid).
- **Deposits.** A few hundred contributions across 2025 and 2026: instalments paid in one to three
  deposits (some over-paid, the excess kept as unapplied credit), some instalments never paid
  (outstanding), every member's fee paid but Bangladesh's for 2026 (Morocco's in two parts), and deposits
  that settle nothing (unapplied).
- **Decisions.** Pooled funds allocated to IRR (2025-06-10, USD 750,000) and PAR (2026-03-02, USD
  800,000) by ``window_allocation`` decisions; the secretariat's ``admin_budget`` for 2025 (USD 400,000)
  and 2026 (USD 450,000); fourteen ``fund_proposal`` decisions under the written procedure.
- **Grants.** Fourteen grants over the six windows, made through the real flow (proposal, endorsements,
  screening, two TAG reviews, recommendation, the members' decision, agreement, transfers prepared by a
  finance officer and approved by a finance approver, grantee reports with cumulative expenditure, their
  acceptance recognising the conditional tranche): some awaiting agreement, some signed and not paid, some
  paid in part, some with a refund, some closed (the unused commitment released to the window). Six more
  proposals of 2026 stay in draft, submitted, screening, not recommended, rejected and withdrawn; one of
  November 2025 (``RETURNED_PROPOSAL``) was returned for changes.
- **Manual entries** (``POST /ledger/entries``' service): secretariat direct costs monthly (5300 / 1100),
  bank charges monthly (5400 / 1100), investment income quarterly (1100 / 4200, in USD and EUR), both years.
- **Revaluations** at 2025-12-31 and 2026-12-31 (unrealised gains and losses, 4310 / 5510).

Everything goes through the domain services (governance, decisions, proposals, grants, the ledger's manual
operations), each step in its own transaction at its own business date, as the API would call them.

Fixtures: ``facility`` gives a fresh copy (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL) with an ``Api`` whose clock reads ``FACILITY_NOW``, the actors (admin, finance officer,
finance approver, auditor, a member delegate) and the ids a test needs. Test modules import the fixtures
they use from here (``tests/integration/conftest.py`` does it for the integration suite).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import random
import shutil
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.app import create_app
from fundapp.core import accounts
from fundapp.core.audit import Actor as AuditActor
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import TokenCreate, UserCreate
from fundapp.core.security import PasswordHashing, Principal
from fundapp.wiring import register_hooks
from governance.decisions import Decisions
from governance.models import Assessment, PledgeInstalment, Window
from governance.schemas import (
    ContributionCreate,
    ContributorCreate,
    DecisionCreate,
    InstalmentIn,
    MemberCreate,
    PledgeCreate,
    TierFeeSet,
)
from governance.service import Governance
from ledger import Ledger, Line, Money, chart, manual
from ledger.money import exponent
from ledger.types import EntryDraft
from proposals.grants import Grants
from proposals.models import Grant, GrantReport
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
from tests.conftest import PG_ADMIN_URL, _pg_admin_execute, _with_database, build_once, make_settings, shared_database
from tests.support import PASSWORD, Actor, Api, DatabaseProbe

SEED = 20250101
REPORTING = "USD"
# The facility's clock when tests read it: after both years and their year-end revaluations.
FACILITY_NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
FIRST_DAY = date(2025, 1, 2)
LAST_DAY = date(2026, 12, 31)
WINDOWS = ("LMG", "SKL", "TEC", "PRO", "IRR", "PAR")
MEMBERS: tuple[tuple[str, str, date], ...] = (
    ("DEU", "I", date(2024, 1, 1)),
    ("CHE", "I", date(2024, 1, 1)),
    ("SWE", "I", date(2024, 1, 1)),
    ("JPN", "I", date(2024, 1, 1)),
    ("GBR", "I", date(2024, 1, 1)),
    ("MEX", "I", date(2024, 1, 1)),
    ("SEN", "II", date(2024, 1, 1)),
    ("PHL", "II", date(2024, 1, 1)),
    ("MAR", "II", date(2024, 1, 1)),
    ("GTM", "II", date(2025, 3, 1)),
    ("BGD", "II", date(2024, 1, 1)),
    ("ECU", "II", date(2026, 4, 15)),
)
FEES = {"I": "150000.00", "II": "25000.00"}
DONORS: tuple[tuple[str, str, str], ...] = (
    ("government", "Government of Norway", "NOR"),
    ("foundation", "Nordic Migration Foundation", "SWE"),
    ("private_sector", "Global Remittance Alliance", "SGP"),
)
# Who pledges, in which currency (members by code, donors by name).
PLEDGERS: tuple[tuple[str, str], ...] = (
    ("DEU", "EUR"),
    ("CHE", "CHF"),
    ("SWE", "SEK"),
    ("JPN", "JPY"),
    ("GBR", "GBP"),
    ("MEX", "USD"),
    ("PHL", "USD"),
    ("Government of Norway", "EUR"),
    ("Nordic Migration Foundation", "SEK"),
    ("Global Remittance Alliance", "USD"),
)
BASE_RATES = {"EUR": "1.0850", "GBP": "1.2700", "CHF": "1.1250", "JPY": "0.006650", "SEK": "0.095000"}
PLEDGES = 48
UNAPPLIED_DEPOSITS = 12
BUDGETS = {2025: "400000.00", 2026: "450000.00"}
ALLOCATIONS = ((date(2025, 6, 10), "IRR", "750000.00"), (date(2026, 3, 2), "PAR", "800000.00"))
ORGANISATIONS: tuple[tuple[str, str, str], ...] = (
    ("Red de Apoyo al Migrante", "ngo", "MEX"),
    ("Ministry of Labour of Senegal", "government", "SEN"),
    ("International Centre for Migration Policy", "international_organisation", "CHE"),
    ("Remit Fair Ltd", "private_sector", "PHL"),
    ("University of Dakar Migration Lab", "academia", "SEN"),
    ("Fondation Atlas pour la Mobilité", "ngo", "MAR"),
)
RECIPIENTS = ("MEX", "SEN", "PHL", "MAR", "GTM", "BGD")
RUBRIC = [
    {"key": "relevance", "label": "Relevance to the window", "weight": 3},
    {"key": "feasibility", "label": "Feasibility and budget", "weight": 2},
    {"key": "results", "label": "Results framework", "weight": 2},
]


@dataclass(frozen=True, slots=True)
class GrantPlan:
    """One grant of the facility: its window, amount, duration, the day the members decide, its
    organisation (index of ORGANISATIONS) and how far its life goes."""

    title: str
    window: str
    amount: str
    months: int
    decided_on: date
    organisation: int
    stage: str  # awaiting | signed | partly | paid | reported | refunded | closed


GRANT_PLANS: tuple[GrantPlan, ...] = (
    GrantPlan("Skills passports for returning migrants", "SKL", "420000.00", 24, date(2025, 3, 20), 0, "reported"),
    GrantPlan("Fair recruitment corridor Senegal-Spain", "LMG", "300000.00", 6, date(2025, 4, 8), 1, "closed"),
    GrantPlan("Remittance price transparency", "TEC", "250000.00", 24, date(2025, 5, 14), 3, "refunded"),
    GrantPlan("Protection desks at border crossings", "PRO", "600000.00", 24, date(2025, 6, 3), 0, "reported"),
    GrantPlan("Regularisation helpdesks", "IRR", "500000.00", 6, date(2025, 7, 1), 5, "closed"),
    GrantPlan("Diaspora investment forum", "PAR", "180000.00", 12, date(2025, 9, 16), 2, "paid"),
    GrantPlan("Labour migration statistics", "LMG", "220000.00", 24, date(2025, 10, 21), 4, "refunded"),
    GrantPlan("Digital identity for migrant workers", "TEC", "350000.00", 24, date(2026, 1, 27), 1, "reported"),
    GrantPlan("Vocational training in origin communities", "SKL", "280000.00", 24, date(2026, 3, 10), 0, "partly"),
    GrantPlan("Shelter network for migrants in transit", "PRO", "450000.00", 24, date(2026, 4, 22), 5, "paid"),
    GrantPlan("Safe return and reintegration", "IRR", "380000.00", 24, date(2026, 6, 9), 3, "signed"),
    GrantPlan("Ethical recruitment training for employers", "PAR", "200000.00", 6, date(2026, 2, 3), 2, "closed"),
    GrantPlan("Information campaign on irregular routes", "IRR", "150000.00", 24, date(2026, 10, 6), 1, "awaiting"),
    GrantPlan("Remittance app for seasonal workers", "TEC", "120000.00", 12, date(2026, 11, 17), 4, "awaiting"),
)
# Proposals that never become grants, one per state the portfolio counts.
OTHER_PROPOSALS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Migrant health insurance pilot", "SKL", ()),
    ("Circular migration scheme", "LMG", ("submit",)),
    ("Climate mobility study", "PRO", ("submit", "screen")),
    ("Recruitment fee reimbursement pilot", "TEC", ("submit", "screen", "pass", "review", "not_recommend")),
    ("Border app for traders", "IRR", ("submit", "screen", "reject")),
    ("Diaspora bonds feasibility", "PAR", ("submit", "withdraw")),
)
# A proposal of 2025 still open at its end: submitted, screened and returned for changes in November. Its
# content comes from its own random generator, so the rest of the facility is what it was without it.
RETURNED_PROPOSAL = ("Seasonal work visa pilot", "LMG", date(2025, 11, 17), "160000.00", 18)


@dataclass
class FacilityFacts:
    """What the builder made that tests need: the actors' tokens and the ids, the same in every copy."""

    tokens: dict[str, tuple[int, str, tuple[Role, ...]]] = field(default_factory=dict)
    window_ids: dict[str, int] = field(default_factory=dict)
    contributor_ids: dict[str, int] = field(default_factory=dict)
    organisation_ids: dict[str, int] = field(default_factory=dict)
    grant_ids: dict[str, int] = field(default_factory=dict)
    grant_stages: dict[int, str] = field(default_factory=dict)
    proposal_ids: dict[str, int] = field(default_factory=dict)
    pledge_count: int = 0
    deposit_count: int = 0


@dataclass
class Facility:
    """A fresh copy of the generated facility behind an ``Api`` (clock at ``FACILITY_NOW``)."""

    api: Api
    facts: FacilityFacts
    admin: Actor
    officer: Actor
    approver: Actor
    auditor: Actor
    delegate: Actor  # MEX's delegate

    @property
    def window_ids(self) -> dict[str, int]:
        return self.facts.window_ids

    @property
    def contributor_ids(self) -> dict[str, int]:
        return self.facts.contributor_ids

    @property
    def grant_ids(self) -> dict[str, int]:
        return self.facts.grant_ids


# ---------------------------------------------------------------- the builder


def _at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _text(minor: int, currency: str) -> str:
    return Money.from_minor(minor, currency).to_str()


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def proposal_content(rng: random.Random, title: str, amount: str, months: int, start: date) -> dict[str, Any]:
    """A complete proposal (budget, tranches, countries, tags, beneficiaries) asking for ``amount``."""
    money = Money.of(amount, REPORTING)
    isc = Money.from_minor(money.minor * 7 // 107, REPORTING)
    staff = Money.from_minor((money.minor - isc.minor) * 6 // 10 // 100 * 100, REPORTING)
    travel = money - isc - staff
    first = Money.from_minor(money.minor * 6 // 10, REPORTING)
    countries = rng.sample(RECIPIENTS, rng.choice((1, 1, 2)))
    shares = ["100"] if len(countries) == 1 else ["60", "40"]
    return {
        "title": title,
        "summary": f"{title}: a programme with national partners.",
        "requested_amount": amount,
        "duration_months": months,
        "countries": [{"country": c, "share": s} for c, s in zip(countries, shares, strict=True)],
        "budget": [
            {"category": "staff", "amount": staff.to_str()},
            {"category": "travel", "amount": travel.to_str()},
            {"category": "indirect_support_costs", "amount": isc.to_str()},
        ],
        "tranches": [
            {"planned_date": (start + timedelta(days=30)).isoformat(), "amount": first.to_str()},
            {
                "planned_date": (start + timedelta(days=300)).isoformat(),
                "amount": (money - first).to_str(),
                "condition": "progress_report",
            },
        ],
        "results": [
            {
                "title": "Migrants reached",
                "indicators": [{"name": "people trained", "baseline": "0", "target": "2000"}],
            }
        ],
        "gender_marker": rng.choice((0, 1, 1, 2, 2)),
        "gcm_objectives": sorted(rng.sample(range(1, 24), rng.randint(1, 3))),
        "sdg_targets": rng.sample(["10.7.2", "8.8", "10.c", "5.2", "17.3", "10.7"], rng.randint(1, 3)),
        "beneficiaries": [
            {"sex": sex, "age_group": age, "count": rng.randint(50, 1500)}
            for sex, age in rng.sample(
                [
                    ("female", "25-59"),
                    ("male", "25-59"),
                    ("female", "18-24"),
                    ("male", "18-24"),
                    ("female", "0-17"),
                ],
                rng.randint(2, 4),
            )
        ],
    }


class Builder:
    """Runs each step of the facility in its own transaction, at its own business time."""

    def __init__(self, database: Database, settings: Settings, rng: random.Random) -> None:
        register_hooks()  # the decisions' funding handler, as the service registers it
        self.database = database
        self.settings = settings
        self.rng = rng
        self.facts = FacilityFacts()
        self.principals: dict[str, Principal] = {}
        self.keys = itertools.count(1)

    async def step(self, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with self.database.session() as session:
            result = await work(session)
            await session.commit()
            return result

    def gov(self, session: AsyncSession, when: datetime) -> Governance:
        return Governance(session, settings=self.settings, actor=AuditActor(None, "facility"), now=when)

    def proposals(self, session: AsyncSession, who: str | None, when: datetime) -> Proposals:
        return Proposals(session, settings=self.settings, user=self.principals[who] if who else None, now=when)

    def grants(self, session: AsyncSession, who: str, when: datetime) -> Grants:
        return Grants(session, settings=self.settings, user=self.principals[who], now=when)

    def decisions(self, session: AsyncSession, who: str | None, when: datetime) -> Decisions:
        return Decisions(session, settings=self.settings, user=self.principals[who] if who else None, now=when)

    def ledger(self, session: AsyncSession, who: str, when: datetime) -> Ledger:
        principal = self.principals[who]
        return Ledger(
            session, reporting_currency=REPORTING, actor=AuditActor(principal.id, principal.username), now=when
        )

    # ------------------------------------------------------------ users

    async def users(self) -> None:
        hashing = PasswordHashing(self.settings)
        people: list[tuple[str, tuple[Role, ...], str | None, int | None]] = [
            ("admin", (Role.SECRETARIAT_ADMIN,), None, None),
            ("officer", (Role.FINANCE_OFFICER,), None, None),
            ("approver", (Role.FINANCE_APPROVER,), None, None),
            ("auditor", (Role.AUDITOR,), None, None),
            ("reviewer1", (Role.TAG_REVIEWER,), None, None),
            ("reviewer2", (Role.TAG_REVIEWER,), None, None),
            *((f"delegate.{code.lower()}", (Role.MEMBER_DELEGATE,), code, None) for code, _, _ in MEMBERS),
        ]

        async def work(session: AsyncSession) -> None:
            for username, roles, member_code, organisation_id in people:
                await self._user(session, hashing, username, roles, member_code, organisation_id)

        await self.step(work)

    async def _user(
        self,
        session: AsyncSession,
        hashing: PasswordHashing,
        username: str,
        roles: tuple[Role, ...],
        member_code: str | None,
        organisation_id: int | None,
    ) -> None:
        data = UserCreate(
            username=username,
            full_name=username.title(),
            email=f"{username}@facility.example.org",
            password=PASSWORD,
            roles=list(roles),
            member_code=member_code,
            organisation_id=organisation_id,
        )
        user = await accounts.create_user(session, data, hashing=hashing, actor=None, now=_at(FIRST_DAY, 8))
        assert user.id is not None
        self.principals[username] = Principal(
            id=user.id,
            username=username,
            roles=frozenset(roles),
            member_code=member_code,
            organisation_id=organisation_id,
        )

    async def tokens(self) -> None:
        """Bearer tokens (no expiry) for the actors tests use, made last so they are valid at any clock."""

        async def work(session: AsyncSession) -> None:
            for username in ("admin", "officer", "approver", "auditor", "delegate.mex"):
                principal = self.principals[username]
                token = await accounts.create_token(
                    session, TokenCreate(name="reports tests"), user=principal, settings=self.settings, now=FACILITY_NOW
                )
                self.facts.tokens[username] = (principal.id, token.token, tuple(principal.roles))

        await self.step(work)

    # ------------------------------------------------------------ rates, members, fees, donors

    async def rates(self) -> None:
        async def work(session: AsyncSession) -> None:
            ledger = self.ledger(session, "officer", _at(FIRST_DAY, 8))
            for currency, base in BASE_RATES.items():
                quantum = Decimal(1).scaleb(-len(base.split(".")[1]))
                value = Decimal(base)
                for month in range(25):
                    day = _add_months(date(2025, 1, 1), month)
                    ledger.now = _at(day, 8)  # a rate is recorded on its day, never before
                    await ledger.add_rate(currency, day, value.quantize(quantum), source="facility")
                    if day in (date(2025, 12, 1), date(2026, 12, 1)):
                        closing = (value * Decimal(str(1 + self.rng.gauss(0, 0.01)))).quantize(quantum)
                        ledger.now = _at(day.replace(day=31), 8)
                        await ledger.add_rate(currency, day.replace(day=31), closing, source="facility closing")
                    value *= Decimal(str(1 + self.rng.gauss(0, 0.02)))

        await self.step(work)

    async def members(self) -> None:
        async def work(session: AsyncSession) -> None:
            gov = self.gov(session, _at(FIRST_DAY, 9))
            for code, tier, joined in MEMBERS:
                await gov.admit_member(MemberCreate.model_validate({"code": code, "tier": tier, "joined_on": joined}))
                contributor = await gov.member_contributor(code)
                assert contributor.id is not None
                self.facts.contributor_ids[code] = contributor.id
            for year in (2025, 2026):
                for tier, amount in FEES.items():
                    body = {"year": year, "tier": tier, "amount": amount, "currency": REPORTING}
                    await gov.set_fee(TierFeeSet.model_validate(body))
            for kind, name, country in DONORS:
                donor = await gov.add_contributor(
                    ContributorCreate.model_validate({"kind": kind, "name": name, "country": country})
                )
                assert donor.id is not None
                self.facts.contributor_ids[name] = donor.id
            rows = (await session.execute(select(Window))).scalars()
            self.facts.window_ids = {w.code: w.id or 0 for w in rows}

        await self.step(work)

    async def assess(self, year: int) -> list[tuple[int, int, int, date]]:
        """Assess ``year`` on 15 January; returns (assessment, contributor, amount, due) of each fee."""

        async def work(session: AsyncSession) -> list[tuple[int, int, int, date]]:
            await self.gov(session, _at(date(year, 1, 15), 9)).assess(year)
            rows = (
                await session.execute(
                    select(Assessment).where(col(Assessment.year) == year).order_by(col(Assessment.member_code))
                )
            ).scalars()
            return [(a.id or 0, a.contributor_id, a.amount, a.due_on) for a in rows]

        found: list[tuple[int, int, int, date]] = await self.step(work)
        return found

    # ------------------------------------------------------------ pledges and deposits

    def pledge_plans(self) -> list[dict[str, Any]]:
        rng = self.rng
        plans = []
        for n in range(PLEDGES):
            pledger, currency = PLEDGERS[n % len(PLEDGERS)] if n < len(WINDOWS) else rng.choice(PLEDGERS)
            if n < len(WINDOWS):
                window: str | None = WINDOWS[n]
                signed = date(2025, 1, 6 + n)
            else:
                window = None if rng.random() < 0.3 else rng.choice(WINDOWS)
                signed = FIRST_DAY + timedelta(days=rng.randint(10, 545))
            # The windows' first pledges are large and their first third is paid at once: the first grants
            # need the money in the spring of 2025.
            usd = 3_600_000 if n < len(WINDOWS) else rng.randint(300, 3000) * 1000
            places = exponent(currency)
            rate = Decimal(BASE_RATES.get(currency, "1"))
            total_units = int((Decimal(usd) / rate) // 1000 * 1000) if currency != REPORTING else usd
            parts = 3 if n < len(WINDOWS) else rng.randint(2, 6)
            each = total_units // parts // 1000 * 1000
            amounts = [each] * (parts - 1) + [total_units - each * (parts - 1)]
            first_due = signed + timedelta(days=14 if n < len(WINDOWS) else rng.randint(14, 45))
            last_due = max(first_due, min(date(2026, 12, 20), first_due + timedelta(days=rng.randint(60, 600))))
            spacing = (last_due - first_due).days // max(1, parts - 1)
            instalments = [
                (first_due + timedelta(days=k * spacing), _text(a * 10**places, currency))
                for k, a in enumerate(amounts)
            ]
            conditional = n >= len(WINDOWS) and rng.random() < 0.25
            plans.append(
                {
                    "pledger": pledger,
                    "currency": currency,
                    "window": window,
                    "signed_on": signed,
                    "instalments": instalments,
                    "conditional": conditional,
                    "met": not conditional or n != PLEDGES - 1,
                    "early": n < len(WINDOWS),
                }
            )
        # One conditional pledge whose condition is never met (and so never paid).
        plans[-1]["conditional"], plans[-1]["met"] = True, False
        return plans

    async def pledge(self, plan: dict[str, Any]) -> list[tuple[int, str, int, date]]:
        """Sign one pledge (and meet its condition); returns its instalments (id, currency, minor, due)."""
        signed: date = plan["signed_on"]

        async def work(session: AsyncSession) -> list[tuple[int, str, int, date]]:
            gov = self.gov(session, _at(signed, 10))
            pledge = await gov.pledge(
                PledgeCreate(
                    contributor_id=self.facts.contributor_ids[plan["pledger"]],
                    amount=_text(
                        sum(Money.of(a, plan["currency"]).minor for _, a in plan["instalments"]), plan["currency"]
                    ),
                    currency=plan["currency"],
                    signed_on=signed,
                    window_code=plan["window"],
                    conditional=plan["conditional"],
                    condition="subject to parliamentary approval" if plan["conditional"] else "",
                    reference=f"CA-{signed.year}-{self.facts.pledge_count + 1:03d}",
                    instalments=[InstalmentIn(due_on=due, amount=amount) for due, amount in plan["instalments"]],
                )
            )
            assert pledge.id is not None
            if plan["conditional"] and plan["met"]:
                met_on = signed + timedelta(days=7)
                await self.gov(session, _at(met_on, 10)).condition_met(pledge.id, met_on)
            rows = (
                await session.execute(
                    select(PledgeInstalment)
                    .where(col(PledgeInstalment.pledge_id) == pledge.id)
                    .order_by(col(PledgeInstalment.number))
                )
            ).scalars()
            return [(i.id or 0, plan["currency"], i.amount, i.due_on) for i in rows]

        self.facts.pledge_count += 1
        found: list[tuple[int, str, int, date]] = await self.step(work)
        return found

    def deposits_for(
        self, contributor_id: int, target: tuple[str, int], currency: str, minor: int, due: date, *, at_once: bool
    ) -> list[dict[str, Any]]:
        """One to three deposits that settle ``minor`` of an instalment or fee (sometimes a little more);
        one deposit on the due date when ``at_once``."""
        rng = self.rng
        if at_once:
            return [
                {
                    "contributor_id": contributor_id,
                    "value_date": due,
                    "amount": _text(minor, currency),
                    "currency": currency,
                    f"{target[0]}_id": target[1],
                }
            ]
        parts = rng.choices((1, 2, 3), weights=(55, 30, 15))[0]
        step = 10 ** exponent(currency) * 100
        amounts = []
        left = minor
        for _ in range(parts - 1):
            piece = max(step, left * rng.randint(25, 60) // 100 // step * step)
            if piece >= left:
                break
            amounts.append(piece)
            left -= piece
        amounts.append(left)
        if rng.random() < 0.08:
            amounts[-1] += max(step, minor // 50 // step * step)  # over-paid: the excess is unapplied credit
        day = min(
            LAST_DAY - timedelta(days=2),
            max(FIRST_DAY + timedelta(days=14), due + timedelta(days=rng.randint(-10, 30))),
        )
        deposits = []
        for amount in amounts:
            deposits.append(
                {
                    "contributor_id": contributor_id,
                    "value_date": day,
                    "amount": _text(amount, currency),
                    "currency": currency,
                    f"{target[0]}_id": target[1],
                }
            )
            day = min(LAST_DAY - timedelta(days=1), day + timedelta(days=rng.randint(5, 40)))
        return deposits

    async def deposit(self, body: dict[str, Any]) -> None:
        day: date = body["value_date"]
        key = f"facility-deposit-{next(self.keys)}"

        async def work(session: AsyncSession) -> None:
            await self.gov(session, _at(day, 11)).record_contribution(
                ContributionCreate.model_validate(body), idempotency_key=key
            )

        self.facts.deposit_count += 1
        await self.step(work)

    # ------------------------------------------------------------ decisions of the members

    async def no_objection(self, day: date, **terms: Any) -> int:
        """A decision under the written procedure, opened at 10:00 and closed at its deadline (11:00)."""
        opens, closes = _at(day, 10), _at(day, 11)

        async def open_it(session: AsyncSession) -> int:
            created = await self.decisions(session, "admin", opens).create(
                DecisionCreate.model_validate(
                    {"procedure": "no_objection", "closes_at": closes, "open": True, "text": "As proposed.", **terms}
                )
            )
            return created.id or 0

        decision_id: int = await self.step(open_it)

        async def close_it(session: AsyncSession) -> None:
            closed = await self.decisions(session, None, closes + timedelta(seconds=1)).close(decision_id)
            assert closed.result == "adopted", (closed.result, terms)

        await self.step(close_it)
        return decision_id

    # ------------------------------------------------------------ calls, organisations, proposals

    async def organisations_and_calls(self) -> dict[str, int]:
        hashing = PasswordHashing(self.settings)

        async def work(session: AsyncSession) -> dict[str, int]:
            admin = self.proposals(session, "admin", _at(FIRST_DAY, 10))
            for n, (name, kind, country) in enumerate(ORGANISATIONS):
                organisation = await admin.create_organisation(
                    OrganisationCreate.model_validate({"name": name, "type": kind, "country": country})
                )
                assert organisation.id is not None
                await admin.set_due_diligence(organisation.id, DueDiligenceSet.model_validate({"status": "cleared"}))
                self.facts.organisation_ids[name] = organisation.id
                await self._user(session, hashing, f"grantee{n}", (Role.GRANTEE,), None, organisation.id)
            calls = {}
            for window in WINDOWS:
                call = await admin.create_call(
                    CallCreate.model_validate(
                        {
                            "window_code": window,
                            "title": f"{window} call 2025-2026",
                            "opens_at": "2025-01-01T00:00:00Z",
                            "closes_at": "2027-06-30T00:00:00Z",
                            "envelope": "5000000.00",
                            "min_grant": "50000.00",
                            "max_grant": "900000.00",
                            "rubric": RUBRIC,
                            "reviews_required": 2,
                        }
                    )
                )
                calls[window] = call.id or 0
            return calls

        found: dict[str, int] = await self.step(work)
        return found

    def content(self, title: str, amount: str, months: int, start: date) -> dict[str, Any]:
        return proposal_content(self.rng, title, amount, months, start)

    async def proposal(
        self, call_id: int, organisation: int, content: dict[str, Any], when: datetime, steps: tuple[str, ...]
    ) -> int:
        """Create a proposal as the organisation's grantee and take it through ``steps``."""
        grantee = f"grantee{organisation}"

        async def work(session: AsyncSession) -> int:
            author = self.proposals(session, grantee, when)
            pid = (await author.create(call_id, ProposalContent.model_validate(content))).id or 0
            if not steps:
                return pid
            for share in content["countries"]:
                country = share["country"]
                await self.proposals(session, f"delegate.{country.lower()}", when).endorse(
                    pid, EndorsementIn(country=country, decision="endorsed")
                )
            admin = self.proposals(session, "admin", when + timedelta(hours=1))
            for action in steps:
                if action in {"submit", "withdraw"}:
                    await author.act(pid, action)
                elif action == "review":
                    await admin.assign(pid, [self.principals["reviewer1"].id, self.principals["reviewer2"].id])
                    for r, reviewer in enumerate(("reviewer1", "reviewer2")):
                        service = self.proposals(session, reviewer, when + timedelta(hours=2))
                        await service.declare(pid, ConflictDeclaration(has_conflict=False))
                        scores = {str(c["key"]): {"score": 3 + (r + len(str(c["key"]))) % 3} for c in RUBRIC}
                        await service.review(
                            pid, ReviewIn.model_validate({"scores": scores, "recommendation": "recommend"})
                        )
                else:
                    reason = "" if action in {"screen", "pass"} else f"facility: {action.replace('_', ' ')}"
                    await admin.act(pid, action, reason=reason)
            return pid

        found: int = await self.step(work)
        return found

    # ------------------------------------------------------------ grants

    async def grant(self, plan: GrantPlan, call_id: int) -> None:
        rng = self.rng
        decided = plan.decided_on
        content = self.content(plan.title, plan.amount, plan.months, decided)
        pid = await self.proposal(
            call_id,
            plan.organisation,
            content,
            _at(decided - timedelta(days=7), 9),
            ("submit", "screen", "pass", "review", "recommend"),
        )
        self.facts.proposal_ids[plan.title] = pid
        decision_id = await self.no_objection(
            decided, kind="fund_proposal", proposal_id=pid, title=f"Fund: {plan.title}"
        )

        async def grant_id_of(session: AsyncSession) -> int:
            found = (await session.execute(select(Grant).where(col(Grant.decision_id) == decision_id))).scalar_one()
            return found.id or 0

        grant_id: int = await self.step(grant_id_of)
        self.facts.grant_ids[plan.title] = grant_id
        self.facts.grant_stages[grant_id] = plan.stage
        if plan.stage == "awaiting":
            return
        signed = decided + timedelta(days=14)

        async def sign(session: AsyncSession) -> None:
            await self.grants(session, "admin", _at(signed)).sign_agreement(
                grant_id, AgreementIn(signed_on=signed, reference=f"GA-{grant_id:03d}"), idempotency_key=None
            )

        await self.step(sign)
        if plan.stage == "signed":
            return
        amount = Money.of(plan.amount, REPORTING)
        first = amount.minor * 6 // 10
        paid_first = first // 2 if plan.stage == "partly" else first
        await self.transfer(grant_id, 1, decided + timedelta(days=21), paid_first)
        if plan.stage in {"partly", "paid"}:
            return
        if plan.stage == "refunded":
            refund = paid_first * rng.randint(5, 20) // 100 // 100 * 100
            received = decided + timedelta(days=120)

            async def refunded(session: AsyncSession) -> None:
                await self.grants(session, "officer", _at(received, 14)).record_refund(
                    grant_id,
                    RefundCreate(amount=_text(refund, REPORTING), received_on=received, reference="unspent balance"),
                    idempotency_key=None,
                )

            await self.step(refunded)
            return
        # reported / closed: the first report (the final one of a short grant) is accepted, which recognises
        # the second tranche; part (closed) or all (reported) of it is paid.
        reported_on = decided + timedelta(days=190 if plan.months <= 6 else 200)
        budget = {b["category"]: Money.of(b["amount"], REPORTING).minor for b in content["budget"]}
        spent_share = rng.randint(70, 95)
        spent = {c: _text(m * first // amount.minor * spent_share // 100, REPORTING) for c, m in budget.items()}
        await self.report(grant_id, reported_on, spent)
        second = amount.minor - first
        if plan.stage == "closed":
            await self.transfer(grant_id, 2, reported_on + timedelta(days=14), second * 8 // 10)
            closed_on = reported_on + timedelta(days=30)

            async def close(session: AsyncSession) -> None:
                await self.grants(session, "admin", _at(closed_on)).close(
                    grant_id, GrantAction(reason="Completed; final report accepted."), idempotency_key=None
                )

            await self.step(close)
        else:
            await self.transfer(grant_id, 2, reported_on + timedelta(days=14), second)

    async def transfer(self, grant_id: int, tranche: int, day: date, minor: int) -> None:
        async def work(session: AsyncSession) -> None:
            prepared = await self.grants(session, "officer", _at(day, 9)).prepare_disbursement(
                grant_id,
                DisbursementCreate(
                    tranche=tranche, amount=_text(minor, REPORTING), reference=f"T-{grant_id}-{tranche}"
                ),
                idempotency_key=None,
            )
            await self.grants(session, "approver", _at(day, 15)).approve_disbursement(
                prepared.value.id or 0, idempotency_key=None
            )

        await self.step(work)

    async def report(self, grant_id: int, day: date, spent: dict[str, str]) -> None:
        async def work(session: AsyncSession) -> None:
            grant = await session.get(Grant, grant_id)
            assert grant is not None
            scheduled = (
                (
                    await session.execute(
                        select(GrantReport)
                        .where(col(GrantReport.grant_id) == grant_id)
                        .order_by(col(GrantReport.number))
                    )
                )
                .scalars()
                .first()
            )
            assert scheduled is not None and scheduled.id is not None
            grantee = next(name for name, p in self.principals.items() if p.organisation_id == grant.organisation_id)
            await self.grants(session, grantee, _at(day, 10)).submit_report(
                grant_id,
                ReportSubmit.model_validate(
                    {
                        "report_id": scheduled.id,
                        "narrative": "Activities on schedule.",
                        "indicators": [{"outcome": "Migrants reached", "indicator": "people trained", "value": "850"}],
                        "expenditure": [{"category": c, "amount": a} for c, a in spent.items()],
                    }
                ),
            )
            await self.grants(session, "admin", _at(day + timedelta(days=5), 10)).accept_report(
                grant_id, scheduled.id, ReportReview(note="Accepted."), idempotency_key=None
            )

        await self.step(work)

    # ------------------------------------------------------------ manual entries and revaluations

    async def manual(self, day: date, description: str, *lines: Line) -> None:
        key = f"facility-manual-{next(self.keys)}"

        async def work(session: AsyncSession) -> None:
            draft = EntryDraft(day, description, tuple(lines), "manual", None, key)
            await manual.post_manual(self.ledger(session, "officer", _at(day, 16)), draft)

        await self.step(work)

    async def revalue(self, day: date) -> None:
        async def work(session: AsyncSession) -> None:
            await manual.revalue_manual(self.ledger(session, "officer", _at(day, 18)), day)

        await self.step(work)


async def build_facility(database: Database, settings: Settings) -> FacilityFacts:
    """Build the facility described in the module's docstring; returns what tests need to know of it."""
    rng = random.Random(SEED)
    b = Builder(database, settings, rng)
    await b.members()  # before the users: a delegate's member exists
    await b.users()
    await b.rates()
    calls = await b.organisations_and_calls()

    # Every dated step of the two years, run in date order (the sequence number keeps ties in plan order).
    events: list[tuple[datetime, int, Callable[[], Awaitable[Any]]]] = []
    order = itertools.count()

    def at(when: datetime, work: Callable[[], Awaitable[Any]]) -> None:
        heapq.heappush(events, (when, next(order), work))

    assessed: dict[int, list[tuple[int, int, int, date]]] = {}
    fee_payers = {code: b.facts.contributor_ids[code] for code, _, _ in MEMBERS}

    for year in (2025, 2026):

        async def assess_and_plan(year: int = year) -> None:
            assessed[year] = await b.assess(year)
            for assessment_id, contributor_id, minor, due in assessed[year]:
                code = next(c for c, i in fee_payers.items() if i == contributor_id)
                if code == "BGD" and year == 2026:
                    continue  # Bangladesh's 2026 fee stays outstanding
                pay_on = min(due + timedelta(days=rng.randint(-20, 40)), LAST_DAY - timedelta(days=3))
                parts = [minor // 2, minor - minor // 2] if code == "MAR" else [minor]
                for n, part in enumerate(parts):
                    paid_on = pay_on + timedelta(days=30 * n)
                    body: dict[str, Any] = {
                        "contributor_id": contributor_id,
                        "value_date": paid_on,
                        "amount": _text(part, REPORTING),
                        "currency": REPORTING,
                        "assessment_id": assessment_id,
                        "reference": f"{year} fee",
                    }
                    at(_at(paid_on, 11), partial(b.deposit, body))

        at(_at(date(year, 1, 15), 9), assess_and_plan)

    for plan in b.pledge_plans():

        async def sign_and_plan(plan: dict[str, Any] = plan) -> None:
            instalments = await b.pledge(plan)
            if not plan["met"]:
                return
            contributor_id = b.facts.contributor_ids[plan["pledger"]]
            for number, (instalment_id, currency, minor, due) in enumerate(instalments):
                at_once = plan["early"] and number == 0
                if due > date(2026, 12, 10) or (not at_once and rng.random() < 0.12):
                    continue  # not yet due, or not paid: outstanding
                target = ("instalment", instalment_id)
                for body in b.deposits_for(contributor_id, target, currency, minor, due, at_once=at_once):
                    at(_at(body["value_date"], 11), partial(b.deposit, body))

        at(_at(plan["signed_on"], 10), sign_and_plan)

    for n in range(UNAPPLIED_DEPOSITS):
        pledger, currency = PLEDGERS[n % len(PLEDGERS)]
        day = FIRST_DAY + timedelta(days=rng.randint(20, 700))
        usd = Decimal(rng.randint(10, 120) * 1000)
        units = int(usd / Decimal(BASE_RATES.get(currency, "1")) // 100 * 100)
        body = {
            "contributor_id": b.facts.contributor_ids[pledger],
            "value_date": day,
            "amount": _text(units * 10 ** exponent(currency), currency),
            "currency": currency,
            "reference": "advance, agreement pending",
        }
        at(_at(day, 11), partial(b.deposit, body))

    for year, amount in BUDGETS.items():
        day = date(year - 1, 12, 1) if year > 2025 else date(2025, 1, 20)
        at(
            _at(day, 10),
            partial(b.no_objection, day, kind="admin_budget", year=year, amount=amount, title=f"Budget {year}"),
        )
    for day, window, amount in ALLOCATIONS:
        at(
            _at(day, 10),
            partial(
                b.no_objection,
                day,
                kind="window_allocation",
                window_code=window,
                amount=amount,
                title=f"Pooled funds to {window}",
            ),
        )
    for plan_grant in GRANT_PLANS:
        at(
            _at(plan_grant.decided_on - timedelta(days=7), 9),
            partial(b.grant, plan_grant, calls[plan_grant.window]),
        )
    for n, (title, window, steps) in enumerate(OTHER_PROPOSALS):
        day = date(2026, 5, 4) + timedelta(days=7 * n)

        async def other(
            title: str = title, window: str = window, steps: tuple[str, ...] = steps, day: date = day, n: int = n
        ) -> None:
            content = b.content(title, f"{100000 + 20000 * n}.00", 18, day)
            b.facts.proposal_ids[title] = await b.proposal(
                calls[window], n % len(ORGANISATIONS), content, _at(day, 9), steps
            )

        at(_at(day, 9), other)

    async def returned(
        title: str = RETURNED_PROPOSAL[0],
        window: str = RETURNED_PROPOSAL[1],
        day: date = RETURNED_PROPOSAL[2],
    ) -> None:
        amount, months = RETURNED_PROPOSAL[3], RETURNED_PROPOSAL[4]
        content = proposal_content(random.Random(SEED + 1), title, amount, months, day)
        b.facts.proposal_ids[title] = await b.proposal(
            calls[window], 2, content, _at(day, 9), ("submit", "screen", "return")
        )

    at(_at(RETURNED_PROPOSAL[2], 9), returned)

    # Month by month: secretariat direct costs and bank charges; interest every quarter (in USD, and on the
    # euro balance in EUR).
    for month in range(24):
        first = _add_months(date(2025, 1, 1), month)
        end = _add_months(first, 1) - timedelta(days=1)
        costs = Money.from_minor(rng.randint(2500, 4200) * 1000, REPORTING)
        charges = Money.from_minor(rng.randint(20000, 90000), REPORTING)
        at(
            _at(end, 16),
            partial(
                b.manual,
                end,
                "Secretariat direct costs",
                Line(chart.SECRETARIAT_DIRECT_COSTS, costs),
                Line(chart.CASH, -costs),
            ),
        )
        at(
            _at(end, 16, 30),
            partial(b.manual, end, "Bank charges", Line(chart.BANK_CHARGES, charges), Line(chart.CASH, -charges)),
        )
        if first.month in (3, 6, 9, 12):
            for currency, low, high in ((REPORTING, 15000, 60000), ("EUR", 4000, 20000)):
                interest = Money.from_minor(rng.randint(low, high) * 100, currency)
                at(
                    _at(end, 17),
                    partial(
                        b.manual,
                        end,
                        "Interest earned",
                        Line(chart.CASH, interest),
                        Line(chart.INVESTMENT_INCOME, -interest),
                    ),
                )
    for day in (date(2025, 12, 31), date(2026, 12, 31)):
        at(_at(day, 18), partial(b.revalue, day))

    # Steps add later steps (a pledge plans its deposits): run the earliest one until none is left.
    while events:
        _, _, work = heapq.heappop(events)
        await work()
    await b.tokens()
    return b.facts


def _build(url: str, tmp: Path) -> FacilityFacts:
    settings = make_settings(url, tmp / "var")

    async def run() -> FacilityFacts:
        database = Database(url)
        try:
            return await build_facility(database, settings)
        finally:
            await database.dispose()

    return asyncio.run(run())


# ---------------------------------------------------------------- fixtures

_copies = itertools.count()


@pytest.fixture(scope="session")
def facility_sqlite_template(sqlite_template: Path, request: pytest.FixtureRequest) -> tuple[Path, FacilityFacts]:
    def build(folder: Path) -> tuple[Path, FacilityFacts]:
        path = folder / "facility.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return path, _build(f"sqlite+aiosqlite:///{path}", folder)

    return build_once(request, "facility-sqlite", build)


@pytest.fixture(scope="session")
def facility_pg_template(pg_template: str, request: pytest.FixtureRequest) -> tuple[str, FacilityFacts]:
    assert PG_ADMIN_URL is not None
    admin_url = PG_ADMIN_URL

    def build(folder: Path) -> tuple[str, FacilityFacts]:
        name = shared_database(request.config, "facility")
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}"')
        _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        return name, _build(_with_database(admin_url, name), folder)

    return build_once(request, "facility-pg", build)


@pytest.fixture
def facility_copy(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, FacilityFacts]]:
    """A private copy of the generated facility: (database URL, facts)."""
    if backend == "sqlite":
        template, facts = request.getfixturevalue("facility_sqlite_template")
        path = tmp_path / "facility.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}", facts
        return
    template_name, facts = request.getfixturevalue("facility_pg_template")
    assert PG_ADMIN_URL is not None
    name = f"fundapp_fc_{os.getpid()}_{next(_copies)}"
    _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield _with_database(PG_ADMIN_URL, name), facts
    _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def facility(facility_copy: tuple[str, FacilityFacts], tmp_path: Path) -> Iterator[Facility]:
    """The generated facility behind the HTTP API, its clock at ``FACILITY_NOW``."""
    url, facts = facility_copy
    settings = make_settings(url, tmp_path / "var")
    clock = FrozenClock(FACILITY_NOW)
    probe = DatabaseProbe(settings)
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver.local") as client:
        api = Api(client, probe, settings, clock)

        def actor(username: str) -> Actor:
            user_id, token, roles = facts.tokens[username]
            return Actor(user_id, username, roles, token)

        yield Facility(
            api=api,
            facts=facts,
            admin=actor("admin"),
            officer=actor("officer"),
            approver=actor("approver"),
            auditor=actor("auditor"),
            delegate=actor("delegate.mex"),
        )
    probe.close()
