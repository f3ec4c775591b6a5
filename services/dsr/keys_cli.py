"""The privacy manager's command line for clinic systems' keys, beside the API and the dashboard::

    python -m services.dsr.keys_cli issue --system emr --name "emr production 2026" [--expires-at 2027-06-30T00:00:00+09:00]
    python -m services.dsr.keys_cli list --system emr
    python -m services.dsr.keys_cli revoke --system emr --key key.3f9a1c07d2e4b6a8

It works on the request service's database (``DATABASE_URL``) with the same rules as
``POST /v1/systems/{id}/keys``: the key is printed once and kept only as its SHA-256 (and the
signing key derived from it, encrypted: ``shared/recordsig.py``), and every
change is published on ``dsr.systems`` (through the outbox: a running request service sends it)
and notified to the running replicas. What it does is recorded as done by ``--by`` (default: the
operating-system user).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import datetime

from services.dsr.context import Context
from services.dsr.lifecycle import Lifecycle
from services.dsr.settings import DsrSettings
from services.dsr.system_schemas import IssueKey
from services.dsr.systems import Systems
from services.dsr.tasks import Tasks
from shared.auth import Principal
from shared.crypto import SubjectKeys, parse_master_key
from shared.problems import Problem
from shared.runtime import signing_keys
from shared.settings import Role


async def _run(args: argparse.Namespace) -> int:
    from shared.db import create_pool
    from shared.migrations import upgrade_async

    settings = DsrSettings()
    await upgrade_async(settings.database_url, "dsr")
    ctx = Context(settings, SubjectKeys(parse_master_key(settings.master_key.get_secret_value())))
    systems = Systems(ctx, Tasks(ctx, Lifecycle(ctx)), signing_keys(settings))
    by = Principal(f"{args.by} (command line)", Role.privacy_manager)
    pool = await create_pool(settings.database_url, "dsr", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            if args.command == "list":
                for key in await systems.keys(conn, args.system):
                    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
                    expiry = f"expires {key.expires_at:%Y-%m-%d}" if key.expires_at else "never expires"
                    print(f"{key.key_id}  {state:<24} {expiry:<20} {key.name}  (by {key.created_by})")
                return 0
            async with conn.transaction():
                if args.command == "issue":
                    body = IssueKey(name=args.name, **({"expires_at": args.expires_at} if args.expires_at else {}))
                    issued = await systems.issue_key(conn, args.system, body, by)
                else:
                    await systems.revoke_key(conn, args.system, args.key, by)
        if args.command == "issue":
            print(f"key_id     {issued.key_id}\nexpires_at {issued.expires_at or 'never'}\n"
                  f"key        {issued.key}\n(shown this once: give it to the system now)")
        else:
            print(f"revoked {args.key}")
        return 0
    except Problem as problem:
        print(f"{problem.title}: {problem.detail}", file=sys.stderr)
        return 1
    finally:
        await pool.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.dsr.keys_cli",
                                     description="Clinic systems' API keys (the privacy manager's).")
    parser.add_argument("--by", default=getpass.getuser(), help="who is doing this (recorded)")
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue", help="issue a key (printed once)")
    issue.add_argument("--system", required=True)
    issue.add_argument("--name", required=True)
    issue.add_argument("--expires-at", type=datetime.fromisoformat, help="ISO 8601 with an offset; default a year")
    listing = sub.add_parser("list", help="a system's keys, live and revoked (never the keys)")
    listing.add_argument("--system", required=True)
    revoke = sub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("--system", required=True)
    revoke.add_argument("--key", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
