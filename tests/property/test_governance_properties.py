"""Properties of incoming money (acceptance 2): what governance records and what the ledger holds agree.

Hypothesis generates a facility: members (assessed for 2026 from a random fee schedule), donors,
pledges (six currencies with random FX rates, pooled or earmarked, 1-3 instalments summing exactly,
conditional or not, some conditions met) and deposits (settling random instalments or assessed fees,
partially, exactly or over-paying, some with no target). Every operation runs through
``governance.service.Governance`` in its own session and transaction, on a fresh migrated database
(SQLite: a copy of conftest's template; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``, fewer examples).

Then the ledger is read back through ``ledger.queries`` and compared with the records and with a model
of what was sent (the split of each deposit is recomputed from the model's own outstanding amounts;
FX conversions and the pro-rated fee are recomputed here with ``decimal``, sharing no code with the
service). The end of the file checks the pure rules of ``governance/rules.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from babel import Locale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core.audit import Actor
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.errors import Conflict
from fundapp.core.idempotency import client_key
from governance import rules
from governance.models import Assessment, Contribution, Pledge, PledgeInstalment
from governance.schemas import (
    ContributionCreate,
    ContributorCreate,
    MemberCreate,
    PledgeCreate,
    TierFeeSet,
)
from governance.service import Governance, Receipt
from ledger import Book, Ledger, Money, balances, chart, trial_balance
from tests import conftest

T = TypeVar("T")
ACTOR = Actor(None, "test")
REPORTING = "USD"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # after every generated date and condition (none after the clock)
YEAR = 2026
FIRST_RATE_DAY = date(2025, 12, 1)
DAY_ZERO = date(2026, 1, 1)
DAYS = 89  # pledges, deposits and rates fall in 2026-01-01 .. 2026-03-31
EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0, "SEK": 2}
CURRENCIES = list(EXPONENT)
FOREIGN = [c for c in CURRENCIES if c != REPORTING]
# Rates (USD per unit) as integer mantissas and their decimal places, around today's values.
RATE_RANGES = {"EUR": (9_000, 13_000, 4), "GBP": (11_000, 14_500, 4), "CHF": (9_000, 13_000, 4)}
RATE_RANGES |= {"JPY": (5_000, 9_000, 6), "SEK": (8_000, 11_500, 5)}
WINDOW_CODES = ["LMG", "SKL", "TEC", "PRO", "IRR", "PAR"]
MEMBER_CODES = ["MEX", "PHL", "SEN", "DEU", "CAN", "MAR"]
FEE_RATE = Decimal("0.01")  # the charter's administrative-agent fee (CharterSettings default)
EXACT = Context(prec=200)

# ---------------------------------------------------------------- the oracle's own arithmetic


def to_text(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-EXPONENT[currency]))


def half_even(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def convert(minor: int, currency: str, rate: Decimal) -> int:
    """``minor`` units of ``currency`` in US cents, exact product rounded half to even."""
    with localcontext(EXACT):
        return half_even(Decimal(minor).scaleb(-EXPONENT[currency]) * rate * 100)


# ---------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class MemberSpec:
    code: str
    tier: str
    joined_on: date


@dataclass(frozen=True)
class PledgeSpec:
    contributor: int  # index into the scenario's contributors (members first, then donors)
    currency: str
    window: str | None
    signed_on: date
    instalments: tuple[int, ...]  # minor units, each above zero
    conditional: bool
    met_after: int | None  # days after signing the condition is recorded as met; None: not met


@dataclass(frozen=True)
class DepositSpec:
    contributor: int
    target: tuple[str, int, int] | None  # ("instalment", pledge, number) or ("assessment", member, 0)
    mode: str  # partial | exact | over (against the target's outstanding amount at the time)
    size: int  # partial: per-mille of the outstanding; over: extra minor units; no target: the amount
    currency: str  # used when there is no target
    value_date: date
    keyed: bool
    with_previous: bool  # on the same bank statement as the deposit before it (recorded together)


@dataclass(frozen=True)
class Scenario:
    rates: dict[str, tuple[tuple[date, Decimal], ...]]
    members: tuple[MemberSpec, ...]
    fees: tuple[str, int, int, bool] | None  # currency, Part I, Part II, Part I set first
    donors: int
    pledges: tuple[PledgeSpec, ...]
    deposits: tuple[DepositSpec, ...]

    @property
    def contributors(self) -> int:
        return len(self.members) + self.donors


days = st.integers(0, DAYS).map(lambda n: DAY_ZERO + timedelta(days=n))


@st.composite
def rate_series(draw: st.DrawFn, currency: str) -> tuple[tuple[date, Decimal], ...]:
    low, high, places = RATE_RANGES[currency]
    when = [FIRST_RATE_DAY, *sorted(set(draw(st.lists(days, max_size=2))))]
    return tuple((d, Decimal(draw(st.integers(low, high))).scaleb(-places)) for d in when)


amounts = st.one_of(st.integers(1, 999), st.integers(1_000, 10**6), st.integers(10**6, 10**11))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    rates = {c: draw(rate_series(c)) for c in FOREIGN}
    codes = draw(st.lists(st.sampled_from(MEMBER_CODES), max_size=3, unique=True))
    members = tuple(
        MemberSpec(
            code,
            draw(st.sampled_from(["I", "II"])),
            date(2024, 7, 1) + timedelta(days=draw(st.integers(0, 900))),
        )
        for code in codes
    )
    fees = None
    if members:
        # Fees from one minor unit: pro-rated for a few months, a tiny fee rounds to nothing (not due).
        part_two = draw(amounts)
        fees = (draw(st.sampled_from(CURRENCIES)), part_two + draw(amounts), part_two, draw(st.booleans()))
    donors = draw(st.integers(0 if members else 1, 3))
    n_contributors = len(members) + donors
    pledges = []
    for _ in range(draw(st.integers(0, 5))):
        signed_on = draw(days)
        conditional = draw(st.integers(0, 3)) == 0
        pledges.append(
            PledgeSpec(
                contributor=draw(st.integers(0, n_contributors - 1)),
                currency=draw(st.sampled_from(CURRENCIES)),
                window=draw(st.one_of(st.none(), st.sampled_from(WINDOW_CODES))),
                signed_on=signed_on,
                instalments=tuple(draw(st.lists(amounts, min_size=1, max_size=3))),
                conditional=conditional,
                met_after=draw(st.one_of(st.none(), st.integers(0, 60))) if conditional else None,
            )
        )
    targets: list[tuple[str, int, int]] = [
        ("instalment", p, n) for p, spec in enumerate(pledges) for n in range(len(spec.instalments))
    ]
    targets += [("assessment", m, 0) for m in range(len(members))]
    deposits = []
    for _ in range(draw(st.integers(0, 8))):
        target = draw(st.one_of(st.none(), st.sampled_from(targets))) if targets else None
        mode = draw(st.sampled_from(["partial", "exact", "over"]))
        if target is None:
            contributor = draw(st.integers(0, n_contributors - 1))
        elif target[0] == "instalment":
            contributor = pledges[target[1]].contributor
        else:
            contributor = target[1]
        deposits.append(
            DepositSpec(
                contributor=contributor,
                target=target,
                mode=mode,
                size=draw(st.integers(1, 999)) if mode == "partial" else draw(amounts),
                currency=draw(st.sampled_from(CURRENCIES)),
                value_date=draw(days),
                keyed=draw(st.booleans()),
                with_previous=bool(deposits) and draw(st.booleans()),
            )
        )
    return Scenario(rates, members, fees, donors, tuple(pledges), tuple(deposits))


# ---------------------------------------------------------------- running a scenario


@dataclass
class DatabaseFactory:
    """A fresh migrated database per example; returns its URL and how to drop it."""

    backend: str
    template: Any  # SQLite: the template file; PostgreSQL: the template database's name
    directory: Path
    counter: Iterator[int] = field(default_factory=itertools.count)

    def create(self) -> tuple[str, Callable[[], None]]:
        n = next(self.counter)
        if self.backend == "sqlite":
            path = self.directory / f"governance-{n}.sqlite3"
            shutil.copyfile(self.template, path)

            def drop_file() -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

            return f"sqlite+aiosqlite:///{path}", drop_file
        assert conftest.PG_ADMIN_URL is not None
        name = f"fundapp_gp_{os.getpid()}_{n}"
        conftest._pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')

        def drop_database() -> None:
            conftest._pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return conftest._with_database(conftest.PG_ADMIN_URL, name), drop_database


@dataclass
class Model:
    """What the test sent, and what it expects each deposit to settle."""

    contributor_ids: list[int] = field(default_factory=list)
    pledge_ids: list[int] = field(default_factory=list)
    instalment_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    assessment_ids: dict[int, int] = field(default_factory=dict)  # member index -> assessment id
    outstanding: dict[tuple[str, int], int] = field(default_factory=dict)  # (kind, id) -> minor units
    sent: list[dict[str, Any]] = field(default_factory=list)  # one per deposit: what was sent and expected
    not_due: list[str] = field(default_factory=list)  # members the assessment run reported as owing nothing


class Runner:
    def __init__(self, url: str, settings: Settings, scenario: Scenario) -> None:
        self.url = url
        self.settings = settings
        self.scenario = scenario
        self.model = Model()
        self.tick = 0
        self.database: Database

    async def step(self, work: Callable[[Governance], Awaitable[T]]) -> T:
        """One request: its own session and transaction, committed on success."""
        self.tick += 1
        now = NOW + timedelta(microseconds=self.tick)
        async with self.database.session() as session:
            result = await work(Governance(session, settings=self.settings, actor=ACTOR, now=now))
            await session.commit()
            return result

    async def read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.database.session(write=False) as session:
            return await work(session)

    def rate(self, currency: str, on: date) -> Decimal:
        if currency == REPORTING:
            return Decimal(1)
        return [r for d, r in self.scenario.rates[currency] if d <= on][-1]

    async def run(self) -> None:
        self.database = Database(self.url)
        try:
            await self.build()
            await self.deposit_all()
            await self.check()
        finally:
            await self.database.dispose()

    async def build(self) -> None:
        s, m = self.scenario, self.model

        async def add_rates(gov: Governance) -> None:
            ledger = Ledger(gov.session, reporting_currency=REPORTING, actor=ACTOR, now=gov.now)
            for currency, series in s.rates.items():
                for day, rate in series:
                    await ledger.add_rate(currency, day, rate)

        await self.step(add_rates)
        for spec in s.members:

            async def admit(gov: Governance, spec: MemberSpec = spec) -> int:
                await gov.admit_member(
                    MemberCreate.model_validate({"code": spec.code, "tier": spec.tier, "joined_on": spec.joined_on})
                )
                contributor = await gov.member_contributor(spec.code)
                assert contributor.id is not None
                return contributor.id

            m.contributor_ids.append(await self.step(admit))
        if s.fees is not None:
            currency, part_one, part_two, one_first = s.fees
            order = [("I", part_one), ("II", part_two)]
            for tier, amount in order if one_first else order[::-1]:
                data = {"year": YEAR, "tier": tier, "amount": to_text(amount, currency), "currency": currency}
                await self.step(lambda gov, data=data: gov.set_fee(TierFeeSet.model_validate(data)))
            created, _, m.not_due = await self.step(lambda gov: gov.assess(YEAR))
            by_code = {a.member_code: a for a in created}
            for index, spec in enumerate(s.members):
                if spec.code in by_code:
                    a = by_code[spec.code]
                    assert a.id is not None
                    m.assessment_ids[index] = a.id
                    m.outstanding[("assessment", a.id)] = a.amount
        for n in range(s.donors):
            data = {"kind": ["government", "foundation", "multilateral"][n % 3], "name": f"Donor {n}"}

            async def add(gov: Governance, data: dict[str, Any] = data) -> int:
                contributor = await gov.add_contributor(ContributorCreate.model_validate(data))
                assert contributor.id is not None
                return contributor.id

            m.contributor_ids.append(await self.step(add))
        for p in s.pledges:
            due = [p.signed_on + timedelta(days=30 * (k + 1)) for k in range(len(p.instalments))]
            body = {
                "contributor_id": m.contributor_ids[p.contributor],
                "amount": to_text(sum(p.instalments), p.currency),
                "currency": p.currency,
                "signed_on": p.signed_on,
                "window_code": p.window,
                "conditional": p.conditional,
                "condition": "parliament approves the budget" if p.conditional else "",
                "instalments": [
                    {"due_on": d, "amount": to_text(a, p.currency)} for d, a in zip(due, p.instalments, strict=True)
                ],
            }

            async def sign(gov: Governance, body: dict[str, Any] = body) -> tuple[int, list[int]]:
                pledge = await gov.pledge(PledgeCreate.model_validate(body))
                assert pledge.id is not None
                rows = await gov.session.execute(
                    select(PledgeInstalment)
                    .where(PledgeInstalment.pledge_id == pledge.id)  # type: ignore[arg-type]
                    .order_by(PledgeInstalment.number)  # type: ignore[arg-type]
                )
                return pledge.id, [i.id for i in rows.scalars()]

            pledge_id, instalment_ids = await self.step(sign)
            m.pledge_ids.append(pledge_id)
            for number, (instalment_id, amount) in enumerate(zip(instalment_ids, p.instalments, strict=True)):
                m.instalment_ids[(len(m.pledge_ids) - 1, number)] = instalment_id
                m.outstanding[("instalment", instalment_id)] = amount
            if p.met_after is not None:
                met_on = p.signed_on + timedelta(days=p.met_after)
                await self.step(lambda gov, pid=pledge_id, met_on=met_on: gov.condition_met(pid, met_on))

    async def deposit_all(self) -> None:
        s, m = self.scenario, self.model
        assessment_currency = s.fees[0] if s.fees else REPORTING
        statements: list[list[Receipt]] = []
        for n, d in enumerate(s.deposits):
            target = d.target
            key: tuple[str, int] | None = None
            instalment_id = assessment_id = None
            if target is not None and target[0] == "assessment" and target[1] not in m.assessment_ids:
                target = None  # the member was not a member in the year: nothing was assessed
            if target is None:
                currency, amount, outstanding = d.currency, d.size, 0
            else:
                if target[0] == "instalment":
                    instalment_id = m.instalment_ids[(target[1], target[2])]
                    key = ("instalment", instalment_id)
                    currency = s.pledges[target[1]].currency
                else:
                    assessment_id = m.assessment_ids[target[1]]
                    key = ("assessment", assessment_id)
                    currency = assessment_currency
                outstanding = m.outstanding[key]
                if d.mode == "exact" or (d.mode == "partial" and outstanding < 2):
                    amount = max(outstanding, 1)
                elif d.mode == "partial":
                    amount = max(1, min(outstanding - 1, outstanding * d.size // 1000))
                else:
                    amount = outstanding + d.size
            applied = min(amount, outstanding)
            body = {
                "contributor_id": m.contributor_ids[d.contributor],
                "value_date": d.value_date,
                "amount": to_text(amount, currency),
                "currency": currency,
                "instalment_id": instalment_id,
                "assessment_id": assessment_id,
                "reference": f"deposit {n}",
            }
            key_text = f"deposit-{n}" if d.keyed else None
            if key is not None:
                m.outstanding[key] = outstanding - applied
            if not d.with_previous:
                statements.append([])
            statements[-1].append(Receipt(ContributionCreate.model_validate(body), key_text))
            m.sent.append(
                {
                    "contributor_id": body["contributor_id"],
                    "amount": amount,
                    "currency": currency,
                    "instalment_id": instalment_id,
                    "assessment_id": assessment_id,
                    "applied": applied,
                    "unapplied": amount - applied,
                    "value_date": d.value_date,
                    "idempotency_key": key_text,
                }
            )
        # What one deposit at a time would record, a bank statement records in one transaction.
        sent = iter(m.sent)
        for receipts in statements:

            async def record(gov: Governance, receipts: list[Receipt] = receipts) -> list[int]:
                if len(receipts) == 1:
                    data, key = receipts[0]
                    recorded = [await gov.record_contribution(data, idempotency_key=key)]
                else:
                    recorded = await gov.record_bank_statement(receipts)
                assert not any(r.replayed for r in recorded)
                ids = [r.contribution.id for r in recorded]
                assert None not in ids
                return cast(list[int], ids)

            for contribution_id in await self.step(record):
                next(sent)["id"] = contribution_id
        for n, (body, key_text, contribution_id) in enumerate(
            (r.data.model_dump(), r.idempotency_key, sent["id"])
            for r, sent in zip(itertools.chain(*statements), m.sent, strict=True)
        ):
            if key_text is not None and n % 2 == 0:
                # A retry with the same key and body returns the first record and posts nothing.
                async def retry(gov: Governance, body: dict[str, Any] = body, key: str = key_text) -> int:
                    recorded = await gov.record_contribution(
                        ContributionCreate.model_validate(body), idempotency_key=key
                    )
                    assert recorded.replayed
                    assert recorded.contribution.id is not None
                    return recorded.contribution.id

                assert await self.step(retry) == contribution_id
            if key_text is not None and n % 3 == 1:
                # The same key with another body is refused, and nothing is written.
                other = {**body, "reference": f"deposit {n} (changed)"}
                with pytest.raises(Conflict):
                    await self.step(
                        lambda gov, other=other, key=key_text: gov.record_contribution(
                            ContributionCreate.model_validate(other), idempotency_key=key
                        )
                    )

    # ------------------------------------------------------------ the checks

    async def check(self) -> None:
        m = self.model

        async def load(session: AsyncSession) -> dict[str, Any]:
            return {
                "pledges": list((await session.execute(select(Pledge))).scalars()),
                "instalments": list((await session.execute(select(PledgeInstalment))).scalars()),
                "assessments": list((await session.execute(select(Assessment))).scalars()),
                "contributions": list((await session.execute(select(Contribution))).scalars()),
                "by_contributor": await balances(
                    session,
                    group_by=["account", "contributor", "currency"],
                    accounts=[
                        chart.CONTRIBUTION_REVENUE,
                        chart.CONTRIBUTIONS_RECEIVABLE,
                        chart.UNAPPLIED_CONTRIBUTIONS,
                        chart.DEFERRED_REVENUE,
                        chart.RESOURCES_RECEIVED,
                    ],
                ),
                "receivable_groups": await balances(
                    session,
                    group_by=["contributor", "currency", "window"],
                    accounts=[chart.CONTRIBUTIONS_RECEIVABLE],
                ),
                "realised": await balances(
                    session,
                    group_by=["account", "currency"],
                    accounts=[chart.FX_GAIN_REALISED, chart.FX_LOSS_REALISED],
                ),
                "fees": await balances(session, group_by=["currency"], accounts=[chart.ADMIN_AGENT_FEE]),
                "cash": await balances(session, group_by=["currency"], accounts=[chart.CASH]),
                "available": await balances(session, group_by=["window"], accounts=[chart.AVAILABLE]),
                "financial": await trial_balance(session, book=Book.FINANCIAL),
                "budgetary": await trial_balance(session, book=Book.BUDGETARY),
            }

        db = await self.read(load)
        contributions: list[Contribution] = sorted(db["contributions"], key=lambda c: c.id or 0)

        # The records hold what was sent, and each deposit settles min(amount, outstanding).
        assert len(contributions) == len(m.sent), "one contribution per deposit (retries post nothing)"
        for c, sent in zip(contributions, m.sent, strict=True):
            got = {k: getattr(c, k) for k in sent}
            got["idempotency_key"] = client_key(c.idempotency_key)  # stored under its sender's scope
            assert got == sent, f"contribution {c.id}: recorded {got}, expected {sent}"

        # Pledges: the instalments sum exactly to the pledge, as sent.
        for index, p in enumerate(sorted(db["pledges"], key=lambda p: p.id)):
            parts = sorted((i.number, i.amount) for i in db["instalments"] if i.pledge_id == p.id)
            assert [a for _, a in parts] == list(self.scenario.pledges[index].instalments), p
            assert sum(a for _, a in parts) == p.amount

        # Assessments: the pro-rated fee, recomputed here (whole months after the month of joining, and
        # that month too when joined on its 1st); a fee that rounds to nothing is not due.
        fees = self.scenario.fees
        expected: dict[str, tuple[int, int]] = {}
        for spec in self.scenario.members:
            assert fees is not None
            joined = spec.joined_on
            months = 12 if joined.year < YEAR else 0 if joined.year > YEAR else 12 - joined.month + (joined.day == 1)
            with localcontext(EXACT):
                amount = half_even(Decimal(fees[1] if spec.tier == "I" else fees[2]) * months / 12)
            if amount:
                expected[spec.code] = (months, amount)
        assert {a.member_code: (a.months, a.amount) for a in db["assessments"]} == expected
        assert sorted(m.not_due) == sorted(s.code for s in self.scenario.members if s.code not in expected)
        assert all(a.currency == fees[0] for a in db["assessments"] if fees is not None)

        # Revenue, receivables, deferred revenue and unapplied credit per contributor and currency.
        revenue: dict[tuple[int, str], int] = defaultdict(int)
        revenue_usd: dict[tuple[int, str], int] = defaultdict(int)  # at the rate of the day each was recognised
        receivable: dict[tuple[int, str], int] = defaultdict(int)
        deferred: dict[tuple[int, str], int] = defaultdict(int)
        unapplied: dict[tuple[int, str], int] = defaultdict(int)
        for p in db["pledges"]:
            receivable[(p.contributor_id, p.currency)] += p.amount
            if not p.conditional or p.condition_met_on is not None:
                revenue[(p.contributor_id, p.currency)] += p.amount
                revenue_usd[(p.contributor_id, p.currency)] += convert(
                    p.amount, p.currency, self.rate(p.currency, p.signed_on)
                )
            else:
                deferred[(p.contributor_id, p.currency)] += p.amount
        for a in db["assessments"]:
            receivable[(a.contributor_id, a.currency)] += a.amount
            revenue[(a.contributor_id, a.currency)] += a.amount
            revenue_usd[(a.contributor_id, a.currency)] += convert(
                a.amount, a.currency, self.rate(a.currency, a.assessed_on)
            )
        for c in contributions:
            receivable[(c.contributor_id, c.currency)] -= c.applied
            unapplied[(c.contributor_id, c.currency)] += c.unapplied

        def ledger_side(account: str, figure: str = "amount") -> dict[tuple[int, str], int]:
            return {
                (r["contributor"], r["currency"]): r[figure]
                for r in db["by_contributor"]
                if r["account"] == account and r[figure]
            }

        def nonzero(values: dict[tuple[int, str], int], sign: int) -> dict[tuple[int, str], int]:
            return {k: sign * v for k, v in values.items() if v}

        assert ledger_side(chart.CONTRIBUTION_REVENUE) == nonzero(revenue, -1), "4100 per contributor"
        assert ledger_side(chart.CONTRIBUTION_REVENUE, "reporting_amount") == nonzero(revenue_usd, -1), (
            "4100 in USD per contributor: each pledge at its signing rate (a met condition keeps it)"
        )
        assert ledger_side(chart.CONTRIBUTIONS_RECEIVABLE) == nonzero(receivable, 1), "1200 per contributor"
        assert ledger_side(chart.DEFERRED_REVENUE) == nonzero(deferred, -1), "2300 per contributor"
        assert ledger_side(chart.UNAPPLIED_CONTRIBUTIONS) == nonzero(unapplied, -1), "2400 per contributor"

        # A receivable settled in full carries no reporting value any more.
        for group in db["receivable_groups"]:
            if group["amount"] == 0:
                assert group["reporting_amount"] == 0, f"settled receivable keeps a reporting value: {group}"

        # Fees: 1% of what each deposit settles, within one minor unit; their total is the 5200 balance.
        fee_total: dict[str, int] = defaultdict(int)
        for c in contributions:
            assert abs(Decimal(c.fee) - Decimal(c.applied) * FEE_RATE) <= 1, c
            assert c.fee >= 0 and (c.applied > 0 or c.fee == 0), c
            fee_total[c.currency] += c.fee
        assert {r["currency"]: r["amount"] for r in db["fees"] if r["amount"]} == {
            k: v for k, v in fee_total.items() if v
        }, "5200 per currency"

        # Realised FX on settlement: gains are credits, losses debits (reporting amounts only).
        for r in db["realised"]:
            assert r["amount"] == 0, r
            if r["account"] == chart.FX_GAIN_REALISED:
                assert r["reporting_amount"] <= 0, r
            else:
                assert r["reporting_amount"] >= 0, r

        # Both books balance, per currency and in the reporting currency.
        for book in ("financial", "budgetary"):
            per_currency: dict[str, int] = defaultdict(int)
            reporting = 0
            for row in db[book]:
                per_currency[row.currency] += row.amount
                reporting += row.reporting_amount
            assert {k: v for k, v in per_currency.items() if v} == {}, f"{book} book off per currency"
            assert reporting == 0, f"{book} book off in the reporting currency"

        # Cash per currency: every deposit, less the fees.
        cash: dict[str, int] = defaultdict(int)
        for c in contributions:
            cash[c.currency] += c.amount - c.fee
        assert {r["currency"]: r["amount"] for r in db["cash"] if r["amount"]} == {
            k: v for k, v in cash.items() if v
        }, "1100 per currency"

        # 8200 available per window (and 8100 received per contributor): the net deposits' reporting
        # values at each value date's rate.
        available: dict[int | None, int] = defaultdict(int)
        received: dict[tuple[int, str], int] = defaultdict(int)
        for c in contributions:
            net = c.applied - c.fee
            if net > 0:
                value = convert(net, c.currency, self.rate(c.currency, c.value_date))
                available[c.window_id] += value
                received[(c.contributor_id, REPORTING)] += value
        assert {r["window"]: r["reporting_amount"] for r in db["available"] if r["reporting_amount"]} == {
            k: v for k, v in available.items() if v
        }, "8200 per window"
        assert ledger_side(chart.RESOURCES_RECEIVED) == nonzero(received, -1), "8100 per contributor"


EXAMPLES = {"sqlite": 150, "postgresql": 30}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_contributions_agree_with_the_ledger(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    template = request.getfixturevalue("sqlite_template" if backend == "sqlite" else "pg_template")
    factory = DatabaseFactory(backend, template, tmp_path)

    @settings(
        max_examples=EXAMPLES[backend],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(scenario=scenarios())
    def check(scenario: Scenario) -> None:
        url, drop = factory.create()
        try:
            app_settings = conftest.make_settings(url, tmp_path / "var")
            asyncio.run(Runner(url, app_settings, scenario).run())
        finally:
            drop()

    check()


def test_a_deposit_worth_less_than_a_cent_is_recorded(settings: Settings) -> None:
    """SEK 0.05 settling the last SEK 0.05 of an instalment (at USD 0.09 per SEK: USD 0.0045). Regression:
    the zero budgetary lines once made the ledger refuse the whole deposit (fixed in fca4479)."""

    async def scenario() -> None:
        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                gov = Governance(session, settings=settings, actor=ACTOR, now=NOW)
                await Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=NOW).add_rate(
                    "SEK", FIRST_RATE_DAY, Decimal("0.09000")
                )
                donor = await gov.add_contributor(ContributorCreate.model_validate({"kind": "foundation", "name": "S"}))
                pledge = await gov.pledge(
                    PledgeCreate.model_validate(
                        {
                            "contributor_id": donor.id,
                            "amount": "100.05",
                            "currency": "SEK",
                            "signed_on": DAY_ZERO,
                            "instalments": [{"due_on": DAY_ZERO, "amount": "100.05"}],
                        }
                    )
                )
                instalment = (
                    await session.execute(select(PledgeInstalment).where(PledgeInstalment.pledge_id == pledge.id))  # type: ignore[arg-type]
                ).scalar_one()
                await session.commit()
            for amount in ("100.00", "0.05"):  # the second settles the last 5 öre
                async with database.session() as session:
                    gov = Governance(session, settings=settings, actor=ACTOR, now=NOW)
                    body = {
                        "contributor_id": donor.id,
                        "value_date": DAY_ZERO,
                        "amount": amount,
                        "currency": "SEK",
                        "instalment_id": instalment.id,
                    }
                    recorded = await gov.record_contribution(
                        ContributionCreate.model_validate(body), idempotency_key=None
                    )
                    await session.commit()
            assert (recorded.contribution.applied, recorded.contribution.fee) == (5, 0)
        finally:
            await database.dispose()

    asyncio.run(scenario())


def test_an_assessment_that_rounds_to_zero_does_not_stop_the_run(settings: Settings) -> None:
    """Part I USD 0.02 a year; MEX joined on 2 September: 3 months, USD 0.005, rounds to USD 0.00. Regression:
    the zero receivable once made the ledger refuse the whole run (fixed in fca4479); it is now not due."""

    async def scenario() -> None:
        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                gov = Governance(session, settings=settings, actor=ACTOR, now=NOW)
                for code, joined_on in (("MEX", date(2026, 9, 2)), ("PHL", date(2025, 1, 1))):
                    await gov.admit_member(
                        MemberCreate.model_validate({"code": code, "tier": "I", "joined_on": joined_on})
                    )
                for tier, amount in (("I", "0.02"), ("II", "0.01")):
                    body = {"year": YEAR, "tier": tier, "amount": amount, "currency": "USD"}
                    await gov.set_fee(TierFeeSet.model_validate(body))
                await session.commit()
            async with database.session() as session:
                gov = Governance(session, settings=settings, actor=ACTOR, now=NOW)
                created, _, not_due = await gov.assess(YEAR)
                await session.commit()
            assert [(a.member_code, a.amount) for a in created] == [("PHL", 2)]
            assert not_due == ["MEX"]
        finally:
            await database.dispose()

    asyncio.run(scenario())


# ---------------------------------------------------------------- pure rules (governance/rules.py)

years = st.integers(2000, 2100)
join_dates = st.dates(min_value=date(1999, 1, 1), max_value=date(2101, 12, 31))
money_currencies = st.sampled_from(CURRENCIES)


@given(joined_on=join_dates, year=years)
def test_months_of_membership_is_within_a_year(joined_on: date, year: int) -> None:
    months = rules.months_of_membership(joined_on, year)
    assert 0 <= months <= 12
    if joined_on.year < year or joined_on == date(year, 1, 1):
        assert months == 12
    if joined_on.year > year:
        assert months == 0


@given(first=join_dates, second=join_dates, year=years)
def test_months_of_membership_never_grows_with_a_later_join(first: date, second: date, year: int) -> None:
    earlier, later = sorted((first, second))
    assert rules.months_of_membership(earlier, year) >= rules.months_of_membership(later, year)


@given(minor=st.integers(1, 10**15), currency=money_currencies, months=st.integers(0, 12))
def test_prorated_fee_never_exceeds_the_annual_fee(minor: int, currency: str, months: int) -> None:
    annual = Money.from_minor(minor, currency)
    fee = rules.prorated_fee(annual, months)
    assert fee.currency == currency
    assert 0 <= fee.minor <= annual.minor
    with localcontext(EXACT):
        assert fee.minor == half_even(Decimal(minor) * months / 12)
    if months == 12:
        assert fee == annual
    if months < 12:
        assert rules.prorated_fee(annual, months + 1).minor >= fee.minor


@given(months=st.one_of(st.integers(max_value=-1), st.integers(min_value=13)))
def test_prorated_fee_refuses_months_outside_a_year(months: int) -> None:
    with pytest.raises(ValueError):
        rules.prorated_fee(Money.from_minor(100, "USD"), months)


@given(amount=st.integers(1, 10**15), outstanding=st.integers(-(10**6), 10**15))
def test_split_deposit_keeps_the_whole_amount(amount: int, outstanding: int) -> None:
    split = rules.split_deposit(amount, outstanding)
    assert split.applied + split.unapplied == amount
    assert 0 <= split.applied <= max(outstanding, 0)
    assert split.applied <= amount
    assert split.unapplied >= 0
    assert split.applied == min(amount, max(outstanding, 0))


optional_money = st.one_of(
    st.none(), st.builds(Money.from_minor, st.integers(-(10**12), 10**12), st.sampled_from(["USD", "EUR", "CHF"]))
)


@given(part_one=optional_money, part_two=optional_money)
def test_part_one_above_part_two(part_one: Money | None, part_two: Money | None) -> None:
    result = rules.part_one_above_part_two(part_one, part_two)
    if part_one is None or part_two is None:
        assert result
    elif part_one.currency != part_two.currency:
        assert not result
    else:
        assert result == (part_one.minor > part_two.minor)
        assert not (result and rules.part_one_above_part_two(part_two, part_one)), "antisymmetric"
        assert not rules.part_one_above_part_two(part_one, part_one), "irreflexive"


def test_iso_alpha3_has_the_249_countries_with_names_in_every_locale() -> None:
    codes = rules.iso_alpha3()
    assert len(codes) == 249
    assert len(set(codes.values())) == 249, "alpha-3 codes map to distinct alpha-2 codes"
    assert all(len(a3) == 3 and a3.isalpha() and a3.isupper() for a3 in codes)
    assert all(len(a2) == 2 and a2.isalpha() and a2.isupper() for a2 in codes.values())
    territories = {locale: Locale(locale).territories for locale in rules.LOCALES}
    for a3, a2 in codes.items():
        names = rules.country_names(a3)
        assert set(names) == {"en", "es", "fr"}
        for locale in rules.LOCALES:
            assert a2 in territories[locale], f"{a3} ({a2}) has no {locale} name"
            assert names[locale].strip(), f"{a3} has an empty {locale} name"
    known = {"MEX": "MX", "PHL": "PH", "SEN": "SN", "DEU": "DE", "USA": "US", "GBR": "GB", "CIV": "CI", "ATA": "AQ"}
    assert {k: codes[k] for k in known} == known
    for not_a_country in ("BUR", "ZAR", "DDR", "YUG", "SUN", "EUR", "UNO", "XKK", "QOO"):
        assert not rules.is_country(not_a_country)


@given(code=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
def test_is_country_is_membership_of_the_iso_table(code: str) -> None:
    assert rules.is_country(code) == (code in rules.iso_alpha3())
