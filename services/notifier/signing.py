"""Webhook signatures: how the notifier signs a POST, and how a receiver checks it.

Standard library only, so a receiver can copy this file as it is. Every webhook request carries::

    X-Dongui-Timestamp: 1767225600                 Unix seconds when it was signed
    X-Dongui-Signature: v1=<64 lower-case hex>     HMAC-SHA256(secret, timestamp + "." + body)
    X-Dongui-Notification-Id: <uuid>               the same on every retry of one notification

The timestamp is inside the MAC, so it cannot be changed without the secret. A receiver refuses
a request whose timestamp is more than ``tolerance`` seconds away from its clock (an old request
replayed) and, within that window, one whose notification id it has already accepted (a
retry, or a replay: answer it 2xx and do nothing). During a secret rotation the header may carry
several comma-separated ``v1=`` values; one that matches is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Dongui-Timestamp"
SIGNATURE_HEADER = "X-Dongui-Signature"
NOTIFICATION_ID_HEADER = "X-Dongui-Notification-Id"
DEFAULT_TOLERANCE = 300


def _mac(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The X-Dongui-Signature value for ``body`` sent at ``timestamp``."""
    return "v1=" + _mac(secret, str(timestamp), body)


def verify_signature(
    secret: str | bytes,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``signature`` is a valid v1 signature of ``body`` at a ``timestamp`` within
    ``tolerance`` seconds of ``now``. Pass the raw body bytes, exactly as received."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    for part in signature.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and hmac.compare_digest(value.strip().lower().encode(), expected.encode()):
            return True
    return False
