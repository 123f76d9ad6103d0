"""Governance services, first half: the only code that writes members, windows, fees, contributors,
assessments, pledges and contributions. Every money movement is posted to the ledger in the same
transaction, and every change writes an audit event.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import count
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Integer, Row, Select, String, Table, func, literal, null, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import audit
from fundapp.core.chain import digest
from fundapp.core.config import Settings
from fundapp.core.errors import Conflict, DomainError, InvalidInput, NotFound, refuse_future
from fundapp.core.idempotency import scoped_key
from fundapp.core.models import User
from fundapp.core.rowsets import RowSet, row_set
from fundapp.core.unit import Service, Unit
from fundapp.core.writes import PendingWrites, one_trip
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
from ledger import EntryDraft, EntryView, Ledger, Line, Money, chart, convert_minor, percentage, to_json, to_money


@dataclass(frozen=True, slots=True)
class Recorded:
    """A contribution as recorded; ``replayed`` when an idempotent retry returned the first one."""

    contribution: Contribution
    replayed: bool = False


class Receipt(NamedTuple):
    """Money received, as a bank statement line or one API request: what arrived and its idempotency key."""

    data: ContributionCreate
    idempotency_key: str | None


@dataclass
class _BatchChanges:
    """What the receipts recorded so far in one call changed, which the facts read before them do not show:
    amounts applied per instalment or assessment, receivables' carrying values (amount, reporting amount)
    per contributor, window and currency, and idempotency keys used (with the body's hash)."""

    applied: Counter[tuple[str, int]] = field(default_factory=Counter)
    carried: defaultdict[tuple[int, int | None, str], tuple[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: (0, 0))
    )
    keys: dict[str, tuple[str, Recorded]] = field(default_factory=dict)

    def record(self, recorded: Recorded, payload_hash: str, entry: EntryView) -> None:
        contribution = recorded.contribution
        if contribution.instalment_id is not None:
            self.applied[("instalment", contribution.instalment_id)] += contribution.applied
        if contribution.assessment_id is not None:
            self.applied[("assessment", contribution.assessment_id)] += contribution.applied
        for posting in entry.postings:
            if posting.account == chart.CONTRIBUTIONS_RECEIVABLE:
                assert posting.contributor_id is not None
                key = (posting.contributor_id, posting.window_id, posting.currency)
                amount, reporting = self.carried[key]
                self.carried[key] = (amount + posting.amount, reporting + posting.reporting_amount)
        if contribution.idempotency_key is not None:
            self.keys[contribution.idempotency_key] = (payload_hash, recorded)


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
        notice = rules.is_fee_notice(year, self.today)
        due_on = rules.fee_due_on(year, self.today, self.settings.charter.fee_due_days)
        created: list[Assessment] = []
        already: list[str] = []
        not_due: list[str] = []
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
            assessment = Assessment(
                member_code=member.code,
                contributor_id=contributor.id,
                year=year,
                tier=member.tier,
                months=months,
                amount=fee.minor,
                currency=fee.currency,
                assessed_on=self.today,
                due_on=due_on,
            )
            if not notice:
                await self._recognise(assessment, self.today)
            self.session.add(assessment)
            created.append(assessment)
        await self.session.flush()
        if created:
            await self._audit(
                "assessment.notice" if notice else "assessment.run",
                "assessment_year",
                year,
                after={"members": [a.member_code for a in created], "recognised": not notice},
            )
        return created, already, not_due

    async def _recognise(self, assessment: Assessment, on: date) -> None:
        """Post an assessed fee: the member's receivable and the facility's revenue, dated ``on``."""
        fee = Money.from_minor(assessment.amount, assessment.currency)
        entry = await self.ledger.post(
            EntryDraft(
                entry_date=on,
                description=f"{assessment.year} fee of {assessment.member_code} "
                f"(tier {assessment.tier}, {assessment.months} months)",
                lines=(
                    Line(chart.CONTRIBUTIONS_RECEIVABLE, fee, contributor_id=assessment.contributor_id),
                    Line(chart.CONTRIBUTION_REVENUE, -fee, contributor_id=assessment.contributor_id),
                ),
                source_type="assessment",
                source_id=f"{assessment.member_code}-{assessment.year}",
                idempotency_key=f"assessment:{assessment.member_code}:{assessment.year}",
            )
        )
        assessment.entry_id, assessment.recognised_on = entry.id, on

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
            first_day = date(assessment.year, 1, 1)
            await self._recognise(assessment, first_day)
            self.session.add(assessment)
            for contribution in advances[assessment.id]:
                await self._apply_advance(contribution, first_day)
        await self.session.flush()
        years = sorted({a.year for a in notices})
        for year in years:
            opened = [a for a in notices if a.year == year]
            await self._audit(
                "assessment.year_opened",
                "assessment_year",
                year,
                after={
                    "members": [a.member_code for a in opened],
                    "advances_applied": sum(len(advances[a.id]) for a in opened),
                },
            )
        return years

    async def _apply_advance(self, contribution: Contribution, on: date) -> None:
        """Apply money received in advance to its fee, now posted: the liability (2450, at its carrying
        value) settles the receivable (at its carrying value; the realised difference to FX), the
        administrative-agent fee is charged, and the net is made available in the budgetary book."""
        rc = self.settings.reporting_currency
        applied = Money.from_minor(contribution.applied, contribution.currency)
        held = await self.ledger.balance(
            chart.RECEIVED_IN_ADVANCE, contribution.currency, contributor_id=contribution.contributor_id
        )
        receivable = await self.ledger.balance(
            chart.CONTRIBUTIONS_RECEIVABLE, contribution.currency, contributor_id=contribution.contributor_id
        )
        plan = rules.advance_application(
            applied=applied,
            held=held,
            receivable=receivable,
            fee_rate=self.settings.charter.admin_agent_fee_rate,
            rate=await self.ledger.rate(contribution.currency, on),
            reporting_currency=rc,
            contributor_id=contribution.contributor_id,
        )
        entry = await self.ledger.post(
            EntryDraft(
                entry_date=on,
                description=f"Payment in advance applied to the {on.year} fee (contribution {contribution.id})",
                lines=plan.lines,
                source_type="contribution",
                source_id=str(contribution.id),
                idempotency_key=f"advance-applied:{contribution.id}",
                settle_fx=True,
            )
        )
        contribution.applied_entry_id, contribution.fee = entry.id, plan.fee.minor
        self.session.add(contribution)
        await self._audit(
            "contribution.advance_applied",
            "contribution",
            contribution.id,
            after={"applied": to_json(plan.applied), "fee": to_json(plan.fee), "entry_id": entry.id},
        )

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
        refuse_future(data.signed_on, self.today, field="signed_on", what="the pledge")
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
                "amount": to_json(amount),
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
        refuse_future(met_on, self.today, field="met_on", what="the condition met")
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
        # idempotency checks and the balances are race-free. Each receipt then sees what the receipts before
        # it in the same call changed (applied amounts, the receivable's carrying value, keys used), kept
        # here because their rows go to the database together at the end.
        postgresql = self.ledger.is_postgresql
        if postgresql:
            await self.ledger.lock()
        shape = _settles(receipts[0].data) if len(receipts) == 1 else ANY_RECEIPTS
        facts_statement, items = self._deposit_facts(shape)
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
        rows = sorted((await self.session.execute(facts_statement, parameters)).all(), key=lambda row: int(row.n))
        first = rows[0]
        if not postgresql:
            self.ledger.remember_head(first.ledger_id, first.ledger_hash, first.ledger_reference)
        audit.remember_head(self.session, first.audit_seq, first.audit_hash)
        # PostgreSQL gave each row a value of the sequence; SQLite gives a new row max(id) + 1.
        new_ids = iter(sorted(int(row.next_id) for row in rows)) if postgresql else count(int(first.next_id))
        since = _BatchChanges()
        results: list[Recorded | int] = []  # an int is a replay of a contribution recorded before the call
        async with one_trip(self.session) as pending:
            for n, (receipt, facts) in enumerate(zip(receipts, rows, strict=True)):
                try:
                    results.append(await self._record_receipt(receipt, facts, since, new_ids, pending, batch=batch))
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
        facts: Row[Any],
        since: _BatchChanges,
        new_ids: Iterator[int],
        pending: PendingWrites,
        *,
        batch: bool,
    ) -> Recorded | int:
        data, idempotency_key = receipt
        key_field = "idempotency_key" if batch else "Idempotency-Key"
        payload_hash = digest(data.model_dump(mode="json"))
        stored_key = scoped_key(self.actor.user_id, idempotency_key)
        earlier = since.keys.get(stored_key) if stored_key is not None else None
        if earlier is not None or facts.existing_id is not None:
            first_hash, first = earlier if earlier is not None else (facts.existing_hash, int(facts.existing_id))
            if first_hash != payload_hash:
                first_id = first.contribution.id if isinstance(first, Recorded) else first
                raise Conflict(
                    f"the idempotency key {idempotency_key!r} was used for contribution {first_id} "
                    "with a different body",
                    field=key_field,
                    rule="idempotency-same-payload",
                )
            return Recorded(first.contribution, replayed=True) if isinstance(first, Recorded) else first
        if facts.contributor_name is None:
            raise NotFound(
                f"no contributor with id {data.contributor_id}", field="contributor_id", rule="contributor-exists"
            )
        refuse_future(data.value_date, self.today, field="value_date", what="the payment")
        contributor_id: int = data.contributor_id
        money = to_money(data.amount, data.currency)
        outstanding, window_id, advance = 0, None, False
        settles = _settles(data)
        if settles == "instalment":
            assert data.instalment_id is not None
            if facts.instalment_due is None:
                raise NotFound(
                    f"no instalment with id {data.instalment_id}", field="instalment_id", rule="instalment-exists"
                )
            self._check_settles(
                facts.pledge_owner_id, facts.pledge_currency, contributor_id, money, "instalment_id", "pledge"
            )
            window_id = facts.window_id
            applied_before = int(facts.applied) + since.applied[("instalment", data.instalment_id)]
            outstanding = int(facts.instalment_due) - applied_before
        elif settles == "assessment":
            assert data.assessment_id is not None
            if facts.assessment_due is None:
                raise NotFound(
                    f"no assessment with id {data.assessment_id}", field="assessment_id", rule="assessment-exists"
                )
            self._check_settles(
                facts.assessment_owner_id,
                facts.assessment_currency,
                contributor_id,
                money,
                "assessment_id",
                "assessed fee",
            )
            applied_before = int(facts.applied) + since.applied[("assessment", data.assessment_id)]
            outstanding = int(facts.assessment_due) - applied_before
            if facts.assessment_entry_id is None:
                # A notice: its fee year has not begun (else the year's opening would have posted it).
                advance = True
                if data.value_date >= date(int(facts.assessment_year), 1, 1):
                    raise Conflict(
                        f"the {facts.assessment_year} fees are posted when the year opens; "
                        "run fundapp governance open-fee-years first",
                        field="assessment_id",
                        rule="fee-year-opened",
                    )
        split = rules.split_deposit(money.minor, outstanding)
        applied = Money.from_minor(split.applied, money.currency)
        unapplied = Money.from_minor(split.unapplied, money.currency)
        # The administrative-agent fee is charged on what the deposit settles; unapplied credit is not yet revenue,
        # nor is money paid in advance of its fee year (charged when the year opens and the fee is posted).
        fee = (
            percentage(applied, self.settings.charter.admin_agent_fee_rate)
            if applied.is_positive and not advance
            else Money.zero(money.currency)
        )
        dims: dict[str, Any] = {"contributor_id": contributor_id, "window_id": window_id}
        lines = [Line(chart.CASH, money, **dims)]
        if applied.is_positive and advance:
            lines.append(Line(chart.RECEIVED_IN_ADVANCE, -applied, contributor_id=contributor_id))
        elif applied.is_positive:
            # The receivable's carrying value, read with the facts (money.currency is data.currency).
            receivable = (contributor_id, window_id, money.currency)
            carried_amount, carried_reporting = since.carried[receivable]
            carried_amount += int(facts.carried_amount)
            carried_reporting += int(facts.carried_reporting)
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
        if net.is_positive and not advance:
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
        # The entry, its postings, the contribution and its audit event are handed to the caller's one_trip.
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
            "id": next(new_ids),
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
            "advance": advance,
            "idempotency_key": stored_key,
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
                "amount": to_json(money),
                "applied": to_json(applied),
                "unapplied": to_json(unapplied),
                "fee": to_json(fee),
                "entry_id": entry.id,
            },
        )
        recorded = Recorded(contribution)
        since.record(recorded, payload_hash, entry)
        return recorded

    def _deposit_facts(self, shape: str | None) -> tuple[Select[Any], RowSet]:
        """What recording receipts reads, in one statement with a row per receipt (column ``n``, its place):
        the contributor's name, a contribution already recorded under the idempotency key, an id for the
        new one, the audit chain's head (and, on PostgreSQL, its lock; there the ledger's lock is taken
        before, in a statement of its own), on SQLite the ledger's head, and for a settled instalment
        (assessed fee) what is due, by whom, in which currency, for which window, what is already applied
        to it, and the receivable's carrying value in the receipt's currency for that contributor and
        window. ``shape`` is what one receipt settles ("instalment", "assessment" or None: only that part
        is read, with the receipt's values as parameters) or ``ANY_RECEIPTS`` (any number of receipts,
        settling anything). Built once per dialect and shape."""
        dialect = self.session.get_bind().dialect.name
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
        head = audit.head_source(dialect)
        joined = items.source.outerjoin(contributors, contributors.c.id == receipt.contributor_id).outerjoin(
            existing, existing.c.idempotency_key == receipt.idempotency_key
        )
        if with_instalments:
            joined = joined.outerjoin(instalments, instalments.c.id == receipt.instalment_id).outerjoin(
                pledges, pledges.c.id == instalments.c.pledge_id
            )
        if with_assessments:
            joined = joined.outerjoin(assessments, assessments.c.id == receipt.assessment_id)
        joined = joined.outerjoin(head, true())
        columns: list[Any] = [
            receipt.n.label("n"),
            contributors.c.name.label("contributor_name"),
            existing.c.id.label("existing_id"),
            existing.c.payload_hash.label("existing_hash"),
            head.c.seq.label("audit_seq"),
            head.c.hash.label("audit_hash"),
        ]
        if dialect == "postgresql":
            # A value of the sequence per receipt: taken even when nothing is recorded (ids may have gaps).
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
            carried = self.ledger.balance_columns(
                chart.CONTRIBUTIONS_RECEIVABLE,
                receipt.currency,
                contributor_id=receipt.contributor_id,
                window_id=pledges.c.window_id if with_instalments else None,
                never_null=("contributor_id",),
            )

        def part(present: bool, column: Any, label: str) -> Any:
            return (column if present else null()).label(label)

        columns += [
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
        found = _DEPOSIT_FACTS[(dialect, shape)] = (select(*columns).select_from(joined), items)
        return found

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


async def member_reference(session: AsyncSession, code: Any) -> str | None:
    """Why ``code`` cannot be a delegate's member (it names no member), or None (core.accounts' check)."""
    if await session.get(Member, str(code)) is None:
        return f"{code} is not a member of the facility"
    return None


def _settles(data: ContributionCreate) -> str | None:
    """What a payment settles: "instalment", "assessment" (the schema allows one at most) or None."""
    if data.instalment_id is not None:
        return "instalment"
    return "assessment" if data.assessment_id is not None else None


def _value_date_until(as_of: date | None) -> list[Any]:
    return [] if as_of is None else [col(Contribution.value_date) <= as_of]


_CONTRIBUTIONS: Table = Contribution.metadata.tables["contributions"]
# The statement of what recording receipts reads, and its receipts' row set, by dialect and shape.
_DEPOSIT_FACTS: dict[tuple[str, str | None], tuple[Select[Any], RowSet]] = {}
# The shape of the facts for any number of receipts, settling anything.
ANY_RECEIPTS = "any"


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
