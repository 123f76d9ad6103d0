"""Every interface string of the pages is in the three catalogues (en, es, fr), translated for real.

The strings are extracted here from each package's page code and templates with Babel's own extractor (the
same method map and keywords as ``make catalogues``) and compared with the package's ``.po`` files: a string
missing from a catalogue, left empty, copied from English where a language has its own word, or with other
placeholders than the English fails the test, and so does an entry no page uses any more. A page rendered
in es or fr therefore shows no English interface string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from fundapp.core.web import i18n

ROOT = Path(__file__).resolve().parents[2]
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
# Strings that are the same word in English and in the language (checked by hand, not copied).
SAME_AS_ENGLISH = {
    "es": {"Auditor", "Error:", "Total", "Global", "No", "%(member)s: %(reason)s"},
    "fr": {
        "Action",
        "Budget",
        "Date",
        "Documents",
        "Note",
        "Notes",
        "Objections",
        "Organisation",
        "Page",
        "Quorum",
        "Total",
        "Vote",
    },
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def packages() -> list[tuple[str, Path, Path]]:
    """(name, source folder, locale folder) of every package with a catalogue."""
    found = []
    for folder in i18n.catalogue_folders():
        source = folder.parent.parent if folder.parent.name == "web" else folder.parent
        found.append((str(source.relative_to(ROOT)), source, folder))
    return found


def extracted(source: Path) -> set[str]:
    messages = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(source), METHOD_MAP, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        messages.add(message if isinstance(message, str) else message[0])
    return messages


def catalogue(folder: Path, locale: str) -> dict[str, tuple[str, ...]]:
    with (folder / locale / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file, locale=locale)
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): (
            (m.string,) if isinstance(m.string, str) else tuple(m.string or ())
        )
        for m in catalog
        if m.id
    }


def test_the_pages_packages_have_catalogues() -> None:
    import fundapp.app  # noqa: F401 - registers every package's pages and their catalogues

    names = {name for name, _, _ in packages()}
    assert "fundapp/core" in names, names


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_interface_string_is_in_the_catalogue_and_translated(locale: str) -> None:
    import fundapp.app  # noqa: F401

    problems = []
    for name, source, folder in packages():
        wanted = extracted(source)
        assert wanted, f"{name}: no strings found to translate"
        have = catalogue(folder, locale)
        for message in sorted(wanted):
            strings = have.get(message)
            if strings is None:
                problems.append(f"{name}/{locale}: missing {message!r}")
                continue
            if not all(strings):
                problems.append(f"{name}/{locale}: not translated {message!r}")
                continue
            if locale != "en" and strings[0] == message and message not in SAME_AS_ENGLISH[locale]:
                problems.append(f"{name}/{locale}: the English copied {message!r}")
            if any(set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(message)) for s in strings):
                problems.append(f"{name}/{locale}: other placeholders than {message!r}: {strings!r}")
        for message in sorted(set(have) - wanted):
            problems.append(f"{name}/{locale}: no page uses {message!r} any more (make catalogues)")
    assert not problems, "\n".join(problems)


def test_a_rendered_page_speaks_the_chosen_language() -> None:
    import fundapp.app  # noqa: F401

    for locale, word in (("en", "Sign out"), ("es", "Cerrar sesión"), ("fr", "Se déconnecter")):
        with i18n.using(locale):
            assert i18n.gettext("Sign out") == word


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_catalogue_compiles_as_make_does(locale: str) -> None:
    """Babel's own checks, the ones ``pybabel compile`` (make's first step) refuses on: a message Babel reads
    as python-format (a ``%`` followed by what looks like a conversion) whose translation has other
    placeholders stops the build."""
    import fundapp.app  # noqa: F401

    problems = []
    for name, _source, folder in packages():
        with (folder / locale / "LC_MESSAGES" / "messages.po").open("rb") as file:
            catalog = read_po(file, locale=locale)
        for message, errors in catalog.check():
            problems.extend(f"{name}/{locale}: {message.id!r}: {error}" for error in errors)
    assert not problems, "\n".join(problems)
