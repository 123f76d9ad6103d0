"""``fundapp serve --workers N``: worker processes that share the port, each with its own socket."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fundapp.server import reuse_port_supported

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux's")

FUNDAPP = [sys.executable, "-c", "import sys; from fundapp.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "FUNDAPP_ENV": "test",
        "FUNDAPP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "FUNDAPP_SECRET_KEY": "serve-test-" + "k" * 40,
        "FUNDAPP_VAR_DIR": str(tmp_path / "var"),
        # The service's temporary folders (the workers' metrics) go here, where the tests can see them.
        "TMPDIR": str(tmp_path / "tmp"),
    }
    (tmp_path / "tmp").mkdir()
    subprocess.run([*FUNDAPP, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    return env


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


ESTABLISHED, LISTEN = "01", "0A"  # TCP states as /proc/net/tcp writes them


def sockets_on(pid: int, port: int, state: str) -> int:
    """How many TCP sockets on local ``port`` in ``state`` the process ``pid`` holds open."""
    inodes = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process has ended
        return 0
    for fd in descriptors:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == state and fields[9] in inodes:
            count += 1
    return count


@pytest.fixture
def served(environment: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        [*FUNDAPP, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("fundapp serve did not answer within 60 s")
    # The first worker may answer before the second has bound its socket: wait until both listen.
    while time.monotonic() < deadline:
        if sum(1 for pid in children(process.pid) if sockets_on(pid, port, LISTEN)) >= 2:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("both workers of fundapp serve were not listening within 60 s")
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_connections_are_spread_over_the_workers_and_a_stop_ends_them_all(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    workers = children(process.pid)  # the two workers (and multiprocessing's resource tracker)
    connections = []
    try:
        for _ in range(24):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connections.append(connection)  # kept alive: each stays with the worker that accepted it
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
        held = {pid: sockets_on(pid, port, ESTABLISHED) for pid in workers}
    finally:
        for connection in connections:
            connection.close()
    serving = [pid for pid, count in held.items() if count]
    # 24 connections hashed over two sockets: both workers hold some (all on one: odds about 1 in 8 million).
    assert len(serving) == 2, held
    assert sum(held.values()) == 24

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if running(pid)]


def test_the_workers_metrics_folder_is_made_at_the_start_and_removed_at_the_stop(
    served: tuple[subprocess.Popen[bytes], int], environment: dict[str, str]
) -> None:
    process, _port = served
    folders = list(Path(environment["TMPDIR"]).glob("fundapp-metrics-*"))
    assert len(folders) == 1 and folders[0].is_dir()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not folders[0].exists()


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_port_taken_by_another_program_stops_the_service_with_an_error(environment: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = subprocess.run(
            [*FUNDAPP, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "on SQLite one worker is better" in result.stderr  # the database of this test is SQLite


def test_a_port_another_service_shares_with_so_reuseport_stops_the_service_with_an_error(
    environment: dict[str, str],
) -> None:
    # Another fundapp (or any program) listening with SO_REUSEPORT: the kernel would let the workers join its
    # port and split the connections between two services; the supervisor refuses to start instead.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [*FUNDAPP, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 3, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "already in use" in result.stderr
