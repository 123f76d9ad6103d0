"""Who may do what: the core endpoints against the seven roles, anonymous callers and public pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.support import Actor, Api, assert_problem

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

# The expected permission matrix, one column per role in the order of ROLES.
#                                       admin  f.off  f.appr  tag    deleg  grantee auditor
MATRIX: dict[str, tuple[bool, ...]] = {
    "GET /api/v1/users":                  (Y,    N,     N,      N,     N,     N,      Y),
    "POST /api/v1/users":                 (Y,    N,     N,      N,     N,     N,      N),
    "GET /api/v1/users/{id}":             (Y,    N,     N,      N,     N,     N,      Y),
    "POST /api/v1/users/{id}/disable":    (Y,    N,     N,      N,     N,     N,      N),
    "GET /api/v1/audit":                  (Y,    N,     N,      N,     N,     N,      Y),
    "GET /api/v1/audit/verify":           (Y,    N,     N,      N,     N,     N,      Y),
    "GET /api/v1/me":                     (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "POST /api/v1/auth/tokens":           (Y,    Y,     Y,      Y,     Y,     Y,      Y),
    "GET /api/v1/auth/tokens":            (Y,    Y,     Y,      Y,     Y,     Y,      Y),
}  # fmt: skip

# What an allowed call answers, and the body it sends.
SUCCESS = {
    "GET /api/v1/users": 200,
    "POST /api/v1/users": 201,
    "GET /api/v1/users/{id}": 200,
    "POST /api/v1/users/{id}/disable": 200,
    "GET /api/v1/audit": 200,
    "GET /api/v1/audit/verify": 200,
    "GET /api/v1/me": 200,
    "POST /api/v1/auth/tokens": 201,
    "GET /api/v1/auth/tokens": 200,
}
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/users": {
        "username": "new-finance-officer",
        "full_name": "New Finance Officer",
        "email": "new.finance.officer@example.org",
        "password": "a long enough password",
        "roles": ["finance_officer"],
    },
    "POST /api/v1/auth/tokens": {"name": "matrix check"},
}
# Reachable only with credentials, besides the matrix: logging out and revoking a token.
OTHER_PROTECTED = ("POST /api/v1/auth/logout", "POST /api/v1/auth/tokens/{token}/revoke")
PUBLIC = ("GET /health", "GET /schema/openapi.json")
WATCHED_TABLES = ("users", "user_roles", "api_tokens", "auth_sessions")


def allowed_for(*roles: Role) -> dict[str, bool]:
    """The matrix row for a user holding all of ``roles``: the union of their columns."""
    return {endpoint: any(row[ROLES.index(role)] for role in roles) for endpoint, row in MATRIX.items()}


def roles_allowed(endpoint: str) -> list[str]:
    return [role.value for role, ok in zip(ROLES, MATRIX[endpoint], strict=True) if ok]


@dataclass
class Outcome:
    response: httpx.Response
    changed: bool


def call(api: Api, endpoint: str, *, headers: dict[str, str], user_id: int, token_id: int = 0) -> Outcome:
    """Call one endpoint, noting whether any watched table changed."""
    method, template = endpoint.split(" ")
    path = template.replace("{id}", str(user_id)).replace("{token}", str(token_id))
    before = api.db.snapshot(*WATCHED_TABLES)
    response = api.client.request(method, path, headers=headers, json=BODIES.get(endpoint))
    return Outcome(response, api.db.snapshot(*WATCHED_TABLES) != before)


def check_against_matrix(api: Api, caller: Actor, expected: dict[str, bool]) -> None:
    target = api.create_user(Role.FINANCE_OFFICER)
    outcomes = {
        endpoint: call(api, endpoint, headers=caller.headers, user_id=target.id)
        for endpoint in MATRIX  # the disable comes after the reads of the same user
    }

    statuses = {endpoint: outcome.response.status_code for endpoint, outcome in outcomes.items()}
    assert statuses == {endpoint: SUCCESS[endpoint] if ok else 403 for endpoint, ok in expected.items()}
    for endpoint, outcome in outcomes.items():
        if expected[endpoint]:
            continue
        body = assert_problem(outcome.response, 403)
        for role in roles_allowed(endpoint):
            assert role in body["detail"], f"{endpoint}: the refusal should name {role}: {body['detail']!r}"
        assert not outcome.changed, f"{endpoint} was refused but changed the database"
    target_is_active = api.db.scalar("SELECT is_active FROM users WHERE id = :id", id=target.id)
    assert bool(target_is_active) is not expected["POST /api/v1/users/{id}/disable"]


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_each_role_may_call_exactly_what_the_matrix_allows(api: Api, role: Role) -> None:
    caller = api.bound_user(role)

    check_against_matrix(api, caller, allowed_for(role))


@pytest.mark.parametrize(
    "roles",
    [
        # The second role grants what the first lacks; stored sorted by name, it comes last here, first below.
        (Role.AUDITOR, Role.SECRETARIAT_ADMIN),
        (Role.MEMBER_DELEGATE, Role.AUDITOR),
    ],
    ids=lambda roles: "+".join(r.value for r in roles),
)
def test_a_user_holding_two_roles_gets_the_union_of_their_permissions(api: Api, roles: tuple[Role, Role]) -> None:
    caller = api.bound_user(*roles)
    union = allowed_for(*roles)
    assert union != allowed_for(roles[0]), "the second role should add something the first lacks"

    check_against_matrix(api, caller, union)


def test_an_anonymous_caller_gets_401_not_403_from_every_protected_endpoint(api: Api) -> None:
    target = api.create_user(Role.FINANCE_OFFICER)
    token_id = api.db.scalar("SELECT id FROM api_tokens WHERE user_id = :id", id=target.id)

    outcomes = {
        endpoint: call(api, endpoint, headers={}, user_id=target.id, token_id=token_id)
        for endpoint in (*MATRIX, *OTHER_PROTECTED)
    }

    statuses = {endpoint: outcome.response.status_code for endpoint, outcome in outcomes.items()}
    assert statuses == dict.fromkeys(outcomes, 401)
    for endpoint, outcome in outcomes.items():
        assert_problem(outcome.response, 401)
        assert not outcome.changed, f"anonymous {endpoint} changed the database"
    assert api.client.get("/api/v1/me", headers=target.headers).status_code == 200


@pytest.mark.parametrize("endpoint", PUBLIC)
def test_public_pages_need_no_credentials(api: Api, endpoint: str) -> None:
    method, path = endpoint.split(" ")

    response = api.client.request(method, path)

    assert response.status_code == 200, response.text
    assert response.json()
