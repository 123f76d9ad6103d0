"""A list of rows as one statement's table (fundapp/core/rowsets.py), on SQLite and PostgreSQL: the rows come
back as given, in order, with NULLs, quotes and non-ASCII text intact, for one row or many, and the text
of the statement does not change with the number of rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import BigInteger, Integer, String, select

from fundapp.core.db import Database
from fundapp.core.rowsets import row_set

COLUMNS = [("n", Integer()), ("amount", BigInteger()), ("key", String())]
ROWS = [
    {"n": 0, "amount": 9_007_199_254_740_993, "key": "BNK-001"},
    {"n": 1, "amount": None, "key": "l'Agence française — «reçu»"},
    {"n": 2, "amount": -5, "key": None},
    {"n": 3, "amount": 0, "key": 'a "quoted" [json] \\ key'},
]


def read_back(database_url: str, rows: list[dict[str, Any]], *, one: bool = False) -> tuple[list[tuple[Any, ...]], str]:
    async def run() -> tuple[list[tuple[Any, ...]], str]:
        database = Database(database_url)
        try:
            async with database.session(write=False) as session:
                items = row_set(database.dialect, "items", COLUMNS, one=one)
                statement = select(items.source).order_by(items.source.c.n)
                result = await session.execute(statement, items.parameters(rows))
                text = str(statement.compile(dialect=session.get_bind().dialect))
                return [tuple(row) for row in result.all()], text
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_rows_come_back_as_given_whatever_their_number(database_url: str) -> None:
    expected = [(r["n"], r["amount"], r["key"]) for r in ROWS]
    many, text_of_many = read_back(database_url, ROWS)
    assert many == expected
    two, text_of_two = read_back(database_url, ROWS[:2])
    assert two == expected[:2]
    assert text_of_two == text_of_many


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"row{row['n']}")
def test_a_set_for_one_row_binds_its_values(database_url: str, row: dict[str, Any]) -> None:
    assert read_back(database_url, [row], one=True)[0] == [(row["n"], row["amount"], row["key"])]


def test_a_set_for_one_row_refuses_two() -> None:
    with pytest.raises(ValueError, match="exactly one row"):
        row_set("sqlite", "items", COLUMNS, one=True).parameters(ROWS[:2])
