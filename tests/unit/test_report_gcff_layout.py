"""The GCFF's funds-available table as a pure value: its lines in order, its totals, and the display in millions
(each line rounded on its own, half up, to two decimals)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fundapp.core.errors import InvalidInput
from reports import i18n, render
from reports.document import MILLIONS, Amount, Label, in_millions
from reports.funds_available_gcff import LINES, GcffFigures, Unit, check_unit, notes, table

# The GCFF's table of 30 June 2019, fed with figures below the cent of a million (minor units of USD).
FIGURES = GcffFigures(
    contributions=620_780_000_00,
    pledges_outstanding=75_000_000_00,
    cash_receipts=611_674_000_00,
    investment_income=10_754_500_00,
    concessionality=584_448_000_00,
    mdb_costs=600_000_00,
    partner_grants=0,
    admin_budget=2_200_000_00,
    held_in_trust=41_108_000_00,
    pending=5_927_500_00,
)
PUBLISHED = {
    "gcff.contributions": "620.78",
    "gcff.pledges_outstanding": "75.00",
    "gcff.cash_receipts": "611.67",
    "gcff.investment_income": "10.75",
    "gcff.total_resources": "706.53",
    "gcff.concessionality": "584.45",
    "gcff.mdb_costs": "0.60",
    "gcff.partner_grants": "0.00",
    "gcff.admin_budget": "2.20",
    "gcff.total_decisions": "587.25",
    "gcff.held_in_trust": "41.11",
    "gcff.pending": "5.93",
    "gcff.available": "35.18",
}


def _shown(unit: Unit) -> dict[str, str]:
    built = table(FIGURES, "USD", unit)
    found = {}
    for row in built.rows:
        label, cell = row.cells
        assert isinstance(label, Label)
        if cell is not None:
            assert isinstance(cell, Amount)
            found[label.key] = i18n.decimal_string(cell)
    return found


def test_the_published_table_to_the_cent_in_millions() -> None:
    assert _shown(Unit.MILLIONS) == PUBLISHED


def test_lines_in_the_gcff_order_and_totals_from_exact_figures() -> None:
    keys = [key for key, *_ in LINES]
    assert keys == [
        "gcff.supporting",
        "gcff.contributions",
        "gcff.pledges_outstanding",
        "gcff.cash_receipts",
        "gcff.investment_income",
        "gcff.total_resources",
        "gcff.decisions",
        "gcff.concessionality",
        "gcff.mdb_costs",
        "gcff.partner_grants",
        "gcff.admin_budget",
        "gcff.total_decisions",
        "gcff.position",
        "gcff.held_in_trust",
        "gcff.pending",
        "gcff.available",
    ]
    whole = _shown(Unit.UNITS)
    assert whole["gcff.total_resources"] == "706534500.00"  # cash receipts are not added
    assert whole["gcff.total_decisions"] == "587248000.00"
    assert whole["gcff.available"] == "35180500.00"
    # The published lines do not add up to the cent once rounded, and the report does not force them to.
    assert Decimal("584.45") + Decimal("0.60") + Decimal("2.20") == Decimal("587.25")
    assert Decimal("41.11") - Decimal("5.93") == Decimal("35.18")


@pytest.mark.parametrize(
    ("minor", "shown"),
    [
        (0, "0.00"),
        (5_000_00, "0.01"),  # exactly half a cent of a million: up
        (4_999_99, "0.00"),
        (2_345_000_00, "2.35"),
        (5_927_500_00, "5.93"),
        (-5_000_00, "-0.01"),  # half away from zero
        (-4_999_99, "0.00"),
        (123_456_789_012_34, "123456.79"),
    ],
)
def test_millions_round_half_up_on_their_own(minor: int, shown: str) -> None:
    scaled = in_millions(Amount(minor, "USD"), 2)
    assert scaled.unit == MILLIONS
    assert i18n.decimal_string(scaled) == shown


def test_millions_of_a_currency_without_minor_units() -> None:
    assert i18n.decimal_string(in_millions(Amount(1_234_567, "JPY"), 0)) == "1.23"


def test_millions_are_formatted_for_each_locale_and_said_under_the_title() -> None:
    scaled = in_millions(Amount(620_780_000_00, "USD"), 2)
    assert [i18n.figure(scaled, loc) for loc in ("en", "es", "fr")] == ["620.78", "620,78", "620,78"]
    view = render._table_view(table(FIGURES, "USD", Unit.MILLIONS), "fr", for_print=True)
    assert view["currency"] == "Montants en millions de dollars des États-Unis (USD)"
    assert render.json_cell(scaled, "en") == {
        "amount": "620.78",
        "currency": "USD",
        "entries": None,
        "unit": "millions",
    }
    assert "unit" not in render.json_cell(Amount(1, "USD"), "en")


def test_the_note_on_rounding_only_in_millions() -> None:
    first = notes(Unit.MILLIONS)[0].paragraphs[0]
    assert isinstance(first, Label) and first.key == "gcff.note_millions"
    assert "gcff.note_millions" not in [p.key for p in notes(Unit.UNITS)[0].paragraphs if isinstance(p, Label)]


def test_the_unit_parameter() -> None:
    assert check_unit(None) is Unit.UNITS
    assert check_unit("millions") is Unit.MILLIONS
    with pytest.raises(InvalidInput) as refused:
        check_unit("billions")
    assert [(e.field, e.rule) for e in refused.value.errors] == [("unit", "one_of")]
