"""Object permissions as pairs: who may read one object, and the same rule as a SQL filter for lists.

A permission that answers for one object (``has_permission(action, user, facts)``) and for a list (the rows a
user may see) is written once, as clauses. Each clause names the roles it speaks for, the test on one
object's facts and the same test in SQL, side by side, so the predicate and the filter cannot drift apart
(``tests/property/test_permission_pairs.py`` checks, on generated data, that the filter selects exactly the
objects the predicate allows). ``Visibility.allows`` is the predicate registered with ``register_permission``;
``Visibility.where`` is the condition a list query adds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, false, or_, true

from fundapp.core.models import Role
from fundapp.core.security import Decision, Principal, register_permission

F = TypeVar("F")
Condition = ColumnElement[bool]


def every_object(_user: Principal, _facts: Any) -> bool:
    """The object test of a clause that allows every object (its SQL twin is ``every_row``)."""
    return True


def every_row(_user: Principal) -> Condition:
    return true()


@dataclass(frozen=True, slots=True)
class Clause(Generic[F]):
    """One way to be allowed: a user holding one of ``roles`` reads the objects ``test`` accepts.

    ``where`` is ``test`` in SQL (the rows whose facts ``test`` accepts); ``reason`` is the answer for one
    object, ``route_reason`` the answer at route level (no object yet)."""

    roles: tuple[Role, ...]
    reason: str
    test: Callable[[Principal, F], bool]
    where: Callable[[Principal], Condition]
    route_reason: str


@dataclass(frozen=True, slots=True)
class Visibility(Generic[F]):
    """A read permission as a pair: ``allows(user, facts) -> (allowed, reason)`` for one object and
    ``where(user) -> SQL condition`` for lists, built from the same clauses (the first that allows answers).

    Asked without facts (a route guard: ``facts`` is not a ``facts_type``), ``allows`` answers whether the
    user holds a role of any clause: a list then shows it the rows ``where`` selects."""

    facts_type: type[F]
    clauses: tuple[Clause[F], ...]
    denied: str  # the answer for an object no clause allows
    no_role: str  # the answer at route level for a user with no clause's role

    def allows(self, user: Principal, facts: Any) -> Decision:
        if not isinstance(facts, self.facts_type):
            for clause in self.clauses:
                if user.has_role(*clause.roles):
                    return True, clause.route_reason
            return False, self.no_role
        for clause in self.clauses:
            if user.has_role(*clause.roles) and clause.test(user, facts):
                return True, clause.reason
        return False, self.denied

    def where(self, user: Principal) -> Condition:
        conditions = [clause.where(user) for clause in self.clauses if user.has_role(*clause.roles)]
        return or_(*conditions) if conditions else false()

    def extended(self, *clauses: Clause[F]) -> Visibility[F]:
        """This permission with more ways to be allowed (asked after its own clauses)."""
        return Visibility(self.facts_type, (*self.clauses, *clauses), self.denied, self.no_role)


def register_visibility(action: str, visibility: Visibility[Any]) -> Visibility[Any]:
    """Declare ``action`` as the pair's predicate (``has_permission`` asks it); the lists use its filter."""
    register_permission(action, visibility.allows)
    return visibility
