"""``fundapp db roles``: least privilege on PostgreSQL (docs/operations.md, "Database roles").

Two roles: the **owner** owns the schema and every table, and is the role migrations run as
(``FUNDAPP_MIGRATION_DATABASE_URL``); the **service** role is what the running service connects as
(``FUNDAPP_DATABASE_URL``). The service may read every table and write the ordinary ones, but on the
append-only tables (every table with an ``<table>_append_only`` trigger: the journal, the audit log, the
decision records) it may only SELECT and INSERT. It owns nothing, so it cannot ALTER a table, disable or drop
a trigger, or TRUNCATE; nor is it a superuser, so it cannot set ``session_replication_role`` either.

The command is idempotent: run it once with a superuser (or a role with CREATEROLE that owns the database)
before the first ``fundapp db upgrade``, and again after each upgrade so that new tables get their grants.
Objects that already exist and belong to another role (a database migrated by ``postgres``) are handed to the
owner.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Tables the service reads but never writes: the chains' anchors and the posting totals move only by their
# SECURITY DEFINER triggers.
READ_ONLY = ("chain_anchors", "posting_totals", "posting_month_totals", "alembic_version")


class RolesError(RuntimeError):
    """The roles could not be set up; the message says why."""


def _ident(name: str) -> str:
    if not ROLE_NAME.match(name):
        raise RolesError(f"{name!r} is not a role name (lower-case letters, digits and _, at most 63)")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _names(conn: AsyncConnection, sql: str) -> list[str]:
    return [str(row[0]) for row in await conn.execute(text(sql))]


async def _apply(
    conn: AsyncConnection, owner: str, service: str, owner_password: str | None, service_password: str | None
) -> list[str]:
    o, s = _ident(owner), _ident(service)
    done: list[str] = []
    database = str((await conn.execute(text("SELECT current_database()"))).scalar_one())
    for role, password in ((owner, owner_password), (service, service_password)):
        exists = (await conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})).first()
        if exists is None:
            await conn.execute(text(f"CREATE ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"))
            done.append(f"created role {role}")
        if password:
            await conn.execute(text(f"ALTER ROLE {_ident(role)} PASSWORD {_literal(password)}"))
    db = '"' + database.replace('"', '""') + '"'
    statements = [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {o}, {s}",
        f"ALTER SCHEMA public OWNER TO {o}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {s}",
    ]
    for statement in statements:
        await conn.execute(text(statement))
    # Everything in the schema belongs to the owner (tables bring their sequences and triggers along).
    tables = await _names(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    for table in tables:
        await conn.execute(text(f'ALTER TABLE public."{table}" OWNER TO {o}'))
    functions = await _names(
        conn,
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' ORDER BY 1",
    )
    for function in functions:
        await conn.execute(text(f"ALTER FUNCTION {function} OWNER TO {o}"))
    append_only = await _names(
        conn,
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND t.tgname = c.relname || '_append_only' ORDER BY 1",
    )
    grants = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {s}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {s}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {s}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {s}",
        # Tables a later migration adds are readable at once; writable after the next `fundapp db roles`.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA public GRANT SELECT ON TABLES TO {s}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {s}",
    ]
    grants += [f'REVOKE UPDATE, DELETE ON public."{t}" FROM {s}' for t in append_only]
    grants += [f'REVOKE INSERT, UPDATE, DELETE ON public."{t}" FROM {s}' for t in READ_ONLY if t in tables]
    for statement in grants:
        await conn.execute(text(statement))
    done.append(f"owner {owner}: the schema, {len(tables)} tables and {len(functions)} functions")
    done.append(
        f"service {service}: reads every table, writes the others; SELECT and INSERT only on "
        f"{', '.join(append_only) or '(no append-only table yet: run this again after fundapp db upgrade)'}"
    )
    return done


def set_up_roles(
    admin_url: str,
    *,
    owner: str,
    service: str,
    owner_password: str | None = None,
    service_password: str | None = None,
) -> list[str]:
    """Create (if missing) and grant the owner and service roles in the database of ``admin_url``, connected
    as a role that may (a superuser). Returns what was done, one line each."""
    if make_url(admin_url).get_backend_name() != "postgresql":
        raise RolesError("database roles are PostgreSQL's: SQLite has no roles (protect the file instead)")
    if owner == service:
        raise RolesError("the owner and the service must be two roles")

    async def run() -> list[str]:
        engine = create_async_engine(admin_url)
        try:
            async with engine.begin() as conn:
                return await _apply(conn, owner, service, owner_password, service_password)
        finally:
            await engine.dispose()

    return asyncio.run(run())
