"""``fundapp backup PATH`` and ``fundapp restore PATH`` (docs/operations.md, "Backups").

PostgreSQL: ``pg_dump --format=custom``, one consistent snapshot taken while the service keeps writing, and
``pg_restore`` into an empty database in one transaction (the guards' triggers are created after the rows,
as pg_dump orders them). SQLite: the online backup API (``sqlite3.Connection.backup``), which copies the
database as one read transaction sees it, so writers (WAL mode) go on meanwhile; the copy is checked with
``PRAGMA integrity_check`` before it replaces anything.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(RuntimeError):
    """The backup or restore could not be made; the message says why."""


def _pg_tool(tool: str, url: URL, *arguments: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(f"{tool} is not installed (PostgreSQL's client programs, the server's major version)")
    command = [executable, "--no-password", "--dbname", url.database or ""]
    if url.host:
        command += ["--host", url.host]
    if url.port:
        command += ["--port", str(url.port)]
    if url.username:
        command += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run([*command, *arguments], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("the SQLite database has no file to back up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy one SQLite database into a new file beside ``target`` with the online backup API, check it, then
    move it into place (a half-written copy never has the target's name)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            problems = dst.execute("PRAGMA integrity_check").fetchall()
            if problems != [("ok",)]:
                raise BackupError(f"the copy fails SQLite's integrity check: {problems[:5]}")
            # A single file: the copy does not need the source's write-ahead log.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)


def backup(database_url: str, path: Path) -> str:
    """Write a backup of the database to ``path``; returns a line saying what was written."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        _pg_tool("pg_dump", url, "--format=custom", "--file", str(path))
    elif url.get_backend_name() == "sqlite":
        _sqlite_copy(_sqlite_path(url), path)
    else:
        raise BackupError(f"no backup for {url.get_backend_name()} databases")
    return f"backup of {url.render_as_string(hide_password=True)} written to {path} ({path.stat().st_size} bytes)"


def _pg_is_empty(url: URL) -> bool:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def count_tables() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                query = text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                return int((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count_tables()) == 0


def restore(database_url: str, path: Path) -> str:
    """Restore the backup at ``path`` into the (empty) database of ``database_url``."""
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        if not _pg_is_empty(url):
            raise BackupError("the database is not empty: restore into a new, empty database")
        _pg_tool("pg_restore", url, "--exit-on-error", "--single-transaction", str(path))
    elif url.get_backend_name() == "sqlite":
        target = _sqlite_path(url)
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"{target} exists: restore into a new database file")
        _sqlite_copy(path, target)
        connection = sqlite3.connect(target)
        try:
            connection.execute("PRAGMA journal_mode=WAL")  # the service's mode
        finally:
            connection.close()
    else:
        raise BackupError(f"no restore for {url.get_backend_name()} databases")
    return f"{path} restored into {url.render_as_string(hide_password=True)}"
