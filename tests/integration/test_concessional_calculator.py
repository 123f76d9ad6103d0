"""The concessionality calculator through HTTP, on both backends (issue 21, acceptance 1 and 5): the API
reproduces the OECD's worked example, refuses bad terms with problem+json naming the field and the rule, and
saves nothing; the page shows the form, the results beside the kept inputs, and a refusal beside its field,
in English and in other languages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar.testing import TestClient

from fundapp.core.models import Role
from tests.support import PASSWORD, Actor, Api, assert_problem, broken_rules

pytestmark = pytest.mark.usefixtures("backend")

API = "/api/v1/concessional/calculator"
PAGE = "/app/concessional/calculator"
TABLES = ("financing_requests", "audit_events", "journal_entries", "proposals", "decisions")
OECD = {
    "loan_amount": "1000.00",
    "currency": "USD",
    "maturity_months": 120,
    "grace_months": 30,
    "repayments_per_year": 2,
    "method": "equal_principal",
    "market_base_rate": "0.02",
    "market_spread": "0.005",
    "concessional_base_rate": "0.01",
    "concessional_spread": "0.005",
    "discount_rate": "0.10",
}


def test_the_oecd_example_through_the_api_saves_nothing(api: Api) -> None:
    reader = api.create_user(Role.AUDITOR)
    before = api.db.snapshot(*TABLES)
    results = {}
    for discount in ("0.10", "0.09", "0.07", "0.06", "0.05"):
        response = api.client.post(API, json={**OECD, "discount_rate": discount}, headers=reader.headers)
        assert response.status_code == 200, response.text
        results[discount] = response.json()
    assert {d: r["grant_element_before"] for d, r in results.items()} == {
        "0.10": "32.3909",
        "0.09": "28.9924",
        "0.07": "21.4469",
        "0.06": "17.2547",
        "0.05": "12.7487",
    }
    body = results["0.10"]
    assert body["market_rate"] == "0.025" and body["concessional_rate"] == "0.015"
    assert body["concessionality"]["currency"] == "USD"
    assert float(body["grant_element_after"]) > float(body["grant_element_before"])
    assert body["leverage"] is not None and body["meets_threshold"] is None
    schedule = body["market_schedule"]
    assert len(schedule) == 20 and schedule[0] == {
        "period": 1,
        "months": 6,
        "principal": "0.00",
        "interest": "12.50",
        "debt_service": "12.50",
        "outstanding": "1000.00",
    }
    assert schedule[4]["months"] == 30 and schedule[4]["principal"] == "62.50"
    assert schedule[-1]["outstanding"] == "0.00"
    assert api.db.snapshot(*TABLES) == before


def test_every_signed_in_role_may_use_it_and_nobody_else(api: Api) -> None:
    for role in (Role.MEMBER_DELEGATE, Role.GRANTEE, Role.TAG_REVIEWER):
        user = api.bound_user(role)
        assert api.client.post(API, json=OECD, headers=user.headers).status_code == 200
    api.client.cookies.clear()
    assert_problem(api.client.post(API, json=OECD), 401)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"maturity_months": 0}, ("maturity_months", "positive")),
        ({"grace_months": 130}, ("grace_months", "grace-within-maturity")),
        ({"grace_months": 31}, ("grace_months", "schedule-adds-up")),
        ({"maturity_months": 125}, ("maturity_months", "schedule-adds-up")),
        ({"repayments_per_year": 3}, ("repayments_per_year", "known-frequency")),
        ({"loan_amount": "0"}, ("loan_amount", "positive")),
        ({"loan_amount": "10.001"}, ("loan_amount", "excess_precision")),
        ({"concessional_spread": "0.05"}, ("concessional_rate", "not-above-market")),
        ({"market_base_rate": "1.2"}, ("market_rate", "rate-range")),
        ({"discount_rate": "-0.01"}, ("discount_rate", "rate-range")),
        ({"threshold": "1.5"}, ("threshold", "threshold-range")),
        ({"discount_rate": 0.1}, ("discount_rate", "string_type")),
        ({"method": "balloon"}, ("method", "enum")),
        ({"currency": "XYZ"}, ("currency", "unknown_currency")),
        ({"colour": "red"}, ("colour", "extra_forbidden")),
    ],
)
def test_bad_terms_are_refused_naming_the_field_and_rule(
    api: Api, changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    reader = api.create_user(Role.AUDITOR)
    before = api.db.snapshot(*TABLES)
    body = assert_problem(api.client.post(API, json={**OECD, **changes}, headers=reader.headers), 422)
    assert expected in broken_rules(body)
    assert api.db.snapshot(*TABLES) == before


# ---------------------------------------------------------------- the page


def sign_in(client: TestClient[Any], actor: Actor) -> None:
    client.cookies.clear()
    form = client.get("/login").text
    token = re.search(r'name="login_csrf" value="([^"]*)"', form)
    assert token
    response = client.post(
        "/login",
        data={"username": actor.username, "password": PASSWORD, "login_csrf": token.group(1), "next": "/app"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


PAGE_FORM = {
    "loan_amount": "1000",
    "currency": "USD",
    "maturity_months": "120",
    "grace_months": "30",
    "repayments_per_year": "2",
    "method": "equal_principal",
    "market_base_rate": "2",
    "market_spread": "0.5",
    "concessional_base_rate": "1",
    "concessional_spread": "0.5",
    "discount_rate": "10",
    "threshold": "35",
}


def post_page(api: Api, **changes: str) -> Any:
    token = hidden(api.client.get(PAGE).text, "csrf_token")
    return api.client.post(PAGE, data={"csrf_token": token, **PAGE_FORM, **changes})


def test_the_page_shows_the_form_and_the_results_beside_the_kept_inputs(api: Api) -> None:
    sign_in(api.client, api.bound_user(Role.MEMBER_DELEGATE))
    before = api.db.snapshot(*TABLES)

    form = api.client.get(PAGE)
    assert form.status_code == 200 and "Concessionality calculator" in form.text
    assert f'href="{PAGE}"' in api.client.get("/app").text  # in the navigation
    done = post_page(api)

    assert done.status_code == 200
    text = html.unescape(done.text)
    assert '<dd id="grant-element-before">32.3909 %</dd>' in text
    assert 'name="market_spread" type="text" value="0.5"' in text  # the input kept
    assert '<dd id="grant-element-after">36.8514 %</dd>' in text
    assert '<dd id="concessionality">US$44.60</dd>' in text and '<dd id="leverage">22.42</dd>' in text
    assert "reached" in text and "not reached" not in text  # 36.8514% reaches 35%
    assert "not reached" in html.unescape(post_page(api, threshold="40").text)
    assert "On concessional terms" in text
    assert api.db.snapshot(*TABLES) == before


def test_a_refusal_is_shown_beside_its_field_with_the_input_kept(api: Api) -> None:
    sign_in(api.client, api.bound_user(Role.MEMBER_DELEGATE))

    refused = post_page(api, grace_months="31")

    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert 'id="error-summary"' in text and 'href="#grace_months"' in text
    assert 'id="grace_months-error"' in text and "The schedule does not add up" in text
    assert re.search(r'name="grace_months" type="text" value="31"[^>]* aria-invalid="true"', text)
    assert 'id="grant-element-before"' not in text

    rates = html.unescape(post_page(api, concessional_base_rate="5").text)
    assert 'href="#concessional_rate"' in rates and 'id="concessional_rate-error"' in rates
    assert "may not be dearer than the market terms" in rates
    number = html.unescape(post_page(api, discount_rate="ten").text)
    assert 'id="discount_rate-error"' in number and "Give a number, such as 2.5." in number


@pytest.mark.parametrize(
    ("lang", "title", "result", "error"),
    [
        ("es", "Calculadora de concesionalidad", "32,3909 %", "El calendario no cuadra"),
        ("fr", "Calculateur de concessionnalité", "32,3909 %", "L'échéancier ne tombe pas juste"),
    ],
)
def test_the_page_in_other_languages(api: Api, lang: str, title: str, result: str, error: str) -> None:
    sign_in(api.client, api.bound_user(Role.MEMBER_DELEGATE))
    api.client.get(f"/language/{lang}?next=/app")

    form = api.client.get(PAGE)
    assert f'<html lang="{lang}">' in form.text and title in html.unescape(form.text)
    done = html.unescape(post_page(api, market_spread="0,5").text)  # a decimal comma is understood
    assert result in done.replace("\u202f", " ").replace("\xa0", " ")
    refused = html.unescape(post_page(api, maturity_months="125").text)
    assert error in refused
