"""Serving the API: uvicorn, in one process or in several worker processes that share the port.

With several workers on Linux, each worker opens its own listening socket on the same address with
``SO_REUSEPORT``, and the kernel spreads new connections over the workers. uvicorn's own supervisor
shares one listening socket instead: every idle worker wakes for a new connection and the first one takes
all that are waiting, so a burst of keep-alive clients lands on one worker while the others idle (measured
in ``bench/voting.py``: 17.3 s of CPU in one worker against 0.5 s in the other).

The supervisor stops every worker when one of them exits (a worker that cannot bind, or crashes) and
exits with that worker's code; restarting the service is the process manager's job (systemd, the
container runtime). SIGINT and SIGTERM stop the workers gracefully (each finishes its requests); a
connection still waiting unaccepted in a stopping worker's queue is reset, as with any listener that
closes.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

APP = "fundapp.app:create_app"
STOP_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    access_log: bool = True
    log_format: str = "json"

    def uvicorn_config(self) -> dict[str, Any]:
        from fundapp.core.logs import log_config

        config = log_config(self.log_level, json_lines=self.log_format == "json")
        if not self.access_log:
            config["loggers"]["fundapp.request"] = {"level": "WARNING"}
        return {
            "factory": True,
            "log_level": self.log_level,
            # Each request's line is the service's own (fundapp.request: JSON with its request id), logged
            # inside the request; uvicorn's access line would be logged outside it.
            "access_log": False,
            "log_config": config,
            "proxy_headers": False,
            # h11 (when it parses HTTP) buffers a request's head up to this; a head within it reaches the
            # service, whose edge answers headers over 16 KiB with a 431 problem (fundapp/core/edge.py).
            "h11_max_incomplete_event_size": 64 * 1024,
        }


def prepare_multiprocess_metrics(workers: int) -> str | None:
    """Several workers count in files of one fresh folder that every worker reads at a scrape (prometheus-
    client's multiprocess mode; docs/operations.md, "Metrics"). Set before the workers start. Returns the folder
    when this made it (the service removes it when it stops), None otherwise."""
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = tempfile.mkdtemp(prefix="fundapp-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        return folder
    return None


def reuse_port_supported() -> bool:
    """``SO_REUSEPORT`` balances connections across sockets on Linux only (BSD and macOS do not)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other workers of this service (same user) may bind beside."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class PortInUse(OSError):
    """Something already listens on the address: another program, or another fundapp whose sockets also
    allow ``SO_REUSEPORT`` (which the kernel would let this one join, splitting the connections between two
    services)."""


def ensure_port_free(host: str, port: int) -> None:
    """Bind the address once without ``SO_REUSEPORT``: that fails while any socket listens there, whatever its
    options. The probe is closed before the workers bind theirs (they all set ``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no user
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(error.errno, f"{host}:{port} is already in use ({error.strerror})") from error


def _worker(options: ServeOptions) -> None:
    import uvicorn

    faulthandler.enable()

    config = uvicorn.Config(APP, **options.uvicorn_config())
    # The application is loaded before the socket joins the port's group: the kernel hands a worker
    # connections from the moment it listens, and they would wait in its queue while it imported.
    config.load()
    try:
        sock = listening_socket(options.host, options.port)
    except OSError as error:
        print(f"fundapp worker {os.getpid()}: cannot listen on {options.host}:{options.port}: {error}", file=sys.stderr)
        raise SystemExit(3) from error
    uvicorn.Server(config).run(sockets=[sock])


def serve(options: ServeOptions) -> int:
    """Serve until interrupted; the exit code is 0 after a requested stop, a worker's code otherwise."""

    # A fatal signal (SIGBUS, SIGSEGV: a fault under a C library, as SQLite's on a file it may not grow) writes
    # the Python traceback of every thread to stderr before the process dies, instead of nothing at all.
    faulthandler.enable()

    metrics = prepare_multiprocess_metrics(options.workers)
    try:
        return _serve(options)
    finally:
        if metrics is not None:
            shutil.rmtree(metrics, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def _serve(options: ServeOptions) -> int:
    import uvicorn

    if options.workers <= 1 or not reuse_port_supported():
        uvicorn.run(APP, host=options.host, port=options.port, workers=options.workers, **options.uvicorn_config())
        return 0
    try:
        ensure_port_free(options.host, options.port)
    except PortInUse as error:
        print(f"fundapp: cannot listen on {options.host}:{options.port}: {error.strerror}", file=sys.stderr)
        return 3
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = [
        context.Process(target=_worker, args=(options,), name=f"fundapp-worker-{n}") for n in range(options.workers)
    ]
    stop_requested = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for worker in workers:
            worker.start()
        while not stop_requested and all(worker.is_alive() for worker in workers):
            time.sleep(0.2)
        failed = next((worker for worker in workers if not worker.is_alive()), None)
        _stop(workers)
        if stop_requested or failed is None:
            return 0
        return failed.exitcode or 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(workers: list[BaseProcess]) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL for a worker still running after the grace."""
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join()
