"""Separation of duties (issue: one finance officer alone could change the books): no user holds both finance
roles, a finance role given by an administrator is held only once a second administrator approves it, and
one person has one account (one e-mail address), through the HTTP API on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.support import LEDGER, Actor, Api, accepted, assert_problem, assert_refused, line, post_entry

pytestmark = pytest.mark.usefixtures("backend")

USERS = "/api/v1/users"
TABLES = ("users", "user_roles", "role_grants", "audit_events")


def new_user(api: Api, admin: Actor, username: str, *roles: str, email: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "username": username,
        "full_name": username.title(),
        "email": email or f"{username}@example.org",
        "password": "a long enough password 42",
        "roles": list(roles),
    }
    return api.client.post(f"{USERS}/", json=body, headers=admin.headers)


def grants(api: Api, admin: Actor, status: str = "pending") -> list[dict[str, Any]]:
    page = accepted(api.client.get(f"{USERS}/role-grants", params={"status": status}, headers=admin.headers))
    items: list[dict[str, Any]] = page["items"]
    return items


def decide(api: Api, admin: Actor, grant_id: int, verb: str, reason: str = "") -> httpx.Response:
    return api.client.post(f"{USERS}/role-grants/{grant_id}/{verb}", json={"reason": reason}, headers=admin.headers)


def sign_in_token(api: Api, username: str) -> dict[str, str]:
    login = api.client.post("/api/v1/auth/login", json={"username": username, "password": "a long enough password 42"})
    assert login.status_code == 200, login.text
    headers = {"X-CSRF-Token": login.json()["csrf_token"]}
    token = accepted(api.client.post("/api/v1/auth/tokens", json={"name": "t"}, headers=headers), 201)["token"]
    api.client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def test_no_user_is_made_with_both_finance_roles(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    before = api.db.snapshot(*TABLES)
    response = new_user(api, admin, "both.roles", "finance_officer", "finance_approver")
    assert_refused(response, 409, "conflict", field="roles", rule="separation-of-duties")
    assert api.db.snapshot(*TABLES) == before


def test_a_finance_role_is_held_only_once_a_second_administrator_approves_it(api: Api) -> None:
    admin, second = api.create_user(Role.SECRETARIAT_ADMIN), api.create_user(Role.SECRETARIAT_ADMIN)
    created = accepted(new_user(api, admin, "new.officer", "finance_officer", "auditor"), 201)
    assert (created["roles"], created["pending_roles"]) == (["auditor"], ["finance_officer"])
    headers = sign_in_token(api, "new.officer")
    entry = post_entry(api, Actor(created["id"], "new.officer", (), headers["Authorization"][7:]), *small())
    assert_problem(entry, 403)  # not a finance officer yet: nothing prepared
    assert api.db.count("entry_requests") == 0

    (grant,) = grants(api, admin)
    assert (grant["user_id"], grant["role"], grant["requested_by"]) == (created["id"], "finance_officer", admin.id)
    # The administrator who asked cannot approve it; nor can the user it is for (were it an administrator).
    before = api.db.snapshot(*TABLES)
    assert_refused(decide(api, admin, grant["id"], "approve"), 403, "permission-denied", field="", rule="four-eyes")
    assert api.db.snapshot(*TABLES) == before

    approved = accepted(decide(api, second, grant["id"], "approve", "Hired as finance officer, contract 2026-17"))
    assert (approved["status"], approved["decided_by"]) == ("approved", second.id)
    user = accepted(api.client.get(f"{USERS}/{created['id']}", headers=admin.headers))
    assert (user["roles"], user["pending_roles"]) == (["auditor", "finance_officer"], [])
    assert (
        post_entry(api, Actor(created["id"], "new.officer", (), headers["Authorization"][7:]), *small()).status_code
        == 202
    )
    # Decided once.
    assert_refused(decide(api, second, grant["id"], "reject"), 409, "conflict", field="status", rule="grant-pending")
    actions = api.db.rows(
        "SELECT action FROM audit_events WHERE object_type = 'user' AND object_id = :i", i=str(created["id"])
    )
    assert {a for (a,) in actions} >= {"user.create", "user.role_grant.approve"}


def test_a_rejected_finance_role_is_never_held(api: Api) -> None:
    admin, second = api.create_user(Role.SECRETARIAT_ADMIN), api.create_user(Role.SECRETARIAT_ADMIN)
    created = accepted(new_user(api, admin, "maybe.approver", "finance_approver"), 201)
    assert (created["roles"], created["pending_roles"]) == ([], ["finance_approver"])
    (grant,) = grants(api, admin)
    rejected = accepted(decide(api, second, grant["id"], "reject", "No such post"))
    assert (rejected["status"], rejected["reason"]) == ("rejected", "No such post")
    assert api.db.scalar("SELECT count(*) FROM user_roles WHERE user_id = :u", u=created["id"]) == 0
    assert grants(api, admin) == []
    assert [g["id"] for g in grants(api, admin, "rejected")] == [grant["id"]]


def test_approving_a_grant_that_would_join_both_finance_roles_is_refused(api: Api) -> None:
    admin, second = api.create_user(Role.SECRETARIAT_ADMIN), api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    # A pending approver grant written beside an officer's role (as a grant from before the rule could be).
    api.db.execute(
        "INSERT INTO role_grants (user_id, role, status, requested_by, requested_at, reason) "
        "VALUES (:u, 'finance_approver', 'pending', :a, :t, '')",
        u=officer.id,
        a=admin.id,
        t=api.clock.now(),
    )
    (grant,) = grants(api, admin)
    before = api.db.snapshot(*TABLES)
    assert_refused(
        decide(api, second, grant["id"], "approve"), 409, "conflict", field="roles", rule="separation-of-duties"
    )
    assert api.db.snapshot(*TABLES) == before


def test_the_database_refuses_a_grant_decided_by_its_requester(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    created = accepted(new_user(api, admin, "db.check", "finance_officer"), 201)
    (grant,) = grants(api, admin)
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        api.db.execute(
            "UPDATE role_grants SET status = 'approved', decided_by = requested_by WHERE id = :i", i=grant["id"]
        )
    assert api.db.scalar("SELECT status FROM role_grants WHERE user_id = :u", u=created["id"]) == "pending"


@pytest.mark.parametrize("email", ["same.person@example.org", "Same.Person@Example.ORG", "  same.person@example.org "])
def test_one_person_has_one_account(api: Api, email: str) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    accepted(new_user(api, admin, "same.person", "auditor", email="same.person@example.org"), 201)
    before = api.db.snapshot(*TABLES)
    response = new_user(api, admin, "same.person2", "tag_reviewer", email=email)
    body = assert_refused(response, 409, "conflict", field="email", rule="one-account-per-person")
    assert "same.person" in body["detail"]
    assert api.db.snapshot(*TABLES) == before


def small() -> tuple[dict[str, Any], ...]:
    return (line("5400", "5.00"), line("1100", "-5.00"))


def test_the_ledger_routes_of_a_pending_officer_answer_forbidden(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    accepted(new_user(api, admin, "pending.officer", "finance_officer"), 201)
    headers = sign_in_token(api, "pending.officer")
    assert_problem(api.client.get(f"{LEDGER}/entry-requests", headers=headers), 403)
