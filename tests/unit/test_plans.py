"""The core's pieces of a money command that need no database: the ids a facts statement allows, and the
entry ids a plan's rows and events receive once its entries are posted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fundapp.core.ids import id_pool
from fundapp.core.plans import EntryId, _filled


@given(first=st.integers(1, 10**12), n=st.integers(0, 50))
def test_sqlite_ids_follow_max_plus_one(first: int, n: int) -> None:
    assert id_pool("sqlite", [first] * n) == tuple(range(first, first + n))


@given(values=st.lists(st.integers(1, 10**12), unique=True, max_size=50))
def test_postgresql_ids_are_the_sequence_values_in_order(values: list[int]) -> None:
    assert id_pool("postgresql", values) == tuple(sorted(values))


def test_entry_ids_are_filled_in_rows_and_one_level_down() -> None:
    row = {"entry_id": EntryId(1), "after": {"entry_id": EntryId(0), "x": 3}, "ids": [EntryId(0), 7], "y": "z"}
    assert _filled(row, [40, 41]) == {"entry_id": 41, "after": {"entry_id": 40, "x": 3}, "ids": [40, 7], "y": "z"}
