"""Governance services, first half: the only code that writes members, windows, fees, contributors,
assessments, pledges and contributions. Every money movement is posted to the ledger in the same
transaction, and every change writes an audit event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import audit
from fundapp.core.config import Settings
from fundapp.core.errors import Conflict, InvalidInput, NotFound
from fundapp.core.models import User
from fundapp.core.writes import one_trip
from governance import rules
from governance.models import (
    Assessment,
    Contribution,
    Contributor,
    ContributorKind,
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
from ledger import EntryDraft, Ledger, Line, Money, chart, convert_minor, percentage, to_money
from ledger.rules import canonical, sha256


@dataclass(frozen=True, slots=True)
class Recorded:
    """A contribution as recorded; ``replayed`` when an idempotent retry returned the first one."""

    contribution: Contribution
    replayed: bool = False


class Governance:
    """Operations on the facility's structure and incoming money, bound to one session."""

    def __init__(self, session: AsyncSession, *, settings: Settings, actor: audit.Actor, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.actor = actor
        self.now = now
        self.ledger = Ledger(session, reporting_currency=settings.reporting_currency, actor=actor, now=now)

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
        await audit.record(
            self.session,
            actor=self.actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            at=self.now,
            before=before,
            after=after,
        )

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
        rows = await self.session.execute(
            select(col(User.username))
            .where(col(User.member_code) == code, col(User.is_active).is_(True))
            .order_by(col(User.username))
        )
        return list(rows.scalars())

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
        before = None if row is None else {"amount": row.amount, "currency": row.currency}
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
            after={"amount": fee.to_str(), "currency": fee.currency},
        )
        return row

    async def assess(self, year: int) -> tuple[list[Assessment], list[str], list[str]]:
        """Create each active member's fee for ``year`` as a receivable (once); returns (created,
        already assessed, not members that year)."""
        await self.ledger.lock()
        members = (
            (
                await self.session.execute(
                    select(Member).where(col(Member.status) == MemberStatus.ACTIVE.value).order_by(col(Member.code))
                )
            )
            .scalars()
            .all()
        )
        done = set(
            (
                await self.session.execute(select(col(Assessment.member_code)).where(col(Assessment.year) == year))
            ).scalars()
        )
        created: list[Assessment] = []
        already: list[str] = []
        not_due: list[str] = []
        due_days = self.settings.charter.fee_due_days
        for member in members:
            if member.code in done:
                already.append(member.code)
                continue
            months = rules.months_of_membership(member.joined_on, year)
            if months == 0:
                not_due.append(member.code)
                continue
            schedule = await self.session.get(TierFee, (year, member.tier))
            if schedule is None:
                raise InvalidInput(
                    f"no fee is set for tier {member.tier} in {year}; set it under /tiers first",
                    field="year",
                    rule="fee-schedule-set",
                )
            fee = rules.prorated_fee(Money.from_minor(schedule.amount, schedule.currency), months)
            if not fee.is_positive:
                # A fee that rounds to nothing is not due (and a zero receivable is not an entry).
                not_due.append(member.code)
                continue
            contributor = await self.member_contributor(member.code)
            assert contributor.id is not None
            entry = await self.ledger.post(
                EntryDraft(
                    entry_date=self.today,
                    description=f"{year} fee of {member.code} (tier {member.tier}, {months} months)",
                    lines=(
                        Line(chart.CONTRIBUTIONS_RECEIVABLE, fee, contributor_id=contributor.id),
                        Line(chart.CONTRIBUTION_REVENUE, -fee, contributor_id=contributor.id),
                    ),
                    source_type="assessment",
                    source_id=f"{member.code}-{year}",
                    idempotency_key=f"assessment:{member.code}:{year}",
                )
            )
            assessment = Assessment(
                member_code=member.code,
                contributor_id=contributor.id,
                year=year,
                tier=member.tier,
                months=months,
                amount=fee.minor,
                currency=fee.currency,
                assessed_on=self.today,
                due_on=self.today + timedelta(days=due_days),
                entry_id=entry.id,
            )
            self.session.add(assessment)
            created.append(assessment)
        await self.session.flush()
        if created:
            await self._audit(
                "assessment.run", "assessment_year", year, after={"members": [a.member_code for a in created]}
            )
        return created, already, not_due

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
        contributor = await self.contributor(data.contributor_id)
        window_id = None
        if data.window_code is not None:
            window = await self.window(data.window_code)
            if window.status != WindowStatus.OPEN.value:
                raise InvalidInput(
                    f"window {window.code} is closed to new pledges", field="window_code", rule="window-open"
                )
            window_id = window.id
        amount = to_money(data.amount, data.currency)
        credit = chart.DEFERRED_REVENUE if data.conditional else chart.CONTRIBUTION_REVENUE
        dims: dict[str, Any] = {"contributor_id": contributor.id, "window_id": window_id}
        entry = await self.ledger.post(
            EntryDraft(
                entry_date=data.signed_on,
                description=f"Pledge of {contributor.name}" + (" (conditional)" if data.conditional else ""),
                lines=(Line(chart.CONTRIBUTIONS_RECEIVABLE, amount, **dims), Line(credit, -amount, **dims)),
                source_type="pledge",
            )
        )
        pledge = Pledge(
            contributor_id=data.contributor_id,
            amount=amount.minor,
            currency=amount.currency,
            window_id=window_id,
            signed_on=data.signed_on,
            conditional=data.conditional,
            condition=data.condition,
            reference=data.reference,
            entry_id=entry.id,
            created_at=self.now,
        )
        self.session.add(pledge)
        await self.session.flush()
        assert pledge.id is not None
        for number, instalment in enumerate(data.instalments, start=1):
            self.session.add(
                PledgeInstalment(
                    pledge_id=pledge.id,
                    number=number,
                    due_on=instalment.due_on,
                    amount=to_money(instalment.amount, data.currency).minor,
                )
            )
        await self.session.flush()
        await self._audit(
            "pledge.sign",
            "pledge",
            pledge.id,
            after={
                "contributor_id": data.contributor_id,
                "amount": amount.to_str(),
                "currency": amount.currency,
                "window": data.window_code,
                "conditional": data.conditional,
                "entry_id": entry.id,
            },
        )
        return pledge

    async def get_pledge(self, pledge_id: int) -> Pledge:
        found = await self.session.get(Pledge, pledge_id)
        if found is None:
            raise NotFound(f"no pledge with id {pledge_id}")
        return found

    async def condition_met(self, pledge_id: int, met_on: date) -> Pledge:
        """Recognise a conditional pledge as revenue, at the reporting value it was deferred at."""
        pledge = await self.get_pledge(pledge_id)
        if not pledge.conditional:
            raise Conflict("this pledge has no condition", rule="conditional-only")
        if met_on < pledge.signed_on:
            raise InvalidInput(
                f"the pledge was signed on {pledge.signed_on}; its condition cannot be met before",
                field="met_on",
                rule="met-after-signing",
            )
        if pledge.condition_met_on is not None:
            raise Conflict(f"the condition was recorded as met on {pledge.condition_met_on}", rule="once")
        original = await self.ledger.entry(pledge.entry_id)
        deferred = next(p for p in original.postings if p.account == chart.DEFERRED_REVENUE)
        amount = Money.from_minor(-deferred.amount, deferred.currency)
        reporting = Money.from_minor(-deferred.reporting_amount, self.settings.reporting_currency)
        dims: dict[str, Any] = {"contributor_id": pledge.contributor_id, "window_id": pledge.window_id}
        entry = await self.ledger.post(
            EntryDraft(
                entry_date=met_on,
                description=f"Condition met on pledge {pledge.id}",
                lines=(
                    Line(chart.DEFERRED_REVENUE, amount, reporting, **dims),
                    Line(chart.CONTRIBUTION_REVENUE, -amount, -reporting, **dims),
                ),
                source_type="pledge-condition",
                source_id=str(pledge.id),
            )
        )
        pledge.condition_met_on = met_on
        pledge.condition_entry_id = entry.id
        self.session.add(pledge)
        await self.session.flush()
        await self._audit("pledge.condition_met", "pledge", pledge.id, after={"met_on": met_on, "entry_id": entry.id})
        return pledge

    # ---------------------------------------------------------------- contributions

    async def record_contribution(self, data: ContributionCreate, *, idempotency_key: str | None) -> Recorded:
        """Post money received: cash in its currency, the receivable settled (realised FX on any rate
        move), the administrative-agent fee, and the net made available in the budgetary book; money
        that settles nothing is kept as the contributor's unapplied credit."""
        payload_hash = sha256(canonical(data.model_dump(mode="json")))
        # The ledger's writer lock serialises writers, so the idempotency check below is race-free. On
        # PostgreSQL it is a statement of its own; on SQLite the facts' statement reads the head with them.
        postgresql = self.ledger.is_postgresql
        if postgresql:
            await self.ledger.lock()
        target = "instalment" if data.instalment_id is not None else None
        target = "assessment" if data.assessment_id is not None else target
        facts = (
            await self.session.execute(
                self._deposit_facts(target),
                {
                    "contributor_id": data.contributor_id,
                    "key": idempotency_key,
                    "target_id": data.instalment_id if target == "instalment" else data.assessment_id,
                    "currency": data.currency,
                },
            )
        ).one()
        if not postgresql:
            self.ledger.remember_head(facts.ledger_id, facts.ledger_hash, facts.ledger_reference)
        audit.remember_head(self.session, facts.audit_seq, facts.audit_hash)
        if facts.existing_id is not None:
            if facts.existing_hash != payload_hash:
                raise Conflict(
                    f"the idempotency key {idempotency_key!r} was used for contribution "
                    f"{facts.existing_id} with a different body",
                    field="Idempotency-Key",
                    rule="idempotency-same-payload",
                )
            existing = await self.session.get(Contribution, facts.existing_id)
            assert existing is not None
            return Recorded(existing, replayed=True)
        if facts.contributor_name is None:
            raise NotFound(
                f"no contributor with id {data.contributor_id}", field="contributor_id", rule="contributor-exists"
            )
        contributor_id: int = data.contributor_id
        money = to_money(data.amount, data.currency)
        outstanding, window_id = 0, None
        if target == "instalment":
            if facts.due is None:
                raise NotFound(
                    f"no instalment with id {data.instalment_id}", field="instalment_id", rule="instalment-exists"
                )
            self._check_settles(facts.owner_id, facts.due_currency, contributor_id, money, "instalment_id", "pledge")
            window_id = facts.window_id
            outstanding = int(facts.due) - int(facts.applied)
        elif target == "assessment":
            if facts.due is None:
                raise NotFound(
                    f"no assessment with id {data.assessment_id}", field="assessment_id", rule="assessment-exists"
                )
            self._check_settles(
                facts.owner_id, facts.due_currency, contributor_id, money, "assessment_id", "assessed fee"
            )
            outstanding = int(facts.due) - int(facts.applied)
        split = rules.split_deposit(money.minor, outstanding)
        applied = Money.from_minor(split.applied, money.currency)
        unapplied = Money.from_minor(split.unapplied, money.currency)
        # The administrative-agent fee is charged on what the deposit settles; unapplied credit is not yet revenue.
        fee = (
            percentage(applied, self.settings.charter.admin_agent_fee_rate)
            if applied.is_positive
            else Money.zero(money.currency)
        )
        dims: dict[str, Any] = {"contributor_id": contributor_id, "window_id": window_id}
        lines = [Line(chart.CASH, money, **dims)]
        if applied.is_positive:
            # The receivable's carrying value, read with the facts (money.currency is data.currency).
            carried_amount, carried_reporting = int(facts.carried_amount), int(facts.carried_reporting)
            share = rules.carrying_share(
                carried_reporting, carried_amount, applied.minor, self.settings.reporting_currency
            )
            lines.append(
                Line(
                    chart.CONTRIBUTIONS_RECEIVABLE,
                    -applied,
                    Money.from_minor(-share, self.settings.reporting_currency),
                    **dims,
                )
            )
        if unapplied.is_positive:
            lines.append(Line(chart.UNAPPLIED_CONTRIBUTIONS, -unapplied, contributor_id=contributor_id))
        if fee.is_positive:
            lines += [Line(chart.ADMIN_AGENT_FEE, fee, **dims), Line(chart.CASH, -fee, **dims)]
        net = applied - fee
        if net.is_positive:
            rate = await self.ledger.rate(net.currency, data.value_date)
            net_reporting = Money.from_minor(
                convert_minor(net.minor, net.currency, rate, self.settings.reporting_currency),
                self.settings.reporting_currency,
            )
            # A net worth less than half a reporting minor unit makes nothing available.
            if net_reporting.is_positive:
                lines += [
                    Line(chart.AVAILABLE, net_reporting, window_id=window_id),
                    Line(chart.RESOURCES_RECEIVED, -net_reporting, **dims),
                ]
        # The entry, its postings, the contribution and its audit event go to the database in one trip.
        async with one_trip(self.session) as pending:
            entry = await self.ledger.post(
                EntryDraft(
                    entry_date=data.value_date,
                    description=f"Contribution from {facts.contributor_name}"
                    + (f" ({data.reference})" if data.reference else ""),
                    lines=tuple(lines),
                    source_type="contribution",
                    settle_fx=True,
                )
            )
            values: dict[str, Any] = {
                "id": int(facts.next_id),
                "contributor_id": contributor_id,
                "value_date": data.value_date,
                "amount": money.minor,
                "currency": money.currency,
                "instalment_id": data.instalment_id,
                "assessment_id": data.assessment_id,
                "window_id": window_id,
                "applied": applied.minor,
                "unapplied": unapplied.minor,
                "fee": fee.minor,
                "idempotency_key": idempotency_key,
                "payload_hash": payload_hash,
                "reference": data.reference,
                "entry_id": entry.id,
                "recorded_by": self.actor.user_id,
                "created_at": self.now,
            }
            pending.add(_CONTRIBUTIONS, [values])
            # The record returned is built from what is written.
            contribution = Contribution.model_construct(**values)
            await self._audit(
                "contribution.record",
                "contribution",
                contribution.id,
                after={
                    "contributor_id": contributor_id,
                    "amount": money.to_str(),
                    "currency": money.currency,
                    "applied": applied.to_str(),
                    "unapplied": unapplied.to_str(),
                    "fee": fee.to_str(),
                    "entry_id": entry.id,
                },
            )
        return Recorded(contribution)

    def _deposit_facts(self, target: str | None) -> Select[Any]:
        """What recording a deposit reads, in one statement: the contributor's name, a contribution already
        recorded under the idempotency key, the id the new one takes, the audit chain's head (and, on
        PostgreSQL, its lock; there the ledger's lock is taken before, in a statement of its own), on SQLite
        the ledger's head, and for a settled instalment (assessed fee) what is due, by whom, in which
        currency, for which window, what is already applied to it, and the receivable's carrying value in
        the deposit's currency for that contributor and window. Built once per shape."""
        dialect = self.session.get_bind().dialect.name
        shape = (dialect, target)
        found = _DEPOSIT_FACTS.get(shape)
        if found is not None:
            return found
        contributors: Table = Contributor.metadata.tables["contributors"]
        existing = _CONTRIBUTIONS.alias("existing")
        head = audit.head_source(dialect)
        one = select(literal(1).label("one")).subquery("one")
        joined = (
            one.outerjoin(contributors, contributors.c.id == bindparam("contributor_id"))
            .outerjoin(existing, existing.c.idempotency_key == bindparam("key"))
            .outerjoin(head, true())
        )
        columns: list[Any] = [
            contributors.c.name.label("contributor_name"),
            existing.c.id.label("existing_id"),
            existing.c.payload_hash.label("existing_hash"),
            head.c.seq.label("audit_seq"),
            head.c.hash.label("audit_hash"),
        ]
        if dialect == "postgresql":
            # The sequence's next value: taken even when nothing is recorded (ids may have gaps, as always).
            columns.append(func.nextval(func.pg_get_serial_sequence("contributions", "id")).label("next_id"))
        else:
            # Writers hold SQLite's write lock from BEGIN IMMEDIATE, and SQLite gives a new row max(id) + 1.
            columns.append(
                select(func.coalesce(func.max(_CONTRIBUTIONS.c.id), 0) + 1).scalar_subquery().label("next_id")
            )
            ledger_head = self.ledger.head_source()
            assert ledger_head is not None
            joined = joined.outerjoin(ledger_head, true())
            columns += [
                ledger_head.c.id.label("ledger_id"),
                ledger_head.c.hash.label("ledger_hash"),
                ledger_head.c.reference.label("ledger_reference"),
            ]
        window: Any = None
        if target == "instalment":
            instalments: Table = PledgeInstalment.metadata.tables["pledge_instalments"]
            pledges: Table = Pledge.metadata.tables["pledges"]
            joined = joined.outerjoin(instalments, instalments.c.id == bindparam("target_id")).outerjoin(
                pledges, pledges.c.id == instalments.c.pledge_id
            )
            applied_to = _CONTRIBUTIONS.c.instalment_id
            window = pledges.c.window_id
            columns += [
                instalments.c.amount.label("due"),
                pledges.c.contributor_id.label("owner_id"),
                pledges.c.currency.label("due_currency"),
                pledges.c.window_id.label("window_id"),
            ]
        elif target == "assessment":
            assessments: Table = Assessment.metadata.tables["assessments"]
            joined = joined.outerjoin(assessments, assessments.c.id == bindparam("target_id"))
            applied_to = _CONTRIBUTIONS.c.assessment_id
            columns += [
                assessments.c.amount.label("due"),
                assessments.c.contributor_id.label("owner_id"),
                assessments.c.currency.label("due_currency"),
            ]
        if target is not None:
            applied = (
                select(func.coalesce(func.sum(_CONTRIBUTIONS.c.applied), 0))
                .where(applied_to == bindparam("target_id"))
                .scalar_subquery()
            )
            carried_amount, carried_reporting = self.ledger.balance_columns(
                chart.CONTRIBUTIONS_RECEIVABLE,
                bindparam("currency"),
                contributor_id=bindparam("contributor_id"),
                window_id=window,
            )
            columns += [
                applied.label("applied"),
                carried_amount.label("carried_amount"),
                carried_reporting.label("carried_reporting"),
            ]
        statement = _DEPOSIT_FACTS[shape] = select(*columns).select_from(joined)
        return statement

    @staticmethod
    def _check_settles(
        owner_id: int, currency: str, contributor_id: int, money: Money, field_name: str, what: str
    ) -> None:
        if owner_id != contributor_id:
            raise InvalidInput(
                f"that {what} belongs to another contributor", field=field_name, rule="settles-own-receivable"
            )
        if currency != money.currency:
            raise InvalidInput(
                f"the {what} is in {currency}; a payment in {money.currency} cannot settle it "
                "(record it without a target to keep it as unapplied credit)",
                field="currency",
                rule="settlement-currency",
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


def _value_date_until(as_of: date | None) -> list[Any]:
    return [] if as_of is None else [col(Contribution.value_date) <= as_of]


_CONTRIBUTIONS: Table = Contribution.metadata.tables["contributions"]
# Statements of record_contribution's reads, by (dialect, what the deposit settles).
_DEPOSIT_FACTS: dict[tuple[str, str | None], Select[Any]] = {}
