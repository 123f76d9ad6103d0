"""Time, injected: the app holds one clock, so tests can move time instead of sleeping."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class Clock:
    """The wall clock, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock(Clock):
    """A clock that moves only when told to (tests, demos with fixed dates)."""

    current: datetime = field(default_factory=lambda: datetime.now(UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        with self._lock:
            return self.current

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self.current = self.current + timedelta(**delta)
            return self.current
