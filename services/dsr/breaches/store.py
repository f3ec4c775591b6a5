"""SQL of the breach register. Every function takes the caller's connection and never commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.dsr.breaches.model import Breach
from shared.i18n import Said


def _breach(row: Any) -> Breach | None:
    return Breach.from_row(row) if row is not None else None


async def insert_breach(conn: asyncpg.Connection, row: dict[str, Any]) -> Breach | None:
    """Insert a breach; None (and nothing written) if its reference is already taken."""
    columns = ", ".join(row)
    params = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    return _breach(await conn.fetchrow(
        f"INSERT INTO breaches ({columns}) VALUES ({params}) ON CONFLICT (reference) DO NOTHING RETURNING *",
        *row.values()))


async def breach(conn: asyncpg.Connection, breach_id: uuid.UUID, *, lock: bool = False) -> Breach | None:
    suffix = " FOR UPDATE" if lock else ""
    return _breach(await conn.fetchrow(f"SELECT * FROM breaches WHERE breach_id = $1{suffix}", breach_id))


async def update_breach(conn: asyncpg.Connection, breach_id: uuid.UUID, **changes: Any) -> Breach:
    """Change a breach (which exists: the caller holds it); returns it as it now is."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    return Breach.from_row(await conn.fetchrow(f"UPDATE breaches SET {sets} WHERE breach_id = $1 RETURNING *",
                                               breach_id, *changes.values()))


async def list_breaches(conn: asyncpg.Connection, *, status: str | None, limit: int, offset: int) -> list[Breach]:
    """Open breaches first, the nearest deadline first; then the closed, the latest found first."""
    where = "WHERE status = $3" if status else "WHERE $3::text IS NULL"
    rows = await conn.fetch(
        f"SELECT * FROM breaches {where} "
        "ORDER BY (status = 'open') DESC, CASE WHEN status = 'open' THEN notify_by END, discovered_at DESC "
        "LIMIT $1 OFFSET $2",
        limit, offset, status)
    return [Breach.from_row(r) for r in rows]


async def add_audit(conn: asyncpg.Connection, breach_id: uuid.UUID, *, at: datetime, actor: str, action: str,
                    detail: Said | None = None) -> None:
    """One row of the breach's audit trail; ``detail`` kept in English and to be read in any language."""
    await conn.execute("INSERT INTO breach_audit (breach_id, at, actor, action, detail, said) "
                       "VALUES ($1, $2, $3, $4, $5, $6)",
                       breach_id, at, actor, action, None if detail is None else str(detail),
                       None if detail is None else detail.stored())


async def audit(conn: asyncpg.Connection, breach_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT at, actor, action, detail, said FROM breach_audit WHERE breach_id = $1 "
                            "ORDER BY id", breach_id)


async def add_disclosure(conn: asyncpg.Connection, breach_id: uuid.UUID, *, kind: str, at: datetime,
                         recorded_by: str, recorded_at: datetime, people: int | None = None,
                         channels: list[str] | None = None, regulator: str | None = None,
                         regulator_reference: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO breach_disclosures (breach_id, kind, at, people, channels, regulator, regulator_reference, "
        "recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        breach_id, kind, at, people, channels, regulator, regulator_reference, recorded_by, recorded_at)


async def disclosures(conn: asyncpg.Connection, breach_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kind, at, people, channels, regulator, regulator_reference, recorded_by, recorded_at "
        "FROM breach_disclosures WHERE breach_id = $1 ORDER BY at, id", breach_id)


async def breaches_for_notices(conn: asyncpg.Connection, now: datetime, first_after: timedelta,
                               limit: int = 500) -> list[Breach]:
    """Open breaches past their first reminder, not yet told they are due, with someone still to
    be told (the rule of ``Breach.outstanding``, as a filter; the model decides)."""
    rows = await conn.fetch(
        "SELECT b.* FROM breaches b WHERE status = 'open' AND discovered_at <= $1::timestamptz - $2::interval "
        "AND (people_told_at IS NULL OR people_told < subject_count "
        "     OR (regulator_required AND regulator_reported_at IS NULL)) "
        "AND NOT EXISTS (SELECT 1 FROM breach_notices n WHERE n.breach_id = b.breach_id AND n.kind = '72h') "
        "ORDER BY discovered_at LIMIT $3",
        now, first_after, limit)
    return [Breach.from_row(r) for r in rows]


async def add_notice(conn: asyncpg.Connection, breach_id: uuid.UUID, kind: str, at: datetime) -> bool:
    """Record a reminder of the clock; False if it was already sent (by this or another replica)."""
    return bool(await conn.fetchval(
        "INSERT INTO breach_notices (breach_id, kind, sent_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING true", breach_id, kind, at))


async def notices(conn: asyncpg.Connection, breach_id: uuid.UUID) -> list[str]:
    return [r["kind"] for r in await conn.fetch(
        "SELECT kind FROM breach_notices WHERE breach_id = $1 ORDER BY sent_at, kind", breach_id)]
