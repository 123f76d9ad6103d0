"""A list of rows given to one statement as a table, whatever its length.

A service that reads the same facts for many inputs (every receipt of a bank statement) joins them to the
inputs in one statement instead of sending one statement per input. The statement's text does not depend
on how many rows there are, so it is compiled and prepared once: on PostgreSQL the rows go as one array
per column, unnested; on SQLite as one JSON array of arrays, read with ``json_each``. A set made for
exactly one row (``one=True``, a request about one input) binds its values as plain parameters instead: the
database plans with the values themselves, as it would a statement written for one input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True, slots=True)
class RowSet:
    """``source`` is the rows as a table (its columns as declared); ``parameters(rows)`` binds them."""

    source: FromClause
    names: tuple[str, ...]
    parameter: str
    postgresql: bool
    one: bool = False

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if self.one:
            if len(rows) != 1:
                raise ValueError(f"this row set takes exactly one row, not {len(rows)}")
            return {f"{self.parameter}_{name}": rows[0][name] for name in self.names}
        if self.postgresql:
            return {f"{self.parameter}_{name}": [row[name] for row in rows] for name in self.names}
        return {self.parameter: json.dumps([[row[name] for name in self.names] for row in rows])}


def row_set(dialect: str, name: str, columns: Sequence[tuple[str, TypeEngine[Any]]], *, one: bool = False) -> RowSet:
    """Rows of ``columns`` (names and types: integers and strings) as a table called ``name``."""
    names = tuple(column_name for column_name, _ in columns)
    if one:
        values = select(
            *(bindparam(f"{name}_{column_name}", type_=type_).label(column_name) for column_name, type_ in columns)
        ).subquery(name)
        return RowSet(values, names, name, postgresql=dialect == "postgresql", one=True)
    if dialect == "postgresql":
        arrays = [
            cast(bindparam(f"{name}_{column_name}", type_=ARRAY(type_)), ARRAY(type_)) for column_name, type_ in columns
        ]
        unnested = (
            func.unnest(*arrays)
            .table_valued(*(column(column_name, type_) for column_name, type_ in columns))
            .render_derived(name=name)
        )
        return RowSet(unnested, names, name, postgresql=True)
    each = func.json_each(bindparam(name)).table_valued("value", name=f"{name}_json")
    extracted = select(
        *(
            cast(func.json_extract(each.c.value, f"$[{i}]"), type_).label(column_name)
            if isinstance(type_, Integer)
            else func.json_extract(each.c.value, f"$[{i}]").label(column_name)
            for i, (column_name, type_) in enumerate(columns)
        )
    ).subquery(name)
    return RowSet(extracted, names, name, postgresql=False)
