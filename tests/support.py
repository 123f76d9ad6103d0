"""Test helpers that speak the facility's language: users with roles, logging in, counting rows."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import TestClient

from fundapp.core import accounts
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import TokenCreate, UserCreate
from fundapp.core.security import PasswordHashing, Principal

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


def sync_url(database_url: str) -> str:
    return database_url.replace("sqlite+aiosqlite://", "sqlite://").replace(
        "postgresql+asyncpg://", "postgresql+psycopg://"
    )


class DatabaseProbe:
    """Direct, synchronous access to the test database, to check what the API did (or did not) change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = sa.create_engine(sync_url(settings.database_url))
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params)

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    def snapshot(self, *tables: str) -> dict[str, int]:
        """Row counts of the given tables (audit_events always included)."""
        return {t: self.count(t) for t in {"audit_events", *tables}}

    def run(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run an async service call against the test database, outside the app's event loop."""

        async def runner() -> T:
            database = Database(self.settings.database_url)
            try:
                return await work(database)
            finally:
                await database.dispose()

        return asyncio.run(runner())


@dataclass
class Actor:
    """A test user: its id, username and the headers that authenticate it (bearer token)."""

    id: int
    username: str
    roles: tuple[Role, ...]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """The HTTP client plus ways to make users and log in as them."""

    def __init__(self, client: TestClient[Litestar], db: DatabaseProbe, settings: Settings, clock: FrozenClock):
        self.client = client
        self.db = db
        self.settings = settings
        self.clock = clock
        self.hashing = PasswordHashing(settings)

    def create_user(
        self,
        *roles: Role,
        username: str | None = None,
        member_code: str | None = None,
        organisation_id: int | None = None,
        password: str = PASSWORD,
    ) -> Actor:
        name = username or f"{roles[0].value.replace('_', '-')}-{next(_names)}"
        if Role.MEMBER_DELEGATE in roles and member_code is None:
            member_code = "MEX"
        if Role.GRANTEE in roles and organisation_id is None:
            organisation_id = 1
        data = UserCreate(
            username=name,
            full_name=name.title(),
            email=f"{name}@example.org",
            password=password,
            roles=list(roles),
            member_code=member_code,
            organisation_id=organisation_id,
        )

        async def work(database: Database) -> Actor:
            async with database.session() as session:
                user = await accounts.create_user(session, data, hashing=self.hashing, actor=None, now=self.clock.now())
                principal = Principal(id=user.id, username=user.username, roles=frozenset(roles))
                token = await accounts.create_token(
                    session, TokenCreate(name="tests"), user=principal, settings=self.settings, now=self.clock.now()
                )
                await session.commit()
                return Actor(user.id, user.username, tuple(roles), token.token)

        return self.db.run(work)

    def login(self, username: str, password: str = PASSWORD) -> str:
        """Log in through the API (cookie kept by the client); returns the CSRF token."""
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["csrf_token"])

    def logout_cookie(self) -> None:
        self.client.cookies.clear()


# ---------------------------------------------------------------- problem details, session cookies, the audit log

PROBLEM_JSON = "application/problem+json"
# The service's own source tree: no response may show a path inside it (or any Python file).
_SOURCE_ROOT = str(Path(accounts.__file__).resolve().parents[2])
_INTERNALS = re.compile(r"Traceback|File \"|\.py\b|site-packages|" + re.escape(_SOURCE_ROOT))


def assert_no_internals(response: httpx.Response) -> None:
    """A response never shows a stack trace or a file path of the server."""
    found = _INTERNALS.search(response.text)
    assert found is None, f"the response leaks {found.group(0)!r}: {response.text[:500]}"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem (``application/problem+json``) with this status; returns its body."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type == PROBLEM_JSON, f"expected {PROBLEM_JSON}, got {media_type!r}"
    body: dict[str, Any] = response.json()
    assert body.get("status") == status, body
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert_no_internals(response)
    return body


def broken_rules(body: dict[str, Any]) -> set[tuple[str, str]]:
    """The ``(field, rule)`` pairs a 4xx problem names in ``errors[]``."""
    return {(error["field"], error["rule"]) for error in body.get("errors", [])}


def session_cookie(api: Api) -> str:
    """The session cookie the client holds after ``api.login``."""
    value = api.client.cookies.get(api.settings.session_cookie_name)
    assert value, "the client holds no session cookie"
    return str(value)


def cookie_headers(api: Api, cookie: str, *, csrf: str | None = None) -> dict[str, str]:
    """Headers that present exactly this session cookie (and, when given, a CSRF token)."""
    headers = {"Cookie": f"{api.settings.session_cookie_name}={cookie}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


def audit_events(api: Api, reader: Actor, **filters: str | int) -> list[dict[str, Any]]:
    """The audit log as ``reader`` (an auditor or admin) sees it through the API, newest first."""
    response = api.client.get("/api/v1/audit", params={"limit": 500, **filters}, headers=reader.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# ---------------------------------------------------------------- the ledger

LEDGER = "/api/v1/ledger"
# Every table a ledger write may touch; a refusal leaves all their row counts (and audit_events) as they were.
LEDGER_TABLES = ("journal_entries", "postings", "ledger_periods", "ledger_fx_rates", "ledger_accounts")
PROBLEM_TYPE = "urn:fundapp:problem:"


def line(account: str, amount: str, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    """One line of an entry for POST /ledger/entries (signed amount: debit positive)."""
    return {"account": account, "amount": amount, "currency": currency, **extra}


def post_entry(
    api: Api,
    actor: Actor,
    *lines: dict[str, Any],
    entry_date: str = "2026-03-10",
    description: str = "Manual entry",
    idempotency_key: str | None = None,
    **extra: Any,
) -> httpx.Response:
    """POST /ledger/entries as ``actor``; returns the raw response."""
    headers = dict(actor.headers)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    body = {"entry_date": entry_date, "description": description, "lines": list(lines), **extra}
    return api.client.post(f"{LEDGER}/entries", json=body, headers=headers)


def posted(api: Api, actor: Actor, *lines: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Post an entry that must be accepted (201); returns the entry."""
    response = post_entry(api, actor, *lines, **kwargs)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


def add_fx_rate(api: Api, actor: Actor, currency: str, rate_date: str, rate: str) -> dict[str, Any]:
    """Record a rate (units of the reporting currency per unit of ``currency``) that must be accepted."""
    response = api.client.post(
        f"{LEDGER}/fx-rates", json={"currency": currency, "rate_date": rate_date, "rate": rate}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    rate_out: dict[str, Any] = response.json()
    return rate_out


def assert_refused(
    response: httpx.Response, status: int, slug: str, *, field: str | None = None, rule: str | None = None
) -> dict[str, Any]:
    """A problem+json refusal of this status and type; with ``rule``, its errors[] name ``(field, rule)``."""
    body = assert_problem(response, status)
    assert body["type"] == PROBLEM_TYPE + slug, body
    if rule is not None:
        assert (field, rule) in broken_rules(body), body
    return body


def ledger_state(api: Api) -> dict[str, Any]:
    """Row counts of the ledger's tables and audit_events, the open/closed state of accounts and periods,
    and the journal's chain head: what a refusal must leave exactly as it was."""
    return {
        "counts": api.db.snapshot(*LEDGER_TABLES),
        "accounts": api.db.rows("SELECT code, is_open FROM ledger_accounts ORDER BY code"),
        "periods": api.db.rows("SELECT id, status FROM ledger_periods ORDER BY id"),
        "head": api.db.scalar("SELECT max(id) FROM journal_entries"),
    }


def run_fundapp(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``fundapp ARGS...`` against the test database; returns (exit code, stdout, stderr)."""
    from fundapp import cli

    monkeypatch.setenv("FUNDAPP_DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("FUNDAPP_SECRET_KEY", api.settings.secret_key)
    monkeypatch.setenv("FUNDAPP_VAR_DIR", str(api.settings.var_dir))
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- governance: members, fees, pledges, contributions

V1 = "/api/v1"
# Every table a governance write may touch; a refusal leaves all their row counts (and audit_events) as they were.
GOVERNANCE_TABLES = (
    "members",
    "member_changes",
    "windows",
    "tier_fees",
    "contributors",
    "assessments",
    "pledges",
    "pledge_instalments",
    "contributions",
    "journal_entries",
    "postings",
)


def accepted(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have this status."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:800]}"
    return response.json()


def set_fee(api: Api, admin: Actor, year: int, tier: str, amount: str, currency: str = "USD") -> dict[str, Any]:
    """POST /tiers, which must be accepted."""
    body = {"year": year, "tier": tier, "amount": amount, "currency": currency}
    fee: dict[str, Any] = accepted(api.client.post(f"{V1}/tiers", json=body, headers=admin.headers))
    return fee


def admit_member(api: Api, admin: Actor, code: str, tier: str = "I", joined_on: str = "2024-01-01") -> dict[str, Any]:
    """POST /members, which must be accepted; returns the member (with its contributor_id)."""
    body = {"code": code, "tier": tier, "joined_on": joined_on}
    member: dict[str, Any] = accepted(api.client.post(f"{V1}/members", json=body, headers=admin.headers), 201)
    return member


def add_contributor(api: Api, actor: Actor, name: str, kind: str = "government", country: str | None = None) -> int:
    """POST /contributors (a non-member donor), which must be accepted; returns its id."""
    body: dict[str, Any] = {"kind": kind, "name": name, **({"country": country} if country else {})}
    return int(accepted(api.client.post(f"{V1}/contributors", json=body, headers=actor.headers), 201)["id"])


def assert_books_balanced(api: Api, reader: Actor) -> None:
    """Both books' trial balances are zero: per currency and in the reporting currency."""
    from decimal import Decimal

    for book in ("financial", "budgetary"):
        trial = accepted(api.client.get(f"{LEDGER}/trial-balance", params={"book": book}, headers=reader.headers))
        assert trial["balanced"] is True, trial
        assert Decimal(trial["total_reporting"]) == 0, trial
        assert all(Decimal(v) == 0 for v in trial["totals_by_currency"].values()), trial
