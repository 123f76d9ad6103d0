"""A bank statement's receipts recorded together, through the HTTP API, on SQLite and PostgreSQL.

``POST /contributions/bank-statement`` records its receipts in order in one transaction: each as
``POST /contributions`` would, seeing what the receipts before it settled; a statement sent again records
nothing twice; one refused receipt refuses the statement, names the receipt, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import (
    GOVERNANCE_TABLES,
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    add_fx_rate,
    admit_member,
    assert_books_balanced,
    assert_problem,
    set_fee,
)

pytestmark = pytest.mark.usefixtures("backend")

STATEMENT = f"{V1}/contributions/bank-statement"


@dataclass
class Facility:
    """MEX assessed 150,000.00 USD for 2026; a donor's 100,000.00 USD pledge to SKL in two instalments
    (60,000.00 and 40,000.00); another donor with nothing pledged."""

    admin: Actor
    officer: Actor
    mex: int
    mex_assessment: int
    donor: int
    other_donor: int
    instalments: list[int]


@pytest.fixture
def facility(api: Api) -> Facility:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, admin, 2026, "I", "150000.00")
    set_fee(api, admin, 2026, "II", "25000.00")
    mex = admit_member(api, admin, "MEX", "I")["contributor_id"]
    assessed = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    add_fx_rate(api, officer, "EUR", "2026-03-01", "1.080000")
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    other_donor = add_contributor(api, admin, "Government of Sweden", country="SWE")
    pledge = {
        "contributor_id": donor,
        "amount": "100000.00",
        "currency": "USD",
        "signed_on": "2026-03-02",
        "window_code": "SKL",
        "instalments": [{"due_on": "2026-04-01", "amount": "60000.00"}, {"due_on": "2026-10-01", "amount": "40000.00"}],
    }
    signed = accepted(api.client.post(f"{V1}/pledges", json=pledge, headers=admin.headers), 201)
    return Facility(
        admin=admin,
        officer=officer,
        mex=mex,
        mex_assessment=assessed["created"][0]["id"],
        donor=donor,
        other_donor=other_donor,
        instalments=[i["id"] for i in signed["instalments"]],
    )


def receipt(key: str, contributor_id: int, amount: str, currency: str = "USD", **changes: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "contributor_id": contributor_id,
        "value_date": "2026-03-16",
        "amount": amount,
        "currency": currency,
        **changes,
    }


def the_statement(f: Facility) -> list[dict[str, Any]]:
    first = f.instalments[0]
    return [
        receipt("BNK-001", f.donor, "30000.00", instalment_id=first, reference="first half"),
        # Settles what BNK-001 left of the instalment (30,000.00); the rest is unapplied credit.
        receipt("BNK-002", f.donor, "40000.00", instalment_id=first, reference="second half"),
        receipt("BNK-003", f.other_donor, "5000.00", "EUR"),
        receipt("BNK-004", f.mex, "150000.00", assessment_id=f.mex_assessment),
    ]


def post_statement(api: Api, actor: Actor, receipts: list[dict[str, Any]]) -> Any:
    return api.client.post(STATEMENT, json={"receipts": receipts}, headers=actor.headers)


def amounts(contribution: dict[str, Any]) -> tuple[str, str, str]:
    return contribution["applied"]["amount"], contribution["unapplied"]["amount"], contribution["fee"]["amount"]


def test_receipts_are_recorded_in_order_each_seeing_what_the_ones_before_it_settled(
    api: Api, facility: Facility
) -> None:
    f = facility
    body = accepted(post_statement(api, f.officer, the_statement(f)), 201)
    assert (body["recorded"], body["replayed"]) == (4, 0)
    recorded = body["contributions"]
    assert [c["idempotency_key"] for c in recorded] == ["BNK-001", "BNK-002", "BNK-003", "BNK-004"]
    assert [amounts(c) for c in recorded] == [
        ("30000.00", "0.00", "300.00"),
        ("30000.00", "10000.00", "300.00"),
        ("0.00", "5000.00", "0.00"),
        ("150000.00", "0.00", "1500.00"),
    ]
    assert [c["window_code"] for c in recorded] == ["SKL", "SKL", None, None]
    assert len({c["entry_id"] for c in recorded}) == 4
    # The donor's two receipts are its contributions, as if sent one by one.
    paid = accepted(
        api.client.get(f"{V1}/contributions", params={"contributor_id": f.donor}, headers=f.officer.headers)
    )
    assert paid["total"] == 2
    assert_books_balanced(api, f.officer)
    # A receipt sent afterwards on its own sees the statement's receipts: nothing is left of the instalment.
    single = receipt("BNK-005", f.donor, "100.00", instalment_id=f.instalments[0])
    del single["idempotency_key"]
    later = accepted(
        api.client.post(
            f"{V1}/contributions", json=single, headers={**f.officer.headers, "Idempotency-Key": "BNK-005"}
        ),
        201,
    )
    assert amounts(later) == ("0.00", "100.00", "0.00")


def test_a_statement_sent_again_records_nothing_twice(api: Api, facility: Facility) -> None:
    f = facility
    first = accepted(post_statement(api, f.officer, the_statement(f)), 201)
    before = api.db.snapshot(*GOVERNANCE_TABLES)
    again = accepted(post_statement(api, f.officer, the_statement(f)), 200)
    assert (again["recorded"], again["replayed"]) == (0, 4)
    assert [c["id"] for c in again["contributions"]] == [c["id"] for c in first["contributions"]]
    assert api.db.snapshot(*GOVERNANCE_TABLES) == before
    # Part of it again with a new receipt: only the new one is recorded.
    extended = [*the_statement(f)[2:], receipt("BNK-006", f.other_donor, "70.00")]
    body = accepted(post_statement(api, f.officer, extended), 201)
    assert (body["recorded"], body["replayed"]) == (1, 2)
    # A receipt recorded through POST /contributions with the same key and body is the same receipt.
    single = the_statement(f)[2]
    key = single.pop("idempotency_key")
    replay = api.client.post(f"{V1}/contributions", json=single, headers={**f.officer.headers, "Idempotency-Key": key})
    assert accepted(replay, 200)["id"] == first["contributions"][2]["id"]


def test_a_key_repeated_within_a_statement_is_one_receipt(api: Api, facility: Facility) -> None:
    f = facility
    twice = [receipt("BNK-010", f.other_donor, "10.00"), receipt("BNK-010", f.other_donor, "10.00")]
    body = accepted(post_statement(api, f.officer, twice), 201)
    assert (body["recorded"], body["replayed"]) == (1, 1)
    assert body["contributions"][0]["id"] == body["contributions"][1]["id"]


REFUSED_STATEMENTS = {
    # receipts as a function of the facility, the status, the field named and the rule
    "no receipts": (lambda f: [], 422, "receipts", None),
    "a receipt without a key": (
        lambda f: [{k: v for k, v in receipt("x", f.donor, "1.00").items() if k != "idempotency_key"}],
        422,
        "receipts.0.idempotency_key",
        None,
    ),
    "more decimals than the currency allows": (
        lambda f: [receipt("BNK-020", f.donor, "1.00"), receipt("BNK-021", f.donor, "1.001")],
        422,
        "receipts.1.amount",
        None,
    ),
    "a zero amount": (lambda f: [receipt("BNK-022", f.donor, "0.00")], 422, "receipts.0.amount", None),
    "settling another contributor's instalment": (
        lambda f: [*the_statement(f)[:2], receipt("BNK-023", f.other_donor, "1.00", instalment_id=f.instalments[1])],
        422,
        "receipts.2.instalment_id",
        "settles-own-receivable",
    ),
    "an unknown contributor": (
        lambda f: [*the_statement(f), receipt("BNK-024", 999_999, "1.00")],
        404,
        "receipts.4.contributor_id",
        "contributor-exists",
    ),
    "a key repeated with another body": (
        lambda f: [receipt("BNK-025", f.donor, "1.00"), receipt("BNK-025", f.donor, "2.00")],
        409,
        "receipts.1.idempotency_key",
        "idempotency-same-payload",
    ),
}


@pytest.mark.parametrize("case", REFUSED_STATEMENTS)
def test_one_refused_receipt_refuses_the_statement_names_it_and_changes_nothing(
    api: Api, facility: Facility, case: str
) -> None:
    f = facility
    receipts, status, field, rule = REFUSED_STATEMENTS[case]
    before = api.db.snapshot(*GOVERNANCE_TABLES)
    problem = assert_problem(post_statement(api, f.officer, receipts(f)), status)
    named = {(e["field"], e["rule"]) for e in problem["errors"]}
    assert any(name == field and (rule is None or found == rule) for name, found in named), problem
    assert api.db.snapshot(*GOVERNANCE_TABLES) == before


def test_only_secretariat_finance_roles_record_statements(api: Api, facility: Facility) -> None:
    f = facility
    auditor = api.create_user(Role.AUDITOR)
    before = api.db.snapshot(*GOVERNANCE_TABLES)
    assert_problem(post_statement(api, auditor, the_statement(f)), 403)
    assert api.db.snapshot(*GOVERNANCE_TABLES) == before
