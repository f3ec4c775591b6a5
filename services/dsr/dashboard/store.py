"""SQL of the staff dashboard's own tables (accounts, sessions, sign-in failures, trusted browsers),
in the request service's schema. Every function takes the caller's connection and never commits."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def upsert_account(conn: asyncpg.Connection, *, username: str, display_name: str, role: str,
                         password_hash: str, now: datetime) -> None:
    """Create the account, or reset an existing one's name, role and password (and enable it)."""
    await conn.execute(
        "INSERT INTO staff_accounts (username, display_name, role, password_hash, created_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name, "
        "role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, disabled = false",
        username, display_name, role, password_hash, now,
    )


async def insert_account(conn: asyncpg.Connection, *, username: str, display_name: str, role: str,
                         password_hash: str, now: datetime) -> None:
    """A new account; ``asyncpg.UniqueViolationError`` when the username is taken."""
    await conn.execute(
        "INSERT INTO staff_accounts (username, display_name, role, password_hash, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        username, display_name, role, password_hash, now,
    )


async def account_exists(conn: asyncpg.Connection, username: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM staff_accounts WHERE username = $1", username))


async def account(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM staff_accounts WHERE username = $1", username)


async def disable_account(conn: asyncpg.Connection, username: str) -> bool:
    """Disable the account; False when there is none."""
    done = await conn.execute("UPDATE staff_accounts SET disabled = true WHERE username = $1", username)
    return done.endswith(" 1")


async def set_password_hash(conn: asyncpg.Connection, username: str, password_hash: str) -> None:
    await conn.execute("UPDATE staff_accounts SET password_hash = $2 WHERE username = $1", username, password_hash)


async def failures_since(conn: asyncpg.Connection, key: str, since: datetime) -> int:
    return await conn.fetchval("SELECT count(*) FROM staff_signin_failures WHERE key = $1 AND at > $2", key, since)


async def record_failures(conn: asyncpg.Connection, keys: list[str], now: datetime) -> None:
    await conn.executemany("INSERT INTO staff_signin_failures (key, at) VALUES ($1, $2)", [(k, now) for k in keys])


async def forget_failures_before(conn: asyncpg.Connection, before: datetime) -> None:
    await conn.execute("DELETE FROM staff_signin_failures WHERE at < $1", before)


async def forget_failures_of(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute("DELETE FROM staff_signin_failures WHERE key = $1", key)


async def device_trusted_for(conn: asyncpg.Connection, device_id: str, username: str, now: datetime) -> bool:
    """Whether this browser signed in as ``username`` before (and that has not expired)."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM staff_devices WHERE device_id = $1 AND username = $2 AND expires_at > $3",
        device_id, username, now))


async def device_known(conn: asyncpg.Connection, device_id: str, now: datetime) -> bool:
    """Whether this service issued this browser's token (for any account, not expired)."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM staff_devices WHERE device_id = $1 AND expires_at > $2 LIMIT 1", device_id, now))


async def trust_device(conn: asyncpg.Connection, *, device_id: str, username: str, now: datetime,
                       expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO staff_devices (device_id, username, first_signed_in_at, last_signed_in_at, expires_at) "
        "VALUES ($1, $2, $3, $3, $4) ON CONFLICT (device_id, username) DO UPDATE SET "
        "last_signed_in_at = EXCLUDED.last_signed_in_at, expires_at = EXCLUDED.expires_at",
        device_id, username, now, expires_at,
    )


async def forget_devices_before(conn: asyncpg.Connection, expired: datetime) -> None:
    await conn.execute("DELETE FROM staff_devices WHERE expires_at < $1", expired)


async def delete_devices_of(conn: asyncpg.Connection, username: str) -> None:
    await conn.execute("DELETE FROM staff_devices WHERE username = $1", username)


async def insert_session(conn: asyncpg.Connection, *, session_id: str, username: str, csrf_token: str,
                         now: datetime, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO staff_sessions (session_id, username, csrf_token, created_at, last_seen_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $4, $5)",
        session_id, username, csrf_token, now, expires_at,
    )


async def forget_sessions_before(conn: asyncpg.Connection, *, expired: datetime, idle_since: datetime) -> None:
    await conn.execute("DELETE FROM staff_sessions WHERE expires_at < $1 OR last_seen_at < $2", expired, idle_since)


async def live_session(conn: asyncpg.Connection, session_id: str, *, now: datetime,
                       idle_since: datetime) -> asyncpg.Record | None:
    """The session with its account, unless expired, idle too long or its account disabled."""
    return await conn.fetchrow(
        "SELECT s.session_id, s.csrf_token, s.last_seen_at, a.username, a.display_name, a.role "
        "FROM staff_sessions s JOIN staff_accounts a USING (username) "
        "WHERE s.session_id = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND NOT a.disabled",
        session_id, now, idle_since,
    )


async def touch_session(conn: asyncpg.Connection, session_id: str, now: datetime) -> None:
    await conn.execute("UPDATE staff_sessions SET last_seen_at = $2 WHERE session_id = $1", session_id, now)


async def delete_session(conn: asyncpg.Connection, session_id: str) -> None:
    await conn.execute("DELETE FROM staff_sessions WHERE session_id = $1", session_id)


async def delete_sessions_of(conn: asyncpg.Connection, username: str) -> None:
    await conn.execute("DELETE FROM staff_sessions WHERE username = $1", username)
