"""PDF rendering in a small pool of worker processes, so the service's event loop keeps answering.

WeasyPrint is CPU-bound Python: in a thread it holds the GIL for most of a render (seconds for a long
report), and every other request of the process waits for it. In another process it only competes for
a core. The pool is made on first use, with ``forkserver`` workers (a clean interpreter each, never a fork
of a process that runs an event loop and database connections) that import WeasyPrint once. At most
:data:`MAX_WORKERS` PDFs render at once; others wait in the pool's queue. As with any ``forkserver`` or
``spawn`` pool, a worker imports the program's main module: it must start nothing at import (an
``if __name__ == "__main__"`` guard; uvicorn's and the ``fundapp`` script's entry points have one).

The :class:`~reports.document.Report` value crosses to the worker by pickling (plain frozen dataclasses),
with the labels' words: report modules register their words when imported (``reports/i18n.py``), and a
worker has imported only the renderer, so each job carries the parent's catalogue. The PDF's bytes come
back the same way. ``shutdown()`` stops the workers (the app calls it when it
stops; the interpreter's exit does it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from reports import i18n
from reports.document import Report

# One worker on a 2-core machine leaves a core to the event loop; never more than two.
MAX_WORKERS = max(1, min(2, (os.cpu_count() or 1) - 1))
# Added to the workers' nice value when a pool starts and no niceness is given (0: the service's priority);
# the service gives FUNDAPP_PDF_WORKER_NICENESS. Measured with bench/reports.py: at +10 the small reads' p99
# during a render was no better, and on a busy machine a 55-page PDF took 2 to 4 times as long
# (docs/performance.md, Reports).
WORKER_NICENESS = 0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _start_worker(niceness: int) -> None:
    """Runs once in each worker: its priority, and the renderer (and WeasyPrint) imported ahead of use."""
    if niceness:
        with contextlib.suppress(OSError):  # not permitted here: render at the normal priority
            os.nice(niceness)
    import reports.render  # noqa: F401 - the import is the warm-up


def _render(report: Report, locale: str, facility_name: str, words: Mapping[str, Mapping[str, str]]) -> bytes:
    """In a worker: the report as PDF bytes, in the words of the parent's catalogue."""
    from reports import render

    i18n.register(words)
    return render.to_pdf(report, locale, facility_name=facility_name)


def _worker_pid() -> int:
    return os.getpid()


def pool(niceness: int | None = None) -> ProcessPoolExecutor:
    """The process's PDF pool, made on first use, its workers' nice value raised by ``niceness``
    (:data:`WORKER_NICENESS` if not given); a pool already running keeps the priority it was made with."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=MAX_WORKERS,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker,
                initargs=(WORKER_NICENESS if niceness is None else niceness,),
            )
        return _pool


async def render_pdf(report: Report, locale: str, facility_name: str, *, niceness: int | None = None) -> bytes:
    """The report as an A4 PDF, rendered in a worker process; the caller's event loop stays free. ``niceness``
    is the workers' priority if this call starts the pool (see :func:`pool`)."""
    executor = pool(niceness)
    loop = asyncio.get_running_loop()
    try:
        words = {key: dict(translations) for key, translations in i18n.catalogue().items()}
        return await loop.run_in_executor(executor, _render, report, locale, facility_name, words)
    except BrokenProcessPool:
        # A worker died (killed, out of memory): this render fails, the next one gets a fresh pool.
        _discard(executor)
        raise


async def worker_pid() -> int:
    """The process id of a worker (tests use it to show the render runs outside the caller's process)."""
    return await asyncio.get_running_loop().run_in_executor(pool(), _worker_pid)


def _discard(executor: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is executor:
            _pool = None
    executor.shutdown(wait=False, cancel_futures=True)


def shutdown(*, wait: bool = True) -> None:
    """Stop the workers (renders waiting in the queue are cancelled); the next render starts a new pool."""
    global _pool
    with _lock:
        executor, _pool = _pool, None
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=True)
