"""One canonical form and one hash for whatever fundapp chains or compares: the audit log, the journal and each
decision's record (hash chains that start from :data:`GENESIS_HASH`), and the payload hashes behind
idempotency keys.

- :func:`canonical_json`: one text for one value: sorted keys, no spaces, UTF-8 kept; datetimes in UTC ISO
  form, Decimals and Enums as strings, sets sorted, tuples as lists, anything else as ``str()``. The records
  that are hashed are built of JSON values already (their dates and times as text), so the fallbacks never
  change a stored hash.
- :func:`digest`: SHA-256 (hex) of a value's canonical form. A chain's link is the digest of a record that
  names the previous link; each chain says which fields its record has (``audit.event_hash``,
  ``ledger.rules.entry_hash``, ``governance.rules.decision_event_hash``).

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

# The link before a chain's first record.
GENESIS_HASH = "0" * 64


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def canonical_json(value: Any) -> str:
    """One text for one value: sorted keys, no spaces, UTF-8 kept, non-JSON types as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s canonical form: a chain's link, or a payload's hash."""
    return sha256_hex(canonical_json(value))
