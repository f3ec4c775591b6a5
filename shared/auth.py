"""API keys with roles, sent as ``Authorization: Bearer <key>``.

Keys are looked up by their SHA-256, so the configuration never holds a usable key and the
lookup takes the same time whichever key is sent. No key: 401. A key whose role is not allowed: 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared import recordsig
from shared.delegation import HEADER
from shared.delegation import verify as verify_assertion
from shared.digests import sha256_hex
from shared.directory import Directory, SystemGrant
from shared.problems import Forbidden, Unauthorized
from shared.recordsig import SignatureRefused
from shared.settings import ApiKey, Role


def _utcnow() -> datetime:
    return datetime.now(UTC)


#: The development key, as configured in development only (``ServiceSettings.effective_api_keys``).
_DEVELOPMENT_KEY_SHA256 = sha256_hex(recordsig.DEVELOPMENT_KEY)
_DEVELOPMENT_SIGNING_KEY = recordsig.signing_key(recordsig.DEVELOPMENT_KEY)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name (recorded as the actor of what they do) and its role; for a
    clinic system, the system its key is bound to and what the registry grants that system."""

    name: str
    role: Role
    system_id: str | None = None
    key_id: str | None = None
    #: The system's registration as this service knows it (None: not registered here yet).
    grant: SystemGrant | None = None
    #: When a person acts through the dashboard: the dashboard key's name (``name`` is theirs).
    via: str | None = None
    #: The request service's key: it gets subjects' private transit keys (``ApiKey.opens_sealed``).
    opens_sealed: bool = False
    #: The notifier's key: it reads a requester's contact to tell them (``ApiKey.tells_requesters``).
    tells_requesters: bool = False


class KeyRing:
    """The keys a service accepts: those configured (staff, the privacy manager, the services'
    own, the development keys) and the clinic systems' issued keys (``shared.directory``)."""

    def __init__(self, keys: Iterable[ApiKey], directory: Directory | None = None, *,
                 development_grants: dict[str, SystemGrant] | None = None,
                 clock: Callable[[], datetime] = _utcnow,
                 delegation: tuple[bytes, str] | None = None) -> None:
        self._by_hash = {key.key_sha256: key for key in keys}
        #: (secret, this service's name): how a person named by the dashboard is believed.
        self.delegation = delegation
        self.directory = directory
        #: Development only: what a development key's system may do until its registration arrives.
        self.development_grants = development_grants or {}
        self.clock = clock

    def authenticate(self, authorization: str | None, on_behalf_of: str | None = None) -> Principal:
        """The caller of a request with these ``Authorization`` and ``Dongui-On-Behalf-Of`` headers."""
        principal = self._key(authorization, on_behalf_of)
        if on_behalf_of and principal.via is None:
            raise Forbidden(f"The key '{principal.name}' may not act on behalf of a person; only the staff "
                            f"dashboard's keys (acts_for_people) may.")
        return principal

    def _person(self, configured: ApiKey, key: Principal, assertion: str) -> Principal:
        if not configured.acts_for_people or self.delegation is None:
            return key  # refused by authenticate, which sees no ``via``
        secret, audience = self.delegation
        person = verify_assertion(assertion, audience=audience, secret=secret)
        rank = {Role.staff: 1, Role.privacy_manager: 2}
        if person.role not in {r.value for r in rank}:
            raise Unauthorized(f"The person named by {HEADER} has no staff role ('{person.role}').")
        # The person acts with their own role, and never more than the dashboard key's.
        role = min(Role(person.role), key.role, key=lambda r: rank.get(r, 0))
        return Principal(person.username, role, via=key.name)

    def _key(self, authorization: str | None, on_behalf_of: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be 'Bearer <key>'.")
        digest = sha256_hex(token.strip())
        configured = self._by_hash.get(digest)
        if configured is not None:
            if configured.system_id is None:
                principal = Principal(configured.name, configured.role, opens_sealed=configured.opens_sealed,
                                      tells_requesters=configured.tells_requesters)
                if on_behalf_of and (configured.opens_sealed or configured.tells_requesters):
                    raise Forbidden(f"The key '{configured.name}' is a service's own; it acts for no person.")
                return self._person(configured, principal, on_behalf_of) if on_behalf_of else principal
            return self._system(configured.name, configured.system_id, None)
        issued = self.directory.key(digest) if self.directory is not None else None
        if issued is None:
            raise Unauthorized("The API key is not valid.")
        if issued.expires_at is not None and issued.expires_at <= self.clock():
            raise Unauthorized(f"The API key '{issued.key_id}' expired; ask the privacy manager for a new one.")
        return self._system(issued.system_id, issued.system_id, issued.key_id)

    def system(self, system_id: str) -> SystemGrant | None:
        """The system's grant: its registration here, or (development) the development one."""
        grant = self.directory.system(system_id) if self.directory is not None else None
        return grant if grant is not None else self.development_grants.get(system_id)

    def system_with_source(self, source: str) -> SystemGrant | None:
        """The active system that publishes as ``source``, or None: an event from it is refused."""
        grant = self.directory.system_with_source(source) if self.directory is not None else None
        if grant is None:
            grant = next((g for g in self.development_grants.values() if g.source == source), None)
            if grant is not None and self.directory is not None and self.directory.system(grant.system_id):
                grant = None  # registered since, under another source
        return grant if grant is not None and grant.retired_at is None else None

    def record_signer(self, topic: str, value: bytes | None, headers: recordsig.Headers | None) -> str:
        """The clinic system that signed this Kafka record of ``topic`` (``shared.recordsig``), or
        :class:`SignatureRefused` saying why no system did. From memory: no database round trip."""
        key_id = recordsig.verify(topic, value, headers, self._signing_key)
        if key_id == recordsig.DEVELOPMENT_KEY:
            configured = self._by_hash.get(_DEVELOPMENT_KEY_SHA256)
            assert configured is not None and configured.system_id is not None  # _signing_key checked it
            return configured.system_id
        signer = self.directory.signer(key_id) if self.directory is not None else None
        assert signer is not None  # _signing_key found it
        return signer.system_id

    def _signing_key(self, key_id: str) -> bytes:
        """The signing key of a live key, or :class:`SignatureRefused` saying why it signs nothing."""
        if key_id == recordsig.DEVELOPMENT_KEY:
            configured = self._by_hash.get(_DEVELOPMENT_KEY_SHA256)
            if configured is None or configured.system_id is None:
                raise SignatureRefused(f"signed with the development key '{key_id}', which signs only in development")
            return _DEVELOPMENT_SIGNING_KEY
        signer = self.directory.signer(key_id) if self.directory is not None else None
        if signer is None:
            raise SignatureRefused(f"signed with the key '{key_id}', which is not a key of any clinic system")
        if signer.revoked_at is not None:
            raise SignatureRefused(f"signed with the key '{key_id}', which was revoked on "
                                   f"{signer.revoked_at:%Y-%m-%d %H:%M} UTC")
        if signer.expires_at is not None and signer.expires_at <= self.clock():
            raise SignatureRefused(f"signed with the key '{key_id}', which expired on "
                                   f"{signer.expires_at:%Y-%m-%d %H:%M} UTC; ask the privacy manager for a new one")
        grant = self.system(signer.system_id)
        if grant is not None and grant.retired_at is not None:
            raise SignatureRefused(f"signed with the key '{key_id}' of the system '{signer.system_id}', which was "
                                   f"retired; its keys work no more")
        if signer.signing_key is None:
            raise SignatureRefused(f"signed with the key '{key_id}', which was issued before Kafka records were "
                                   f"signed and has no signing key: ask the privacy manager to issue a new key "
                                   f"(POST /v1/systems/{signer.system_id}/keys) and sign with it")
        return signer.signing_key

    def _system(self, name: str, system_id: str, key_id: str | None) -> Principal:
        grant = self.system(system_id)
        if grant is not None and grant.retired_at is not None:
            raise Unauthorized(f"The system '{system_id}' was retired; its keys work no more.")
        return Principal(name, Role.system, system_id=system_id, key_id=key_id, grant=grant)


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
        principal = keyring.authenticate(request.headers.get("authorization"), request.headers.get(HEADER))
        if principal.role not in allowed:
            raise Forbidden(f"This needs the role {names}; the key '{principal.name}' has {principal.role.value}.")
        return principal

    return dependency
