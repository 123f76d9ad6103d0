"""Delegates deciding in a real browser (Debian's Chromium), on SQLite and PostgreSQL (issue 18): each journey
starts from the sign-in page and uses the keyboard only; the decision's state (members, delegates, a proposal
recommended by the TAG and put to the members) is built once per test through the services.

- a delegate opens the decision from its dashboard, votes yes, changes to no, keeps the receipt (shown and
  downloaded) and, after the close, finds it in the published record with the "check a receipt" box;
- a delegate of a country of the proposal sees that its member is recused (and why), with no vote offered;
- a delegate of a member on no roll is refused another member's statement and a forged ballot with a 403
  page that says why, and nothing is written;
- a ballot submitted after the deadline is refused with the reason, and nothing is recorded;
- a refused form names the field (the summary links to it, the message is beside it) and keeps the input;
- every page a delegate sees passes axe-core in English, Spanish and French, in the page's language.

The same rules through HTTP are tested in tests/integration/test_pages_decisions.py and test_pages_reports.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from fundapp.core.config import Settings
from fundapp.core.models import Role
from tests.browser.conftest import Site
from tests.browser.harness import (
    PageCheck,
    activate,
    assert_focus_visible,
    focused,
    in_thread,
    press_to_navigate,
    sign_in,
    tab_to,
    type_into,
)
from tests.conftest import make_settings
from tests.decision_support import closes_in, fund_window, open_funding, recommended_proposal
from tests.support import (
    PASSWORD,
    V1,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    add_fx_rate,
    admit_member,
    proposal_world,
    set_fee,
)

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(120)]
OpenPage = Callable[..., Page]
CheckPage = Callable[[Page, str, str], PageCheck]
CheckReflow = Callable[[Page, str, str], Path]

TITLE = "Fund: skills for returning migrants"
# The tables a ballot, a recusal or an objection writes; a refusal leaves their counts as they were.
TABLES = ("decision_events", "ballots", "recusals", "decisions")
NOT_ALLOWED = {"en": "Not allowed", "es": "No permitido", "fr": "Non autorisé"}
NOT_FOUND = {"en": "Page not found", "es": "Página no encontrada", "fr": "Page introuvable"}
# What the "Check a receipt" box says of the Philippines' ballot, in each language.
COUNTED = {
    "en": "This receipt is in the record: the ballot of Philippines (Yes), counted.",
    "es": "Este comprobante figura en el acta: el voto de Filipinas (Sí), contado.",
    "fr": "Ce récépissé figure au procès-verbal : le vote de l'État membre Philippines (Oui), compté.",
}
# Mexico's share of the proposal, as each language writes a percentage.
MEXICOS_SHARE = {"en": "Mexico 60%", "es": "México 60 %", "fr": "Mexique 60 %"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The charter of these tests recuses the countries of a proposal from its funding decision."""
    return make_settings(database_url, tmp_path / "var", FUNDAPP_CHARTER_AUTO_RECUSE_BENEFICIARY_MEMBERS="on")


@dataclass(frozen=True)
class Delegates:
    """Mexico, Senegal and the Philippines on the roll of a decision to fund a proposal for Mexico and
    Senegal (both recused by the charter), closing in 20 minutes; Guatemala admitted after it opened (on no
    roll), with a delegate."""

    people: ProposalWorld
    decision_id: int
    outsider: Actor

    @property
    def voter(self) -> Actor:
        return self.people.delegates["PHL"]

    @property
    def recused(self) -> Actor:
        return self.people.delegates["MEX"]

    @property
    def path(self) -> str:
        return f"/app/decisions/{self.decision_id}"


def build(api: Api) -> Delegates:
    people = proposal_world(api, reviewers=2)
    officer = api.create_user(Role.FINANCE_OFFICER)
    fund_window(api, officer, "SKL", "900000.00")
    # The Philippines' statement has lines: the year's fees assessed, and a pledge half paid.
    for tier, amount in (("I", "150000.00"), ("II", "25000.00")):
        set_fee(api, people.admin, 2026, tier, amount)
    accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    add_fx_rate(api, officer, "EUR", "2026-02-02", "1.080000")
    philippines = int(api.db.scalar("SELECT id FROM contributors WHERE member_code = 'PHL'"))
    pledge = accepted(
        api.client.post(
            f"{V1}/pledges",
            json={
                "contributor_id": philippines,
                "currency": "EUR",
                "amount": "40000.00",
                "signed_on": "2026-02-02",
                "window_code": "SKL",
                "instalments": [
                    {"due_on": "2026-03-02", "amount": "20000.00"},
                    {"due_on": "2026-09-01", "amount": "20000.00"},
                ],
            },
            headers=officer.headers,
        ),
        201,
    )
    accepted(
        api.client.post(
            f"{V1}/contributions",
            json={
                "contributor_id": philippines,
                "value_date": "2026-03-05",
                "currency": "EUR",
                "amount": "20000.00",
                "instalment_id": pledge["instalments"][0]["id"],
            },
            headers=officer.headers,
        ),
        201,
    )
    proposal_id = recommended_proposal(api, people)
    decision = open_funding(api, people.admin, proposal_id, title=TITLE, closes_at=closes_in(api, minutes=20))
    admit_member(api, people.admin, "GTM", "II")
    outsider = api.create_user(Role.MEMBER_DELEGATE, member_code="GTM")
    return Delegates(people, int(decision["id"]), outsider)


@pytest.fixture
def delegates(site: Site) -> Delegates:
    return in_thread(lambda: build(site.api))


# ---------------------------------------------------------------- what the tests read on a page


def path_of(page: Page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def words(text: str) -> str:
    return " ".join(text.split())


def notice(page: Page) -> str:
    return words(page.locator("main .notice").first.inner_text())


def main_text(page: Page) -> str:
    return words(page.locator("main").inner_text())


def snapshot(site: Site) -> dict[str, int]:
    return site.api.db.snapshot(*TABLES)


def ballot_events(site: Site, decision_id: int) -> int:
    return int(
        site.scalar("SELECT count(*) FROM decision_events WHERE decision_id = :d AND kind = 'ballot'", d=decision_id)
    )


def choose_radio(page: Page, name: str, value: str) -> None:
    """Tab into a group of radio buttons and move with the arrow keys until ``value`` is checked (Space checks
    the first one when none is)."""
    tab_to(page, f"input[type=radio][name={name}]")
    if not page.eval_on_selector("*:focus", "(el) => el.checked"):
        page.keyboard.press("Space")
    count = page.locator(f"input[type=radio][name={name}]").count()
    for _ in range(count):
        if page.eval_on_selector("*:focus", "(el) => el.value") == value:
            break
        page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("*:focus", "(el) => el.checked && el.value") == value
    assert_focus_visible(page)


def forge_ballot(page: Page, decision_id: int, choice: str = "yes") -> None:
    """Put the ballot form the page does not offer into it (as a crafted request would), with the session's
    CSRF token, to be submitted by the keyboard."""
    page.evaluate(
        """([id, choice]) => {
          const token = document.querySelector("input[name=csrf_token]").value;
          const form = document.createElement("form");
          form.method = "post";
          form.action = `/app/decisions/${id}/ballot`;
          form.innerHTML = `<input type="hidden" name="csrf_token" value="${token}">
            <input type="hidden" name="choice" value="${choice}">
            <button type="submit" class="button" id="forged">Vote</button>`;
          document.getElementById("main").append(form);
        }""",
        [decision_id, choice],
    )


# ---------------------------------------------------------------- the journeys


def test_a_delegate_votes_changes_its_ballot_keeps_the_receipt_and_finds_it_in_the_record(
    site: Site, delegates: Delegates, open_page: OpenPage, check_page: CheckPage
) -> None:
    page = open_page("en")
    page.goto("/login")
    sign_in(page, delegates.voter.username, PASSWORD)
    assert path_of(page) == "/app"
    awaiting = words(page.locator("#awaiting-title + ul").inner_text())
    assert awaiting == f"{TITLE} \u2013 Vote; closes 16 March 2026 09:20 UTC (in 20 minutes)"

    opened = activate(page, f"main a[href='{delegates.path}']")
    assert opened is not None and opened.status == 200 and path_of(page) == delegates.path
    assert "Philippines is on the roll." in main_text(page)
    choose_radio(page, "choice", "yes")
    cast = activate(page, f"form[action='{delegates.path}/ballot'] button[type=submit]")

    assert cast is not None and cast.status == 200 and path_of(page) == delegates.path
    first = re.fullmatch(r"Your member's ballot was recorded: Yes\. Its receipt is ([0-9a-f]{64})\.", notice(page))
    assert first, notice(page)
    assert "Your member's ballot: Yes." in main_text(page)

    choose_radio(page, "choice", "no")
    changed = activate(page, f"form[action='{delegates.path}/ballot'] button[type=submit]")

    assert changed is not None and changed.status == 200
    final = re.fullmatch(r"Your member's ballot was changed to No\. Its new receipt is ([0-9a-f]{64})\.", notice(page))
    assert final and final.group(1) != first.group(1), notice(page)
    receipt = final.group(1)
    assert "Your member's ballot: No." in main_text(page)
    assert page.locator("main .receipt").inner_text() == receipt
    check_page(page, "en", "receipt")

    tab_to(page, f"a[href='{delegates.path}/receipt.txt']")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    kept = download.value
    assert kept.suggested_filename == f"decision-{delegates.decision_id}-receipt.txt"
    text = Path(kept.path()).read_text(encoding="utf-8")
    assert f"Receipt: {receipt}\n" in text and "Choice: no\n" in text and "Member: PHL\n" in text
    assert ballot_events(site, delegates.decision_id) == 2

    site.clock.advance(minutes=20, seconds=1)  # past the deadline: the next read closes the decision
    dashboard = activate(page, "a.site-name")
    assert dashboard is not None and dashboard.status == 200 and path_of(page) == "/app"
    assert words(page.locator("#recent-title + ul").inner_text()).startswith(f"{TITLE} \u2013 not adopted")
    activate(page, f"main a[href='{delegates.path}']")
    assert site.scalar("SELECT status FROM decisions WHERE id = :d", d=delegates.decision_id) == "closed"
    type_into(page, "#receipt", receipt)
    checked = press_to_navigate(page)

    assert checked is not None and checked.status == 200 and path_of(page) == f"{delegates.path}?receipt={receipt}"
    assert notice(page) == "This receipt is in the record: the ballot of Philippines (No), counted."
    assert page.locator("#receipt").input_value() == receipt
    check_page(page, "en", "receipt-checked")


def test_a_delegate_of_a_country_of_the_proposal_sees_its_member_recused_and_no_vote(
    site: Site, delegates: Delegates, open_page: OpenPage, check_page: CheckPage
) -> None:
    page = open_page("en")
    page.goto("/login")
    sign_in(page, delegates.recused.username, PASSWORD)
    assert words(page.locator("#awaiting-title + p").inner_text()) == "Nothing awaits your member's ballot."

    activate(page, ".main-nav a[href='/app/decisions']")
    assert page.locator(f"main a[href='{delegates.path}']").count() == 1
    opened = activate(page, f"main a[href='{delegates.path}']")

    assert opened is not None and opened.status == 200
    reason = words(page.locator("main .reason").inner_text())
    assert reason == "Your member cannot take part: Your member state is recused from this decision."
    recused = words(page.locator("#how-title + dl").inner_text())
    assert "Recused Mexico: a country of the proposal, recused by the charter" in recused
    assert "Senegal: a country of the proposal, recused by the charter" in recused
    assert page.locator("input[name=choice]").count() == 0
    assert page.locator(f"form[action^='{delegates.path}/']").count() == 0
    check_page(page, "en", "decision-recused")


def test_a_delegate_is_refused_another_members_statement_and_a_forged_ballot_and_nothing_is_written(
    site: Site, delegates: Delegates, open_page: OpenPage, check_page: CheckPage
) -> None:
    page = open_page("en")
    page.goto("/login")
    sign_in(page, delegates.outsider.username, PASSWORD)
    before = snapshot(site)

    statement = page.goto("/app/members/MEX")
    assert statement is not None and statement.status == 403
    assert page.locator("h1").inner_text() == "Not allowed"
    assert words(page.locator("main .reason").inner_text()) == (
        "Reason: Only the member's own delegates, the secretariat and auditors read it."
    )
    check_page(page, "en", "statement-refused")

    activate(page, ".main-nav a[href='/app/decisions']")
    activate(page, f"main a[href='{delegates.path}']")
    assert "Guatemala is not on the roll." in main_text(page)
    assert page.locator("input[name=choice]").count() == 0
    forge_ballot(page, delegates.decision_id)
    refused = activate(page, "#forged")

    # The decision page again, answered 403, with the refusal's reason at the top (and the focus on it).
    assert refused is not None and refused.status == 403 and path_of(page) == f"{delegates.path}/ballot"
    assert focused(page, "#error-summary")["matches"]
    not_on_roll = (
        "Your member state is not on this decision's roll: only the members eligible when it opened take part."
    )
    assert words(page.locator("#error-summary").inner_text()) == f"There is a problem {not_on_roll}"
    assert words(page.locator("main .reason").inner_text()) == f"Your member cannot take part: {not_on_roll}"
    check_page(page, "en", "ballot-refused")
    assert snapshot(site) == before
    assert site.scalar("SELECT count(*) FROM ballots WHERE member_code = 'GTM'") == 0


def test_a_ballot_submitted_after_the_deadline_is_refused_with_the_reason_and_records_nothing(
    site: Site, delegates: Delegates, open_page: OpenPage, check_page: CheckPage
) -> None:
    page = open_page("en")
    page.goto("/login")
    sign_in(page, delegates.voter.username, PASSWORD)
    activate(page, f"main a[href='{delegates.path}']")
    choose_radio(page, "choice", "yes")
    before = snapshot(site)

    site.clock.advance(minutes=20, seconds=1)  # the page was open when the deadline passed
    late = activate(page, f"form[action='{delegates.path}/ballot'] button[type=submit]")

    assert late is not None and late.status == 409
    assert focused(page, "#error-summary")["matches"]
    summary = words(page.locator("#error-summary").inner_text())
    assert summary == "There is a problem This decision is not open: nothing is accepted after its close."
    assert page.locator("input[name=choice]").count() == 0  # closed now: nothing more is offered
    check_page(page, "en", "ballot-late")
    assert ballot_events(site, delegates.decision_id) == 0
    after = snapshot(site)
    # the read after the deadline closed the decision (its "closed" event); no ballot was recorded
    assert after["ballots"] == before["ballots"] == 0
    assert site.scalar("SELECT status FROM decisions WHERE id = :d", d=delegates.decision_id) == "closed"


def test_a_refused_form_names_the_field_and_keeps_the_input(
    site: Site, delegates: Delegates, open_page: OpenPage, check_page: CheckPage
) -> None:
    page = open_page("en")
    page.goto("/login")
    sign_in(page, delegates.voter.username, PASSWORD)
    before = snapshot(site)
    activate(page, f"main a[href='{delegates.path}']")

    # No choice made: the ballot names its field.
    refused = activate(page, f"form[action='{delegates.path}/ballot'] button[type=submit]")

    assert refused is not None and refused.status == 422
    assert focused(page, "#error-summary")["matches"]
    assert page.locator("#error-summary a[href='#choice']").inner_text() == "Choose one of the options offered."
    assert words(page.locator("#choice-error").inner_text()) == "Error: Choose one of the options offered."
    check_page(page, "en", "ballot-no-choice")
    tab_to(page, "#error-summary a[href='#choice']")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'choice'")
    assert_focus_visible(page)

    # A recusal's reason too long: the reason stays in its field, the message beside it.
    tab_to(page, "details summary")
    page.keyboard.press("Enter")
    reason = "Our minister chairs the partner organisation's board. " * 80  # over 4,000 characters
    tab_to(page, "#recusal_reason")
    page.keyboard.insert_text(reason)
    too_long = activate(page, f"form[action='{delegates.path}/recusal'] button[type=submit]")

    assert too_long is not None and too_long.status == 422
    assert focused(page, "#error-summary")["matches"]
    link = page.locator("#error-summary a[href='#recusal_reason']")
    assert link.inner_text() == "This is too long."
    assert words(page.locator("#recusal_reason-error").inner_text()) == "Error: This is too long."
    field = page.locator("#recusal_reason")
    assert field.is_visible() and field.input_value() == reason
    assert field.get_attribute("aria-invalid") == "true"
    assert "recusal_reason-error" in (field.get_attribute("aria-describedby") or "").split()
    check_page(page, "en", "recusal-too-long")
    tab_to(page, "#error-summary a[href='#recusal_reason']")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'recusal_reason'")
    assert snapshot(site) == before


# ---------------------------------------------------------------- every page a delegate sees, in three languages


@pytest.mark.parametrize("lang", ["en", "es", "fr"])
def test_every_delegate_page_passes_axe_in_each_language(
    site: Site,
    delegates: Delegates,
    open_page: OpenPage,
    check_page: CheckPage,
    check_reflow: CheckReflow,
    lang: str,
) -> None:
    page = open_page(lang)
    page.goto("/login")
    sign_in(page, delegates.voter.username, PASSWORD)
    assert path_of(page) == "/app"
    check_page(page, lang, "dashboard")
    check_reflow(page, lang, "dashboard")

    page.goto("/app/decisions")
    check_page(page, lang, "decisions")
    check_reflow(page, lang, "decisions")
    page.goto(delegates.path)
    assert MEXICOS_SHARE[lang] in main_text(page)
    check_page(page, lang, "decision-open")
    check_reflow(page, lang, "decision-open")
    refused = activate(page, f"form[action='{delegates.path}/ballot'] button[type=submit]")
    assert refused is not None and refused.status == 422
    check_page(page, lang, "ballot-refused")
    choose_radio(page, "choice", "yes")
    activate(page, f"form[action='{delegates.path}/ballot'] button[type=submit]")
    receipt = page.locator("main .receipt").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", receipt) and receipt in notice(page)
    check_page(page, lang, "receipt")
    check_reflow(page, lang, "receipt")

    page.goto("/app/members/PHL")
    check_page(page, lang, "statement")
    check_reflow(page, lang, "statement")
    page.goto("/app/reports")
    check_page(page, lang, "reports")
    contributor = page.locator("main a[href^='/app/reports/contributor?']").get_attribute("href")
    for name, path in (
        ("sources-and-uses", "/app/reports/sources-and-uses"),
        ("funds-available", "/app/reports/funds-available"),
        ("financial-statements", "/app/reports/financial-statements?year=2026"),
        ("window-portfolio", "/app/reports/window-portfolio?window=SKL"),
        ("contributor", contributor),
    ):
        shown = page.goto(str(path))
        assert shown is not None and shown.status == 200, (name, path)
        check_page(page, lang, f"report-{name}")
    late = page.goto("/app/reports/sources-and-uses?date_to=2027-01-01")
    assert late is not None and late.status == 422
    check_page(page, lang, "report-refused")

    forbidden = page.goto("/app/members/MEX")
    assert forbidden is not None and forbidden.status == 403
    assert page.locator("h1").inner_text() == NOT_ALLOWED[lang]
    check_page(page, lang, "not-allowed")
    missing = page.goto("/app/decisions/999999")
    assert missing is not None and missing.status == 404
    assert page.locator("h1").inner_text() == NOT_FOUND[lang]
    check_page(page, lang, "not-found")

    recused = open_page(lang)
    recused.goto("/login")
    sign_in(recused, delegates.recused.username, PASSWORD)
    recused.goto(delegates.path)
    check_page(recused, lang, "decision-recused")

    site.clock.advance(minutes=20, seconds=1)  # the decision closes at the next read
    page.goto(f"{delegates.path}?receipt={receipt}")
    assert notice(page) == COUNTED[lang]
    check_page(page, lang, "decision-closed")
    check_reflow(page, lang, "decision-closed")
    page.goto("/app")
    check_page(page, lang, "dashboard-closed")
    page.goto("/app/decisions")
    check_page(page, lang, "decisions-closed")
