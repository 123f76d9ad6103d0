"""Who may read and write members, windows, fees, assessments, contributors, pledges and contributions.

The matrix below is the policy, written as data: one column per role. Only the secretariat writes; every
signed-in user reads the membership, windows and the fee schedule; money (arrears, assessments, pledges,
contributions) is read by the secretariat and auditors; a member delegate reads its own member's statement
and no other; auditors read everything and write nothing; anonymous callers get 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.support import (
    GOVERNANCE_TABLES,
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    admit_member,
    assert_problem,
    set_fee,
)

pytestmark = pytest.mark.usefixtures("backend")

ROLES = (
    Role.SECRETARIAT_ADMIN,
    Role.FINANCE_OFFICER,
    Role.FINANCE_APPROVER,
    Role.TAG_REVIEWER,
    Role.MEMBER_DELEGATE,
    Role.GRANTEE,
    Role.AUDITOR,
)
Y, N = True, False
# Every delegate in these tests is bound to MEX; SEN is another member.
DELEGATE_OF = "MEX"

#                                                    admin  f.off  f.appr  tag    deleg  grantee auditor
MATRIX: dict[str, tuple[bool, ...]] = {
    "GET /members":                                   (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /members/SEN":                               (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /members/SEN/history":                       (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /members/MEX/statement":                     (Y,    Y,     Y,      N,     Y,     N,      Y),
    "GET /members/SEN/statement":                     (Y,    Y,     Y,      N,     N,     N,      Y),
    "GET /windows":                                   (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /windows/SKL":                               (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /tiers":                                     (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /contributors":                              (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /contributors/{contributor}":                (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /arrears":                                   (Y,    Y,     Y,      N,     N,     N,      Y),
    "GET /assessments":                               (Y,    Y,     Y,      N,     N,     N,      Y),
    "GET /pledges":                                   (Y,    Y,     Y,      N,     N,     N,      Y),
    "GET /pledges/{pledge}":                          (Y,    Y,     Y,      N,     N,     N,      Y),
    "GET /contributions":                             (Y,    Y,     Y,      N,     N,     N,      Y),
    "GET /contributions/{contribution}":              (Y,    Y,     Y,      N,     N,     N,      Y),
    "POST /members":                                  (Y,    N,     N,      N,     N,     N,      N),
    "PATCH /members/SEN":                             (Y,    N,     N,      N,     N,     N,      N),
    "POST /windows":                                  (Y,    N,     N,      N,     N,     N,      N),
    "PATCH /windows/TEC":                             (Y,    N,     N,      N,     N,     N,      N),
    "POST /tiers":                                    (Y,    N,     N,      N,     N,     N,      N),
    "POST /assessments":                              (Y,    Y,     N,      N,     N,     N,      N),
    "POST /contributors":                             (Y,    Y,     Y,      N,     N,     N,      N),
    "POST /pledges":                                  (Y,    Y,     Y,      N,     N,     N,      N),
    "POST /pledges/{pledge}/condition-met":           (Y,    Y,     Y,      N,     N,     N,      N),
    "POST /contributions":                            (N,    Y,     Y,      N,     N,     N,      N),
}  # fmt: skip

SUCCESS = {
    "POST /members": 201,
    "POST /windows": 201,
    "POST /contributors": 201,
    "POST /pledges": 201,
    "POST /contributions": 201,
}
# Actions whose refusal is a rule of its own, not a list of roles.
STATEMENT_RULE = "governance.member_statement"


@dataclass
class Facility:
    contributor: int  # the donor
    pledge: int  # the donor's conditional pledge
    contribution: int


def body_for(endpoint: str, f: Facility) -> dict[str, Any] | None:
    bodies: dict[str, dict[str, Any]] = {
        "POST /members": {"code": "GTM", "tier": "II", "joined_on": "2026-02-01"},
        "PATCH /members/SEN": {"tier": "I", "reason": "decision of the members"},
        "POST /windows": {"code": "DIA", "name_en": "Diaspora", "name_es": "Diáspora", "name_fr": "Diaspora"},
        "PATCH /windows/TEC": {"status": "closed"},
        "POST /tiers": {"year": 2027, "tier": "I", "amount": "150000.00", "currency": "USD"},
        "POST /assessments": {"year": 2026},
        "POST /contributors": {"kind": "foundation", "name": "Migration Trust", "country": "CHE"},
        "POST /pledges": {
            "contributor_id": f.contributor,
            "amount": "1000.00",
            "currency": "USD",
            "signed_on": "2026-03-10",
            "window_code": "SKL",
            "instalments": [{"due_on": "2026-06-01", "amount": "1000.00"}],
        },
        "POST /pledges/{pledge}/condition-met": {"met_on": "2026-03-12"},
        "POST /contributions": {
            "contributor_id": f.contributor,
            "value_date": "2026-03-16",
            "amount": "10.00",
            "currency": "USD",
        },
    }
    return bodies.get(endpoint)


@pytest.fixture
def facility(api: Api) -> Facility:
    """Fees for 2026; MEX and SEN admitted and assessed; a donor with a conditional pledge and a payment."""
    admin = api.create_user(Role.SECRETARIAT_ADMIN, username="setup-admin")
    officer = api.create_user(Role.FINANCE_OFFICER, username="setup-officer")
    set_fee(api, admin, 2026, "I", "150000.00")
    set_fee(api, admin, 2026, "II", "25000.00")
    admit_member(api, admin, "MEX", "I")
    admit_member(api, admin, "SEN", "II")
    accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    pledge = accepted(
        api.client.post(
            f"{V1}/pledges",
            json={
                "contributor_id": donor,
                "amount": "500000.00",
                "currency": "USD",
                "signed_on": "2026-03-02",
                "conditional": True,
                "condition": "subject to parliament's approval",
                "instalments": [{"due_on": "2026-05-01", "amount": "500000.00"}],
            },
            headers=admin.headers,
        ),
        201,
    )
    paid = accepted(
        api.client.post(
            f"{V1}/contributions",
            json={"contributor_id": donor, "value_date": "2026-03-16", "amount": "75000.00", "currency": "USD"},
            headers=officer.headers,
        ),
        201,
    )
    return Facility(contributor=donor, pledge=pledge["id"], contribution=paid["id"])


def state(api: Api) -> dict[str, Any]:
    return {
        "counts": api.db.snapshot(*GOVERNANCE_TABLES),
        "fees": api.db.rows("SELECT year, tier, amount, currency FROM tier_fees ORDER BY year, tier"),
        "members": api.db.rows("SELECT code, tier, status FROM members ORDER BY code"),
        "windows": api.db.rows("SELECT code, status FROM windows ORDER BY code"),
        "pledges": api.db.rows("SELECT id, condition_met_on FROM pledges ORDER BY id"),
    }


@dataclass
class Outcome:
    response: httpx.Response
    changed: bool


def call(api: Api, endpoint: str, f: Facility, headers: dict[str, str]) -> Outcome:
    method, template = endpoint.split(" ")
    path = V1 + template.format(contributor=f.contributor, pledge=f.pledge, contribution=f.contribution)
    before = state(api)
    response = api.client.request(method, path, headers=headers, json=body_for(endpoint, f))
    return Outcome(response, state(api) != before)


def allowed_for(*roles: Role) -> dict[str, bool]:
    return {endpoint: any(row[ROLES.index(role)] for role in roles) for endpoint, row in MATRIX.items()}


def roles_allowed(endpoint: str) -> list[str]:
    return [role.value for role, ok in zip(ROLES, MATRIX[endpoint], strict=True) if ok]


def check_against_matrix(api: Api, caller: Actor, f: Facility, expected: dict[str, bool]) -> None:
    outcomes = {endpoint: call(api, endpoint, f, caller.headers) for endpoint in MATRIX}

    statuses = {endpoint: o.response.status_code for endpoint, o in outcomes.items()}
    assert statuses == {e: SUCCESS.get(e, 200) if ok else 403 for e, ok in expected.items()}
    for endpoint, outcome in outcomes.items():
        if expected[endpoint]:
            continue
        body = assert_problem(outcome.response, 403)
        assert not outcome.changed, f"{endpoint} was refused but changed the database"
        if endpoint.endswith("/statement"):
            assert body.get("action") == STATEMENT_RULE, body
            assert "delegates" in body["detail"], body
            continue
        for role in roles_allowed(endpoint):
            assert role in body["detail"], f"{endpoint}: the refusal should name {role}: {body['detail']!r}"


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_each_role_may_call_exactly_what_the_matrix_allows(api: Api, facility: Facility, role: Role) -> None:
    if role == Role.GRANTEE:
        caller = api.bound_user(role)  # its organisation exists
    else:
        caller = api.create_user(role, member_code=DELEGATE_OF if role == Role.MEMBER_DELEGATE else None)

    check_against_matrix(api, caller, facility, allowed_for(role))


def test_a_delegate_who_is_also_an_auditor_reads_every_statement(api: Api, facility: Facility) -> None:
    caller = api.create_user(Role.MEMBER_DELEGATE, Role.AUDITOR, member_code=DELEGATE_OF)
    union = allowed_for(Role.MEMBER_DELEGATE, Role.AUDITOR)
    assert union["GET /members/SEN/statement"] and not allowed_for(Role.MEMBER_DELEGATE)["GET /members/SEN/statement"]

    check_against_matrix(api, caller, facility, union)


def test_a_delegate_reads_its_own_members_statement_and_no_other(api: Api, facility: Facility) -> None:
    delegate = api.create_user(Role.MEMBER_DELEGATE, member_code="MEX")

    own = api.client.get(f"{V1}/members/MEX/statement", headers=delegate.headers)
    own_lower_case = api.client.get(f"{V1}/members/mex/statement", headers=delegate.headers)
    other = api.client.get(f"{V1}/members/SEN/statement", headers=delegate.headers)
    other_lower_case = api.client.get(f"{V1}/members/sen/statement", headers=delegate.headers)
    other_as_of = api.client.get(
        f"{V1}/members/SEN/statement", params={"as_of": "2026-12-31"}, headers=delegate.headers
    )

    statement = accepted(own)
    assert statement["member_code"] == "MEX"
    assert [a["fee"] for a in statement["assessments"]] == [{"amount": "150000.00", "currency": "USD"}]
    assert accepted(own_lower_case)["member_code"] == "MEX"
    for refused in (other, other_lower_case, other_as_of):
        body = assert_problem(refused, 403)
        assert body["action"] == STATEMENT_RULE
        assert "only the member's own delegates" in body["detail"]
        assert not {"lines", "receivable", "assessments"} & set(body), "nothing of SEN's statement is shown"


def test_a_delegate_sees_the_membership_but_not_the_money(api: Api, facility: Facility) -> None:
    delegate = api.create_user(Role.MEMBER_DELEGATE, member_code="MEX")

    members = accepted(api.client.get(f"{V1}/members", headers=delegate.headers))
    windows = accepted(api.client.get(f"{V1}/windows", headers=delegate.headers))
    tiers = accepted(api.client.get(f"{V1}/tiers", headers=delegate.headers))

    assert [m["code"] for m in members["items"]] == ["MEX", "SEN"]
    assert next(m for m in members["items"] if m["code"] == "MEX")["delegates"] == [delegate.username]
    assert {w["code"] for w in windows} == {"LMG", "SKL", "TEC", "PRO", "IRR", "PAR"}
    assert [(t["tier"], t["fee"]["amount"]) for t in tiers] == [("I", "150000.00"), ("II", "25000.00")]
    for path in ("/pledges", "/contributions", "/arrears", "/assessments"):
        assert_problem(api.client.get(V1 + path, headers=delegate.headers), 403)


def test_an_anonymous_caller_gets_401_from_every_governance_endpoint(api: Api, facility: Facility) -> None:
    outcomes = {endpoint: call(api, endpoint, facility, {}) for endpoint in MATRIX}

    assert {e: o.response.status_code for e, o in outcomes.items()} == dict.fromkeys(MATRIX, 401)
    for endpoint, outcome in outcomes.items():
        assert_problem(outcome.response, 401)
        assert not outcome.changed, f"anonymous {endpoint} changed the database"


def test_a_bad_token_gets_401_not_a_statement(api: Api, facility: Facility) -> None:
    response = api.client.get(f"{V1}/members/MEX/statement", headers={"Authorization": "Bearer not-a-token"})

    assert_problem(response, 401)
