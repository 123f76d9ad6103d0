"""Which errors are database trouble (503, ``fundapp.core.trouble``) and which stay the service's own (500)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from fundapp.core.trouble import BUSY, FULL, READ_ONLY, UNAVAILABLE, DatabaseUnreachable, Trouble, trouble_of

pytestmark = pytest.mark.timeout(30)


def sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


class PostgresError(Exception):
    """What asyncpg's and psycopg's errors carry: the SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server said {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """As SQLAlchemy wraps a driver's error."""
    return sa_exc.OperationalError("INSERT ...", {}, orig, connection_invalidated=invalidated)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (wrapped(sqlite_error(5, "database is locked")), BUSY),
        (wrapped(sqlite_error(8, "attempt to write a readonly database")), READ_ONLY),
        (wrapped(sqlite_error(8 | (1 << 8), "attempt to write a readonly database")), READ_ONLY),
        (wrapped(sqlite_error(13, "database or disk is full")), FULL),
        (wrapped(sqlite_error(10 | (3 << 8), "disk I/O error")), UNAVAILABLE),
        (wrapped(sqlite_error(14, "unable to open database file")), UNAVAILABLE),
        (sqlite3.OperationalError("database is locked"), BUSY),  # the write queue's own, no code
        (wrapped(PostgresError("25006")), READ_ONLY),
        (wrapped(PostgresError("53100")), FULL),
        (wrapped(PostgresError("53300")), BUSY),
        (wrapped(PostgresError("57P01")), UNAVAILABLE),
        (wrapped(PostgresError("08006")), UNAVAILABLE),
        (wrapped(PostgresError("08003")), UNAVAILABLE),
        (wrapped(ValueError("connection is closed"), invalidated=True), UNAVAILABLE),
        (wrapped(ConnectionResetError(104, "reset")), UNAVAILABLE),
        (DatabaseUnreachable("refused"), UNAVAILABLE),
        (sa_exc.TimeoutError("QueuePool limit reached"), BUSY),
    ],
)
def test_database_trouble_is_named(error: BaseException, expected: Trouble) -> None:
    assert trouble_of(error) is expected


def test_a_cause_further_down_the_chain_is_found() -> None:
    try:
        try:
            raise wrapped(PostgresError("57P03"))
        except sa_exc.DBAPIError as inner:
            raise RuntimeError("the deposit failed") from inner
    except RuntimeError as outer:
        assert trouble_of(outer) is UNAVAILABLE


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        ConnectionRefusedError(111, "refused"),  # not from the database: some other connection
        OSError(28, "No space left on device"),  # a file the service writes, not its database
        sa_exc.IntegrityError("INSERT ...", {}, PostgresError("23505")),  # a rule, not trouble
        wrapped(PostgresError("40P01")),  # a deadlock is the service's to avoid
        wrapped(sqlite_error(19, "UNIQUE constraint failed")),
        wrapped(sqlite3.OperationalError("no such table: x")),
    ],
)
def test_other_errors_are_not_database_trouble(error: BaseException) -> None:
    assert trouble_of(error) is None
