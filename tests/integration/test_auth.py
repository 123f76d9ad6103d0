"""Who may come in: browser sessions and their CSRF token, API tokens, login throttling, locking a user out."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from fundapp.core.models import Role
from fundapp.core.security import secret_hash
from tests.support import (
    PASSWORD,
    Actor,
    Api,
    assert_problem,
    audit_events,
    cookie_headers,
    session_cookie,
)

pytestmark = pytest.mark.usefixtures("backend")

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
TOKENS = "/api/v1/auth/tokens"
WRONG_PASSWORD = "not the right password"


def attempt_login(api: Api, username: str, password: str = PASSWORD) -> httpx.Response:
    return api.client.post(LOGIN, json={"username": username, "password": password})


def create_token(api: Api, owner: Actor, **body: object) -> dict[str, object]:
    response = api.client.post(TOKENS, json={"name": "reporting script", **body}, headers=owner.headers)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def bearer(secret: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def open_sessions(api: Api) -> int:
    return int(api.db.scalar("SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL"))


# ---------------------------------------------------------------- browser sessions


def test_login_sets_an_httponly_samesite_lax_session_cookie_and_returns_a_csrf_token(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    response = attempt_login(api, officer.username)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == officer.username
    assert body["idle_timeout_seconds"] == 1800
    csrf = body["csrf_token"]
    assert isinstance(csrf, str) and len(csrf) >= 32
    cookie_name = api.settings.session_cookie_name
    [set_cookie] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{cookie_name}=")]
    pairs = (part.partition("=") for part in set_cookie.split(";"))
    attributes = {name.strip().lower(): value.strip() for name, _, value in pairs}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    cookie = session_cookie(api)
    assert cookie != csrf
    # The cookie's secret is kept only as a keyed hash.
    stored = api.db.rows("SELECT * FROM auth_sessions")
    assert [row.token_hash for row in stored] == [secret_hash(api.settings.secret_key, cookie)]
    assert cookie not in repr(stored)


def test_me_answers_with_the_session_cookie(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    csrf = api.login(officer.username)

    response = api.client.get(ME)

    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["id"], me["username"], me["roles"]) == (officer.id, officer.username, ["finance_officer"])
    assert me["auth"] == "session"
    assert me["csrf_token"] == csrf


def test_logout_ends_the_session_and_the_same_cookie_is_then_refused(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    csrf = api.login(officer.username)
    cookie = session_cookie(api)

    response = api.client.post(LOGOUT, headers={"X-CSRF-Token": csrf})

    assert response.status_code == 204, response.text
    assert api.settings.session_cookie_name not in api.client.cookies, "logout should clear the cookie"
    assert open_sessions(api) == 0
    # A copy of the cookie kept elsewhere no longer opens anything.
    api.client.cookies.clear()
    assert_problem(api.client.get(ME, headers=cookie_headers(api, cookie)), 401)
    assert_problem(api.client.post(TOKENS, json={"name": "x"}, headers=cookie_headers(api, cookie, csrf=csrf)), 401)


def test_a_wrong_password_is_refused_with_401_problem_details(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    response = attempt_login(api, officer.username, WRONG_PASSWORD)

    body = assert_problem(response, 401)
    assert body["detail"]
    assert api.settings.session_cookie_name not in api.client.cookies
    assert api.db.count("auth_sessions") == 0


def test_an_unknown_username_gets_exactly_the_refusal_of_a_wrong_password(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    wrong_password = attempt_login(api, officer.username, WRONG_PASSWORD)
    unknown_user = attempt_login(api, "nobody-by-this-name", WRONG_PASSWORD)

    assert_problem(unknown_user, 401)
    assert unknown_user.json() == assert_problem(wrong_password, 401)


def test_a_failed_login_is_audited_without_opening_a_session(api: Api) -> None:
    auditor = api.create_user(Role.AUDITOR)
    officer = api.create_user(Role.FINANCE_OFFICER)

    assert_problem(attempt_login(api, officer.username, WRONG_PASSWORD), 401)

    [event] = audit_events(api, auditor, action="auth.login_failed")
    assert (event["object_type"], event["object_id"], event["actor_id"]) == ("login", officer.username, None)
    assert api.db.count("auth_sessions") == 0


# ---------------------------------------------------------------- login throttling


def test_the_sixth_login_after_five_failures_is_throttled_even_with_the_right_password(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    colleague = api.create_user(Role.FINANCE_OFFICER)
    # The account is the same whatever the case the username is typed in.
    for spelling in [officer.username, officer.username.upper()] * 2 + [officer.username]:
        assert_problem(attempt_login(api, spelling, WRONG_PASSWORD), 401)

    throttled = attempt_login(api, officer.username)

    body = assert_problem(throttled, 429)
    retry_after = throttled.headers.get("Retry-After", "")
    assert retry_after.isdigit(), f"Retry-After must be whole seconds, got {retry_after!r}"
    window = api.settings.login_window_seconds
    assert 0 < int(retry_after) <= window + 1
    assert "account" in body["detail"]
    assert api.db.count("auth_sessions") == 0
    # Only this account is held back: a colleague on the same client still gets in.
    assert attempt_login(api, colleague.username).status_code == 200

    api.clock.advance(seconds=window - 1)
    assert_problem(attempt_login(api, officer.username), 429)

    api.clock.advance(seconds=int(retry_after) - (window - 1))
    assert attempt_login(api, officer.username).status_code == 200


def test_many_usernames_from_one_client_trip_the_per_client_limit(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    limit = api.settings.login_max_failures_per_client
    assert limit == 20
    # One guess per username: no single account reaches its own limit of 5.
    for n in range(limit):
        assert_problem(attempt_login(api, f"guessed-name-{n}", WRONG_PASSWORD), 401)

    throttled = attempt_login(api, officer.username)

    body = assert_problem(throttled, 429)
    assert "client" in body["detail"]
    assert int(throttled.headers["Retry-After"]) > 0
    assert api.db.count("auth_sessions") == 0


def test_a_successful_login_clears_the_accounts_failure_count(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    for _ in range(4):
        assert_problem(attempt_login(api, officer.username, WRONG_PASSWORD), 401)
    assert attempt_login(api, officer.username).status_code == 200

    # Had the four earlier failures still counted, the second of these would already be throttled.
    for _ in range(5):
        assert_problem(attempt_login(api, officer.username, WRONG_PASSWORD), 401)

    assert_problem(attempt_login(api, officer.username), 429)


# ---------------------------------------------------------------- session lifetimes


def test_an_idle_session_expires_after_thirty_minutes(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    api.login(officer.username)
    idle = api.settings.session_idle_timeout
    assert idle == 1800

    # Each use slides the idle window forward.
    for _ in range(2):
        api.clock.advance(seconds=idle - 1)
        assert api.client.get(ME).status_code == 200

    api.clock.advance(seconds=idle + 1)
    body = assert_problem(api.client.get(ME), 401)
    assert "expired" in body["detail"]


def test_an_active_session_still_ends_after_twelve_hours(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    api.login(officer.username)
    absolute = api.settings.session_absolute_timeout
    assert absolute == 12 * 60 * 60
    every_twenty_minutes = 20 * 60

    elapsed = every_twenty_minutes
    while elapsed < absolute:
        api.clock.advance(seconds=every_twenty_minutes)
        assert api.client.get(ME).status_code == 200, f"refused after {elapsed} s of activity"
        elapsed += every_twenty_minutes

    api.clock.advance(seconds=every_twenty_minutes)
    body = assert_problem(api.client.get(ME), 401)
    assert "expired" in body["detail"]


# ---------------------------------------------------------------- CSRF


@pytest.mark.parametrize(
    "csrf_headers",
    [{}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "a-guessed-token"}],
    ids=["no-header", "empty-header", "wrong-token"],
)
def test_an_unsafe_request_with_the_cookie_but_without_the_csrf_token_is_refused(
    api: Api, csrf_headers: dict[str, str]
) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    csrf = api.login(officer.username)
    before = api.db.snapshot("users", "user_roles", "api_tokens", "auth_sessions")

    refused = api.client.post(TOKENS, json={"name": "forged"}, headers=csrf_headers)
    refused_logout = api.client.post(LOGOUT, headers=csrf_headers)

    body = assert_problem(refused, 403)
    assert "X-CSRF-Token" in body["detail"]
    assert_problem(refused_logout, 403)
    assert api.db.snapshot("users", "user_roles", "api_tokens", "auth_sessions") == before
    assert open_sessions(api) == 1
    # The same request with the session's token goes through.
    assert api.client.post(TOKENS, json={"name": "genuine"}, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_a_forged_disable_from_an_admins_browser_is_refused(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    api.login(admin.username)
    before = api.db.snapshot("users", "user_roles", "api_tokens", "auth_sessions")

    assert_problem(api.client.post(f"/api/v1/users/{officer.id}/disable"), 403)

    assert api.db.snapshot("users", "user_roles", "api_tokens", "auth_sessions") == before
    assert api.db.scalar("SELECT is_active FROM users WHERE id = :id", id=officer.id)
    assert api.client.get(ME, headers=officer.headers).status_code == 200


def test_bearer_requests_need_no_csrf_token(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    assert not api.client.cookies

    response = api.client.post(TOKENS, json={"name": "nightly export"}, headers=officer.headers)

    assert response.status_code == 201, response.text
    assert api.db.count("api_tokens") == 2


# ---------------------------------------------------------------- API tokens


def test_a_new_tokens_secret_is_shown_once_and_stored_only_as_a_keyed_hash(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    created = create_token(api, officer)

    secret = created["token"]
    assert isinstance(secret, str) and secret.startswith("fa_") and len(secret) >= 40
    assert secret.startswith(str(created["prefix"])) and len(str(created["prefix"])) < len(secret)
    stored = api.db.rows("SELECT * FROM api_tokens")
    assert secret_hash(api.settings.secret_key, secret) in {row.token_hash for row in stored}
    assert secret not in repr(stored)
    assert secret not in repr(api.db.rows("SELECT * FROM audit_events"))


def test_listing_tokens_never_shows_their_secrets(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    secret = str(create_token(api, officer)["token"])

    response = api.client.get(TOKENS, headers=officer.headers)

    assert response.status_code == 200, response.text
    tokens = response.json()
    assert [t["name"] for t in tokens] == ["tests", "reporting script"]
    assert all("token" not in t for t in tokens)
    assert secret not in response.text
    assert officer.token not in response.text


def test_a_new_token_authenticates_its_owner_as_a_bearer(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    secret = create_token(api, officer)["token"]

    response = api.client.get(ME, headers=bearer(secret))

    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["username"], me["auth"], me["csrf_token"]) == (officer.username, "token", None)


def test_a_revoked_token_is_refused_on_the_next_request(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    created = create_token(api, officer)
    assert api.client.get(ME, headers=bearer(created["token"])).status_code == 200

    revoked = api.client.post(f"{TOKENS}/{created['id']}/revoke", headers=officer.headers)

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert_problem(api.client.get(ME, headers=bearer(created["token"])), 401)
    # The owner's other token is untouched.
    assert api.client.get(ME, headers=officer.headers).status_code == 200
    assert_problem(api.client.post(f"{TOKENS}/{created['id']}/revoke", headers=officer.headers), 409)


def test_revoking_another_users_token_is_not_found_and_that_token_keeps_working(api: Api) -> None:
    owner = api.create_user(Role.FINANCE_OFFICER)
    intruder = api.create_user(Role.SECRETARIAT_ADMIN)
    created = create_token(api, owner)
    before = api.db.snapshot("api_tokens")

    refused = api.client.post(f"{TOKENS}/{created['id']}/revoke", headers=intruder.headers)

    assert_problem(refused, 404)
    # Indistinguishable from a token that does not exist at all.
    absent = assert_problem(api.client.post(f"{TOKENS}/999999/revoke", headers=intruder.headers), 404)
    assert refused.json()["title"] == absent["title"]
    assert api.db.snapshot("api_tokens") == before
    assert api.db.scalar("SELECT revoked_at FROM api_tokens WHERE id = :id", id=created["id"]) is None
    assert api.client.get(ME, headers=bearer(created["token"])).status_code == 200


def test_an_expired_token_is_refused(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    secret = create_token(api, officer, expires_in_days=1)["token"]

    api.clock.advance(hours=23, minutes=59)
    assert api.client.get(ME, headers=bearer(secret)).status_code == 200

    api.clock.advance(minutes=1)
    body = assert_problem(api.client.get(ME, headers=bearer(secret)), 401)
    assert "expired" in body["detail"]


MALFORMED_AUTHORIZATION: dict[str, Callable[[Actor], str]] = {
    "basic-scheme": lambda actor: "Basic b2ZmaWNlcjpwYXNzd29yZA==",
    "bearer-without-token": lambda actor: "Bearer",
    "bearer-blank-token": lambda actor: "Bearer    ",
    "token-without-scheme": lambda actor: actor.token,
    "other-scheme-with-valid-token": lambda actor: f"Token {actor.token}",
    "unknown-token": lambda actor: "Bearer fa_this-token-was-never-issued",
}


@pytest.mark.parametrize("header", MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION.keys())
def test_a_malformed_or_unknown_authorization_header_is_refused(api: Api, header: Callable[[Actor], str]) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    response = api.client.get(ME, headers={"Authorization": header(officer)})

    assert_problem(response, 401)
    assert api.client.get(ME, headers=officer.headers).status_code == 200


def test_a_401_names_the_bearer_scheme_in_www_authenticate(api: Api) -> None:
    response = api.client.get(ME)

    assert_problem(response, 401)
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


# ---------------------------------------------------------------- disabling a user


def test_disabling_a_user_locks_out_its_open_session_and_its_token_at_once(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    csrf = api.login(officer.username)
    cookie = session_cookie(api)
    api.client.cookies.clear()
    assert api.client.get(ME, headers=cookie_headers(api, cookie)).status_code == 200
    assert api.client.get(ME, headers=officer.headers).status_code == 200

    response = api.client.post(f"/api/v1/users/{officer.id}/disable", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert_problem(api.client.get(ME, headers=cookie_headers(api, cookie)), 401)
    assert_problem(api.client.post(TOKENS, json={"name": "x"}, headers=cookie_headers(api, cookie, csrf=csrf)), 401)
    assert_problem(api.client.get(ME, headers=officer.headers), 401)
    assert open_sessions(api) == 0


def test_a_disabled_user_cannot_log_in_again(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    assert api.client.post(f"/api/v1/users/{officer.id}/disable", headers=admin.headers).status_code == 200

    response = attempt_login(api, officer.username)

    body = assert_problem(response, 401)
    # Same words as a wrong password: the refusal does not tell which accounts exist or are disabled.
    assert body == assert_problem(attempt_login(api, "nobody-by-this-name", WRONG_PASSWORD), 401)
    assert api.db.count("auth_sessions") == 0


# ---------------------------------------------------------------- the audit trail of access


def test_login_logout_token_changes_and_disabling_each_leave_an_audit_event(api: Api) -> None:
    auditor = api.create_user(Role.AUDITOR)
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    last_seq_before = api.db.scalar("SELECT max(seq) FROM audit_events")

    csrf = api.login(officer.username)
    session_id = api.db.scalar("SELECT id FROM auth_sessions WHERE user_id = :id", id=officer.id)
    created = api.client.post(TOKENS, json={"name": "reporting script"}, headers={"X-CSRF-Token": csrf}).json()
    revoke = api.client.post(f"{TOKENS}/{created['id']}/revoke", headers={"X-CSRF-Token": csrf})
    assert revoke.status_code == 200, revoke.text
    assert api.client.post(LOGOUT, headers={"X-CSRF-Token": csrf}).status_code == 204
    assert api.client.post(f"/api/v1/users/{officer.id}/disable", headers=admin.headers).status_code == 200

    trail = [
        (e["action"], e["actor_id"], e["object_type"], e["object_id"])
        for e in reversed(audit_events(api, auditor))
        if e["seq"] > last_seq_before
    ]
    assert trail == [
        ("auth.login", officer.id, "session", str(session_id)),
        ("token.create", officer.id, "api_token", str(created["id"])),
        ("token.revoke", officer.id, "api_token", str(created["id"])),
        ("auth.logout", officer.id, "session", str(session_id)),
        ("user.disable", admin.id, "user", str(officer.id)),
    ]
    verified = api.client.get("/api/v1/audit/verify", headers=auditor.headers).json()
    assert verified["ok"] is True, verified
