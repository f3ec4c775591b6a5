"""API keys with roles, sent as ``Authorization: Bearer <key>``.

Keys are looked up by their SHA-256, so the configuration never holds a usable key and the
lookup takes the same time whichever key is sent. No key: 401. A key whose role is not allowed: 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.digests import sha256_hex
from shared.problems import Forbidden, Unauthorized
from shared.settings import ApiKey, Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name (recorded as the actor of what they do) and its role."""

    name: str
    role: Role


class KeyRing:
    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._by_hash = {key.key_sha256: Principal(key.name, key.role) for key in keys}

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be 'Bearer <key>'.")
        principal = self._by_hash.get(sha256_hex(token.strip()))
        if principal is None:
            raise Unauthorized("The API key is not valid.")
        return principal


# Declared so that the OpenAPI document (and /docs) shows the bearer scheme; checking is ours.
_bearer = HTTPBearer(auto_error=False, description="An API key: Authorization: Bearer <key>")
#: The API-key scheme itself, for a route that reads the key without ``require`` (as a dependency
#: it checks nothing; it puts the scheme in the route's OpenAPI ``security``).
API_KEY_SCHEME = _bearer


def require(*roles: Role):
    """A FastAPI dependency that admits only callers with one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    # async: a plain ``def`` dependency would be run in a worker thread, a hop per request.
    async def dependency(
        request: Request,
        _: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        keyring: KeyRing = request.app.state.keyring
        principal = keyring.authenticate(request.headers.get("authorization"))
        if principal.role not in allowed:
            raise Forbidden(f"This needs the role {names}; the key '{principal.name}' has {principal.role.value}.")
        return principal

    return dependency
