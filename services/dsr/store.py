"""SQL of the request service. Every function takes the caller's connection and never commits.

Requests and tasks come back as :class:`~services.dsr.model.Request` and
:class:`~services.dsr.model.Task` values; the audit trail, verifications and systems as rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.dsr.model import Request, Task
from shared import jsonbytes
from shared.i18n import Said


def _request(row: Any) -> Request | None:
    return Request.from_row(row) if row is not None else None


OPEN = "('received', 'verifying', 'in_review', 'approved', 'in_progress')"


async def file_request(conn: asyncpg.Connection, row: dict[str, Any],
                       transitions: list[dict[str, Any]]) -> Request | None:
    """Insert a new request and its first transitions in one statement; returns the request as
    stored, or None (and writes nothing) if its reference is already taken."""
    columns = ", ".join(row)
    params = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    n = len(row)
    return _request(await conn.fetchrow(
        f"WITH r AS (INSERT INTO requests ({columns}) VALUES ({params}) "
        "ON CONFLICT (reference) DO NOTHING RETURNING *), "
        "t AS (INSERT INTO transitions (request_id, at, actor, from_status, to_status, reason, said) "
        f"SELECT r.request_id, u.at, u.actor, u.from_status, u.to_status, u.reason, u.said::jsonb FROM r, "
        f"unnest(${n + 1}::timestamptz[], ${n + 2}::text[], ${n + 3}::text[], ${n + 4}::text[], ${n + 5}::text[], "
        f"${n + 6}::text[]) WITH ORDINALITY AS u (at, actor, from_status, to_status, reason, said, ord) "
        "ORDER BY u.ord) SELECT * FROM r",
        *row.values(),
        *([t[c] for t in transitions] for c in ("at", "actor", "from_status", "to_status")),
        [_reason(t["reason"]) for t in transitions],
        [_said(t["reason"]) for t in transitions],
    ))


def _reason(reason: str | Said | None) -> str | None:
    return None if reason is None else str(reason)


def _said(reason: str | Said | None) -> str | None:
    """A reason recorded to be read in any language, as JSON text (None: a text as written)."""
    return jsonbytes.compact(reason.stored()).decode() if isinstance(reason, Said) else None


async def request(conn: asyncpg.Connection, request_id: uuid.UUID, *, lock: bool = False) -> Request | None:
    suffix = " FOR UPDATE" if lock else ""
    return _request(await conn.fetchrow(f"SELECT * FROM requests WHERE request_id = $1{suffix}", request_id))


async def request_by_reference(conn: asyncpg.Connection, reference: str) -> Request | None:
    return _request(await conn.fetchrow("SELECT * FROM requests WHERE reference = $1", reference))


async def reference_of(conn: asyncpg.Connection, request_id: uuid.UUID) -> str | None:
    return await conn.fetchval("SELECT reference FROM requests WHERE request_id = $1", request_id)


async def update_request(conn: asyncpg.Connection, request_id: uuid.UUID, **changes: Any) -> Request:
    """Change a request (which exists: the caller holds it); returns it as it now is."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    return Request.from_row(await conn.fetchrow(f"UPDATE requests SET {sets} WHERE request_id = $1 RETURNING *",
                                                request_id, *changes.values()))


async def add_transition(conn: asyncpg.Connection, request_id: uuid.UUID, *, at: datetime, actor: str,
                         from_status: str | None, to_status: str, reason: str | Said | None) -> None:
    await conn.execute(
        "INSERT INTO transitions (request_id, at, actor, from_status, to_status, reason, said) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        request_id, at, actor, from_status, to_status, _reason(reason),
        reason.stored() if isinstance(reason, Said) else None,
    )


async def transitions(conn: asyncpg.Connection, request_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT at, actor, from_status, to_status, reason, said FROM transitions WHERE request_id = $1 ORDER BY id",
        request_id,
    )


async def add_verification(conn: asyncpg.Connection, request_id: uuid.UUID, **row: Any) -> None:
    await conn.execute(
        "INSERT INTO verifications (request_id, method, verified_by, evidence_ref, representative_checked, at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        request_id, row["method"], row["verified_by"], row["evidence_ref"], row["representative_checked"], row["at"],
    )


async def verifications(conn: asyncpg.Connection, request_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT method, verified_by, evidence_ref, representative_checked, at FROM verifications "
        "WHERE request_id = $1 ORDER BY id",
        request_id,
    )


async def list_requests(conn: asyncpg.Connection, *, status: str | None, overdue: bool | None,
                        type: str | None, by_guardian: bool | None, now: datetime,
                        limit: int, offset: int) -> list[Request]:
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if status:
        clauses.append(f"status = {arg(status)}")
    if type:
        clauses.append(f"type = {arg(type)}")
    if by_guardian is not None:
        clauses.append(f"(by_guardian OR child_own_request) = {arg(by_guardian)}")
    if overdue is True:
        clauses.append(f"status IN {OPEN} AND due_at < {arg(now)}")
    elif overdue is False:
        clauses.append(f"NOT (status IN {OPEN} AND due_at < {arg(now)})")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    # Open requests first, the most urgent deadline first; then the closed, newest first.
    rows = await conn.fetch(
        f"SELECT * FROM requests {where} "
        f"ORDER BY (status IN {OPEN}) DESC, CASE WHEN status IN {OPEN} THEN due_at END, received_at DESC "
        f"LIMIT {arg(limit)} OFFSET {arg(offset)}",
        *args,
    )
    return [Request.from_row(r) for r in rows]


async def upsert_system(conn: asyncpg.Connection, system: dict[str, Any], now: datetime) -> bool:
    """Insert or update a system; True when it is new."""
    return await conn.fetchval(
        "INSERT INTO systems (system_id, name, description, data_categories, retention_classes, processor, "
        "source, purposes, rights, legal_basis, legal_citation, entrusted_duty, contract_from, contract_until, "
        "translations, registered_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16, $15, $15) "
        "ON CONFLICT (system_id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, "
        "data_categories = EXCLUDED.data_categories, retention_classes = EXCLUDED.retention_classes, "
        "processor = EXCLUDED.processor, source = EXCLUDED.source, purposes = EXCLUDED.purposes, "
        "rights = EXCLUDED.rights, legal_basis = EXCLUDED.legal_basis, legal_citation = EXCLUDED.legal_citation, "
        "entrusted_duty = EXCLUDED.entrusted_duty, contract_from = EXCLUDED.contract_from, "
        "contract_until = EXCLUDED.contract_until, translations = EXCLUDED.translations, "
        "updated_at = EXCLUDED.updated_at "
        "RETURNING (xmax = 0)",
        system["system_id"], system["name"], system["description"], system["data_categories"],
        system["retention_classes"], system["processor"], system["source"], system["purposes"],
        system["rights"], system["legal_basis"], system["legal_citation"], system["entrusted_duty"],
        system["contract_from"], system["contract_until"], now, system.get("translations") or {},
    )


async def system_translations(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """The words every system registered for what it writes (a later system's win a clash)."""
    words: dict[str, dict[str, str]] = {}
    for row in await conn.fetch("SELECT translations FROM systems ORDER BY registered_at"):
        words.update(row["translations"] or {})
    return words


async def system_with_source(conn: asyncpg.Connection, source: str) -> str | None:
    """The system in service that publishes as ``source`` (a retired one's source is free)."""
    return await conn.fetchval("SELECT system_id FROM systems WHERE source = $1 AND retired_at IS NULL", source)


async def systems(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM systems ORDER BY system_id")


async def system(conn: asyncpg.Connection, system_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM systems WHERE system_id = $1" + (" FOR UPDATE" if lock else ""),
                               system_id)


async def insert_system_key(conn: asyncpg.Connection, *, key_id: str, system_id: str, name: str, key_sha256: str,
                            created_at: datetime, created_by: str, expires_at: datetime | None,
                            wrapped_signing_key: bytes) -> None:
    await conn.execute(
        "INSERT INTO system_keys (key_id, system_id, name, key_sha256, created_at, created_by, expires_at, "
        "wrapped_signing_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        key_id, system_id, name, key_sha256, created_at, created_by, expires_at, wrapped_signing_key,
    )


async def system_key(conn: asyncpg.Connection, key_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM system_keys WHERE key_id = $1" + (" FOR UPDATE" if lock else ""),
                               key_id)


async def system_keys(conn: asyncpg.Connection, system_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT key_id, system_id, name, created_at, created_by, expires_at, revoked_at, revoked_by "
        "FROM system_keys WHERE system_id = $1 ORDER BY created_at, key_id", system_id)


async def retire_system(conn: asyncpg.Connection, system_id: str, *, at: datetime, by: str, reason: str) -> None:
    await conn.execute("UPDATE systems SET retired_at = $2, retired_by = $3, retire_reason = $4, updated_at = $2 "
                       "WHERE system_id = $1", system_id, at, by, reason)


async def open_tasks_of(conn: asyncpg.Connection, system_id: str) -> list[uuid.UUID]:
    """The system's tasks not answered yet (sent, or reported unanswered), oldest first."""
    return [r["task_id"] for r in await conn.fetch(
        "SELECT task_id FROM tasks WHERE system_id = $1 AND status <> 'answered' ORDER BY sent_at, task_id",
        system_id)]


async def revoke_system_key(conn: asyncpg.Connection, key_id: str, *, at: datetime, by: str) -> None:
    """Revoke the key, and forget its signing key: nothing it signs is believed any more."""
    await conn.execute("UPDATE system_keys SET revoked_at = $2, revoked_by = $3, wrapped_signing_key = NULL "
                       "WHERE key_id = $1", key_id, at, by)


async def insert_task(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO tasks (task_id, request_id, system_id, kind, status, attempts, plan, sent_at, answer_due) "
        "VALUES ($1, $2, $3, $4, 'sent', 1, $5, $6, $7)",
        row["task_id"], row["request_id"], row["system_id"], row["kind"], row["plan"], row["sent_at"], row["answer_due"],
    )


async def tasks(conn: asyncpg.Connection, request_id: uuid.UUID) -> list[Task]:
    rows = await conn.fetch(
        "SELECT t.*, s.name AS system_name, s.processor FROM tasks t JOIN systems s USING (system_id) "
        "WHERE request_id = $1 ORDER BY system_id, sent_at",
        request_id,
    )
    return [Task.from_row(r) for r in rows]


async def task(conn: asyncpg.Connection, task_id: uuid.UUID, *, lock: bool = False) -> Task | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(f"SELECT * FROM tasks WHERE task_id = $1{suffix}", task_id)
    return Task.from_row(row) if row is not None else None


async def task_subjects(conn: asyncpg.Connection, task_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The subject of each task's request (or destruction), for the tasks that exist."""
    rows = await conn.fetch(
        "SELECT t.task_id, r.subject_id FROM tasks t JOIN requests r USING (request_id) "
        "WHERE t.task_id = ANY($1::uuid[]) UNION ALL "
        "SELECT t.task_id, d.subject_id FROM destruction_tasks t JOIN destructions d USING (destruction_id) "
        "WHERE t.task_id = ANY($1::uuid[])", task_ids,
    )
    return {row["task_id"]: row["subject_id"] for row in rows}


async def answer_task(conn: asyncpg.Connection, task_id: uuid.UUID, *, outcome: str, result: bytes,
                      at: datetime, closed_by: str | None = None) -> None:
    await conn.execute(
        "UPDATE tasks SET status = 'answered', outcome = $2, result = $3, answered_at = $4, closed_by = $5 "
        "WHERE task_id = $1",
        task_id, outcome, result, at, closed_by,
    )


async def waiting_tasks_due(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> list[Task]:
    """Tasks whose answer is late, claimed so that two schedulers never re-send the same one."""
    # Only tasks of open requests: a withdrawn or refused request's tasks are no longer chased.
    rows = await conn.fetch(
        "SELECT t.* FROM tasks t JOIN requests r USING (request_id) "
        f"WHERE t.status = 'sent' AND t.answer_due < $1 AND r.status IN {OPEN} ORDER BY t.answer_due "
        "LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
        now, limit,
    )
    return [Task.from_row(r) for r in rows]


async def resend_task(conn: asyncpg.Connection, task_id: uuid.UUID, answer_due: datetime) -> None:
    await conn.execute("UPDATE tasks SET attempts = attempts + 1, answer_due = $2 WHERE task_id = $1",
                       task_id, answer_due)


async def give_up_task(conn: asyncpg.Connection, task_id: uuid.UUID) -> None:
    await conn.execute("UPDATE tasks SET status = 'unanswered' WHERE task_id = $1", task_id)


async def destroy_task_secrets(conn: asyncpg.Connection, request_id: uuid.UUID) -> None:
    """Clear a request's tasks' answers, and the corrections a rectify task carried (sealed, or in
    the clear in rows written before tasks were sealed)."""
    await conn.execute("UPDATE tasks SET result = NULL, plan = plan - 'sealed' - 'corrections' "
                       "WHERE request_id = $1", request_id)


async def place_hold(conn: asyncpg.Connection, *, hold_id: uuid.UUID, request_id: uuid.UUID, subject_id: str,
                     reason: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO holds (hold_id, request_id, subject_id, reason, placed_at) VALUES ($1, $2, $3, $4, $5)",
        hold_id, request_id, subject_id, reason, at,
    )


async def has_active_hold(conn: asyncpg.Connection, request_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM holds WHERE request_id = $1 AND released_at IS NULL)", request_id))


async def release_holds(conn: asyncpg.Connection, request_id: uuid.UUID,
                        at: datetime) -> list[tuple[uuid.UUID, str]]:
    """Release a request's active holds; returns each one's (hold_id, subject_id)."""
    rows = await conn.fetch(
        "UPDATE holds SET released_at = $2 WHERE request_id = $1 AND released_at IS NULL "
        "RETURNING hold_id, subject_id",
        request_id, at,
    )
    return [(row["hold_id"], row["subject_id"]) for row in rows]


async def open_requests_for_notices(conn: asyncpg.Connection, now: datetime, limit: int = 500) -> list[Request]:
    """Open requests past half their time and not yet told they are overdue."""
    rows = await conn.fetch(
        f"SELECT r.* FROM requests r WHERE status IN {OPEN} "
        f"AND received_at + (due_at - received_at) / 2 <= $1 "
        f"AND NOT EXISTS (SELECT 1 FROM deadline_notices n WHERE n.request_id = r.request_id AND n.kind = 'overdue') "
        f"ORDER BY due_at LIMIT $2",
        now, limit,
    )
    return [Request.from_row(r) for r in rows]


async def requests_owing_acknowledgement(conn: asyncpg.Connection, now: datetime,
                                          limit: int = 500) -> list[Request]:
    """Open requests whose acknowledgement date passed without one, not yet told."""
    rows = await conn.fetch(
        f"SELECT r.* FROM requests r WHERE status IN {OPEN} AND acknowledge_by < $1 AND acknowledged_at IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM deadline_notices n WHERE n.request_id = r.request_id "
        f"AND n.kind = 'acknowledgement_overdue') ORDER BY acknowledge_by LIMIT $2",
        now, limit,
    )
    return [Request.from_row(r) for r in rows]


async def add_notice(conn: asyncpg.Connection, request_id: uuid.UUID, kind: str, at: datetime) -> bool:
    """Record a deadline notice; False if it was already sent (by this or another replica)."""
    return bool(await conn.fetchval(
        "INSERT INTO deadline_notices (request_id, kind, sent_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING true",
        request_id, kind, at,
    ))


async def requests_due_for_destruction(conn: asyncpg.Connection, now: datetime, limit: int = 100) -> list[Request]:
    rows = await conn.fetch(
        "SELECT * FROM requests WHERE destroyed_at IS NULL AND destroy_after <= $1 "
        "ORDER BY destroy_after LIMIT $2 FOR UPDATE SKIP LOCKED",
        now, limit,
    )
    return [Request.from_row(r) for r in rows]


async def take_scheduler_pass(conn: asyncpg.Connection) -> bool:
    """The transaction's lock on the scheduler's pass; False when another replica holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('dsr-scheduler'))"))


async def claimed_digest(conn: asyncpg.Connection, consumer: str, event_id: str) -> tuple[bool, str | None]:
    """Whether the consumer handled the event id already, and the digest of what it carried then
    (None: not kept)."""
    row = await conn.fetchrow(
        "SELECT digest FROM processed_events WHERE consumer = $1 AND event_id = $2", consumer, event_id
    )
    return row is not None, (row["digest"] if row is not None else None)


# --- the provision log (services/dsr/provisions.py) -------------------------------------------

PROVISION_COLUMNS = "provision_id, subject_id, ground, data_categories, reference, provided_at, recorded_by, recorded_at"


async def add_provision(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    values = [row[c.strip()] for c in PROVISION_COLUMNS.split(",")]
    return await conn.fetchrow(f"INSERT INTO provisions ({PROVISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                               f"RETURNING {PROVISION_COLUMNS}", *values)


async def provisions(conn: asyncpg.Connection, subject_id: str | None, since: datetime | None) -> list[asyncpg.Record]:
    """The log, newest first: every provision, a subject's, or those provided since ``since``."""
    return await conn.fetch(
        f"SELECT {PROVISION_COLUMNS} FROM provisions WHERE ($1::text IS NULL OR subject_id = $1) "
        "AND ($2::timestamptz IS NULL OR provided_at >= $2) ORDER BY provided_at DESC, recorded_at DESC",
        subject_id, since)
