"""Alembic environment: async engines for SQLite and PostgreSQL, batch mode on SQLite."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from fundapp.core.config import load_settings
from fundapp.core.db import metadata
from fundapp.models import import_all_models, is_model_object

import_all_models()
config = context.config


def database_url() -> str:
    return (
        config.attributes.get("database_url")
        or os.environ.get("FUNDAPP_MIGRATION_DATABASE_URL")
        or os.environ.get("FUNDAPP_DATABASE_URL")
        or load_settings().migration_url
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        include_name=is_model_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    connection: Any = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    asyncio.run(_run_async(database_url()))


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: give a database URL")
run()
