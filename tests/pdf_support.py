"""Reading a report's PDF back as a reader's eye would: where each character lies, and what each table says.

The renderer tags its PDFs (``pdf_tags``): every table cell is a ``TH`` or ``TD`` element of the structure
tree whose marked content identifiers (``mcid``) name the characters drawn for it. pdfplumber gives both
(each character's box and ``mcid``, each page's structure tree), so a test can tell, from the PDF's own
text positions, that nothing lies outside the printable area, that no two characters are drawn over each
other, and which header and body cells each printed table has.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pdfplumber

MM = 72 / 25.4  # PDF points per millimetre
# The printable area: the page's left and right margins (reports/assets/report.css) bound every character
# horizontally. The running header and footer live in the top and bottom margins, so vertically a
# character may use the margins but must keep this far from the paper's edge.
SIDE_MARGIN = 15 * MM
EDGE_BAND = 8 * MM
TOLERANCE = 0.5  # points: rounding of glyph boxes
# Glyphs of two different texts (cells, labels) on one line never cover each other by more than this much;
# within one text, kerning may bring two glyphs closer.
OVERLAP = 0.5


def squeezed(text: str) -> str:
    """The text without any white space: a cell's words may wrap onto several lines (or break inside a
    long word), so texts are compared without it."""
    return re.sub(r"\s+", "", text)


@dataclass(frozen=True)
class Char:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    mcid: int | None  # the marked content (one text run of one element) the character belongs to


@dataclass
class PrintedTable:
    """One table as printed on one page: its header cells and its body rows (cell texts)."""

    page: int
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class PrintedPage:
    number: int
    width: float
    height: float
    chars: list[Char]
    text: str
    tables: list[PrintedTable]


@dataclass
class PrintedDocument:
    pages: list[PrintedPage]

    @property
    def tables(self) -> list[PrintedTable]:
        return [table for page in self.pages for table in page.tables]

    @property
    def header_cells(self) -> set[str]:
        return {squeezed(text) for table in self.tables for text in table.headers}

    @property
    def body_cells(self) -> set[str]:
        return {squeezed(text) for table in self.tables for row in table.rows for text in row}

    def text(self) -> str:
        return "\n".join(page.text for page in self.pages)


def read(pdf: bytes) -> PrintedDocument:
    """Every page's characters (with their boxes), its text and its tables, from a tagged PDF."""
    pages = []
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for number, page in enumerate(document.pages, start=1):
            by_mcid: dict[int, list[str]] = {}
            chars = []
            for c in page.chars:
                mcid = c.get("mcid")
                chars.append(Char(c["text"], c["x0"], c["x1"], c["top"], c["bottom"], c["size"], mcid))
                if c.get("mcid") is not None:
                    by_mcid.setdefault(int(c["mcid"]), []).append(c["text"])
            tables: list[PrintedTable] = []
            for element in _elements(page.structure_tree, "Table"):
                tables.append(_table(element, number, by_mcid))
            pages.append(
                PrintedPage(number, float(page.width), float(page.height), chars, page.extract_text() or "", tables)
            )
    return PrintedDocument(pages)


def _elements(nodes: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    for node in nodes:
        if node.get("type") == kind:
            yield node
        else:
            yield from _elements(node.get("children", []), kind)


def _element_text(node: dict[str, Any], by_mcid: dict[int, list[str]]) -> str:
    parts = ["".join(by_mcid.get(mcid, [])) for mcid in node.get("mcids") or []]
    parts += [_element_text(child, by_mcid) for child in node.get("children", [])]
    return " ".join(part for part in parts if part)


def _table(element: dict[str, Any], page: int, by_mcid: dict[int, list[str]]) -> PrintedTable:
    table = PrintedTable(page)
    for row in _elements(element.get("children", []), "TR"):
        cells = [c for c in row.get("children", []) if c.get("type") in ("TH", "TD")]
        if cells and all(c["type"] == "TH" for c in cells):
            table.headers.extend(_element_text(c, by_mcid) for c in cells)
        else:
            table.rows.append([_element_text(c, by_mcid) for c in cells])
    return table


def outside_printable_area(document: PrintedDocument) -> list[str]:
    """A description of every character drawn outside the printable area (empty when none is)."""
    found = []
    for page in document.pages:
        left, right = SIDE_MARGIN - TOLERANCE, page.width - SIDE_MARGIN + TOLERANCE
        top, bottom = EDGE_BAND, page.height - EDGE_BAND
        for c in page.chars:
            if c.text.isspace():
                continue
            if c.x0 < left or c.x1 > right or c.top < top or c.bottom > bottom:
                found.append(f"page {page.number}: {c.text!r} at x {c.x0:.1f}-{c.x1:.1f}, y {c.top:.1f}-{c.bottom:.1f}")
    return found


def overlapping_characters(document: PrintedDocument) -> list[str]:
    """Characters of two different texts of one line drawn over one another (a figure running into the next
    cell, a header into its neighbour)."""
    found = []
    for page in document.pages:
        lines: dict[tuple[int, int], list[Char]] = {}
        for c in page.chars:
            if not c.text.isspace():
                lines.setdefault((round(c.top), round(c.size)), []).append(c)
        for line in lines.values():
            line.sort(key=lambda c: c.x0)
            for before, after in itertools.pairwise(line):
                if before.mcid != after.mcid and before.x1 - after.x0 > OVERLAP:
                    found.append(f"page {page.number}: {before.text!r} and {after.text!r} at x {after.x0:.1f}")
    return found


def page_sizes(document: PrintedDocument) -> list[str]:
    """Each page as "portrait" or "landscape"."""
    return ["landscape" if page.width > page.height else "portrait" for page in document.pages]
