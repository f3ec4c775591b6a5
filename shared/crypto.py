"""Per-subject encryption for crypto-shredding (PIPA 21: destruction that cannot be undone).

Every piece of personal data a service stores is sealed with AES-256-GCM under a data key that
belongs to one subject. Data keys are stored wrapped by the service's master key (from settings,
never in the database). Destroying a subject's key makes every copy of their data unreadable: rows,
backups, replicas. The row of a destroyed key stays, without the key, as evidence of when.

Keys are deliberately not cached in memory: once a key is destroyed, no replica can keep reading.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared import jsonbytes

_VERSION = b"\x01"

def key_table_ddl(table: str) -> str:
    """The table of one kind of per-subject key (run by a migration)."""
    return f"""
CREATE TABLE {table} (
    subject_id   text PRIMARY KEY,
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
"""


#: Run by the first migration of each service that stores personal data.
DDL = key_table_ddl("subject_keys")

#: The development master key; settings refuse it outside development.
DEVELOPMENT_MASTER_KEY = base64.b64encode(b"dongui-development-master-key-00").decode()


class KeyDestroyed(Exception):
    """The subject's key was destroyed: their data is gone for good."""


def parse_master_key(value: str) -> bytes:
    key = base64.b64decode(value, validate=True)
    if len(key) != 32:
        raise ValueError("the master key must be 32 bytes, base64-encoded")
    return key


class SubjectKeys:
    """One kind of per-subject key in ``table``: the data keys of stored rows (``subject_keys``),
    or the transit keys of sealed Kafka fields (``transit_keys``, see ``shared/sealing.py``)."""

    def __init__(self, master_key: bytes, *, table: str = "subject_keys", label: str = "subject-key") -> None:
        self._master_key = master_key
        self._master = AESGCM(master_key)
        self._table = table
        self._aad = label.encode() + b":"

    def other_kind(self, *, table: str, label: str) -> SubjectKeys:
        """Keys of another kind (another table and wrapping label) under the same master key."""
        return SubjectKeys(self._master_key, table=table, label=label)

    def _wrap(self, subject_id: str, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._master.encrypt(nonce, key, self._aad + subject_id.encode())

    def _unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        return self._master.decrypt(wrapped[:12], wrapped[12:], self._aad + subject_id.encode())

    async def key(self, conn: asyncpg.Connection, subject_id: str, *, create: bool) -> bytes | None:
        """The subject's data key; created when ``create`` and none exists. Raises if destroyed."""
        row = await conn.fetchrow(
            f"SELECT wrapped_key, destroyed_at FROM {self._table} WHERE subject_id = $1", subject_id
        )
        if row is None:
            if not create:
                return None
            key = AESGCM.generate_key(bit_length=256)
            inserted = await conn.fetchval(
                f"INSERT INTO {self._table} (subject_id, wrapped_key) VALUES ($1, $2) "
                "ON CONFLICT (subject_id) DO NOTHING RETURNING true",
                subject_id,
                self._wrap(subject_id, key),
            )
            if inserted:
                return key
            return await self.key(conn, subject_id, create=False)  # a concurrent writer made one
        if row["destroyed_at"] is not None:
            raise KeyDestroyed(subject_id)
        return self._unwrap(subject_id, row["wrapped_key"])

    async def new_cipher(self, conn: asyncpg.Connection, subject_id: str) -> SubjectCipher:
        """A key for an id that cannot have one yet (made for the occasion, e.g. from a new UUID):
        one insert, no look-up; an existing key is an error (unique violation), never reused."""
        key = AESGCM.generate_key(bit_length=256)
        await conn.execute(f"INSERT INTO {self._table} (subject_id, wrapped_key) VALUES ($1, $2)",
                           subject_id, self._wrap(subject_id, key))
        return SubjectCipher(key)

    async def cipher(self, conn: asyncpg.Connection, subject_id: str, *, create: bool) -> SubjectCipher | None:
        """The subject's cipher. None if they have no key (and ``create`` is false) or it was
        destroyed; with ``create``, a destroyed key raises :class:`KeyDestroyed` instead."""
        try:
            key = await self.key(conn, subject_id, create=create)
        except KeyDestroyed:
            if create:
                raise
            return None
        return SubjectCipher(key) if key is not None else None

    async def ciphers(self, conn: asyncpg.Connection, subject_ids: list[str]) -> dict[str, SubjectCipher | None]:
        """Ciphers of many subjects at once (a consumer's batch), creating missing keys, in two or
        three round trips; None for a subject whose key was destroyed."""
        wanted = sorted(set(subject_ids))
        rows = {r["subject_id"]: r for r in await conn.fetch(
            f"SELECT subject_id, wrapped_key, destroyed_at FROM {self._table} WHERE subject_id = ANY($1::text[])",
            wanted,
        )}
        out: dict[str, SubjectCipher | None] = {}
        missing = [s for s in wanted if s not in rows]
        if missing:
            keys = {s: AESGCM.generate_key(bit_length=256) for s in missing}
            inserted = {r["subject_id"] for r in await conn.fetch(
                f"INSERT INTO {self._table} (subject_id, wrapped_key) "
                "SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id",
                missing, [self._wrap(s, keys[s]) for s in missing],
            )}
            out.update({s: SubjectCipher(keys[s]) for s in inserted})
            lost = [s for s in missing if s not in inserted]  # a concurrent writer made them
            if lost:
                rows.update({r["subject_id"]: r for r in await conn.fetch(
                    f"SELECT subject_id, wrapped_key, destroyed_at FROM {self._table} WHERE subject_id = ANY($1::text[])",
                    lost,
                )})
        for subject_id, row in rows.items():
            out[subject_id] = (None if row["destroyed_at"] is not None
                               else SubjectCipher(self._unwrap(subject_id, row["wrapped_key"])))
        return out

    async def destroy(self, conn: asyncpg.Connection, subject_id: str) -> bool:
        """Destroy the subject's key for good. True if a live key existed."""
        destroyed = await conn.fetchval(
            f"UPDATE {self._table} SET wrapped_key = NULL, destroyed_at = now() "
            "WHERE subject_id = $1 AND destroyed_at IS NULL RETURNING true",
            subject_id,
        )
        if destroyed:
            return True
        # No key yet: record the destruction anyway, so nothing new is ever sealed for them.
        await conn.execute(
            f"INSERT INTO {self._table} (subject_id, wrapped_key, destroyed_at) VALUES ($1, NULL, now()) "
            "ON CONFLICT (subject_id) DO NOTHING",
            subject_id,
        )
        return False


class SubjectCipher:
    """Seals and opens JSON values with one subject's data key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, value: Any, *, context: str) -> bytes:
        """Encrypt ``value``; ``context`` (e.g. the record id) binds the ciphertext to its row."""
        nonce = os.urandom(12)
        plaintext = jsonbytes.compact(value)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes | None, *, context: str) -> Any:
        if sealed is None or sealed[:1] != _VERSION:
            return None
        try:
            plaintext = self._aead.decrypt(sealed[1:13], sealed[13:], context.encode())
        except InvalidTag:
            return None
        return json.loads(plaintext)
