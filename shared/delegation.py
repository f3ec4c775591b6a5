"""The signed-in person behind a call that the staff dashboard makes for them.

The dashboard calls the consent service and the notifier with keys of its own. So that what it
does there is recorded as done by the person signed in, not by the dashboard's key, it sends with
each call an assertion: a JWT (RFC 7519, HS256) naming the person and their role, for one service
(``aud``), valid for a minute, signed with ``DONGUI_DELEGATION_SECRET`` (the same in every
service). A service believes it only from a key configured with ``acts_for_people`` (the
dashboard's), and only if the signature, audience and time hold: anyone can set a header, nobody
without the secret can sign one. The person acts with at most the key's own role.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from shared.problems import Unauthorized

#: The request header that carries the assertion.
HEADER = "Dongui-On-Behalf-Of"
#: Base64 of 32 bytes; only for development (a service outside development refuses it where used).
DEVELOPMENT_SECRET = base64.b64encode(b"dongui development delegation key").decode()  # 32 bytes
LIFETIME_SECONDS = 60
_ALGORITHM = "HS256"
_ISSUER = "dongui/dsr"


@dataclass(frozen=True)
class Person:
    username: str
    role: str


def parse_secret(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("DONGUI_DELEGATION_SECRET must be base64 (of 32 random bytes)") from None
    if len(raw) < 32:
        raise ValueError("DONGUI_DELEGATION_SECRET must be at least 32 bytes (base64 of 32 random bytes)")
    return raw


def sign(person: Person, *, audience: str, secret: bytes, now: float | None = None) -> str:
    """The assertion that ``person`` is making the call, for the service ``audience``."""
    issued = int(time.time() if now is None else now)
    claims = {"iss": _ISSUER, "sub": person.username, "role": person.role, "aud": audience,
              "iat": issued, "exp": issued + LIFETIME_SECONDS}
    return jwt.encode({"alg": _ALGORITHM}, claims, OctKey.import_key(secret))


def verify(token: str, *, audience: str, secret: bytes, now: float | None = None) -> Person:
    """The person an assertion names, or :class:`Unauthorized` saying why it is not believed."""
    try:
        decoded = jwt.decode(token, OctKey.import_key(secret), algorithms=[_ALGORITHM])
        registry = jwt.JWTClaimsRegistry(
            now=int(time.time() if now is None else now), leeway=5,
            iss={"essential": True, "value": _ISSUER}, aud={"essential": True, "value": audience},
            sub={"essential": True}, exp={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise Unauthorized(f"The {HEADER} assertion is not valid here: {exc}.") from None
    role = decoded.claims.get("role")
    if not isinstance(role, str):
        raise Unauthorized(f"The {HEADER} assertion names no role.")
    return Person(str(decoded.claims["sub"]), role)
