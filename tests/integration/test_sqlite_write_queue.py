"""SQLite writers of one process queue for the write lock (fundapp/core/db.py) instead of busy-waiting."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from fundapp.core import db
from fundapp.core.db import Database

# Generous: a writer that is never let in would wait for SQLite's 30 s lock timeout instead.
PATIENCE_S = 20
CHECKPOINT_CYCLES = 100


async def scratch_database(path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{path}")

    # SQLite told not to wait at all for its write lock: a writer that met it taken would fail at once
    # with "database is locked". Registered after the service's own setting, so it wins.
    @event.listens_for(database.engine.sync_engine, "connect")
    def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    async with database.session(write=True) as session:
        await session.execute(text("CREATE TABLE arrivals (seq INTEGER PRIMARY KEY, writer INTEGER UNIQUE)"))
        await session.commit()
    return database


async def write(database: Database, writer: int, started: list[int]) -> None:
    async with database.session(write=True) as session:
        started.append(writer)
        await session.execute(text("INSERT INTO arrivals (writer) VALUES (:writer)"), {"writer": writer})
        await asyncio.sleep(0)  # let the others reach the lock while this transaction holds it
        await session.commit()


def test_concurrent_writers_of_one_process_never_meet_the_lock_taken(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        database = await scratch_database(tmp_path / "queue.db")
        try:
            started: list[int] = []
            await asyncio.wait_for(asyncio.gather(*(write(database, n, started) for n in range(24))), PATIENCE_S)
            async with database.session(write=False) as session:
                rows = await session.execute(text("SELECT writer FROM arrivals ORDER BY seq"))
                return [int(row[0]) for row in rows]
        finally:
            await database.dispose()

    # Without the queue the second writer finds the lock taken and fails; with it every writer gets in.
    assert sorted(asyncio.run(scenario())) == list(range(24))


def test_a_failed_write_gives_the_lock_back_and_the_next_writer_proceeds(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        database = await scratch_database(tmp_path / "queue.db")
        try:
            await write(database, 1, [])
            with pytest.raises(IntegrityError):
                await write(database, 1, [])  # the same writer twice: the unique constraint refuses it
            await asyncio.wait_for(write(database, 2, []), PATIENCE_S)
            async with database.session(write=False) as session:
                return [int(row[0]) for row in await session.execute(text("SELECT writer FROM arrivals ORDER BY seq"))]
        finally:
            await database.dispose()

    assert asyncio.run(scenario()) == [1, 2]


def test_a_writer_waits_until_the_open_write_transaction_ends(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        database = await scratch_database(tmp_path / "queue.db")
        events: list[str] = []
        try:
            holder_inside, release_holder = asyncio.Event(), asyncio.Event()

            async def holder() -> None:
                async with database.session(write=True) as session:
                    await session.execute(text("INSERT INTO arrivals (writer) VALUES (1)"))
                    events.append("holder wrote")
                    holder_inside.set()
                    await release_holder.wait()
                    events.append("holder commits")
                    await session.commit()

            async def waiter() -> None:
                await holder_inside.wait()
                async with database.session(write=True) as session:
                    await session.execute(text("INSERT INTO arrivals (writer) VALUES (2)"))
                    events.append("waiter wrote")
                    await session.commit()

            async def release_later() -> None:
                await holder_inside.wait()
                for _ in range(50):  # give the waiter every chance to get in too early
                    await asyncio.sleep(0)
                events.append("release")
                release_holder.set()

            await asyncio.wait_for(asyncio.gather(holder(), waiter(), release_later()), PATIENCE_S)
        finally:
            await database.dispose()
        return events

    assert asyncio.run(scenario()) == ["holder wrote", "release", "holder commits", "waiter wrote"]


def test_a_writer_refused_by_another_process_lock_leaves_the_queue(tmp_path: Path) -> None:
    """Another engine on the same file stands for another process (its own queue); with no busy wait
    SQLite refuses this process's BEGIN at once, and the refused writer must not keep the queue."""

    async def scenario() -> list[int]:
        path = tmp_path / "queue.db"
        ours = await scratch_database(path)
        theirs = Database(f"sqlite+aiosqlite:///{path}")
        try:
            async with theirs.session(write=True) as other:
                await other.execute(text("INSERT INTO arrivals (writer) VALUES (1)"))
                with pytest.raises(OperationalError, match="database is locked"):
                    await write(ours, 2, [])
                await other.commit()
            await asyncio.wait_for(write(ours, 3, []), PATIENCE_S)
            async with ours.session(write=False) as session:
                return [int(row[0]) for row in await session.execute(text("SELECT writer FROM arrivals ORDER BY seq"))]
        finally:
            await ours.dispose()
            await theirs.dispose()

    assert asyncio.run(scenario()) == [1, 3]


def test_disposing_a_database_ends_its_checkpoint_thread_whatever_it_was_doing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No pause between checkpoints: the thread is always somewhere in its loop when dispose() stops it,
    # which is where a stop could once be lost (dispose then waited forever).
    monkeypatch.setattr(db, "SQLITE_CHECKPOINT_INTERVAL_S", 0)

    async def cycles() -> None:
        for i in range(CHECKPOINT_CYCLES):
            database = Database(f"sqlite+aiosqlite:///{tmp_path / f'cycle{i}.sqlite3'}")
            for statement in ("CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"):
                async with database.session(write=True) as session:
                    await session.execute(text(statement))
                    await session.commit()
            await database.dispose()

    runner = threading.Thread(target=asyncio.run, args=(cycles(),), daemon=True)
    runner.start()
    runner.join(PATIENCE_S * 6)
    assert not runner.is_alive(), "dispose() waited for a checkpoint thread that never ended"
    assert not [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]
