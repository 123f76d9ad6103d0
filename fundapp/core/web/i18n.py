"""The pages' words in en, es and fr: gettext catalogues, one per package that has pages.

Each package keeps its interface strings in ``<package>/locale/<lang>/LC_MESSAGES/messages.po`` (extracted
with Babel's tooling, ``make catalogues``) and registers the folder here; the install step compiles the
``.mo`` files (``make install``), and a catalogue whose ``.mo`` is missing or older than its ``.po`` is
compiled in memory at start-up instead, so a fresh checkout never shows English where a translation exists.
The catalogues of every registered package are merged into one translation per language.

The language of the page being rendered is a context variable (``using``), so templates and page
controllers call plain ``gettext`` (``_`` in templates) without passing a locale around.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("en", "es", "fr")
DEFAULT_LOCALE = "en"
DOMAIN = "messages"
log = logging.getLogger("fundapp.web")

_catalogues: list[Path] = []
_current: ContextVar[str] = ContextVar("fundapp_page_locale", default=DEFAULT_LOCALE)


def register_catalogue(directory: Path) -> None:
    """Add a package's ``locale`` folder to the merged translations (idempotent)."""
    if directory not in _catalogues:
        _catalogues.append(directory)
        translations.cache_clear()


def catalogue_folders() -> tuple[Path, ...]:
    return tuple(_catalogues)


def _load(folder: Path, locale: str) -> Translations | None:
    po = folder / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as file:
            return Translations(file, domain=DOMAIN)
    if not po.exists():
        return None
    log.info("compiling %s in memory (run make install to compile the catalogues)", po)
    with po.open("rb") as file:
        catalog = read_po(file, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def translations(locale: str) -> NullTranslations:
    """Every registered package's catalogue for ``locale``, merged (a later package never overrides)."""
    merged: NullTranslations | None = None
    for folder in _catalogues:
        found = _load(folder, locale)
        if found is None:
            continue
        if merged is None:
            merged = found
        else:
            assert isinstance(merged, Translations)
            merged.merge(found)
    return merged or NullTranslations()


def current() -> str:
    return _current.get()


def set_current(locale: str) -> None:
    """The language of the request being served (each request runs in a context of its own)."""
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


@contextmanager
def using(locale: str) -> Iterator[None]:
    """Render in ``locale`` for the length of the block."""
    token = _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return str(translations(_current.get()).pgettext(context, message))


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown (``gettext(message)``)."""
    return message


def negotiate(accept_language: str | None, *, chosen: str | None = None) -> str:
    """The page language: the user's choice, else the best of Accept-Language, else English."""
    if chosen in LOCALES:
        return chosen
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            if tag and quality > 0:
                wanted.append((quality, tag.replace("-", "_")))
        ordered = [tag for _, tag in sorted(wanted, key=lambda item: -item[0])]
        found = negotiate_locale(ordered, list(LOCALES), sep="_")
        if found:
            return found
    return DEFAULT_LOCALE


def language_name(locale: str) -> str:
    """A language's name in itself ("English", "español", "français"), for the language switcher."""
    return Locale.parse(locale).get_display_name(locale) or locale
