"""The reports benchmark's facility: 35 months of a migration-financing facility's history, built on a fresh
database for ``bench/reports.py`` to time its reports on.

What people do once or weekly goes through the real services: users and an API token, monthly FX rates
(and year-end closing rates), 12 member states and their fees assessed every year, the other donors, the
implementing organisations cleared by due diligence, a call per window, the secretariat's budget and the
monthly allocations of pooled money to windows (decisions of the members under the written procedure),
every funding decision, every grant agreement, the year-end FX revaluations and the closing of the months.
What happens by the thousand is written in bulk with ``Ledger.post_batch`` and Core inserts of the rows
behind each entry: pledges and their instalments, deposits, proposals, transfers to grantees, accepted
grantee reports (each recognising the next conditional tranche), refunds, grant closures and the
secretariat's month. What each bulk-written command posts comes from ``bench/plans.py``, one function per
command, which hands the facts the bench keeps to the domain's planner (``governance.rules``,
``proposals.rules``).

:func:`service_checks` and :func:`ledger_checks` check the result: the real services still accept the bulk
rows, and both trial balances are zero.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import random
import sys
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

import proposals.funding  # noqa: F401 - registers the funding decision handler, as the service does
from bench.contributions import MEMBERS, apportion, text_amount
from bench.plans import (
    BulkPlan,
    DepositFacts,
    Instalment,
    TransferFacts,
    at,
    closure_plan,
    condition_met_plan,
    deposit_plan,
    manual_plan,
    pledge_plan,
    recognition_plan,
    refund_plan,
    transfer_plan,
    transition_rows,
)
from fundapp.core import accounts
from fundapp.core.audit import Actor
from fundapp.core.chain import canonical_json as canonical
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import TokenCreate, UserCreate
from fundapp.core.security import PasswordHashing, Principal
from governance.decisions import Decisions
from governance.models import Assessment, Contribution, Pledge, PledgeInstalment, Window
from governance.schemas import (
    ContributionCreate,
    ContributorCreate,
    DecisionCreate,
    MemberCreate,
    TierFeeSet,
)
from governance.service import Governance
from ledger import Book, Ledger, Line, Money, chart, trial_balance
from ledger.models import LedgerAccount, Posting
from ledger.money import exponent
from ledger.rules import convert_minor
from ledger.types import EntryDraft
from proposals.grants import Grants
from proposals.models import (
    Disbursement,
    Grant,
    GrantReport,
    Proposal,
    ProposalCountry,
    ProposalVersion,
    Refund,
    Tranche,
    Transition,
)
from proposals.schemas import (
    AgreementIn,
    CallCreate,
    DisbursementCreate,
    DueDiligenceSet,
    GrantAction,
    OrganisationCreate,
    ProposalContent,
    RefundCreate,
)
from proposals.service import Proposals

REPORTING = "USD"


MONTHS = 35
# Units of USD per unit of currency at the start, and the decimals quoted.
BASE_RATES = {"EUR": ("1.0850", 4), "GBP": ("1.2700", 4), "CHF": ("1.1250", 4), "JPY": ("0.006650", 6)}
BASE_RATES["SEK"] = ("0.09500", 5)
DONOR_CURRENCIES = {"USD": 40, "EUR": 25, "GBP": 12, "CHF": 8, "JPY": 8, "SEK": 7}
MEMBER_CURRENCIES = {"MEX": "USD", "PHL": "USD", "MAR": "EUR", "SEN": "EUR", "GHA": "GBP", "ECU": "USD"}
DONORS = 300
ORGANISATIONS = 150
# At 1M postings (scaled with --postings): grants decided, pledges signed.
GRANTS_AT_1M = 2000
PLEDGES_AT_1M = 4000
# Postings a deposit writes on average (cash, receivable, fee and its cash line, 8200/8100, realised FX).
POSTINGS_PER_DEPOSIT = 6.0
WINDOW_WEIGHTS = {"LMG": 30, "SKL": 20, "TEC": 14, "PRO": 14, "IRR": 12, "PAR": 10}
RECIPIENTS = (
    "MEX", "GTM", "HND", "SLV", "COL", "ECU", "PER", "SEN", "MLI", "NER", "GHA", "NGA", "ETH", "KEN",
    "SOM", "SDN", "MAR", "TUN", "EGY", "JOR", "LBN", "BGD", "NPL", "PHL", "IDN", "AFG", "PAK", "LKA",
)  # fmt: skip
THEMES = (
    "Skills passports for returning migrants",
    "Fair recruitment corridor",
    "Remittance price transparency",
    "Protection desks at border crossings",
    "Regularisation helpdesks",
    "Diaspora investment forum",
    "Labour migration statistics",
    "Digital identity for migrant workers",
    "Vocational training in origin communities",
    "Shelter network for migrants in transit",
    "Safe return and reintegration",
    "Ethical recruitment training for employers",
    "Information campaign on irregular routes",
    "Remittance app for seasonal workers",
    "Legal aid for migrant domestic workers",
    "Climate mobility preparedness",
)
ORG_KINDS = ("ngo", "government", "international_organisation", "private_sector", "academia")
ORG_WORDS = (
    ("Red", "Fundación", "Centre", "Institute", "Alliance", "Network", "Ministry of Labour of", "Association"),
    ("Migrante", "Mobility", "Migration Policy", "Diaspora", "Remittances", "Labour Rights", "Return", "Safe Routes"),
)
SEXES_AGES = (("female", "25-59"), ("male", "25-59"), ("female", "18-24"), ("male", "18-24"), ("female", "0-17"))
SDG_TARGETS = ("10.7.2", "8.8", "10.c", "5.2", "17.3", "10.7", "8.5", "16.9")
BUDGET_SPLIT = (("staff", 45), ("contractual_services", 25), ("travel", 10), ("supplies", 20))


def log(message: str) -> None:
    print(f"[reports {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def usd_units(usd: float, currency: str) -> int:
    """A round amount in minor units of ``currency`` worth about ``usd`` US dollars."""
    local = usd if currency == REPORTING else usd / float(BASE_RATES[currency][0])
    step = 1000 if local > 100_000 else (100 if local > 5_000 else 10)
    return int(max(step, round(local / step) * step) * 10 ** exponent(currency))


def weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass(frozen=True)
class Timeline:
    """The facility's history: 35 months up to a week before today, its year-ends and the last full year."""

    start: date
    end: date

    @classmethod
    def before(cls, today: date) -> Timeline:
        end = today - timedelta(days=7)
        return cls(add_months(date(end.year, end.month, 1), -(MONTHS - 1)), end)

    @property
    def year_ends(self) -> list[date]:
        return [date(y, 12, 31) for y in range(self.start.year, self.end.year) if date(y, 12, 31) < self.end]

    @property
    def statement_year(self) -> int:
        return self.end.year - 1

    @property
    def last_closed_month(self) -> date:
        """Months close with a lag: the month before last is the last closed."""
        return add_months(date(self.end.year, self.end.month, 1), -2)


class Rates:
    """Monthly rates (a seeded random walk, on the first of each month) and year-end closing rates, as
    added to the ledger; ``rate`` reads them as the ledger does (the latest on or before the day)."""

    def __init__(self, rng: random.Random, timeline: Timeline) -> None:
        self.points: dict[str, list[tuple[date, Decimal]]] = {}
        months = (timeline.end.year - timeline.start.year) * 12 + timeline.end.month - timeline.start.month + 2
        for currency, (base, places) in BASE_RATES.items():
            quantum = Decimal(1).scaleb(-places)
            value = float(base)
            points = []
            for month in range(months):
                day = add_months(timeline.start, month)
                points.append((day, Decimal(repr(value)).quantize(quantum)))
                if date(day.year, 12, 31) in timeline.year_ends and day.month == 12:
                    closing = value * (1 + rng.gauss(0, 0.008))
                    points.append((date(day.year, 12, 31), Decimal(repr(closing)).quantize(quantum)))
                value *= 1 + rng.gauss(0, 0.015)
            self.points[currency] = points
        self.days = {c: [d for d, _ in p] for c, p in self.points.items()}

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == REPORTING:
            return Decimal(1)
        return self.points[currency][bisect_right(self.days[currency], day) - 1][1]

    def usd(self, minor: int, currency: str, day: date) -> int:
        return minor if currency == REPORTING else convert_minor(minor, currency, self.rate(currency, day), REPORTING)


# ------------------------------------------------------------------------------------------ bulk writing


class Ids:
    """Primary keys the bench assigns itself for the rows it writes in bulk (the tables start empty of
    them; PostgreSQL's sequences are moved past them at the end)."""

    def __init__(self) -> None:
        self.counters: dict[str, itertools.count[int]] = {}

    def start(self, table: str, after: int) -> None:
        self.counters[table] = itertools.count(after + 1)

    def next(self, table: str) -> int:
        return next(self.counters[table])


# Tables written in bulk, in foreign-key order; an entry's rows follow it in its flush.
BULK_TABLES: tuple[Any, ...] = (
    Proposal.__table__,  # type: ignore[attr-defined]
    ProposalCountry.__table__,  # type: ignore[attr-defined]
    ProposalVersion.__table__,  # type: ignore[attr-defined]
    Transition.__table__,  # type: ignore[attr-defined]
    Pledge.__table__,  # type: ignore[attr-defined]
    PledgeInstalment.__table__,  # type: ignore[attr-defined]
    Contribution.__table__,  # type: ignore[attr-defined]
    Disbursement.__table__,  # type: ignore[attr-defined]
    Refund.__table__,  # type: ignore[attr-defined]
)
EXPLICIT_IDS = ("proposals", "pledges", "pledge_instalments", "contributions", "disbursements", "grant_refunds")


class Batch:
    """Drafts waiting for ``post_batch`` and the rows that go with them (filled in once the entry ids are
    known), written in one transaction."""

    def __init__(self) -> None:
        self.drafts: list[EntryDraft] = []
        self.posted: list[Callable[[int], None] | None] = []
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def post(self, draft: EntryDraft, then: Callable[[int], None] | None = None) -> None:
        self.drafts.append(draft)
        self.posted.append(then)

    def row(self, table: str, values: dict[str, Any]) -> None:
        self.rows[table].append(values)

    def add(self, plan: BulkPlan, then: Callable[[int], None] | None = None) -> None:
        """A planned entry, its rows written once its id is known, then ``then`` told the id."""

        def posted(entry_id: int) -> None:
            for table, values in plan.rows_for(entry_id):
                self.row(table, values)
            if then is not None:
                then(entry_id)

        self.post(plan.draft, posted)

    def __len__(self) -> int:
        return len(self.drafts)


# ------------------------------------------------------------------------------------------ the world


@dataclass
class Donor:
    id: int
    name: str
    currency: str
    scale: float  # typical instalment, USD


@dataclass
class Due:
    """An instalment or an assessed fee, with what has been applied to it so far."""

    kind: str  # "instalment" | "assessment"
    id: int
    contributor: int
    currency: str
    window: int | None
    amount: int
    applied: int = 0
    year: int | None = None  # an assessed fee's year
    entry_id: int | None = None  # an assessed fee's entry (None: a notice)


@dataclass
class TrancheState:
    id: int
    number: int
    amount: int
    planned: date
    condition: str
    status: str
    paid: int = 0
    recognised_on: date | None = None
    recognised_entry_id: int | None = None
    met_by_report_id: int | None = None


@dataclass
class ReportState:
    id: int
    number: int
    kind: str
    due_on: date
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class GrantState:
    id: int
    window: int
    organisation: int
    title: str
    amount: int
    start: date
    end: date
    budget: list[tuple[str, int]]
    signed_on: date | None = None
    tranches: list[TrancheState] = field(default_factory=list)
    reports: list[ReportState] = field(default_factory=list)
    transferred: int = 0  # 8500 debits
    refunded: int = 0
    recognised: int = 0  # 5100 posted (net of closure)
    closed: dict[str, Any] | None = None
    refund_planned: bool = False

    @property
    def net_transferred(self) -> int:
        return self.transferred - self.refunded

    @property
    def is_closed(self) -> bool:
        return self.closed is not None


@dataclass
class Counts:
    pledges: int = 0
    conditional_pledges: int = 0
    instalments: int = 0
    deposits: Counter[str] = field(default_factory=Counter)
    proposals: Counter[str] = field(default_factory=Counter)
    grants: int = 0
    agreements: int = 0
    disbursements: int = 0
    reports_accepted: int = 0
    tranches_recognised: int = 0
    refunds: int = 0
    closures: int = 0
    allocations: int = 0
    manual_entries: int = 0
    revaluations: int = 0
    periods_closed: int = 0
    grants_skipped_no_funds: int = 0
    flushes: int = 0


class Facility:
    """Builds the facility (see the module's docstring) and keeps what the measurements need."""

    def __init__(
        self, db: Database, settings: Settings, timeline: Timeline, *, postings: int, seed: int, batch_size: int
    ) -> None:
        """A facility of about ``postings`` postings, drawn from ``seed``; ``batch_size`` drafts a bulk write."""
        self.db = db
        self.settings = settings
        self.postings = postings
        self.batch_size = batch_size
        self.timeline = timeline
        self.rng = random.Random(seed)
        self.rates = Rates(self.rng, timeline)
        self.scale = postings / 1_000_000
        self.ids = Ids()
        self.batch = Batch()
        self.events: list[tuple[date, int, Callable[[date], None]]] = []
        self.order = itertools.count()
        self.counts = Counts()
        self.principals: dict[str, Principal] = {}
        self.token = ""
        self.windows: dict[str, int] = {}
        self.window_codes: dict[int, str] = {}
        self.calls: dict[int, int] = {}
        self.organisations: list[int] = []
        self.donors: list[Donor] = []
        self.members: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.receivable: dict[tuple[int, int | None, str], list[int]] = defaultdict(lambda: [0, 0])
        self.available: dict[int | None, int] = defaultdict(int)  # budgetary 8200, per window (None: pooled)
        self.grants: dict[int, GrantState] = {}
        self.open_dues: list[Due] = []  # instalments due after the end: outstanding
        self.planned_grants: dict[date, list[dict[str, Any]]] = defaultdict(list)
        self.meetings: set[date] = set()
        self.first_paid: dict[int, date] = {}
        self.to_sign: dict[date, list[int]] = defaultdict(list)
        self.month_charges: dict[tuple[int, int], int] = defaultdict(int)
        self.pending_pledge_updates: list[dict[str, Any]] = []
        self.service_s = 0.0
        self.bulk_s = 0.0

    # ---------------------------------------------------------------- small helpers

    @property
    def officer(self) -> Principal:
        return self.principals["officer"]

    def at_day(self, day: date, work: Callable[[date], None]) -> None:
        heapq.heappush(self.events, (day, next(self.order), work))

    async def step(self, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        async with self.db.session() as session:
            result = await work(session)
            await session.commit()
        self.service_s += time.perf_counter() - started
        return result

    def gov(self, session: AsyncSession, now: datetime) -> Governance:
        return Governance(session, settings=self.settings, actor=Actor(self.principals["admin"].id, "admin"), now=now)

    def ledger(self, session: AsyncSession, now: datetime, who: str = "officer") -> Ledger:
        principal = self.principals[who]
        return Ledger(session, reporting_currency=REPORTING, actor=Actor(principal.id, principal.username), now=now)

    # ---------------------------------------------------------------- set-up through the services

    @property
    def first_day(self) -> datetime:
        """When the facility's frame is set up: before its history starts."""
        return at(self.timeline.start - timedelta(days=20), 9)

    async def setup(self) -> None:
        """Users and a token, rates, members, fees and donors, organisations and calls, through the services;
        then the highest ids, after which the bulk rows' ids start."""
        for work in (self.people, self.add_rates, self.governance, self.proposals_frame, self.highest_ids):
            await self.step(work)

    async def people(self, session: AsyncSession) -> None:
        first = self.first_day
        hashing = PasswordHashing(self.settings)
        for username, role in (
            ("admin", Role.SECRETARIAT_ADMIN),
            ("officer", Role.FINANCE_OFFICER),
            ("approver", Role.FINANCE_APPROVER),
            ("approver2", Role.FINANCE_APPROVER),
            ("auditor", Role.AUDITOR),
        ):
            user = await accounts.create_user(
                session,
                UserCreate(
                    username=username,
                    full_name=username.title(),
                    email=f"{username}@facility.example.org",
                    password="bench-password-2026",
                    roles=[role],
                ),
                hashing=hashing,
                actor=None,
                now=first,
            )
            assert user.id is not None
            self.principals[username] = Principal(id=user.id, username=username, roles=frozenset({role}))
        created = await accounts.create_token(
            session,
            TokenCreate(name="reports bench"),
            user=self.principals["auditor"],
            settings=self.settings,
            now=datetime.now(UTC),
        )
        self.token = created.token

    async def add_rates(self, session: AsyncSession) -> None:
        # Each rate on its day: nothing is recorded before it has happened.
        for currency, points in self.rates.points.items():
            for day, rate in points:
                await self.ledger(session, at(day, 9)).add_rate(currency, day, rate, source="bench")

    async def governance(self, session: AsyncSession) -> None:
        start, first = self.timeline.start, self.first_day
        gov = self.gov(session, first)
        for code, tier in MEMBERS:
            await gov.admit_member(
                MemberCreate.model_validate({"code": code, "tier": tier, "joined_on": start - timedelta(days=400)})
            )
            contributor = await gov.member_contributor(code)
            assert contributor.id is not None
            self.members[code] = contributor.id
            self.names[contributor.id] = contributor.name
        for year in range(start.year, self.timeline.end.year + 1):
            for tier, amount in (("I", "250000.00"), ("II", "100000.00")):
                body = {"year": year, "tier": tier, "amount": amount, "currency": REPORTING}
                await gov.set_fee(TierFeeSet.model_validate(body))
        kinds = ("government",) * 5 + ("multilateral", "foundation", "foundation", "private_sector")
        for n in range(DONORS):
            currency = weighted(self.rng, DONOR_CURRENCIES)
            name = f"{self.rng.choice(('Government', 'Agency', 'Fund', 'Foundation'))} donor {n + 1:03d}"
            donor = await gov.add_contributor(
                ContributorCreate.model_validate({"kind": self.rng.choice(kinds), "name": f"{name} ({currency})"})
            )
            assert donor.id is not None
            self.donors.append(Donor(donor.id, donor.name, currency, self.rng.lognormvariate(9.6, 0.9)))
            self.names[donor.id] = donor.name
        for window in (await session.execute(select(Window))).scalars():
            assert window.id is not None
            self.windows[window.code] = window.id
            self.window_codes[window.id] = window.code

    async def proposals_frame(self, session: AsyncSession) -> None:
        start, first = self.timeline.start, self.first_day
        admin = Proposals(session, settings=self.settings, user=self.principals["admin"], now=first)
        for n in range(ORGANISATIONS):
            name = f"{self.rng.choice(ORG_WORDS[0])} {self.rng.choice(ORG_WORDS[1])} {n + 1:03d}"
            organisation = await admin.create_organisation(
                OrganisationCreate.model_validate(
                    {"name": name, "type": ORG_KINDS[n % len(ORG_KINDS)], "country": self.rng.choice(RECIPIENTS)}
                )
            )
            assert organisation.id is not None
            await admin.set_due_diligence(organisation.id, DueDiligenceSet.model_validate({"status": "cleared"}))
            self.organisations.append(organisation.id)
        for code, window_id in self.windows.items():
            call = await admin.create_call(
                CallCreate.model_validate(
                    {
                        "window_code": code,
                        "title": f"{code}: open call",
                        "opens_at": at(start - timedelta(days=15)).isoformat(),
                        "closes_at": at(self.timeline.end + timedelta(days=365)).isoformat(),
                        "envelope": "500000000.00",
                        "min_grant": "50000.00",
                        "max_grant": "2000000.00",
                        "rubric": [{"key": "relevance", "label": "Relevance", "weight": 1}],
                        "reviews_required": 2,
                    }
                )
            )
            assert call.id is not None
            self.calls[window_id] = call.id

    async def highest_ids(self, session: AsyncSession) -> None:
        for table in EXPLICIT_IDS:
            found = (await session.execute(text(f"SELECT max(id) FROM {table}"))).scalar_one()
            self.ids.start(table, int(found or 0))

    # ---------------------------------------------------------------- the plan

    def plan(self) -> None:
        """Pledges, fee deposits, grants and the month's routine, as dated events."""
        tl = self.timeline
        rng = self.rng
        pledges = max(20, round(PLEDGES_AT_1M * self.scale))
        grants = max(12, round(GRANTS_AT_1M * self.scale))
        # Deposits fill what grants, pledges and the routine leave of the postings asked for; about 1.45
        # deposits per instalment (some paid in parts, a few never).
        grant_postings = grants * 30
        deposits = max(100, (self.postings - grant_postings - pledges * 2) / POSTINGS_PER_DEPOSIT)
        payers: list[tuple[int, str, float]] = [(d.id, d.currency, d.scale) for d in self.donors]
        for code, contributor in self.members.items():
            currency = MEMBER_CURRENCIES.get(code, "USD")
            payers.append((contributor, currency, rng.lognormvariate(10.2, 0.6)))
        weights = [rng.paretovariate(1.3) for _ in payers]
        # More agreements early on; each pays monthly until about the facility's last day (a few instalments
        # fall after it: outstanding), more often than monthly when the postings asked for need more deposits
        # than monthly instalments give (about 1.17 deposits per instalment: parts, over-payments, advances).
        span = (tl.end - timedelta(days=120) - tl.start).days
        signings = [
            tl.start + timedelta(days=int(span * (n / pledges) ** 1.6) + rng.randint(0, 6)) for n in range(pledges)
        ]
        capacity = [max(1.0, (tl.end - day).days / 30.4) for day in signings]
        interval = max(7, min(30, int(30 * sum(capacity) / (deposits / 1.17))))
        for signed, months_left in zip(signings, capacity, strict=True):
            contributor, currency, scale = rng.choices(payers, weights=weights)[0]
            window = None if rng.random() < 0.3 else self.windows[weighted(rng, WINDOW_WEIGHTS)]
            parts = max(1, min(120, int(months_left * 30 / interval) + rng.randint(-1, 2)))
            each = usd_units(scale * rng.uniform(0.5, 1.5) * interval / 30, currency)
            conditional = rng.random() < 0.05
            self.at_day(
                signed,
                functools.partial(
                    self.pledge,
                    contributor=contributor,
                    currency=currency,
                    window=window,
                    parts=parts,
                    each=each,
                    conditional=conditional,
                    interval=interval,
                ),
            )
        # Grants: decided on Thursdays, a steady number a week.
        thursdays = []
        day = tl.start + timedelta(days=75)
        day += timedelta(days=(3 - day.weekday()) % 7)
        while day <= tl.end - timedelta(days=3):
            thursdays.append(day)
            day += timedelta(days=7)
        for n in range(grants):
            self.planned_grants[thursdays[n * len(thursdays) // grants]].append({"n": n})
        for thursday in thursdays:
            self.at_day(thursday, self.weekly_meeting)
        self.meetings = set(thursdays)
        # Routine: month ends, window allocations, assessments, budgets, revaluations.
        month = tl.start
        while month <= tl.end:
            last = add_months(month, 1) - timedelta(days=1)
            if last <= tl.end:
                self.at_day(last, self.month_end)
            allocation_day = month + timedelta(days=9)
            if tl.start + timedelta(days=60) < allocation_day <= tl.end:
                self.at_day(allocation_day, self.allocate_pooled)
            month = add_months(month, 1)
        for year in range(tl.start.year, tl.end.year + 1):
            assessed_on = date(year, 1, 15)
            if tl.start <= assessed_on <= tl.end:
                self.at_day(assessed_on, self.assess)
            budget_day = date(year - 1, 12, 4) if year > tl.start.year else tl.start + timedelta(days=5)
            if tl.start <= budget_day <= tl.end:
                self.at_day(budget_day, functools.partial(self.budget, year=year))
        for year_end in tl.year_ends:
            self.at_day(year_end, self.revalue)

    # ---------------------------------------------------------------- the day loop

    async def run(self) -> None:
        self.plan()
        self.service_days: dict[date, list[Callable[[], Awaitable[None]]]] = defaultdict(list)
        last_log = time.perf_counter()
        while self.events:
            day = self.events[0][0]
            if day > self.timeline.end:
                break
            while self.events and self.events[0][0] == day:
                _, _, work = heapq.heappop(self.events)
                work(day)
                if len(self.batch) >= self.batch_size:
                    await self.flush()
            services = self.service_days.pop(day, [])
            if services:
                await self.flush()
                for service in services:
                    await service()
            if time.perf_counter() - last_log > 15:
                last_log = time.perf_counter()
                log(
                    f"  {day}: {self.counts.pledges:,} pledges, {sum(self.counts.deposits.values()):,} deposits, "
                    f"{self.counts.grants:,} grants, {self.counts.disbursements:,} transfers "
                    f"(bulk {self.bulk_s:.0f} s, services {self.service_s:.0f} s)"
                )
        await self.flush()

    def service(self, day: date, work: Callable[[], Awaitable[None]]) -> None:
        self.service_days[day].append(work)

    async def flush(self) -> None:
        batch = self.batch
        if not batch.drafts and not batch.rows:
            return
        started = time.perf_counter()
        async with self.db.session() as session:
            ledger = self.ledger(session, datetime.now(UTC))
            if batch.drafts:
                entry_ids = await ledger.post_batch(batch.drafts)
                for entry_id, then in zip(entry_ids, batch.posted, strict=True):
                    if then is not None:
                        then(entry_id)
            # The entries' rows (the callbacks above added them to this batch), in foreign-key order.
            for table in BULK_TABLES:
                rows = batch.rows.get(table.name)
                if rows:
                    await session.execute(insert(table), rows)
            await session.commit()
        self.batch = Batch()
        self.counts.flushes += 1
        self.bulk_s += time.perf_counter() - started

    # ---------------------------------------------------------------- contributions

    def pledge(
        self,
        day: date,
        contributor: int,
        currency: str,
        window: int | None,
        parts: int,
        each: int,
        conditional: bool,
        interval: int,
    ) -> None:
        rng = self.rng
        total = each * parts
        amounts = apportion(total, parts, 10 ** exponent(currency))
        pledge_id = self.ids.next("pledges")
        first_due = day + timedelta(days=rng.randint(20, 45))
        dues = [first_due + timedelta(days=interval * k) for k in range(parts)]
        money = Money.from_minor(total, currency)
        reporting = self.rates.usd(total, currency, day)
        key = (contributor, window, currency)
        self.receivable[key][0] += total
        self.receivable[key][1] += reporting
        instalments = []
        for number, (due, amount) in enumerate(zip(dues, amounts, strict=True), start=1):
            instalment = Due("instalment", self.ids.next("pledge_instalments"), contributor, currency, window, amount)
            instalments.append(Instalment(instalment.id, number, due, amount))
            self.schedule_payment(instalment, due, number == parts)
        self.batch.add(
            pledge_plan(
                pledge_id=pledge_id,
                day=day,
                contributor=contributor,
                contributor_name=self.names[contributor],
                window=window,
                window_code=self.window_codes[window] if window is not None else None,
                money=money,
                conditional=conditional,
                instalments=instalments,
            )
        )
        self.counts.pledges += 1
        self.counts.instalments += parts
        if conditional:
            self.counts.conditional_pledges += 1
            met = day + timedelta(days=rng.randint(10, 60))
            self.at_day(met, lambda d: self.condition_met(d, pledge_id, contributor, window, money, reporting, day))

    def condition_met(
        self,
        day: date,
        pledge_id: int,
        contributor: int,
        window: int | None,
        money: Money,
        reporting: int,
        signed_on: date,
    ) -> None:
        def posted(entry_id: int) -> None:
            self.pending_pledge_updates.append(
                {"b_id": pledge_id, "condition_met_on": day, "condition_entry_id": entry_id}
            )

        usd = Money.from_minor(reporting, REPORTING)
        plan = condition_met_plan(
            pledge_id=pledge_id,
            day=day,
            contributor=contributor,
            window=window,
            money=money,
            reporting=usd,
            signed_on=signed_on,
        )
        self.batch.add(plan, posted)

    def schedule_payment(self, due: Due, due_on: date, last: bool) -> None:
        """How an instalment (or fee) is paid: most at once near the due date, some in parts, some over-paid
        (the excess kept as unapplied credit), a few never; nothing after the facility's last day."""
        rng = self.rng
        end = self.timeline.end
        step = 10 ** exponent(due.currency) * (100 if due.amount > 10**6 else 1)
        roll = rng.random()
        if roll < 0.04 or due_on > end:
            self.open_dues.append(due)
            return
        day = due_on + timedelta(days=rng.randint(-7, 20))
        if roll < 0.14 and due.amount >= 4 * step:
            parts = []
            left = due.amount
            for _ in range(rng.randint(1, 2)):
                piece = max(step, left * rng.randint(30, 60) // 100 // step * step)
                if piece >= left:
                    break
                parts.append(piece)
                left -= piece
            parts.append(left)
            kind = "partial"
        elif roll < 0.21:
            parts = [due.amount + max(step, due.amount * rng.randint(2, 15) // 100 // step * step)]
            kind = "over"
        else:
            parts = [due.amount]
            kind = "exact"
        for n, amount in enumerate(parts):
            if day > end:
                self.open_dues.append(due)
                return
            last_part = kind if n == len(parts) - 1 else "partial"
            self.at_day(day, functools.partial(self.deposit, due=due, amount=amount, kind=last_part))
            day += timedelta(days=rng.randint(10, 40))
        if rng.random() < 0.02:  # now and then, money ahead of any agreement: unapplied credit
            self.at_day(
                min(end, due_on + timedelta(days=rng.randint(1, 60))),
                lambda d: self.deposit(
                    d,
                    Due("none", 0, due.contributor, due.currency, None, 0),
                    usd_units(self.rng.uniform(2_000, 40_000), due.currency),
                    "unapplied",
                ),
            )

    def deposit(self, day: date, due: Due, amount: int, kind: str) -> None:
        """A deposit as ``Governance.record_contribution`` posts and records it (``plans.deposit_plan``)."""
        contributor, currency = due.contributor, due.currency
        window = due.window if due.kind == "instalment" else None
        key = (contributor, window, currency)
        plan = deposit_plan(
            DepositFacts(
                contribution_id=self.ids.next("contributions"),
                day=day,
                contributor=contributor,
                contributor_name=self.names[contributor],
                window=window,
                money=Money.from_minor(amount, currency),
                outstanding=due.amount - due.applied if due.kind != "none" else 0,
                carrying=(self.receivable[key][0], self.receivable[key][1]),
                fee_rate=self.settings.charter.admin_agent_fee_rate,
                rate=self.rates.rate(currency, day),
                reporting_currency=REPORTING,
                instalment_id=due.id if due.kind == "instalment" else None,
                assessment_id=due.id if due.kind == "assessment" else None,
                recorded_by=self.officer.id,
                assessment_year=due.year,
                assessment_entry_id=due.entry_id,
            )
        )
        if plan.applied:
            self.receivable[key][0] -= plan.applied
            self.receivable[key][1] -= plan.settled_reporting
        self.available[window] += plan.available
        due.applied += plan.applied
        self.first_paid.setdefault(contributor, day)
        self.batch.add(plan)
        self.counts.deposits[kind] += 1

    def assess(self, day: date) -> None:
        async def work() -> None:
            async def run(session: AsyncSession) -> list[Assessment]:
                created, _, _ = await self.gov(session, at(day, 9)).assess(day.year)
                return created

            for a in await self.step(run):
                assert a.id is not None
                due = Due(
                    "assessment", a.id, a.contributor_id, a.currency, None, a.amount, year=a.year, entry_id=a.entry_id
                )
                key = (a.contributor_id, None, a.currency)
                self.receivable[key][0] += a.amount
                self.receivable[key][1] += a.amount
                self.schedule_payment(due, a.due_on, True)

        self.service(day, work)

    # ---------------------------------------------------------------- decisions of the members

    async def no_objection(self, session: AsyncSession, day: date, **terms: Any) -> int:
        opens, closes = at(day, 10), at(day, 11)
        decisions = Decisions(session, settings=self.settings, user=self.principals["admin"], now=opens)
        created = await decisions.create(
            DecisionCreate.model_validate(
                {"procedure": "no_objection", "closes_at": closes, "open": True, "text": "As proposed.", **terms}
            )
        )
        assert created.id is not None
        closed = await Decisions(session, settings=self.settings, user=None, now=closes + timedelta(seconds=1)).close(
            created.id
        )
        if closed.result != "adopted":
            raise RuntimeError(f"decision {created.id} was not adopted: {closed.result_reason}")
        return created.id

    def budget(self, day: date, year: int) -> None:
        amount = f"{round(4_000_000 * max(self.scale, 0.1) ** 0.5, -3):.2f}"

        async def work() -> None:
            await self.step(
                lambda s: self.no_objection(
                    s, day, kind="admin_budget", year=year, amount=amount, title=f"Secretariat budget {year}"
                )
            )

        self.service(day, work)

    def allocate_pooled(self, day: date) -> None:
        """Each month the members give most of the pooled money to the window with the least available."""
        pooled = self.available[None]
        if pooled < 100_000_00:
            return
        window = min(self.windows.values(), key=lambda w: (self.available[w], w))
        amount = pooled * 6 // 10 // 100_000 * 100_000
        self.available[None] -= amount
        self.available[window] += amount

        async def work() -> None:
            await self.step(
                lambda s: self.no_objection(
                    s,
                    day,
                    kind="window_allocation",
                    window_code=self.window_codes[window],
                    amount=Money.from_minor(amount, REPORTING).to_str(),
                    title=f"Pooled funds to {self.window_codes[window]}",
                )
            )
            self.counts.allocations += 1

        self.service(day, work)

    def weekly_meeting(self, day: date) -> None:
        """The members' weekly decisions on the proposals put to them, and the agreements signed."""
        plans: list[dict[str, Any]] = [
            plan for _ in self.planned_grants.pop(day, []) if (plan := self.grant_plan(day)) is not None
        ]
        signing = self.to_sign.pop(day, [])
        if not plans and not signing:
            return

        async def work() -> None:
            async def decide(session: AsyncSession) -> list[int]:
                made = []
                for plan in plans:
                    await self.insert_proposal(session, plan)
                    decision_id = await self.no_objection(
                        session,
                        day,
                        kind="fund_proposal",
                        proposal_id=plan["proposal"]["id"],
                        title=f"Fund: {plan['proposal']['title']}"[:200],
                    )
                    grant = (
                        await session.execute(select(Grant).where(col(Grant.decision_id) == decision_id))
                    ).scalar_one()
                    assert grant.id is not None
                    made.append(grant.id)
                    self.grants[grant.id] = GrantState(
                        grant.id,
                        grant.window_id,
                        grant.organisation_id,
                        grant.title,
                        grant.amount,
                        grant.start_date,
                        grant.end_date,
                        plan["budget"],
                    )
                for grant_id in signing:
                    await Grants(
                        session, settings=self.settings, user=self.principals["admin"], now=at(day, 12)
                    ).sign_agreement(
                        grant_id, AgreementIn(signed_on=day, reference=f"GA-{grant_id:05d}"), idempotency_key=None
                    )
                await self.load_grants(session, [*made, *signing])
                return made

            made = await self.step(decide)
            self.counts.grants += len(made)
            self.counts.agreements += len(signing)
            for grant_id in made:
                signs = day + timedelta(days=7 * self.rng.randint(2, 6))
                if signs <= self.timeline.end:
                    self.to_sign[signs].append(grant_id)
                    if signs not in self.meetings:
                        self.meetings.add(signs)
                        self.at_day(signs, self.weekly_meeting)
            for grant_id in signing:
                self.plan_grant_life(day, self.grants[grant_id])

        self.service(day, work)

    def grant_plan(self, day: date) -> dict[str, Any] | None:
        """A proposal recommended by the TAG, put to the members on ``day``: its window has the money."""
        rng = self.rng
        candidates = [w for w in self.windows.values() if self.available[w] >= 80_000_00]
        if not candidates:
            self.counts.grants_skipped_no_funds += 1
            return None
        window = rng.choices(candidates, weights=[self.available[w] for w in candidates])[0]
        wanted = rng.lognormvariate(12.4, 0.6)
        amount_units = int(min(1_900_000, max(50_000, wanted), self.available[window] * 0.6 / 100) // 1000 * 1000)
        if amount_units < 50_000:
            self.counts.grants_skipped_no_funds += 1
            return None
        amount = amount_units * 100
        self.available[window] -= amount
        months = rng.choice((12, 18, 24, 24, 36))
        start = day
        proposal_id = self.ids.next("proposals")
        countries = rng.sample(RECIPIENTS, rng.choice((1, 1, 2, 3)))
        shares = {1: ["100"], 2: ["60", "40"], 3: ["50", "30", "20"]}[len(countries)]
        isc = amount * 7 // 107
        direct = amount - isc
        budget: list[tuple[str, int]] = []
        left = direct
        for n, (category, percent) in enumerate(BUDGET_SPLIT):
            part = left if n == len(BUDGET_SPLIT) - 1 else direct * percent // 100
            budget.append((category, part))
            left -= part
        budget.append(("indirect_support_costs", isc))
        title = f"{rng.choice(THEMES)}: {', '.join(countries)} ({day.year}-{proposal_id:05d})"
        content = {
            "title": title,
            "summary": f"{title}. A programme with national partners and migrant organisations.",
            "requested_amount": Money.from_minor(amount, REPORTING).to_str(),
            "duration_months": months,
            "countries": [{"country": c, "share": s} for c, s in zip(countries, shares, strict=True)],
            "budget": [{"category": c, "amount": Money.from_minor(a, REPORTING).to_str()} for c, a in budget],
            "tranches": self.tranche_plan(start, months, amount),
            "results": [
                {
                    "title": "Migrants reached",
                    "indicators": [{"name": "people trained", "baseline": "0", "target": str(rng.randint(200, 5000))}],
                }
            ],
            "gender_marker": rng.choice((0, 1, 1, 2, 2)),
            "gcm_objectives": sorted(rng.sample(range(1, 24), rng.randint(1, 3))),
            "sdg_targets": rng.sample(SDG_TARGETS, rng.randint(1, 3)),
            "beneficiaries": [
                {"sex": sex, "age_group": age, "count": rng.randint(50, 3000)}
                for sex, age in rng.sample(SEXES_AGES, rng.randint(2, 4))
            ],
        }
        document = canonical(ProposalContent.model_validate(content).model_dump(mode="json"))
        organisation = self.organisations[int(rng.paretovariate(1.1) * 7) % len(self.organisations)]
        created = at(day - timedelta(days=rng.randint(70, 140)), 9)
        return {
            "budget": budget,
            "proposal": {
                "id": proposal_id,
                "organisation_id": organisation,
                "call_id": self.calls[window],
                "window_id": window,
                "state": "recommended",
                "title": title,
                "requested": amount,
                "gender_marker": content["gender_marker"],
                "content": document,
                "version": 1,
                "consolidated_score": f"{rng.uniform(3.2, 4.8):.2f}",
                "tag_recommendation": "recommended",
                "tag_justification": "Relevant, feasible, with a sound results framework.",
                "created_by": None,
                "created_at": created,
                "updated_at": created + timedelta(days=50),
            },
            "countries": [
                {"proposal_id": proposal_id, "country": c, "share_bp": int(Fraction(s) * 100)}
                for c, s in zip(countries, shares, strict=True)
            ],
            "created": created,
        }

    @staticmethod
    def tranche_plan(start: date, months: int, amount: int) -> list[dict[str, str]]:
        """Unconditional tranches at the start and after six months; one tranche conditional on each
        progress report (one a year before the end)."""
        progress_reports = (months - 1) // 12
        conditional = [0.3] * progress_reports if progress_reports else []
        upfront_share = 1 - sum(conditional)
        shares = [upfront_share * 0.6, upfront_share * 0.4, *conditional]
        dates = [start + timedelta(days=30), start + timedelta(days=182)]
        dates += [start + timedelta(days=365 * (k + 1) + 20) for k in range(progress_reports)]
        minors = [int(amount * s) // 100 * 100 for s in shares[:-1]]
        minors.append(amount - sum(minors))
        return [
            {
                "planned_date": d.isoformat(),
                "amount": Money.from_minor(m, REPORTING).to_str(),
                "condition": "none" if k < 2 else "progress_report",
            }
            for k, (d, m) in enumerate(zip(dates, minors, strict=True))
        ]

    async def insert_proposal(self, session: AsyncSession, plan: dict[str, Any]) -> None:
        """A recommended proposal as the proposals service leaves it: its content, countries, the version
        submitted and the workflow's transitions."""
        proposal = plan["proposal"]
        created: datetime = plan["created"]
        await session.execute(insert(Proposal.__table__), [proposal])  # type: ignore[attr-defined]
        await session.execute(insert(ProposalCountry.__table__), plan["countries"])  # type: ignore[attr-defined]
        submitted = created + timedelta(days=10)
        await session.execute(
            insert(ProposalVersion.__table__),  # type: ignore[attr-defined]
            [
                {
                    "proposal_id": proposal["id"],
                    "version": 1,
                    "content": proposal["content"],
                    "submitted_by": None,
                    "submitted_at": submitted,
                }
            ],
        )
        steps = [
            ("submit", submitted, ""),
            ("screen", submitted + timedelta(days=3), ""),
            ("pass", submitted + timedelta(days=6), ""),
            ("recommend", submitted + timedelta(days=35), "Recommended by the TAG."),
        ]
        transitions = transition_rows(proposal["id"], steps, self.principals["admin"].id)
        await session.execute(insert(Transition.__table__), transitions)  # type: ignore[attr-defined]
        self.counts.proposals["funded"] += 1
        # Now and then a proposal that goes nowhere: the portfolio counts them by state.
        if self.rng.random() < 0.35:
            await self.insert_unfunded(session, proposal, created)

    async def insert_unfunded(self, session: AsyncSession, model: dict[str, Any], created: datetime) -> None:
        rng = self.rng
        # The state each unfunded proposal is left in, and the actions that took it there.
        paths: dict[str, tuple[str, ...]] = {
            "draft": (),
            "submitted": ("submit",),
            "screening": ("submit", "screen"),
            "in_review": ("submit", "screen", "pass"),
            "rejected": ("submit", "screen", "reject"),
            "withdrawn": ("submit", "withdraw"),
        }
        state = rng.choice(list(paths))
        proposal_id = self.ids.next("proposals")
        row = {**model, "id": proposal_id, "state": state, "version": 0 if state == "draft" else 1}
        row.update(consolidated_score=None, tag_recommendation=None, tag_justification="", created_at=created)
        row["title"] = model["title"].replace("(", "(draft ")[:300]
        await session.execute(insert(Proposal.__table__), [row])  # type: ignore[attr-defined]
        countries = [{**c, "proposal_id": proposal_id} for c in await self._countries_of(model)]
        await session.execute(insert(ProposalCountry.__table__), countries)  # type: ignore[attr-defined]
        moment = created + timedelta(days=12)
        if state != "draft":
            await session.execute(
                insert(ProposalVersion.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "proposal_id": proposal_id,
                        "version": 1,
                        "content": model["content"],
                        "submitted_by": None,
                        "submitted_at": moment,
                    }
                ],
            )
            actions = [
                (action, moment + timedelta(days=4 * n), "Outside the call's priorities." if action == "reject" else "")
                for n, action in enumerate(paths[state])
            ]
            transitions = transition_rows(proposal_id, actions, self.principals["admin"].id)
            await session.execute(insert(Transition.__table__), transitions)  # type: ignore[attr-defined]
        self.counts.proposals[state] += 1

    async def _countries_of(self, model: dict[str, Any]) -> list[dict[str, Any]]:
        content = json.loads(model["content"])
        return [
            {"proposal_id": model["id"], "country": c["country"], "share_bp": int(Fraction(c["share"]) * 100)}
            for c in content["countries"]
        ]

    async def load_grants(self, session: AsyncSession, grant_ids: list[int]) -> None:
        """The tranches and report schedule the services made, and the agreement's recognitions."""
        if not grant_ids:
            return
        tranches = (await session.execute(select(Tranche).where(col(Tranche.grant_id).in_(grant_ids)))).scalars().all()
        reports = (
            (await session.execute(select(GrantReport).where(col(GrantReport.grant_id).in_(grant_ids)))).scalars().all()
        )
        for grant_id in grant_ids:
            state = self.grants[grant_id]
            state.tranches = sorted(
                (
                    TrancheState(
                        t.id or 0,
                        t.number,
                        t.amount,
                        t.planned_date,
                        t.condition,
                        t.status,
                        t.paid,
                        t.recognised_on,
                        t.recognised_entry_id,
                        t.met_by_report_id,
                    )
                    for t in tranches
                    if t.grant_id == grant_id
                ),
                key=lambda t: t.number,
            )
            state.reports = sorted(
                (ReportState(r.id or 0, r.number, r.kind, r.due_on) for r in reports if r.grant_id == grant_id),
                key=lambda r: r.number,
            )
            state.recognised = sum(t.amount for t in state.tranches if t.status == "recognised")

    # ---------------------------------------------------------------- a grant's life, in bulk

    def plan_grant_life(self, signed: date, grant: GrantState) -> None:
        rng = self.rng
        grant.signed_on = signed
        for tranche in grant.tranches:
            if tranche.status == "recognised":
                self.plan_transfers(grant, tranche, max(tranche.planned, signed + timedelta(days=7)))
        for report in grant.reports:
            submitted = report.due_on - timedelta(days=rng.randint(0, 25))
            accepted = submitted + timedelta(days=rng.randint(5, 25))
            if accepted <= self.timeline.end:
                self.at_day(
                    max(accepted, signed + timedelta(days=1)),
                    functools.partial(self.accept_report, grant=grant, report=report, submitted=submitted),
                )
        grant.refund_planned = rng.random() < 0.08

    def plan_transfers(self, grant: GrantState, tranche: TrancheState, first: date) -> None:
        rng = self.rng
        parts = rng.choice((1, 1, 2, 3))
        amounts = [tranche.amount // parts // 100 * 100] * (parts - 1)
        amounts.append(tranche.amount - sum(amounts))
        day = first + timedelta(days=rng.randint(0, 10))
        for amount in amounts:
            if day > self.timeline.end:
                return
            self.at_day(day, functools.partial(self.transfer, grant=grant, tranche=tranche, amount=amount))
            day += timedelta(days=rng.randint(20, 70))

    def transfer(self, day: date, grant: GrantState, tranche: TrancheState, amount: int) -> None:
        """A disbursement prepared by the finance officer and approved by an approver (two above the
        charter's threshold), as ``Grants.approve_disbursement`` posts it (``plans.transfer_plan``)."""
        if grant.is_closed or tranche.status not in ("recognised",) or amount > tranche.amount - tranche.paid:
            return
        disbursement_id = self.ids.next("disbursements")
        second = amount > int(self.settings.charter.second_approver_threshold * 100)
        paid_before = tranche.paid
        tranche.paid += amount
        if tranche.paid == tranche.amount:
            tranche.status = "paid"
        grant.transferred += amount
        self.month_charges[(day.year, day.month)] += self.rng.randint(15, 60) * 100
        facts = TransferFacts(
            disbursement_id=disbursement_id,
            day=day,
            grant=grant.id,
            window=grant.window,
            tranche_id=tranche.id,
            tranche_number=tranche.number,
            money=Money.from_minor(amount, REPORTING),
            prepared_by=self.officer.id,
            approved_by=self.principals["approver"].id,
            second_approved_by=self.principals["approver2"].id if second else None,
            tranche_amount=tranche.amount,
            tranche_paid=paid_before,
            threshold=self.settings.charter.second_approver_threshold,
        )
        self.batch.add(transfer_plan(facts))
        self.counts.disbursements += 1
        if grant.refund_planned and grant.transferred >= grant.amount // 2:
            grant.refund_planned = False
            self.at_day(day + timedelta(days=self.rng.randint(60, 200)), lambda d: self.refund(d, grant))

    def accept_report(self, day: date, grant: GrantState, report: ReportState, submitted: date) -> None:
        """A grantee report accepted: cumulative expenditure by budget category; the next conditional
        tranche recognised (``Grants.accept_report``); after the final report, the grant's closure."""
        if grant.is_closed:
            return
        rng = self.rng
        spent_share = Fraction(rng.randint(70, 97), 100)
        spent_total = int(grant.net_transferred * spent_share)
        planned_total = sum(a for _, a in grant.budget)
        expenditure = []
        left = spent_total
        for n, (category, planned) in enumerate(grant.budget):
            part = left if n == len(grant.budget) - 1 else spent_total * planned // max(1, planned_total)
            expenditure.append({"category": category, "amount": Money.from_minor(part, REPORTING).to_str()})
            left -= part
        report.values = {
            "b_id": report.id,
            "status": "accepted",
            "narrative": "Activities on schedule; see the results framework.",
            "indicators": canonical([{"outcome": "Migrants reached", "indicator": "people trained", "value": "850"}]),
            "expenditure": canonical(expenditure),
            "expenditure_total": spent_total,
            "submitted_by": None,
            "submitted_at": at(submitted, 10),
            "reviewed_by": self.principals["admin"].id,
            "reviewed_at": at(day, 10),
            "review_note": "Accepted.",
        }
        self.counts.reports_accepted += 1
        pending = [t for t in grant.tranches if t.condition == "progress_report" and t.status == "pending"]
        if pending:
            tranche = pending[0]

            def posted(entry_id: int) -> None:
                tranche.recognised_entry_id = entry_id

            tranche.status = "recognised"
            tranche.recognised_on = day
            tranche.met_by_report_id = report.id
            grant.recognised += tranche.amount
            plan = recognition_plan(
                day=day,
                grant=grant.id,
                window=grant.window,
                tranche_id=tranche.id,
                tranche_number=tranche.number,
                report_number=report.number,
                money=Money.from_minor(tranche.amount, REPORTING),
                report_id=report.id,
            )
            self.batch.add(plan, posted)
            self.counts.tranches_recognised += 1
            self.plan_transfers(grant, tranche, day + timedelta(days=rng.randint(7, 25)))
        if report.kind == "final":
            closes = day + timedelta(days=rng.randint(40, 90))
            if closes <= self.timeline.end and rng.random() < 0.85:
                self.at_day(closes, lambda d: self.close(d, grant))

    def refund(self, day: date, grant: GrantState) -> None:
        """Part of the net transferred returned by the grantee (``plans.refund_plan``)."""
        net = grant.net_transferred
        if grant.is_closed or net <= 0:
            return
        amount = max(100, net * self.rng.randint(3, 15) // 100 // 100 * 100)
        disbursed = net
        refund_id = self.ids.next("grant_refunds")
        grant.refunded += amount
        grant.recognised -= amount
        self.available[grant.window] += amount
        money = Money.from_minor(amount, REPORTING)
        plan = refund_plan(
            refund_id=refund_id,
            day=day,
            grant=grant.id,
            window=grant.window,
            money=money,
            recorded_by=self.officer.id,
            disbursed=disbursed,
        )
        self.batch.add(plan)
        self.counts.refunds += 1

    def close(self, day: date, grant: GrantState) -> None:
        """``Grants.close`` (``plans.closure_plan``): the unused commitment back to the window, recognised
        tranches not paid reversed."""
        if grant.is_closed:
            return
        committed = grant.amount - grant.transferred
        payable = sum(t.amount - t.paid for t in grant.tranches if t.status in ("recognised",))
        self.available[grant.window] += committed
        closed = {
            "b_id": grant.id,
            "status": "closed",
            "closed_on": day,
            "close_entry_id": None,
            "status_reason": "Completed; final report accepted.",
            "updated_at": at(day, 12),
        }
        grant.closed = closed
        for tranche in grant.tranches:
            if tranche.status in ("pending", "recognised"):
                tranche.status = "released"
        plan = closure_plan(
            day=day,
            grant=grant.id,
            window=grant.window,
            released=Money.from_minor(committed, REPORTING),
            unpaid=Money.from_minor(payable, REPORTING),
        )
        if plan is not None:

            def posted(entry_id: int) -> None:
                closed["close_entry_id"] = entry_id

            self.batch.add(plan, posted)
        self.counts.closures += 1

    def manual(self, day: date, description: str, *lines: Line) -> None:
        self.counts.manual_entries += 1
        self.batch.add(manual_plan(day, description, self.counts.manual_entries, *lines))

    def month_end(self, day: date) -> None:
        rng = self.rng
        scale = max(self.scale, 0.1) ** 0.5
        costs = Money.from_minor(int(rng.uniform(250_000, 420_000) * scale) * 100, REPORTING)
        self.manual(
            day, "Secretariat direct costs", Line(chart.SECRETARIAT_DIRECT_COSTS, costs), Line(chart.CASH, -costs)
        )
        if day.month % 3 == 0:
            rent = Money.from_minor(int(rng.uniform(30_000, 45_000) * scale) * 100, "CHF")
            self.manual(
                day,
                "Secretariat office rent, Geneva",
                Line(chart.SECRETARIAT_DIRECT_COSTS, rent),
                Line(chart.CASH, -rent),
            )
        charges = Money.from_minor(self.month_charges.pop((day.year, day.month), 0) + 25_000, REPORTING)
        self.manual(day, "Bank charges", Line(chart.BANK_CHARGES, charges), Line(chart.CASH, -charges))
        if day.month % 3 == 0:
            for currency, low, high in ((REPORTING, 150_000, 600_000), ("EUR", 40_000, 200_000)):
                interest = Money.from_minor(int(rng.randint(low, high) * scale) * 100, currency)
                self.manual(
                    day, "Interest earned", Line(chart.CASH, interest), Line(chart.INVESTMENT_INCOME, -interest)
                )
        if day.month == 12:
            accrued = Money.from_minor(int(rng.randint(50_000, 150_000) * scale) * 100, REPORTING)
            self.manual(
                day,
                "Interest accrued, not yet received",
                Line(chart.INTEREST_RECEIVABLE, accrued),
                Line(chart.INVESTMENT_INCOME, -accrued),
            )
            received = day + timedelta(days=20)
            if received <= self.timeline.end:
                self.at_day(
                    received,
                    lambda d: self.manual(
                        d,
                        "Accrued interest received",
                        Line(chart.CASH, accrued),
                        Line(chart.INTEREST_RECEIVABLE, -accrued),
                    ),
                )

    def revalue(self, day: date) -> None:
        async def work() -> None:
            async def run(session: AsyncSession) -> None:
                await self.ledger(session, at(day, 18)).revalue(day, idempotency_key=f"revaluation:{day}")

            await self.step(run)
            self.counts.revaluations += 1
            await self.reload_receivables()

        self.service(day, work)

    async def reload_receivables(self) -> None:
        """The receivables' carrying values as the ledger holds them (after a revaluation)."""
        async with self.db.session(write=False) as session:
            rows = await session.execute(
                select(
                    col(Posting.contributor_id),
                    col(Posting.window_id),
                    col(Posting.currency),
                    func.sum(col(Posting.amount)),
                    func.sum(col(Posting.reporting_amount)),
                )
                .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
                .where(col(LedgerAccount.code) == chart.CONTRIBUTIONS_RECEIVABLE)
                .group_by(col(Posting.contributor_id), col(Posting.window_id), col(Posting.currency))
            )
            self.receivable.clear()
            for contributor, window, currency, amount, reporting in rows.all():
                self.receivable[(int(contributor or 0), window, str(currency))] = [int(amount), int(reporting)]

    def pdf_day(self, rows: int) -> date:
        """The first month end by which sources and uses from inception has about ``rows`` rows: its summary,
        windows, one row per contributor that has paid and per organisation and grant started by then."""
        day = add_months(self.timeline.start, 1) - timedelta(days=1)
        while day < self.timeline.end:
            grants = [g for g in self.grants.values() if g.start <= day]
            contributors = sum(1 for first in self.first_paid.values() if first <= day)
            if 27 + contributors + len({g.organisation for g in grants}) + len(grants) >= rows:
                return day
            day = add_months(day, 2) - timedelta(days=1)
        return self.timeline.end

    # ---------------------------------------------------------------- the end of the build

    async def finish(self) -> None:
        """Write the grants', tranches' and reports' final states; move PostgreSQL's sequences past the ids
        written here; close the months; statistics as autovacuum would keep them."""
        started = time.perf_counter()
        tranche_rows = [
            {
                "b_id": t.id,
                "status": t.status,
                "paid": t.paid,
                "recognised_on": t.recognised_on,
                "recognised_entry_id": t.recognised_entry_id,
                "met_by_report_id": t.met_by_report_id,
            }
            for g in self.grants.values()
            for t in g.tranches
        ]
        report_rows = [r.values for g in self.grants.values() for r in g.reports if r.values]
        closed_rows = [g.closed for g in self.grants.values() if g.closed is not None]
        async with self.db.session() as session:
            updates = (
                (Tranche, tranche_rows),
                (GrantReport, report_rows),
                (Grant, closed_rows),
                (Pledge, self.pending_pledge_updates),
            )
            for model, rows in updates:
                if rows:
                    await update_by_id(session, model, rows)
            if not self.db.is_sqlite:
                for table in EXPLICIT_IDS:
                    await session.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                    )
            await session.commit()
        # The months close in order, with a lag of one month.
        month = self.timeline.start
        while month <= self.timeline.last_closed_month:
            period = f"{month.year:04d}-{month.month:02d}"

            async def close_month(session: AsyncSession, period: str = period, month: date = month) -> None:
                await self.ledger(session, at(add_months(month, 1) + timedelta(days=9), 17)).close_period(period)

            await self.step(close_month)
            self.counts.periods_closed += 1
            month = add_months(month, 1)
        if not self.db.is_sqlite:
            await vacuum_analyze(self.db)
        log(
            f"final states, sequences, {self.counts.periods_closed} months closed "
            f"in {time.perf_counter() - started:.1f} s"
        )


async def update_by_id(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE of ``model``'s table: each row names its id as ``b_id`` and the new values."""
    table = model.__table__
    statement = (
        update(table).where(table.c.id == bindparam("b_id")).values({k: bindparam(k) for k in rows[0] if k != "b_id"})
    )
    await session.execute(statement, rows)


async def vacuum_analyze(db: Database) -> None:
    """What autovacuum would do after a bulk load (it is off on this server): statistics for the planner
    and the visibility map that lets covering indexes be read alone."""
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM (ANALYZE)")


# ------------------------------------------------------------------------------------------ correctness


async def service_checks(facility: Facility) -> dict[str, Any]:
    """The real services on the bulk rows, today: each must accept them and post what the bulk model
    expects. Returns what was done, and the problems found."""
    now = datetime.now(UTC)
    today = now.date()
    settings = facility.settings
    problems: list[str] = []
    done: dict[str, Any] = {}

    async def attempt(name: str, work: Callable[[AsyncSession], Awaitable[Any]]) -> None:
        try:
            done[name] = await facility.step(work)
        except Exception as exc:  # noqa: BLE001 - any refusal is the finding
            problems.append(f"{name}: {type(exc).__name__}: {exc}")

    # A deposit settling an instalment written in bulk (its receivable at the carrying value the bulk kept).
    open_instalment = next((d for d in facility.open_dues if d.kind == "instalment" and d.applied < d.amount), None)
    if open_instalment is not None:
        due = open_instalment

        async def deposit(session: AsyncSession) -> str:
            recorded = await Governance(
                session, settings=settings, actor=Actor(facility.officer.id, "officer"), now=now
            ).record_contribution(
                ContributionCreate.model_validate(
                    {
                        "contributor_id": due.contributor,
                        "value_date": today,
                        "amount": text_amount(due.amount - due.applied, due.currency),
                        "currency": due.currency,
                        "instalment_id": due.id,
                        "reference": "service check",
                    }
                ),
                idempotency_key="bench-service-check-deposit",
            )
            contribution = recorded.value if hasattr(recorded, "value") else recorded.contribution
            return f"contribution {contribution.id} settles instalment {due.id} (applied {contribution.applied})"

        await attempt("deposit on a bulk instalment", deposit)
    grants = [g for g in facility.grants.values() if g.signed_on is not None and not g.is_closed]
    # A transfer of a tranche recognised in bulk (or by the agreement) and not fully paid.
    payable = next(((g, t) for g in grants for t in g.tranches if t.status == "recognised" and t.amount > t.paid), None)
    if payable is not None:
        grant, tranche = payable
        amount = min(tranche.amount - tranche.paid, 100_000_00)

        async def transfer(session: AsyncSession) -> str:
            prepared = await Grants(session, settings=settings, user=facility.officer, now=now).prepare_disbursement(
                grant.id,
                DisbursementCreate(
                    tranche=tranche.number, amount=text_amount(amount, REPORTING), reference="service check"
                ),
                idempotency_key=None,
            )
            row = prepared.value
            approved = await Grants(
                session, settings=settings, user=facility.principals["approver"], now=now
            ).approve_disbursement(row.id or 0, idempotency_key=None)
            return f"disbursement {row.id} of grant {grant.id}, tranche {tranche.number}: {approved.value.status}"

        await attempt("transfer of a bulk-recognised tranche", transfer)
    refundable = next((g for g in grants if g.net_transferred > 1_000_00), None)
    if refundable is not None:

        async def refund(session: AsyncSession) -> str:
            done_refund = await Grants(session, settings=settings, user=facility.officer, now=now).record_refund(
                refundable.id,
                RefundCreate(amount="1000.00", received_on=today, reference="service check"),
                idempotency_key=None,
            )
            return f"refund {done_refund.value.id} of grant {refundable.id}"

        await attempt("refund on a bulk grant", refund)
    touched = {refundable.id if refundable else None, payable[0].id if payable else None}
    await check_closure(facility, attempt, [g for g in grants if g.id not in touched], now)
    awaiting = next((g for g in facility.grants.values() if g.signed_on is None), None)
    if awaiting is not None:

        async def sign(session: AsyncSession) -> str:
            await Grants(session, settings=settings, user=facility.principals["admin"], now=now).sign_agreement(
                awaiting.id, AgreementIn(signed_on=today, reference="service check"), idempotency_key=None
            )
            return f"agreement of grant {awaiting.id}"

        await attempt("agreement of a grant awaiting it", sign)
    return {"done": done, "problems": problems}


Attempt = Callable[[str, Callable[[AsyncSession], Awaitable[Any]]], Awaitable[None]]


async def check_closure(facility: Facility, attempt: Attempt, grants: list[GrantState], now: datetime) -> None:
    """The closure of a grant whose final report was accepted in bulk, by the service: its balances must be the
    bulk model's (commitment = amount - transfers; payable = recognised - paid)."""
    settings = facility.settings
    finished = [g for g in grants if any(r.kind == "final" and r.values for r in g.reports)]
    closable = max(
        finished,
        key=lambda g: g.amount - g.transferred + sum(t.amount - t.paid for t in g.tranches if t.status == "recognised"),
        default=None,
    )
    if closable is None:
        return
    expected_release = closable.amount - closable.transferred
    expected_payable = sum(t.amount - t.paid for t in closable.tranches if t.status == "recognised")

    async def close(session: AsyncSession) -> str:
        closed = await Grants(session, settings=settings, user=facility.principals["admin"], now=now).close(
            closable.id, GrantAction(reason="Service check: final report accepted."), idempotency_key=None
        )
        lines = (
            await session.execute(
                select(col(LedgerAccount.code), func.sum(col(Posting.amount)))
                .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
                .where(col(Posting.entry_id) == closed.value.close_entry_id)
                .group_by(col(LedgerAccount.code))
            )
        ).all()
        posted = dict(lines)
        if (
            posted.get(chart.AVAILABLE, 0) != expected_release
            or posted.get(chart.GRANTS_PAYABLE, 0) != expected_payable
        ):
            raise AssertionError(
                f"closure of grant {closable.id} posted {posted}; the bulk model expected release "
                f"{expected_release} and payable {expected_payable}"
            )
        return f"grant {closable.id} closed (released {expected_release}, payable {expected_payable})"

    await attempt("closure after a bulk final report", close)


async def ledger_checks(db: Database) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with db.session(write=False) as session:
        for book in (Book.FINANCIAL, Book.BUDGETARY):
            rows = await trial_balance(session, book=book)
            per_currency: Counter[str] = Counter()
            for row in rows:
                per_currency[row.currency] += row.amount
            result[book.value] = {
                "off_by_currency": {c: v for c, v in per_currency.items() if v},
                "reporting_off": sum(r.reporting_amount for r in rows),
            }
        counts = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM journal_entries), (SELECT count(*) FROM postings), "
                    "(SELECT count(*) FROM contributions), (SELECT count(*) FROM pledges), "
                    "(SELECT count(*) FROM pledge_instalments), (SELECT count(*) FROM grants), "
                    "(SELECT count(*) FROM disbursements), (SELECT count(*) FROM proposals), "
                    "(SELECT count(*) FROM contributors), (SELECT count(*) FROM organisations)"
                )
            )
        ).one()
        names = (
            "entries", "postings", "contributions", "pledges", "instalments", "grants", "disbursements",
            "proposals", "contributors", "organisations",
        )  # fmt: skip
        result["size"] = dict(zip(names, (int(v) for v in counts), strict=True))
        # Every entry of these kinds has the row behind it, and every row its entry.
        behind = {
            "contribution": "contributions",
            "pledge": "pledges",
            "grant_disbursement": "disbursements",
            "grant_refund": "grant_refunds",
        }
        missing = {}
        for source_type, table in behind.items():
            entries, rows, joined = (
                await session.execute(
                    text(
                        f"SELECT (SELECT count(*) FROM journal_entries WHERE source_type = :t), "
                        f"(SELECT count(*) FROM {table}), "
                        f"(SELECT count(*) FROM {table} r JOIN journal_entries e ON e.id = r.entry_id "
                        f"WHERE e.source_type = :t)"
                    ),
                    {"t": source_type},
                )
            ).one()
            if not entries == rows == joined:
                missing[source_type] = {"entries": entries, "rows": rows, "rows_on_their_entry": joined}
        result["rows_behind_entries"] = missing
        if db.is_sqlite:
            path = Path(db.url.split("///", 1)[1])
            result["size"]["database_bytes"] = sum(
                f.stat().st_size for f in (path, path.with_name(path.name + "-wal")) if f.exists()
            )
        else:
            size = await session.execute(text("SELECT pg_database_size(current_database())"))
            result["size"]["database_bytes"] = int(size.scalar_one())
    result["balanced"] = not missing and all(
        not result[b]["off_by_currency"] and not result[b]["reporting_off"] for b in ("financial", "budgetary")
    )
    return result
