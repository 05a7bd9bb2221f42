"""The compact hash stored in ``stat_items.sent_hash``.

A signed 64-bit integer (8 bytes of BLAKE2b) fits a BIGINT column in both databases and keeps
a 1,000,000-row table small; a collision between two versions of the *same* (content, learner)
item is what would matter, and at 2**-64 it would cost one unsent update.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def compact_hash(data: str | bytes | Mapping[str, Any]) -> int:
    """Signed 64-bit hash of ``data``; a mapping is hashed as canonical JSON (sorted keys)."""
    if isinstance(data, Mapping):
        data = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(data, str):
        data = data.encode("utf-8")
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
