"""Inputs the schemathesis run of issue 19 found answered with a 500 or wrongly accepted: each is now a 422
(or 400) problem that names the field and the rule, and a refusal changes nothing. Both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.support import (
    GOVERNANCE_TABLES,
    LEDGER,
    PROPOSALS,
    V1,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    add_contributor,
    assert_problem,
    assert_refused,
    broken_rules,
    create_proposal,
    proposal_world,
)

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def officer(api: Api) -> Actor:
    return api.create_user(Role.FINANCE_OFFICER)


@pytest.fixture
def donor(api: Api) -> int:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    return add_contributor(api, admin, "Government of Norway", country="NOR")


def deposit(api: Api, officer: Actor, donor: int, key: str, **changes: Any) -> httpx.Response:
    body = {"contributor_id": donor, "value_date": "2026-03-02", "amount": "1000.00", "currency": "USD", **changes}
    return api.client.post(f"{V1}/contributions", json=body, headers={**officer.headers, "Idempotency-Key": key})


# ---------------------------------------------------------------- query parameters


def test_a_statement_in_an_unknown_currency_is_a_422_naming_currency(api: Api, officer: Actor) -> None:
    response = api.client.get(f"{LEDGER}/accounts/1100/statement?currency=AAA", headers=officer.headers)
    assert_refused(response, 422, "validation-failed", field="currency", rule="unknown_currency")
    accepted(api.client.get(f"{LEDGER}/accounts/1100/statement?currency=EUR", headers=officer.headers))


@pytest.mark.parametrize("path", ["/balances?currency=AAA", "/balances?group_by=account&currency=XXY"])
def test_balances_in_an_unknown_currency_are_a_422(api: Api, officer: Actor, path: str) -> None:
    response = api.client.get(LEDGER + path, headers=officer.headers)
    assert_refused(response, 422, "validation-failed", field="currency", rule="unknown_currency")


@pytest.mark.parametrize("code", ["-1.19e-07", "11", "1100.x", "DROP"])
def test_balances_of_a_malformed_account_code_are_a_422(api: Api, officer: Actor, code: str) -> None:
    response = api.client.get(f"{LEDGER}/balances", params={"account": code}, headers=officer.headers)
    assert_refused(response, 422, "validation-failed", field="account", rule="account_code")
    rows = accepted(api.client.get(f"{LEDGER}/balances", params={"account": "1100"}, headers=officer.headers))
    assert isinstance(rows, list)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "1999-12-31"])
def test_a_deposit_dated_before_the_earliest_date_is_refused(api: Api, officer: Actor, donor: int, day: str) -> None:
    before = api.db.snapshot(*GOVERNANCE_TABLES, "ledger_periods")
    response = deposit(api, officer, donor, f"ancient-{day}", value_date=day)
    assert_refused(response, 422, "dated-too-early", field="value_date", rule="not-before-earliest-date")
    assert api.db.snapshot(*GOVERNANCE_TABLES, "ledger_periods") == before


def test_a_manual_entry_dated_in_year_one_opens_no_period(api: Api, officer: Actor) -> None:
    before = api.db.snapshot("journal_entries", "entry_requests", "ledger_periods")
    body = {
        "entry_date": "0001-01-01",
        "description": "ancient",
        "reason": "A test of early dates",
        "lines": [
            {"account": "5300", "currency": "USD", "amount": "1.00"},
            {"account": "1100", "currency": "USD", "amount": "-1.00"},
        ],
    }
    response = api.client.post(f"{LEDGER}/entries", json=body, headers=officer.headers)
    assert_refused(response, 422, "dated-too-early", field="entry_date", rule="not-before-earliest-date")
    assert api.db.snapshot("journal_entries", "entry_requests", "ledger_periods") == before


def test_a_deposit_dated_2099_is_refused_as_in_the_future(api: Api, officer: Actor, donor: int) -> None:
    response = deposit(api, officer, donor, "far", value_date="2099-01-01")
    assert_refused(response, 422, "dated-in-the-future", field="value_date", rule="not-in-future")
    accepted(deposit(api, officer, donor, "near", value_date="2000-01-01"), 201)


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize("amount", [" 10.00", "10.00 ", "\t10.00", "10.00\n", "+10.00", "1e3", "10,00"])
def test_an_amount_with_spaces_or_another_notation_is_refused(
    api: Api, officer: Actor, donor: int, amount: str
) -> None:
    before = api.db.snapshot(*GOVERNANCE_TABLES)
    response = deposit(api, officer, donor, f"amount-{amount!r}", amount=amount)
    body = assert_problem(response, 422)
    assert any(field == "amount" for field, _ in broken_rules(body)), body
    assert api.db.snapshot(*GOVERNANCE_TABLES) == before
    accepted(deposit(api, officer, donor, "plain", amount="10.00"), 201)


def test_a_ledger_line_amount_with_a_space_is_refused(api: Api, officer: Actor) -> None:
    body = {
        "entry_date": "2026-03-02",
        "description": "spaced",
        "reason": "A test of amounts",
        "lines": [
            {"account": "5300", "currency": "USD", "amount": " 1.00"},
            {"account": "1100", "currency": "USD", "amount": "-1.00"},
        ],
    }
    response = api.client.post(f"{LEDGER}/entries", json=body, headers=officer.headers)
    assert ("lines.0.amount", "amount_format") in broken_rules(assert_problem(response, 422))


# ---------------------------------------------------------------- uploads


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    return proposal_world(api, reviewers=1)


@pytest.fixture
def draft(api: Api, world: ProposalWorld) -> int:
    return int(create_proposal(api, world.grantee, world.call_id)["id"])


def multipart(api: Api, actor: Actor, proposal_id: int, parts: dict[str, Any]) -> httpx.Response:
    return api.client.post(f"{PROPOSALS}/{proposal_id}/attachments", files=parts, headers=actor.headers)


def test_a_multipart_upload_without_a_file_part_is_a_422_naming_data(
    api: Api, world: ProposalWorld, draft: int
) -> None:
    before = api.db.snapshot("attachments")
    response = multipart(api, world.grantee, draft, {"other": (None, "just text")})
    assert_refused(response, 422, "validation-failed", field="data", rule="missing")
    response = api.client.post(
        f"{PROPOSALS}/{draft}/attachments",
        content=b"--xyz--\r\n",
        headers={**world.grantee.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_refused(response, 422, "validation-failed", field="data", rule="missing")
    assert api.db.snapshot("attachments") == before


def test_a_multipart_upload_whose_data_is_text_not_a_file_is_a_422(api: Api, world: ProposalWorld, draft: int) -> None:
    response = multipart(api, world.grantee, draft, {"data": (None, "not a file")})
    assert_refused(response, 422, "validation-failed", field="data", rule="missing")
