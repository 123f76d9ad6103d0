"""Concessional financing's pages through HTTP, on SQLite and PostgreSQL (issue 21, "Pages"): the agency drafts
a request through the editor (a refusal beside its field, the input kept), checks its answers with the
computed grant elements and submits; the secretariat records an agency's procedures agreement; a delegate
reads a concessional decision's terms; finance is refused a transfer before the loan is effective (the
409's words on the page, nothing written), then one person prepares and another approves it; every page in
English, Spanish and French."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.concessional_support import (
    CONCESSIONAL_TABLES,
    ConcessionalWorld,
    adopt,
    concessional_world,
    reviewed_request,
)
from tests.grants_support import sign
from tests.integration.test_pages_decisions import hidden, notice, post_form, sign_in, text_of
from tests.support import Api, accepted

pytestmark = pytest.mark.usefixtures("backend")
REQUESTS = "/app/concessional/requests"

FORM = {
    "title": "Jordan economic opportunities for refugees and host communities",
    "description": "Jobs and skills for refugees and Jordanians.",
    "results": "30,000 work permits; 10,000 people trained",
    "country": "JOR",
    "window_code": "SKL",
    "endorsement_reference": "MOPIC/2026/114",
    "endorsed_on": "2026-03-02",
    "loan_amount": "3000000.00",
    "loan_currency": "USD",
    "maturity_months": "120",
    "grace_months": "30",
    "repayments_per_year": "2",
    "method": "equal_principal",
    "market_base_rate": "3.5",
    "market_spread": "1.5",
    "concessional_base_rate": "3,5",
    "concessional_spread": "-2",
    "agency_costs": "6049.79",
    "tranches.0.planned_date": "2026-06-01",
    "tranches.0.amount": "200000.00",
    "tranches.1.planned_date": "2026-12-01",
    "tranches.1.amount": "200000.00",
    "tranches.2.planned_date": "2027-06-01",
    "tranches.2.amount": "120000.00",
}


def counts(api: Api) -> dict[str, int]:
    return {table: int(api.db.scalar(f"SELECT count(*) FROM {table}")) for table in CONCESSIONAL_TABLES}


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    assert found, f"no error beside {field}"
    return text_of(found.group(1)).replace("Error:", "").strip()


def test_the_agency_drafts_checks_and_submits_a_request(api: Api) -> None:
    cw = concessional_world(api)
    sign_in(api.client, cw.agency)
    assert "Financing requests" in text_of(api.client.get("/app").text)
    assert api.client.get(f"{REQUESTS}/new").status_code == 200

    before = counts(api)
    refused = post_form(api.client, REQUESTS, **{**FORM, "loan_amount": "three million", "endorsed_on": "2.3.2026"})
    assert refused.status_code == 422
    assert field_error(refused.text, "loan_amount") == "Give a number, such as 2.5."
    assert field_error(refused.text, "endorsed_on") == "Give a date as YYYY-MM-DD."
    assert 'href="#loan_amount"' in refused.text and 'value="three million"' in refused.text
    assert f'value="{FORM["title"]}"' in refused.text and 'value="2.3.2026"' in refused.text
    assert counts(api) == before

    created = post_form(api.client, REQUESTS, **FORM)
    assert created.status_code == 303, created.text
    check_path = created.headers["location"]
    check = api.client.get(check_path).text
    words = text_of(check)
    assert "Check your answers" in words and "The draft was saved and computed." in notice(check)
    assert "9.2100 %" in words and "26.3417 %" in words and "5.84" in words
    assert "15 % at the discount rate of 7 %" in words and "reached" in words
    assert "US$513,950.21" in words and "US$520,000.00" in words

    request_id = int(check_path.split("/")[-2])
    submitted = post_form(api.client, f"{REQUESTS}/{request_id}/submit")
    assert submitted.status_code == 303 and submitted.headers["location"] == f"{REQUESTS}/{request_id}"
    status = api.client.get(submitted.headers["location"]).text
    assert "submitted to the secretariat's screening" in notice(status)
    assert "In review" in text_of(status) and "Submitted, awaiting screening" in text_of(status)
    row = api.db.scalar("SELECT status FROM financing_requests WHERE id = :i", i=request_id)
    assert row == "in_review"
    listed = text_of(api.client.get(REQUESTS).text)
    assert FORM["title"] in listed and "In review" in listed


def test_a_submission_refused_shows_the_rule_beside_its_answer(api: Api) -> None:
    cw = concessional_world(api)
    sign_in(api.client, cw.agency)
    draft = {**FORM, "endorsement_reference": "", "endorsed_on": ""}
    created = post_form(api.client, REQUESTS, **draft)
    request_id = int(created.headers["location"].split("/")[-2])
    before = counts(api)
    refused = post_form(api.client, f"{REQUESTS}/{request_id}/submit")
    assert refused.status_code == 422
    message = field_error(refused.text, "endorsement_reference")
    assert message == "The request needs the country's endorsement: its reference and date."
    assert 'href="#endorsement_reference"' in refused.text
    assert counts(api) == before


def test_the_secretariat_records_an_agencys_procedures_agreement(api: Api) -> None:
    cw = concessional_world(api, agreement=False)
    sign_in(api.client, cw.admin)
    listed = text_of(api.client.get("/app/concessional/agencies").text)
    assert "World Bank" in listed and "Not recorded" in listed
    path = f"/app/concessional/agencies/{cw.agency_id}/procedures-agreement"
    tomorrow = (api.clock.now() + timedelta(days=1)).date().isoformat()
    refused = post_form(api.client, path, agreed_on=tomorrow, document="FPA-WB-2026")
    assert refused.status_code == 422 and "after today" in field_error(refused.text, "agreed_on")
    assert 'value="FPA-WB-2026"' in refused.text
    today = api.clock.now().date().isoformat()
    done = post_form(api.client, path, agreed_on=today, document="FPA-WB-2026")
    assert done.status_code == 303
    assert "FPA-WB-2026" in text_of(api.client.get(done.headers["location"]).text)
    assert api.db.scalar("SELECT procedures_agreement_document FROM organisations WHERE id = :i", i=cw.agency_id) == (
        "FPA-WB-2026"
    )


def _open_decision(api: Api, cw: ConcessionalWorld, request_id: int) -> int:
    payload = {
        "kind": "concessional_financing",
        "request_id": request_id,
        "procedure": "vote",
        "title": "Concessional financing for Jordan",
        "text": "The member states decide.",
        "closes_at": (api.clock.now() + timedelta(days=7)).isoformat(),
        "open": True,
    }
    return int(accepted(api.client.post("/api/v1/decisions/", json=payload, headers=cw.admin.headers), 201)["id"])


def test_a_delegate_reads_the_concessional_terms_on_the_decision_page(api: Api) -> None:
    cw = concessional_world(api)
    request = reviewed_request(api, cw)
    decision_id = _open_decision(api, cw, int(request["id"]))
    sign_in(api.client, cw.grants.world.delegates["PHL"])
    page = text_of(api.client.get(f"/app/decisions/{decision_id}").text)
    assert "Concessional financing" in page and "World Bank" in page and "Jordan" in page
    assert "US$3,000,000.00" in page and "US$513,950.21" in page and "US$6,049.79" in page
    assert "9.2100 % on market terms; 26.3417 % on concessional terms" in page
    assert "threshold 15% at the discount rate of 7%" in page and "5.84" in page


def _adopted(api: Api, cw: ConcessionalWorld) -> tuple[int, int]:
    request = reviewed_request(api, cw)
    adopt(api, cw, int(request["id"]))
    grant_id = int(api.db.scalar("SELECT grant_id FROM financing_requests WHERE id = :i", i=request["id"]))
    accepted(sign(api, cw.admin, grant_id))
    return int(request["id"]), grant_id


def test_finance_is_refused_before_effectiveness_then_maker_and_checker_transfer(api: Api) -> None:
    cw = concessional_world(api)
    request_id, grant_id = _adopted(api, cw)
    status_path = f"{REQUESTS}/{request_id}"

    sign_in(api.client, cw.grants.officer)
    listed = text_of(api.client.get("/app/concessional/operations").text)
    assert "Approved, pending cash transfer" in listed
    before = counts(api)
    refused = post_form(api.client, f"{status_path}/transfers", transfer_tranche="1", transfer_reference="TT-1")
    assert refused.status_code == 409
    assert field_error(refused.text, "transfer_tranche") == (
        "The loan is not effective yet: transfers to the agency wait for its signature and effectiveness."
    )
    assert 'href="#transfer_tranche"' in refused.text and 'value="TT-1"' in refused.text
    assert counts(api) == before

    sign_in(api.client, cw.agency)
    today = api.clock.now().date().isoformat()
    assert post_form(api.client, f"{status_path}/board-approval", approved_on=today).status_code == 303
    early = post_form(api.client, f"{status_path}/effectiveness", signed_on=today, effective_on="2000-01-01")
    assert early.status_code == 422 and "effective_on-error" in early.text
    effective = post_form(api.client, f"{status_path}/effectiveness", signed_on=today, effective_on=today)
    assert effective.status_code == 303
    assert "Loan effective" in text_of(api.client.get(status_path).text)

    sign_in(api.client, cw.grants.officer)
    prepared = post_form(api.client, f"{status_path}/transfers", transfer_tranche="1", transfer_reference="TT-1")
    assert prepared.status_code == 303, prepared.text
    page = api.client.get(status_path).text
    assert "Prepared, awaiting approval" in text_of(page) and "/approve" not in page
    transfer_id = int(api.db.scalar("SELECT id FROM disbursements WHERE grant_id = :g", g=grant_id))

    sign_in(api.client, cw.grants.approvers[0])
    assert f"/transfers/{transfer_id}/approve" in api.client.get(status_path).text
    approved = post_form(api.client, f"{status_path}/transfers/{transfer_id}/approve")
    assert approved.status_code == 303
    assert "The transfer was approved." in notice(api.client.get(status_path).text)
    assert api.db.scalar("SELECT status FROM disbursements WHERE id = :i", i=transfer_id) == "approved"


def _pages_in(client: TestClient[Any], lang: str, paths: list[str]) -> None:
    client.get(f"/language/{lang}?next=/app")
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, lang, response.text[:500])
        assert f'<html lang="{lang}">' in response.text, path


def test_the_pages_render_in_english_spanish_and_french(api: Api) -> None:
    cw = concessional_world(api)
    request_id, _grant = _adopted(api, cw)
    sign_in(api.client, cw.agency)
    draft = post_form(api.client, REQUESTS, **FORM).headers["location"]
    agency_paths = [REQUESTS, f"{REQUESTS}/new", draft, f"{REQUESTS}/{request_id}", draft.replace("/check", "/edit")]
    for lang in ("en", "es", "fr"):
        sign_in(api.client, cw.agency)
        _pages_in(api.client, lang, agency_paths)
        sign_in(api.client, cw.admin)
        _pages_in(
            api.client,
            lang,
            [
                "/app/concessional/agencies",
                f"/app/concessional/agencies/{cw.agency_id}",
                "/app/concessional/operations",
            ],
        )
        sign_in(api.client, cw.grants.officer)
        _pages_in(api.client, lang, [f"{REQUESTS}/{request_id}"])
    assert hidden(api.client.get(f"{REQUESTS}/{request_id}").text, "csrf_token")
