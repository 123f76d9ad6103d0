"""The Content-Security-Policy in a real browser (issue 19): the API viewer at /schema renders the API's
operations under its policy, the sign-in page and the home page load, and Chromium reports no violation of
the policy on any of them (an inline script or a blocked asset would be one)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import ConsoleMessage, Page

from fundapp.core.models import Role
from tests.browser.conftest import Site
from tests.browser.harness import sign_in
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("backend")
OpenPage = Callable[..., Page]


def watch_violations(page: Page) -> list[str]:
    """The policy violations the page reports (console errors and securitypolicyviolation events)."""
    found: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            found.append(message.text)

    page.on("console", on_console)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return found


def test_the_schema_viewer_renders_under_its_policy(site: Site, open_page: OpenPage) -> None:
    page = open_page("en")
    violations = watch_violations(page)
    response = page.goto("/schema")
    assert response is not None and response.ok
    assert "frame-ancestors 'none'" in (response.headers.get("content-security-policy") or "")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Concessional Migration Financing Facility API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 100
    # an operation opened: its parameters, responses and schemas (highlighted examples) render too
    page.locator(".opblock-summary").first.click()
    page.locator(".opblock-body .responses-wrapper").first.wait_for()
    page.locator(".models-control, .models h4").first.click()
    assert violations == []


def test_the_pages_load_under_their_policy(site: Site, open_page: OpenPage) -> None:
    user = site.create_user(Role.AUDITOR, username="policy-reader", password=PASSWORD)
    page = open_page("en")
    violations = watch_violations(page)
    page.goto("/login")
    sign_in(page, user.username, PASSWORD)
    page.goto("/")
    page.locator("main").wait_for()
    assert violations == []
