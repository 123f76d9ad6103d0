"""One writer for every money command: a plan, worked out before, written in one trip.

A money command has three steps. Its facts reader reads what the command needs (one statement or a few;
the only place besides the core that knows dialects and speed tricks). Its planner, a pure function of the
domain's ``rules.py``, turns the facts and the input into a ``Plan``, or refuses. ``write_plan`` writes it:

- ``entries``: ledger entry drafts, handed in order to a ``Poster`` (the ledger's ``Ledger`` is one: its
  ``post(draft)`` checks and posts a draft, returning the entry with its ``id``). The core imports no
  domain, so a draft is whatever the poster takes;
- ``rows``: new rows, by table name (a table of the shared metadata), inserted as given;
- ``updates``: changes to rows, by table name, each the row's ``id`` and the new values of some columns;
  they are sent after the trip (they may name the entries and rows it inserts), so a plan with updates is
  written in a trip of its own, not inside a caller's ``one_trip`` block;
- ``events``: audit events, recorded in order as the plan's actor at the plan's time.

A row or an event may hold ``EntryId(n)`` where the id of the plan's ``n``-th entry goes (the planner does
not know it: the journal gives it when the entry is posted); the writer puts the id in its place, at the
top level of a row or of an event's ``before``/``after``, or one dict or list further down.

Everything goes to the database in one trip when the caller's ``one_trip`` block ends
(``fundapp.core.writes``), or at the end of ``write_plan`` when the caller has none open: the posters and
``audit.record`` hand their rows to the same block. Several plans (a bank statement's receipts) are
written in one trip by writing each inside one block. A plan of several entries is written in a trip of
its own, its entries posted before it (the poster may read the journal between two of them: an
idempotency key's first use). Nothing is written if anything refuses: the caller's transaction rolls
back whatever was sent before the refusal.

A service method is then three lines (``governance.service``: deposits, bank statements, pledges,
conditions met, assessments)::

    facts = await self._pledge_facts(data)                       # the facts reader
    plan = rules.plan_pledge(facts, data, now=self.now)          # pure: a Plan, or a refusal
    written = await write_plan(self.session, plan, poster=self.ledger, actor=self.actor, at=self.now)

``written.row("pledges")`` is the row as written (its entry id filled in), to build the answer from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from fundapp.core import audit
from fundapp.core.writes import one_trip, pending_writes


@dataclass(frozen=True, slots=True)
class EntryId:
    """Stands in a plan's row or event for the id of the plan's ``n``-th entry, known once it is posted."""

    n: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """An audit event to record (``audit.record``'s fields other than the actor and the time)."""

    action: str
    object_type: str
    object_id: object
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What a command writes: ledger entry drafts, new rows by table name, audit events."""

    entries: tuple[Any, ...] = ()
    rows: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    updates: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    events: tuple[Event, ...] = ()


class Poster(Protocol):
    """Posts one ledger entry draft in the caller's transaction (``Ledger`` is one)."""

    async def post(self, draft: Any, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class Written:
    """What ``write_plan`` wrote: the poster's answer for each entry, the rows and the updates with their
    entry ids."""

    entries: tuple[Any, ...]
    rows: Mapping[str, tuple[dict[str, Any], ...]]
    updates: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)

    def row(self, table: str, n: int = 0) -> dict[str, Any]:
        return self.rows[table][n]


async def write_plan(
    session: AsyncSession, plan: Plan, *, poster: Poster | None, actor: audit.Actor, at: datetime
) -> Written:
    """Write ``plan`` in the session's transaction: in the caller's open ``one_trip`` block, or in one of
    its own. ``poster`` posts the plan's entries (it may be None for a plan without any)."""
    post = _poster_of(plan, poster)
    pending = pending_writes(session)
    if pending is not None and (plan.updates or len(plan.entries) > 1):
        raise RuntimeError("a plan with updates or several entries is written in a trip of its own")
    posted: list[Any] = []
    if len(plan.entries) > 1:
        # The poster may read the journal between two entries (an idempotency key's first use), which it
        # cannot do once it has handed an entry to a trip: several entries are posted before the trip.
        posted = [await post(draft) for draft in plan.entries]
    async with AsyncExitStack() as stack:
        if pending is None:
            pending = await stack.enter_async_context(one_trip(session))
        if len(plan.entries) == 1:
            posted = [await post(plan.entries[0])]
        ids = [entry.id for entry in posted]
        rows = {table: tuple(_filled(row, ids) for row in table_rows) for table, table_rows in plan.rows.items()}
        for table, table_rows in rows.items():
            pending.add(SQLModel.metadata.tables[table], table_rows)
        for event in plan.events:
            await audit.record(
                session,
                actor=actor,
                action=event.action,
                object_type=event.object_type,
                object_id=_fill(event.object_id, ids),
                at=at,
                before=None if event.before is None else _filled(event.before, ids),
                after=None if event.after is None else _filled(event.after, ids),
            )
    updates = {table: tuple(_filled(row, ids) for row in table_rows) for table, table_rows in plan.updates.items()}
    for table, changes in updates.items():
        await _update(session, SQLModel.metadata.tables[table], changes)
    return Written(tuple(posted), rows, updates)


def _poster_of(plan: Plan, poster: Poster | None) -> Callable[[Any], Awaitable[Any]]:
    if poster is not None:
        return poster.post
    if plan.entries:
        raise ValueError("a plan with ledger entries needs a poster")
    return _no_post


async def _no_post(draft: Any) -> Any:
    raise AssertionError("a plan without entries posts nothing")


async def _update(session: AsyncSession, table: Table, changes: Sequence[Mapping[str, Any]]) -> None:
    """Each change's columns set on the row of its ``id`` (one statement per shape of change)."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        columns = tuple(name for name in change if name != "id")
        shapes.setdefault(columns, []).append({"row_id": change["id"], **{f"new_{n}": change[n] for n in columns}})
    for columns, parameters in shapes.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        await session.execute(statement, parameters)


def _filled(values: Mapping[str, Any], ids: Sequence[int]) -> dict[str, Any]:
    return {name: _fill(value, ids) for name, value in values.items()}


def _fill(value: Any, ids: Sequence[int]) -> Any:
    if isinstance(value, EntryId):
        return ids[value.n]
    if isinstance(value, Mapping):
        return {name: ids[v.n] if isinstance(v, EntryId) else v for name, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(ids[v.n] if isinstance(v, EntryId) else v for v in value)
    return value
