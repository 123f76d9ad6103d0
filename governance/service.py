"""Governance services, first half: the only code that writes members, windows, fees, contributors,
assessments, pledges and contributions. Every money movement is posted to the ledger in the same
transaction, and every change writes an audit event.

The money commands (deposits and bank statements, pledges and conditions met, assessments and the
opening of fee years) have one shape: a facts reader here (the only code of this module that knows
dialects: ``_deposit_facts``/``_deposit_statement``, ``_pledge_facts``), a pure planner in
``governance.rules`` (``plan_deposit``, ``plan_pledge``, ``plan_condition_met``, ``plan_assessment``,
``plan_fee_opening``, ``plan_advance_applied``), and the core's writer (``fundapp.core.plans.write_plan``).
Ids, chain heads and locks come from the core (``fundapp.core.ids``, ``fundapp.core.heads``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Integer, Row, Select, String, Table, func, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from fundapp.core import audit, heads
from fundapp.core.config import Settings
from fundapp.core.errors import Conflict, DomainError, InvalidInput, NotFound
from fundapp.core.idempotency import scoped_key
from fundapp.core.ids import id_pool, next_id
from fundapp.core.models import User
from fundapp.core.plans import Event, Plan, write_plan
from fundapp.core.rowsets import RowSet, row_set
from fundapp.core.unit import Service, Unit
from fundapp.core.writes import one_trip
from governance import rules
from governance.models import (
    Assessment,
    BenefittingCountry,
    BenefittingCountryChange,
    Contribution,
    Contributor,
    ContributorKind,
    CountryGroup,
    Member,
    MemberChange,
    MemberStatus,
    Pledge,
    PledgeInstalment,
    Tier,
    TierFee,
    Window,
    WindowStatus,
)
from governance.schemas import (
    ContributionCreate,
    ContributorCreate,
    MemberCreate,
    MemberUpdate,
    PledgeCreate,
    TierFeeSet,
    WindowCreate,
    WindowUpdate,
)
from ledger import Ledger, LedgerRuleError, Money, chart, to_json, to_money


@dataclass(frozen=True, slots=True)
class CountryStanding:
    """A benefitting country and the terms its loans are measured against under the charter's method."""

    country: BenefittingCountry
    terms: rules.CountryTerms


def _country_state(row: BenefittingCountry) -> dict[str, Any]:
    return {
        "group": row.group,
        "added_on": row.added_on,
        "added_by_decision_id": row.added_by_decision_id,
        "removed_on": row.removed_on,
        "removed_by_decision_id": row.removed_by_decision_id,
    }


@dataclass(frozen=True, slots=True)
class Recorded:
    """A contribution as recorded; ``replayed`` when an idempotent retry returned the first one."""

    contribution: Contribution
    replayed: bool = False


class Receipt(NamedTuple):
    """Money received, as a bank statement line or one API request: what arrived and its idempotency key."""

    data: ContributionCreate
    idempotency_key: str | None


class Governance(Service):
    """Operations on the facility's structure and incoming money, bound to one unit of work."""

    def __init__(self, session: AsyncSession, *, settings: Settings, actor: audit.Actor, now: datetime) -> None:
        self.bind(Unit(session, settings, None, now, actor))

    def bind(self, unit: Unit) -> None:
        super().bind(unit)
        self.ledger = Ledger.of(unit)

    @property
    def today(self) -> date:
        return self.now.date()

    async def _audit(
        self,
        action: str,
        object_type: str,
        object_id: object,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        await self.unit.audit(action, object_type, object_id, before=before, after=after)

    # ---------------------------------------------------------------- members

    async def member(self, code: str) -> Member:
        found = await self.session.get(Member, code) if len(code) == 3 else None
        if found is None:
            raise NotFound(f"no member with code {code!r}")
        return found

    async def member_contributor(self, code: str) -> Contributor:
        found = (
            await self.session.execute(select(Contributor).where(col(Contributor.member_code) == code))
        ).scalar_one()
        return found

    async def admit_member(self, data: MemberCreate) -> Member:
        if await self.session.get(Member, data.code) is not None:
            raise Conflict(f"{data.code} is already a member", field="code", rule="unique")
        member = Member(
            code=data.code,
            tier=data.tier.value,
            status=MemberStatus.ACTIVE.value,
            joined_on=data.joined_on,
            created_at=self.now,
        )
        self.session.add(member)
        await self.session.flush()
        names = rules.country_names(data.code)
        self.session.add(
            Contributor(
                kind=ContributorKind.MEMBER_STATE.value,
                name=names["en"],
                member_code=data.code,
                country=data.code,
                created_at=self.now,
            )
        )
        self.session.add(
            MemberChange(
                member_code=data.code,
                field="status",
                old_value=None,
                new_value="active",
                effective_on=data.joined_on,
                reason="admitted",
                changed_by=self.actor.user_id,
                changed_at=self.now,
            )
        )
        await self.session.flush()
        await self._audit(
            "member.admit", "member", data.code, after={"tier": member.tier, "joined_on": member.joined_on}
        )
        return member

    async def change_member(self, code: str, data: MemberUpdate) -> Member:
        member = await self.member(code)
        before = {"tier": member.tier, "status": member.status}
        effective_on = data.effective_on or self.today
        changes = [
            ("tier", data.tier.value if data.tier else None),
            ("status", data.status.value if data.status else None),
        ]
        changed = False
        for name, new in changes:
            if new is None or getattr(member, name) == new:
                continue
            self.session.add(
                MemberChange(
                    member_code=code,
                    field=name,
                    old_value=getattr(member, name),
                    new_value=new,
                    effective_on=effective_on,
                    reason=data.reason,
                    changed_by=self.actor.user_id,
                    changed_at=self.now,
                )
            )
            setattr(member, name, new)
            changed = True
        if not changed:
            raise Conflict(f"member {code} already has that tier and status", rule="no-change")
        if before["status"] == MemberStatus.WITHDRAWN.value:
            raise Conflict(
                f"member {code} has withdrawn; a new admission is needed", field="status", rule="withdrawn-is-final"
            )
        self.session.add(member)
        await self.session.flush()
        await self._audit(
            "member.change",
            "member",
            code,
            before=before,
            after={"tier": member.tier, "status": member.status, "reason": data.reason},
        )
        return member

    async def history(self, code: str) -> list[MemberChange]:
        await self.member(code)
        return list(
            (
                await self.session.execute(
                    select(MemberChange).where(col(MemberChange.member_code) == code).order_by(col(MemberChange.id))
                )
            ).scalars()
        )

    async def delegates(self, code: str) -> list[str]:
        return (await self.delegates_of([code])).get(code, [])

    async def delegates_of(self, codes: Sequence[str]) -> dict[str, list[str]]:
        """The active delegates' usernames of each member (members without one absent), in one statement."""
        found: dict[str, list[str]] = {}
        for code, username in await self.session.execute(
            select(col(User.member_code), col(User.username))
            .where(col(User.member_code).in_(codes), col(User.is_active).is_(True))
            .order_by(col(User.username))
        ):
            found.setdefault(str(code), []).append(username)
        return found

    # ---------------------------------------------------------------- windows

    async def window(self, code: str, *, field_name: str = "window_code") -> Window:
        found = (await self.session.execute(select(Window).where(col(Window.code) == code))).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no window with code {code!r}", field=field_name, rule="window-exists")
        return found

    async def create_window(self, data: WindowCreate) -> Window:
        exists = (await self.session.execute(select(col(Window.id)).where(col(Window.code) == data.code))).first()
        if exists is not None:
            raise Conflict(f"a window with code {data.code} exists", field="code", rule="unique")
        window = Window(**data.model_dump(), status=WindowStatus.OPEN.value, created_at=self.now)
        self.session.add(window)
        await self.session.flush()
        await self._audit("window.create", "window", data.code, after=data.model_dump())
        return window

    async def update_window(self, code: str, data: WindowUpdate) -> Window:
        window = await self.window(code)
        changes = {k: (v.value if hasattr(v, "value") else v) for k, v in data.model_dump(exclude_none=True).items()}
        if not changes:
            raise InvalidInput("give at least one field to change", rule="nothing-to-change")
        before = {k: getattr(window, k) for k in changes}
        for key, value in changes.items():
            setattr(window, key, value)
        self.session.add(window)
        await self.session.flush()
        await self._audit("window.update", "window", code, before=before, after=changes)
        return window

    # ---------------------------------------------------------------- benefitting countries

    def country_terms(self, group: str) -> rules.CountryTerms:
        """The terms of a country of ``group`` under the charter's method."""
        return rules.applicable_terms(group, self.settings.charter.concessionality_method)

    async def benefitting_country(self, code: str) -> CountryStanding:
        """A current benefitting country with its terms; refused (409 ``country``/``country-eligible``) when the
        code is not, or no longer, one."""
        found = await self.session.get(BenefittingCountry, code) if len(code) == 3 else None
        if found is None or found.removed_on is not None:
            raise Conflict(
                f"{code} is not a benefitting country of the facility", field="country", rule="country-eligible"
            )
        return CountryStanding(found, self.country_terms(found.group))

    async def benefitting_countries(self, *, include_removed: bool = False) -> list[CountryStanding]:
        """The benefitting countries by code, with their terms; the removed ones too when asked."""
        query = select(BenefittingCountry).order_by(col(BenefittingCountry.code))
        if not include_removed:
            query = query.where(col(BenefittingCountry.removed_on).is_(None))
        rows = (await self.session.execute(query)).scalars().all()
        return [CountryStanding(row, self.country_terms(row.group)) for row in rows]

    async def any_benefitting_country(self, code: str) -> BenefittingCountry:
        """A country that is or was a benefitting country (404 otherwise)."""
        found = await self.session.get(BenefittingCountry, code) if len(code) == 3 else None
        if found is None:
            raise NotFound(f"{code} has never been a benefitting country", field="country", rule="country-exists")
        return found

    async def country_history(self, code: str) -> list[BenefittingCountryChange]:
        query = (
            select(BenefittingCountryChange)
            .where(col(BenefittingCountryChange.code) == code)
            .order_by(col(BenefittingCountryChange.id))
        )
        return list((await self.session.execute(query)).scalars())

    async def add_benefitting_country(self, code: str, group: CountryGroup, decision_id: int) -> BenefittingCountry:
        """An adopted add_country decision: the country is on the list from today (the facility's clock). A
        country removed before is added again on its row; its history keeps the earlier period."""
        row = await self.session.get(BenefittingCountry, code)
        if row is not None and row.removed_on is None:
            raise Conflict(
                f"{code} is already a benefitting country", field="country", rule="not-a-benefitting-country"
            )
        before = None if row is None else {"group": row.group, "removed_on": row.removed_on}
        if row is None:
            row = BenefittingCountry(
                code=code, group=group.value, added_on=self.today, added_by_decision_id=decision_id, updated_at=self.now
            )
        row.group, row.added_on, row.added_by_decision_id = group.value, self.today, decision_id
        row.removed_on, row.removed_by_decision_id, row.updated_at = None, None, self.now
        self.session.add(row)
        await self.session.flush()
        await self._country_change(code, "added", None, group.value, decision_id, "")
        await self._audit("country.add", "benefitting_country", code, before=before, after=_country_state(row))
        return row

    async def remove_benefitting_country(self, code: str, reason: str, decision_id: int) -> BenefittingCountry:
        """An adopted remove_country decision: off the list from today. Money already decided for the country
        (allocations, grants, their transfers) is not touched; new requests for it are refused."""
        row = (await self.benefitting_country(code)).country
        before = _country_state(row)
        row.removed_on, row.removed_by_decision_id, row.updated_at = self.today, decision_id, self.now
        self.session.add(row)
        await self.session.flush()
        await self._country_change(code, "removed", row.group, None, decision_id, reason)
        await self._audit("country.remove", "benefitting_country", code, before=before, after=_country_state(row))
        return row

    async def set_country_group(self, code: str, group: CountryGroup, decision_id: int) -> BenefittingCountry:
        """An adopted set_country_group decision: the country's group (and so its terms) from today."""
        row = (await self.benefitting_country(code)).country
        if row.group == group.value:
            raise Conflict(f"{code} is already in group {row.group}", field="group", rule="group-changes")
        before, old = _country_state(row), row.group
        row.group, row.updated_at = group.value, self.now
        self.session.add(row)
        await self.session.flush()
        await self._country_change(code, "group", old, group.value, decision_id, "")
        await self._audit("country.group", "benefitting_country", code, before=before, after=_country_state(row))
        return row

    async def _country_change(
        self, code: str, change: str, old: str | None, new: str | None, decision_id: int, reason: str
    ) -> None:
        self.session.add(
            BenefittingCountryChange(
                code=code,
                change=change,
                old_group=old,
                new_group=new,
                effective_on=self.today,
                decision_id=decision_id,
                reason=reason,
                changed_at=self.now,
            )
        )
        await self.session.flush()

    # ---------------------------------------------------------------- tier fees and assessment

    async def set_fee(self, data: TierFeeSet) -> TierFee:
        fee = to_money(data.amount, data.currency)
        assessed = (
            await self.session.execute(
                select(func.count())
                .select_from(Assessment)
                .where(col(Assessment.year) == data.year, col(Assessment.tier) == data.tier.value)
            )
        ).scalar_one()
        if assessed:
            raise Conflict(
                f"{data.year} has already been assessed for tier {data.tier.value}; its fee is fixed",
                field="year",
                rule="fee-fixed-once-assessed",
            )
        other_tier = Tier.PART_II if data.tier == Tier.PART_I else Tier.PART_I
        other = await self.session.get(TierFee, (data.year, other_tier.value))
        other_fee = None if other is None else Money.from_minor(other.amount, other.currency)
        part_one, part_two = (fee, other_fee) if data.tier == Tier.PART_I else (other_fee, fee)
        if other_fee is not None and other_fee.currency != fee.currency:
            raise InvalidInput(
                f"both tiers of {data.year} are set in one currency ({other_fee.currency})",
                field="currency",
                rule="one-currency-per-year",
            )
        if not rules.part_one_above_part_two(part_one, part_two):
            raise InvalidInput(
                f"Part I's fee must be higher than Part II's for {data.year} (Part I {part_one}, Part II {part_two})",
                field="amount",
                rule="part-one-above-part-two",
            )
        row = await self.session.get(TierFee, (data.year, data.tier.value))
        before = None if row is None else dict(to_json(Money.from_minor(row.amount, row.currency)))
        if row is None:
            row = TierFee(
                year=data.year, tier=data.tier.value, amount=fee.minor, currency=fee.currency, set_at=self.now
            )
        else:
            row.amount, row.currency, row.set_at = fee.minor, fee.currency, self.now
        self.session.add(row)
        await self.session.flush()
        await self._audit(
            "tier_fee.set",
            "tier_fee",
            f"{data.year}-{data.tier.value}",
            before=before,
            after=dict(to_json(fee)),
        )
        return row

    async def assess(self, year: int) -> tuple[list[Assessment], list[str], list[str]]:
        """Create each active member's fee for ``year`` (once); returns (created, already assessed, not
        members that year). A fee of the current or a past year is posted at once (receivable and revenue,
        dated today); a fee of a year that has not begun is a **notice**: recorded and due on its own date,
        posted on 1 January of its year (``open_fee_years``), so next year's fees never land in this year's
        revenue (docs/governance.md, "Fee years")."""
        await self.ledger.lock()
        facts = await self._assessment_facts(year)
        planned = rules.plan_assessment(facts, today=self.today, due_days=self.settings.charter.fee_due_days)
        await write_plan(self.session, planned.plan, poster=self.ledger, actor=self.actor, at=self.now)
        created: list[Assessment] = []
        if planned.created:
            created = list(
                (
                    await self.session.execute(
                        select(Assessment)
                        .where(col(Assessment.year) == year, col(Assessment.member_code).in_(planned.created))
                        .order_by(col(Assessment.member_code))
                    )
                ).scalars()
            )
        return created, list(planned.already), list(planned.not_due)

    async def _assessment_facts(self, year: int) -> rules.AssessmentFacts:
        """The active members (with their contributor), the year's assessed members and its fees."""
        members = await self.session.execute(
            select(col(Member.code), col(Member.tier), col(Member.joined_on), col(Contributor.id))
            .join(Contributor, col(Contributor.member_code) == col(Member.code))
            .where(col(Member.status) == MemberStatus.ACTIVE.value)
            .order_by(col(Member.code))
        )
        assessed = await self.session.execute(select(col(Assessment.member_code)).where(col(Assessment.year) == year))
        fees = await self.session.execute(
            select(col(TierFee.tier), col(TierFee.amount), col(TierFee.currency)).where(col(TierFee.year) == year)
        )
        return rules.AssessmentFacts(
            year=year,
            members=tuple(rules.MemberToAssess(str(c), str(t), j, int(i or 0)) for c, t, j, i in members.all()),
            assessed=frozenset(str(code) for code in assessed.scalars()),
            fees={str(tier): Money.from_minor(int(amount), str(currency)) for tier, amount, currency in fees.all()},
        )

    async def open_fee_years(self) -> list[int]:
        """Post the fee notices of every year that has begun (dated 1 January of their year) and apply what
        was paid for them in advance; returns the years opened. Idempotent and safe to race: it holds the
        journal's writer lock and reads the notices under it. Run by the first request of each day, by
        ``fundapp governance open-fee-years`` and by ``fundapp assess``."""
        await self.ledger.lock()
        notices = (
            (
                await self.session.execute(
                    select(Assessment)
                    .where(col(Assessment.entry_id).is_(None), col(Assessment.year) <= self.today.year)
                    .order_by(col(Assessment.year), col(Assessment.member_code))
                )
            )
            .scalars()
            .all()
        )
        if not notices:
            return []
        advances = defaultdict(list)
        for contribution in (
            await self.session.execute(
                select(Contribution)
                .where(
                    col(Contribution.assessment_id).in_([a.id for a in notices]),
                    col(Contribution.advance).is_(True),
                    col(Contribution.applied_entry_id).is_(None),
                )
                .order_by(col(Contribution.id))
            )
        ).scalars():
            advances[contribution.assessment_id].append(contribution)
        for assessment in notices:
            await self._open_fee(assessment, advances[assessment.id])
        years = sorted({a.year for a in notices})
        events = tuple(
            Event(
                "assessment.year_opened",
                "assessment_year",
                year,
                after={
                    "members": [a.member_code for a in notices if a.year == year],
                    "advances_applied": sum(len(advances[a.id]) for a in notices if a.year == year),
                },
            )
            for year in years
        )
        await write_plan(self.session, Plan(events=events), poster=None, actor=self.actor, at=self.now)
        return years

    async def _open_fee(self, assessment: Assessment, advances: Sequence[Contribution]) -> None:
        """Post one fee notice, then apply what was paid for it in advance, each a plan written before the
        next reads its balances (each application settles the receivable the ones before it left)."""
        assert assessment.id is not None
        fee = Money.from_minor(assessment.amount, assessment.currency)
        plan = rules.plan_fee_opening(
            assessment.id,
            assessment.member_code,
            assessment.contributor_id,
            assessment.year,
            assessment.tier,
            assessment.months,
            fee,
        )
        written = await write_plan(self.session, plan, poster=self.ledger, actor=self.actor, at=self.now)
        _as_written(assessment, written.updates[rules.ASSESSMENTS][0])
        on = date(assessment.year, 1, 1)
        for contribution in advances:
            assert contribution.id is not None
            dims: dict[str, Any] = {"contributor_id": contribution.contributor_id}
            held = await self.ledger.balance(chart.RECEIVED_IN_ADVANCE, contribution.currency, **dims)
            receivable = await self.ledger.balance(chart.CONTRIBUTIONS_RECEIVABLE, contribution.currency, **dims)
            plan = rules.plan_advance_applied(
                contribution_id=contribution.id,
                contributor_id=contribution.contributor_id,
                applied=Money.from_minor(contribution.applied, contribution.currency),
                held=held,
                receivable=receivable,
                fee_rate=self.settings.charter.admin_agent_fee_rate,
                rate=await self.ledger.rate(contribution.currency, on),
                reporting_currency=self.settings.reporting_currency,
                on=on,
            )
            written = await write_plan(self.session, plan, poster=self.ledger, actor=self.actor, at=self.now)
            _as_written(contribution, written.updates[rules.CONTRIBUTIONS][0])

    # ---------------------------------------------------------------- contributors and pledges

    async def contributor(self, contributor_id: int, *, field_name: str = "contributor_id") -> Contributor:
        found = await self.session.get(Contributor, contributor_id)
        if found is None:
            raise NotFound(f"no contributor with id {contributor_id}", field=field_name, rule="contributor-exists")
        return found

    async def add_contributor(self, data: ContributorCreate) -> Contributor:
        contributor = Contributor(kind=data.kind.value, name=data.name, country=data.country, created_at=self.now)
        self.session.add(contributor)
        await self.session.flush()
        await self._audit("contributor.add", "contributor", contributor.id, after=data.model_dump())
        return contributor

    async def pledge(self, data: PledgeCreate) -> Pledge:
        facts = await self._pledge_facts(data)
        written = await write_plan(
            self.session,
            rules.plan_pledge(facts, data, now=self.now),
            poster=self.ledger,
            actor=self.actor,
            at=self.now,
        )
        return Pledge.model_construct(**written.row(rules.PLEDGES))

    async def _pledge_facts(self, data: PledgeCreate) -> rules.PledgeFacts:
        """The contributor's name, the named window (id and status) and an id for the pledge, in one statement."""
        pledges: Table = Pledge.metadata.tables["pledges"]
        window = select(col(Window.id), col(Window.status)).where(col(Window.code) == data.window_code).subquery()
        statement = select(
            select(col(Contributor.name)).where(col(Contributor.id) == data.contributor_id).scalar_subquery(),
            select(window.c.id).scalar_subquery(),
            select(window.c.status).scalar_subquery(),
            next_id(self.session.get_bind().dialect.name, pledges),
        )
        name, window_id, status, pledge_id = (await self.session.execute(statement)).one()
        return rules.PledgeFacts(
            contributor_name=name,
            window_id=_int_or_none(window_id),
            window_open=status == WindowStatus.OPEN.value,
            pledge_id=int(pledge_id),
        )

    async def get_pledge(self, pledge_id: int) -> Pledge:
        found = await self.session.get(Pledge, pledge_id)
        if found is None:
            raise NotFound(f"no pledge with id {pledge_id}")
        return found

    async def condition_met(self, pledge_id: int, met_on: date) -> Pledge:
        """Recognise a conditional pledge as revenue, at the reporting value it was deferred at."""
        pledge = await self.get_pledge(pledge_id)
        assert pledge.id is not None
        deferred, deferred_reporting = None, 0
        if pledge.conditional:
            original = await self.ledger.entry(pledge.entry_id)
            posting = next(p for p in original.postings if p.account == chart.DEFERRED_REVENUE)
            deferred, deferred_reporting = (
                Money.from_minor(-posting.amount, posting.currency),
                -posting.reporting_amount,
            )
        facts = rules.ConditionFacts(
            pledge_id=pledge.id,
            conditional=pledge.conditional,
            signed_on=pledge.signed_on,
            condition_met_on=pledge.condition_met_on,
            contributor_id=pledge.contributor_id,
            window_id=pledge.window_id,
            deferred=deferred,
            deferred_reporting=deferred_reporting,
        )
        plan = rules.plan_condition_met(
            facts, met_on, now=self.now, reporting_currency=self.settings.reporting_currency
        )
        written = await write_plan(self.session, plan, poster=self.ledger, actor=self.actor, at=self.now)
        _as_written(pledge, written.updates[rules.PLEDGES][0])
        return pledge

    # ---------------------------------------------------------------- contributions

    async def record_contribution(self, data: ContributionCreate, *, idempotency_key: str | None) -> Recorded:
        """Post money received: cash in its currency, the receivable settled (realised FX on any rate
        move), the administrative-agent fee, and the net made available in the budgetary book; money
        that settles nothing is kept as the contributor's unapplied credit."""
        recorded = await self._record_receipts([Receipt(data, idempotency_key)], batch=False)
        return recorded[0]

    async def record_bank_statement(self, receipts: Sequence[Receipt]) -> list[Recorded]:
        """Record a bank statement's receipts in order, each as ``record_contribution`` would, in one
        transaction: all of them or, if any is refused, none (the refusal names the receipt). A receipt
        whose key was recorded before (or earlier in the statement) with the same body is a replay. A
        statement without receipts records nothing (the API's schema refuses one)."""
        return await self._record_receipts(receipts, batch=True) if receipts else []

    async def _record_receipts(self, receipts: Sequence[Receipt], *, batch: bool) -> list[Recorded]:
        # The facts of every receipt are read in one statement, under the ledger's writer lock, so the
        # idempotency checks and the balances are race-free. Each receipt's plan then sees what the receipts
        # before it in the same call changed (``so_far``: applied amounts, the receivable's carrying value,
        # keys used), since their rows go to the database together at the end.
        facts, ids = await self._deposit_facts(receipts)
        policy = rules.DepositPolicy(
            reporting_currency=self.settings.reporting_currency,
            fee_rate=self.settings.charter.admin_agent_fee_rate,
            now=self.now,
            user_id=self.actor.user_id,
            batch=batch,
        )
        so_far = rules.DepositsSoFar(ids)
        recorded: dict[int, Recorded] = {}
        results: list[Recorded | int] = []  # an int is a replay of a contribution recorded before the call
        async with one_trip(self.session):
            for n, (receipt, receipt_facts) in enumerate(zip(receipts, facts, strict=True)):
                try:
                    results.append(await self._record_receipt(receipt, receipt_facts, so_far, policy, recorded))
                except DomainError as error:
                    if batch:
                        error.name_within(f"receipts.{n}.")
                    raise
        replayed_ids = [r for r in results if isinstance(r, int)]
        if replayed_ids:
            found = await self.session.execute(select(Contribution).where(col(Contribution.id).in_(replayed_ids)))
            earlier = {c.id: c for c in found.scalars()}
            results = [Recorded(earlier[r], replayed=True) if isinstance(r, int) else r for r in results]
        return [r for r in results if isinstance(r, Recorded)]

    async def _record_receipt(
        self,
        receipt: Receipt,
        facts: rules.DepositFacts,
        so_far: rules.DepositsSoFar,
        policy: rules.DepositPolicy,
        recorded: dict[int, Recorded],
    ) -> Recorded | int:
        """Plan one receipt and hand the plan to the caller's one trip; a replay of a contribution recorded
        before the call is its id (read after the trip)."""
        planned = rules.plan_deposit(facts, receipt.data, receipt.idempotency_key, so_far, policy)
        if isinstance(planned, rules.DepositReplay):
            if planned.in_this_call:
                return Recorded(recorded[planned.contribution_id].contribution, replayed=True)
            return planned.contribution_id
        written = await write_plan(self.session, planned.plan, poster=self.ledger, actor=self.actor, at=self.now)
        so_far.add(planned)
        # The record returned is built from what is written.
        found = Recorded(Contribution.model_construct(**written.row(rules.CONTRIBUTIONS)))
        recorded[found.contribution.id or 0] = found
        return found

    async def _deposit_facts(self, receipts: Sequence[Receipt]) -> tuple[list[rules.DepositFacts], tuple[int, ...]]:
        """The facts of each receipt (``rules.DepositFacts``) and the ids new contributions may take, read in
        one statement (``_deposit_statement``) after the ledger's lock where it must come first, and the
        rates of the receipts' currencies on their value dates (the ledger keeps them per span)."""
        await heads.lock_first(self.ledger)
        dialect = self.session.get_bind().dialect.name
        shape = rules.deposit_settles(receipts[0].data) if len(receipts) == 1 else ANY_RECEIPTS
        statement, items = _deposit_statement(dialect, shape, self.ledger)
        parameters = items.parameters(
            [
                {
                    "n": n,
                    "contributor_id": r.data.contributor_id,
                    "idempotency_key": scoped_key(self.actor.user_id, r.idempotency_key),
                    "instalment_id": r.data.instalment_id,
                    "assessment_id": r.data.assessment_id,
                    "currency": r.data.currency,
                }
                for n, r in enumerate(receipts)
            ]
        )
        rows = sorted((await self.session.execute(statement, parameters)).all(), key=lambda row: int(row.n))
        heads.remember_heads(self.session, self.ledger, rows[0])
        facts = [await self._one_deposit_facts(row, receipt.data) for row, receipt in zip(rows, receipts, strict=True)]
        return facts, id_pool(dialect, [row.next_id for row in rows])

    async def _one_deposit_facts(self, row: Row[Any], data: ContributionCreate) -> rules.DepositFacts:
        rate: Decimal | None = None
        missing_rate: LedgerRuleError | None = None
        if row.existing_id is None and row.contributor_name is not None:
            try:
                rate = await self.ledger.rate(data.currency, data.value_date)
            except LedgerRuleError as refusal:
                missing_rate = refusal
        return rules.DepositFacts(
            contributor_name=row.contributor_name,
            existing_id=_int_or_none(row.existing_id),
            existing_hash=row.existing_hash,
            instalment_due=_int_or_none(row.instalment_due),
            pledge_owner_id=_int_or_none(row.pledge_owner_id),
            pledge_currency=row.pledge_currency,
            window_id=_int_or_none(row.window_id),
            assessment_due=_int_or_none(row.assessment_due),
            assessment_owner_id=_int_or_none(row.assessment_owner_id),
            assessment_currency=row.assessment_currency,
            assessment_year=_int_or_none(row.assessment_year),
            assessment_entry_id=_int_or_none(row.assessment_entry_id),
            applied=int(row.applied),
            carried_amount=int(row.carried_amount),
            carried_reporting=int(row.carried_reporting),
            rate=rate,
            missing_rate=missing_rate,
        )

    # ---------------------------------------------------------------- arrears

    async def arrears(
        self, member_code: str | None = None, *, as_of: date | None = None
    ) -> dict[str, list[rules.YearArrears]]:
        as_of = as_of or self.today
        query = select(Assessment).order_by(col(Assessment.member_code), col(Assessment.year))
        if member_code is not None:
            query = query.where(col(Assessment.member_code) == member_code)
        paid = dict(
            (
                await self.session.execute(
                    select(col(Contribution.assessment_id), func.sum(col(Contribution.applied)))
                    .where(col(Contribution.assessment_id).is_not(None), col(Contribution.value_date) <= as_of)
                    .group_by(col(Contribution.assessment_id))
                )
            ).all()
        )
        result: dict[str, list[rules.YearArrears]] = defaultdict(list)
        for a in (await self.session.execute(query)).scalars():
            result[a.member_code].append(
                rules.YearArrears(a.year, a.amount, int(paid.get(a.id, 0)), a.currency, a.due_on, as_of)
            )
        return result

    def voting_rights(self, arrears: list[rules.YearArrears]) -> tuple[bool, str]:
        charter = self.settings.charter
        return rules.voting_suspended(
            arrears, rule_on=charter.arrears_suspend_voting, years_allowed=charter.arrears_years_before_suspension
        )

    # ---------------------------------------------------------------- reading helpers

    async def paid_by_instalment(self, instalment_ids: list[int], *, as_of: date | None = None) -> dict[int, int]:
        if not instalment_ids:
            return {}
        rows = await self.session.execute(
            select(col(Contribution.instalment_id), func.sum(col(Contribution.applied)))
            .where(col(Contribution.instalment_id).in_(instalment_ids), *_value_date_until(as_of))
            .group_by(col(Contribution.instalment_id))
        )
        return {int(k): int(v) for k, v in rows.all() if k is not None}

    async def paid_by_assessment(self, assessment_ids: list[int], *, as_of: date | None = None) -> dict[int, int]:
        if not assessment_ids:
            return {}
        rows = await self.session.execute(
            select(col(Contribution.assessment_id), func.sum(col(Contribution.applied)))
            .where(col(Contribution.assessment_id).in_(assessment_ids), *_value_date_until(as_of))
            .group_by(col(Contribution.assessment_id))
        )
        return {int(k): int(v) for k, v in rows.all() if k is not None}


async def member_reference(session: AsyncSession, code: Any) -> str | None:
    """Why ``code`` cannot be a delegate's member (it names no member), or None (core.accounts' check)."""
    if await session.get(Member, str(code)) is None:
        return f"{code} is not a member of the facility"
    return None


def _value_date_until(as_of: date | None) -> list[Any]:
    return [] if as_of is None else [col(Contribution.value_date) <= as_of]


_CONTRIBUTIONS: Table = Contribution.metadata.tables["contributions"]
# The statement of what recording receipts reads, and its receipts' row set, by dialect and shape.
_DEPOSIT_FACTS: dict[tuple[str, str | None], tuple[Select[Any], RowSet]] = {}
# The shape of the facts for any number of receipts, settling anything.
ANY_RECEIPTS = "any"


def _as_written(row: Any, change: Mapping[str, Any]) -> None:
    """The session's copy of a row changed by a plan (the change went to the database, not through the
    session's unit of work), as written."""
    for name, value in change.items():
        set_committed_value(row, name, value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _deposit_statement(dialect: str, shape: str | None, ledger: Ledger) -> tuple[Select[Any], RowSet]:
    """What recording receipts reads, in one statement with a row per receipt (column ``n``, its place):
    the contributor's name, a contribution already recorded under the idempotency key, an id for the
    new one, the audit chain's head and, where the statement can read it, the journal's
    (``fundapp.core.heads``), and for a settled instalment (assessed fee) what is due, by whom, in which
    currency, for which window, what is already applied to it, and the receivable's carrying value in the
    receipt's currency for that contributor and window. ``shape`` is what one receipt settles
    ("instalment", "assessment" or None: only that part is read, with the receipt's values as parameters)
    or ``ANY_RECEIPTS`` (any number of receipts, settling anything). Built once per dialect and shape."""
    found = _DEPOSIT_FACTS.get((dialect, shape))
    if found is not None:
        return found
    items = row_set(
        dialect,
        "receipts",
        [
            ("n", Integer()),
            ("contributor_id", BigInteger()),
            ("idempotency_key", String()),
            ("instalment_id", BigInteger()),
            ("assessment_id", BigInteger()),
            ("currency", String()),
        ],
        one=shape != ANY_RECEIPTS,
    )
    with_instalments = shape in ("instalment", ANY_RECEIPTS)
    with_assessments = shape in ("assessment", ANY_RECEIPTS)
    receipt = items.source.c
    contributors: Table = Contributor.metadata.tables["contributors"]
    instalments: Table = PledgeInstalment.metadata.tables["pledge_instalments"]
    pledges: Table = Pledge.metadata.tables["pledges"]
    assessments: Table = Assessment.metadata.tables["assessments"]
    existing = _CONTRIBUTIONS.alias("existing")
    chain_heads = heads.read_heads(dialect, ledger)
    joined = items.source.outerjoin(contributors, contributors.c.id == receipt.contributor_id).outerjoin(
        existing, existing.c.idempotency_key == receipt.idempotency_key
    )
    if with_instalments:
        joined = joined.outerjoin(instalments, instalments.c.id == receipt.instalment_id).outerjoin(
            pledges, pledges.c.id == instalments.c.pledge_id
        )
    if with_assessments:
        joined = joined.outerjoin(assessments, assessments.c.id == receipt.assessment_id)
    columns: list[Any] = [
        receipt.n.label("n"),
        contributors.c.name.label("contributor_name"),
        existing.c.id.label("existing_id"),
        existing.c.payload_hash.label("existing_hash"),
        # On PostgreSQL a value of the sequence per receipt, taken even when nothing is recorded.
        next_id(dialect, _CONTRIBUTIONS).label("next_id"),
        *chain_heads.columns,
        *_settled_columns(ledger, receipt, with_instalments, with_assessments, instalments, pledges, assessments),
    ]
    found = _DEPOSIT_FACTS[(dialect, shape)] = (select(*columns).select_from(chain_heads.join(joined)), items)
    return found


def _settled_columns(
    ledger: Ledger,
    receipt: Any,
    with_instalments: bool,
    with_assessments: bool,
    instalments: Table,
    pledges: Table,
    assessments: Table,
) -> list[Any]:
    """The columns of ``_deposit_statement`` about what a receipt settles (NULL for what it cannot)."""
    settled: list[tuple[Any, Any]] = []
    if with_instalments:
        settled.append((_CONTRIBUTIONS.c.instalment_id, receipt.instalment_id))
    if with_assessments:
        settled.append((_CONTRIBUTIONS.c.assessment_id, receipt.assessment_id))
    applied = sum(
        (
            select(func.coalesce(func.sum(_CONTRIBUTIONS.c.applied), 0)).where(column == target).scalar_subquery()
            for column, target in settled
        ),
        start=literal(0),
    )
    carried: tuple[Any, Any] = (literal(0), literal(0))
    if settled:
        # An assessed fee's receivable has no window; an instalment's has its pledge's (NULL when pooled).
        carried = ledger.balance_columns(
            chart.CONTRIBUTIONS_RECEIVABLE,
            receipt.currency,
            contributor_id=receipt.contributor_id,
            window_id=pledges.c.window_id if with_instalments else None,
            never_null=("contributor_id",),
        )

    def part(present: bool, column: Any, label: str) -> Any:
        return (column if present else null()).label(label)

    return [
        part(with_instalments, instalments.c.amount, "instalment_due"),
        part(with_instalments, pledges.c.contributor_id, "pledge_owner_id"),
        part(with_instalments, pledges.c.currency, "pledge_currency"),
        part(with_instalments, pledges.c.window_id, "window_id"),
        part(with_assessments, assessments.c.amount, "assessment_due"),
        part(with_assessments, assessments.c.contributor_id, "assessment_owner_id"),
        part(with_assessments, assessments.c.currency, "assessment_currency"),
        part(with_assessments, assessments.c.year, "assessment_year"),
        part(with_assessments, assessments.c.entry_id, "assessment_entry_id"),
        applied.label("applied"),
        carried[0].label("carried_amount"),
        carried[1].label("carried_reporting"),
    ]


async def open_due_fee_years(database: Any, settings: Settings, now: datetime) -> list[int]:
    """Post the fee notices of every year that has begun (``Governance.open_fee_years``): a read first, and
    a write transaction only when a notice is due, so that the daily check costs one small query."""
    async with database.session(write=False) as session:
        due = (
            await session.execute(
                select(col(Assessment.id))
                .where(col(Assessment.entry_id).is_(None), col(Assessment.year) <= now.year)
                .limit(1)
            )
        ).first()
    if due is None:
        return []
    async with database.session(write=True) as session:
        years = await Governance(session, settings=settings, actor=audit.SYSTEM, now=now).open_fee_years()
        await session.commit()
    return years
