"""Database trouble: the errors that mean the database cannot serve a request now (it is down, read-only,
full, or held by another writer), as opposed to a fault of the service.

A request that meets one is rolled back whole (its transaction never commits) and answered 503 with
``Retry-After`` and a problem type naming the trouble (``fundapp.core.errors``); the readiness check
(``/health/ready``) says the same. Nothing here decides by an error's wording when the driver gives a code:
SQLite's result code (``sqlite_errorcode``), PostgreSQL's SQLSTATE (``sqlstate``, asyncpg and psycopg alike).
See docs/operations.md, "When the database is in trouble".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc


@dataclass(frozen=True, slots=True)
class Trouble:
    """One kind of database trouble: its problem type (``urn:fundapp:problem:<slug>``), title, what a client
    is told, and after how many seconds it may try again."""

    slug: str
    title: str
    detail: str
    retry_after: int


UNAVAILABLE = Trouble(
    "database-unavailable",
    "The database cannot be reached",
    "The database cannot be reached or read now; nothing was changed. Try again later.",
    5,
)
READ_ONLY = Trouble(
    "database-read-only",
    "The database accepts no changes now",
    "The database is read-only now: reading works, changes are refused; nothing was changed. Try again later.",
    30,
)
FULL = Trouble(
    "database-full",
    "The database's storage is full",
    "The database's storage is full; nothing was changed. Try again later.",
    60,
)
BUSY = Trouble(
    "database-busy",
    "The database is busy",
    "The database stayed busy with other changes for too long; nothing was changed. Try again.",
    2,
)


class DatabaseUnreachable(Exception):
    """Connecting to the database failed below the driver's own errors (refused, reset, timed out, the host
    unknown): raised by the engine's connect hook (``fundapp.core.db``) with the network error as its cause,
    so that an ``OSError`` of anything else (a file, say) is never taken for database trouble."""


# SQLite's primary result codes (https://sqlite.org/rescode.html).
_SQLITE = {
    5: BUSY,  # SQLITE_BUSY: the write lock stayed taken beyond the busy timeout
    6: BUSY,  # SQLITE_LOCKED
    7: UNAVAILABLE,  # SQLITE_NOMEM
    8: READ_ONLY,  # SQLITE_READONLY (file, directory or connection read-only)
    10: UNAVAILABLE,  # SQLITE_IOERR: disk I/O error
    11: UNAVAILABLE,  # SQLITE_CORRUPT
    13: FULL,  # SQLITE_FULL: database or disk is full
    14: UNAVAILABLE,  # SQLITE_CANTOPEN: unable to open database file
    15: UNAVAILABLE,  # SQLITE_PROTOCOL
    26: UNAVAILABLE,  # SQLITE_NOTADB
}
# When an error carries no code (one the service raises itself, as the write queue's "database is locked").
_SQLITE_WORDS = (
    ("database is locked", BUSY),
    ("readonly database", READ_ONLY),
    ("disk is full", FULL),
    ("disk i/o error", UNAVAILABLE),
    ("unable to open database file", UNAVAILABLE),
)
# PostgreSQL's SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_SQLSTATE = {
    "25006": READ_ONLY,  # read_only_sql_transaction (default_transaction_read_only, a hot standby)
    "53100": FULL,  # disk_full
    "53200": UNAVAILABLE,  # out_of_memory
    "53300": BUSY,  # too_many_connections
    "57P01": UNAVAILABLE,  # admin_shutdown
    "57P02": UNAVAILABLE,  # crash_shutdown
    "57P03": UNAVAILABLE,  # cannot_connect_now (starting up, shutting down, in recovery)
    "57P05": UNAVAILABLE,  # idle_session_timeout
    "58030": UNAVAILABLE,  # io_error
}
_SQLSTATE_CLASSES = {"08": UNAVAILABLE}  # connection_exception and its subclasses


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, the driver's error it wraps (``orig``), and their causes and contexts."""
    seen: set[int] = set()
    waiting: list[BaseException | None] = [error]
    while waiting and len(seen) < 20:
        current = waiting.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        waiting.extend([orig if isinstance(orig, BaseException) else None, current.__cause__, current.__context__])


def _one(error: BaseException) -> Trouble | None:
    if isinstance(error, DatabaseUnreachable):
        return UNAVAILABLE
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return UNAVAILABLE  # the driver lost its connection (SQLAlchemy's own test of the dialect's errors)
    if isinstance(error, sa_exc.TimeoutError):
        return BUSY  # every connection of the pool stayed in use
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int):
            return _SQLITE.get(code & 0xFF)
        message = str(error).lower()
        return next((trouble for words, trouble in _SQLITE_WORDS if words in message), None)
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return _SQLSTATE.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
    return None


def trouble_of(error: BaseException) -> Trouble | None:
    """The database trouble ``error`` reports, or None when it is no database trouble."""
    for link in _chain(error):
        found = _one(link)
        if found is not None:
            return found
    # An OSError only counts when a database error carries it (a connection reset under the driver).
    if isinstance(error, sa_exc.DBAPIError) and any(isinstance(link, OSError) for link in _chain(error)):
        return UNAVAILABLE
    return None
