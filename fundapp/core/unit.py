"""One unit of work: what every service of one request (or one CLI command, one job) works with.

A ``Unit`` holds the transaction's session, the settings, who acts (the principal, and the audit actor derived
from it: the system when nobody signs in), and the moment the work happens (read once from the facility's
clock). Its ``audit`` is the one way a service records an event, in the unit's transaction, by its actor, at its
moment.

Services are bound to a unit through :class:`Service`: ``Governance.of(unit)``. Each request gets its unit by
dependency injection (:func:`request_unit`, registered by the shell as ``unit``), and a domain's controllers get
their services from it (:func:`provide`: ``"governance": provide(Governance.of)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Self

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core import audit
from fundapp.core.config import Settings
from fundapp.core.models import AuditEvent
from fundapp.core.security import Principal, current_user

# The default of ``Unit.actor``: derive it from the principal (an object of its own, compared by identity).
_DERIVED = audit.Actor(None, "")


def actor_of(principal: Principal | None) -> audit.Actor:
    """Who an audit event names: the signed-in user, or the system (CLI, scheduler) when there is none."""
    return audit.SYSTEM if principal is None else audit.Actor(principal.id, principal.username)


@functools.cache
def ledger_settings(reporting_currency: str) -> Settings:
    """Settings for a unit built from the ledger's own arguments (only the reporting currency is known)."""
    return Settings(reporting_currency=reporting_currency)


@dataclass(frozen=True, slots=True)
class Unit:
    """One transaction's context: session, settings, principal, moment and audit actor."""

    session: AsyncSession
    settings: Settings
    principal: Principal | None
    now: datetime
    # Derived from the principal unless given (the demo and the benchmarks act under labels of their own).
    actor: audit.Actor = _DERIVED

    def __post_init__(self) -> None:
        if self.actor is _DERIVED:
            object.__setattr__(self, "actor", actor_of(self.principal))

    @property
    def today(self) -> date:
        return self.now.date()

    async def audit(
        self,
        action: str,
        object_type: str,
        object_id: object,
        *,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Record one audit event in the unit's transaction, by its actor, at its moment."""
        return await audit.record(
            self.session,
            actor=self.actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            at=self.now,
            before=before,
            after=after,
        )


class Service:
    """A service bound to one unit of work: ``unit`` and, for short, its session, settings, user, actor and
    moment. ``Cls.of(unit)`` builds one; a subclass adds what it builds from the unit by extending ``bind``
    (and keeps its keyword constructor by building a unit and binding it)."""

    unit: Unit
    session: AsyncSession
    settings: Settings
    user: Principal | None
    actor: audit.Actor
    now: datetime

    @classmethod
    def of(cls, unit: Unit) -> Self:
        service = cls.__new__(cls)
        service.bind(unit)
        return service

    def bind(self, unit: Unit) -> None:
        self.unit = unit
        self.session = unit.session
        self.settings = unit.settings
        self.user = unit.principal
        self.actor = unit.actor
        self.now = unit.now


def request_unit(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Unit:
    """The request's unit of work (the dependency ``unit``): its session, the run's settings, its user and the
    facility's clock."""
    return Unit(db_session, request.app.state.settings, current_user(request), request.app.state.clock.now())


def provide(build: Callable[[Unit], Any]) -> Provide:
    """A dependency built from the request's unit: ``provide(Governance.of)``."""

    def from_unit(unit: NamedDependency[Unit]) -> Any:
        return build(unit)

    return Provide(from_unit, sync_to_thread=False)


__all__ = ["Service", "Unit", "actor_of", "ledger_settings", "provide", "request_unit"]
