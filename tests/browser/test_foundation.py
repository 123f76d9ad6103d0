"""The pages' foundation in a real browser (Debian's Chromium), on SQLite and PostgreSQL: a keyboard-only
journey from the sign-in page, every page checked by axe-core and for its language in en, es and fr, a
refused form that keeps the input, names the field and takes the focus, and the skip link.

The same pages' HTTP-level rules are tested in tests/integration/test_pages_core.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from fundapp.core.models import Role
from tests.browser.conftest import Site
from tests.browser.harness import (
    PageCheck,
    activate,
    assert_focus_visible,
    assert_skip_link_first,
    choose,
    focused,
    press_to_navigate,
    sign_in,
    tab_to,
    type_into,
)
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("backend")
OpenPage = Callable[..., Page]
CheckPage = Callable[[Page, str, str], PageCheck]
CheckReflow = Callable[[Page, str, str], Path]

SIGNED_IN = {"en": "You are signed in.", "es": "Ha iniciado sesión.", "fr": "Vous êtes connecté."}
NOT_FOUND = {"en": "Page not found", "es": "Página no encontrada", "fr": "Page introuvable"}
PROBLEM = {"en": "There is a problem", "es": "Hay un problema", "fr": "Il y a un problème"}
UTC_NAME = {"en": "Coordinated Universal Time", "es": "tiempo universal coordinado", "fr": "temps universel coordonné"}
TOO_LONG = {"en": "This is too long.", "es": "Es demasiado largo.", "fr": "C'est trop long."}


def path_of(page: Page) -> str:
    """The page's path and query, without the site's address."""
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def notice(page: Page) -> str:
    return page.locator("main .notice").inner_text().strip()


def footer(page: Page) -> str:
    return " ".join(page.locator(".site-footer").inner_text().split())


def test_a_keyboard_only_journey_signs_in_changes_the_preferences_and_signs_out(
    site: Site, open_page: OpenPage, check_page: CheckPage
) -> None:
    site.create_user(Role.AUDITOR, username="audrey")
    page = open_page("en")

    page.goto("/login")
    check_page(page, "en", "sign-in")
    landed = sign_in(page, "audrey", PASSWORD)

    assert landed is not None and landed.status == 200
    assert path_of(page) == "/app" and notice(page) == SIGNED_IN["en"]
    check_page(page, "en", "dashboard")

    account = activate(page, ".main-nav a[href='/app/account']")
    assert account is not None and account.status == 200 and path_of(page) == "/app/account"
    assert page.locator(".main-nav a[aria-current='page']").inner_text() == "My account"
    assert "Times are shown in Coordinated Universal Time." in footer(page)
    # The token the services made on the site's clock, shown in the reader's time zone.
    assert site.clock.now().isoformat() == "2026-03-16T09:00:00+00:00"
    assert page.locator(".table tbody td").nth(2).inner_text() == "16 March 2026 09:00 UTC"
    check_page(page, "en", "account")

    choose(page, "#locale", "español")
    choose(page, "#time_zone", "America/Mexico City")
    saved = activate(page, "form[action='/app/account/preferences'] button[type='submit']")

    assert saved is not None and saved.status == 200 and path_of(page) == "/app/account"
    assert notice(page) == "Se guardaron sus preferencias."
    assert page.locator("#locale").input_value() == "es"
    assert page.locator("#time_zone").input_value() == "America/Mexico_City"
    assert site.scalar("SELECT locale FROM users WHERE username = 'audrey'") == "es"
    assert site.scalar("SELECT time_zone FROM users WHERE username = 'audrey'") == "America/Mexico_City"
    assert "Las horas se muestran en hora central (America/Mexico_City)." in footer(page)
    assert page.locator(".table tbody td").nth(2).inner_text() == "16 de marzo de 2026 03:00 CST"
    check_page(page, "es", "account-saved")

    out = activate(page, ".sign-out button[type='submit']")

    assert out is not None and out.status == 200 and path_of(page) == "/login"
    assert notice(page) == "Ha cerrado la sesión."
    check_page(page, "es", "signed-out")
    page.goto("/app")
    assert path_of(page) == "/login?next=/app"  # the session has ended


@pytest.mark.parametrize("lang", ["en", "es", "fr"])
def test_every_foundation_page_passes_axe_in_each_language(
    site: Site, open_page: OpenPage, check_page: CheckPage, check_reflow: CheckReflow, lang: str
) -> None:
    delegate = site.bound_user(Role.MEMBER_DELEGATE)
    page = open_page(lang)

    page.goto("/login")
    check_page(page, lang, "sign-in")
    check_reflow(page, lang, "sign-in")
    refused = sign_in(page, delegate.username, "not the password")
    assert refused is not None and refused.status == 401
    check_page(page, lang, "sign-in-refused")
    check_reflow(page, lang, "sign-in-refused")

    sign_in(page, delegate.username, PASSWORD)
    assert notice(page) == SIGNED_IN[lang]
    assert UTC_NAME[lang] in footer(page)
    check_page(page, lang, "dashboard")
    check_reflow(page, lang, "dashboard")

    page.goto("/app/account")
    check_page(page, lang, "account")
    check_reflow(page, lang, "account")
    type_into(page, "#name", "x" * 101)
    too_long = press_to_navigate(page)
    assert too_long is not None and too_long.status == 422
    assert page.locator("#name-error").inner_text().endswith(TOO_LONG[lang])
    check_page(page, lang, "account-refused")
    check_reflow(page, lang, "account-refused")

    missing = page.goto("/app/nowhere")
    assert missing is not None and missing.status == 404
    assert page.locator("h1").inner_text() == NOT_FOUND[lang]
    check_page(page, lang, "not-found")
    check_reflow(page, lang, "not-found")


def test_a_refused_form_keeps_the_input_names_the_field_and_takes_the_focus(
    site: Site, open_page: OpenPage, check_page: CheckPage
) -> None:
    site.create_user(Role.AUDITOR, username="audrey")
    page = open_page("en")
    sign_in(page, "audrey", PASSWORD)
    page.goto("/app/account")

    # A time zone the list does not offer, sent by editing the chosen option's value in the page.
    choose(page, "#locale", "français")
    page.eval_on_selector("#time_zone", "(s) => { s.options[s.selectedIndex].value = 'Mars/Olympus'; }")
    refused = activate(page, "form[action='/app/account/preferences'] button[type='submit']")

    assert refused is not None and refused.status == 422
    assert focused(page, "#error-summary")["matches"], "the error summary does not have the focus"
    assert page.locator("#error-summary h2").inner_text() == PROBLEM["en"]
    link = page.locator("#error-summary a[href='#time_zone']")
    assert link.inner_text() == "Choose a time zone from the list."
    assert page.locator("#time_zone-error").inner_text().endswith("Choose a time zone from the list.")
    assert page.locator("#time_zone").get_attribute("aria-invalid") == "true"
    assert "time_zone-error" in (page.locator("#time_zone").get_attribute("aria-describedby") or "").split()
    assert page.locator("#locale").input_value() == "fr"  # the answer that was right is kept
    assert site.scalar("SELECT locale FROM users WHERE username = 'audrey'") is None  # nothing saved
    check_page(page, "en", "preferences-refused")

    # The summary's link takes the keyboard to the field.
    tab_to(page, "#error-summary a[href='#time_zone']")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'time_zone'")
    assert_focus_visible(page)

    # A text field keeps what was typed.
    name = "a token name that is far too long " * 3
    type_into(page, "#name", name)
    again = press_to_navigate(page)

    assert again is not None and again.status == 422
    assert focused(page, "#error-summary")["matches"]
    assert page.locator("#error-summary a[href='#name']").inner_text() == "This is too long."
    assert page.locator("#name").input_value() == name
    assert page.locator("#name").get_attribute("aria-invalid") == "true"


def test_the_skip_link_is_the_first_stop_and_moves_the_focus_to_main(site: Site, open_page: OpenPage) -> None:
    site.create_user(Role.AUDITOR, username="audrey")
    page = open_page("fr")

    page.goto("/login")
    assert_skip_link_first(page)
    assert page.locator("a.skip-link").inner_text() == "Aller au contenu principal"
    sign_in(page, "audrey", PASSWORD)
    for path in ("/app", "/app/account", "/app/nowhere"):
        page.goto(path)
        assert_skip_link_first(page)
