"""Faults, on both backends (issue 19): the service killed (SIGKILL) in the middle of a stream of deposits,
and the database gone in the middle of traffic.

- Killed: every deposit the service acknowledged (2xx) is there after the restart, nothing half-written
  (each contribution with its journal entry and audit event), the journal's and the audit log's hash chains
  verify (``fundapp ledger verify``, ``fundapp verify-audit``), and both books balance.
- Database gone (PostgreSQL: the network to it cut, through a proxy; SQLite: another process holding the
  write lock beyond the lock timeout): 503 with ``Retry-After``, never 500, nothing half-written, and the same
  service serves again once the database is back, without a restart.
The read-only database is in ``test_database_trouble.py``."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.idempotency import client_key
from fundapp.core.models import Role
from tests.conftest import TEST_ENV, make_settings
from tests.support import (
    PROBLEM_TYPE,
    Api,
    accepted,
    add_contributor,
    assert_books_balanced,
    assert_problem,
)

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(120)]

FUNDAPP = [sys.executable, "-c", "import sys; from fundapp.cli import main; sys.exit(main())"]
CONTRIBUTIONS = "/api/v1/contributions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deposit_body(donor: int, amount: str = "10.00", value_date: str = "2026-03-16") -> dict[str, Any]:
    return {"contributor_id": donor, "value_date": value_date, "amount": amount, "currency": "USD"}


# ---------------------------------------------------------------- killed in the middle of deposits


def fundapp_env(api: Api) -> dict[str, str]:
    return {
        **os.environ,
        **TEST_ENV,
        "FUNDAPP_DATABASE_URL": api.settings.database_url,
        "FUNDAPP_VAR_DIR": str(api.settings.var_dir),
    }


def start_serving(api: Api, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*FUNDAPP, "serve", "--port", str(port), "--log-level", "warning", "--no-access-log"],
            env=fundapp_env(api),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                connection.close()
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"fundapp serve was not ready within 60 s: {log.read_text()[-2000:]}")


def fundapp_command(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FUNDAPP, *args], env=fundapp_env(api), capture_output=True, text=True, timeout=120)


def test_every_acknowledged_deposit_survives_a_kill_9_in_the_middle_of_the_stream(api: Api, tmp_path: Path) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    auditor = api.create_user(Role.AUDITOR)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    today = datetime.now(UTC).date().isoformat()  # the served process runs on the real clock
    port, log = free_port(), tmp_path / "serve.log"
    process = start_serving(api, port, log)
    acknowledged: dict[str, int] = {}
    sent: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def stream(lane: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            n = 0
            while not stop.is_set():
                key = f"kill-{lane}-{n}"
                n += 1
                with lock:
                    sent.add(key)
                try:
                    response = client.post(
                        CONTRIBUTIONS,
                        json=deposit_body(donor, f"{lane + 1}.{n % 100:02d}", today),
                        headers={**officer.headers, "Idempotency-Key": key},
                    )
                except httpx.HTTPError:
                    return  # the service died under this request: no acknowledgement
                if 200 <= response.status_code < 300:
                    with lock:
                        acknowledged[key] = int(response.json()["id"])
                else:  # before the kill every deposit is taken
                    raise AssertionError(f"{key}: {response.status_code} {response.text[:300]}")

    try:
        with ThreadPoolExecutor(4) as pool:
            lanes = [pool.submit(stream, lane) for lane in range(4)]
            deadline = time.monotonic() + 30
            while len(acknowledged) < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)  # in the middle of the stream: requests are in flight
            process.wait(timeout=30)
            stop.set()
            for lane in lanes:
                lane.result()
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert len(acknowledged) >= 40, log.read_text()[-2000:]
    assert len(sent) > len(acknowledged)  # some were in flight when it died

    # Every acknowledged deposit is there, once; nothing is half-written.
    rows = api.db.rows("SELECT idempotency_key, id FROM contributions WHERE idempotency_key IS NOT NULL")
    stored = {client_key(key): id_ for key, id_ in rows}  # keys are stored under their sender's scope
    assert {key: stored.get(key) for key in acknowledged} == acknowledged
    assert set(stored) <= sent
    contributions = api.db.count("contributions")
    assert contributions == len(stored)
    assert api.db.scalar("SELECT count(*) FROM contributions WHERE entry_id IS NULL") == 0
    assert api.db.count("journal_entries") == contributions
    assert (
        api.db.scalar(
            "SELECT count(*) FROM journal_entries e WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = e.id)"
        )
        == 0
    )
    assert api.db.scalar("SELECT count(*) FROM audit_events WHERE object_type = 'contribution'") == contributions
    for command in (["ledger", "verify"], ["verify-audit"]):
        verified = fundapp_command(api, *command)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "OK" in verified.stdout, verified.stdout

    # The service starts again on the same database: the books balance, a retried deposit gets its first
    # answer, and new ones are taken.
    process = start_serving(api, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            key, contribution_id = next(iter(acknowledged.items()))
            lane, n = (int(part) for part in key.split("-")[1:])
            again = client.post(
                CONTRIBUTIONS,
                json=deposit_body(donor, f"{lane + 1}.{(n + 1) % 100:02d}", today),
                headers={**officer.headers, "Idempotency-Key": key},
            )
            assert again.status_code in (200, 201), again.text
            assert again.json()["id"] == contribution_id
            for trial in ("financial", "budgetary"):
                balance = client.get("/api/v1/ledger/trial-balance", params={"book": trial}, headers=auditor.headers)
                assert balance.status_code == 200 and balance.json()["balanced"] is True, balance.text
            fresh = client.post(
                CONTRIBUTIONS,
                json=deposit_body(donor, "1.00", today),
                headers={**officer.headers, "Idempotency-Key": "after-restart"},
            )
            assert fresh.status_code == 201, fresh.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# ---------------------------------------------------------------- the database gone in the middle of traffic


class TcpProxy:
    """Forwards a local port to the database server; ``cut()`` drops every connection and refuses new ones
    (as a network partition or a stopped server does), ``restore()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting in accept(): no one is let in
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def outage(api: Api, tmp_path: Path) -> Iterator[tuple[Any, Any, str, str]]:
    """(a service's settings, a way to take the database away and give it back, the trouble's problem type)."""
    if api.db.dialect == "postgresql":
        parts = urlsplit(api.settings.database_url)
        proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        proxy.restore()
        netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        yield make_settings(url, tmp_path / "var-proxy"), proxy.cut, proxy.restore, "database-unavailable"
        proxy.cut()
        return
    # SQLite: another process (a backup, a stuck maintenance script) holds the write lock.
    path = api.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take() -> None:
        holder.execute("BEGIN IMMEDIATE")

    def give_back() -> None:
        holder.execute("ROLLBACK")

    settings = make_settings(
        api.settings.database_url, tmp_path / "var-lock", FUNDAPP_DATABASE_LOCK_TIMEOUT_SECONDS="2"
    )
    yield settings, take, give_back, "database-busy"
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_the_database_gone_mid_traffic_gets_503_with_retry_after_and_the_service_recovers_by_itself(
    api: Api, clock: FrozenClock, outage: tuple[Any, Any, Any, str]
) -> None:
    settings, take_away, give_back, slug = outage
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    created = 0

    def deposit(client: TestClient[Litestar], key: str) -> Any:
        return client.post(CONTRIBUTIONS, json=deposit_body(donor), headers={**officer.headers, "Idempotency-Key": key})

    with TestClient(create_app(settings, clock=clock), base_url="http://testserver.local") as client:
        for n in range(5):
            accepted(deposit(client, f"before-{n}"), 201)
            created += 1
        assert accepted(client.get("/health/ready"))["ready"] is True

        take_away()
        for n in range(3):
            refused = deposit(client, f"during-{n}")
            body = assert_problem(refused, 503)
            assert body["type"] == PROBLEM_TYPE + slug, body
            assert int(refused.headers["Retry-After"]) > 0
        ready = client.get("/health/ready")
        assert assert_problem(ready, 503)["type"] == PROBLEM_TYPE + slug
        assert int(ready.headers["Retry-After"]) > 0
        assert accepted(client.get("/health/live")) == {"status": "live"}
        assert api.db.count("contributions") == created  # nothing half-written

        give_back()
        assert accepted(client.get("/health/ready"))["ready"] is True
        for n in range(5):
            accepted(deposit(client, f"after-{n}"), 201)
            created += 1
        # A deposit refused during the outage can be sent again with its key.
        accepted(deposit(client, "during-0"), 201)
        created += 1
    assert api.db.count("contributions") == created
    assert_books_balanced(api, api.create_user(Role.AUDITOR))
    verified = fundapp_command(api, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


# ---------------------------------------------------------------- SQLite's files made immutable under the service


def chattr(flag: str, *paths: str) -> bool:
    done = subprocess.run(["chattr", flag, *paths], capture_output=True, text=True)
    return done.returncode == 0


def test_sqlite_files_made_immutable_under_the_service_get_503_read_only_not_a_dead_process(
    api: Api, backend: str, tmp_path: Path
) -> None:
    """Issue 19: the database's files made immutable (``chattr +i``) killed the service with SIGBUS (SQLite
    maps its shared-memory index, which could then not grow) and no log line."""
    if backend != "sqlite":
        pytest.skip("SQLite's files")
    path = api.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    if not chattr("-i", path):
        pytest.skip("chattr is not available here (it needs root and a file system that keeps the flag)")
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    today = datetime.now(UTC).date().isoformat()
    port, log = free_port(), tmp_path / "serve.log"
    process = start_serving(api, port, log)
    files = [name for name in (path, path + "-wal", path + "-shm") if Path(name).exists()]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def deposit(key: str) -> httpx.Response:
                return client.post(
                    CONTRIBUTIONS,
                    json=deposit_body(donor, "5.00", today),
                    headers={**officer.headers, "Idempotency-Key": key},
                )

            assert deposit("before").status_code == 201
            created = api.db.count("contributions")
            assert chattr("+i", *files)
            for n in range(20):
                refused = deposit(f"immutable-{n}")
                body = assert_problem(refused, 503)
                assert body["type"] == PROBLEM_TYPE + "database-read-only", body
                assert int(refused.headers["Retry-After"]) > 0
            assert client.get("/api/v1/contributors", headers=admin.headers).status_code == 200
            assert assert_problem(client.get("/health/ready"), 503)["type"] == PROBLEM_TYPE + "database-read-only"
            assert process.poll() is None, log.read_text()[-3000:]
            assert chattr("-i", *files)
            assert client.get("/health/ready").status_code == 200
            assert deposit("immutable-0").status_code == 201
        assert api.db.count("contributions") == created + 1
        assert "database-read-only" in log.read_text()  # each refusal is logged
    finally:
        chattr("-i", *files)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
