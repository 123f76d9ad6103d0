"""The reports as pages, on both backends: the reports a delegate may read (the facility's and its own
member's contributor report) with their downloads in the page's language, another member's report refused,
a date after today refused beside its field, and the drill-down links only for readers of the ledger."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar.testing import TestClient

from fundapp.core.models import Role
from tests.decision_support import fund_window
from tests.support import PASSWORD, Actor, Api, ProposalWorld, proposal_world

pytestmark = pytest.mark.usefixtures("backend")


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


def contributor_of(api: Api, code: str) -> int:
    return int(api.db.scalar("SELECT id FROM contributors WHERE member_code = :c", c=code))


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    people = proposal_world(api, reviewers=0)
    fund_window(api, api.create_user(Role.FINANCE_OFFICER), "SKL", "500000.00")
    return people


def test_a_delegate_reads_the_facilitys_reports_as_pages_with_downloads_in_its_language(
    api: Api, world: ProposalWorld
) -> None:
    sign_in(api.client, world.delegates["SEN"])
    api.client.get("/language/fr?next=/app")

    index = api.client.get("/app/reports")
    funds = api.client.get("/app/reports/funds-available")

    assert index.status_code == 200 and "Rapports" in index.text
    assert f'href="/app/reports/contributor?contributor={contributor_of(api, "SEN")}"' in index.text
    assert funds.status_code == 200 and '<html lang="fr">' in funds.text
    assert "Fonds disponibles pour décision" in html.unescape(funds.text)
    assert 'href="/api/v1/reports/funds-available?format=pdf&amp;locale=fr"' in funds.text
    pdf = api.client.get("/api/v1/reports/funds-available?format=pdf&locale=fr")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "/api/v1/ledger/entries" not in funds.text  # a delegate does not read the ledger: no drill-down


def test_its_own_contributor_report_is_read_and_another_members_is_refused(api: Api, world: ProposalWorld) -> None:
    sign_in(api.client, world.delegates["SEN"])

    own = api.client.get(f"/app/reports/contributor?contributor={contributor_of(api, 'SEN')}")
    other = api.client.get(f"/app/reports/contributor?contributor={contributor_of(api, 'MEX')}")

    assert own.status_code == 200 and "Senegal" in own.text
    assert other.status_code == 403
    assert "Only the contributor's own delegates, the secretariat and auditors read it." in html.unescape(other.text)


def test_a_date_after_today_is_refused_beside_its_field(api: Api, world: ProposalWorld) -> None:
    sign_in(api.client, world.delegates["SEN"])
    tomorrow = api.clock.now().date().replace(year=api.clock.now().year + 1).isoformat()

    refused = api.client.get(f"/app/reports/sources-and-uses?date_to={tomorrow}")

    assert refused.status_code == 422
    assert "The date is after today: a report describes what has happened." in html.unescape(refused.text)
    assert 'href="#date_to"' in refused.text


def test_an_auditor_follows_each_figure_to_its_journal_entries(api: Api, world: ProposalWorld) -> None:
    sign_in(api.client, world.auditor)

    page = api.client.get("/app/reports/sources-and-uses")

    assert page.status_code == 200
    assert 'href="/api/v1/ledger/entries?' in page.text
