"""Pages benchmark: the server's time for a delegate's dashboard and a decision page.

    .venv/bin/python bench/pages.py                          # SQLite and PostgreSQL, 193 members, 50 decisions
    .venv/bin/python bench/pages.py --backend sqlite --requests 200

Creates a fresh database (SQLite: a temporary file; PostgreSQL: ``fundapp_bench_pages_<pid>``, dropped at the
end), builds through the real services N member states each with a delegate (and an API token) and D open
decisions by vote (``bench/voting.py``'s electorate), has half of the delegates vote on every decision, then
starts the real service (``fundapp serve``, one worker) and asks, one request at a time, as random delegates:
the dashboard (``/app``: the decisions awaiting its member's ballot with the time left, those closed
recently, its member's standing) and a random decision's page (``/app/decisions/{id}``: terms, procedure,
roll of N members, the member's ballot and what it may do).

The figure is the server's own time: every response carries ``Server-Timing: app;dur=<ms>`` (the application
from the request's arrival to the response's start, database included, network and client excluded). Reported
per page: median, p95 and p99 over ``--requests`` requests (after ``--warmup`` requests per page), against the
target of a p95 under 100 ms on the reference 2-core machine (PASS/MISS). Progress to stderr, the table (or
``--json``) to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import re
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

import httpx  # noqa: E402

from bench.common import PG_DEFAULT_ADMIN_URL, bench_database, percentile  # noqa: E402
from bench.voting import build, settings_for, start_server, stop_server  # noqa: E402
from fundapp.cli import upgrade_database  # noqa: E402
from fundapp.core.db import Database  # noqa: E402
from fundapp.wiring import register_hooks  # noqa: E402
from governance.decisions import Decisions  # noqa: E402

TARGET_P95_MS = 100.0
TIMING = re.compile(r"app;dur=([0-9.]+)")


def log(message: str) -> None:
    print(f"[pages] {message}", file=sys.stderr, flush=True)


async def vote_half(db: Database, settings: Any, codes: list[str], decision_ids: list[int]) -> int:
    """Half of the members vote on every decision, through the service (as the API would)."""
    from fundapp.core.models import Role
    from fundapp.core.security import Principal

    cast = 0
    now = datetime.now(UTC)
    async with db.session() as session:
        for n, code in enumerate(codes[: len(codes) // 2]):
            user = Principal(
                id=0, username=f"delegate-{code.lower()}", roles=frozenset({Role.MEMBER_DELEGATE}), member_code=code
            )
            service = Decisions(session, settings=settings, user=user, now=now)
            for decision_id in decision_ids:
                await service.cast(decision_id, ("yes", "no", "abstain")[(n + decision_id) % 3])
                cast += 1
        await session.commit()
    return cast


def server_ms(response: httpx.Response) -> float:
    found = TIMING.search(response.headers.get("server-timing", ""))
    if response.status_code != 200 or found is None:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return float(found.group(1))


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with bench_database(backend, args.database_url, "pages") as bench:
        settings = settings_for(bench.url, bench.workdir)
        upgrade_database(bench.url)

        async def prepare() -> tuple[dict[str, str], list[int], int]:
            db = Database(bench.url)
            try:
                tokens, ids = await build(db, settings, args.members, args.decisions)
                cast = await vote_half(db, settings, sorted(tokens), ids)
                return tokens, ids, cast
            finally:
                await db.dispose()

        log(f"{backend}: building {args.members} members with a delegate each and {args.decisions} open decisions")
        tokens, ids, cast = asyncio.run(prepare())
        log(f"{backend}: {cast} ballots cast by half of the members; starting the service")
        server, base = start_server(bench.url, bench.workdir, 1)
        try:
            rng = random.Random(2026)
            codes = sorted(tokens)
            times: dict[str, list[float]] = {"dashboard": [], "decision": []}
            with httpx.Client(base_url=base, timeout=60) as client:
                for n in range(args.warmup + args.requests):
                    code = rng.choice(codes)
                    headers = {"Authorization": f"Bearer {tokens[code]}"}
                    for page, path in (("dashboard", "/app"), ("decision", f"/app/decisions/{rng.choice(ids)}")):
                        elapsed = server_ms(client.get(path, headers=headers))
                        if n >= args.warmup:
                            times[page].append(elapsed)
        finally:
            stop_server(server)
        result: dict[str, Any] = {"backend": backend, "server": bench.server, "members": args.members}
        result |= {"decisions": args.decisions, "ballots": cast, "requests": args.requests, "pages": {}}
        for page, values in times.items():
            result["pages"][page] = {
                "median_ms": round(statistics.median(values), 1),
                "p95_ms": round(percentile(values, 0.95), 1),
                "p99_ms": round(percentile(values, 0.99), 1),
                "verdict": "PASS" if percentile(values, 0.95) < TARGET_P95_MS else "MISS",
            }
        return result


def main(argv: list[str] | None = None) -> int:
    register_hooks()  # users' bindings are checked by the domains, as in the app
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--database-url", help=f"PostgreSQL administrative URL (default {PG_DEFAULT_ADMIN_URL})")
    parser.add_argument("--members", type=int, default=193)
    parser.add_argument("--decisions", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [run_backend(backend, args) for backend in backends]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"pages benchmark on {platform.node()} ({platform.machine()}, Python {platform.python_version()})")
    for result in results:
        print(
            f"\n{result['backend']}: {result['server']}\n  {result['members']} members, {result['decisions']} open "
            f"decisions, {result['ballots']} ballots; {result['requests']} requests per page, one at a time"
        )
        print(f"  {'page':<10} {'median':>8} {'p95':>8} {'p99':>8}  target p95 < {TARGET_P95_MS:.0f} ms")
        for page, figures in result["pages"].items():
            print(
                f"  {page:<10} {figures['median_ms']:>6.1f}ms {figures['p95_ms']:>6.1f}ms {figures['p99_ms']:>6.1f}ms"
                f"  {figures['verdict']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
