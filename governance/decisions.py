"""Governance services, second half: decisions of the member states.

Each member has one voice whatever its tier. A decision is created by the secretariat (draft), opened,
then decided by vote, written no-objection procedure or consensus at a meeting, and closed. Everything
a member does on a decision is an event of the decision's own hash chain (``decision_events``); the
close counts those events with the pure functions of ``governance.rules`` and applies the effect of an
adopted decision, all in one transaction under the decision's row lock, so a ballot racing the close is
either counted or refused.

Ballots are not written to the global audit log: the decision's chain is their audit record (and keeps
ballots of different decisions from queueing on one lock). Creating, opening and closing are audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table, and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import col

from fundapp.core import audit, together
from fundapp.core.chain import canonical_json
from fundapp.core.config import Settings
from fundapp.core.errors import Conflict, DomainError, FieldError, InvalidInput, NotFound, PermissionDenied
from fundapp.core.models import Role
from fundapp.core.security import Principal
from fundapp.core.unit import Service, Unit
from governance import rules
from governance.kinds import FundsSource, kind_spec
from governance.kinds import effect_problem as _effect_problem
from governance.models import (
    Ballot,
    Decision,
    DecisionEvent,
    DecisionRoll,
    DecisionStatus,
    Member,
    MemberStatus,
    Procedure,
    Recusal,
    Window,
)
from governance.schemas import DecisionCreate, DecisionInput, MeetingRecord
from governance.service import Governance
from ledger import Money, chart

# How long a vote opened by an objection runs at least (written procedure turned into a vote).
OBJECTION_VOTE_PERIOD = timedelta(days=7)
# The longest a decision may stay open.
MAX_OPEN_PERIOD = timedelta(days=366)
# The kinds of decision (their terms, money effect, charter rule and handlers) are one table: governance.kinds


# ---------------------------------------------------------------- the funding hook (proposals registers it)


@dataclass(frozen=True, slots=True)
class FundingFacts:
    """What a fund_proposal decision needs to know about its proposal."""

    proposal_id: int
    title: str
    window_id: int
    amount: int  # minor units of the reporting currency
    countries: tuple[str, ...]
    consolidated_score: str | None
    tag_recommendation: str | None  # "recommended", "not_recommended" or None


@dataclass(frozen=True, slots=True)
class ProposalSummary:
    """What the members read about a proposal put to them (the decision page): its summary, the countries
    with their shares, the budget, and the documents attached (id, file name)."""

    proposal_id: int
    title: str
    summary: str
    organisation: str
    requested: Money
    duration_months: int
    countries: tuple[tuple[str, Decimal], ...]  # (ISO alpha-3, share in percent)
    budget: tuple[tuple[str, Money], ...]  # (harmonised category, amount)
    attachments: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class HookContext:
    session: AsyncSession
    settings: Settings
    user: Principal | None
    now: datetime


class FundingHandler(Protocol):
    """Implemented by proposals; governance cannot import it (the dependency goes the other way)."""

    async def facts(self, ctx: HookContext, proposal_id: int) -> FundingFacts:
        """The proposal's facts; refuse (DomainError) a proposal that cannot be put to a decision."""
        ...

    async def refer(self, ctx: HookContext, proposal_id: int, justification: str) -> None:
        """Put the proposal under decision (the decision opened)."""
        ...

    async def summary(self, ctx: HookContext, proposal_id: int) -> ProposalSummary:
        """What the members read about the proposal (NotFound when there is none)."""
        ...

    async def decided(
        self, ctx: HookContext, proposal_id: int, decision_id: int, *, adopted: bool, reason: str
    ) -> int | None:
        """Approve or reject the proposal inside the closing transaction; return the new grant's id."""
        ...


_funding_handler: FundingHandler | None = None


def register_funding_handler(handler: FundingHandler) -> None:
    global _funding_handler
    _funding_handler = handler


def funding_handler() -> FundingHandler:
    if _funding_handler is None:
        raise Conflict("no handler for funding decisions is registered", rule="funding-handler")
    return _funding_handler


# ---------------------------------------------------------------- the concessional hook (concessional registers it)


@dataclass(frozen=True, slots=True)
class ConcessionalFacts:
    """What a concessional decision (financing, cancellation, restructuring) needs to know about its
    financing request, checked against the facility when the decision is created."""

    request_id: int
    proposal_id: int
    window_id: int
    # The budgetary funds the adopted decision takes from the window (minor units, reporting currency): the
    # grant of a financing decision, the increase of a restructuring; 0 when it only releases.
    amount: int
    countries: tuple[str, ...]
    terms: Mapping[str, Any]  # the request's terms the members read (JSON values)


class ConcessionalHandler(Protocol):
    """Implemented by concessional; governance cannot import it (the dependency goes the other way)."""

    async def facts(self, ctx: HookContext, kind: str, data: Any) -> ConcessionalFacts:
        """A new decision's facts (``data``: its validated input); refuse (DomainError) one that cannot be
        put to the members."""
        ...

    async def problem(self, ctx: HookContext, kind: str, terms: Mapping[str, Any]) -> str | None:
        """Why the adopted decision could no longer take effect (None: it can)."""
        ...

    async def adopt(self, ctx: HookContext, request_id: int, decision_id: int) -> int:
        """An adopted financing decision: the request approved and its grant created; the grant's id."""
        ...

    async def change(self, ctx: HookContext, kind: str, decision_id: int, terms: Mapping[str, Any]) -> int | None:
        """An adopted cancellation or restructuring, posted; the id of its (first) journal entry, if any."""
        ...

    async def declined(self, ctx: HookContext, kind: str, decision_id: int, terms: Mapping[str, Any]) -> None:
        """The members did not adopt the decision (the request of a financing decision is not approved)."""
        ...


_concessional_handler: ConcessionalHandler | None = None


def register_concessional_handler(handler: ConcessionalHandler) -> None:
    global _concessional_handler
    _concessional_handler = handler


def concessional_handler() -> ConcessionalHandler:
    if _concessional_handler is None:
        raise Conflict("no handler for concessional decisions is registered", rule="concessional-handler")
    return _concessional_handler


# ---------------------------------------------------------------- helpers


timestamp = audit.timestamp  # the one canonical UTC format of hashed records


def event_public(event: DecisionEvent) -> dict[str, Any]:
    """An event as published in the record, exactly the fields its hash covers plus the hash."""
    return {
        "decision_id": event.decision_id,
        "seq": event.seq,
        "kind": event.kind,
        "member": event.member_code,
        "choice": event.choice,
        "reason": event.reason,
        "data": json.loads(event.data),
        "at": timestamp(event.at),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def event_values(event: DecisionEvent) -> dict[str, Any]:
    """An event's columns as the parameters of the chain's and the ballot's statements (``p_<column>``)."""
    return {f"p_{name}": getattr(event, name) for name in _EVENT_COLUMNS}


def terms_of(decision: Decision) -> dict[str, Any]:
    """The decision's terms, their money in the one shape whichever shape it was stored in."""
    return rules.terms_in_one_shape(json.loads(decision.terms))


# ---------------------------------------------------------------- the ballot's statements
# A ballot is the hot path of a vote (a whole electorate on many decisions at once). Its statements are
# built once, on the tables, with named parameters: SQLAlchemy then neither rebuilds nor re-keys them per
# request, and they skip the ORM's bulk-DML layer. On PostgreSQL the three writes (the chain's event, the
# decision's new head, the member's current ballot) go to the server as one statement. Parameters are named
# p_<column of the event> (a name of its own, so an UPDATE's WHERE never shadows a column it sets).


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


_DECISIONS, _EVENTS, _BALLOTS = _table(Decision), _table(DecisionEvent), _table(Ballot)
_MEMBERS, _RECUSALS, _ROLL = _table(Member), _table(Recusal), _table(DecisionRoll)
_EVENT_COLUMNS = tuple(column.name for column in _EVENTS.c if column.name != "id")


def _param(table: Table, column: str, name: str | None = None) -> BindParameter[Any]:
    return bindparam(f"p_{name or column}", type_=table.c[column].type)


_BALLOT_LOCK = (
    select(
        _DECISIONS.c.status,
        _DECISIONS.c.procedure,
        _DECISIONS.c.closes_at,
        _DECISIONS.c.closed_at,
        _DECISIONS.c.events,
        _DECISIONS.c.chain_head,
        _DECISIONS.c.roll_size,
    )
    .where(_DECISIONS.c.id == bindparam("p_decision_id"))
    .with_for_update()
)
# The member's status, its recusal, its current ballot and whether it is on the decision's roll, read after
# the decision's lock is taken (so a recusal or another delegate's ballot committed while this one waited is
# seen). Each outer join is on a primary key.
_MEMBER_FACTS = (
    select(_MEMBERS.c.status, _RECUSALS.c.reason, _BALLOTS.c.choice, _ROLL.c.member_code.label("on_roll"))
    .select_from(
        _MEMBERS.outerjoin(
            _RECUSALS,
            and_(_RECUSALS.c.decision_id == bindparam("p_decision_id"), _RECUSALS.c.member_code == _MEMBERS.c.code),
        )
        .outerjoin(
            _BALLOTS,
            and_(_BALLOTS.c.decision_id == bindparam("p_decision_id"), _BALLOTS.c.member_code == _MEMBERS.c.code),
        )
        .outerjoin(
            _ROLL,
            and_(_ROLL.c.decision_id == bindparam("p_decision_id"), _ROLL.c.member_code == _MEMBERS.c.code),
        )
    )
    .where(_MEMBERS.c.code == bindparam("p_member_code"))
)
# The member's facts on many decisions at once (the dashboard, the register): one row per decision.
_MEMBER_FACTS_MANY = (
    select(
        _DECISIONS.c.id.label("decision_id"),
        _MEMBERS.c.status,
        _RECUSALS.c.reason,
        _BALLOTS.c.choice,
        _ROLL.c.member_code.label("on_roll"),
    )
    .select_from(
        _DECISIONS.join(_MEMBERS, _MEMBERS.c.code == bindparam("p_member_code"))
        .outerjoin(
            _RECUSALS,
            and_(_RECUSALS.c.decision_id == _DECISIONS.c.id, _RECUSALS.c.member_code == _MEMBERS.c.code),
        )
        .outerjoin(_BALLOTS, and_(_BALLOTS.c.decision_id == _DECISIONS.c.id, _BALLOTS.c.member_code == _MEMBERS.c.code))
        .outerjoin(_ROLL, and_(_ROLL.c.decision_id == _DECISIONS.c.id, _ROLL.c.member_code == _MEMBERS.c.code))
    )
    .where(_DECISIONS.c.id.in_(bindparam("p_ids", expanding=True)))
)
_ROLL_INSERT = insert(_ROLL)
_EVENT_INSERT = insert(_EVENTS).values({name: _param(_EVENTS, name) for name in _EVENT_COLUMNS})
_HEAD_UPDATE = (
    update(_DECISIONS)
    .where(_DECISIONS.c.id == bindparam("p_decision_id"))
    .values(events=_param(_DECISIONS, "events", "seq"), chain_head=_param(_DECISIONS, "chain_head", "hash"))
)
_CURRENT_BALLOT = {
    "choice": _param(_BALLOTS, "choice"),
    "event_seq": _param(_BALLOTS, "event_seq", "seq"),
    "cast_by": _param(_BALLOTS, "cast_by"),
    "cast_at": _param(_BALLOTS, "cast_at", "at"),
}
_BALLOT_INSERT = insert(_BALLOTS).values(
    decision_id=bindparam("p_decision_id"), member_code=bindparam("p_member_code"), **_CURRENT_BALLOT
)
_BALLOT_UPDATE = (
    update(_BALLOTS)
    .where(_BALLOTS.c.decision_id == bindparam("p_decision_id"), _BALLOTS.c.member_code == bindparam("p_member_code"))
    .values(**_CURRENT_BALLOT)
)
# A ballot's three writes (the chain's event, its new head, the member's current ballot: new or replaced),
# sent together (fundapp.core.together: one statement where the database allows).
_BALLOT_WRITES = {
    False: together.together("ballot", _EVENT_INSERT, _HEAD_UPDATE, _BALLOT_INSERT),
    True: together.together("ballot", _EVENT_INSERT, _HEAD_UPDATE, _BALLOT_UPDATE),
}


@dataclass(frozen=True, slots=True)
class Cast:
    event: DecisionEvent
    replaced: bool


class Decisions(Service):
    """Operations on decisions, bound to one session and one user (None for the scheduler/CLI)."""

    def __init__(self, session: AsyncSession, *, settings: Settings, user: Principal | None, now: datetime) -> None:
        self.bind(Unit(session, settings, user, now))

    def bind(self, unit: Unit) -> None:
        super().bind(unit)
        self.gov = Governance.of(unit)
        self.ledger = self.gov.ledger

    @property
    def charter(self) -> Any:
        return self.settings.charter

    @property
    def hook_context(self) -> HookContext:
        return HookContext(self.session, self.settings, self.user, self.now)

    @property
    def funding(self) -> FundingHandler:
        """The funding handler proposals registers (refused when none is)."""
        return funding_handler()

    @property
    def concessional(self) -> ConcessionalHandler:
        """The concessional handler concessional registers (refused when none is)."""
        return concessional_handler()

    # ---------------------------------------------------------------- reads

    async def get(self, decision_id: int) -> Decision:
        found = await self.session.get(Decision, decision_id)
        if found is None:
            raise NotFound(f"no decision with id {decision_id}")
        return found

    async def _locked(self, decision_id: int) -> Decision:
        """The decision row, locked until the transaction ends (SQLite: the writer lock is held already)."""
        found = (
            await self.session.execute(
                select(Decision)
                .where(col(Decision.id) == decision_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no decision with id {decision_id}")
        return found

    async def events(self, decision_id: int) -> list[DecisionEvent]:
        return list(
            (
                await self.session.execute(
                    select(DecisionEvent)
                    .where(col(DecisionEvent.decision_id) == decision_id)
                    .order_by(col(DecisionEvent.seq))
                )
            ).scalars()
        )

    async def recusals(self, decision_id: int) -> list[Recusal]:
        return list(
            (
                await self.session.execute(
                    select(Recusal).where(col(Recusal.decision_id) == decision_id).order_by(col(Recusal.member_code))
                )
            ).scalars()
        )

    async def ballot_of(self, decision_id: int, member_code: str) -> Ballot | None:
        return await self.session.get(Ballot, (decision_id, member_code))

    async def ballots_cast(self, decision_id: int) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).select_from(Ballot).where(col(Ballot.decision_id) == decision_id)
                )
            ).scalar_one()
        )

    # The same facts for a page of decisions, one statement each whatever the page's length (the register).

    async def recusals_many(self, decision_ids: Sequence[int]) -> dict[int, list[Recusal]]:
        found: dict[int, list[Recusal]] = {decision_id: [] for decision_id in decision_ids}
        if decision_ids:
            rows = await self.session.execute(
                select(Recusal)
                .where(col(Recusal.decision_id).in_(list(decision_ids)))
                .order_by(col(Recusal.decision_id), col(Recusal.member_code))
            )
            for recusal in rows.scalars():
                found[recusal.decision_id].append(recusal)
        return found

    async def ballots_of(self, decision_ids: Sequence[int], member_code: str) -> dict[int, Ballot]:
        """The member's current ballot on each of the decisions that has one."""
        if not decision_ids:
            return {}
        rows = await self.session.execute(
            select(Ballot).where(
                col(Ballot.decision_id).in_(list(decision_ids)), col(Ballot.member_code) == member_code
            )
        )
        return {ballot.decision_id: ballot for ballot in rows.scalars()}

    async def ballots_cast_many(self, decision_ids: Sequence[int]) -> dict[int, int]:
        found = dict.fromkeys(decision_ids, 0)
        if decision_ids:
            rows = await self.session.execute(
                select(col(Ballot.decision_id), func.count())
                .where(col(Ballot.decision_id).in_(list(decision_ids)))
                .group_by(col(Ballot.decision_id))
            )
            found.update({int(decision_id): int(count) for decision_id, count in rows.all()})
        return found

    async def window_codes(self, window_ids: Sequence[int]) -> dict[int, str]:
        if not window_ids:
            return {}
        rows = await self.session.execute(select(Window).where(col(Window.id).in_(list(window_ids))))
        return {window.id: window.code for window in rows.scalars() if window.id is not None}

    def results_visible(self, decision: Decision) -> bool:
        """The one rule on secrecy: results and the record are published at the close, or while the
        decision is open when the charter makes them visible."""
        return decision.status == DecisionStatus.CLOSED.value or (
            decision.status == DecisionStatus.OPEN.value and self.charter.results_visible_before_close
        )

    def ensure_record_published(self, decision: Decision) -> None:
        if not self.results_visible(decision):
            raise Conflict(
                f"decision {decision.id} is {decision.status}; its record is published when it closes",
                rule="record-after-close",
            )

    async def running_tally(self, decision: Decision) -> dict[str, Any]:
        """The count so far, as the close would make it now (shown only when the charter allows)."""
        _, tally = await self._count(decision.id or 0)
        return tally.as_dict()

    async def _count(self, decision_id: int) -> tuple[rules.Replayed, rules.Tally]:
        """(the chain replayed, its tally): the events counted over the roll of the opening, or, for a
        decision opened before rolls were recorded, over the members eligible now (its close)."""
        state = rules.replay([event_public(e) for e in await self.events(decision_id)])
        if state.members is None:
            state = rules.with_roll_at_close(state, await self._eligible_now())
        tally = state.tally()
        assert tally is not None
        return state, tally

    async def window_code(self, window_id: int | None) -> str | None:
        if window_id is None:
            return None
        window = await self.session.get(Window, window_id)
        return None if window is None else window.code

    async def available(self, window_id: int | None) -> int:
        """Funds the members may still allocate: the budgetary 8200 balance of a window (None: pooled).

        Postings to 8200 carry only the window dimension (see docs/chart-of-accounts.md)."""
        amount, _ = await self.ledger.balance(chart.AVAILABLE, self.settings.reporting_currency, window_id=window_id)
        return amount

    # ---------------------------------------------------------------- creating and opening

    async def create(self, data: DecisionCreate | DecisionInput) -> Decision:
        """A new decision (a draft, or opened at once), its terms validated for its kind by its schema
        (``DecisionCreate``) and checked against the facility by the kind's handler (``governance.kinds``)."""
        if isinstance(data, DecisionCreate):
            data = data.root
        spec = kind_spec(data.kind)
        rule = self.charter.decision_rule(spec.charter_rule)
        procedure = (data.procedure or Procedure(rule.default_procedure)).value
        if procedure not in rule.allowed_procedures:
            raise InvalidInput(
                f"the charter allows {', '.join(rule.allowed_procedures)} for a {data.kind.value} decision, "
                f"not {procedure}",
                field="procedure",
                rule="charter-procedure",
                allowed=list(rule.allowed_procedures),
            )
        if data.closes_at <= self.now:
            raise InvalidInput("the closing time must be in the future", field="closes_at", rule="closes-in-future")
        if data.closes_at - self.now > MAX_OPEN_PERIOD:
            raise InvalidInput("a decision stays open at most a year", field="closes_at", rule="max-open-period")
        new = await spec.terms(self, data)
        subject, facts = new.subject, new.facts
        if spec.one_per_subject:
            pending = (
                await self.session.execute(
                    select(col(Decision.id)).where(
                        col(Decision.subject) == subject,
                        col(Decision.kind).in_({data.kind.value, *spec.shares_subject_with}),
                        col(Decision.status) != DecisionStatus.CLOSED.value,
                    )
                )
            ).first()
            if pending is not None:
                raise Conflict(
                    f"decision {pending[0]} on {subject} is still pending; close it first",
                    rule="one-pending-decision-per-subject",
                    decision_id=pending[0],
                )
        if facts is not None and facts.tag_recommendation != "recommended" and not data.justification:
            raise InvalidInput(
                "the TAG did not recommend this proposal: a written justification is required",
                field="justification",
                rule="justify-against-tag",
            )
        decision = Decision(
            kind=data.kind.value,
            subject=subject,
            title=data.title,
            text=data.text,
            terms=canonical_json(new.terms),
            procedure=procedure,
            quorum=str(rule.quorum),
            majority=rule.majority,
            justification=data.justification,
            window_id=new.window_id,
            amount=new.amount,
            status=DecisionStatus.DRAFT.value,
            closes_at=data.closes_at,
            created_by=self.actor.user_id,
            created_at=self.now,
        )
        self.session.add(decision)
        await self.session.flush()
        await self._audit("decision.create", decision, after={"kind": decision.kind, "subject": subject})
        if data.open:
            await self.open(decision)
        return decision

    async def open(self, decision: Decision | int) -> Decision:
        decision = await self._locked(decision if isinstance(decision, int) else decision.id or 0)
        if decision.status != DecisionStatus.DRAFT.value:
            raise Conflict(f"decision {decision.id} is {decision.status}, not a draft", rule="open-a-draft")
        if decision.closes_at <= self.now:
            raise Conflict(
                "its closing time has passed; create a new decision", field="closes_at", rule="closes-in-future"
            )
        spec = kind_spec(decision.kind)
        if spec.money is not None:
            await self._guard_money(decision, at="open")
        terms = terms_of(decision)
        if spec.on_proposal:
            await self.funding.refer(self.hook_context, int(terms["proposal_id"]), decision.justification)
        # The roll: the members eligible now. Whoever is admitted, suspended or withdraws later changes
        # nothing in this decision.
        roll = await self._eligible_now()
        decision.status = DecisionStatus.OPEN.value
        decision.opens_at = self.now
        decision.roll_size = len(roll)
        await self._append(
            decision,
            "opened",
            data={
                "kind": decision.kind,
                "subject": decision.subject,
                "title": decision.title,
                "text": decision.text,
                "terms": terms,
                "procedure": decision.procedure,
                "quorum": decision.quorum,
                "majority": decision.majority,
                "justification": decision.justification,
                "closes_at": timestamp(decision.closes_at),
                "roll": roll,
            },
        )
        if roll:
            await self.session.execute(_ROLL_INSERT, [{"decision_id": decision.id, "member_code": c} for c in roll])
        if spec.on_proposal and self.charter.auto_recuse_beneficiary_members:
            # After the roll: a country of the proposal on the roll steps aside.
            for code in sorted(set(terms.get("countries", [])) & set(roll)):
                await self._recuse(
                    decision, code, "a country of the proposal (automatic recusal by charter)", automatic=True
                )
        await self._audit("decision.open", decision, after={"procedure": decision.procedure})
        return decision

    async def _guard_money(self, decision: Decision, *, at: str) -> str | None:
        """Refuse (at the open) or report (at the close) a decision the funds do not cover."""
        amount = decision.amount or 0
        money = kind_spec(decision.kind).money
        source = decision.window_id if money is not None and money.source == FundsSource.WINDOW else None
        available = await self.available(source)
        if available >= amount:
            return None
        where = "the window" if source is not None else "the pooled funds"
        reporting = self.settings.reporting_currency
        message = (
            f"{where} has {Money.from_minor(available, reporting)} available, "
            f"{Money.from_minor(amount, reporting)} is needed"
        )
        if at == "open":
            raise Conflict(f"insufficient funds: {message}", field="amount", rule="funds-available")
        return message

    # ---------------------------------------------------------------- the chain

    async def _append(
        self,
        decision: Decision,
        kind: str,
        *,
        member: str | None = None,
        choice: str | None = None,
        reason: str = "",
        data: dict[str, Any] | None = None,
    ) -> DecisionEvent:
        """Append an event to the decision's chain; the caller holds the decision's row lock."""
        assert decision.id is not None
        event = await self._append_event(
            decision.id,
            decision.events,
            decision.chain_head,
            kind,
            member=member,
            choice=choice,
            reason=reason,
            data=data,
        )
        # The row was updated by _append_event; keep the loaded object in step without a second UPDATE.
        set_committed_value(decision, "events", event.seq)
        set_committed_value(decision, "chain_head", event.hash)
        return event

    def _next_event(
        self,
        decision_id: int,
        events: int,
        head: str,
        kind: str,
        *,
        member: str | None = None,
        choice: str | None = None,
        reason: str = "",
        data: dict[str, Any] | None = None,
    ) -> DecisionEvent:
        """The next event of a chain whose length and head the caller read under the row lock (not written)."""
        values = rules.next_event(
            decision_id,
            events,
            head,
            kind,
            at=self.now,
            cast_by=self.actor.user_id,
            member=member,
            choice=choice,
            reason=reason,
            data=data,
        )
        return DecisionEvent(**values)

    async def _append_event(self, decision_id: int, events: int, head: str, kind: str, **fields: Any) -> DecisionEvent:
        """Write the next event of the chain and advance the decision's head."""
        event = self._next_event(decision_id, events, head, kind, **fields)
        values = event_values(event)
        # Through the session, which first flushes what the caller changed (a recusal, a new procedure).
        await self.session.execute(_EVENT_INSERT, values)
        await self.session.execute(_HEAD_UPDATE, values)
        return event

    # ---------------------------------------------------------------- what members do

    def _delegate_of(self, member_code: str | None) -> str:
        user = self.user
        if user is None or not user.has_role(Role.MEMBER_DELEGATE) or user.member_code is None:
            raise PermissionDenied(
                "only a member state's delegate acts for a member on a decision", rule="delegate-only"
            )
        if member_code is not None and member_code != user.member_code:
            raise PermissionDenied(
                f"a delegate of {user.member_code} acts only for {user.member_code}, not for {member_code}",
                field="member_code",
                rule="own-member-only",
            )
        return user.member_code

    async def _open_for(self, decision_id: int, action: str) -> Decision:
        decision = await self._locked(decision_id)
        self._check_open(decision_id, decision.status, decision.closes_at, decision.closed_at, action)
        return decision

    def _check_open(
        self, decision_id: int, status: str, closes_at: datetime, closed_at: datetime | None, action: str
    ) -> None:
        if status == DecisionStatus.DRAFT.value:
            raise Conflict(f"decision {decision_id} is not open yet", rule="decision-open")
        if status == DecisionStatus.CLOSED.value or closes_at <= self.now:
            raise Conflict(
                f"decision {decision_id} closed at {timestamp(closed_at or closes_at)}; "
                f"no {action} is accepted after the close",
                rule="decision-open",
            )

    async def _member_facts(self, decision: Decision, code: str) -> Any:
        """The member's facts on a decision (see ``_MEMBER_FACTS``), or None when it is no member."""
        return (
            await self.session.execute(_MEMBER_FACTS, {"p_decision_id": decision.id, "p_member_code": code})
        ).first()

    async def _eligible(self, decision: Decision, code: str) -> None:
        assert decision.id is not None
        await self._check_eligible(decision.id, code, await self._member_facts(decision, code), decision.roll_size)

    async def _check_eligible(self, decision_id: int, code: str, facts: Any, roll_size: int | None) -> None:
        """Whether the member takes part in the decision: on its roll and not recused. ``facts`` is the row of
        ``_MEMBER_FACTS`` (status, recusal reason, current ballot, on the roll), or None when it is no member.

        The roll was fixed at the opening, so a member's status since changes nothing in the decision: a
        member admitted later never takes part, one suspended or withdrawn since keeps its part in it. A
        decision opened before rolls were recorded (``roll_size`` None) asks, as then, for an active member
        whose voting rights are not suspended for arrears."""
        if roll_size is not None:
            self._check_on_roll(decision_id, code, facts)
        else:
            if facts is None or facts.status != MemberStatus.ACTIVE.value:
                status = "unknown" if facts is None else facts.status
                raise PermissionDenied(
                    f"member {code} is {status}; only active members take part", rule="active-member"
                )
            if self.charter.arrears_suspend_voting:
                arrears = (await self.gov.arrears(code)).get(code, [])
                suspended, reason = self.gov.voting_rights(arrears)
                if suspended:
                    raise PermissionDenied(f"member {code}'s voting rights are suspended: {reason}", rule="arrears")
        if facts.reason is not None:
            raise PermissionDenied(
                f"member {code} is recused from decision {decision_id}: {facts.reason}", rule="recused"
            )

    @staticmethod
    def _check_on_roll(decision_id: int, code: str, facts: Any) -> None:
        if facts is None or facts.on_roll is None:
            raise PermissionDenied(
                f"member {code} is not on the roll of decision {decision_id}: only the members eligible when it "
                "opened take part in it (members admitted since do not)",
                field="member_code",
                rule="not-on-roll",
            )

    async def roll(self, decision_id: int) -> list[str]:
        """The members on the decision's roll (empty for a decision opened before rolls were recorded)."""
        return list(
            (
                await self.session.execute(
                    select(col(DecisionRoll.member_code))
                    .where(col(DecisionRoll.decision_id) == decision_id)
                    .order_by(col(DecisionRoll.member_code))
                )
            ).scalars()
        )

    async def cast(self, decision_id: int, choice: str, *, member_code: str | None = None) -> Cast:
        """One ballot: the decision under its row lock, then the member's facts, then the writes (see the
        ballot's statements above)."""
        code = self._delegate_of(member_code)
        connection = await self.session.connection()
        locked = (await connection.execute(_BALLOT_LOCK, {"p_decision_id": decision_id})).first()
        if locked is None:
            raise NotFound(f"no decision with id {decision_id}")
        status, procedure, closes_at, closed_at, events, head, roll_size = locked
        self._check_open(decision_id, status, closes_at, closed_at, "ballot")
        if procedure != Procedure.VOTE.value:
            raise Conflict(
                f"decision {decision_id} is decided by {procedure}, not by vote",
                rule="procedure-vote",
                procedure=procedure,
            )
        facts = (await connection.execute(_MEMBER_FACTS, {"p_decision_id": decision_id, "p_member_code": code})).first()
        await self._check_eligible(decision_id, code, facts, roll_size)
        assert facts is not None
        plan = rules.plan_ballot(
            decision_id,
            events,
            head,
            member=code,
            choice=choice,
            current=facts.choice,
            at=self.now,
            cast_by=self.actor.user_id,
        )
        event = DecisionEvent(**plan.event)
        await together.run(connection, _BALLOT_WRITES[plan.replaced], event_values(event))
        return Cast(event, replaced=plan.replaced)

    async def withdraw_ballot(self, decision_id: int, *, member_code: str | None = None) -> DecisionEvent:
        """Withdraw the member's current ballot before the close (vote procedure): the member then has no
        ballot, as if it had not voted; the withdrawal is an event of the chain (its receipt)."""
        code = self._delegate_of(member_code)
        decision = await self._open_for(decision_id, "withdrawal")
        if decision.procedure != Procedure.VOTE.value:
            raise Conflict(
                f"decision {decision_id} is decided by {decision.procedure}, not by vote",
                rule="procedure-vote",
                procedure=decision.procedure,
            )
        await self._eligible(decision, code)
        ballot = await self.ballot_of(decision_id, code)
        if ballot is None:
            raise Conflict(f"member {code} has no ballot to withdraw on decision {decision_id}", rule="no-ballot")
        await self.session.delete(ballot)
        return await self._append(decision, "ballot_withdrawn", member=code)

    async def participation(self, decision: Decision, member_code: str | None) -> tuple[str | None, str]:
        """Whether ``member_code``'s delegate may act on the decision now: (None, "") when it may, else the
        refusal's rule and reason, from the same checks a ballot, objection or recusal runs (nothing written)."""
        assert decision.id is not None
        try:
            if member_code is None:
                raise PermissionDenied(
                    "only a member state's delegate acts for a member on a decision", rule="delegate-only"
                )
            self._check_open(decision.id, decision.status, decision.closes_at, decision.closed_at, "ballot")
            await self._eligible(decision, member_code)
        except DomainError as refused:
            return refused.rule or refused.slug, refused.detail
        return None, ""

    async def participation_many(
        self, decisions: Sequence[Decision], member_code: str | None
    ) -> dict[int, tuple[str | None, str, str | None]]:
        """``participation`` for many decisions at once, with the member's current ballot on each:
        decision id -> (refusal rule or None, its reason, the member's choice or None). One statement reads
        the member's facts on every decision; each is then checked as a ballot checks it."""
        found: dict[int, tuple[str | None, str, str | None]] = {}
        ids = [d.id for d in decisions if d.id is not None]
        facts: dict[int, Any] = {}
        if member_code is not None and ids:
            rows = await self.session.execute(_MEMBER_FACTS_MANY, {"p_member_code": member_code, "p_ids": ids})
            facts = {int(row.decision_id): row for row in rows}
        for decision in decisions:
            assert decision.id is not None
            row = facts.get(decision.id)
            try:
                if member_code is None:
                    raise PermissionDenied(
                        "only a member state's delegate acts for a member on a decision", rule="delegate-only"
                    )
                self._check_open(decision.id, decision.status, decision.closes_at, decision.closed_at, "ballot")
                await self._check_eligible(decision.id, member_code, row, decision.roll_size)
            except DomainError as refused:
                found[decision.id] = (refused.rule or refused.slug, refused.detail, row.choice if row else None)
                continue
            found[decision.id] = (None, "", row.choice if row else None)
        return found

    async def receipt_of(self, decision_id: int, member_code: str) -> DecisionEvent | None:
        """The member's latest ballot event (its receipt), if its ballot stands."""
        if await self.ballot_of(decision_id, member_code) is None:
            return None
        return (
            await self.session.execute(
                select(DecisionEvent)
                .where(
                    col(DecisionEvent.decision_id) == decision_id,
                    col(DecisionEvent.member_code) == member_code,
                    col(DecisionEvent.kind) == "ballot",
                )
                .order_by(col(DecisionEvent.seq).desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def _recuse(self, decision: Decision, code: str, reason: str, *, automatic: bool) -> Recusal:
        assert decision.id is not None
        recusal = Recusal(
            decision_id=decision.id,
            member_code=code,
            reason=reason,
            automatic=automatic,
            declared_by=None if automatic else self.actor.user_id,
            declared_at=self.now,
        )
        self.session.add(recusal)
        withdrawn = await self.ballot_of(decision.id, code)
        if withdrawn is not None:
            await self.session.delete(withdrawn)
        await self._append(decision, "recusal", member=code, reason=reason, data={"automatic": automatic})
        return recusal

    async def recuse(self, decision_id: int, reason: str, *, member_code: str | None = None) -> Recusal:
        code = self._delegate_of(member_code)
        decision = await self._open_for(decision_id, "recusal")
        facts = await self._member_facts(decision, code)
        if facts is not None and facts.reason is not None:
            raise Conflict(f"member {code} is already recused from decision {decision_id}", rule="recused-once")
        if decision.roll_size is not None:
            self._check_on_roll(decision_id, code, facts)
        elif facts is None or facts.status != MemberStatus.ACTIVE.value:
            # Opened before rolls were recorded: as then, any active member may recuse.
            raise PermissionDenied(f"member {code} is not an active member", rule="active-member")
        recusal = await self._recuse(decision, code, reason, automatic=False)
        return recusal

    async def object(self, decision_id: int, reason: str, *, member_code: str | None = None) -> Decision:
        """An objection under the written procedure: a vote opens at once, or (charter) the proposal fails."""
        code = self._delegate_of(member_code)
        decision = await self._open_for(decision_id, "objection")
        if decision.procedure != Procedure.NO_OBJECTION.value:
            raise Conflict(
                f"decision {decision_id} is decided by {decision.procedure}; objections are for the written procedure",
                rule="procedure-no-objection",
            )
        await self._eligible(decision, code)
        await self._append(decision, "objection", member=code, reason=reason)
        if self.charter.objection_rejects:
            await self._close(decision)
        else:
            closes_at = max(decision.closes_at, self.now + OBJECTION_VOTE_PERIOD)
            decision.procedure = Procedure.VOTE.value
            decision.closes_at = closes_at
            await self._append(
                decision,
                "procedure_changed",
                member=code,
                reason="an objection turns the written procedure into a vote",
                data={"procedure": Procedure.VOTE.value, "closes_at": timestamp(closes_at)},
            )
        return decision

    async def record_meeting(self, decision_id: int, data: MeetingRecord) -> Decision:
        """The chair's record of a consensus meeting; it closes the decision."""
        decision = await self._open_for(decision_id, "meeting record")
        if decision.procedure != Procedure.CONSENSUS.value:
            raise Conflict(
                f"decision {decision_id} is decided by {decision.procedure}, not by consensus",
                rule="procedure-consensus",
            )
        present, objectors = sorted(set(data.present)), sorted(set(data.objectors))
        problems = []
        known = set(
            (await self.session.execute(select(col(Member.code)).where(col(Member.code).in_(present)))).scalars()
        )
        roll = None if decision.roll_size is None else set(await self.roll(decision.id or 0))
        for index, code in enumerate(data.present):
            if code not in known:
                problems.append(FieldError(f"present.{index}", "member-exists", f"{code} is not a member"))
            elif roll is not None and code not in roll:
                problems.append(
                    FieldError(
                        f"present.{index}",
                        "not-on-roll",
                        f"{code} was not on the roll of decision {decision.id} when it opened; "
                        "only members on it are counted at its meeting",
                    )
                )
        for index, code in enumerate(data.objectors):
            if code not in present:
                problems.append(
                    FieldError(f"objectors.{index}", "objector-present", f"{code} objected but is not listed present")
                )
        if problems:
            raise InvalidInput(problems[0].message, errors=problems)
        await self._append(decision, "meeting", reason=data.notes, data={"present": present, "objectors": objectors})
        await self._close(decision)
        return decision

    # ---------------------------------------------------------------- closing

    async def close(self, decision_id: int) -> Decision:
        """Close a decision whose deadline has passed (secretariat, scheduler, or any read of it)."""
        decision = await self._locked(decision_id)
        if decision.status == DecisionStatus.CLOSED.value:
            return decision
        if decision.status == DecisionStatus.DRAFT.value:
            raise Conflict(f"decision {decision_id} was never opened", rule="decision-open")
        if decision.closes_at > self.now:
            raise Conflict(
                f"decision {decision_id} is open until {timestamp(decision.closes_at)}; it closes then",
                rule="close-after-deadline",
            )
        if decision.procedure == Procedure.CONSENSUS.value:
            # A consensus decision without a meeting record by its deadline lapses: nobody was present.
            await self._append(
                decision,
                "meeting",
                reason="no meeting was recorded by the deadline",
                data={"present": [], "objectors": []},
            )
        await self._close(decision)
        return decision

    async def _eligible_now(self) -> list[str]:
        """The members eligible now, sorted: active, and not suspended for arrears when the charter says so.
        A decision's roll when it opens (and the close's, for a decision opened before rolls were recorded)."""
        codes = list(
            (
                await self.session.execute(
                    select(col(Member.code)).where(col(Member.status) == MemberStatus.ACTIVE.value)
                )
            ).scalars()
        )
        if not self.charter.arrears_suspend_voting:
            return sorted(codes)
        arrears = await self.gov.arrears()
        return sorted(c for c in codes if not self.gov.voting_rights(arrears.get(c, []))[0])

    async def _close(self, decision: Decision) -> None:
        """Count the chain, apply an adopted decision's effect and record the result: one transaction,
        under the decision's lock (and, for money, the journal's writer lock)."""
        assert decision.id is not None
        state, tally = await self._count(decision.id)
        spec, terms = kind_spec(decision.kind), terms_of(decision)
        adopted, reason = rules.close_outcome(tally)
        if adopted and spec.money is not None:
            # The journal's writer lock serialises every posting, so two decisions closing together see
            # each other's allocation: the window can never be overspent.
            await self.ledger.lock()
            adopted, reason = rules.close_outcome(tally, short=await self._guard_money(decision, at="close"))
        if adopted:
            adopted, reason = rules.close_outcome(tally, problem=await _effect_problem(self, decision, terms))
        entry_id = await spec.apply(self, decision, terms) if adopted else None
        if spec.on_proposal and not adopted:
            await self.funding.decided(
                self.hook_context, int(terms["proposal_id"]), decision.id, adopted=False, reason=reason
            )
        if spec.declined is not None and not adopted:
            await spec.declined(self, decision, terms)
        plan = rules.plan_close(state, tally, adopted=adopted, reason=reason)
        await self._append(decision, "closed", data=plan.event_data)
        decision.status = DecisionStatus.CLOSED.value
        decision.closed_at = self.now
        decision.result = plan.result
        decision.result_reason = plan.reason
        decision.tally = canonical_json(plan.tally)
        decision.entry_id = entry_id
        self.session.add(decision)
        await self.session.flush()
        await self._audit("decision.close", decision, after={"result": plan.result, "reason": plan.reason})

    async def due(self) -> list[int]:
        """Open decisions whose deadline has passed."""
        return [
            int(decision_id or 0)
            for decision_id in (
                await self.session.execute(
                    select(col(Decision.id))
                    .where(col(Decision.status) == DecisionStatus.OPEN.value, col(Decision.closes_at) <= self.now)
                    .order_by(col(Decision.id))
                )
            ).scalars()
        ]

    async def _audit(self, action: str, decision: Decision, *, after: dict[str, Any]) -> None:
        await self.unit.audit(action, "decision", decision.id, after=after)


async def close_due_decisions(
    database: Any, settings: Settings, now: datetime, decision_ids: list[int] | None = None
) -> list[Decision]:
    """Close every open decision whose deadline has passed (or those of ``decision_ids``), each in its
    own transaction; used by the CLI, the scheduler and reads of a due decision. Returns those this call
    closed (not those another process closed meanwhile)."""
    closed: list[Decision] = []
    async with database.session(write=False) as session:
        due = await Decisions(session, settings=settings, user=None, now=now).due()
    for decision_id in due if decision_ids is None else [d for d in decision_ids if d in due]:
        async with database.session(write=True) as session:
            decisions = Decisions(session, settings=settings, user=None, now=now)
            # Under the decision's lock: another process (a second worker, a read) may have closed it since.
            if (await decisions._locked(decision_id)).status != DecisionStatus.OPEN.value:
                continue
            decision = await decisions.close(decision_id)
            await session.commit()
            closed.append(decision)
    return closed
