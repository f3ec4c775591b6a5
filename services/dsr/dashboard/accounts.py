"""Staff accounts, their sessions and the sign-in rate limit; and a CLI to create accounts.

* Passwords: argon2id through ``argon2-cffi`` (its default, RFC 9106 low-memory profile); only the
  encoded hash is stored. An unknown username is checked against a dummy hash so that it takes
  about as long as a wrong password.
* Sessions: the cookie holds 32 random bytes (URL-safe); the table holds only their SHA-256, so a
  database dump opens no session. Each session has its own CSRF token, an idle expiry and an
  absolute one; signing out deletes the row.
* Rate limit (in the database, so every replica shares it), after OWASP's "slow down online
  guessing attacks with device cookies": a browser that signed in as an account gets a device
  cookie (a random token; the table keeps its SHA-256, with the account, for
  ``signin_device_lifetime`` from its last sign-in). An attempt from a browser trusted for that
  username counts its failures against that browser alone (``device:<id>:<username>``, at most
  ``per_device`` in the window) and is not held by the username's or the address's limit; any
  other attempt (no cookie, another account's, a forged or expired one) counts against the
  username (``user:<name>``, ``per_user``) and the client address (``addr:<address>``,
  ``per_address``) and is refused once either is reached. So a stranger's wrong passwords lock
  out strangers, never the staff member at her own browser; and a stolen device cookie buys
  ``per_device`` guesses at one account per window, nothing more. A success forgets the
  failures of the count it was checked against, no other.

CLI::

    python -m services.dsr.dashboard.accounts create --username kim --role privacy_manager \\
        [--display-name "김지은"]      # the password is asked for, or read from DONGUI_NEW_PASSWORD
    python -m services.dsr.dashboard.accounts disable --username kim
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.dsr.dashboard import store
from shared.digests import sha256_hex
from shared.settings import Role

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
STAFF_ROLES = (Role.staff, Role.privacy_manager)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    role: Role


@dataclass(frozen=True)
class SignedIn:
    account: Account
    #: For the session cookie.
    session_token: str
    #: For the device cookie: the browser's own token when this service issued it, else a new one.
    device_token: str


@dataclass(frozen=True)
class Session:
    account: Account
    csrf_token: str
    session_id: str


class AccountError(ValueError):
    pass


def check_new_account(username: str, role: str, password: str) -> None:
    if not USERNAME.match(username):
        raise AccountError("username: 2-64 characters, lower-case letters, digits, '.', '_' or '-'")
    if role not in {r.value for r in STAFF_ROLES}:
        raise AccountError("role must be staff or privacy_manager (machines use API keys)")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


async def create_account(conn: asyncpg.Connection, *, username: str, password: str, role: str,
                         display_name: str | None = None, replace: bool = False) -> Account:
    """Create an account (or, with ``replace``, reset its password, role and name)."""
    check_new_account(username, role, password)
    now = datetime.now(UTC)
    hashed = await asyncio.to_thread(hash_password, password)
    name = display_name or username
    if replace:
        await store.upsert_account(conn, username=username, display_name=name, role=role, password_hash=hashed,
                                   now=now)
    else:
        try:
            await store.insert_account(conn, username=username, display_name=name, role=role,
                                       password_hash=hashed, now=now)
        except asyncpg.UniqueViolationError:
            raise AccountError(f"the account '{username}' already exists") from None
    return Account(username, display_name or username, Role(role))


async def ensure_account(conn: asyncpg.Connection, *, username: str, password: str, role: str,
                         display_name: str | None = None) -> None:
    """Create the account unless it exists (the development account at start-up)."""
    if await store.account_exists(conn, username):
        return
    try:
        await create_account(conn, username=username, password=password, role=role, display_name=display_name)
    except AccountError:
        if not await store.account_exists(conn, username):
            raise  # another replica creating it at the same moment is fine; anything else is not


async def disable_account(conn: asyncpg.Connection, username: str) -> bool:
    async with conn.transaction():
        done = await store.disable_account(conn, username)
        await store.delete_sessions_of(conn, username)
        await store.delete_devices_of(conn, username)
    return done


class SignInLimited(Exception):
    pass


class Accounts:
    """Sign-in, sessions and the rate limit, on the request service's pool."""

    def __init__(self, *, idle: timedelta, absolute: timedelta, window: timedelta, per_user: int,
                 per_address: int, per_device: int, device_lifetime: timedelta) -> None:
        self.idle = idle
        self.absolute = absolute
        self.window = window
        self.per_user = per_user
        self.per_address = per_address
        self.per_device = per_device
        self.device_lifetime = device_lifetime

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    async def _failures(self, conn: asyncpg.Connection, key: str) -> int:
        return await store.failures_since(conn, key, self.now() - self.window)

    async def sign_in(self, conn: asyncpg.Connection, username: str, password: str, address: str,
                      device: str | None = None) -> SignedIn | None:
        """Check the password; on success a new session, and the device token for the browser.

        ``device``: the browser's device cookie, if it sent one. ``None`` for a wrong username or
        password (the same answer for both); :class:`SignInLimited` after too many failures of
        this browser for this username, if it is trusted for it, else of this username or this
        address from untrusted clients.
        """
        username = username.strip().lower()[:64]
        now = self.now()
        device_id = sha256_hex(device) if device and len(device) <= 200 else None
        if device_id is not None and await store.device_trusted_for(conn, device_id, username, now):
            counted, limits = [f"device:{device_id}:{username}"], [self.per_device]
        else:
            counted, limits = [f"user:{username}", f"addr:{address}"], [self.per_user, self.per_address]
        for key, limit in zip(counted, limits, strict=True):
            if await self._failures(conn, key) >= limit:
                raise SignInLimited()
        row = await store.account(conn, username)
        stored = row["password_hash"] if row is not None else _DUMMY_HASH
        ok = await asyncio.to_thread(_verify, stored, password)
        now = self.now()
        if not ok or row is None or row["disabled"]:
            await store.record_failures(conn, counted, now)
            await store.forget_failures_before(conn, now - self.window)
            return None
        await store.forget_failures_of(conn, counted[0])  # the device's, or the username's (untrusted)
        if _hasher.check_needs_rehash(stored):
            await store.set_password_hash(conn, username, await asyncio.to_thread(hash_password, password))
        token = secrets.token_urlsafe(32)
        await store.insert_session(conn, session_id=sha256_hex(token), username=username,
                                   csrf_token=secrets.token_urlsafe(32), now=now, expires_at=now + self.absolute)
        await store.forget_sessions_before(conn, expired=now, idle_since=now - self.idle)
        # The browser keeps its token if this service issued it (it may be trusted for others at
        # the same desk); a token it made up, or one that expired, is replaced, never adopted.
        if device is None or device_id is None or not await store.device_known(conn, device_id, now):
            device = secrets.token_urlsafe(32)
            device_id = sha256_hex(device)
        await store.trust_device(conn, device_id=device_id, username=username, now=now,
                                 expires_at=now + self.device_lifetime)
        await store.forget_devices_before(conn, now)
        return SignedIn(Account(row["username"], row["display_name"], Role(row["role"])), token, device)

    async def session(self, conn: asyncpg.Connection, token: str | None) -> Session | None:
        """The live session of a cookie token (its idle time restarted), or None."""
        if not token or len(token) > 200:
            return None
        now = self.now()
        row = await store.live_session(conn, sha256_hex(token), now=now, idle_since=now - self.idle)
        if row is None:
            return None
        if now - row["last_seen_at"] > timedelta(minutes=1):
            await store.touch_session(conn, row["session_id"], now)
        return Session(Account(row["username"], row["display_name"], Role(row["role"])), row["csrf_token"],
                       row["session_id"])

    async def sign_out(self, conn: asyncpg.Connection, session: Session) -> None:
        await store.delete_session(conn, session.session_id)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- CLI ----------------------------------------------------------------------------------------


async def _cli(args: argparse.Namespace) -> int:
    from services.dsr.settings import DsrSettings
    from shared.db import create_pool
    from shared.migrations import upgrade_async

    settings = DsrSettings()
    await upgrade_async(settings.database_url, "dsr")
    pool = await create_pool(settings.database_url, "dsr", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            if args.command == "disable":
                if not await disable_account(conn, args.username):
                    print(f"no account '{args.username}'", file=sys.stderr)
                    return 1
                print(f"disabled {args.username} (and signed out its sessions)")
                return 0
            password = os.environ.get("DONGUI_NEW_PASSWORD")
            if not password:
                password = getpass.getpass(f"password for {args.username}: ")
                if getpass.getpass("again: ") != password:
                    print("the passwords differ", file=sys.stderr)
                    return 1
            try:
                account = await create_account(conn, username=args.username, password=password, role=args.role,
                                               display_name=args.display_name, replace=args.reset)
            except AccountError as exc:
                print(str(exc), file=sys.stderr)
                return 1
            print(f"{'reset' if args.reset else 'created'} {account.username} ({account.role.value})")
            return 0
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.dsr.dashboard.accounts",
                                     description="Staff accounts of the dashboard (people; machines use API keys).")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create an account (password asked, or DONGUI_NEW_PASSWORD)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
    create.add_argument("--display-name")
    create.add_argument("--reset", action="store_true", help="reset an existing account's password and role")
    disable = sub.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("--username", required=True)
    return asyncio.run(_cli(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
