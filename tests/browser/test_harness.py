"""The browser harness catches what it is there to catch: a serious axe-core violation, a page in the wrong
language, a focus that cannot be seen, a skip link that is not the first stop. Pages written here
(``set_content``), no site."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.harness import assert_skip_link_first, check_page, tab_to

GOOD = """<!DOCTYPE html><html lang="{lang}"><head><title>A page</title>
<style>a:focus-visible {{ outline: 3px solid #fd0; box-shadow: 0 0 0 6px #000; }}
.skip-link {{ position: absolute; left: -9999px; }} .skip-link:focus {{ left: 0; }}</style></head>
<body><a class="skip-link" href="#main">Skip to main content</a><header><a href="/">Home</a></header>
<main id="main" tabindex="-1"><h1>A page</h1><p><a href="/next">Next</a></p>{extra}</main></body></html>"""


def test_check_page_fails_on_serious_or_critical_violations_and_says_where(blank_page: Page, tmp_path: Path) -> None:
    extra = '<img src="data:,"><p style="color: #bbb">Faint text</p>'
    blank_page.set_content(GOOD.format(lang="en", extra=extra))

    with pytest.raises(AssertionError) as failure:
        check_page(blank_page, lang="en", name="bad", test="harness", folder=tmp_path)

    message = str(failure.value)
    assert "image-alt (critical)" in message and "color-contrast (serious)" in message
    assert "at img" in message and "https://dequeuniversity.com/rules/axe/" in message
    assert (tmp_path / "harness--bad--en.png").stat().st_size > 0  # the screenshot is there to look at


def test_check_page_passes_a_good_page_and_fails_a_page_in_another_language(blank_page: Page, tmp_path: Path) -> None:
    blank_page.set_content(GOOD.format(lang="fr", extra=""))

    assert check_page(blank_page, lang="fr", name="good", test="harness", folder=tmp_path).violations == []
    with pytest.raises(AssertionError, match="<html lang='fr'>, but the page was chosen in 'es'"):
        check_page(blank_page, lang="es", name="good", test="harness", folder=tmp_path)


def test_the_keyboard_helpers_refuse_an_unseen_focus_and_a_late_skip_link(blank_page: Page) -> None:
    unseen = "<style>a:focus-visible { outline: none; box-shadow: none; }</style>"
    blank_page.set_content(GOOD.format(lang="en", extra=unseen))
    with pytest.raises(AssertionError, match="cannot be seen"):
        tab_to(blank_page, "a[href='/next']")

    blank_page.goto("about:blank")
    blank_page.set_content(GOOD.format(lang="en", extra=""))
    assert_skip_link_first(blank_page)
    late = GOOD.format(lang="en", extra="").replace(
        '<a class="skip-link" href="#main">Skip to main content</a><header><a href="/">Home</a></header>',
        '<header><a href="/">Home</a></header><a class="skip-link" href="#main">Skip to main content</a>',
    )
    blank_page.goto("about:blank")  # a fresh document: the focus starts from its top
    blank_page.set_content(late)
    with pytest.raises(AssertionError, match="the first Tab reached <a> Home, not the skip link"):
        assert_skip_link_first(blank_page)
