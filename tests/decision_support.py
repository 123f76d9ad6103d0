"""Helpers for tests of the members' decisions: funding a window, putting a proposal to the members,
voting through the API and closing at the deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from fundapp.core.models import Role
from tests.support import (
    V1,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    add_contributor,
    advance,
    create_proposal,
)

DECISIONS = f"{V1}/decisions"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def closes_in(api: Api, **delta: float) -> str:
    return iso(api.clock.now() + timedelta(**delta))


def fund_window(api: Api, officer: Actor, window_code: str | None, amount: str, *, name: str = "Donor") -> int:
    """A donor pledges ``amount`` USD (earmarked to ``window_code``, or pooled) and pays it at once; 99% of
    it becomes available for decisions (the 1% administrative-agent fee is deducted). Returns the contributor."""
    contributor_id = add_contributor(api, officer, name)
    today = api.clock.now().date().isoformat()
    pledge = accepted(
        api.client.post(
            f"{V1}/pledges",
            json={
                "contributor_id": contributor_id,
                "currency": "USD",
                "amount": amount,
                "signed_on": today,
                **({"window_code": window_code} if window_code else {}),
                "instalments": [{"due_on": today, "amount": amount}],
            },
            headers=officer.headers,
        ),
        201,
    )
    accepted(
        api.client.post(
            f"{V1}/contributions",
            json={
                "contributor_id": contributor_id,
                "value_date": today,
                "currency": "USD",
                "amount": amount,
                "instalment_id": pledge["instalments"][0]["id"],
            },
            headers=officer.headers,
        ),
        201,
    )
    return contributor_id


def recommended_proposal(api: Api, world: ProposalWorld, target: str = "recommended", **content: Any) -> int:
    proposal = create_proposal(api, world.grantee, world.call_id, **content)
    advance(api, world, int(proposal["id"]), target)
    return int(proposal["id"])


def create_decision(api: Api, admin: Actor, expected: int = 201, **body: Any) -> dict[str, Any]:
    body.setdefault("title", f"Decision on {body.get('kind')}")
    body.setdefault("text", "The member states decide as proposed.")
    body.setdefault("closes_at", closes_in(api, days=7))
    result: dict[str, Any] = accepted(api.client.post(f"{DECISIONS}/", json=body, headers=admin.headers), expected)
    return result


def open_funding(api: Api, admin: Actor, proposal_id: int, **body: Any) -> dict[str, Any]:
    return create_decision(api, admin, kind="fund_proposal", proposal_id=proposal_id, open=True, **body)


def ballot(api: Api, delegate: Actor, decision_id: int, choice: str, **extra: Any) -> httpx.Response:
    return api.client.post(
        f"{DECISIONS}/{decision_id}/ballots", json={"choice": choice, **extra}, headers=delegate.headers
    )


def cast(api: Api, delegate: Actor, decision_id: int, choice: str) -> dict[str, Any]:
    receipt: dict[str, Any] = accepted(ballot(api, delegate, decision_id, choice), 201)
    return receipt


def get_decision(api: Api, reader: Actor, decision_id: int) -> dict[str, Any]:
    decision: dict[str, Any] = accepted(api.client.get(f"{DECISIONS}/{decision_id}", headers=reader.headers))
    return decision


def after_deadline(api: Api, reader: Actor, decision: dict[str, Any]) -> dict[str, Any]:
    """Move the clock past the decision's deadline and read it (a read closes a due decision)."""
    closes_at = datetime.fromisoformat(decision["closes_at"].replace("Z", "+00:00"))
    api.clock.advance(seconds=(closes_at - api.clock.now()).total_seconds() + 1)
    return get_decision(api, reader, int(decision["id"]))


def record(api: Api, reader: Actor, decision_id: int) -> dict[str, Any]:
    published: dict[str, Any] = accepted(api.client.get(f"{DECISIONS}/{decision_id}/record", headers=reader.headers))
    return published


def delegates_for(api: Api, admin: Actor, codes: list[str]) -> dict[str, Actor]:
    """Admit each code (tier II) and give it a delegate."""
    from tests.support import admit_member

    found = {}
    for code in codes:
        admit_member(api, admin, code, "II")
        found[code] = api.create_user(Role.MEMBER_DELEGATE, member_code=code)
    return found


def available(api: Api, window_id: int | None) -> int:
    """The budgetary 8200 balance (minor units, USD) of a window, or of the pooled funds."""
    condition = "p.window_id IS NULL" if window_id is None else "p.window_id = :window"
    value = api.db.scalar(
        "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        f"WHERE a.code = '8200' AND {condition}",
        window=window_id,
    )
    return int(value)


# ---------------------------------------------------------------- concurrency (race tests on PostgreSQL)


def member_codes(count: int, *, exclude: tuple[str, ...] = ("MEX", "SEN", "PHL")) -> list[str]:
    """``count`` ISO 3166-1 alpha-3 codes, in alphabetical order, none of ``exclude``."""
    from governance.rules import iso_alpha3

    codes = [code for code in sorted(iso_alpha3()) if code not in exclude]
    return codes[:count]
