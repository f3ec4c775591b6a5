"""SQL of the consent service. Every function takes the caller's connection and never commits."""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

import asyncpg

from services.consent.domain import GENESIS_HASH
from shared.db import ReadLane

RECORD_COLUMNS = (
    "record_id, subject_id, sequence, event_id, event_digest, source, received_via, decision, "
    "purpose, policy_id, policy_version, language, notice_hash, method, actor_role, jurisdiction, "
    "requirement, occurred_at, recorded_at, personal, personal_digest, prev_hash, record_hash, legal_basis"
)
_RECORD_COLUMN_NAMES = tuple(c.strip() for c in RECORD_COLUMNS.split(","))


async def insert_policy(conn: asyncpg.Connection, policy: dict[str, Any]) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO policies (policy_id, version, effective_at, published_at, published_by, texts, "
        "text_hashes, purposes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (policy_id, version) DO NOTHING RETURNING true",
        policy["policy_id"], policy["version"], policy["effective_at"], policy["published_at"],
        policy["published_by"], policy["texts"], policy["text_hashes"], policy["purposes"],
    )
    return bool(inserted)


async def policy_versions(conn: asyncpg.Connection, policy_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM policies WHERE policy_id = $1 ORDER BY published_at, version", policy_id
    )


async def policy(conn: asyncpg.Connection, policy_id: str, version: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM policies WHERE policy_id = $1 AND version = $2", policy_id, version
    )


async def lock_policy_id(conn: asyncpg.Connection, policy_id: str) -> None:
    """Serialise publications of one policy, so 'is this the first version?' cannot race."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('policy:' || $1))", policy_id)


async def record(conn: asyncpg.Connection, record_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {RECORD_COLUMNS} FROM consent_records WHERE record_id = $1::uuid", record_id)


async def permission_inputs(conn: asyncpg.Connection | ReadLane, subject_id: str, purpose: str) -> asyncpg.Record:
    """Everything a permission check needs, in one round trip over primary-key/partial indexes."""
    return await conn.fetchrow(
        "SELECT s.decision, s.requirement, s.self_granted, s.representative_granted, "
        "s.record_id, s.decided_at, "
        "EXISTS (SELECT 1 FROM holds h WHERE h.subject_id = $1 AND h.released_at IS NULL) AS on_hold, "
        "EXISTS (SELECT 1 FROM erasures e WHERE e.subject_id = $1) AS erased "
        "FROM (SELECT 1) AS one "
        "LEFT JOIN consent_state s ON s.subject_id = $1 AND s.purpose = $2",
        subject_id, purpose,
    )


async def states(conn: asyncpg.Connection, subject_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM consent_state WHERE subject_id = $1 ORDER BY purpose", subject_id
    )


async def history(conn: asyncpg.Connection, subject_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {RECORD_COLUMNS} FROM consent_records WHERE subject_id = $1 ORDER BY sequence",
        subject_id,
    )


async def records_by_id(conn: asyncpg.Connection, record_ids: list[Any]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {RECORD_COLUMNS} FROM consent_records WHERE record_id = ANY($1::uuid[])", record_ids
    )


async def subject_head(conn: asyncpg.Connection, subject_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM subjects WHERE subject_id = $1", subject_id)


async def active_holds(conn: asyncpg.Connection, subject_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT hold_id, request_id, reason, placed_at FROM holds "
        "WHERE subject_id = $1 AND released_at IS NULL ORDER BY placed_at",
        subject_id,
    )


async def place_hold(conn: asyncpg.Connection, *, hold_id: str, subject_id: str, request_id: str,
                     reason: str, placed_at: datetime) -> None:
    # A release that arrived first leaves a released row; the late placement must not revive it.
    await conn.execute(
        "INSERT INTO holds (hold_id, subject_id, request_id, reason, placed_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (hold_id) DO UPDATE SET placed_at = EXCLUDED.placed_at, reason = EXCLUDED.reason",
        hold_id, subject_id, request_id, reason, placed_at,
    )


async def release_hold(conn: asyncpg.Connection, *, hold_id: str, subject_id: str, request_id: str,
                       released_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO holds (hold_id, subject_id, request_id, reason, released_at) "
        "VALUES ($1, $2, $3, 'unknown', $4) "
        "ON CONFLICT (hold_id) DO UPDATE SET released_at = EXCLUDED.released_at",
        hold_id, subject_id, request_id, released_at,
    )


# --- commands from the request service (dsr.events) ----------------------------------------------


async def lock_existing_subject(conn: asyncpg.Connection, subject_id: str) -> bool:
    """Lock the subject's chain head if they have one (never creating it); False if none."""
    locked = await conn.fetchval(
        "SELECT true FROM subjects WHERE subject_id = $1 FOR UPDATE", subject_id
    )
    return bool(locked)


async def key_destroyed_at(conn: asyncpg.Connection, subject_id: str) -> datetime | None:
    return await conn.fetchval(
        "SELECT destroyed_at FROM subject_keys WHERE subject_id = $1", subject_id
    )


async def insert_erasure(conn: asyncpg.Connection, *, subject_id: str, request_id: str, approved_at: datetime,
                         destroyed_at: datetime | None, had_key: bool) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO erasures (subject_id, request_id, approved_at, destroyed_at, had_key) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject_id, request_id) DO NOTHING RETURNING true",
        subject_id, request_id, approved_at, destroyed_at, had_key,
    )
    return bool(inserted)


async def erased_at(conn: asyncpg.Connection, subject_id: str) -> datetime | None:
    """When the subject's key was destroyed by an approved erasure; None if none was approved."""
    return await conn.fetchval(
        "SELECT min(destroyed_at) FROM erasures WHERE subject_id = $1", subject_id
    )


# --- recording a batch of consent events (recording.Recording.record_many): a few statements for all ---


async def lock_event_ids(conn: asyncpg.Connection, event_ids: list[str]) -> None:
    """Serialise recordings of these CloudEvent ids until the transaction ends; the locks are
    taken in sorted order (no two batches wait in a cycle)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('consent-event:' || id)) "
        "FROM (SELECT DISTINCT unnest($1::text[]) AS id ORDER BY 1) AS ids",
        event_ids,
    )


async def records_by_event_ids(conn: asyncpg.Connection, event_ids: list[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        f"SELECT {RECORD_COLUMNS} FROM consent_records WHERE event_id = ANY($1::text[])", event_ids
    )
    return {r["event_id"]: r for r in rows}


async def lock_subject_heads(conn: asyncpg.Connection, subject_ids: list[str]) -> dict[str, tuple[int, str]]:
    """Lock the subjects' chain heads (created if new, in sorted order); returns each one's
    (last sequence, last hash). A head this inserts is new and already ours: only the others are
    read back, so a batch of new subjects takes one statement."""
    wanted = sorted(set(subject_ids))
    created = await conn.fetch(
        "INSERT INTO subjects (subject_id, last_sequence, last_hash) "
        "SELECT id, 0, $2 FROM unnest($1::text[]) AS id ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id",
        wanted, GENESIS_HASH,
    )
    heads = {r["subject_id"]: (0, GENESIS_HASH) for r in created}
    others = [s for s in wanted if s not in heads]
    if others:
        rows = await conn.fetch(
            "SELECT subject_id, last_sequence, last_hash FROM subjects WHERE subject_id = ANY($1::text[]) "
            "ORDER BY subject_id FOR UPDATE",
            others,
        )
        heads.update((r["subject_id"], (r["last_sequence"], r["last_hash"])) for r in rows)
    return heads


async def states_of(conn: asyncpg.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT s.* FROM consent_state s JOIN unnest($1::text[], $2::text[]) AS k(subject_id, purpose) "
        "USING (subject_id, purpose)",
        [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(r["subject_id"], r["purpose"]): r for r in rows}


_STATE_FIELDS = ("subject_id", "purpose", "decision", "requirement", "self_granted", "representative_granted",
                 "record_id", "decided_at")
# A batch's ledger rows and states travel as ONE array of the table's own row type each
# (``$1::consent_records[]``), a tuple per row in the table's column order, not as an array per
# column: asyncpg checks every element of an array parameter against ``collections.abc`` (two
# Python-level ``isinstance`` calls for a text), so 23 columns of 500 rows cost about 11,500 such
# calls, one array of 500 tuples about 1,000 (lab: 9-11 against 4-6 us of client CPU per row).
# RECORD_COLUMNS and _STATE_FIELDS are those tables' columns in order:
# ``tests/consent/test_ledger.py`` fails when a migration changes them.
_record_tuple = operator.itemgetter(*_RECORD_COLUMN_NAMES)
_state_tuple = operator.itemgetter(*_STATE_FIELDS)


def _write_batch_sql() -> str:
    states = ", ".join(_STATE_FIELDS)
    return (
        f"WITH ledger AS (INSERT INTO consent_records ({RECORD_COLUMNS}) "
        f"SELECT {RECORD_COLUMNS} FROM unnest($1::consent_records[])), "
        "heads AS (UPDATE subjects s SET last_sequence = v.seq, last_hash = v.hash "
        "FROM unnest($2::text[], $3::integer[], $4::text[]) AS v(id, seq, hash) "
        "WHERE s.subject_id = v.id) "
        f"INSERT INTO consent_state ({states}) SELECT {states} FROM unnest($5::consent_state[]) "
        "ON CONFLICT (subject_id, purpose) DO UPDATE SET decision = EXCLUDED.decision, "
        "requirement = EXCLUDED.requirement, self_granted = EXCLUDED.self_granted, "
        "representative_granted = EXCLUDED.representative_granted, record_id = EXCLUDED.record_id, "
        "decided_at = EXCLUDED.decided_at"
    )


_WRITE_BATCH = _write_batch_sql()


async def write_batch(conn: asyncpg.Connection, rows: list[dict[str, Any]], heads: dict[str, tuple[int, str]],
                      states: list[dict[str, Any]]) -> None:
    """The ledger side of a batch of new rows, in one statement (one round trip): the rows, each
    touched subject's new chain head and the changed (subject, purpose) states (each at most
    once). The caller holds the subjects' head locks; the outgoing events are the outbox's
    (``shared.outbox.enqueue_many``)."""
    touched = sorted({row["subject_id"] for row in rows})
    await conn.execute(
        _WRITE_BATCH,
        [_record_tuple(row) for row in rows],
        touched, [heads[s][0] for s in touched], [heads[s][1] for s in touched],
        [_state_tuple(state) for state in states],
    )
