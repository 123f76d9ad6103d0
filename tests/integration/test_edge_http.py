"""The service's edge (issue 19): limits on the request line and headers, and the security headers every
response carries, JSON, HTML pages and the API viewer alike (docs/api.md, "Limits", "Security headers")."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.edge import MAX_HEADER_BYTES, MAX_QUERY_BYTES, MAX_QUERY_PARAMETERS
from fundapp.core.models import Role
from tests.conftest import START, make_settings
from tests.support import LEDGER, V1, Api, assert_problem, broken_rules

pytestmark = pytest.mark.usefixtures("backend")


# ---------------------------------------------------------------- limits


def test_a_query_string_over_8_kib_is_414_naming_the_limit(api: Api) -> None:
    reader = api.create_user(Role.AUDITOR)
    long_value = "x" * (MAX_QUERY_BYTES + 1)
    body = assert_problem(api.client.get(f"{V1}/members?q={long_value}", headers=reader.headers), 414)
    assert body["type"] == "urn:fundapp:problem:uri-too-long"
    assert body["limit"] == MAX_QUERY_BYTES
    assert ("query", "max_query_bytes") in broken_rules(body)
    # also before authentication, and on a path no route has
    assert_problem(api.client.get(f"/nowhere?q={long_value}"), 414)
    assert api.client.get(f"{V1}/members?q={'x' * 100}", headers=reader.headers).status_code == 200


def test_more_than_200_query_parameters_is_414_naming_the_limit(api: Api) -> None:
    reader = api.create_user(Role.AUDITOR)
    query = "&".join(f"p{n}=1" for n in range(MAX_QUERY_PARAMETERS + 1))
    body = assert_problem(api.client.get(f"{LEDGER}/accounts?{query}", headers=reader.headers), 414)
    assert body["limit"] == MAX_QUERY_PARAMETERS
    assert ("query", "max_query_parameters") in broken_rules(body)
    within = "&".join(f"p{n}=1" for n in range(MAX_QUERY_PARAMETERS))
    assert api.client.get(f"{LEDGER}/accounts?{within}", headers=reader.headers).status_code == 200


def test_request_headers_over_16_kib_are_431_naming_the_limit(api: Api) -> None:
    reader = api.create_user(Role.AUDITOR)
    big = {**reader.headers, "X-Padding": "p" * MAX_HEADER_BYTES}
    body = assert_problem(api.client.get(f"{V1}/me", headers=big), 431)
    assert body["type"] == "urn:fundapp:problem:headers-too-large"
    assert body["limit"] == MAX_HEADER_BYTES
    assert ("headers", "max_header_bytes") in broken_rules(body)
    assert response_ok(api, {**reader.headers, "X-Padding": "p" * 1000})


def response_ok(api: Api, headers: dict[str, str]) -> bool:
    return api.client.get(f"{V1}/me", headers=headers).status_code == 200


# ---------------------------------------------------------------- security headers


def assert_common_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_json_problems_and_public_responses_carry_the_security_headers(api: Api) -> None:
    reader = api.create_user(Role.AUDITOR)
    for response in (
        api.client.get("/health"),
        api.client.get(f"{V1}/me", headers=reader.headers),
        api.client.get(f"{V1}/me"),  # 401
        api.client.get("/nowhere"),  # 404 no route has
        api.client.delete("/health"),  # 405
        api.client.get("/schema/openapi.json"),
    ):
        assert_common_headers(response)
        assert response.headers["content-security-policy"].startswith("default-src 'none'"), response.url
    assert "strict-transport-security" not in api.client.get("/health").headers


def test_authenticated_answers_are_not_stored_by_caches(api: Api) -> None:
    reader = api.create_user(Role.AUDITOR)
    assert api.client.get(f"{V1}/me", headers=reader.headers).headers["cache-control"] == "no-store"
    assert api.client.get(f"{LEDGER}/accounts", headers=reader.headers).headers["cache-control"] == "no-store"
    api.login(reader.username)
    assert api.client.get(f"{V1}/me").headers["cache-control"] == "no-store"


def test_pages_allow_only_the_services_own_scripts_and_run_no_inline_script(api: Api) -> None:
    api.create_user(Role.AUDITOR, username="page-reader")
    login = api.client.get("/login")
    assert login.status_code == 200
    assert_common_headers(login)
    policy = login.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    api.login("page-reader")
    home = api.client.get("/")
    assert home.status_code == 200, home.text[:300]
    assert home.headers["content-security-policy"] == policy
    for page in (login, home):
        tree = lxml.html.document_fromstring(page.text)
        assert not [s for s in tree.xpath("//script") if not s.get("src")], "an inline script"
        assert not tree.xpath("//@style | //style"), "an inline style the policy would block"
        for url in tree.xpath("//script/@src | //link[@rel='stylesheet']/@href"):
            assert api.client.get(url).status_code == 200, url


def test_the_schema_viewer_runs_no_inline_script_and_its_policy_allows_its_own_assets(api: Api) -> None:
    page = api.client.get("/schema")
    assert page.status_code == 200
    assert_common_headers(page)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    tree = lxml.html.document_fromstring(page.text)
    inline = [s for s in tree.xpath("//script") if not s.get("src")]
    assert [s.get("type") for s in inline] == ["application/json"], "only the description, as data"
    for url in tree.xpath("//script/@src | //link/@href"):
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert b"SwaggerUIBundle(" in api.client.get("/schema/swagger-ui/swagger-initializer.js").content


def test_production_answers_say_strict_transport_security(database_url: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(database_url, tmp_path / "var", FUNDAPP_ENV="production")
    with TestClient(create_app(settings, clock=FrozenClock(START)), base_url="https://testserver.local") as client:
        response = client.get("/health")
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert_common_headers(response)


# ---------------------------------------------------------------- the same limits under a real server


def test_limits_hold_under_uvicorn(api: Api) -> None:
    import httpx

    from tests.support import LiveServer

    reader = api.create_user(Role.AUDITOR)
    with LiveServer(create_app(api.settings, clock=api.clock)) as live, httpx.Client(base_url=live.url) as http:
        body = assert_problem(http.get(f"{V1}/members?q={'x' * (MAX_QUERY_BYTES + 1)}", headers=reader.headers), 414)
        assert body["limit"] == MAX_QUERY_BYTES
        many = "&".join(f"p{n}=1" for n in range(MAX_QUERY_PARAMETERS + 1))
        assert assert_problem(http.get(f"{V1}/members?{many}", headers=reader.headers), 414)["limit"] == 200
        padded = {**reader.headers, "X-Padding": "p" * MAX_HEADER_BYTES}
        assert assert_problem(http.get(f"{V1}/me", headers=padded), 431)["limit"] == MAX_HEADER_BYTES
        answer = http.get(f"{V1}/me", headers=reader.headers)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
