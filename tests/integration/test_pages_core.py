"""The pages' foundation through HTTP, on both backends: signing in and out, the throttle and a disabled
account as pages, forms with CSRF, POST/redirect/GET with a message, errors beside their fields with the
input kept, "my account" (password, language and time zone, API tokens), the language switch and
Accept-Language, and error pages in the reader's language (a 500 without a trace)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from litestar import get
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.models import Role
from tests.support import PASSWORD, Api, admit_member, assert_no_internals

pytestmark = pytest.mark.usefixtures("backend")


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def sign_in(client: TestClient[Any], username: str, password: str = PASSWORD, next_page: str = "") -> httpx.Response:
    form = client.get("/login" + (f"?next={next_page}" if next_page else ""))
    assert form.status_code == 200, form.text
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_csrf": hidden(form.text, "login_csrf"),
            "next": hidden(form.text, "next"),
        },
        follow_redirects=False,
    )


def errors_beside_fields(html: str) -> dict[str, str]:
    """field id -> the error message shown beside it."""
    return {
        field: re.sub(r"<[^>]+>", "", message).replace("Error:", "").replace("Erreur :", "").strip()
        for field, message in re.findall(r'<p class="error-message" id="([\w-]+)-error">(.*?)</p>', html, re.S)
    }


def test_the_root_and_the_dashboard_ask_to_sign_in_first_and_return_after_it(api: Api) -> None:
    delegate_admin = api.create_user(Role.SECRETARIAT_ADMIN)
    admit_member(api, delegate_admin, "MEX")
    api.create_user(Role.MEMBER_DELEGATE, username="ana", member_code="MEX")

    root = api.client.get("/", follow_redirects=False)
    dashboard = api.client.get("/app/account", follow_redirects=False)

    assert (root.status_code, root.headers["location"]) == (303, "/app")
    assert (dashboard.status_code, dashboard.headers["location"]) == (303, "/login?next=/app/account")
    signed_in = sign_in(api.client, "ana", next_page="/app/account")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/app/account")
    page = api.client.get("/app/account")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text and "You are signed in." in page.text
    assert "Delegate of a member state" in page.text and "Mexico" in page.text


def test_a_wrong_password_is_shown_on_the_form_with_the_username_kept(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")

    refused = sign_in(api.client, "audrey", "not the password")

    assert refused.status_code == 401
    assert 'id="error-summary"' in refused.text and "The username or password is not right" in refused.text
    assert 'value="audrey"' in refused.text and "not the password" not in refused.text
    assert api.client.get("/app", follow_redirects=False).status_code == 303  # still signed out


def test_the_login_throttle_is_a_page_that_says_how_long_to_wait(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    for _ in range(api.settings.login_max_failures_per_account):
        assert sign_in(api.client, "audrey", "wrong password!").status_code == 401

    throttled = sign_in(api.client, "audrey")

    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert re.search(r"Try again in \d+ minutes?\.", throttled.text), throttled.text


def test_a_disabled_account_is_told_so_and_its_open_session_ends(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER, username="olga")
    assert sign_in(api.client, "olga").status_code == 303
    assert api.client.post(f"/api/v1/users/{officer.id}/disable", headers=admin.headers).status_code == 200

    ended = api.client.get("/app", follow_redirects=False)
    again = sign_in(api.client, "olga")

    assert ended.headers["location"].startswith("/login")
    assert again.status_code == 401
    # The same words as a wrong password (no account is revealed), and whom to ask.
    assert "or the account is disabled" in again.text and "ask the secretariat" in again.text


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    sign_in(api.client, "audrey")
    before = api.db.rows("SELECT locale, time_zone FROM users WHERE username = 'audrey'")

    refused = api.client.post("/app/account/preferences", data={"locale": "fr"}, follow_redirects=False)
    forged = api.client.post(
        "/app/account/preferences", data={"locale": "fr", "csrf_token": "forged"}, follow_redirects=False
    )

    for response in (refused, forged):
        assert response.status_code == 403
        assert "This form has expired or did not come from this site." in response.text
    assert api.db.rows("SELECT locale, time_zone FROM users WHERE username = 'audrey'") == before


def test_preferences_change_the_pages_language_and_time_zone(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    sign_in(api.client, "audrey")
    page = api.client.get("/app/account")

    saved = api.client.post(
        "/app/account/preferences",
        data={"csrf_token": hidden(page.text, "csrf_token"), "locale": "fr", "time_zone": "America/Mexico_City"},
        follow_redirects=False,
    )

    assert (saved.status_code, saved.headers["location"]) == (303, "/app/account")
    after = api.client.get("/app/account")
    assert '<html lang="fr">' in after.text and "Vos préférences ont été enregistrées." in after.text
    assert "America/Mexico_City" in after.text
    me = api.client.get("/api/v1/me").json()
    assert (me["locale"], me["time_zone"]) == ("fr", "America/Mexico_City")


def test_a_refused_preference_names_its_field_and_keeps_the_answer(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    sign_in(api.client, "audrey")
    page = api.client.get("/app/account")

    refused = api.client.post(
        "/app/account/preferences",
        data={"csrf_token": hidden(page.text, "csrf_token"), "locale": "de", "time_zone": "Mars/Olympus"},
    )

    assert refused.status_code == 422
    assert errors_beside_fields(refused.text) == {
        "locale": "Choose one of the options offered.",
        "time_zone": "Choose a time zone from the list.",
    }
    assert 'href="#time_zone"' in refused.text  # the summary links to the field
    assert api.db.scalar("SELECT locale FROM users WHERE username = 'audrey'") is None


def test_changing_the_password_asks_for_the_current_one_and_ends_the_other_sessions(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    assert sign_in(api.client, "audrey").status_code == 303
    first_session = api.client.cookies.get(api.settings.session_cookie_name)
    api.client.cookies.clear()
    sign_in(api.client, "audrey")
    token = hidden(api.client.get("/app/account").text, "csrf_token")

    wrong = api.client.post(
        "/app/account/password",
        data={
            "csrf_token": token,
            "current_password": "not mine",
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    changed = api.client.post(
        "/app/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
        follow_redirects=False,
    )

    assert wrong.status_code == 422
    assert errors_beside_fields(wrong.text) == {"current_password": "The current password is not right."}
    assert "a brand new passphrase" not in wrong.text  # passwords are never shown again
    assert changed.status_code == 303
    assert "Your other sessions have ended." in api.client.get("/app/account").text
    current_session = api.client.cookies.get(api.settings.session_cookie_name)
    api.client.cookies.set(api.settings.session_cookie_name, first_session)
    assert api.client.get("/app", follow_redirects=False).headers["location"].startswith("/login")
    api.client.cookies.set(api.settings.session_cookie_name, current_session)
    assert api.client.get("/app").status_code == 200  # this session goes on
    api.client.cookies.clear()
    assert sign_in(api.client, "audrey", "a brand new passphrase").status_code == 303


def test_an_api_token_is_created_shown_once_and_revoked(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    sign_in(api.client, "audrey")
    token = hidden(api.client.get("/app/account").text, "csrf_token")

    created = api.client.post("/app/account/tokens", data={"csrf_token": token, "name": "my script"})

    secret = re.search(r'<code class="secret">(fa_[\w-]+)</code>', created.text)
    assert created.status_code == 200 and secret, created.text
    assert api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code == 200
    assert secret.group(1) not in api.client.get("/app/account").text  # shown only once
    token_id = api.db.scalar("SELECT id FROM api_tokens WHERE name = 'my script'")
    revoked = api.client.post(f"/app/account/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 200 and "The API token was revoked." in revoked.text
    assert api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code == 401


def test_the_language_switch_and_accept_language_choose_the_pages_language(api: Api) -> None:
    switched = api.client.get("/language/es?next=/login", follow_redirects=False)
    assert (switched.status_code, switched.headers["location"]) == (303, "/login")
    assert '<html lang="es">' in api.client.get("/login").text and "Iniciar sesión" in api.client.get("/login").text

    api.client.cookies.clear()
    french = api.client.get("/login", headers={"Accept-Language": "de-CH, fr;q=0.8, en;q=0.5"})
    assert '<html lang="fr">' in french.text and "Se connecter" in french.text
    elsewhere = api.client.get("/language/fr?next=https://evil.example/", follow_redirects=False)
    assert elsewhere.headers["location"] == "/app"  # never sends anyone to another site


def test_error_pages_speak_the_readers_language_and_never_show_a_trace(api: Api) -> None:
    @get("/app/broken", include_in_schema=False)
    async def broken() -> None:
        raise RuntimeError("a secret internal detail")

    app = create_app(api.settings, clock=api.clock, extra_route_handlers=[broken])
    api.create_user(Role.AUDITOR, username="audrey")
    with TestClient(app, base_url="http://testserver.local") as client:
        sign_in(client, "audrey")
        client.get("/language/fr?next=/app")
        missing = client.get("/app/nowhere")
        failed = client.get("/app/broken")
        api_missing = client.get("/api/v1/nowhere")

    assert missing.status_code == 404 and "Page introuvable" in missing.text and '<html lang="fr">' in missing.text
    assert failed.status_code == 500 and "Une erreur s'est produite" in html.unescape(failed.text)
    assert "secret internal detail" not in failed.text
    assert_no_internals(failed)
    assert api_missing.headers["content-type"].startswith("application/problem+json")


def test_signing_out_ends_the_session(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="audrey")
    sign_in(api.client, "audrey")
    token = hidden(api.client.get("/app").text, "csrf_token")

    out = api.client.post("/app/logout", data={"csrf_token": token}, follow_redirects=False)

    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert "You are signed out." in api.client.get("/login").text
    assert api.client.get("/app", follow_redirects=False).status_code == 303
