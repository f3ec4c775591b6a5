"""SQL of the notifier. Every function takes the caller's connection and never commits."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg

NOTIFICATION_COLUMNS = (
    "notification_id, event_key, event_type, kind, recipient_id, recipient_name, language, in_inbox, "
    "title, summary, action, link, request_id, reference, due_at, facts, occurred_at"
)
#: What the inbox shows: what its recipient sees there, and every delivery that finally failed; never
#: what a requester was told (a failure to tell them is a notification of its own, requester_not_told).
IN_INBOX = ("(n.recipient_id NOT LIKE 'requester:%' AND (n.in_inbox OR EXISTS (SELECT 1 FROM deliveries f "
            "WHERE f.notification_id = n.notification_id AND f.status = 'failed')))")


async def insert_notification(conn: asyncpg.Connection, row: dict[str, Any]) -> uuid.UUID | None:
    """Insert a notification; None if this event was already told to this recipient."""
    names = [c.strip() for c in NOTIFICATION_COLUMNS.split(",")]
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return await conn.fetchval(
        f"INSERT INTO notifications ({NOTIFICATION_COLUMNS}) VALUES ({params}) "
        "ON CONFLICT (event_key, recipient_id) DO NOTHING RETURNING notification_id",
        *(row[name] for name in names),
    )


async def insert_delivery(conn: asyncpg.Connection, notification_id: uuid.UUID, channel: str, target: str) -> None:
    await conn.execute(
        "INSERT INTO deliveries (notification_id, channel, target) VALUES ($1, $2, $3) "
        "ON CONFLICT (notification_id, channel) DO NOTHING",
        notification_id, channel, target,
    )


# --- the delivery worker ------------------------------------------------------------------------


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease: timedelta) -> list[asyncpg.Record]:
    """Claim due deliveries in one short statement: lock, count the attempt, push past the lease.

    The row locks last only as long as this statement; the attempt happens after it committed.
    ``attempts`` (returned) is the fencing token the outcome is recorded against.
    """
    return await conn.fetch(
        "WITH due AS ("
        "  SELECT delivery_id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() "
        "  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
        "UPDATE deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(), "
        "       next_attempt_at = now() + $2::interval "
        "FROM due WHERE d.delivery_id = due.delivery_id "
        "RETURNING d.delivery_id, d.notification_id, d.channel, d.target, d.attempts",
        limit, lease,
    )


async def notifications_by_id(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM notifications WHERE notification_id = ANY($1::uuid[])", ids)
    return {row["notification_id"]: dict(row) for row in rows}


async def delivered(conn: asyncpg.Connection, delivery_id: int, attempts: int, target: str) -> bool:
    return bool(await conn.fetchval(
        "UPDATE deliveries SET status = 'sent', sent_at = now(), target = $3, last_error = NULL "
        "WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' RETURNING true",
        delivery_id, attempts, target,
    ))


async def retry_later(conn: asyncpg.Connection, delivery_id: int, attempts: int, error: str,
                      delay: timedelta) -> bool:
    return bool(await conn.fetchval(
        "UPDATE deliveries SET next_attempt_at = now() + $4::interval, last_error = $3 "
        "WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' RETURNING true",
        delivery_id, attempts, error, delay,
    ))


async def give_up(conn: asyncpg.Connection, delivery_id: int, attempts: int, error: str,
                  status: str = "failed") -> bool:
    """Stop trying: ``failed`` (shown in the inbox), or ``skipped`` (there was no one to tell)."""
    return bool(await conn.fetchval(
        "UPDATE deliveries SET status = $4, failed_at = now(), last_error = $3 "
        "WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' RETURNING true",
        delivery_id, attempts, error, status,
    ))


async def retry_failed(conn: asyncpg.Connection, notification_id: uuid.UUID) -> int:
    """Give a notification's failed deliveries a fresh set of attempts, due now."""
    count = await conn.fetchval(
        "WITH again AS (UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), "
        "failed_at = NULL WHERE notification_id = $1 AND status = 'failed' RETURNING 1) SELECT count(*) FROM again",
        notification_id,
    )
    if count:
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return count


# --- the inbox ----------------------------------------------------------------------------------


def _inbox_filters(*, unread: bool | None, kind: str | None, request: str | None, recipient: str | None,
                   delivery: str | None) -> tuple[str, list[Any]]:
    clauses, args = [IN_INBOX], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if unread is True:
        clauses.append("n.read_at IS NULL")
    elif unread is False:
        clauses.append("n.read_at IS NOT NULL")
    if kind:
        clauses.append(f"n.kind = {arg(kind)}")
    if request:
        placeholder = arg(request)
        clauses.append(f"(n.request_id = {placeholder} OR n.reference = {placeholder})")
    if recipient:
        clauses.append(f"n.recipient_id = {arg(recipient)}")
    if delivery:
        clauses.append(f"EXISTS (SELECT 1 FROM deliveries s WHERE s.notification_id = n.notification_id "
                       f"AND s.status = {arg(delivery)})")
    return " AND ".join(clauses), args


async def inbox(conn: asyncpg.Connection, *, limit: int, offset: int, **filters: Any) -> list[asyncpg.Record]:
    where, args = _inbox_filters(**filters)
    return await conn.fetch(
        f"SELECT n.* FROM notifications n WHERE {where} "
        f"ORDER BY n.created_at DESC, n.notification_id LIMIT {limit:d} OFFSET {offset:d}",
        *args,
    )


async def inbox_count(conn: asyncpg.Connection, **filters: Any) -> int:
    where, args = _inbox_filters(**filters)
    return await conn.fetchval(f"SELECT count(*) FROM notifications n WHERE {where}", *args)


async def notification(conn: asyncpg.Connection, notification_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM notifications WHERE notification_id = $1", notification_id)


async def deliveries_of(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM deliveries WHERE notification_id = ANY($1::uuid[]) ORDER BY channel", ids
    )


async def mark_read(conn: asyncpg.Connection, notification_id: uuid.UUID, by: str) -> None:
    # The first reading is the one kept: who read it first, and when.
    await conn.execute(
        "UPDATE notifications SET read_at = now(), read_by = $2 WHERE notification_id = $1 AND read_at IS NULL",
        notification_id, by,
    )


# --- consent withdrawals and the daily digest ---------------------------------------------------


async def add_withdrawal(conn: asyncpg.Connection, event_id: str, day: date, purpose: str) -> None:
    await conn.execute(
        "INSERT INTO withdrawals (event_id, day, purpose) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        event_id, day, purpose,
    )


async def digest_made(conn: asyncpg.Connection, day: date) -> bool:
    return bool(await conn.fetchval("SELECT true FROM digests WHERE day = $1", day))


async def start_digest(conn: asyncpg.Connection, day: date) -> bool:
    """Take the day's digest; False if it was already made (or another replica is making it)."""
    return bool(await conn.fetchval(
        "INSERT INTO digests (day, withdrawals) VALUES ($1, 0) ON CONFLICT DO NOTHING RETURNING true", day
    ))


async def take_withdrawals(conn: asyncpg.Connection, up_to: date) -> list[dict[str, Any]]:
    """Remove the withdrawals of ``up_to`` and before (late ones included); their counts."""
    rows = await conn.fetch(
        "WITH gone AS (DELETE FROM withdrawals WHERE day <= $1 RETURNING day, purpose) "
        "SELECT day, purpose, count(*) AS count FROM gone GROUP BY day, purpose ORDER BY day, purpose",
        up_to,
    )
    return [{"day": r["day"].isoformat(), "purpose": r["purpose"], "count": r["count"]} for r in rows]


async def finish_digest(conn: asyncpg.Connection, day: date, total: int) -> None:
    await conn.execute("UPDATE digests SET withdrawals = $2 WHERE day = $1", day, total)
