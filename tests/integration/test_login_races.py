"""Logins sent at once (issue 19): the failed-login throttle holds under a burst, and the Argon2 hashes that a
burst starts run a bounded number at a time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from litestar import Litestar

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.models import Role
from tests.support import PASSWORD, Api, LiveServer, assert_problem

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(120)]

LOGIN = "/api/v1/auth/login"
WRONG_PASSWORD = "not the right password"


def at_once(url: str, bodies: list[dict[str, str]]) -> list[httpx.Response]:
    """POST every body to the login at the same moment, each from its own client."""
    start = threading.Barrier(len(bodies))

    def send(body: dict[str, str]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait()
            return client.post(LOGIN, json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def live_app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


def test_thirty_wrong_passwords_at_once_get_at_most_the_limit_of_401s_and_429s_after(
    api: Api, settings: Settings, clock: FrozenClock
) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    limit = settings.login_max_failures_per_account
    assert limit == 5 < settings.login_max_failures_per_client

    with LiveServer(live_app(settings, clock)) as server:
        responses = at_once(server.url, [{"username": officer.username, "password": WRONG_PASSWORD}] * 30)
        statuses = Counter(response.status_code for response in responses)
        assert set(statuses) <= {401, 429}, statuses
        assert statuses[401] <= limit, statuses
        assert statuses[429] >= 30 - limit, statuses
        for response in responses:
            if response.status_code == 429:
                assert_problem(response, 429)
                assert int(response.headers["Retry-After"]) > 0
        # Even the right password is held back now: the account's limit is spent.
        right = httpx.post(server.url + LOGIN, json={"username": officer.username, "password": PASSWORD})
        assert right.status_code == 429, right.text
    assert api.db.count("auth_sessions") == 0
    assert api.db.scalar("SELECT count(*) FROM login_failures WHERE username = :u", u=officer.username) == limit


def test_a_right_password_after_a_burst_of_wrong_ones_below_the_limit_gets_in(
    api: Api, settings: Settings, clock: FrozenClock
) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    with LiveServer(live_app(settings, clock)) as server:
        responses = at_once(server.url, [{"username": officer.username, "password": WRONG_PASSWORD}] * 4)
        assert [response.status_code for response in responses] == [401] * 4
        right = httpx.post(server.url + LOGIN, json={"username": officer.username, "password": PASSWORD})
        assert right.status_code == 200, right.text
    # The success cleared the account's failures, its own attempt among them.
    assert api.db.scalar("SELECT count(*) FROM login_failures WHERE username = :u", u=officer.username) == 0


class CountingHasher:
    """Wraps the app's Argon2 hasher: counts how many hashes or verifications run at the same moment (each
    made to last 50 ms, so that a burst overlaps whatever the machine)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0

    def _counted(self, work: Any, *args: Any) -> Any:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return work(*args)
        finally:
            with self.lock:
                self.running -= 1

    def verify(self, *args: Any) -> Any:
        return self._counted(self.inner.verify, *args)

    def hash(self, *args: Any) -> Any:
        return self._counted(self.inner.hash, *args)


def test_a_burst_of_logins_hashes_at_most_the_configured_number_of_passwords_at_once(
    api: Api, settings: Settings, clock: FrozenClock
) -> None:
    users = [api.create_user(Role.AUDITOR) for _ in range(12)]
    assert settings.argon2_max_concurrent == 2
    app = live_app(settings, clock)
    counting = CountingHasher(app.state.hashing._hasher)
    app.state.hashing._hasher = counting

    with LiveServer(app) as server:
        responses = at_once(server.url, [{"username": user.username, "password": PASSWORD} for user in users])

    assert [response.status_code for response in responses] == [200] * 12
    assert counting.calls == 12
    assert counting.most <= settings.argon2_max_concurrent
    assert app.state.hashing.most_running <= settings.argon2_max_concurrent


def test_a_throttled_login_hashes_nothing(api: Api, settings: Settings, clock: FrozenClock) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    app = live_app(settings, clock)
    counting = CountingHasher(app.state.hashing._hasher)
    app.state.hashing._hasher = counting
    with LiveServer(app) as server:
        for _ in range(settings.login_max_failures_per_account):
            wrong = httpx.post(server.url + LOGIN, json={"username": officer.username, "password": WRONG_PASSWORD})
            assert wrong.status_code == 401
        hashed = counting.calls
        responses = at_once(server.url, [{"username": officer.username, "password": PASSWORD}] * 10)
    assert [response.status_code for response in responses] == [429] * 10
    assert counting.calls == hashed
