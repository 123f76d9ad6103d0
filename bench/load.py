"""Mixed-load benchmark: open-loop traffic at fixed arrival rates against the real service (issue 19,
acceptance 2).

    .venv/bin/python bench/load.py --backend postgresql --rate 50 --rate 100 --duration 60
    .venv/bin/python bench/load.py --backend sqlite --rate 50
    # the 1M-posting facility that bench/reports.py --keep kept (its accounts: admin, officer):
    .venv/bin/python bench/load.py --rate 50 --finance officer --password bench-password-2026 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/fundapp_bench_reports_123

**The database.** Without ``--database-url``: a fresh one (SQLite: a temporary file; PostgreSQL:
``fundapp_bench_load_<pid>`` on the server of ``--admin-url``, dropped at the end unless ``--keep``), made
with the real commands, ``fundapp db upgrade`` and ``fundapp demo`` (the demo facility, its accounts and
password). With ``--database-url``: that database as it is (e.g. the ~1M-posting facility that
``bench/reports.py --backend postgresql --keep`` keeps); the run adds its own decisions, delegates' accounts,
ballots and deposits to it.

**The service.** ``fundapp serve`` in a subprocess on a free local port with ``FUNDAPP_SCHEDULER=off``: two
workers on PostgreSQL (``--workers``), one on SQLite (its writers then queue in one process instead of
sleeping on SQLite's lock; README, "PostgreSQL"), and the output says which.

**Set-up, through the API.** The administrator (``--admin``) and the finance officer (``--finance``) sign in
(``POST /api/v1/auth/login``) and create API tokens (``POST /api/v1/auth/tokens``). The administrator
creates ``--delegates-per-member`` delegate accounts for every member state (``POST /api/v1/users``), each
of which signs in (its session cookie serves the pages) and creates a token, and ``--decisions`` policy
decisions opened for a vote with a deadline a week away (``POST /api/v1/decisions``, ``open: true``). One
ballot per delegate on the first decision checks that its member is on the roll (a member left off the roll,
e.g. not active when the decision opened, would be refused: its delegates are left out of the mix). One
deposit per contributor (at most 20) checks which contributors take a USD deposit.

**The traffic.** Requests arrive on a seeded Poisson schedule at ``--rate`` a second for ``--duration``
seconds, each sent at its time whether or not earlier ones have answered (open loop), so a slow service
makes requests pile up instead of slowing the client down; a request's latency runs from its scheduled
time to the end of its response, so queueing on either side is counted (no coordinated omission). At most
``--connections`` requests are in flight (64); the others wait in the client, and one that waited longer
than ``--timeout`` (30 s) is not sent and counts as an error ("expired unsent": the backlog of an
overloaded service). The client's own lag (scheduled time to the moment its event loop started the
request) is reported: if it is large, the client, not the service, fell behind.

The mix (weights in ``MIX``): 56% API reads (funds available, the trial balance, the decision register and a
decision, contributions and a contribution, grants and a grant), 4% pages (a delegate's dashboard ``/app`` and
a decision's page, with its session cookie), 20% ballots (a random delegate votes yes / no / abstain on a
random open decision: a member changing its ballot before the close is allowed) and 20% deposits (``POST
/api/v1/contributions``, USD, dated today, a unique ``Idempotency-Key`` each, by the finance officer).
``--warmup`` seconds at the first rate come first, untimed.

**Reported** per rate and per route: count, p50, p99 and max of the latency, p50 and p99 of the server's own
time (``Server-Timing: app;dur=``), errors (5xx, time-outs and connection errors) and refusals (4xx) by
status; overall: scheduled and achieved rate (responses per second of the run), p50/p99, the client's lag,
and the load average before and after (the machine may be shared). The header names the backend, the
workers, and the postings in the ledger. Targets (2-core machine, PostgreSQL): 100 requests/s with p99 under
250 ms and no error at demo size; 50 requests/s with p99 under 500 ms at ~1M postings. Progress to stderr,
the table (or ``--json``) to stdout; nothing is asserted. Also reported: the CPU seconds of the service's
processes and of the database's server processes (local PostgreSQL, from /proc) over each run, per request,
and the rate that CPU would allow on the machine's cores with nothing else running (the machine is often
shared, and a saturated run says more about the other work on it than about the service).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import uvloop  # noqa: E402

from bench.common import PG_DEFAULT_ADMIN_URL, bench_database, free_port, percentile, pg_admin  # noqa: E402
from bench.voting import cpu_of, process_tree  # noqa: E402
from fundapp.demo import DEMO_PASSWORD  # noqa: E402

SECRET = "bench-load-" + "x" * 40
API = "/api/v1"
TIMING = re.compile(r"app;dur=([0-9.]+)")
DELEGATE_PASSWORD = "bench-load-delegate-2026"  # the bench's own accounts
# (route, weight): 56 API reads + 4 pages = 60 reads, 20 ballots, 20 deposits.
MIX: dict[str, int] = {
    "GET reports/funds-available": 7,
    "GET ledger/trial-balance": 7,
    "GET decisions": 7,
    "GET decisions/{id}": 7,
    "GET contributions": 7,
    "GET contributions/{id}": 7,
    "GET grants": 7,
    "GET grants/{id}": 7,
    "page /app": 2,
    "page /app/decisions/{id}": 2,
    "POST decisions/{id}/ballots": 20,
    "POST contributions": 20,
}
# Targets on the reference 2-core machine (PostgreSQL): (postings at least, rate, p99 ms).
TARGETS = ((500_000, 50.0, 500.0), (0, 100.0, 250.0))


def log(message: str) -> None:
    print(f"[load {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ------------------------------------------------------------------------------------------ the database


def service_env(url: str, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FUNDAPP_ENV": "test",
        "FUNDAPP_DATABASE_URL": url,
        "FUNDAPP_SECRET_KEY": SECRET,
        "FUNDAPP_VAR_DIR": str(workdir / "var"),
        "FUNDAPP_SCHEDULER": "off",
    }


def fundapp(args: list[str], env: dict[str, str]) -> None:
    command = [sys.executable, "-c", "import sys; from fundapp.cli import main; sys.exit(main())", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"fundapp {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def count_postings(url: str) -> int:
    """The ledger's postings (the data size of the header)."""
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split(":///", 1)[1]
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM postings").fetchone()[0])
    return int(pg_admin(url, "SELECT count(*) FROM postings")[0])


def server_line(url: str) -> str:
    if url.startswith("sqlite"):
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    found = pg_admin(url, "SELECT current_setting('server_version'), current_setting('shared_buffers')")
    return f"PostgreSQL {found[0]}, shared_buffers={found[1]}"


def backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving the database of ``url`` (a local server: their CPU time is read
    from /proc); none on SQLite, which runs inside the service."""
    if url.startswith("sqlite"):
        return []
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    row = pg_admin(url, "SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    return [int(pid) for pid in (row[0] or [])] if row else []


class CpuMeter:
    """CPU seconds of the service (its processes) and of the database's server processes over a run: the
    work a request costs, whatever else the machine is doing. A backend that ends during the run is lost
    (asyncpg's pools keep theirs)."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.server_pid, self.url = server_pid, url
        self.service: dict[int, float] = {}
        self.database: dict[int, float] = {}
        self.client = 0.0

    def start(self) -> None:
        self.service = cpu_of(process_tree(self.server_pid))
        self.database = cpu_of(backends(self.url))
        self.client = time.process_time()

    def stop(self) -> dict[str, float]:
        service = cpu_of(process_tree(self.server_pid))
        database = cpu_of(backends(self.url))
        return {
            "service_s": round(sum(v - self.service.get(pid, 0.0) for pid, v in service.items()), 2),
            "database_s": round(sum(v - self.database.get(pid, 0.0) for pid, v in database.items()), 2),
            "client_s": round(time.process_time() - self.client, 2),
        }


# ------------------------------------------------------------------------------------------ the service


def listeners(port: int) -> int:
    """Sockets listening on ``port`` (each worker binds its own)."""
    hexport = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        count += sum(1 for line in lines if line.split()[1].endswith(hexport) and line.split()[3] == "0A")
    return count


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-c", "import sys; from fundapp.cli import main; sys.exit(main())", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if listeners(port) >= workers and httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit("the service did not start")
        time.sleep(0.3)
    process.terminate()
    raise SystemExit("the service did not answer within 90 s")


def stop_server(server: subprocess.Popen[bytes] | None) -> None:
    if server is not None and server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


# ------------------------------------------------------------------------------------------ set-up


@dataclass
class Actor:
    token: str
    cookie: str = ""  # the session cookie (pages)
    member: str = ""


@dataclass
class Plan:
    """What the traffic needs: tokens, ids to read and vote on, contributors that take a deposit."""

    admin: Actor
    finance: Actor
    delegates: list[Actor]
    decisions: list[int]
    contributions: list[int]
    grants: list[int]
    contributors: list[int]
    today: str
    run_id: str
    keys: Counter[str] = field(default_factory=Counter)


def expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:400]}"
        )
    return response.json() if response.content else None


async def sign_in(client: httpx.AsyncClient, username: str, password: str, member: str = "") -> Actor:
    response = await client.post(f"{API}/auth/login", json={"username": username, "password": password})
    body = expect(response, 200)
    cookie = "; ".join(f"{k}={v}" for k, v in response.cookies.items())
    created = await client.post(
        f"{API}/auth/tokens",
        json={"name": "bench load"},
        headers={"Cookie": cookie, "X-CSRF-Token": body["csrf_token"]},
    )
    return Actor(expect(created, 201)["token"], cookie, member)


def bearer(actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {actor.token}"}


async def ids_of(client: httpx.AsyncClient, actor: Actor, path: str, limit: int = 100) -> list[int]:
    body = expect(await client.get(f"{API}/{path}", params={"limit": limit}, headers=bearer(actor)), 200)
    return [int(item["id"]) for item in body["items"]]


async def set_up(base: str, args: argparse.Namespace) -> Plan:
    run_id = f"{os.getpid()}-{int(time.time())}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        admin = await sign_in(client, args.admin, args.password)
        finance = await sign_in(client, args.finance, args.password)
        members = expect(await client.get(f"{API}/members", params={"limit": 500}, headers=bearer(admin)), 200)
        codes = sorted(m["code"] for m in members["items"] if m.get("status", "active") == "active")
        log(f"{len(codes)} active members; creating {args.delegates_per_member} delegate(s) each")
        delegates: list[Actor] = []
        for code in codes:
            for n in range(args.delegates_per_member):
                username = f"load{run_id.replace('-', '')}.{code.lower()}.{n}"
                body = {
                    "username": username,
                    "full_name": f"Load delegate {n} of {code}",
                    "email": f"{username}@load.example.org",
                    "password": DELEGATE_PASSWORD,
                    "roles": ["member_delegate"],
                    "member_code": code,
                }
                expect(await client.post(f"{API}/users", json=body, headers=bearer(admin)), 201)
                delegates.append(await sign_in(client, username, DELEGATE_PASSWORD, code))
        closes_at = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        decisions: list[int] = []
        for n in range(args.decisions):
            body = {
                "kind": "policy",
                "title": f"Load test resolution {n + 1} ({run_id})",
                "text": "The member states adopt the policy as drafted.",
                "procedure": "vote",
                "closes_at": closes_at,
                "open": True,
            }
            decisions.append(
                int(expect(await client.post(f"{API}/decisions", json=body, headers=bearer(admin)), 201)["id"])
            )
        on_roll: list[Actor] = []
        for delegate in delegates:
            response = await client.post(
                f"{API}/decisions/{decisions[0]}/ballots", json={"choice": "abstain"}, headers=bearer(delegate)
            )
            if response.status_code == 201:
                on_roll.append(delegate)
            else:
                log(f"{delegate.member} left out: {response.status_code} {response.text[:160]}")
        today = datetime.now(UTC).date().isoformat()
        contributors: list[int] = []
        for contributor in (await ids_of(client, admin, "contributors"))[:20]:
            body = {"contributor_id": contributor, "value_date": today, "amount": "100.00", "currency": "USD"}
            headers = bearer(finance) | {"Idempotency-Key": f"load-{run_id}-probe-{contributor}"}
            response = await client.post(f"{API}/contributions", json=body, headers=headers)
            if response.status_code == 201:
                contributors.append(contributor)
            else:
                log(f"contributor {contributor} takes no deposit: {response.status_code} {response.text[:160]}")
        plan = Plan(
            admin=admin,
            finance=finance,
            delegates=on_roll,
            decisions=decisions,
            contributions=await ids_of(client, admin, "contributions"),
            grants=await ids_of(client, admin, "grants"),
            contributors=contributors,
            today=today,
            run_id=run_id,
        )
    if not (plan.delegates and plan.contributors):
        raise SystemExit("no delegate on the roll or no contributor taking a deposit: nothing to send")
    log(
        f"set up: {len(plan.delegates)} delegates on the roll, {len(decisions)} open decisions, "
        f"{len(contributors)} contributors; {len(plan.contributions)} contributions, {len(plan.grants)} grants to read"
    )
    return plan


# ------------------------------------------------------------------------------------------ the traffic


@dataclass(frozen=True, slots=True)
class Call:
    route: str
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None


def routes(plan: Plan) -> tuple[list[str], list[int]]:
    """The mix's routes that have something to read (no grant to read: no grant routes)."""
    empty = {"GET grants/{id}": not plan.grants, "GET contributions/{id}": not plan.contributions}
    names = [name for name in MIX if not empty.get(name, False)]
    return names, [MIX[name] for name in names]


def make_call(route: str, plan: Plan, rng: random.Random, n: int) -> Call:
    delegate = rng.choice(plan.delegates)
    admin = bearer(plan.admin)
    if route == "GET reports/funds-available":
        return Call(route, "GET", f"{API}/reports/funds-available", bearer(delegate))
    if route == "GET ledger/trial-balance":
        return Call(route, "GET", f"{API}/ledger/trial-balance", admin, params={"book": "financial"})
    if route == "GET decisions":
        return Call(route, "GET", f"{API}/decisions", bearer(delegate), params={"limit": 20})
    if route == "GET decisions/{id}":
        return Call(route, "GET", f"{API}/decisions/{rng.choice(plan.decisions)}", bearer(delegate))
    if route == "GET contributions":
        return Call(route, "GET", f"{API}/contributions", admin, params={"limit": 20})
    if route == "GET contributions/{id}":
        return Call(route, "GET", f"{API}/contributions/{rng.choice(plan.contributions)}", admin)
    if route == "GET grants":
        return Call(route, "GET", f"{API}/grants", admin, params={"limit": 20})
    if route == "GET grants/{id}":
        return Call(route, "GET", f"{API}/grants/{rng.choice(plan.grants)}", admin)
    if route == "page /app":
        return Call(route, "GET", "/app", {"Cookie": delegate.cookie})
    if route == "page /app/decisions/{id}":
        return Call(route, "GET", f"/app/decisions/{rng.choice(plan.decisions)}", {"Cookie": delegate.cookie})
    if route == "POST decisions/{id}/ballots":
        body = {"choice": rng.choice(("yes", "no", "abstain"))}
        return Call(route, "POST", f"{API}/decisions/{rng.choice(plan.decisions)}/ballots", bearer(delegate), body)
    if route == "POST contributions":
        amount = f"{rng.randint(1_000, 250_000)}.{rng.randint(0, 99):02d}"
        deposit = {"contributor_id": rng.choice(plan.contributors), "value_date": plan.today, "amount": amount}
        headers = bearer(plan.finance) | {"Idempotency-Key": f"load-{plan.run_id}-{n}"}
        return Call(route, "POST", f"{API}/contributions", headers, deposit | {"currency": "USD"})
    raise ValueError(route)


@dataclass
class Outcome:
    route: str
    latency_ms: float  # scheduled time to the end of the response
    lag_ms: float  # scheduled time to the send
    status: int  # 0: no response (connection error, time-out)
    server_ms: float | None = None
    error: str = ""


async def fire(
    session: aiohttp.ClientSession, call: Call, scheduled: float, slots: asyncio.Semaphore, request_s: float
) -> Outcome:
    """Send ``call`` once one of the client's connections is free; a request that waited longer than
    ``request_s`` for one is not sent and counts as an error (the backlog of an overloaded service)."""
    loop = asyncio.get_running_loop()
    lag = loop.time() - scheduled  # the client's own delay: its event loop, not the service
    async with slots:
        if loop.time() - scheduled > request_s:
            return Outcome(call.route, (loop.time() - scheduled) * 1000, lag * 1000, 0, error="expired unsent")
        try:
            async with session.request(
                call.method, call.path, headers=call.headers, json=call.body, params=call.params
            ) as response:
                status = response.status
                body = await response.read()
                text = body.decode(errors="replace") if status >= 400 else ""
                timing = response.headers.get("server-timing", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(call.route, (loop.time() - scheduled) * 1000, lag * 1000, 0, error=type(exc).__name__)
    found = TIMING.search(timing)
    return Outcome(
        call.route,
        (loop.time() - scheduled) * 1000,
        lag * 1000,
        status,
        float(found.group(1)) if found else None,
        text[:200],
    )


async def drive(
    base: str, plan: Plan, rate: float, duration: float, request_s: float, connections: int, seed: int
) -> tuple[list[Outcome], float]:
    """Poisson arrivals at ``rate`` for ``duration`` seconds, each sent at its time. Returns the outcomes and
    the wall time from the first scheduled send to the last response."""
    rng = random.Random(seed)
    names, weights = routes(plan)
    arrivals: list[float] = []
    t = rng.expovariate(rate)
    while t < duration:
        arrivals.append(t)
        t += rng.expovariate(rate)
    calls = [make_call(rng.choices(names, weights)[0], plan, rng, seed * 1_000_000 + n) for n in range(len(arrivals))]
    # At most ``connections`` requests in flight: the others wait on a semaphore, still timed from their
    # scheduled send. The client is aiohttp on uvloop (its C parser): httpx cost 3 ms of the client's CPU a
    # request at 50/s and 11 ms at 100/s once a backlog formed, on the same two cores as the service, and the
    # client, not the service, fell behind (docs/performance.md, "Mixed load").
    slots = asyncio.Semaphore(connections)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=request_s)
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout) as session:
        start = loop.time() + 0.2
        tasks: list[asyncio.Task[Outcome]] = []
        for call, offset in zip(calls, arrivals, strict=True):
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(session, call, start + offset, slots, request_s)))
        outcomes = list(await asyncio.gather(*tasks))
        elapsed = loop.time() - start
    return outcomes, elapsed


def drive_fast(*args: Any) -> tuple[list[Outcome], float]:
    """``drive`` on uvloop's event loop (the client's cost per request is part of what the machine spends)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(drive(*args))


def summarise(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


def figures(outcomes: list[Outcome], rate: float, duration: float, elapsed: float) -> dict[str, Any]:
    by_route: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_route[outcome.route].append(outcome)
    per_route: dict[str, Any] = {}
    samples: dict[str, str] = {}
    for route in MIX:
        got = by_route.get(route, [])
        if not got:
            continue
        errors = Counter(str(o.status or o.error) for o in got if o.status == 0 or o.status >= 500)
        refusals = Counter(str(o.status) for o in got if 400 <= o.status < 500)
        for o in got:
            if o.status >= 400 or o.status == 0:
                samples.setdefault(f"{route} {o.status}", o.error)
        server = [o.server_ms for o in got if o.server_ms is not None]
        per_route[route] = {
            "count": len(got),
            **summarise([o.latency_ms for o in got]),
            "server_p50_ms": round(statistics.median(server), 1) if server else None,
            "server_p99_ms": round(percentile(server, 0.99), 1) if server else None,
            "errors": dict(errors),
            "refusals": dict(refusals),
        }
    answered = [o for o in outcomes if o.status != 0]
    error_count = sum(1 for o in outcomes if o.status == 0 or o.status >= 500)
    refusal_count = sum(1 for o in outcomes if 400 <= o.status < 500)
    lags = [o.lag_ms for o in outcomes]
    return {
        "rate": rate,
        "duration_s": duration,
        "requests": len(outcomes),
        "scheduled_rate": round(len(outcomes) / duration, 1),
        "achieved_rate": round(len(answered) / elapsed, 1),
        **summarise([o.latency_ms for o in outcomes]),
        "errors": error_count,
        "refusals": refusal_count,
        "client_lag_p99_ms": round(percentile(lags, 0.99), 1),
        "client_lag_max_ms": round(max(lags), 1),
        "routes": per_route,
        "samples": samples,
    }


def verdict(postings: int, result: dict[str, Any]) -> str:
    for at_least, rate, p99 in TARGETS:
        if postings >= at_least:
            if result["rate"] < rate:
                return f"(target: {rate:g}/s with p99 < {p99:g} ms)"
            met = result["p99_ms"] < p99 and result["errors"] == 0
            return f"{'PASS' if met else 'MISS'} (target: {rate:g}/s, p99 < {p99:g} ms, no error)"
    return ""


# ------------------------------------------------------------------------------------------ the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.database_url:
        backend = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
        workdir = Path(tempfile.mkdtemp(prefix="fundapp-bench-load-"))
        try:
            return measure(args, backend, args.database_url, workdir, fresh=False)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    with bench_database(args.backend, args.admin_url, "load", keep=args.keep) as bench:
        env = service_env(bench.url, bench.workdir)
        log(f"{args.backend}: fundapp db upgrade and fundapp demo")
        fundapp(["db", "upgrade"], env)
        fundapp(["demo"], env)
        return measure(args, args.backend, bench.url, bench.workdir, fresh=True)


def measure(args: argparse.Namespace, backend: str, url: str, workdir: Path, *, fresh: bool) -> dict[str, Any]:
    workers = args.workers or (1 if backend == "sqlite" else 2)
    note = ""
    if backend == "sqlite" and workers > 1:
        note = "several workers on SQLite wait on its lock by sleeping and retrying (README)"
    elif backend == "sqlite":
        note = "one worker on SQLite: its writers queue in the process (README, 'PostgreSQL')"
    env = service_env(url, workdir)
    server, base = start_server(env, workers)
    report: dict[str, Any] = {
        "benchmark": "load",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join(["bench/load.py", *sys.argv[1:]]),
        "backend": backend,
        "server": server_line(url),
        "database": "fresh, fundapp demo" if fresh else url.rsplit("@", 1)[-1],
        "workers": workers,
        "note": note,
        "mix": MIX,
        "runs": [],
    }
    try:
        plan = asyncio.run(set_up(base, args))
        report["postings_before"] = count_postings(url)
        report["delegates"] = len(plan.delegates)
        report["decisions"] = len(plan.decisions)
        if args.warmup > 0:
            log(f"warm-up: {args.warmup:g} s at {args.rates[0]:g}/s")
            drive_fast(base, plan, args.rates[0], args.warmup, args.timeout, args.connections, args.seed + 999)
        for n, rate in enumerate(args.rates):
            before = loadavg()
            log(f"{rate:g} requests/s for {args.duration:g} s (load average {before})")
            meter = CpuMeter(server.pid, url)
            meter.start()
            outcomes, elapsed = drive_fast(
                base, plan, rate, args.duration, args.timeout, args.connections, args.seed + n
            )
            result = figures(outcomes, rate, args.duration, elapsed)
            cpu = meter.stop()
            per_request = (cpu["service_s"] + cpu["database_s"]) * 1000 / max(1, result["requests"])
            result["cpu"] = cpu | {
                "ms_per_request": round(per_request, 1),
                # What the service and its database could serve on this machine's cores with nothing else running.
                "cpu_bound_rate": round((os.cpu_count() or 1) * 1000 / per_request, 1) if per_request else None,
            }
            result["load_before"], result["load_after"] = before, loadavg()
            result["postings"] = count_postings(url)
            result["verdict"] = verdict(report["postings_before"], result) if backend == "postgresql" else ""
            report["runs"].append(result)
            log(f"  p50 {result.get('p50_ms')} ms, p99 {result.get('p99_ms')} ms, {result['errors']} errors")
    finally:
        stop_server(server)
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"mixed load - {report['date']} - {report['host']}")
    print(f"command: {report['command']}")
    print(
        f"{report['backend']}: {report['server']}; database: {report['database']}; "
        f"{report['postings_before']:,} postings at the start; fundapp serve --workers {report['workers']}"
        + (f" ({report['note']})" if report["note"] else "")
    )
    print(f"{report['delegates']} delegates voting on {report['decisions']} open decisions; mix: {report['mix']}")
    for run in report["runs"]:
        print(
            f"\n{run['rate']:g} requests/s for {run['duration_s']:g} s: {run['requests']:,} requests "
            f"(scheduled {run['scheduled_rate']:g}/s, achieved {run['achieved_rate']:g}/s); "
            f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, max {run['max_ms']:.1f} ms; "
            f"errors {run['errors']}, refusals (4xx) {run['refusals']}; client lag p99 {run['client_lag_p99_ms']} ms "
            f"(max {run['client_lag_max_ms']}); load average {run['load_before']} -> {run['load_after']}; "
            f"{run['postings']:,} postings after\nCPU: service {run['cpu']['service_s']} s, database "
            f"{run['cpu']['database_s']} s, client {run['cpu']['client_s']} s; {run['cpu']['ms_per_request']} ms of "
            f"service + database CPU a request (the rate it allows on {os.cpu_count()} idle cores: "
            f"{run['cpu']['cpu_bound_rate']}/s)" + (f"\n{run['verdict']}" if run["verdict"] else "")
        )
        header = ("route", "count", "p50 ms", "p99 ms", "max ms", "server p50", "server p99", "errors", "4xx")
        rows = [
            (
                route,
                str(f["count"]),
                f"{f['p50_ms']:.1f}",
                f"{f['p99_ms']:.1f}",
                f"{f['max_ms']:.1f}",
                "" if f["server_p50_ms"] is None else f"{f['server_p50_ms']:.1f}",
                "" if f["server_p99_ms"] is None else f"{f['server_p99_ms']:.1f}",
                ", ".join(f"{k}: {v}" for k, v in f["errors"].items()) or "0",
                ", ".join(f"{k}: {v}" for k, v in f["refusals"].items()) or "0",
            )
            for route, f in run["routes"].items()
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in rows:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        for what, text in run["samples"].items():
            print(f"  {what}: {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument(
        "--rate", action="append", default=None, help="requests a second (repeat, or a comma list, for a sweep; 50)"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate (60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="untimed seconds at the first rate first (5)")
    parser.add_argument("--database-url", help="an existing database to load (default: a fresh one with the demo)")
    parser.add_argument(
        "--admin-url", help=f"PostgreSQL administrative URL for a fresh database ({PG_DEFAULT_ADMIN_URL})"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="service workers (default: 2 on PostgreSQL, 1 on SQLite)"
    )
    parser.add_argument("--admin", default="admin", help="the administrator's username (admin)")
    parser.add_argument("--finance", default="finance", help="the finance officer's username (finance)")
    parser.add_argument("--password", default=DEMO_PASSWORD, help="their password (the demo's)")
    parser.add_argument("--delegates-per-member", type=int, default=2)
    parser.add_argument("--decisions", type=int, default=20, help="open decisions to vote on (20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take (30)")
    parser.add_argument("--connections", type=int, default=64, help="the client's connections at most (64)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--keep", action="store_true", help="keep the fresh database (prints where it is)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.rates = [float(r) for spec in (args.rate or ["50"]) for r in spec.split(",") if r.strip()]
    if not args.rates or min(args.rates) <= 0:
        parser.error("--rate must be positive")
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
