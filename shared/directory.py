"""Clinic systems' keys and grants, as every replica of every service knows them.

The request service owns the registry: the privacy manager registers each clinic system (the
CloudEvents ``source`` it publishes as, the purposes it may check, the rights granted to it),
issues its keys and revokes them (``services/dsr``). Each change is written there and published on
``dsr.systems`` (a compacted topic: the newest state of each system and each key); the consent
service and the notifier copy it into their own schema's ``systems`` and ``system_keys`` tables
(:func:`apply`). In all three, a write to those tables notifies ``<schema>_systems`` in its
transaction, and each replica's :class:`Directory` reloads them on that notification (and every
:data:`REFRESH_SECONDS` in case one was missed): a revoked key stops working on every replica as
soon as the change reaches its service.

Only a key's SHA-256 is stored or published; the key itself is shown once, to the manager who
issued it. What is kept besides is the key's *signing key* (``shared.recordsig``: derived from the
key when it is issued, the only moment the key is at hand), with which the services check the
records the system produces on Kafka: encrypted at rest under each service's master key, and on
``dsr.systems`` under a key derived from ``DONGUI_DELEGATION_SECRET``, which only the services hold
(:class:`SigningKeys`). A revoked key's signing key is forgotten.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import ConsumerRecord
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from shared.cloudevents import CloudEvent, canonical_json
from shared.consumer import Handler, Reject, read_event
from shared.digests import sha256_hex
from shared.events import SystemChanged, SystemKeyChanged, Topic, model_for
from shared.loops import run_woken

log = logging.getLogger(__name__)

#: How often a replica reloads without a notification (a notification lost to a reconnect).
REFRESH_SECONDS = 5.0
#: A system key: this prefix, the hex of its key id, a dot and 43 characters of randomness (32 bytes).
KEY_PREFIX = "dgk_"


@dataclass(frozen=True)
class SystemGrant:
    """What one clinic system may do, beyond what every system may."""

    system_id: str
    source: str | None
    purposes: frozenset[str]
    rights: frozenset[str]
    retired_at: datetime | None = None


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    system_id: str
    name: str
    expires_at: datetime | None


class SigningKeyUnreadable(Exception):
    """A ``system.key-changed`` event's signing key cannot be opened with this deployment's secret."""


@dataclass(frozen=True)
class Signer:
    """What checks the Kafka records a key signed (``shared.recordsig``)."""

    key_id: str
    system_id: str
    #: None: the key was issued before records were signed, or it was revoked.
    signing_key: bytes | None
    expires_at: datetime | None
    revoked_at: datetime | None


class SigningKeys:
    """A clinic system key's signing key, encrypted (AES-256-GCM, bound to its key id):

    * at rest, in ``system_keys.wrapped_signing_key`` of each service, under that service's master
      key (``<PREFIX>MASTER_KEY``, as ``shared.crypto`` wraps the per-subject keys);
    * on ``dsr.systems`` (``SystemKeyChanged.encrypted_signing_key``), under a key derived (HKDF)
      from ``DONGUI_DELEGATION_SECRET``: the topic is readable by any consumer of the broker, and
      only the three services hold that secret.
    """

    _AT_REST = b"system-signing-key:"
    _IN_TRANSIT = b"dsr.systems signing key:"

    def __init__(self, master_key: bytes, delegation_secret: bytes) -> None:
        self._at_rest = AESGCM(master_key)
        transit = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"dongui dsr.systems signing keys v1").derive(delegation_secret)
        self._in_transit = AESGCM(transit)

    @staticmethod
    def _seal(aead: AESGCM, label: bytes, key_id: str, signing_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + aead.encrypt(nonce, signing_key, label + key_id.encode())

    @staticmethod
    def _open(aead: AESGCM, label: bytes, key_id: str, sealed: bytes) -> bytes:
        return aead.decrypt(sealed[:12], sealed[12:], label + key_id.encode())

    def wrap(self, key_id: str, signing_key: bytes) -> bytes:
        """For this service's ``system_keys.wrapped_signing_key``."""
        return self._seal(self._at_rest, self._AT_REST, key_id, signing_key)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return self._open(self._at_rest, self._AT_REST, key_id, wrapped)

    def for_transit(self, key_id: str, signing_key: bytes) -> str:
        """For a ``system.key-changed`` event: base64url, without padding."""
        sealed = self._seal(self._in_transit, self._IN_TRANSIT, key_id, signing_key)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def from_transit(self, key_id: str, text: str) -> bytes:
        """The signing key a ``system.key-changed`` event carries; :class:`SigningKeyUnreadable` if
        it cannot be opened (not ours, another key's, changed)."""
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return self._open(self._in_transit, self._IN_TRANSIT, key_id, sealed)
        except (binascii.Error, ValueError, InvalidTag):
            raise SigningKeyUnreadable("the signing key cannot be opened with this deployment's "
                                       "DONGUI_DELEGATION_SECRET") from None


def new_key() -> tuple[str, str, str]:
    """A fresh system key: ``(key_id, key, its SHA-256)``. Only the hash is kept."""
    ident = secrets.token_hex(8)
    key = f"{KEY_PREFIX}{ident}.{secrets.token_urlsafe(32)}"
    return f"key.{ident}", key, sha256_hex(key)


#: The consent service's and the notifier's copy of the registry (their migrations create it).
REPLICA_DDL = """
CREATE TABLE systems (
    system_id  text PRIMARY KEY,
    source     text,
    purposes   text[] NOT NULL,
    rights     text[] NOT NULL,
    retired_at timestamptz,
    updated_at timestamptz NOT NULL
);
CREATE TABLE system_keys (
    key_id     text PRIMARY KEY,
    system_id  text NOT NULL,
    name       text NOT NULL,
    key_sha256 text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz
);
"""


#: The CloudEvents extension attribute carrying a ``dsr.systems`` event's signature.
SIGNATURE_ATTRIBUTE = "dongsig"


def signature(event: CloudEvent, secret: bytes) -> str:
    """HMAC-SHA256 of the event (its signature attribute left out), with a key derived from the
    deployment's shared secret (``DONGUI_DELEGATION_SECRET``) for this one use: only the services
    hold it, so a clinic system that can write to ``dsr.systems`` still cannot mint a key."""
    key = hmac.new(secret, b"dongui dsr.systems events", hashlib.sha256).digest()
    unsigned = event.model_dump(mode="json", exclude_none=True)
    unsigned.pop(SIGNATURE_ATTRIBUTE, None)
    return hmac.new(key, canonical_json(unsigned), hashlib.sha256).hexdigest()


def signed(event: CloudEvent, secret: bytes) -> CloudEvent:
    return CloudEvent.model_validate({**event.model_dump(mode="json"), SIGNATURE_ATTRIBUTE: signature(event, secret)})


def channel(schema: str) -> str:
    return f"{schema}_systems"


class Directory:
    """The systems and keys of this service's schema, in memory (the live keys by hash, for API
    calls; every key by id, for the Kafka records it signed); :meth:`run` keeps it fresh."""

    def __init__(self, schema: str, signing_keys: SigningKeys | None = None) -> None:
        self.schema = schema
        #: Opens the signing keys of this schema's table (None: none are read).
        self.signing_keys = signing_keys
        self._keys: dict[str, IssuedKey] = {}
        self._signers: dict[str, Signer] = {}
        self._systems: dict[str, SystemGrant] = {}
        self._by_source: dict[str, SystemGrant] = {}
        #: Reloads so far (tests wait on it).
        self.loads = 0

    def key(self, key_sha256: str) -> IssuedKey | None:
        """The live (not revoked) key with this hash; its expiry is the caller's to check."""
        return self._keys.get(key_sha256)

    def signer(self, key_id: str) -> Signer | None:
        """The key with this id, revoked or not, as what checks the records it signs."""
        return self._signers.get(key_id)

    def system(self, system_id: str) -> SystemGrant | None:
        return self._systems.get(system_id)

    def system_with_source(self, source: str) -> SystemGrant | None:
        return self._by_source.get(source)

    async def load(self, conn: asyncpg.Connection) -> None:
        systems = await conn.fetch("SELECT system_id, source, purposes, rights, retired_at FROM systems")
        keys = await conn.fetch(
            "SELECT key_id, system_id, name, key_sha256, expires_at, revoked_at, wrapped_signing_key FROM system_keys"
        )
        self._systems = {
            r["system_id"]: SystemGrant(r["system_id"], r["source"], frozenset(r["purposes"]),
                                        frozenset(r["rights"]), r["retired_at"])
            for r in systems
        }
        # A retired system's source may since be a new system's: only systems in service publish.
        self._by_source = {g.source: g for g in self._systems.values()
                           if g.source is not None and g.retired_at is None}
        self._keys = {r["key_sha256"]: IssuedKey(r["key_id"], r["system_id"], r["name"], r["expires_at"])
                      for r in keys if r["revoked_at"] is None}
        self._signers = {r["key_id"]: Signer(r["key_id"], r["system_id"], self._signing_key(r), r["expires_at"],
                                             r["revoked_at"])
                         for r in keys}
        self.loads += 1

    def _signing_key(self, row: asyncpg.Record) -> bytes | None:
        wrapped = row["wrapped_signing_key"]
        if wrapped is None or row["revoked_at"] is not None or self.signing_keys is None:
            return None
        try:
            return self.signing_keys.unwrap(row["key_id"], wrapped)
        except InvalidTag:  # another master key's: refused as if it had none, and said
            log.error("the signing key of %s cannot be opened with this service's master key", row["key_id"])
            return None

    async def run(self, pool: asyncpg.Pool, dsn: str) -> None:
        """Reload on every change notified in this schema, and every few seconds; until cancelled."""

        async def step() -> bool:
            async with pool.acquire() as conn:
                await self.load(conn)
            return False

        await run_woken(step, name=f"{self.schema} systems directory", dsn=dsn, channel=channel(self.schema),
                        poll_interval=REFRESH_SECONDS)


async def notify(conn: asyncpg.Connection, schema: str) -> None:
    """Tell every replica of this service to reload (sent when the caller's transaction commits)."""
    await conn.execute("SELECT pg_notify($1, '')", channel(schema))


async def apply(conn: asyncpg.Connection, schema: str, event: SystemChanged | SystemKeyChanged,
                signing_keys: SigningKeys) -> None:
    """Copy a ``dsr.systems`` event into this service's tables (a consumer's transaction).

    Each event carries the whole state of its system or key, so applying one is an upsert, and a
    replay or a compacted topic ends in the same tables. A key's signing key is opened from the
    event and kept under this service's master key; once the key is revoked it is forgotten, and
    an older event replayed later does not bring it back. :class:`SigningKeyUnreadable`, before
    anything is written, if the signing key cannot be opened.
    """
    if isinstance(event, SystemChanged):
        await conn.execute(
            "INSERT INTO systems (system_id, source, purposes, rights, retired_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (system_id) DO UPDATE SET source = EXCLUDED.source, "
            "purposes = EXCLUDED.purposes, rights = EXCLUDED.rights, retired_at = EXCLUDED.retired_at, "
            "updated_at = EXCLUDED.updated_at WHERE systems.updated_at <= EXCLUDED.updated_at",
            event.system_id, event.source, event.purposes, event.rights, event.retired_at, event.updated_at,
        )
    else:
        wrapped = None
        if event.encrypted_signing_key is not None and event.revoked_at is None:
            signing_key = signing_keys.from_transit(event.key_id, event.encrypted_signing_key)
            wrapped = signing_keys.wrap(event.key_id, signing_key)
        await conn.execute(
            "INSERT INTO system_keys (key_id, system_id, name, key_sha256, created_at, expires_at, revoked_at, "
            "wrapped_signing_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id) DO UPDATE SET "
            "expires_at = EXCLUDED.expires_at, revoked_at = COALESCE(system_keys.revoked_at, EXCLUDED.revoked_at), "
            "wrapped_signing_key = CASE WHEN COALESCE(system_keys.revoked_at, EXCLUDED.revoked_at) IS NOT NULL "
            "THEN NULL ELSE COALESCE(EXCLUDED.wrapped_signing_key, system_keys.wrapped_signing_key) END",
            event.key_id, event.system_id, event.name, event.key_sha256, event.created_at, event.expires_at,
            event.revoked_at, wrapped,
        )
    await notify(conn, schema)


def consumer_handler(schema: str, secret: bytes, signing_keys: SigningKeys) -> Handler:
    """The ``dsr.systems`` handler of the consent service and the notifier: each event signed by the
    request service applied (:func:`apply`, idempotent), anything else dead-lettered with the reason."""

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        envelope = read_event(message)
        given = str((envelope.model_extra or {}).get(SIGNATURE_ATTRIBUTE, ""))
        if not hmac.compare_digest(given, signature(envelope, secret)):
            raise Reject(f"not signed by the request service ({SIGNATURE_ATTRIBUTE} missing or wrong): only it "
                         f"changes the clinic systems and their keys")
        model = model_for(Topic.dsr_systems, envelope.type)
        if model is None:
            raise Reject(f"unknown event type '{envelope.type}' on {Topic.dsr_systems}")
        try:
            event = model.model_validate(envelope.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Reject(f"invalid {envelope.type} data: {first['loc']}: {first['msg']}") from None
        assert isinstance(event, (SystemChanged, SystemKeyChanged))
        try:
            await apply(conn, schema, event, signing_keys)
        except SigningKeyUnreadable as exc:
            raise Reject(f"{envelope.type} {envelope.subject}: {exc}") from None

    return handle
