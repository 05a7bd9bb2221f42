"""A stable fingerprint of a mapped payload, so the diff re-sends only what changed.

The hash must be equal across runs, processes and machines (it is stored), hence canonical JSON
(sorted keys, no whitespace, UTF-8 kept as is) and SHA-256 — never Python's randomized ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(payload: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the payload's canonical JSON."""
    return hashlib.sha256(_ENCODER.encode(payload).encode("utf-8")).hexdigest()
