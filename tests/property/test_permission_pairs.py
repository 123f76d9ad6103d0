"""Each object read permission is a pair (``fundapp.core.visibility``): a predicate for one object and a SQL
filter for lists. On generated data, in one database per backend, the filter selects exactly the objects the
predicate allows, for every generated user.

Users hold any set of roles (none included), an organisation (or none, or one without objects) and a member
country (or none, or one no proposal touches). Proposals are in every state, of several organisations,
touching some countries, with reviewer assignments in every status (for the generated users) and reviews;
some have a grant, of any organisation. The predicate judges one object by the same facts the services read
(``proposals.service.proposal_facts``); the filter is the condition the API's lists add.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlmodel import col

from fundapp.core.models import Role, User
from fundapp.core.security import Principal
from fundapp.core.visibility import Visibility
from governance import Window
from proposals.models import Assignment, Call, Grant, GrantStatus, Organisation, Proposal, ProposalCountry, Review
from proposals.permissions import (
    GRANTS,
    PROPOSAL_FULL,
    PROPOSAL_SUMMARY,
    REVIEWS,
    GrantFacts,
    ProposalFacts,
    ReviewFacts,
)
from proposals.service import proposal_facts
from proposals.workflow import State

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ORGANISATIONS = (1, 2, 3)
COUNTRIES = ("MEX", "KEN", "BGD")
ASSIGNMENT_STATUSES = ("assigned", "declared", "reviewed", "conflicted")
USER_BASE = 9000  # the generated users' ids, above any user the migrations create


@dataclass(frozen=True)
class Person:
    roles: frozenset[Role]
    organisation_id: int | None
    member_code: str | None


@dataclass(frozen=True)
class Item:
    organisation_id: int
    state: State
    countries: frozenset[str]
    assignments: dict[int, tuple[str, bool]]  # user index -> (status, has a review)
    grant_organisation: int | None  # the grant's organisation, or no grant


@dataclass(frozen=True)
class World:
    people: list[Person]
    items: list[Item]


# The roles whose clauses depend on the object come up more often (each oversight role sees everything).
ROLES = [Role.GRANTEE, Role.TAG_REVIEWER, Role.MEMBER_DELEGATE] * 3 + list(Role)
people = st.builds(
    Person,
    roles=st.frozensets(st.sampled_from(ROLES), max_size=2),
    organisation_id=st.sampled_from([None, *ORGANISATIONS, 4]),
    member_code=st.sampled_from([None, *COUNTRIES, "FRA"]),
)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    persons = draw(st.lists(people, min_size=1, max_size=5))
    statuses = st.tuples(st.sampled_from(ASSIGNMENT_STATUSES), st.booleans())
    item = st.builds(
        Item,
        organisation_id=st.sampled_from(ORGANISATIONS),
        state=st.sampled_from(list(State)),
        countries=st.frozensets(st.sampled_from(COUNTRIES), max_size=2),
        assignments=st.dictionaries(st.integers(0, len(persons) - 1), statuses, max_size=len(persons)),
        grant_organisation=st.none() | st.sampled_from(ORGANISATIONS),
    )
    return World(persons, draw(st.lists(item, max_size=7)))


def principal(index: int, person: Person) -> Principal:
    return Principal(
        id=USER_BASE + index,
        username=f"pair-{index}",
        roles=person.roles,
        member_code=person.member_code,
        organisation_id=person.organisation_id,
    )


# ---------------------------------------------------------------- the database


async def _fixed_rows(session: AsyncSession) -> int:
    """A window, a call and the organisations every example shares; returns the call's id."""
    window = Window(code="PAIRS", name_en="Pairs", name_es="Pares", name_fr="Paires", status="open", created_at=AT)
    session.add(window)
    await session.flush()
    assert window.id is not None
    call = Call(
        window_id=window.id,
        title="Pairs",
        opens_at=AT,
        closes_at=AT,
        envelope=1,
        min_grant=1,
        max_grant=1,
        rubric="[]",
        reviews_required=1,
        created_at=AT,
    )
    session.add(call)
    session.add_all(
        Organisation(id=o, name=f"Org {o}", type="ngo", country="KEN", due_diligence="cleared", created_at=AT)
        for o in ORGANISATIONS
    )
    await session.commit()
    assert call.id is not None
    return call.id


async def _clear(session: AsyncSession) -> None:
    for model in (Review, Assignment, Grant, ProposalCountry, Proposal):
        await session.execute(delete(model))
    await session.execute(delete(User).where(col(User.id) >= USER_BASE))
    await session.commit()


async def _write(session: AsyncSession, world: World, call: Call) -> None:
    session.add_all(
        User(
            id=USER_BASE + i,
            username=f"pair-{i}",
            full_name="Pair",
            email=f"pair-{i}@example.org",
            password_hash="-",
            created_at=AT,
        )
        for i in range(len(world.people))
    )
    await session.flush()
    for n, item in enumerate(world.items, start=1):
        session.add(
            Proposal(
                id=n,
                organisation_id=item.organisation_id,
                call_id=call.id or 0,
                window_id=call.window_id,
                state=item.state.value,
                title=f"P{n}",
                requested=1,
                gender_marker=0,
                content="{}",
                created_at=AT,
                updated_at=AT,
            )
        )
        await session.flush()
        session.add_all(ProposalCountry(proposal_id=n, country=c, share_bp=1) for c in sorted(item.countries))
        if item.grant_organisation is not None:
            session.add(_grant(n, item.grant_organisation, call.window_id))
        for i, (status, reviewed) in sorted(item.assignments.items()):
            assignment = Assignment(proposal_id=n, reviewer_id=USER_BASE + i, status=status, assigned_at=AT)
            session.add(assignment)
            await session.flush()
            if reviewed:
                session.add(_review(assignment))
    await session.commit()


def _grant(proposal_id: int, organisation_id: int, window_id: int) -> Grant:
    return Grant(
        id=proposal_id,
        proposal_id=proposal_id,
        organisation_id=organisation_id,
        window_id=window_id,
        title="G",
        amount=1,
        currency="USD",
        isc_rate="0.07",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        status=GrantStatus.ACTIVE,
        created_at=AT,
        updated_at=AT,
    )


def _review(assignment: Assignment) -> Review:
    assert assignment.id is not None
    return Review(
        assignment_id=assignment.id,
        proposal_id=assignment.proposal_id,
        reviewer_id=assignment.reviewer_id,
        version=1,
        scores="{}",
        weighted_score="3",
        recommendation="recommend",
        submitted_at=AT,
    )


# ---------------------------------------------------------------- the property


async def _selected(session: AsyncSession, id_column: Any, visibility: Visibility[Any], user: Principal) -> set[int]:
    return set((await session.execute(select(id_column).where(visibility.where(user)))).scalars())


async def _check_user(session: AsyncSession, user: Principal) -> None:
    proposals = list((await session.execute(select(Proposal))).scalars())
    facts: dict[int, ProposalFacts] = {p.id or 0: await proposal_facts(session, user, p) for p in proposals}
    for pair in (PROPOSAL_FULL, PROPOSAL_SUMMARY):
        allowed = {pid for pid, f in facts.items() if pair.allows(user, f)[0]}
        assert await _selected(session, col(Proposal.id), pair, user) == allowed, (user, pair.clauses[-1].reason)
    reviews = list((await session.execute(select(Review))).scalars())
    allowed = {
        r.id or 0
        for r in reviews
        if REVIEWS.allows(user, ReviewFacts(r.reviewer_id, facts[r.proposal_id].assignment))[0]
    }
    assert await _selected(session, col(Review.id), REVIEWS, user) == allowed, user
    grants = list((await session.execute(select(Grant))).scalars())
    allowed = {g.id or 0 for g in grants if GRANTS.allows(user, GrantFacts(g.organisation_id))[0]}
    assert await _selected(session, col(Grant.id), GRANTS, user) == allowed, user
    # A user the route refuses (no role of any clause) lists nothing.
    lists: list[tuple[Visibility[Any], Any]] = [
        (PROPOSAL_SUMMARY, Proposal.id),
        (REVIEWS, Review.id),
        (GRANTS, Grant.id),
    ]
    for listed, column in lists:
        if not listed.allows(user, None)[0]:
            assert await _selected(session, col(column), listed, user) == set()


async def _example(engine: AsyncEngine, call: Call, world: World) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await _clear(session)
        await _write(session, world, call)
        for index, person in enumerate(world.people):
            await _check_user(session, principal(index, person))


@pytest.fixture
def database(database_url: str) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncEngine, Call]]:
    loop = asyncio.new_event_loop()
    engine = create_async_engine(database_url)

    async def prepare() -> Call:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            call_id = await _fixed_rows(session)
            found = await session.get(Call, call_id)
            assert found is not None
            return found

    try:
        yield loop, engine, loop.run_until_complete(prepare())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


def test_each_filter_selects_exactly_what_its_predicate_allows(
    database: tuple[asyncio.AbstractEventLoop, AsyncEngine, Call],
) -> None:
    loop, engine, call = database

    @settings(max_examples=40, deadline=None)
    @given(worlds())
    def check(world: World) -> None:
        loop.run_until_complete(_example(engine, call, world))

    check()
