"""Idempotency keys scoped to who sent them.

A client's ``Idempotency-Key`` names a request of its sender only: another user sending the same key sends
another request (it never gets the first one's result back, nor is it refused because of it). Keys are
stored as ``"{user_id}/{key}"`` (``0`` for the system), so two users' keys never meet; the keys the system
derives itself (``grant-disbursement:6``, ``entry-request:12``...) are written on journal entries, a column no
request writes, so no client key can take one of them.
"""

from __future__ import annotations

SYSTEM_SCOPE = 0


def scoped_key(user_id: int | None, key: str | None) -> str | None:
    """The stored form of ``key`` sent by ``user_id`` (None: the system); None stays None."""
    if key is None:
        return None
    return f"{user_id if user_id is not None else SYSTEM_SCOPE}/{key}"


def client_key(stored: str | None) -> str | None:
    """The key as its sender wrote it (what ``scoped_key`` stored); a key stored before scoping is unchanged."""
    if stored is None:
        return None
    scope, separator, key = stored.partition("/")
    return key if separator and scope.isdigit() else stored
