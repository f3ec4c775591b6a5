"""SHA-256 as hex, the one digest helper of the code base: API keys and tokens are stored as it,
and the consent ledger covers sealed data and policy texts with it."""

from __future__ import annotations

import hashlib


def sha256_hex(value: str | bytes) -> str:
    """The SHA-256 of ``value`` (text as UTF-8), in lowercase hex."""
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()
