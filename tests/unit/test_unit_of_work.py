"""The unit of work: one context (session, settings, principal, moment, audit actor) that every service is bound
to, and the one function that registers the hooks between domains (nothing registers at import)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core import audit
from fundapp.core.config import CharterSettings, Settings
from fundapp.core.security import Principal
from fundapp.core.unit import Unit, actor_of
from governance.decisions import Decisions
from governance.service import Governance
from ledger import Ledger
from ledger.requests import EntryRequests
from proposals.grants import Grants
from proposals.service import Proposals

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SESSION = cast(AsyncSession, object())  # never used: nothing here touches a database
SETTINGS = Settings(reporting_currency="EUR", charter=CharterSettings(second_approver_threshold=Decimal(500)))


def principal() -> Principal:
    return Principal(id=7, username="officer", roles=frozenset())


def test_the_actor_comes_from_the_principal_unless_given() -> None:
    assert Unit(SESSION, SETTINGS, None, NOW).actor == audit.SYSTEM
    user = principal()
    assert Unit(SESSION, SETTINGS, user, NOW).actor == audit.Actor(7, "officer") == actor_of(user)
    demo = audit.Actor(None, "demo")
    assert Unit(SESSION, SETTINGS, user, NOW, demo).actor is demo
    assert Unit(SESSION, SETTINGS, None, NOW).today == NOW.date()


def test_every_service_is_bound_to_the_unit_it_is_built_of() -> None:
    unit = Unit(SESSION, SETTINGS, principal(), NOW)
    for service in (Governance.of(unit), Decisions.of(unit), Proposals.of(unit), Grants.of(unit), Ledger.of(unit)):
        assert service.unit is unit
        assert (service.session, service.settings, service.user, service.actor, service.now) == (
            SESSION,
            SETTINGS,
            unit.principal,
            unit.actor,
            NOW,
        )
    assert Decisions.of(unit).gov.unit is unit and Decisions.of(unit).ledger.unit is unit
    assert Grants.of(unit).ledger.reporting_currency == "EUR"
    requests = EntryRequests.of(unit)
    assert requests.unit is unit and requests.ledger.unit is unit and requests.threshold == Decimal(500)


def test_the_keyword_constructors_build_the_same_unit() -> None:
    user = principal()
    keyword: list[Any] = [
        Decisions(SESSION, settings=SETTINGS, user=user, now=NOW),
        Proposals(SESSION, settings=SETTINGS, user=user, now=NOW),
        Grants(SESSION, settings=SETTINGS, user=user, now=NOW),
    ]
    for service in keyword:
        assert service.unit == Unit(SESSION, SETTINGS, user, NOW)
    actor = audit.Actor(None, "bench")
    gov = Governance(SESSION, settings=SETTINGS, actor=actor, now=NOW)
    assert gov.unit == Unit(SESSION, SETTINGS, None, NOW, actor) and gov.ledger.unit is gov.unit
    ledger = Ledger(SESSION, reporting_currency="CHF", actor=actor, now=NOW)
    assert (ledger.unit.actor, ledger.unit.now, ledger.reporting_currency) == (actor, NOW, "CHF")


def test_importing_a_domain_registers_no_hook_and_register_hooks_registers_each_once() -> None:
    code = (
        "import governance.decisions as d, fundapp.core.web.pages as p\n"
        "import proposals.funding\n"
        "assert d._funding_handler is None and not p._providers, 'registered at import'\n"
        "from fundapp.wiring import register_hooks\n"
        "register_hooks(); first = d.funding_handler(); register_hooks()\n"
        "assert d.funding_handler() is first and len(p._providers) == 1\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
