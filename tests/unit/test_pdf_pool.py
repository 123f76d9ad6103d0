"""PDF rendering in worker processes (reports/pdf_pool.py): the report crosses to the worker intact, the
PDF comes back whole, and the caller's event loop keeps running while the worker renders."""

from __future__ import annotations

import asyncio
import io
import os
import pickle
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from reports import i18n, pdf_pool
from reports.document import Amount, Column, ColumnKind, EntryQuery, Label, Note, Ratio, Report, Row, RowStyle, Table

i18n.register(
    {
        "test_pdf_pool.title": {
            "en": "Status of the pooled fund",
            "es": "Situación del fondo común",
            "fr": "Situation du fonds commun",
        },
        "test_pdf_pool.table": {"en": "Grants", "es": "Subvenciones", "fr": "Subventions"},
        "test_pdf_pool.grant": {"en": "Grant", "es": "Subvención", "fr": "Subvention"},
        "test_pdf_pool.amount": {"en": "Amount", "es": "Importe", "fr": "Montant"},
        "test_pdf_pool.share": {"en": "Share", "es": "Proporción", "fr": "Part"},
        "test_pdf_pool.total": {"en": "Total", "es": "Total", "fr": "Total"},
        "test_pdf_pool.note": {"en": "Basis", "es": "Base", "fr": "Base"},
        "test_pdf_pool.basis": {
            "en": "Figures in the reporting currency.",
            "es": "Cifras en la moneda de presentación.",
            "fr": "Montants dans la monnaie de présentation.",
        },
    }
)

GRANTS = 120  # enough rows for a few pages, so the render takes a while


def synthetic_report() -> Report:
    rows = tuple(
        Row(
            (
                f"Grant {n:03d}: skills passports <and> fair recruitment",
                Amount(1_000_000 + n * 12_345, "USD", EntryQuery(accounts=("8500",), grant_id=n)),
                Ratio.of(n, GRANTS),
            ),
            level=1,
        )
        for n in range(1, GRANTS + 1)
    )
    total = sum(1_000_000 + n * 12_345 for n in range(1, GRANTS + 1))
    table = Table(
        "grants",
        Label.of("test_pdf_pool.table"),
        (
            Column("grant", Label.of("test_pdf_pool.grant"), ColumnKind.TEXT),
            Column("amount", Label.of("test_pdf_pool.amount"), ColumnKind.MONEY),
            Column("share", Label.of("test_pdf_pool.share"), ColumnKind.PERCENT),
        ),
        (*rows, Row((Label.of("test_pdf_pool.total"), Amount(total, "USD"), None), RowStyle.TOTAL)),
    )
    return Report(
        name="funds-available",
        title=Label.of("test_pdf_pool.title"),
        currency="USD",
        generated_at=datetime(2027, 1, 20, 9, 0, tzinfo=UTC),
        ledger_head="ab" * 32,
        date_from=None,
        date_to=date(2026, 12, 31),
        tables=(table,),
        subject="Pooled fund",
        notes=(Note(Label.of("test_pdf_pool.note"), (Label.of("test_pdf_pool.basis"),)),),
        parameters={"as_of": "2026-12-31"},
    )


@pytest.fixture
def workers() -> Iterator[None]:
    yield
    pdf_pool.shutdown()


def test_a_report_pickles_to_an_equal_value() -> None:
    report = synthetic_report()
    assert pickle.loads(pickle.dumps(report)) == report


def test_the_worker_renders_the_pdf_while_the_event_loop_keeps_running(workers: None) -> None:
    report = synthetic_report()

    async def render_and_tick() -> tuple[bytes, int, int]:
        ticks = 0
        rendering = True

        async def ticker() -> None:
            nonlocal ticks
            while rendering:
                await asyncio.sleep(0.005)
                ticks += 1

        counting = asyncio.create_task(ticker())
        try:
            pdf = await pdf_pool.render_pdf(report, "fr", "Facilité de financement des migrations")
        finally:
            rendering = False
            await counting
        return pdf, ticks, await pdf_pool.worker_pid()

    pdf, ticks, worker = asyncio.run(render_and_tick())

    assert worker != os.getpid()
    # The loop went on running its other task during the whole render (a worker's start-up included).
    assert ticks >= 10
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    first_page = reader.pages[0].extract_text()
    assert "Situation du fonds commun" in first_page
    assert "Facilité de financement des migrations".upper() in first_page.upper()  # the header is in capitals
    assert f"Page 1 sur {len(reader.pages)}" in first_page
    assert "Grant 001: skills passports <and> fair recruitment" in first_page


def test_a_new_pool_starts_after_shutdown(workers: None) -> None:
    async def pid() -> int:
        return await pdf_pool.worker_pid()

    first = asyncio.run(pid())
    pdf_pool.shutdown()
    second = asyncio.run(pid())
    assert first != second != os.getpid()


def test_the_workers_run_at_the_priority_the_pool_was_made_with(workers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_pool, "WORKER_NICENESS", 3)
    pdf_pool.shutdown()

    async def pid() -> int:
        return await pdf_pool.worker_pid()

    worker = asyncio.run(pid())
    assert os.getpriority(os.PRIO_PROCESS, worker) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)


def test_the_pool_is_made_with_the_niceness_given(workers: None) -> None:
    pdf_pool.shutdown()

    async def pid() -> int:
        await pdf_pool.render_pdf(synthetic_report(), "en", "Facility", niceness=2)
        return await pdf_pool.worker_pid()

    worker = asyncio.run(pid())
    assert os.getpriority(os.PRIO_PROCESS, worker) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 2)


@pytest.mark.parametrize("rendering", ["pool", "thread"])
def test_the_api_renders_a_pdf_where_the_settings_say(workers: None, rendering: str) -> None:
    from fundapp.core.config import Settings
    from reports.api import pdf_of

    pdf_pool.shutdown()
    settings = Settings(pdf_rendering=rendering, facility_name="Facilité de financement des migrations")
    pdf = asyncio.run(pdf_of(synthetic_report(), "fr", settings))
    first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Situation du fonds commun" in first_page
    # In a thread of this process, no pool is started.
    assert (pdf_pool._pool is not None) == (rendering == "pool")
