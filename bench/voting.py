"""Voting benchmark: ballots per second through the HTTP API, with concurrent clients.

    .venv/bin/python bench/voting.py                       # SQLite and PostgreSQL, 193 members, 50 decisions
    .venv/bin/python bench/voting.py --backend postgresql --json
    .venv/bin/python bench/voting.py --members 60 --decisions 10 --clients 16 --workers 1

Creates a fresh database (SQLite: a temporary file; PostgreSQL: ``fundapp_bench_voting_<pid>`` on the
server named by ``--database-url``, dropped at the end), migrates it, and builds the electorate through
the real services: N member states (real ISO codes), one delegate per member with an API token, and D
decisions opened for a vote. It then starts the real service (``fundapp serve`` with ``--workers``
processes, each on its own socket of the port: 2 on PostgreSQL and 1 on SQLite unless given) on a free
local port and, from ``--clients`` concurrent HTTP clients (8 by default, where throughput peaks on two
cores; more clients only queue), has every delegate vote on every decision (yes / no / abstain at
random), then re-cast a tenth of those ballots (a member changing its mind). Each request is timed from
the client: the latency includes HTTP, the authentication of the bearer token, the decision's row lock,
the hash-chained event and the commit.

Afterwards it checks, from the database, that nothing was lost or counted twice: one current ballot per
member per decision, equal to that member's last accepted ballot; every receipt in its decision's chain;
no event beyond the accepted ballots; then it closes every decision (as the scheduler would after the
deadline) and compares each recorded tally with the count of the accepted ballots.

Reported: ballots/s and p50/p95/p99 latency against the target (on PostgreSQL: >= 300 ballots/s with p99
under 100 ms on a 2-core machine: PASS/MISS). Progress goes to stderr; the table (or ``--json``) to stdout.
The exit code is 1 only when a correctness check fails, never for speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlmodel import col  # noqa: E402

from bench.common import (  # noqa: E402
    PG_DEFAULT_ADMIN_URL,
    bench_database,
    free_port,
    percentile,
    pg_admin,
)
from fundapp.cli import upgrade_database  # noqa: E402
from fundapp.core import accounts  # noqa: E402
from fundapp.core.audit import Actor  # noqa: E402
from fundapp.core.config import Settings  # noqa: E402
from fundapp.core.db import Database  # noqa: E402
from fundapp.core.models import Role  # noqa: E402
from fundapp.core.schemas import TokenCreate, UserCreate  # noqa: E402
from fundapp.core.security import PasswordHashing, Principal  # noqa: E402
from fundapp.wiring import register_hooks  # noqa: E402
from governance.decisions import Decisions  # noqa: E402
from governance.models import Ballot, Decision, DecisionEvent  # noqa: E402
from governance.rules import iso_alpha3  # noqa: E402
from governance.schemas import DecisionCreate, MemberCreate  # noqa: E402
from governance.service import Governance  # noqa: E402

TARGET_BALLOTS_PER_S = 300  # PostgreSQL, on the reference 2-core machine
TARGET_P99_MS = 100
SECRET = "bench-voting-" + "x" * 40
CHOICES = ("yes", "no", "abstain")


def log(message: str) -> None:
    print(f"[voting] {message}", file=sys.stderr, flush=True)


def settings_for(url: str, workdir: Path) -> Settings:
    # Delegates log in with tokens in this benchmark: the password hash only needs to exist, cheaply.
    return Settings(
        env="test",
        database_url=url,
        secret_key=SECRET,
        var_dir=workdir / "var",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
    )


# ------------------------------------------------------------------------------------------ the electorate


async def build(db: Database, settings: Settings, members: int, decisions: int) -> tuple[dict[str, str], list[int]]:
    """Admit the members, give each a delegate with a token, open the decisions. Returns (tokens, ids)."""
    now = datetime.now(UTC)
    codes = sorted(iso_alpha3())[:members]
    if len(codes) < members:
        raise SystemExit(f"only {len(codes)} ISO countries exist")
    hashing = PasswordHashing(settings)
    tokens: dict[str, str] = {}
    async with db.session() as session:
        gov = Governance(session, settings=settings, actor=Actor(None, "bench"), now=now)
        for code in codes:
            await gov.admit_member(
                MemberCreate(code=code, tier="I" if len(tokens) % 3 == 0 else "II", joined_on=now.date())
            )
            user = await accounts.create_user(
                session,
                UserCreate(
                    username=f"delegate-{code.lower()}",
                    full_name=f"Delegate of {code}",
                    email=f"delegate-{code.lower()}@example.org",
                    password="bench-password-2026",
                    roles=[Role.MEMBER_DELEGATE],
                    member_code=code,
                ),
                hashing=hashing,
                actor=None,
                now=now,
            )
            principal = Principal(id=user.id, username=user.username, roles=frozenset({Role.MEMBER_DELEGATE}))
            created = await accounts.create_token(
                session, TokenCreate(name="bench"), user=principal, settings=settings, now=now
            )
            tokens[code] = created.token
        await session.commit()
    ids: list[int] = []
    async with db.session() as session:
        service = Decisions(session, settings=settings, user=None, now=now)
        for n in range(decisions):
            decision = await service.create(
                DecisionCreate(
                    kind="policy",
                    title=f"Policy resolution {n + 1}",
                    text="The member states adopt the policy as drafted.",
                    procedure="vote",
                    closes_at=now + timedelta(days=1),
                    open=True,
                )
            )
            assert decision.id is not None
            ids.append(decision.id)
        await session.commit()
    return tokens, ids


# ------------------------------------------------------------------------------------------ the service


def start_server(url: str, workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "FUNDAPP_ENV": "test",
        "FUNDAPP_DATABASE_URL": url,
        "FUNDAPP_SECRET_KEY": SECRET,
        "FUNDAPP_VAR_DIR": str(workdir / "var"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from fundapp.cli import main; sys.exit(main())",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # Every worker listening (each binds once its application is loaded), and one answering.
            if listeners(port) >= workers and httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit("the service did not start")
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("the service did not answer within 60 s")


def stop_server(server: subprocess.Popen[bytes] | None) -> None:
    if server is not None and server.poll() is None:
        server.terminate()
        server.wait(timeout=30)


def listeners(port: int) -> int:
    """Listening TCP sockets on ``port`` (IPv4), from /proc: one per worker of ``fundapp serve``."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "0A")


# ------------------------------------------------------------------------------------------ CPU time


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a local process, from /proc (0 when it is gone or not visible)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (the service's worker processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def database_backends(admin_url: str | None, name: str | None) -> list[int]:
    if admin_url is None or name is None:
        return []
    row = pg_admin(admin_url, "SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    return [int(pid) for pid in (row[0] or [])] if row else []


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: process_cpu(pid) for pid in pids}


# ------------------------------------------------------------------------------------------ the vote


Accepted = dict[tuple[str, int], list[tuple[int, str, str]]]  # (member, decision) -> [(seq, choice, receipt)]


async def vote(
    base: str, tokens: dict[str, str], decision_ids: list[int], clients: int, seed: int, recast_share: float
) -> dict[str, Any]:
    rng = random.Random(seed)
    first = [(code, d, rng.choice(CHOICES)) for d in decision_ids for code in tokens]
    rng.shuffle(first)
    recasts = [(code, d, rng.choice(CHOICES)) for code, d, _ in rng.sample(first, int(len(first) * recast_share))]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    accepted: Accepted = defaultdict(list)
    errors: list[str] = []

    async def run_phase(jobs: list[tuple[str, int, str]]) -> None:
        queue: asyncio.Queue[tuple[str, int, str]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

            async def worker() -> None:
                while True:
                    try:
                        code, decision_id, choice = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    started = time.perf_counter()
                    response = await client.post(
                        f"/api/v1/decisions/{decision_id}/ballots",
                        json={"choice": choice},
                        headers={"Authorization": f"Bearer {tokens[code]}"},
                    )
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status_code] += 1
                    if response.status_code == 201:
                        body = response.json()
                        accepted[(code, decision_id)].append((body["seq"], choice, body["receipt"]))
                    elif len(errors) < 5:
                        errors.append(f"{response.status_code}: {response.text[:200]}")

            await asyncio.gather(*(worker() for _ in range(clients)))

    log(f"casting {len(first)} ballots, then {len(recasts)} changed ballots, from {clients} clients")
    started = time.perf_counter()
    await run_phase(first)
    await run_phase(recasts)
    elapsed = time.perf_counter() - started
    total = len(first) + len(recasts)
    return {
        "ballots": total,
        "first_ballots": len(first),
        "changed_ballots": len(recasts),
        "elapsed_s": elapsed,
        "ballots_per_s": total / elapsed,
        "latency_ms": {
            "p50": 1000 * percentile(latencies, 0.50),
            "p95": 1000 * percentile(latencies, 0.95),
            "p99": 1000 * percentile(latencies, 0.99),
            "max": 1000 * max(latencies),
            "mean": 1000 * statistics.fmean(latencies),
        },
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
        "_accepted": accepted,
    }


# ------------------------------------------------------------------------------------------ the checks


async def check(db: Database, settings: Settings, decision_ids: list[int], accepted: Accepted) -> dict[str, Any]:
    """Nothing lost, nothing counted twice: the database against what the clients were told."""
    expected_choice = {key: max(casts)[1] for key, casts in accepted.items()}
    receipts = {receipt for casts in accepted.values() for _, _, receipt in casts}
    problems: list[str] = []
    async with db.session(write=False) as session:
        ballots = (await session.execute(select(Ballot))).scalars().all()
        stored = {(b.member_code, b.decision_id): b.choice for b in ballots}
        if len(stored) != len(ballots):
            problems.append("more than one current ballot for a member on a decision")
        if stored != expected_choice:
            differing = [k for k in set(stored) | set(expected_choice) if stored.get(k) != expected_choice.get(k)]
            problems.append(
                f"{len(differing)} current ballots differ from the last accepted ones, e.g. {differing[:3]}"
            )
        events = (
            (await session.execute(select(DecisionEvent).where(col(DecisionEvent.kind) == "ballot"))).scalars().all()
        )
        hashes = {e.hash for e in events}
        if receipts - hashes:
            problems.append(f"{len(receipts - hashes)} receipts are not in their decision's chain")
        if len(events) != len(receipts):
            problems.append(f"{len(events)} ballot events for {len(receipts)} accepted ballots")
    # Close every decision as the scheduler would after its deadline, and compare the recorded tallies.
    after = datetime.now(UTC) + timedelta(days=2)
    per_decision: dict[int, Counter[str]] = defaultdict(Counter)
    for (_, decision_id), choice in expected_choice.items():
        per_decision[decision_id][choice] += 1
    for decision_id in decision_ids:
        async with db.session() as session:
            decision = await Decisions(session, settings=settings, user=None, now=after).close(decision_id)
            await session.commit()
        tally = json.loads(decision.tally)
        want = per_decision[decision_id]
        if (tally["yes"], tally["no"], tally["abstain"]) != (want["yes"], want["no"], want["abstain"]):
            problems.append(f"decision {decision_id}: tally {tally} but the accepted ballots say {dict(want)}")
    async with db.session(write=False) as session:
        closed = (await session.execute(select(Decision).where(col(Decision.status) == "closed"))).scalars().all()
    return {
        "current_ballots": len(stored),
        "ballot_events": len(events),
        "accepted_ballots": len(receipts),
        "decisions_closed": len(closed),
        "problems": problems,
        "correct": not problems and len(closed) == len(decision_ids),
    }


# ------------------------------------------------------------------------------------------ one backend


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    server: subprocess.Popen[bytes] | None = None
    with contextlib.ExitStack() as cleanup:
        database = cleanup.enter_context(bench_database(backend, args.database_url, "voting"))
        url, workdir = database.url, database.workdir
        header: dict[str, Any] = {"backend": backend, "server": database.server}
        cleanup.callback(lambda: stop_server(server))
        log(f"[{backend}] migrating")
        upgrade_database(url)
        settings = settings_for(url, workdir)

        async def setup() -> tuple[dict[str, str], list[int]]:
            db = Database(url)
            try:
                return await build(db, settings, args.members, args.decisions)
            finally:
                await db.dispose()

        log(f"[{backend}] admitting {args.members} members with a delegate each, opening {args.decisions} decisions")
        tokens, decision_ids = asyncio.run(setup())
        workers = args.workers or (1 if backend == "sqlite" else 2)
        server, base = start_server(url, workdir, workers)
        log(f"[{backend}] service up at {base} ({workers} worker(s))")
        load_before = os.getloadavg()[0]
        service_before = cpu_of(process_tree(server.pid))
        client_before = time.process_time()
        result = asyncio.run(vote(base, tokens, decision_ids, args.clients, args.seed, args.recast_share))
        client_cpu = time.process_time() - client_before
        service_after = cpu_of(process_tree(server.pid))
        service_cpu = sum(v - service_before.get(pid, 0.0) for pid, v in service_after.items())
        per_process = sorted(round(v - service_before.get(pid, 0.0), 2) for pid, v in service_after.items())
        log(f"[{backend}] service CPU seconds per process (supervisor and workers): {per_process}")
        result["service_cpu_s_per_process"] = per_process
        # Pooled connections live for the whole run: their CPU time is the database's share of it.
        database_cpu = sum(cpu_of(database_backends(database.admin_url, database.name)).values())
        load_after = os.getloadavg()[0]
        ballots = result["ballots"]
        total_cpu = client_cpu + service_cpu + database_cpu
        result["cpu_ms_per_ballot"] = {
            "client": 1000 * client_cpu / ballots,
            "service": 1000 * service_cpu / ballots,
            "database": 1000 * database_cpu / ballots if database_cpu else None,
        }
        # What the machine's cores could do if nothing else ran on them: a rough, CPU-bound estimate.
        result["cpu_bound_ballots_per_s"] = (os.cpu_count() or 1) * ballots / total_cpu if total_cpu else None
        stop_server(server)
        server = None
        accepted = result.pop("_accepted")

        async def verify() -> dict[str, Any]:
            db = Database(url)
            try:
                return await check(db, settings, decision_ids, accepted)
            finally:
                await db.dispose()

        log(f"[{backend}] checking ballots, receipts and tallies")
        checks = asyncio.run(verify())
        verdict = None
        if backend == "postgresql":
            fast = result["ballots_per_s"] >= TARGET_BALLOTS_PER_S and result["latency_ms"]["p99"] < TARGET_P99_MS
            verdict = "PASS" if fast else "MISS"
        return {
            **header,
            "members": args.members,
            "decisions": args.decisions,
            "clients": args.clients,
            "workers": workers,
            "load_average": {"before": load_before, "after": load_after},
            **result,
            "checks": checks,
            "verdict": verdict,
        }


# ------------------------------------------------------------------------------------------ output


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"voting benchmark — {m['cpu']}, {m['cores']} cores, Python {m['python']}, {report['date']}")
    for r in report["runs"]:
        lat = r["latency_ms"]
        c = r["checks"]
        print()
        load = r["load_average"]
        print(f"{r['backend']}: {r['server']}; load average {load['before']:.2f} -> {load['after']:.2f}")
        print(
            f"  data          {r['members']} members x {r['decisions']} decisions: {r['first_ballots']} ballots "
            f"+ {r['changed_ballots']} changed = {r['ballots']}; {r['clients']} clients, {r['workers']} worker(s)"
        )
        target = (
            f" (target >= {TARGET_BALLOTS_PER_S}/s, p99 < {TARGET_P99_MS} ms: {r['verdict']})" if r["verdict"] else ""
        )
        print(f"  throughput    {r['ballots_per_s']:,.0f} ballots/s in {r['elapsed_s']:.1f} s{target}")
        print(
            f"  latency       p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, "
            f"max {lat['max']:.1f} ms"
        )
        cpu = r["cpu_ms_per_ballot"]
        database = f" + database {cpu['database']:.2f}" if cpu["database"] else " (SQLite runs in the service)"
        print(
            f"  CPU per ballot client {cpu['client']:.2f} ms + service {cpu['service']:.2f} ms{database}; "
            f"CPU-bound estimate on {os.cpu_count()} idle cores: {r['cpu_bound_ballots_per_s']:,.0f} ballots/s"
        )
        print(f"  responses     {r['statuses']}" + (f"; first errors: {r['errors']}" if r["errors"] else ""))
        print(
            f"  checks        {c['current_ballots']} current ballots, {c['ballot_events']} ballot events for "
            f"{c['accepted_ballots']} accepted, {c['decisions_closed']} decisions closed and recounted: "
            f"{'OK, zero lost or double-counted' if c['correct'] else 'FAILED: ' + '; '.join(c['problems'])}"
        )


def main(argv: list[str] | None = None) -> int:
    register_hooks()  # users' bindings are checked by the domains, as in the app
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--database-url", help=f"PostgreSQL administrative URL (default {PG_DEFAULT_ADMIN_URL})")
    parser.add_argument("--members", type=int, default=193)
    parser.add_argument("--decisions", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="service worker processes (default: 2 on PostgreSQL, 1 on SQLite, whose writers queue in one process)",
    )
    parser.add_argument("--recast-share", type=float, default=0.1, help="share of ballots changed afterwards")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    report: dict[str, Any] = {
        "benchmark": "voting",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()},
        "runs": [run_backend(b, args) for b in backends],
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 0 if all(r["checks"]["correct"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
