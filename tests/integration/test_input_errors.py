"""Bad input is refused with problem details that name the broken field and rule, and changes nothing.

Every refusal here goes through ``refused``: it compares the row counts of the account tables (and the audit
log) before and after, and ``assert_problem`` checks that no response shows a traceback or a file path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import Actor, Api, assert_problem, broken_rules

pytestmark = pytest.mark.usefixtures("backend")

USERS = "/api/v1/users"
TOKENS = "/api/v1/auth/tokens"
LOGIN = "/api/v1/auth/login"
WATCHED_TABLES = ("users", "user_roles", "api_tokens", "auth_sessions")
ONE_MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
OMIT = object()


@pytest.fixture
def admin(api: Api) -> Actor:
    return api.create_user(Role.SECRETARIAT_ADMIN)


def new_user(**changes: Any) -> dict[str, Any]:
    """A well-formed request to create a finance officer, with ``changes`` (``OMIT`` drops a field)."""
    body: dict[str, Any] = {
        "username": "new-finance-officer",
        "full_name": "New Finance Officer",
        "email": "new.finance.officer@example.org",
        "password": "a long enough password",
        "roles": ["finance_officer"],
        **changes,
    }
    return {field: value for field, value in body.items() if value is not OMIT}


def refused(
    api: Api,
    method: str,
    path: str,
    status: int,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
    content: bytes | Iterator[bytes] | None = None,
) -> dict[str, Any]:
    """Send the request; assert it is refused with ``status`` as problem details and changed nothing."""
    before = api.db.snapshot(*WATCHED_TABLES)
    response = api.client.request(method, path, headers=headers, json=json, content=content)
    body = assert_problem(response, status)
    assert api.db.snapshot(*WATCHED_TABLES) == before, f"the refused {method} {path} changed the database"
    return body


def test_the_well_formed_request_used_below_is_accepted(api: Api, admin: Actor) -> None:
    response = api.client.post(USERS, json=new_user(), headers=admin.headers)

    assert response.status_code == 201, response.text
    assert api.db.count("users") == 2


# ---------------------------------------------------------------- bodies that are not the expected JSON


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"username": "new-finance-officer",', b"{'username': 'single quotes'}", b"[1, 2"],
    ids=["bare-word", "truncated", "single-quotes", "unclosed-array"],
)
@pytest.mark.parametrize("path", [USERS, TOKENS, LOGIN])
def test_malformed_json_is_refused_with_400(api: Api, admin: Actor, path: str, content: bytes) -> None:
    headers = {**JSON} if path == LOGIN else {**JSON, **admin.headers}

    body = refused(api, "POST", path, 400, headers=headers, content=content)

    assert body["detail"]


@pytest.mark.parametrize("content", [b'{"name": "nightly",', b"[1, 2"], ids=["truncated", "unclosed-array"])
def test_a_truncated_json_body_has_the_malformed_body_problem_type(api: Api, admin: Actor, content: bytes) -> None:
    bare_word = refused(api, "POST", TOKENS, 400, headers={**JSON, **admin.headers}, content=b"{not json")
    truncated = refused(api, "POST", TOKENS, 400, headers={**JSON, **admin.headers}, content=content)

    assert bare_word["type"].endswith("malformed-body")
    assert truncated["type"] == bare_word["type"]


WRONG_TYPES = {
    "username-is-a-number": (USERS, new_user(username=123), "username", "string_type"),
    "full-name-is-null": (USERS, new_user(full_name=None), "full_name", "string_type"),
    "roles-is-a-string": (USERS, new_user(roles="finance_officer"), "roles", "list_type"),
    "role-is-unknown": (USERS, new_user(roles=["treasurer"]), "roles.0", "enum"),
    "organisation-is-a-word": (
        USERS,
        new_user(roles=["grantee"], organisation_id="unicef"),
        "organisation_id",
        "int_parsing",
    ),
    "token-expiry-is-a-word": (
        TOKENS,
        {"name": "nightly", "expires_in_days": "soon"},
        "expires_in_days",
        "int_parsing",
    ),
    "token-name-is-a-list": (TOKENS, {"name": ["nightly"]}, "name", "string_type"),
}


@pytest.mark.parametrize(("path", "payload", "field", "rule"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_wrong_type_is_refused_with_422_naming_the_field_and_rule(
    api: Api, admin: Actor, path: str, payload: dict[str, Any], field: str, rule: str
) -> None:
    body = refused(api, "POST", path, 422, headers=admin.headers, json=payload)

    assert broken_rules(body) == {(field, rule)}


def test_a_wrong_type_at_login_is_refused_with_422(api: Api) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    body = refused(api, "POST", LOGIN, 422, json={"username": officer.username, "password": 12345678})

    assert broken_rules(body) == {("password", "string_type")}


UNKNOWN_FIELDS = {
    "user-with-is-admin": (USERS, new_user(is_admin=True), "is_admin"),
    "token-with-scope": (TOKENS, {"name": "nightly", "scope": "everything"}, "scope"),
    "login-with-remember-me": (
        LOGIN,
        {"username": "someone", "password": "whatever", "remember_me": True},
        "remember_me",
    ),
}


@pytest.mark.parametrize(("path", "payload", "field"), UNKNOWN_FIELDS.values(), ids=UNKNOWN_FIELDS.keys())
def test_an_unknown_field_is_refused_as_extra_forbidden(
    api: Api, admin: Actor, path: str, payload: dict[str, Any], field: str
) -> None:
    headers = {} if path == LOGIN else admin.headers

    body = refused(api, "POST", path, 422, headers=headers, json=payload)

    assert broken_rules(body) == {(field, "extra_forbidden")}


@pytest.mark.parametrize("field", ["username", "full_name", "email", "password", "roles"])
def test_a_missing_field_is_refused_as_missing(api: Api, admin: Actor, field: str) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=new_user(**{field: OMIT}))

    assert broken_rules(body) == {(field, "missing")}


def test_every_missing_field_is_named_at_once(api: Api, admin: Actor) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json={"username": "new-finance-officer"})

    assert broken_rules(body) == {(f, "missing") for f in ("full_name", "email", "password", "roles")}


def _oversize_token_request() -> bytes:
    return b'{"name": "' + b"x" * ONE_MIB + b'"}'


def _in_chunks(payload: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """Streamed without a Content-Length, so only counting the bytes can catch it."""
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["with-content-length", "chunked"])
@pytest.mark.parametrize("path", [TOKENS, LOGIN])
def test_a_body_over_one_mebibyte_is_refused_with_413(api: Api, admin: Actor, path: str, streamed: bool) -> None:
    payload = _oversize_token_request()
    assert len(payload) > ONE_MIB
    headers = {**JSON} if path == LOGIN else {**JSON, **admin.headers}

    refused(api, "POST", path, 413, headers=headers, content=_in_chunks(payload) if streamed else payload)


def test_a_body_just_under_one_mebibyte_reaches_validation(api: Api, admin: Actor) -> None:
    payload = b'{"name": "' + b"x" * (ONE_MIB - 100) + b'"}'
    assert len(payload) < ONE_MIB

    body = refused(api, "POST", TOKENS, 422, headers={**JSON, **admin.headers}, content=payload)

    assert broken_rules(body) == {("name", "string_too_long")}


# ---------------------------------------------------------------- paths and methods


@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin"])
@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v2/users", "/api/v1/users/not-a-number"])
def test_an_unknown_path_is_a_404_problem(api: Api, admin: Actor, path: str, as_admin: bool) -> None:
    refused(api, "GET", path, 404, headers=admin.headers if as_admin else None)


@pytest.mark.parametrize(("method", "path"), [("GET", f"{USERS}/999999"), ("POST", f"{USERS}/999999/disable")])
def test_an_unknown_user_is_a_404_problem(api: Api, admin: Actor, method: str, path: str) -> None:
    body = refused(api, method, path, 404, headers=admin.headers)

    assert "999999" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", USERS, {"GET", "POST"}),
        ("PUT", "/api/v1/me", {"GET"}),
        ("GET", "/api/v1/auth/logout", {"POST"}),
        ("DELETE", TOKENS, {"GET", "POST"}),
        ("PATCH", "/api/v1/audit", {"GET"}),
    ],
)
def test_a_wrong_method_is_a_405_problem_that_lists_the_allowed_ones(
    api: Api, admin: Actor, method: str, path: str, allowed: set[str]
) -> None:
    before = api.db.snapshot(*WATCHED_TABLES)

    response = api.client.request(method, path, headers=admin.headers, json=new_user())

    assert_problem(response, 405)
    assert allowed <= {m.strip() for m in response.headers.get("Allow", "").split(",")}
    assert api.db.snapshot(*WATCHED_TABLES) == before


# ---------------------------------------------------------------- the facility's rules on accounts


@pytest.mark.parametrize("spelling", [str.lower, str.upper], ids=["same-case", "other-case"])
def test_a_taken_username_is_a_409_naming_username(api: Api, admin: Actor, spelling: Any) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)

    body = refused(api, "POST", USERS, 409, headers=admin.headers, json=new_user(username=spelling(officer.username)))

    assert broken_rules(body) == {("username", "unique")}
    assert officer.username in body["detail"]


def test_a_delegate_without_a_member_code_is_refused(api: Api, admin: Actor) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=new_user(roles=["member_delegate"]))

    assert any("member_code" in error["message"] for error in body["errors"]), body


def test_a_member_code_on_someone_who_is_not_a_delegate_is_refused(api: Api, admin: Actor) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=new_user(member_code="MEX"))

    assert any("member_code" in error["message"] for error in body["errors"]), body


@pytest.mark.parametrize(
    ("roles", "field"),
    [(["member_delegate"], "member_code"), (["grantee"], "organisation_id")],
    ids=["delegate-without-member-code", "grantee-without-organisation"],
)
def test_a_missing_binding_is_reported_against_its_own_field(
    api: Api, admin: Actor, roles: list[str], field: str
) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=new_user(roles=roles))

    assert {name for name, _rule in broken_rules(body)} == {field}


@pytest.mark.parametrize("password", ["s3cr3t", "eleven-char"], ids=["six-characters", "eleven-characters"])
def test_a_weak_password_is_refused_naming_password(api: Api, admin: Actor, password: str) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=new_user(password=password))

    assert broken_rules(body) == {("password", "string_too_short")}
    assert password not in str(body), "the refusal must not echo the password"


# ---------------------------------------------------------------- hostile input must not become a server error


def test_deeply_nested_json_is_refused_as_malformed(api: Api, admin: Actor) -> None:
    depth = 100_000
    body = refused(api, "POST", TOKENS, 400, headers={**JSON, **admin.headers}, content=b"[" * depth + b"]" * depth)

    assert body["type"].endswith("malformed-body")


def test_a_body_that_is_not_utf8_is_refused_as_malformed(api: Api, admin: Actor) -> None:
    body = refused(api, "POST", TOKENS, 400, headers={**JSON, **admin.headers}, content=b'{"name": "\xff\xfe"}')

    assert body["type"].endswith("malformed-body")


BEYOND_ANY_INTEGER_COLUMN = 10**30
BEYOND_32_BITS = 2**31  # users.id and api_tokens.id are 32-bit INTEGER columns on PostgreSQL


@pytest.mark.parametrize("number", [BEYOND_32_BITS, BEYOND_ANY_INTEGER_COLUMN], ids=["2**31", "10**30"])
@pytest.mark.parametrize(
    ("method", "path_template"),
    [("GET", f"{USERS}/{{}}"), ("POST", f"{USERS}/{{}}/disable"), ("POST", f"{TOKENS}/{{}}/revoke")],
    ids=["user", "disable-user", "revoke-token"],
)
def test_an_id_beyond_the_databases_range_is_simply_not_found(
    api: Api, admin: Actor, method: str, path_template: str, number: int
) -> None:
    refused(api, method, path_template.format(number), 404, headers=admin.headers)


@pytest.mark.parametrize("number", [BEYOND_32_BITS, BEYOND_ANY_INTEGER_COLUMN], ids=["2**31", "10**30"])
def test_an_organisation_id_beyond_the_databases_range_is_refused(api: Api, admin: Actor, number: int) -> None:
    payload = new_user(roles=["grantee"], organisation_id=number)

    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=payload)

    assert {field for field, _rule in broken_rules(body)} == {"organisation_id"}


def test_a_page_offset_beyond_the_databases_range_is_not_a_server_error(api: Api, admin: Actor) -> None:
    response = api.client.get(USERS, params={"offset": BEYOND_ANY_INTEGER_COLUMN}, headers=admin.headers)

    # An empty page or a refusal naming the parameter are both fine; a 500 is not.
    assert response.status_code in {200, 422}, response.text


def test_an_actor_filter_beyond_the_databases_range_is_not_a_server_error(api: Api) -> None:
    auditor = api.create_user(Role.AUDITOR)

    response = api.client.get("/api/v1/audit", params={"actor_id": BEYOND_ANY_INTEGER_COLUMN}, headers=auditor.headers)

    # No such actor: an empty page, or a refusal naming the parameter; a 500 is not.
    assert response.status_code in {200, 422}, response.text


def test_a_nul_character_in_a_name_is_refused(api: Api, admin: Actor) -> None:
    body = refused(api, "POST", USERS, 422, headers=admin.headers, json=new_user(full_name="New\x00Officer"))

    assert {field for field, _rule in broken_rules(body)} == {"full_name"}


def test_a_nul_character_in_a_login_is_refused_as_invalid_input(api: Api) -> None:
    body = refused(api, "POST", LOGIN, 422, json={"username": "some\x00one", "password": "whatever it is"})

    assert {field for field, _rule in broken_rules(body)} == {"username"}


def test_a_nul_character_in_an_audit_filter_is_not_a_server_error(api: Api, request: pytest.FixtureRequest) -> None:
    auditor = api.create_user(Role.AUDITOR)

    response = api.client.get("/api/v1/audit", params={"object_id": "user\x001"}, headers=auditor.headers)

    # Nothing can match: an empty page, or a refusal naming the parameter; a 500 is not.
    assert response.status_code in {200, 422}, response.text
