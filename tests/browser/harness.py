"""The browser tests' harness (DESIGN §11, docs/pages.md "Browser tests"): Debian's Chromium driven by
Playwright, axe-core on every page, keyboard-only ways through forms, screenshots.

Playwright's sync API keeps its own event loop in this thread. While it is set as the thread's running loop,
``asyncio.run`` (the services' helpers, Alembic) refuses to start; :class:`BrowserHost` therefore sets it
only while a browser test runs, and the tests call the services through :func:`in_thread`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, Response, sync_playwright

T = TypeVar("T")

# ---------------------------------------------------------------- the browser

CHROMIUM_ENV = "FUNDAPP_TEST_CHROMIUM"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = (
    "the browser tests need Debian's Chromium at /usr/bin/chromium: install it with "
    "`sudo apt-get install chromium` (`make install-test` and `.ci/run` do it when they run as root), "
    f"or set {CHROMIUM_ENV} to a Chromium or Chrome executable (docs/pages.md, 'Browser tests')"
)
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # a small /dev/shm (containers) must not crash the renderer
    "--disable-dev-shm-usage",
)
VIEWPORT = {"width": 1280, "height": 800}
# Every wait of a browser test (a selector, a navigation) gives up after this many milliseconds.
WAIT_MS = 15_000


def chromium_wanted() -> str:
    """The Chromium to drive: ``FUNDAPP_TEST_CHROMIUM`` when set, else Debian's."""
    return os.environ.get(CHROMIUM_ENV) or DEBIAN_CHROMIUM


def chromium_executable() -> str | None:
    """The wanted Chromium's path, or None when there is no such executable."""
    return shutil.which(chromium_wanted())


def missing_chromium() -> str:
    """Why the browser tests are skipped, and how to install what they need."""
    return f"no Chromium executable at {chromium_wanted()}; {INSTALL_HINT}"


class BrowserHost:
    """Playwright and one headless Chromium for this process (one per xdist worker), launched on first use
    and closed when the session ends. Between browser tests the thread has no running event loop."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> Browser:
        """The browser, with Playwright's loop set as this thread's running loop (as its sync API expects)."""
        if self._browser is None:
            executable = chromium_executable()
            if executable is None:
                raise RuntimeError(missing_chromium())
            self._playwright = sync_playwright().start()
            self._loop = asyncio.get_running_loop()  # Playwright's, set by start()
            flags = [*CHROMIUM_FLAGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
            self._browser = self._playwright.chromium.launch(executable_path=executable, headless=True, args=flags)
        else:
            # the documented hook for loop implementers; Playwright's own greenlets call it the same way
            asyncio._set_running_loop(self._loop)
        return self._browser

    def leave(self) -> None:
        """Clear the running loop, so that ``asyncio.run`` works again in this thread (other tests, fixtures)."""
        asyncio._set_running_loop(None)

    def close(self) -> None:
        if self._playwright is None:
            return
        asyncio._set_running_loop(self._loop)
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._playwright.stop()  # ends the loop, which clears the running loop
            self._playwright = self._browser = None
            asyncio._set_running_loop(None)


def in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own, where ``asyncio.run`` may start (Playwright's loop is this one's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


# ---------------------------------------------------------------- axe-core, the page's language, screenshots

# axe-core's rules for WCAG 2.0, 2.1 and 2.2, levels A and AA (it has no rule tagged wcag22a).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = ("serious", "critical")
_axe = Axe()


@dataclass(frozen=True, slots=True)
class PageCheck:
    """What :func:`check_page` found on one page: axe's violations (each rule with its impact) and where
    the screenshot is."""

    name: str
    lang: str
    url: str
    violations: list[dict[str, Any]]
    screenshot: Path

    def summary(self) -> str:
        found = ", ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in self.violations) or "none"
        return f"{self.name} [{self.lang}] {self.url}: axe violations: {found}; screenshot {self.screenshot}"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations on the page as it is now."""
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    violations: list[dict[str, Any]] = _axe.run(page, options=options).response["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node.get('failureSummary', '')!r}")
    return "\n".join(lines)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


def check_page(page: Page, *, lang: str, name: str, test: str, folder: Path) -> PageCheck:
    """The checks every page passes: ``<html lang>`` is the chosen language; axe-core finds no serious or
    critical WCAG 2.x A/AA violation (each is printed with its rule, impact, target and help). A full-page
    screenshot is saved as ``<test>--<name>--<lang>.png`` in ``folder`` (printed), before any assertion, so
    that a failing page can be looked at; the results are added to ``folder/axe-results.jsonl``."""
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"{safe_name(test)}--{safe_name(name)}--{lang}.png"
    page.screenshot(path=str(shot), full_page=True)
    violations = axe_violations(page)
    result = PageCheck(name, lang, page.url, violations, shot)
    print(result.summary())
    with (folder / "axe-results.jsonl").open("a", encoding="utf-8") as log:
        record = {
            "test": test,
            "page": name,
            "lang": lang,
            "url": page.url,
            "violations": [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations],
        }
        log.write(json.dumps(record) + "\n")
    html_lang = page.evaluate("document.documentElement.lang")
    assert html_lang == lang, f"{name}: <html lang={html_lang!r}>, but the page was chosen in {lang!r}"
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe-core on {name} [{lang}] ({page.url}):\n{describe_violations(blocking)}"
    return result


def check_reflow(page: Page, *, lang: str, name: str, test: str, folder: Path, width: int = 320) -> Path:
    """WCAG 1.4.10 (Reflow): at ``width`` CSS px (400% zoom of a 1280 px window) the page needs no
    horizontal scrolling (a wide table may scroll inside its own frame). Saves a full-page screenshot
    ``<test>--<name>--<lang>--<width>px.png`` and puts the viewport back."""
    before = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": width, "height": before["height"]})
    try:
        shot = folder / f"{safe_name(test)}--{safe_name(name)}--{lang}--{width}px.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"{name} [{lang}] at {width}px: screenshot {shot}")
        overflow = page.evaluate(
            """() => {
              const limit = document.documentElement.clientWidth;
              // what sticks out: outside a table's scrolling frame, or positioned out of it
              const wide = [...document.querySelectorAll("body *")].filter((el) => {
                const box = el.getBoundingClientRect();
                const positioned = ["absolute", "fixed"].includes(getComputedStyle(el).position);
                return box.right > limit + 1 && (positioned || !el.closest(".table-scroll"));
              });
              const named = (el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : "");
              return {scroll: document.documentElement.scrollWidth, limit, wide: wide.slice(0, 5).map(named)};
            }"""
        )
        assert overflow["scroll"] <= overflow["limit"], (
            f"{name} [{lang}] at {width}px scrolls sideways ({overflow['scroll']} > {overflow['limit']} px): "
            f"{overflow['wide']}"
        )
        return shot
    finally:
        page.set_viewport_size(dict(before))


# ---------------------------------------------------------------- the keyboard, and nothing else

# What the focused element is, and whether its focus can be seen: an outline of 2px or more, or a box
# shadow, on an element of some size inside the viewport.
_FOCUS_JS = """(selector) => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) {
    return {matches: false, described: "nothing (the document)", visible: false};
  }
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow !== "" && style.boxShadow !== "none";
  const inView = box.width >= 1 && box.height >= 1 && box.bottom > 0 && box.right > 0
    && box.top < window.innerHeight && box.left < window.innerWidth;
  const text = (el.innerText || el.value || "").trim().slice(0, 40);
  const attributes = (el.id ? " id=" + el.id : "") + (el.className ? " class=" + el.className : "");
  return {
    matches: selector ? el.matches(selector) : false,
    described: `<${el.tagName.toLowerCase()}${attributes}> ${text}`,
    visible: (outline || shadow) && inView,
  };
}"""


def focused(page: Page, selector: str | None = None) -> dict[str, Any]:
    """The focused element: ``matches`` (the selector), ``described`` (for messages) and ``visible``."""
    state: dict[str, Any] = page.evaluate(_FOCUS_JS, selector)
    return state


def assert_focus_visible(page: Page) -> None:
    state = focused(page)
    assert state["visible"], f"the focus on {state['described']} cannot be seen (no outline or shadow, or off screen)"


def tab_to(page: Page, selector: str, *, limit: int = 80, backwards: bool = False) -> int:
    """Press Tab (Shift+Tab when ``backwards``) until the focus is on ``selector``; every element the focus
    stops on on the way must show it. Returns the number of key presses."""
    key = "Shift+Tab" if backwards else "Tab"
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        state = focused(page, selector)
        if state["described"] != "nothing (the document)":
            assert state["visible"], f"the focus on {state['described']} cannot be seen ({presses} x {key})"
        if state["matches"]:
            return presses
    raise AssertionError(f"{limit} presses of {key} never reached {selector} on {page.url}")


def type_into(page: Page, selector: str, text: str) -> None:
    """Tab to a text field, clear it and type ``text`` (keys only)."""
    tab_to(page, selector)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("Backspace")
    page.keyboard.type(text)


def choose(page: Page, selector: str, label: str) -> None:
    """Tab to a closed ``<select>`` and move through its options with the arrow keys until ``label`` is the
    one chosen (as a keyboard user does without opening the list)."""
    tab_to(page, selector)
    page.keyboard.press("Home")
    count = int(page.eval_on_selector(selector, "(s) => s.options.length"))
    for _ in range(count):
        if page.eval_on_selector(selector, "(s) => s.options[s.selectedIndex].text.trim()") == label:
            return
        page.keyboard.press("ArrowDown")
    chosen = page.eval_on_selector(selector, "(s) => s.options[s.selectedIndex].text.trim()")
    assert chosen == label, f"{selector}: the arrow keys never reached {label!r} (stopped on {chosen!r})"


def press_to_navigate(page: Page, key: str = "Enter") -> Response | None:
    """Press ``key`` where the focus is, and wait for the page it leads to (after any redirects)."""
    with page.expect_navigation() as navigation:
        page.keyboard.press(key)
    return navigation.value


def activate(page: Page, selector: str) -> Response | None:
    """Tab to a link or button and press Enter; returns the response of the page it leads to."""
    tab_to(page, selector)
    return press_to_navigate(page)


def assert_skip_link_first(page: Page) -> None:
    """On a freshly loaded page the first Tab reaches the skip link, which shows; Enter moves the focus to
    ``main`` and the next Tab goes on inside it."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    state = focused(page, "a.skip-link[href='#main']")
    assert state["matches"], f"the first Tab reached {state['described']}, not the skip link"
    assert state["visible"], "the skip link does not show when it has the focus"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'main'", timeout=WAIT_MS)
    first_inside = "main a[href], main button, main input:not([type=hidden]), main select, main textarea"
    if page.locator(first_inside).count():
        page.keyboard.press("Tab")
        inside = page.evaluate("document.getElementById('main').contains(document.activeElement)")
        assert inside, f"after the skip link, Tab went to {focused(page)['described']}, outside main"


def sign_in(page: Page, username: str, password: str, *, path: str = "/login") -> Response | None:
    """From the sign-in page (opened unless the page shows it already), by keyboard only: the username, the
    password, Enter. Returns the response of the page it leads to (the dashboard, or the form again with
    its error)."""
    if urlsplit(page.url).path != path:
        page.goto(path)
    type_into(page, "#username", username)
    type_into(page, "#password", password)
    return press_to_navigate(page)
