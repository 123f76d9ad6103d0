"""How a printed table is laid out: on a portrait page, on a landscape page, or in parts that repeat the row
labels; and how wide each of its columns is, from what it holds. Pure functions of the texts as they will be
printed, no I/O: the renderer calls :func:`plan` for each table of a PDF and writes the result into the page
(named landscape pages, one ``<table>`` per part, a ``<col>`` width per column).

The page is A4 with 15 mm side margins. A table's columns get their widths from their content, measured in
ems of the table's font with widths that are at least those of DejaVu Sans Bold (the stylesheet's font;
totals are bold): a figure, a count, a percentage, a rate or a date never wraps, so its column is at least as
wide as its widest value; a column of text is at least as wide as its longest word (a word longer than
:data:`LONGEST_WORD` ems is broken instead) and the row labels' column at least :data:`LABEL_MIN` ems, and
text wraps within it. A table whose columns fit the portrait width stays on a portrait page; one that fits
only the landscape width goes on a landscape page (in a slightly smaller font); one wider than a landscape
page is split into parts, each a table of its own that repeats the first (row label) column, as few parts
as hold the columns, with the columns spread evenly between them. The room left over goes to the columns
in proportion to what they lack (a text column to stand on one line, a column of figures to have its header
on at most :data:`HEADER_LINES` lines), then to every column in proportion to its width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

MM_PER_PT = 25.4 / 72


@dataclass(frozen=True, slots=True)
class PageSize:
    """A page of tables: the width tables may use (A4 less the side margins) and their font size."""

    name: str
    width_mm: float
    font_pt: float

    @property
    def width_em(self) -> float:
        return self.width_mm / (self.font_pt * MM_PER_PT)


PAGE_MARGIN_MM = 15.0
PORTRAIT = PageSize("portrait", 210.0 - 2 * PAGE_MARGIN_MM, 8.0)
LANDSCAPE = PageSize("landscape", 297.0 - 2 * PAGE_MARGIN_MM, 7.5)
# Kept free of the width (rounding, borders): a table is planned for this share of its page's width.
FILL = 0.97
CELL_PADDING_EM = 0.8  # left and right padding of a cell, together (reports/assets/report.css)
LEVEL_INDENT_EM = 1.0  # the row label's extra indent per level (the stylesheet's .level-N rules)
LABEL_MIN = 16.0  # ems: the row labels' column is never narrower (unless its texts are all shorter)
TEXT_MIN = 7.0  # ems: another column of text
LONGEST_WORD = 14.0  # ems: a longer word is broken anywhere rather than widening its column
LABEL_MAX = 40.0  # ems: the widest a text column grows to hold its longest text on one line
HEADER_LINES = 3  # a figures' column grows, room permitting, until its header needs no more lines than this


class Orientation(StrEnum):
    PORTRAIT = "portrait"
    LANDSCAPE = "landscape"


@dataclass(frozen=True, slots=True)
class Part:
    """Some of a table's columns, printed as a table of their own: ``columns`` are indexes into the table's
    columns (the row labels' first), ``widths`` their shares of the part's width in per cent."""

    columns: tuple[int, ...]
    widths: tuple[float, ...]
    number: int
    of: int


@dataclass(frozen=True, slots=True)
class TableLayout:
    orientation: Orientation
    parts: tuple[Part, ...]

    @property
    def font_pt(self) -> float:
        return (PORTRAIT if self.orientation is Orientation.PORTRAIT else LANDSCAPE).font_pt


# Upper bounds of DejaVu Sans Bold's advance widths, in ems.
_NARROW = frozenset(".,:;'!|il\u00a0\u202f\u2009 ")
_WIDE = frozenset("mwMW%@\u2013\u2014\u2212")


def char_em(char: str) -> float:
    if char.isdigit():
        return 0.70
    if char in _NARROW:
        return 0.38
    if char in _WIDE:
        return 1.10
    if char.isupper():
        return 0.80
    return 0.70


def text_em(text: str) -> float:
    """The width of ``text`` on one line, in ems (an upper bound for the stylesheet's fonts)."""
    return sum(char_em(c) for c in text)


def longest_word_em(text: str) -> float:
    return max((text_em(word) for word in text.split()), default=0.0)


@dataclass(frozen=True, slots=True)
class _Need:
    least: float  # ems, padding included: narrower, it would overflow or break a word
    most: float  # ems: what it needs to stand on one line (text) or its least (figures)


def _needs(headers: Sequence[str], cells: Sequence[Sequence[str]], wraps: Sequence[bool], indent: float) -> list[_Need]:
    needs = []
    for index, (header, column, wrap) in enumerate(zip(headers, cells, wraps, strict=True)):
        header_word = min(longest_word_em(header), LONGEST_WORD)
        if not wrap:
            least = max([header_word, *(text_em(text) for text in column)]) + CELL_PADDING_EM
            # Room for its header on at most HEADER_LINES lines, if there is room to spare.
            needs.append(_Need(least, max(least, text_em(header) / HEADER_LINES + CELL_PADDING_EM)))
            continue
        extra = indent if index == 0 else 0.0
        words = min(max([header_word, *(longest_word_em(text) for text in column)]), LONGEST_WORD)
        whole = min(max([text_em(header) / 3, *(text_em(text) for text in column)]), LABEL_MAX)
        floor = min(LABEL_MIN if index == 0 else TEXT_MIN, whole)
        least = max(words, floor) + CELL_PADDING_EM + extra
        needs.append(_Need(least, max(least, whole + CELL_PADDING_EM + extra)))
    return needs


def _widths(needs: Sequence[_Need], room: float) -> tuple[float, ...]:
    """Shares (per cent) of ``room`` ems: each column its least, then every column towards its most in
    proportion to what it lacks, then what is left to every column in proportion to what it has."""
    widths = [need.least for need in needs]
    spare = room - sum(widths)
    wanted = sum(need.most - need.least for need in needs)
    if spare > 0 and wanted > 0:
        given = min(spare, wanted)
        widths = [w + given * (need.most - need.least) / wanted for w, need in zip(widths, needs, strict=True)]
        spare -= given
    total = sum(widths)
    if spare > 0:
        widths = [w + spare * w / total for w in widths]
        total = sum(widths)
    return tuple(round(100 * w / total, 3) for w in widths)


def plan(headers: Sequence[str], cells: Sequence[Sequence[str]], wraps: Sequence[bool], levels: int = 0) -> TableLayout:
    """The layout of one table: ``headers`` and ``cells`` (per column, every printed text of the column) as
    they will be printed, ``wraps`` whether a column holds text that may wrap (figures, dates and counts do
    not), ``levels`` the deepest indentation of its row labels."""
    needs = _needs(headers, cells, wraps, levels * LEVEL_INDENT_EM)
    for page in (PORTRAIT, LANDSCAPE):
        room = page.width_em * FILL
        if sum(n.least for n in needs) <= room:
            orientation = Orientation(page.name)
            columns = tuple(range(len(headers)))
            return TableLayout(orientation, (Part(columns, _widths(needs, room), 1, 1),))
    # Wider than a landscape page: parts that repeat the row labels.
    room = LANDSCAPE.width_em * FILL
    groups = _groups([n.least for n in needs], room)
    parts = []
    for number, group in enumerate(groups, start=1):
        columns = (0, *group)
        parts.append(Part(columns, _widths([needs[i] for i in columns], room), number, len(groups)))
    return TableLayout(Orientation.LANDSCAPE, tuple(parts))


def _groups(least: Sequence[float], room: float) -> list[tuple[int, ...]]:
    """Columns 1.. of a table in as few consecutive groups as fit ``room`` beside column 0, spread evenly:
    the fewest parts a greedy fill needs, then the most even split into that many that still fits."""
    label, others = least[0], list(range(1, len(least)))
    count, used = 1, label
    for i in others:
        if used + least[i] > room and used > label:
            count, used = count + 1, label
        used += least[i]
    size, rest = divmod(len(others), count)
    groups, start = [], 0
    for n in range(count):
        end = start + size + (1 if n < rest else 0)
        groups.append(tuple(others[start:end]))
        start = end
    if all(label + sum(least[i] for i in group) <= room for group in groups):
        return groups
    greedy: list[list[int]] = [[]]
    used = label
    for i in others:
        if used + least[i] > room and greedy[-1]:
            greedy.append([])
            used = label
        greedy[-1].append(i)
        used += least[i]
    return [tuple(group) for group in greedy]
