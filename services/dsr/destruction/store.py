"""The destruction log's SQL: destructions, their tasks, and the systems' confirmations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg


async def insert_destruction(conn: asyncpg.Connection, row: dict[str, Any]) -> bool:
    """Record a destruction; False when its cause was already recorded (the same event again)."""
    status = await conn.execute(
        "INSERT INTO destructions (destruction_id, reference, subject_id, jurisdiction, trigger, cause, purposes, "
        "categories, classes, kept, rule, created_at, due_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (cause) DO NOTHING",
        row["destruction_id"], row["reference"], row["subject_id"], row["jurisdiction"], row["trigger"], row["cause"], row["purposes"],
        row["categories"], row["classes"], row["kept"], row["rule"], row["created_at"], row["due_at"],
    )
    return status.endswith(" 1")


async def insert_task(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO destruction_tasks (task_id, destruction_id, system_id, retain_classes, status, attempts, "
        "sent_at, answer_due) VALUES ($1, $2, $3, $4, 'sent', 1, $5, $6)",
        row["task_id"], row["destruction_id"], row["system_id"], row["retain_classes"], row["sent_at"],
        row["answer_due"],
    )


async def destruction(conn: asyncpg.Connection, destruction_id: uuid.UUID, *,
                      lock: bool = False) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(f"SELECT * FROM destructions WHERE destruction_id = $1{suffix}", destruction_id)


async def task(conn: asyncpg.Connection, task_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(f"SELECT * FROM destruction_tasks WHERE task_id = $1{suffix}", task_id)


async def is_task(conn: asyncpg.Connection, task_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM destruction_tasks WHERE task_id = $1)", task_id))


async def tasks(conn: asyncpg.Connection, destruction_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM destruction_tasks WHERE destruction_id = $1 ORDER BY system_id",
                            destruction_id)


async def answer_task(conn: asyncpg.Connection, task_id: uuid.UUID, *, outcome: str, erased: list[str],
                      retained: list[dict[str, Any]], note: str | None, at: datetime,
                      closed_by: str | None = None) -> None:
    await conn.execute(
        "UPDATE destruction_tasks SET status = 'answered', outcome = $2, erased = $3, retained = $4, note = $5, "
        "answered_at = $6, closed_by = $7 WHERE task_id = $1",
        task_id, outcome, erased, retained, note, at, closed_by,
    )


async def open_tasks_of(conn: asyncpg.Connection, system_id: str) -> list[uuid.UUID]:
    rows = await conn.fetch("SELECT task_id FROM destruction_tasks WHERE system_id = $1 AND status = 'sent'", system_id)
    return [r["task_id"] for r in rows]


async def close(conn: asyncpg.Connection, destruction_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE destructions SET closed_at = $2 WHERE destruction_id = $1 AND closed_at IS NULL",
                       destruction_id, at)


async def late_tasks(conn: asyncpg.Connection, now: datetime, max_attempts: int, limit: int = 200) -> list[asyncpg.Record]:
    """Unanswered destroy tasks to send again, claimed so that two schedulers never re-send one."""
    return await conn.fetch(
        "SELECT t.*, d.reference, d.subject_id, d.jurisdiction, d.trigger, d.purposes, d.categories, d.classes, d.kept, d.rule, "
        "d.due_at FROM destruction_tasks t JOIN destructions d USING (destruction_id) "
        "WHERE t.status = 'sent' AND t.answer_due < $1 AND t.attempts < $2 ORDER BY t.answer_due "
        "LIMIT $3 FOR UPDATE OF t SKIP LOCKED",
        now, max_attempts, limit,
    )


async def resend_task(conn: asyncpg.Connection, task_id: uuid.UUID, answer_due: datetime) -> None:
    await conn.execute("UPDATE destruction_tasks SET attempts = attempts + 1, answer_due = $2 WHERE task_id = $1",
                       task_id, answer_due)


async def overdue(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> list[asyncpg.Record]:
    """Destructions past their time that some system has not confirmed, not yet told; claimed."""
    return await conn.fetch(
        "SELECT * FROM destructions WHERE closed_at IS NULL AND overdue_at IS NULL AND due_at < $1 "
        "ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now, limit,
    )


async def mark_overdue(conn: asyncpg.Connection, destruction_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE destructions SET overdue_at = $2 WHERE destruction_id = $1", destruction_id, at)


async def log(conn: asyncpg.Connection, *, subject_id: str | None, since: datetime | None,
              limit: int) -> list[asyncpg.Record]:
    """One row per destruction and system (a destruction no system holds: one row without a
    system), newest first."""
    return await conn.fetch(
        "SELECT d.*, t.task_id, t.system_id, s.name AS system_name, s.processor, t.retain_classes, t.status, "
        "t.attempts, t.sent_at, t.answer_due, t.outcome, t.erased, t.retained, t.note, t.answered_at, t.closed_by "
        "FROM destructions d LEFT JOIN destruction_tasks t USING (destruction_id) "
        "LEFT JOIN systems s ON s.system_id = t.system_id "
        "WHERE ($1::text IS NULL OR d.subject_id = $1) AND ($2::timestamptz IS NULL OR d.created_at >= $2) "
        "ORDER BY d.created_at DESC, d.reference, t.system_id LIMIT $3",
        subject_id, since, limit,
    )


# --- the retention clock ---------------------------------------------------------------------


async def clock(conn: asyncpg.Connection, subject_id: str, retention_class: str) -> asyncpg.Record | None:
    """The subject's clock for the class, locked (a report changes it under the lock)."""
    return await conn.fetchrow(
        "SELECT * FROM retention_clocks WHERE subject_id = $1 AND retention_class = $2 FOR UPDATE",
        subject_id, retention_class,
    )


async def set_clock(conn: asyncpg.Connection, *, subject_id: str, retention_class: str, starts_on: date,
                    ends_on: date, reported_by: str, at: datetime) -> None:
    """Start (or move forward, re-armed) the subject's clock for the class."""
    await conn.execute(
        "INSERT INTO retention_clocks (subject_id, retention_class, starts_on, ends_on, reported_by, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject_id, retention_class) DO UPDATE SET "
        "starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on, reported_by = EXCLUDED.reported_by, "
        "updated_at = EXCLUDED.updated_at, expired_at = NULL",
        subject_id, retention_class, starts_on, ends_on, reported_by, at,
    )


async def clocks(conn: asyncpg.Connection, subject_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM retention_clocks WHERE subject_id = $1 ORDER BY ends_on, retention_class",
                            subject_id)


async def ended_clocks(conn: asyncpg.Connection, today: date, limit: int = 200) -> list[asyncpg.Record]:
    """Clocks whose period ended and whose destruction is not recorded yet; claimed."""
    return await conn.fetch(
        "SELECT * FROM retention_clocks WHERE expired_at IS NULL AND ends_on <= $1 ORDER BY ends_on "
        "LIMIT $2 FOR UPDATE SKIP LOCKED",
        today, limit,
    )


async def mark_expired(conn: asyncpg.Connection, subject_id: str, retention_class: str, at: datetime) -> None:
    await conn.execute("UPDATE retention_clocks SET expired_at = $3 WHERE subject_id = $1 AND retention_class = $2",
                       subject_id, retention_class, at)


async def expiring(conn: asyncpg.Connection, until: date, limit: int) -> list[asyncpg.Record]:
    """Clocks ending by ``until`` and not yet acted on, soonest first (the dashboard's outlook)."""
    return await conn.fetch(
        "SELECT * FROM retention_clocks WHERE expired_at IS NULL AND ends_on <= $1 ORDER BY ends_on LIMIT $2",
        until, limit,
    )
