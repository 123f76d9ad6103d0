"""The reports' pure rules: what a request may ask for, and how a cell is made safe for each format.

Nothing here reads the database or the clock: the caller passes ``today``. Every refusal is an
``InvalidInput`` naming the field and the rule, so the API and the CLI refuse the same things alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from babel import Locale, UnknownLocaleError

from fundapp.core.errors import FieldError, InvalidInput
from reports.document import Ratio
from reports.i18n import DEFAULT_LOCALE, LOCALES

# Every report the API and the command line build by name.
REPORT_NAMES = (
    "sources-and-uses",
    "contributor",
    "financial-statements",
    "funds-available",
    "funds-available-gcff",
    "window-portfolio",
    "concessional-portfolio",
    "iati-activities",
    "iati-organisation",
)

# ---------------------------------------------------------------- formats and locales


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"


# Litestar adds "; charset=utf-8" to every text/* media type itself: naming it here would send it twice.
MEDIA_TYPES = {
    ReportFormat.JSON: "application/json",
    ReportFormat.CSV: "text/csv",
    ReportFormat.HTML: "text/html",
    ReportFormat.PDF: "application/pdf",
}
# What an Accept header may name, mapped to the format it asks for (application/json also by */*).
_ACCEPTED = {
    "application/json": ReportFormat.JSON,
    "text/csv": ReportFormat.CSV,
    "text/html": ReportFormat.HTML,
    "application/pdf": ReportFormat.PDF,
}


def choose_format(requested: str | None, accept: str | None) -> ReportFormat:
    """The format of a response: the ``format`` parameter wins; without it, the Accept header's most
    preferred media type among the four (ties go to the earlier one); otherwise JSON."""
    if requested is not None:
        try:
            return ReportFormat(requested)
        except ValueError:
            raise InvalidInput(
                f"format must be one of {', '.join(f.value for f in ReportFormat)}, not {requested!r}",
                field="format",
                rule="one_of",
            ) from None
    for media in preferences(accept):
        chosen = _ACCEPTED.get(media.lower())
        if chosen is not None:
            return chosen
    return ReportFormat.JSON


def preferences(header: str | None) -> list[str]:
    """The values of an Accept or Accept-Language header, most preferred first (by q-value, ties in the
    header's order), without their parameters and without those refused with q=0."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        value, _, params = part.strip().partition(";")
        weight = _quality(params)
        if value.strip() and weight > 0:
            ranked.append((-weight, position, value.strip()))
    return [value for _, _, value in sorted(ranked)]


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def choose_locale(requested: str | None, accept_language: str | None) -> str:
    """The locale: the ``locale`` parameter wins, then Accept-Language, then English."""
    if requested:
        if requested not in LOCALES:
            raise InvalidInput(
                f"locale must be one of {', '.join(LOCALES)}, not {requested!r}", field="locale", rule="one_of"
            )
        return requested
    for tag in preferences(accept_language):
        if tag == "*":
            return DEFAULT_LOCALE
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


# ---------------------------------------------------------------- periods and parameters

YEAR_MIN, YEAR_MAX = 1900, 2999


@dataclass(frozen=True, slots=True)
class Period:
    date_from: date | None  # None: since the facility's inception
    date_to: date


def check_period(date_from: date | None, date_to: date | None, today: date) -> Period:
    """A period ending today by default; it may not end after today (a report describes what has
    happened) nor start after it ends."""
    end = today if date_to is None else date_to
    errors: list[FieldError] = []
    if end > today:
        errors.append(_future("date_to", end, today))
    if date_from is not None and date_from > end:
        errors.append(
            FieldError("date_from", "not_after_date_to", f"date_from {date_from} is after date_to {end.isoformat()}")
        )
    if errors:
        raise InvalidInput(errors[0].message, errors=errors)
    return Period(date_from, end)


def check_as_of(as_of: date | None, today: date) -> date:
    """The date of a position report: today by default, never a day that has not happened yet."""
    if as_of is None:
        return today
    if as_of > today:
        error = _future("as_of", as_of, today)
        raise InvalidInput(error.message, errors=[error])
    return as_of


def check_year(year: int | None, today: date) -> int:
    """The financial year of the statements: one that has begun (the year under way gives interim
    statements up to today); a year still to come is refused like every other date after today."""
    if year is None:
        raise InvalidInput("year is required (the financial year, e.g. 2025)", field="year", rule="missing")
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidInput(f"year must be between {YEAR_MIN} and {YEAR_MAX}", field="year", rule="out_of_range")
    if year > today.year:
        raise InvalidInput(
            f"year {year} has not begun (today is {today.isoformat()}): a report describes what has happened",
            field="year",
            rule="not-in-future",
        )
    return year


def parse_period(text: str) -> Period:
    """A period written the way people say it: ``2025`` (the year), ``2025-Q2`` (a quarter), ``2025-03``
    (a month), ``2025-01-01..2025-06-30`` (two days), ``..2025-06-30`` (from inception). Refused with the
    forms it accepts."""
    value = text.strip()
    try:
        if ".." in value:
            first, _, last = value.partition("..")
            start = date.fromisoformat(first) if first else None
            end = date.fromisoformat(last)
        elif len(value) == 4 and value.isdigit():
            start, end = date(int(value), 1, 1), date(int(value), 12, 31)
        elif len(value) == 7 and value[4:6].upper() == "-Q" and value[6] in "1234":
            quarter = int(value[6])
            start = date(int(value[:4]), 3 * quarter - 2, 1)
            end = _month_end(int(value[:4]), 3 * quarter)
        elif len(value) == 7 and value[4] == "-":
            start = date(int(value[:4]), int(value[5:]), 1)
            end = _month_end(start.year, start.month)
        else:
            raise ValueError(value)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a period: write 2025, 2025-Q2, 2025-03, 2025-01-01..2025-06-30 or ..2025-06-30",
            field="period",
            rule="period_format",
        ) from None
    if start is not None and start > end:
        raise InvalidInput(f"the period {text!r} starts after it ends", field="period", rule="not_after_date_to")
    return Period(start, end)


def year_of(period: Period) -> int:
    """The financial year a period is, when it is exactly one calendar year (the statements' period)."""
    if (
        period.date_from is None
        or (period.date_from.month, period.date_from.day, period.date_to.month, period.date_to.day) != (1, 1, 12, 31)
        or period.date_from.year != period.date_to.year
    ):
        raise InvalidInput(
            "the financial statements cover one calendar year: give --period 2025 (or --year 2025)",
            field="period",
            rule="calendar_year",
        )
    return period.date_from.year


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _future(field: str, value: date, today: date) -> FieldError:
    # The one time rule's name (fundapp.core.errors.refuse_future): a report describes what has happened.
    return FieldError(field, "not-in-future", f"{field} {value.isoformat()} is after today ({today.isoformat()})")


# ---------------------------------------------------------------- cells

# A spreadsheet reads a cell that starts with one of these as a formula (or as the start of one: a tab or
# carriage return is stripped by some importers, exposing what follows). Leading blanks are skipped by
# some importers too, so the first character that is not a space decides.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(text: str) -> str:
    """A text cell made inert for spreadsheets: a leading apostrophe when it could start a formula.

    Only text cells pass through here; numbers are written as plain decimal strings and stay numbers.
    """
    return "'" + text if text.lstrip(" ").startswith(FORMULA_STARTS) else text


RATIO_PLACES = Decimal("0.000001")


def ratio_string(ratio: Ratio) -> str | None:
    """A ratio as a plain decimal fraction with six places ("0.456700"); None when it has no value."""
    if ratio.value is None:
        return None
    return str(ratio.value.quantize(RATIO_PLACES, rounding=ROUND_HALF_EVEN))


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string in which every character but letters, digits and spaces is a
    hexadecimal escape: nothing in it can close the string, the rule or the ``<style>`` element.

    Each escape ends with one space, which CSS reads as the escape's end and drops: without it, a space
    after an escaped character would be taken for that end and lost ("Période : du" printed as
    "Période :du")."""
    out = []
    for char in text:
        if (char.isascii() and char.isalnum()) or char == " ":
            out.append(char)
        else:
            out.append(f"\\{ord(char):x} ")
    return '"' + "".join(out) + '"'


def safe_filename_part(text: str) -> str:
    """A piece of a download's file name: ASCII letters, digits and hyphens only."""
    cleaned = "".join(c if (c.isascii() and c.isalnum()) or c == "-" else "-" for c in text)
    return cleaned.strip("-")[:40] or "report"
