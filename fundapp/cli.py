"""The ``fundapp`` command: serve, migrate, load the demo, manage users, verify the audit chain, write reports."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import configure_mappers

from fundapp.core import accounts, audit
from fundapp.core.clock import Clock
from fundapp.core.config import Settings, SettingsError, load_settings
from fundapp.core.db import Database, read_snapshot
from fundapp.core.errors import DomainError
from fundapp.core.models import Role
from fundapp.core.schemas import UserCreate
from fundapp.core.security import PasswordHashing
from fundapp.models import import_all_models
from fundapp.wiring import register_hooks
from reports.rules import REPORT_NAMES

T = TypeVar("T")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(settings.database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def worker_count(text: str) -> int:
    """``--workers``: a whole number from 1 to 64."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} is outside 1..64")
    return value


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from fundapp.server import ServeOptions, serve

    base = f"http://{args.host}:{args.port}"
    print(f"fundapp serving on {base}\n  sign in: {base}/login\n  API description: {base}/schema", flush=True)
    if args.workers > 1 and settings.database_url.startswith("sqlite"):
        print(
            "note: on SQLite one worker is better: its writers queue in the process; writers of several "
            "processes wait on SQLite's lock by sleeping and retrying",
            file=sys.stderr,
        )
    options = ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        log_format=args.log_format,
    )
    return serve(options)


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    # As the tables' owner (FUNDAPP_MIGRATION_DATABASE_URL), not as the service's role.
    upgrade_database(settings.migration_url, args.revision)
    print(f"database at {args.revision}: {_safe_url(settings.migration_url)}")
    return 0


def cmd_db_roles(settings: Settings, args: argparse.Namespace) -> int:
    from fundapp.roles import RolesError, set_up_roles

    admin_url = args.admin_url or os.environ.get("FUNDAPP_ADMIN_DATABASE_URL") or settings.migration_url
    try:
        lines = set_up_roles(
            admin_url,
            owner=args.owner,
            service=args.service,
            owner_password=os.environ.get("FUNDAPP_OWNER_PASSWORD") or None,
            service_password=os.environ.get("FUNDAPP_SERVICE_PASSWORD") or None,
        )
    except RolesError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from fundapp.backup import BackupError, backup

    try:
        print(backup(settings.migration_url, Path(args.path)))
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from fundapp.backup import BackupError, restore

    try:
        print(restore(settings.migration_url, Path(args.path)))
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from fundapp import demo

    if settings.is_production:
        print("refusing to load demo data into a production database", file=sys.stderr)
        return 2
    report = _with_database(settings, lambda db: demo.load(db, settings, args.clock))
    print(report.describe())
    return 0


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("FUNDAPP_NEW_PASSWORD") or getpass.getpass("password: ")
    data = UserCreate(
        username=args.username,
        full_name=args.full_name or args.username,
        email=args.email,
        password=password,
        roles=[Role(r) for r in args.role],
        member_code=args.member,
        organisation_id=args.organisation,
    )

    async def work(database: Database) -> str:
        async with database.session() as session:
            user = await accounts.create_user(
                session, data, hashing=PasswordHashing(settings), actor=None, now=args.clock.now()
            )
            await session.commit()
            return f"created user {user.id} {user.username} ({', '.join(user.roles)})"

    print(_with_database(settings, work))
    return 0


def cmd_users_disable(settings: Settings, args: argparse.Namespace) -> int:
    async def work(database: Database) -> str:
        async with database.session() as session:
            user = await accounts.find_user(session, args.username)
            if user is None or user.id is None:
                raise DomainError(f"no user named {args.username!r}")
            await accounts.disable_user(session, user.id, actor=None, now=args.clock.now())
            await session.commit()
            return f"disabled {args.username}: its sessions and tokens are ended"

    print(_with_database(settings, work))
    return 0


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(database: Database) -> list[Any]:
        async with database.session(write=False) as session:
            users, _ = await accounts.list_users(session, limit=10_000, offset=0)
            return users

    for user in _with_database(settings, work):
        binding = user.member_code or (f"org {user.organisation_id}" if user.organisation_id else "")
        state = "active" if user.is_active else "disabled"
        print(f"{user.id:>4}  {user.username:<20} {state:<9} {','.join(user.roles):<40} {binding}")
    return 0


def cmd_verify_audit(settings: Settings, args: argparse.Namespace) -> int:
    async def work(database: Database) -> audit.ChainReport:
        async with database.session(write=False) as session:
            return await audit.verify(session)

    report = _with_database(settings, work)
    print(report.describe())
    return 0 if report.ok else 1


def cmd_ledger_verify(settings: Settings, args: argparse.Namespace) -> int:
    from ledger.queries import ChainReport, verify_chain

    async def work(database: Database) -> ChainReport:
        async with database.session(write=False) as session:
            return await verify_chain(session)

    report = _with_database(settings, work)
    print(report.describe())
    return 0 if report.ok else 1


def cmd_ledger_export(settings: Settings, args: argparse.Namespace) -> int:
    from ledger.export import hledger_journal

    def write_to(out: TextIO) -> None:
        async def work(database: Database) -> None:
            async with database.session(write=False) as session:
                async for chunk in hledger_journal(session, reporting_currency=settings.reporting_currency):
                    out.write(chunk)

        _with_database(settings, work)

    if args.output == "-":
        write_to(sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            write_to(out)
    return 0


def cmd_assess(settings: Settings, args: argparse.Namespace) -> int:
    from governance.service import Governance
    from ledger import Money

    async def work(database: Database) -> str:
        async with database.session() as session:
            governance = Governance(session, settings=settings, actor=audit.SYSTEM, now=args.clock.now())
            created, already, not_due = await governance.assess(args.year)
            await session.commit()
        lines = [f"{args.year}: assessed {len(created)} members"]
        lines += [f"  {a.member_code}  {a.months:>2} months  {Money.from_minor(a.amount, a.currency)}" for a in created]
        if already:
            lines.append(f"  already assessed: {', '.join(already)}")
        if not_due:
            lines.append(f"  not members in {args.year}: {', '.join(not_due)}")
        if created and created[0].entry_id is None:
            lines.append(f"  fee notices: posted on 1 January {args.year}, when the fee year opens")
        return "\n".join(lines)

    print(_with_database(settings, work))
    return 0


def cmd_verify_record(_settings: Settings | None, args: argparse.Namespace) -> int:
    """Re-verify a downloaded decision record offline: no database, no settings, just the file."""
    import json

    from governance.rules import verify_record

    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        record = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"cannot read the record: {exc}", file=sys.stderr)
        return 2
    if not isinstance(record, dict):
        print("FAILED: the file is not a decision record (a JSON object)")
        return 1
    problems = verify_record(record)
    decision = record.get("decision") if isinstance(record.get("decision"), dict) else {}
    label = f"decision {decision.get('id')}" if decision else "record"
    if problems:
        print(f"FAILED: {label}")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    events = record.get("events") or []
    roll = record.get("roll")
    on_roll = (
        f"roll of {len(roll)} members taken at the {record.get('roll_at')} and electorate checked; "
        if isinstance(roll, list)
        else ""
    )
    print(
        f"OK: {label}: {len(events)} events verified, chain head {record.get('chain_head')}; "
        f"{on_roll}tally recounted; result {record.get('result') or 'pending'}"
    )
    return 0


def cmd_close_due(settings: Settings, args: argparse.Namespace) -> int:
    """Close every open decision whose deadline has passed (run it from a scheduler)."""
    from governance.decisions import close_due_decisions

    async def work(database: Database) -> list[str]:
        closed = await close_due_decisions(database, settings, args.clock.now())
        return [f"decision {d.id} ({d.kind}): {d.result}: {d.result_reason}" for d in closed]

    lines = _with_database(settings, work)
    print("\n".join(lines) if lines else "no decision is due")
    return 0


def cmd_open_fee_years(settings: Settings, args: argparse.Namespace) -> int:
    from governance.service import open_due_fee_years

    async def work(database: Database) -> list[int]:
        return await open_due_fee_years(database, settings, args.clock.now())

    years = _with_database(settings, work)
    print(f"opened fee years: {', '.join(map(str, years))}" if years else "no fee notice is due")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the time-driven work and send the notifications (docs/operations.md): once, or until stopped."""
    import signal

    from fundapp.jobs import describe_settings, jobs_for, run_scheduler

    async def work(database: Database) -> int:
        jobs = jobs_for(database, settings, args.clock)
        if args.once:
            print((await jobs.tick()).describe())
            return 0
        print("fundapp worker: " + ", ".join(f"{k} {v}" for k, v in describe_settings(settings).items()), flush=True)
        task = asyncio.ensure_future(run_scheduler(jobs, name=args.name))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            print("fundapp worker: stopped", flush=True)
        return 0

    return _with_database(settings, work)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Build one report at the current ledger state and write it in the asked format and locale."""
    from reports import api as reports_api
    from reports import render, rules
    from reports.service import report_context

    iati = args.name.startswith("iati-")
    if iati and args.format not in (None, "xml"):
        print("IATI files are XML only: leave out --format or give --format xml", file=sys.stderr)
        return 2
    if not iati and args.format == "xml":
        print("xml is the IATI files' format; reports are json, csv, html or pdf", file=sys.stderr)
        return 2
    fmt = rules.choose_format(None if iati else args.format or "json", None)
    locale = rules.choose_locale(args.locale, None)
    if args.period is not None:
        if any(v is not None for v in (args.date_from, args.date_to, args.year, args.as_of)):
            print("--period stands for --from/--to/--year/--as-of: give one or the other", file=sys.stderr)
            return 2
        period = rules.parse_period(args.period)
        if args.name == "financial-statements":
            args.year = rules.year_of(period)
        elif args.name == "sources-and-uses":
            args.date_from, args.date_to = period.date_from, period.date_to
        else:
            args.as_of = period.date_to  # a position report shows the period's last day

    async def work(database: Database) -> bytes:
        async with database.session(write=False) as session:
            await read_snapshot(session)
            ctx = await report_context(session, settings, args.clock.now())
            built = await reports_api.build_named(
                ctx,
                args.name,
                date_from=args.date_from,
                date_to=args.date_to,
                year=args.year,
                as_of=args.as_of,
                contributor_id=args.contributor,
                window_code=args.window,
                unit=args.unit,
            )
        if isinstance(built, bytes):
            return built
        # PDF rendering is CPU work: off the event loop, as in the API.
        return await asyncio.to_thread(render.encode, built, fmt, locale, facility_name=settings.facility_name)

    body = _with_database(settings, work)
    if args.output == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        Path(args.output).write_bytes(body)
        print(f"{args.name}: {len(body)} bytes written to {args.output}", file=sys.stderr)
    return 0


def _serve_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of the service: `serve`."""
    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default=os.environ.get("FUNDAPP_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("FUNDAPP_PORT", "8000")))
    serve.add_argument(
        "--workers", type=worker_count, default=1, help="worker processes (several: one listening socket each, Linux)"
    )
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--no-access-log", dest="access_log", action="store_false", help="do not log each request")
    serve.add_argument(
        "--log-format",
        choices=["json", "text"],
        default=os.environ.get("FUNDAPP_LOG_FORMAT", "json"),
        help="json: one JSON object per line with the request's id (default); text: for reading at a terminal",
    )
    serve.set_defaults(func=cmd_serve)


def _database_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of the database: its schema and roles, the demo, backups."""
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    roles = db.add_parser(
        "roles",
        help="PostgreSQL: create and grant the owner (migrations) and service roles (idempotent)",
        description="Run as a superuser, before the first upgrade and after each. Passwords, if any, from "
        "FUNDAPP_OWNER_PASSWORD and FUNDAPP_SERVICE_PASSWORD. Connects with --admin-url, else "
        "FUNDAPP_ADMIN_DATABASE_URL, else the migration URL.",
    )
    roles.add_argument("--owner", default="fundapp_owner", help="the role that owns the tables and migrates them")
    roles.add_argument("--service", default="fundapp_service", help="the role the service connects as")
    roles.add_argument("--admin-url", help="a superuser's URL of the facility's database")
    roles.set_defaults(func=cmd_db_roles)

    sub.add_parser("demo", help="load the demo facility (idempotent)").set_defaults(func=cmd_demo)

    backup = sub.add_parser("backup", help="back the database up to a file while the service runs")
    backup.add_argument("path", help="the file to write (PostgreSQL: pg_dump's custom format; SQLite: a database)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore a backup into a new, empty database")
    restore.add_argument("path", help="a file written by fundapp backup")
    restore.set_defaults(func=cmd_restore)


def _user_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of user accounts."""
    users = sub.add_parser("users", help="user accounts").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", help="create a user (password from FUNDAPP_NEW_PASSWORD or a prompt)")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--full-name")
    create.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    create.add_argument("--member", help="ISO alpha-3 code of the member a delegate acts for")
    create.add_argument("--organisation", type=int, help="organisation id a grantee acts for")
    create.set_defaults(func=cmd_users_create)
    disable = users.add_parser("disable", help="disable a user and end its sessions and tokens")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_users_disable)
    users.add_parser("list", help="list users").set_defaults(func=cmd_users_list)


def _record_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of the records: the audit chain, assessments, the ledger, the decisions."""
    sub.add_parser("verify-audit", help="recompute the audit hash chain").set_defaults(func=cmd_verify_audit)

    assess = sub.add_parser("assess", help="assess every active member's fee for a year (idempotent)")
    assess.add_argument("year", type=int)
    assess.set_defaults(func=cmd_assess)

    ledger = sub.add_parser("ledger", help="the double-entry ledger").add_subparsers(
        dest="ledger_command", required=True
    )
    ledger.add_parser("verify", help="recompute the journal's hash chain").set_defaults(func=cmd_ledger_verify)
    export = ledger.add_parser("export", help="write the journal for an independent tool")
    export.add_argument("--format", choices=["hledger"], default="hledger")
    export.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_ledger_export)

    governance = sub.add_parser("governance", help="decisions of the member states").add_subparsers(
        dest="governance_command", required=True
    )
    verify_record = governance.add_parser("verify-record", help="re-verify a downloaded decision record offline")
    verify_record.add_argument("file", help="the record's JSON file (GET /api/v1/decisions/{id}/record), or -")
    verify_record.set_defaults(func=cmd_verify_record, needs_settings=False)
    governance.add_parser(
        "open-fee-years", help="post the fee notices of every year that has begun (run daily, e.g. from cron)"
    ).set_defaults(func=cmd_open_fee_years)
    governance.add_parser("close-due", help="close every decision whose deadline has passed").set_defaults(
        func=cmd_close_due
    )


def _worker_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of the time-driven work."""
    worker = sub.add_parser(
        "worker",
        help="run the time-driven work and send the e-mail notifications (also inside `fundapp serve`)",
        description="Close the decisions whose deadline passed, open the fee years that began, mark what is "
        "overdue and send the notifications, every FUNDAPP_SCHEDULER_INTERVAL_SECONDS: on PostgreSQL as a "
        "worker of the job queue (procrastinate; run as many as you like), on SQLite in this process.",
    )
    worker.add_argument("--once", action="store_true", help="run everything that is due once, and exit")
    worker.add_argument("--name", default="fundapp", help="the worker's name in the job queue's records")
    worker.set_defaults(func=cmd_worker)


def _report_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of the reports."""
    report = sub.add_parser(
        "report",
        help="write a report (json, csv, html or pdf in en, es or fr) or an IATI file",
        description="Build a report from the ledger and the domain records as they are now. Periods and dates "
        "are checked as the API checks them (not after today; --from not after --to).",
    )
    report.add_argument("name", choices=REPORT_NAMES)
    report.add_argument(
        "--from", dest="date_from", type=_iso_date, help="sources-and-uses: first day (default inception)"
    )
    report.add_argument("--to", dest="date_to", type=_iso_date, help="sources-and-uses: last day (default today)")
    report.add_argument("--year", type=int, help="financial-statements: the financial year")
    report.add_argument(
        "--period",
        help="instead of --from/--to/--year/--as-of: 2025, 2025-Q2, 2025-03, 2025-01-01..2025-06-30 or "
        "..2025-06-30 (sources-and-uses: that period; financial-statements: that year; the others: as of its "
        "last day)",
    )
    report.add_argument("--as-of", dest="as_of", type=_iso_date, help="positions as of this day (default today)")
    report.add_argument("--contributor", type=int, help="contributor: the contributor's id")
    report.add_argument("--window", help="window-portfolio: the window's code")
    report.add_argument(
        "--unit", choices=["units", "millions"], help="funds-available-gcff: whole units (default) or millions"
    )
    report.add_argument("--format", choices=["json", "csv", "html", "pdf", "xml"], help="default json (IATI: xml)")
    report.add_argument("--locale", choices=["en", "es", "fr"], default="en")
    report.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    report.set_defaults(func=cmd_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fundapp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_commands(sub)
    _database_commands(sub)
    _user_commands(sub)
    _record_commands(sub)
    _worker_command(sub)
    _report_command(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run one command. ``clock`` is the facility's clock (the wall clock unless a test moves it)."""
    args = build_parser().parse_args(argv)
    args.clock = clock or Clock()
    register_hooks()
    import_all_models()  # every table, so the mappers configure completely
    configure_mappers()
    try:
        settings = load_settings() if getattr(args, "needs_settings", True) else None
        if settings is not None:
            audit.use_chain_key(settings.chain_key_bytes)
        code: int = args.func(settings, args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"refused: {exc.detail}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.field or '(request)'}: {error.rule}: {error.message}", file=sys.stderr)
        return 1
    except ValueError as exc:  # pydantic validation of CLI input
        print(f"invalid input: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
