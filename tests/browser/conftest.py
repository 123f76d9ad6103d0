"""Fixtures of the browser tests (docs/pages.md, "Browser tests").

- ``browser_host`` (session): one headless Debian Chromium per process (an xdist worker), launched by the
  first browser test; without Chromium every browser test is skipped, saying how to install it.
- ``site`` (test): the app under uvicorn on a free port, on the test's database (SQLite and PostgreSQL, the
  ``backend`` fixture) and the test's ``FrozenClock`` (``site.clock``); users made through the services.
- ``open_page(lang)`` (test): a page in a fresh browser context (its own cookies), asking for ``lang``
  (Accept-Language), its addresses relative to the site.
- ``check_page(page, lang, name)``: axe-core, ``<html lang>`` and a screenshot (``harness.check_page``).
- ``check_reflow(page, lang, name)``: no sideways scrolling at 320 CSS px, and a screenshot.
- ``screenshot_dir`` (session): ``screenshots/`` in the run's temporary folder (with several workers, the
  folder they share), e.g. ``/tmp/pytest-of-$USER/pytest-current/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.models import Role
from tests.browser import harness
from tests.browser.harness import VIEWPORT, WAIT_MS, BrowserHost, PageCheck, in_thread
from tests.support import Actor, Api, LiveServer

# The locale each test language's browser asks for (Accept-Language and navigator.language).
BROWSER_LOCALES = {"en": "en-GB", "es": "es-ES", "fr": "fr-FR"}


@pytest.fixture(scope="session")
def browser_host() -> Iterator[BrowserHost]:
    if harness.chromium_executable() is None:
        pytest.skip(harness.missing_chromium())
    host = BrowserHost()
    yield host
    host.close()


@pytest.fixture(scope="session")
def screenshot_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    root = base.parent if hasattr(request.config, "workerinput") else base
    folder = root / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@dataclass
class Site:
    """The running app: its address, its clock (move it with ``site.clock.current = ...``), its settings,
    and the services' helpers (``site.api``: users, the database probe)."""

    url: str
    clock: FrozenClock
    settings: Settings
    api: Api

    def create_user(self, *roles: Role, **kwargs: Any) -> Actor:
        """A user made through the services (``Api.create_user``), off the browser's event loop."""
        return in_thread(lambda: self.api.create_user(*roles, **kwargs))

    def bound_user(self, *roles: Role) -> Actor:
        """A user whose bindings name real records (a delegate's member admitted, ``Api.bound_user``)."""
        return in_thread(lambda: self.api.bound_user(*roles))

    def scalar(self, sql: str, **params: Any) -> Any:
        return self.api.db.scalar(sql, **params)


@pytest.fixture
def site(api: Api, settings: Settings, clock: FrozenClock) -> Iterator[Site]:
    with LiveServer(create_app(settings, clock=clock)) as server:
        yield Site(server.url, clock, settings, api)


@pytest.fixture
def browser(browser_host: BrowserHost) -> Iterator[Browser]:
    """The process's Chromium, for this test (Playwright's event loop is this thread's while it runs: set
    up the database and the site before it, as ``open_page`` does)."""
    try:
        yield browser_host.enter()
    finally:
        browser_host.leave()


@pytest.fixture
def open_page(site: Site, browser: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page(lang)``: a page in a browser context of its own (cookies included) that asks for ``lang``
    (Accept-Language), on the test's site; closed at the end of the test."""
    contexts: list[BrowserContext] = []

    def open_(lang: str = "en") -> Page:
        context = browser.new_context(
            base_url=site.url, locale=BROWSER_LOCALES[lang], viewport=VIEWPORT, reduced_motion="reduce"
        )
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def blank_page(browser: Browser) -> Iterator[Page]:
    """A page with no site behind it (``page.set_content``), to test the harness itself."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def check_page(request: pytest.FixtureRequest, screenshot_dir: Path) -> Callable[[Page, str, str], PageCheck]:
    def check(page: Page, lang: str, name: str) -> PageCheck:
        return harness.check_page(page, lang=lang, name=name, test=request.node.name, folder=screenshot_dir)

    return check


@pytest.fixture
def check_reflow(request: pytest.FixtureRequest, screenshot_dir: Path) -> Callable[[Page, str, str], Path]:
    def check(page: Page, lang: str, name: str) -> Path:
        return harness.check_reflow(page, lang=lang, name=name, test=request.node.name, folder=screenshot_dir)

    return check
