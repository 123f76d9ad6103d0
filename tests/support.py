"""Test helpers that speak the facility's language: users with roles, logging in, counting rows."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient

from fundapp.core import accounts
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import TokenCreate, UserCreate
from fundapp.core.security import PasswordHashing, Principal
from fundapp.demo import Timeline

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

    def legacy_dual_user(self) -> Actor:
        """A user holding both finance roles, as an account made before separation of duties could be: the
        services refuse to make one (409 ``separation-of-duties``), so it is written here by SQL, to show that
        maker-checker holds even for such an account."""
        officer = self.create_user(Role.FINANCE_OFFICER)
        self.add_role_by_sql(officer.id, Role.FINANCE_APPROVER)
        return Actor(officer.id, officer.username, (Role.FINANCE_OFFICER, Role.FINANCE_APPROVER), officer.token)

    def add_role_by_sql(self, user_id: int, role: Role) -> None:
        """A role written beside a user's others by SQL, past the services' separation of duties."""
        self.db.execute("INSERT INTO user_roles (user_id, role) VALUES (:u, :r)", u=user_id, r=role.value)

    def bound_user(self, *roles: Role) -> Actor:
        """A user of ``roles`` whose bindings name real records: a delegate's member (MEX, admitted here if
        it is not a member yet) and a grantee's organisation (created here): a binding must exist."""
        admin: Actor | None = None
        member_code = organisation_id = None
        if Role.MEMBER_DELEGATE in roles or Role.GRANTEE in roles:
            admin = self.create_user(Role.SECRETARIAT_ADMIN)
        if Role.MEMBER_DELEGATE in roles:
            member_code = "MEX"
            if self.db.scalar("SELECT count(*) FROM members WHERE code = 'MEX'") == 0:
                admit_member(self, admin, "MEX")  # type: ignore[arg-type]
        if Role.GRANTEE in roles:
            organisation_id = create_organisation(self, admin, f"Bound organisation {next(_names)}")  # type: ignore[arg-type]
        return self.create_user(*roles, member_code=member_code, organisation_id=organisation_id)

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


# Keys under which a record, a summary or a response carries money.
MONEY_KEYS = frozenset(
    {"amount", "applied", "unapplied", "fee", "released", "payable_reversed", "expenditure_total"}
    | {"paid", "outstanding"}
)
_MONEY_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def assert_money_one_shape(value: Any, where: str = "$") -> None:
    """Money anywhere in ``value`` (a response, a record, audit events whose summaries are JSON text) is
    ``{"amount": "300000.00", "currency": "USD"}``: a decimal string beside its currency, never a number or a
    bare string."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, list):
        for index, item in enumerate(value):
            assert_money_one_shape(item, f"{where}[{index}]")
    if not isinstance(value, dict):
        return
    if set(value) == {"amount", "currency"} and isinstance(value["amount"], str):
        assert _MONEY_TEXT.match(value["amount"]), f"{where}: {value}"
        assert isinstance(value["currency"], str) and re.fullmatch(r"[A-Z]{3}", value["currency"]), f"{where}: {value}"
        return
    for key, item in value.items():
        if key in MONEY_KEYS and item is not None:
            assert isinstance(item, dict) and set(item) == {"amount", "currency"}, (
                f"{where}.{key}: money as {item!r}, not in the one shape"
            )
        assert_money_one_shape(item, f"{where}.{key}")


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
    reason: str = "Test entry, documents on file",
    **extra: Any,
) -> httpx.Response:
    """POST /ledger/entries as ``actor`` (prepares the entry for approval); returns the raw response."""
    headers = dict(actor.headers)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    body = {"entry_date": entry_date, "description": description, "lines": list(lines), "reason": reason, **extra}
    return api.client.post(f"{LEDGER}/entries", json=body, headers=headers)


def approvers(api: Api) -> tuple[Actor, Actor]:
    """Two finance approvers, made once per test's Api (two approve above the charter's threshold)."""
    found: tuple[Actor, Actor] | None = getattr(api, "_approvers", None)
    if found is None:
        found = (api.create_user(Role.FINANCE_APPROVER), api.create_user(Role.FINANCE_APPROVER))
        api._approvers = found  # type: ignore[attr-defined]
    return found


def approved(api: Api, prepared: httpx.Response) -> dict[str, Any]:
    """Approve a request that ``prepared`` answered (202) by as many approvers as it needs; returns the entry."""
    assert prepared.status_code == 202, prepared.text
    request = prepared.json()
    response = None
    for approver in approvers(api)[: request["approvals_needed"]]:
        response = api.client.post(f"{LEDGER}/entry-requests/{request['id']}/approve", headers=approver.headers)
        assert response.status_code == 200, response.text
    assert response is not None
    entry: dict[str, Any] = response.json()["entry"]
    return entry


def posted(api: Api, actor: Actor, *lines: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Prepare an entry that must be accepted (202) and have it approved; returns the posted entry."""
    return approved(api, post_entry(api, actor, *lines, **kwargs))


def prepare_reversal(api: Api, actor: Actor, entry_id: int, **body: Any) -> httpx.Response:
    """POST /ledger/entries/{id}/reverse as ``actor`` (prepares the reversal); returns the raw response."""
    body.setdefault("reason", "Posted in error, see the bank statement")
    return api.client.post(f"{LEDGER}/entries/{entry_id}/reverse", json=body, headers=actor.headers)


def reversed_entry(api: Api, actor: Actor, entry_id: int, **body: Any) -> dict[str, Any]:
    """Prepare and approve the reversal of ``entry_id``; returns the reversing entry."""
    return approved(api, prepare_reversal(api, actor, entry_id, **body))


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


# ---------------------------------------------------------------- proposals: calls, organisations, drafts, workflow

PROPOSALS = f"{V1}/proposals"
# Every table a proposal write may touch; a refusal leaves all their row counts (and audit_events) as they were.
PROPOSAL_TABLES = (
    "proposals",
    "proposal_versions",
    "proposal_countries",
    "proposal_transitions",
    "endorsements",
    "attachments",
    "review_assignments",
    "reviews",
)
RUBRIC = [
    {"key": "relevance", "label": "Relevance to the window", "weight": 40},
    {"key": "feasibility", "label": "Feasibility and capacity", "weight": 35},
    {"key": "sustainability", "label": "Sustainability", "weight": 25},
]


def call_body(**changes: Any) -> dict[str, Any]:
    """A call of the SKL window open from 1 March to 30 June 2026 (the test clock starts on 16 March),
    funding 50,000.00 to 250,000.00, with two reviews required."""
    return {
        "window_code": "SKL",
        "title": "Skills partnerships 2026",
        "opens_at": "2026-03-01T00:00:00Z",
        "closes_at": "2026-06-30T00:00:00Z",
        "envelope": "1000000.00",
        "min_grant": "50000.00",
        "max_grant": "250000.00",
        "rubric": RUBRIC,
        "reviews_required": 2,
        **changes,
    }


def create_call(api: Api, admin: Actor, **changes: Any) -> dict[str, Any]:
    """POST /calls, which must be accepted."""
    response = api.client.post(f"{V1}/calls", json=call_body(**changes), headers=admin.headers)
    call: dict[str, Any] = accepted(response, 201)
    return call


def create_organisation(
    api: Api, admin: Actor, name: str, *, type: str = "ngo", country: str = "MEX", due_diligence: str = "cleared"
) -> int:
    """POST /organisations (and, unless it stays pending, its due-diligence outcome); returns its id."""
    body = {"name": name, "type": type, "country": country}
    organisation_id = int(accepted(api.client.post(f"{V1}/organisations", json=body, headers=admin.headers), 201)["id"])
    if due_diligence != "pending":
        set_due_diligence(api, admin, organisation_id, due_diligence)
    return organisation_id


def set_due_diligence(api: Api, admin: Actor, organisation_id: int, status: str) -> None:
    accepted(
        api.client.post(
            f"{V1}/organisations/{organisation_id}/due-diligence", json={"status": status}, headers=admin.headers
        )
    )


def proposal_content(**changes: Any) -> dict[str, Any]:
    """A complete proposal content that passes every submission rule of ``call_body()``: 107,000.00 requested
    for MEX (60%) and SEN (40%), direct costs 100,000.00 plus exactly 7% indirect support costs, two tranches."""
    return {
        "title": "Skills for returning migrants",
        "summary": "Vocational training and job placement for migrants returning to their communities.",
        "requested_amount": "107000.00",
        "duration_months": 24,
        "countries": [{"country": "MEX", "share": "60"}, {"country": "SEN", "share": "40"}],
        "budget": [
            {"category": "staff", "description": "Trainers", "amount": "60000.00"},
            {"category": "travel", "amount": "40000.00"},
            {"category": "indirect_support_costs", "amount": "7000.00"},
        ],
        "tranches": [
            {"planned_date": "2026-07-01", "amount": "64200.00", "condition": "none"},
            {"planned_date": "2027-01-15", "amount": "42800.00", "condition": "progress_report"},
        ],
        "results": [
            {
                "title": "Returning migrants find decent work",
                "indicators": [
                    {"name": "Returnees placed in jobs", "unit": "people", "baseline": "0", "target": "400"}
                ],
            }
        ],
        "gender_marker": 2,
        "gcm_objectives": [18, 21],
        "sdg_targets": ["8.8", "10.7.2"],
        "beneficiaries": [
            {"sex": "female", "age_group": "25-59", "count": 250},
            {"sex": "male", "age_group": "18-24", "count": 150},
        ],
        **changes,
    }


@dataclass
class ProposalWorld:
    """MEX and SEN admitted with a delegate each (and PHL, a member no proposal here concerns); an NGO of MEX
    with cleared due diligence and its grantee, a second organisation (SEN) with its own grantee; an open SKL
    call; TAG reviewers; an auditor."""

    admin: Actor
    call: dict[str, Any]
    organisation_id: int
    grantee: Actor
    other_organisation_id: int
    other_grantee: Actor
    delegates: dict[str, Actor]
    reviewers: list[Actor]
    auditor: Actor

    @property
    def call_id(self) -> int:
        return int(self.call["id"])


def proposal_world(api: Api, *, reviewers: int = 3, **call_changes: Any) -> ProposalWorld:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    for code in ("MEX", "SEN", "PHL"):
        admit_member(api, admin, code, "I" if code == "MEX" else "II")
    organisation_id = create_organisation(api, admin, "Fundación Puentes", country="MEX")
    other_organisation_id = create_organisation(api, admin, "Association Teranga", country="SEN")
    return ProposalWorld(
        admin=admin,
        call=create_call(api, admin, **call_changes),
        organisation_id=organisation_id,
        grantee=api.create_user(Role.GRANTEE, organisation_id=organisation_id),
        other_organisation_id=other_organisation_id,
        other_grantee=api.create_user(Role.GRANTEE, organisation_id=other_organisation_id),
        delegates={code: api.create_user(Role.MEMBER_DELEGATE, member_code=code) for code in ("MEX", "SEN", "PHL")},
        reviewers=[api.create_user(Role.TAG_REVIEWER) for _ in range(reviewers)],
        auditor=api.create_user(Role.AUDITOR),
    )


def create_proposal(api: Api, grantee: Actor, call_id: int, **content_changes: Any) -> dict[str, Any]:
    """POST /proposals as ``grantee``, which must be accepted; returns the draft."""
    body = {"call_id": call_id, "content": proposal_content(**content_changes)}
    proposal: dict[str, Any] = accepted(api.client.post(PROPOSALS, json=body, headers=grantee.headers), 201)
    return proposal


def endorse(
    api: Api, actor: Actor, proposal_id: int, country: str, decision: str = "endorsed", **extra: Any
) -> httpx.Response:
    body = {"country": country, "decision": decision, **extra}
    return api.client.post(f"{PROPOSALS}/{proposal_id}/endorsements", json=body, headers=actor.headers)


def endorse_by_delegates(api: Api, world: ProposalWorld, proposal_id: int, *countries: str) -> None:
    """Each member country's delegate endorses (must be accepted)."""
    for country in countries:
        accepted(endorse(api, world.delegates[country], proposal_id, country))


def act(api: Api, actor: Actor, proposal_id: int, action: str, reason: str | None = None) -> httpx.Response:
    """POST /proposals/{id}/{action}, with ``{"reason"}`` when given."""
    body = None if reason is None else {"reason": reason}
    return api.client.post(f"{PROPOSALS}/{proposal_id}/{action}", json=body, headers=actor.headers)


def acted(api: Api, actor: Actor, proposal_id: int, action: str, reason: str | None = None) -> dict[str, Any]:
    """A workflow step that must be accepted; returns the proposal as the actor then sees it."""
    proposal: dict[str, Any] = accepted(act(api, actor, proposal_id, action, reason))
    return proposal


def review_body(scores: dict[str, int], recommendation: str = "recommend", **extra: Any) -> dict[str, Any]:
    return {
        "scores": {key: {"score": score, "comment": f"{key}: {score}"} for key, score in scores.items()},
        "recommendation": recommendation,
        **extra,
    }


def assign(api: Api, admin: Actor, proposal_id: int, *reviewers: Actor) -> httpx.Response:
    body = {"reviewer_ids": [r.id for r in reviewers]}
    return api.client.post(f"{PROPOSALS}/{proposal_id}/assign", json=body, headers=admin.headers)


def declare(api: Api, reviewer: Actor, proposal_id: int, *, conflict: bool = False, reason: str = "") -> httpx.Response:
    body = {"has_conflict": conflict, "reason": reason}
    return api.client.post(f"{PROPOSALS}/{proposal_id}/conflicts", json=body, headers=reviewer.headers)


def submit_review(
    api: Api, reviewer: Actor, proposal_id: int, scores: dict[str, int], recommendation: str = "recommend"
) -> httpx.Response:
    return api.client.post(
        f"{PROPOSALS}/{proposal_id}/reviews", json=review_body(scores, recommendation), headers=reviewer.headers
    )


# Two reviews' scores: weighted 4.15 (= (5*40 + 4*35 + 3*25) / 100) and 3.25, consolidated "3.70".
REVIEW_SCORES = (
    {"relevance": 5, "feasibility": 4, "sustainability": 3},
    {"relevance": 3, "feasibility": 3, "sustainability": 4},
)


def advance(api: Api, world: ProposalWorld, proposal_id: int, target: str) -> None:
    """Drive a draft (content as ``proposal_content()``) along the main path until it is ``target``:
    submitted, screening, in_review, recommended, not_recommended or under_decision (with two reviews by the
    world's first two reviewers when it goes past in_review)."""
    path = ["submitted", "screening", "in_review", "reviewed", "recommended", "under_decision"]
    stop = "reviewed" if target == "not_recommended" else target
    endorse_by_delegates(api, world, proposal_id, "MEX", "SEN")
    acted(api, world.grantee if _owner_is(api, world, proposal_id) else world.other_grantee, proposal_id, "submit")
    for state in path[1 : path.index(stop) + 1]:
        if state == "screening":
            acted(api, world.admin, proposal_id, "screen")
        elif state == "in_review":
            acted(api, world.admin, proposal_id, "pass")
        elif state == "reviewed":
            accepted(assign(api, world.admin, proposal_id, *world.reviewers[:2]))
            for reviewer, scores in zip(world.reviewers[:2], REVIEW_SCORES, strict=True):
                accepted(declare(api, reviewer, proposal_id))
                accepted(submit_review(api, reviewer, proposal_id, scores), 201)
        elif state == "recommended":
            acted(api, world.admin, proposal_id, "recommend", "Strong, feasible proposal.")
        elif state == "under_decision":
            acted(api, world.admin, proposal_id, "refer")
    if target == "not_recommended":
        acted(api, world.admin, proposal_id, "not_recommend", "Weak sustainability.")


def _owner_is(api: Api, world: ProposalWorld, proposal_id: int) -> bool:
    owner = api.db.scalar("SELECT organisation_id FROM proposals WHERE id = :id", id=proposal_id)
    return int(owner) == world.organisation_id


def decide(api: Api, proposal_id: int, *, approved: bool, reason: str = "Decision of the member states") -> None:
    """The members' decision, through ``Proposals.decide`` in its own session and transaction."""
    from proposals.service import Proposals

    async def work(database: Database) -> None:
        async with database.session() as session:
            service = Proposals(session, settings=api.settings, user=None, now=api.clock.now())
            await service.decide(proposal_id, approved=approved, reason=reason)
            await session.commit()

    api.db.run(work)


def proposal_state(api: Api, proposal_id: int) -> tuple[str, int]:
    """(state, version) of a proposal, read from the database."""
    row = api.db.rows("SELECT state, version FROM proposals WHERE id = :id", id=proposal_id)[0]
    return str(row.state), int(row.version)


def upload(
    api: Api, actor: Actor, proposal_id: int, filename: str, data: bytes, content_type: str = "application/pdf"
) -> httpx.Response:
    """POST /proposals/{id}/attachments, the file as the multipart field ``data``."""
    return api.client.post(
        f"{PROPOSALS}/{proposal_id}/attachments",
        files={"data": (filename, data, content_type)},
        headers=actor.headers,
    )


# Small files of each accepted type, built from their real headers.
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


OFFICE_MAIN_TYPES = {
    "word/document.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "xl/workbook.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}


def content_types_xml(defaults: dict[str, str], overrides: dict[str, str]) -> str:
    """An OPC ``[Content_Types].xml``: Default per extension, Override per part name."""
    ns = "http://schemas.openxmlformats.org/package/2006/content-types"
    items = [f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in defaults.items()]
    items += [f'<Override PartName="/{p}" ContentType="{t}"/>' for p, t in overrides.items()]
    return f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}">{"".join(items)}</Types>'


def office_bytes(*parts: str) -> bytes:
    """A ZIP package with the given parts (``word/document.xml`` makes a DOCX, ``xl/workbook.xml`` an XLSX;
    neither makes a plain ZIP). ``[Content_Types].xml``, when named, declares every part as a real package
    does (the main part by its Override, the others by extension)."""
    import io
    import zipfile

    overrides = {p: OFFICE_MAIN_TYPES[p] for p in parts if p in OFFICE_MAIN_TYPES}
    defaults = {"xml": "application/xml", "rels": "application/vnd.openxmlformats-package.relationships+xml"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for part in parts:
            if part == "[Content_Types].xml":
                package.writestr(part, content_types_xml(defaults, overrides))
            else:
                package.writestr(part, '<?xml version="1.0" encoding="UTF-8"?><root/>')
    return buffer.getvalue()


DOCX_BYTES = office_bytes("[Content_Types].xml", "word/document.xml")
XLSX_BYTES = office_bytes("[Content_Types].xml", "xl/workbook.xml")


# ---------------------------------------------------------------- races on PostgreSQL


class LiveServer:
    """An app under uvicorn in a daemon thread, on a free port of 127.0.0.1, so that requests from several
    clients really run at the same time (Litestar's TestClient handles one request at a time). Give it its
    own app instance when the ``api`` fixture's TestClient already runs the fixture app's lifespan."""

    def __init__(self, app: Litestar) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


class LockWatcher:
    """Polls pg_locks while a race runs: the most lock requests of this database seen waiting at once (only
    advisory ones, the journal's writer lock, with ``advisory_only``), which shows the requests overlapped."""

    def __init__(self, db: DatabaseProbe, *, advisory_only: bool = False) -> None:
        self.db = db
        self.sql = (
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            + ("AND locktype = 'advisory' " if advisory_only else "")
            + "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        self.most_waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with self.db.engine.connect() as conn:
            while not self._stop.is_set():
                waiting = int(conn.execute(sa.text(self.sql)).scalar_one())
                conn.rollback()
                self.most_waiting = max(self.most_waiting, waiting)
                time.sleep(0.002)

    def __enter__(self) -> LockWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# ---------------------------------------------------------------- the demo facility


def demo_day() -> datetime:
    """The day the demo tests load the demo on: ``FUNDAPP_TEST_DEMO_DAY`` (ISO date, to run them on any
    chosen day), or today. The demo's story is anchored to it, so the tests hold on any day."""
    import os

    chosen = os.environ.get("FUNDAPP_TEST_DEMO_DAY")
    if chosen:
        return datetime.combine(date.fromisoformat(chosen), time_of_day(9), tzinfo=UTC)
    return datetime.now(UTC).replace(microsecond=0)


def load_demo(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Timeline:
    """``fundapp demo`` through the command line against the test database, on the test's clock moved to
    :func:`demo_day`; returns where the demo's story fell."""
    from fundapp import cli

    for name, value in (
        ("FUNDAPP_DATABASE_URL", api.settings.database_url),
        ("FUNDAPP_SECRET_KEY", api.settings.secret_key),
        ("FUNDAPP_VAR_DIR", str(api.settings.var_dir)),
        ("FUNDAPP_ARGON2_MEMORY_KIB", "1024"),
        ("FUNDAPP_ARGON2_TIME_COST", "1"),
        ("FUNDAPP_ARGON2_PARALLELISM", "1"),
    ):
        monkeypatch.setenv(name, value)
    api.clock.current = demo_day()
    code = cli.main(["demo"], clock=api.clock)
    out = capsys.readouterr().out
    assert code == 0, out
    return Timeline.loaded_on(api.clock.now().date())
