"""Helpers for the jobs' tests: a local SMTP server (aiosmtpd) that keeps what it receives, settings that send
to it, and the job functions run on the test's clock."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.jobs import Jobs, TickReport, jobs_for
from tests.conftest import make_settings
from tests.support import Api


class Inbox:
    """The messages the test SMTP server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received() if m["To"] == address]

    def keys(self) -> list[str]:
        return sorted(str(m["X-Fundapp-Notification"]) for m in self.received())

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        """At least ``count`` messages, waiting for a worker running beside the test (bounded)."""
        return wait_until(lambda: len(self.received()) >= count, timeout, f"{count} messages") or self.received()


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it is true (a worker runs beside the test on the wall clock); fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout} s for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def smtp_settings(database_url: str, var_dir: Path, inbox: Inbox, **overrides: str) -> Settings:
    return make_settings(
        database_url,
        var_dir,
        FUNDAPP_SMTP_HOST=inbox.host,
        FUNDAPP_SMTP_PORT=str(inbox.port),
        FUNDAPP_SMTP_FROM="secretariat@cmff.example",
        FUNDAPP_PUBLIC_URL="https://cmff.example",
        **overrides,
    )


def tick(api: Api, clock: FrozenClock | None = None) -> TickReport:
    """One run of every job function on the test's clock, as the scheduler runs it."""

    async def work(database: Database) -> TickReport:
        jobs: Jobs = jobs_for(database, api.settings, clock or api.clock)
        return await jobs.tick()

    return api.db.run(work)


def set_language(api: Api, headers: dict[str, str], locale: str, time_zone: str | None = None) -> None:
    response = api.client.patch("/api/v1/me", json={"locale": locale, "time_zone": time_zone}, headers=headers)
    assert response.status_code == 200, response.text
