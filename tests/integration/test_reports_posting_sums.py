"""The one-pass read behind sources and uses (``reports.figures.posting_sums``) and the reads of the posting
totals (``figures.sums`` without a contributor or a grant, ``figures.totals_pass``), on the generated facility,
on SQLite and PostgreSQL.

The report reads the postings of its accounts once, cut into spans of days, and sums every figure from that
in memory; a figure is right only if every selection on whole spans gives what the ledger holds. Each is
checked against raw SQL over ``postings`` joined to ``journal_entries`` and ``ledger_accounts`` (dated by
the entry), grouped the same way: the same groups present (a group whose postings sum to zero included)
and the same sums. A selection that does not fall on the spans, or reads another account, is refused
rather than answered wrongly.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from fundapp.core.db import Database
from reports import figures
from reports.figures import PostingSums, Selection
from tests.reports_support import Facility

pytestmark = pytest.mark.usefixtures("backend")

ACCOUNTS = ("1100", "1210", "4200", "5200", "8100", "8500")
UNTIL = date(2026, 12, 31)
CUTS = (date(2025, 7, 1), date(2026, 1, 1))
# Every run of whole spans: (first day or None for inception, last day)
SPANS = [
    (None, date(2025, 6, 30)),
    (None, date(2025, 12, 31)),
    (None, UNTIL),
    (date(2025, 7, 1), date(2025, 12, 31)),
    (date(2025, 7, 1), UNTIL),
    (date(2026, 1, 1), UNTIL),
]
GROUPINGS: list[tuple[str, ...]] = [
    (),
    ("window",),
    ("contributor",),
    ("grant",),
    ("account", "source_type"),
    ("window", "contributor"),
]
COLUMNS = {
    "account": "a.code",
    "source_type": "e.source_type",
    "contributor": "p.contributor_id",
    "window": "p.window_id",
    "grant": "p.grant_id",
}


def raw_sums(facility: Facility, selection: Selection, by: tuple[str, ...]) -> dict[tuple[Any, ...], int]:
    """Σ reporting_amount of the selection's postings per group, in plain SQL (groups without rows absent)."""
    keys = [COLUMNS[name] for name in by]
    sql = (
        f"SELECT {', '.join([*keys, 'sum(p.reporting_amount)'])} FROM journal_entries e "
        "JOIN postings p ON p.entry_id = e.id JOIN ledger_accounts a ON a.id = p.account_id "
        f"WHERE a.code IN ({', '.join(repr(a) for a in selection.accounts)}) AND e.entry_date <= :date_to"
    )
    params: dict[str, Any] = {"date_to": selection.date_to}
    if selection.date_from is not None:
        sql += " AND e.entry_date >= :date_from"
        params["date_from"] = selection.date_from
    for column, name, value in (
        ("e.source_type", "source_type", selection.source_type),
        ("p.contributor_id", "contributor_id", selection.contributor_id),
        ("p.window_id", "window_id", selection.window_id),
        ("p.grant_id", "grant_id", selection.grant_id),
    ):
        if value is not None:
            sql += f" AND {column} = :{name}"
            params[name] = value
    if selection.pooled:
        sql += " AND p.window_id IS NULL"
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    found: dict[tuple[Any, ...], int] = {}
    for row in facility.api.db.rows(sql, **params):
        *key, total = tuple(row)
        if total is not None:
            found[tuple(key)] = int(total)
    return found


def read(facility: Facility) -> PostingSums:
    async def work(database: Database) -> PostingSums:
        async with database.session(write=False) as session:
            return await figures.posting_sums(session, ACCOUNTS, UNTIL, [CUTS[1], CUTS[0]])

    return facility.api.db.run(work)


def test_every_selection_on_whole_spans_sums_as_the_ledger(facility: Facility) -> None:
    postings = read(facility)
    irr, norway = facility.window_ids["IRR"], facility.contributor_ids["Government of Norway"]
    grant = next(iter(facility.grant_ids.values()))
    shapes: list[dict[str, Any]] = [
        {"accounts": ("1100", "5200"), "source_type": "contribution"},
        {"accounts": ("1100", "5200"), "source_type": "contribution", "window_id": irr},
        {"accounts": ("1100", "5200"), "source_type": "contribution", "pooled": True},
        {"accounts": ("1100", "5200"), "source_type": "contribution", "contributor_id": norway},
        {"accounts": ("1100", "1210"), "source_type": "revaluation"},
        {"accounts": ("1100",)},
        {"accounts": ("4200",)},
        {"accounts": ("5200",)},
        {"accounts": ("8100",), "window_id": irr, "contributor_id": norway},
        {"accounts": ("8500",)},
        {"accounts": ("8500",), "source_type": "grant_disbursement"},
        {"accounts": ("8500",), "source_type": "grant_refund", "pooled": True},
        {"accounts": ("8500",), "grant_id": grant},
        {"accounts": ("1100", "5200"), "window_id": irr, "pooled": True},  # no posting is both: nothing
    ]
    nonzero = 0
    for shape, (date_from, date_to), by in itertools.product(shapes, SPANS, GROUPINGS):
        selection = Selection(date_to=date_to, date_from=date_from, **shape)
        expected = raw_sums(facility, selection, by)
        assert postings.sums(selection, by) == expected, (selection, by)
        assert postings.total(selection) == raw_sums(facility, selection, ()).get((), 0)
        nonzero += any(expected.values())
    # the facility has postings in every shape but the impossible one, in most spans
    assert nonzero > len(shapes) * len(SPANS) * len(GROUPINGS) // 2


def test_a_selection_off_the_spans_is_refused_and_an_empty_one_is_empty(facility: Facility) -> None:
    postings = read(facility)
    with pytest.raises(ValueError, match="spans"):
        postings.sums(Selection(("1100",), date(2025, 12, 31), date(2025, 3, 1)))
    with pytest.raises(ValueError, match="spans"):
        postings.sums(Selection(("1100",), date(2026, 6, 30)))
    with pytest.raises(ValueError, match="accounts"):
        postings.sums(Selection(("1100", "2100"), UNTIL))
    assert postings.sums(Selection(("1100",), date(2025, 6, 30), date(2025, 7, 1)), ("window",)) == {}
    assert postings.total(Selection(("1100",), date(2025, 6, 30), date(2025, 7, 1))) == 0


# Ranges that start and end inside months, on month bounds, and inside one month: the posting totals read them
# as whole months and runs of days.
TOTALS_RANGES = [
    (None, date(2025, 3, 14)),
    (None, date(2025, 12, 31)),
    (date(2025, 3, 15), date(2026, 2, 10)),
    (date(2025, 7, 1), date(2025, 9, 30)),
    (date(2025, 7, 3), date(2025, 7, 28)),
    (date(2025, 6, 20), date(2025, 7, 10)),
]
TOTALS_SHAPES: list[dict[str, Any]] = [
    {"accounts": ("1100", "5200"), "source_type": "contribution"},
    {"accounts": ("1100", "5200"), "source_type": "contribution", "pooled": True},
    {"accounts": ("1100", "1210"), "source_type": "revaluation"},
    {"accounts": ("4200",)},
    {"accounts": ("8100", "8500")},
    {"accounts": ("8500",), "source_type": "grant_refund", "pooled": True},
]
TOTALS_GROUPINGS: list[tuple[str, ...]] = [(), ("window",), ("account", "source_type"), ("account", "window")]


def test_the_posting_totals_sum_any_range_as_the_ledger(facility: Facility) -> None:
    """``figures.sums`` reads a selection without a contributor or a grant from the posting totals, and
    ``figures.totals_pass`` reads a whole report's accounts from them at once: both as the postings say."""
    irr = facility.window_ids["IRR"]
    shapes = [*TOTALS_SHAPES, {"accounts": ("1100", "5200"), "window_id": irr}]

    async def work(database: Database) -> list[tuple[Selection, tuple[str, ...], dict[tuple[Any, ...], int], Any]]:
        found = []
        async with database.session(write=False) as session:
            for shape, (date_from, date_to), by in itertools.product(shapes, TOTALS_RANGES, TOTALS_GROUPINGS):
                selection = Selection(date_to=date_to, date_from=date_from, **shape)
                found.append((selection, by, await figures.sums(session, selection, by), None))
            for date_to in (date(2025, 3, 14), UNTIL):
                passed = await figures.totals_pass(session, ACCOUNTS, date_to)
                for shape, by in itertools.product(shapes, TOTALS_GROUPINGS):
                    selection = Selection(date_to=date_to, **shape)
                    found.append((selection, by, passed.sums(selection, by), passed))
        return found

    results = facility.api.db.run(work)
    nonzero = 0
    for selection, by, got, _ in results:
        expected = raw_sums(facility, selection, by)
        assert got == expected, (selection, by)
        nonzero += any(expected.values())
    assert nonzero > len(results) // 2
    passed = results[-1][3]
    with pytest.raises(ValueError, match="no contributor and no grant"):
        passed.sums(Selection(("1100",), UNTIL, contributor_id=facility.contributor_ids["Government of Norway"]))
    with pytest.raises(ValueError, match="no contributor and no grant"):
        passed.sums(Selection(("8500",), UNTIL), ("grant",))
