"""Database: one async engine per process, one session (and transaction) per request.

SQLite is the embedded default (WAL, foreign keys on, writes in ``BEGIN IMMEDIATE`` transactions so two
writers never deadlock on a lock upgrade); PostgreSQL is used by URL (``postgresql+asyncpg://``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiosqlite
from litestar import Request
from sqlalchemy import Column, DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from fundapp.core.trouble import READ_ONLY, UNAVAILABLE, DatabaseUnreachable, Trouble, trouble_of

# Stable constraint names, so migrations and models compare equal on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a writer waits for SQLite's write lock (PRAGMA busy_timeout, and the in-process queue below).
SQLITE_LOCK_TIMEOUT_S = 30
# How often the checkpointer copies the write-ahead log into the database file (see _Checkpointer).
SQLITE_CHECKPOINT_INTERVAL_S = 0.5
# Log pages after which a commit checkpoints by itself: the fallback when the checkpointer cannot keep up.
SQLITE_AUTOCHECKPOINT_PAGES = 20_000

# How long connecting to PostgreSQL may take before the request is answered 503 (asyncpg's default: 60 s).
PG_CONNECT_TIMEOUT_S = 10
_PG_READ_ONLY = text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")

log = logging.getLogger(__name__)


# ``session.info`` keys whose values hold only while the transaction that set them lasts (chain heads).
_TRANSACTION_SCOPED: set[str] = set()


def transaction_scoped(key: str) -> str:
    """Declare ``session.info[key]`` known only while the transaction (or savepoint) that set it lasts: it is
    dropped when that ends. A flush's own subtransaction does not count: its failure fails the whole
    transaction, and rows handed to a one-trip block (``fundapp.core.writes``) are not in the database yet,
    so what the key remembers could not be read back there."""
    _TRANSACTION_SCOPED.add(key)
    return key


@event.listens_for(Session, "after_transaction_end")
def _forget_transaction_scoped(session: Session, transaction: SessionTransaction) -> None:
    if transaction.origin is not SessionTransactionOrigin.SUBTRANSACTION:
        for key in _TRANSACTION_SCOPED:
            session.info.pop(key, None)


async def read_snapshot(session: AsyncSession) -> None:
    """Make the session's transaction read from one snapshot of the database, so every figure a report
    prints is of the ledger state whose head it prints. PostgreSQL needs REPEATABLE READ for that (READ
    COMMITTED takes a snapshot per statement); a SQLite read transaction is one snapshot already. Call before
    the session's first query."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        # asyncpg prepares every statement; after five runs PostgreSQL may switch a prepared report query
        # to a generic plan that ignores the dates and dimensions given (measured: 5 ms -> 445 ms for one
        # sum at 1M postings). A report runs a few statements, so planning each for its values is cheap.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_column(*, nullable: bool = False) -> Column[datetime]:
    """A timestamp column that is timezone-aware UTC on every backend."""
    return Column(UTCDateTime(), nullable=nullable)


class _SQLiteCursor:
    """An aiosqlite-style cursor that runs a statement and fetches its rows in one trip to the connection's
    thread. aiosqlite's own cursor makes four (create, execute, fetch, close), and on a small virtual
    machine waking the thread is what a short statement costs most. Rows are buffered, as SQLAlchemy's
    adapter buffers them anyway."""

    arraysize = 1

    def __init__(self, connection: _SQLiteConnection) -> None:
        self._connection = connection
        self._rows: Sequence[Any] = ()
        self._next = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def _run(self, begin: str | None, many: bool, sql: str, parameters: Any) -> tuple[Any, int, int | None, list[Any]]:
        # In the connection's thread: the sqlite3 cursor never leaves it.
        cursor = self._connection._conn.cursor()
        try:
            if begin is not None:
                cursor.execute(begin)
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows
        finally:
            cursor.close()

    def _run_inserts(self, begin: str | None, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        # In the connection's thread, like _run: each statement with its rows, in order.
        cursor = self._connection._conn.cursor()
        try:
            if begin is not None:
                cursor.execute(begin)
            for sql, rows in statements:
                cursor.executemany(sql, rows)
        finally:
            cursor.close()

    async def _trip(self, run: Callable[..., Any], *arguments: Any) -> Any:
        """``run(begin, *arguments)`` in the connection's thread, with a BEGIN still to send (after a place
        in the write queue, for a writing BEGIN)."""
        connection = self._connection
        begin, connection.pending_begin = connection.pending_begin, None
        if begin is not None and connection.writes(begin):
            connection.refuse_unwritable_files()
            # Left at the transaction's end: commit, rollback (which SQLAlchemy also runs after a failed
            # BEGIN, when the connection goes back to the pool) or close.
            await connection.enter_write_queue()
        return await connection._execute(run, begin, *arguments)  # type: ignore[no-untyped-call]

    async def _call(self, many: bool, sql: str, parameters: Any) -> _SQLiteCursor:
        self.description, self.rowcount, self.lastrowid, self._rows = await self._trip(self._run, many, sql, parameters)
        self._next = 0
        return self

    async def insert_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Several INSERTs, each with its rows, in one trip: the transaction's next statements."""
        await self._trip(self._run_inserts, statements)

    async def execute(self, sql: str, parameters: Any = None) -> _SQLiteCursor:
        return await self._call(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Any) -> _SQLiteCursor:
        return await self._call(True, sql, parameters)

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        start, self._next = self._next, min(len(self._rows), self._next + (size or self.arraysize))
        return list(self._rows[start : self._next])

    async def fetchall(self) -> list[Any]:
        start, self._next = self._next, len(self._rows)
        return list(self._rows[start:])

    async def close(self) -> None:
        self._rows, self._next = (), 0

    async def __aenter__(self) -> _SQLiteCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class _WriteQueue:
    """The order in which one process's connections take SQLite's write lock: first come, first served.

    SQLite's own wait (the busy handler) sleeps and retries, from 1 ms up to 100 ms at a time, so under
    concurrent writers some wait far longer than the lock was held (hundreds of milliseconds in the voting
    benchmark while the median ballot took 7 ms). Writers of this process queue here instead and meet
    SQLite's lock free, except when another process holds it. One lock per event loop (an asyncio lock
    belongs to one loop)."""

    def __init__(self, timeout_s: float = SQLITE_LOCK_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found


class _SQLiteConnection(aiosqlite.Connection):
    """aiosqlite's connection, with the one-trip cursor above (aiosqlite is pinned: its ``_execute`` and
    ``_conn`` are what its own cursor uses), and a place in its process's write queue from a writing
    BEGIN to the end of that transaction."""

    pending_begin: str | None = None  # a BEGIN not sent yet: it goes with the next statement
    files: tuple[str, ...] = ()  # the database file, its write-ahead log and its shared-memory index
    write_queue: _WriteQueue | None = None
    checkpointer: _Checkpointer | None = None
    _holding: asyncio.Lock | None = None

    def cursor(self) -> _SQLiteCursor:  # type: ignore[override]
        return _SQLiteCursor(self)

    async def insert_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Several INSERTs, each with its rows, in one trip (see ``fundapp.core.writes``)."""
        await _SQLiteCursor(self).insert_many(statements)

    def refuse_unwritable_files(self) -> None:
        """Refuse a write transaction, as SQLite refuses a write to a read-only database, when the database
        file, its log or its shared-memory index cannot be written (made read-only or immutable under a
        running service). SQLite maps the index into memory: writing on while it cannot grow killed the
        process with SIGBUS, with no log line. Three ``access`` calls, microseconds against a write's
        milliseconds; a file made immutable between this check and the write can still do it (the process
        then dies with the fatal error's traceback on stderr: ``faulthandler``, fundapp/server.py)."""
        for path in self.files:
            if not os.access(path, os.W_OK) and os.path.exists(path):
                raise sqlite3.OperationalError(f"attempt to write a readonly database: {path} cannot be written")

    def writes(self, begin: str) -> bool:
        """A BEGIN that takes the write lock at once (the service's write transactions)."""
        return self.write_queue is not None and "IMMEDIATE" in begin.upper()

    async def enter_write_queue(self) -> None:
        if self.write_queue is None or self._holding is not None:
            return
        lock = self.write_queue.lock()
        try:
            await asyncio.wait_for(lock.acquire(), self.write_queue.timeout_s)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._holding = lock

    def leave_write_queue(self) -> None:
        holding, self._holding = self._holding, None
        if holding is not None:
            holding.release()

    async def commit(self) -> None:
        if self.pending_begin is not None:  # nothing ran since BEGIN: there is no transaction to end
            self.pending_begin = None
            return
        wrote = self._holding is not None  # a write transaction (BEGIN IMMEDIATE): the log has grown
        try:
            await super().commit()
        finally:
            self.leave_write_queue()
        if wrote and self.checkpointer is not None:
            self.checkpointer.committed()

    async def rollback(self) -> None:
        if self.pending_begin is not None:
            self.pending_begin = None
            return
        driver = self._connection
        if driver is not None and not driver.in_transaction:
            # Nothing to roll back: SQLAlchemy's pool rolls back every connection it gets back, even after a
            # commit, and that trip to the connection's thread would do nothing.
            self.leave_write_queue()
            return
        try:
            await super().rollback()
        finally:
            self.leave_write_queue()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.leave_write_queue()


def _sqlite_connector(
    url: str, checkpointer: _Checkpointer | None, lock_timeout_s: float
) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """The engine's ``async_creator``: the connection SQLAlchemy's aiosqlite dialect would open for ``url``,
    with the one-trip cursor."""
    args, kwargs = _sqlite_connect_args(url)
    write_queue = _WriteQueue(lock_timeout_s)  # one per engine, shared by its connections
    files = _sqlite_files(url)

    async def connect() -> aiosqlite.Connection:
        connection = _SQLiteConnection(partial(sqlite3.connect, *args, **kwargs), iter_chunk_size=64)
        connection._thread.daemon = True  # as the dialect does: an unclosed connection never blocks exit
        connection.write_queue = write_queue
        connection.checkpointer = checkpointer
        connection.files = files
        return await connection

    return connect


class _Checkpointer:
    """Copies SQLite's write-ahead log into the database file from a thread of its own, so that commits
    only append to the log. SQLite's automatic checkpoint runs inside the commit that crosses its
    threshold, which then waits for the copy and two fsyncs (tens of milliseconds every few hundred
    deposits). Here a commit only says that there is something to copy; the thread, started at the first
    commit, gathers commits for ``SQLITE_CHECKPOINT_INTERVAL_S`` and runs a PASSIVE checkpoint beside the
    writers, never waiting for them, and sleeps while nothing is written. The automatic checkpoint stays,
    at ``SQLITE_AUTOCHECKPOINT_PAGES``, as the fallback that also lets the log start over (it runs while
    the committing writer still holds its place in the write queue, so no writer of this process appends
    meanwhile)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        # One condition guards both flags, so the thread cannot miss a stop that comes while it checkpoints.
        self._changed = threading.Condition()
        self._wanted = False  # commits since the last checkpoint
        self._stopping = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """A commit added to the log (called on the event loop, after each write transaction)."""
        with self._changed:
            if self._stopping:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()
            if not self._wanted:
                self._wanted = True
                self._changed.notify_all()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._wanted or self._stopping)
                    # Gather the commits of the next interval; a stop ends the wait at once.
                    if self._stopping or self._changed.wait_for(lambda: self._stopping, SQLITE_CHECKPOINT_INTERVAL_S):
                        return
                    self._wanted = False
                try:
                    if connection is None:
                        connection = self._connect()
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:  # busy, or the file went away: the next commit asks again
                    log.debug("SQLite checkpoint skipped: %s", error)
        finally:
            if connection is not None:
                connection.close()

    def stop_soon(self) -> None:
        """Let the thread end (it finishes a checkpoint under way first)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def stop(self) -> None:
        self.stop_soon()
        with self._changed:
            thread = self._thread
        if thread is not None:
            thread.join()


def _configure_sqlite(engine: AsyncEngine, lock_timeout_s: float) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to emit (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_s * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        # Up to 32 MiB of pages per connection (SQLite's default is 2 MiB): the indexes' hot pages stay in
        # memory as the journal grows instead of being read back from the OS one syscall at a time.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        driver = connection.connection.driver_connection
        assert isinstance(driver, _SQLiteConnection)  # the engine's connections come from _sqlite_connector
        # BEGIN goes with the transaction's first statement, in the same trip: it takes the lock just before
        # that statement runs, as it would have on its own (a lock wait or refusal is then reported by that
        # statement). Handed straight to the connection, not executed as a statement of its own.
        driver.pending_begin = f"BEGIN {mode}"


def _sqlite_connect_args(url: str) -> tuple[Sequence[Any], dict[str, Any]]:
    """What ``sqlite3.connect`` is given for ``url`` by SQLAlchemy's dialect (a ``file:`` URI with
    ``uri=true`` and its ``mode`` included)."""
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect(_is_async=True)().create_connect_args(parsed)
    return args, dict(kwargs)


def _sqlite_files(url: str) -> tuple[str, ...]:
    """The database file of a SQLite URL with its write-ahead log and shared-memory index (none in memory)."""
    database = make_url(url).database or ""
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    if not database or database == ":memory:" or "mode=memory" in url:
        return ()
    return (database, database + "-wal", database + "-shm")


def _configure_postgresql(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as error:  # refused, reset, unreachable, timed out: the server is not there
            raise DatabaseUnreachable(f"cannot connect to the database: {error}") from error

    @event.listens_for(sync_engine, "handle_error")
    def _lost(context: Any) -> None:
        # A connection that met an outage (the server shut down or restarted, the network dropped) is thrown
        # away, and with it the pool's other connections made before it: the next request connects anew, so
        # the service recovers by itself when the database is back.
        if not context.is_disconnect and trouble_of(context.original_exception) is UNAVAILABLE:
            context.is_disconnect = True


class Database:
    """The engine and the session factories of one process."""

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 10, lock_timeout_s: float = SQLITE_LOCK_TIMEOUT_S
    ) -> None:
        """``lock_timeout_s``: how long a SQLite writer waits for the write lock before its request is answered
        503 ``database-busy`` (``FUNDAPP_DATABASE_LOCK_TIMEOUT_SECONDS``)."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._checkpointer: _Checkpointer | None = None
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            # No pre-ping: it is one more round trip on every checkout (three per request). Connections are
            # recycled well within any server or proxy idle timeout instead; a request that meets a dropped
            # connection is rolled back whole and answered 503 (``fundapp.core.trouble``), and the pool drops
            # its connections of before the outage (``_configure_postgresql``). Connecting gives up after
            # PG_CONNECT_TIMEOUT_S, so an unreachable server is a prompt 503, not a request hanging for a minute.
            options.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=1800,
                connect_args={"timeout": PG_CONNECT_TIMEOUT_S},
            )
        else:
            database = make_url(url).database
            args, kwargs = _sqlite_connect_args(url)
            self._sqlite_args = (args, kwargs)
            read_only = make_url(url).query.get("mode") == "ro"
            if database and database != ":memory:" and not read_only:
                self._checkpointer = _Checkpointer(
                    partial(sqlite3.connect, *args, **{**kwargs, "isolation_level": None, "check_same_thread": False})
                )
                # A Database nobody disposes (a test's, say) lets its thread end when it is collected.
                weakref.finalize(self, self._checkpointer.stop_soon)
            options.update(async_creator=_sqlite_connector(url, self._checkpointer, lock_timeout_s))
        self.engine = create_async_engine(url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine, lock_timeout_s)
            write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            _configure_postgresql(self.engine)
            write_engine = self.engine
        self._read = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write = async_sessionmaker(write_engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = True) -> AsyncSession:
        """A new session; ``write=True`` takes SQLite's write lock when the transaction begins."""
        return (self._write if write else self._read)()

    async def trouble(self) -> Trouble | None:
        """Whether the database can be reached, read and written now (None), or its trouble: the readiness
        check. Cheap and writes nothing. PostgreSQL: one statement asks whether transactions are read-only
        (``default_transaction_read_only``, a standby). SQLite: a connection of its own (the service's writers
        are not queued behind) takes the write lock (waiting at most a second for another writer), changes the
        header's ``user_version`` to what it was and rolls back, so a read-only file, directory or URL
        (``mode=ro``) is found without a byte written."""
        try:
            if self.is_sqlite:
                await asyncio.to_thread(self._sqlite_write_check)
                return None
            async with self.engine.connect() as connection:
                recovery, read_only = (await connection.execute(_PG_READ_ONLY)).one()
            return READ_ONLY if recovery or read_only == "on" else None
        except Exception as error:
            found = trouble_of(error)
            if found is None:
                log.warning("readiness check: the database failed in an unexpected way", exc_info=True)
                return UNAVAILABLE
            log.warning("readiness check: %s: %s", found.slug, str(error).splitlines()[0] if str(error) else "")
            return found

    def _sqlite_write_check(self) -> None:
        for path in _sqlite_files(self.url):
            if not os.access(path, os.W_OK) and os.path.exists(path):
                raise sqlite3.OperationalError(f"attempt to write a readonly database: {path} cannot be written")
        args, kwargs = self._sqlite_args
        connection = sqlite3.connect(*args, **{**kwargs, "isolation_level": None, "timeout": 1.0})
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                (version,) = connection.execute("PRAGMA user_version").fetchone()
                connection.execute(f"PRAGMA user_version = {int(version)}")
            finally:
                connection.execute("ROLLBACK")
        finally:
            connection.close()

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
        await self.engine.dispose()


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request: committed when the handler succeeds, rolled back when it raises."""
    database: Database = request.app.state.db
    async with database.session(write=request.method not in SAFE_METHODS) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
