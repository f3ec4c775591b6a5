"""The registry of clinic systems: each one's identity and rights, and the keys it calls with.

The privacy manager registers a system (what it holds and keeps by law, the CloudEvents
``source`` it publishes as, the purposes it may check, any right granted beyond the defaults),
issues its keys (shown once; only their SHA-256 is stored) and revokes them. A system may update
its own registration with its key, but never widen its source, purposes or rights, and never
touch another system's.

Every change is published on ``dsr.systems`` with the whole state of the system or key (the
consent service and the notifier authenticate systems from it) and notified to this service's
replicas (``shared.directory``), in the same transaction; whoever makes a change (the API, the
dashboard) makes it inside :meth:`Systems.change`, so this replica knows it before it answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from services.dsr import errors, store
from services.dsr.context import SOURCE, Context
from services.dsr.destruction import store as destruction_store
from services.dsr.destruction.service import Destructions
from services.dsr.system_schemas import IssuedKeyOut, IssueKey, KeyOut, RegisterSystem, SystemOut
from services.dsr.tasks import Tasks
from shared import directory, outbox, recordsig
from shared.auth import Principal
from shared.cloudevents import new_event
from shared.delegation import parse_secret as parse_delegation_secret
from shared.directory import Directory
from shared.events import SystemChanged, SystemKeyChanged
from shared.i18n import Said
from shared.rules.purposes import PURPOSES
from shared.rules.retention import RETENTION_CLASSES
from shared.settings import Role

SCHEMA = "dsr"
#: The registration's fields that say what a system may do (kept when an update leaves them out).
GRANTS = ("source", "purposes", "rights")
#: What the privacy manager declares of a system outside the clinic: kept when an update leaves it
#: out (a system re-registering at start does not erase it), and never changed by the system itself.
DECLARATIONS = ("legal_basis", "legal_citation", "entrusted_duty", "contract_from", "contract_until")


class Systems:
    def __init__(self, ctx: Context, tasks: Tasks, signing_keys: directory.SigningKeys,
                 this_replica: Directory | None = None, *, destructions: Destructions | None = None) -> None:
        self.ctx = ctx
        self.tasks = tasks
        #: Its destroy tasks are settled too when a system is retired.
        self.destructions = destructions or Destructions(ctx)
        self.signing_keys = signing_keys
        #: This replica's directory of systems and keys (None where nothing here answers with it, as
        #: in the command line: the running replicas reload on the notification).
        self.directory = this_replica

    @asynccontextmanager
    async def change(self, conn: asyncpg.Connection) -> AsyncIterator[None]:
        """The transaction of a change to the registry (a registration, a key issued or revoked, a
        retirement). Once it has committed, this replica's directory reloads, so the change holds
        here before the answer goes out; the other replicas reload on its notification."""
        async with conn.transaction():
            yield
        if self.directory is not None:
            await self.directory.load(conn)

    async def retire(self, conn: asyncpg.Connection, system_id: str, *, reason: str, by: Principal) -> SystemOut:
        """Retire a system: it gets no task from now on, its keys stop working, and each of its open
        tasks is closed by hand with the reason, so no request waits on it."""
        system = await store.system(conn, system_id, lock=True)
        if system is None:
            raise errors.UnknownSystem(f"No system '{system_id}' is registered.")
        if system["retired_at"] is None:
            await store.retire_system(conn, system_id, at=self.ctx.clock(), by=by.name, reason=reason)
        # Retiring again changes nothing (the first date, person and reason stay), and closes any
        # task still open: a retried call is answered 200 like the first.
        for task_id in await store.open_tasks_of(conn, system_id):
            await self.tasks.close_by_hand(conn, task_id, reason=Said("audit.system_retired", values={"reason": reason}),
                                              by=by.name)
        for task_id in await destruction_store.open_tasks_of(conn, system_id):
            await self.destructions.close_by_hand(conn, task_id, reason=str(Said("audit.system_retired", values={"reason": reason})),
                                                     by=by.name)
        return await self._published(conn, system_id)

    async def register(self, conn: asyncpg.Connection, body: RegisterSystem, by: Principal) -> tuple[SystemOut, bool]:
        unknown = [c for c in body.retention_classes if c not in RETENTION_CLASSES]
        if unknown:
            raise errors.UnknownRetentionClasses(
                f"Unknown retention classes: {', '.join(unknown)}. Known: {', '.join(RETENTION_CLASSES)}.",
                unknown=unknown)
        unknown = [p for p in body.purposes if p not in PURPOSES]
        if unknown:
            raise errors.UnknownSystemPurposes(unknown)
        existing = await store.system(conn, body.system_id, lock=True)
        if existing is not None and existing["retired_at"] is not None:
            raise errors.SystemRetired(f"The system '{body.system_id}' was retired; register a new one under "
                                       f"another id.")
        if existing is not None:
            # What the body leaves out of the grants is kept: an update of a description does not
            # have to repeat (or silently drop) what the manager granted.
            kept = {name: existing[name] for name in GRANTS if name not in body.model_fields_set}
            kept |= {name: existing[name] for name in (*DECLARATIONS, "translations") if name not in body.model_fields_set}
            body = body.model_copy(update={name: list(v) if name in ("purposes", "rights") else v
                                           for name, v in kept.items()})
        if by.role is Role.system:
            self._check_self_update(body, existing, by)
        if body.source is not None:
            holder = await store.system_with_source(conn, body.source)
            if holder is not None and holder != body.system_id:
                raise errors.SourceTaken(f"The source '{body.source}' is the system '{holder}''s; each system "
                                         f"publishes as its own.")
        created = await store.upsert_system(conn, body.model_dump(), self.ctx.clock())
        return await self._published(conn, body.system_id), created

    @staticmethod
    def _check_self_update(body: RegisterSystem, existing: asyncpg.Record | None, by: Principal) -> None:
        if by.system_id != body.system_id or existing is None:
            raise errors.NotYourSystem(
                f"The key of system '{by.system_id}' may update only that system's registration, not "
                f"'{body.system_id}'; the privacy manager registers systems."
            )
        wider = []
        if body.source != existing["source"]:
            wider.append("source")
        if not set(body.purposes) <= set(existing["purposes"]):
            wider.append("purposes")
        if not set(body.rights) <= set(existing["rights"]):
            wider.append("rights")
        wider += [name for name in DECLARATIONS if getattr(body, name) != existing[name]]
        if wider:
            raise errors.CannotWiden(
                f"A system may not change its source, widen its purposes or rights, or change what the privacy "
                f"manager declared of it itself ({', '.join(wider)}); ask the privacy manager.",
                errors=[{"field": name, "message": "only the privacy manager may widen it"} for name in wider],
            )

    async def issue_key(self, conn: asyncpg.Connection, system_id: str, body: IssueKey, by: Principal) -> IssuedKeyOut:
        system = await store.system(conn, system_id, lock=True)
        if system is None:
            raise errors.UnknownSystem(f"No system '{system_id}' is registered.")
        if system["retired_at"] is not None:
            raise errors.SystemRetired(f"The system '{system_id}' was retired; it gets no new keys.")
        now = self.ctx.clock()
        expires_at = body.expires_at if "expires_at" in body.model_fields_set else now + self.ctx.settings.system_key_lifetime
        if expires_at is not None and expires_at <= now:
            raise errors.KeyExpiryPast("expires_at is in the past; a key must be usable when issued.")
        key_id, key, digest = directory.new_key()
        # The key is at hand only now: what checks the Kafka records it will sign is derived here.
        signing_key = recordsig.signing_key(key)
        await store.insert_system_key(conn, key_id=key_id, system_id=system_id, name=body.name, key_sha256=digest,
                                      created_at=now, created_by=by.name, expires_at=expires_at,
                                      wrapped_signing_key=self.signing_keys.wrap(key_id, signing_key))
        await self._key_published(conn, key_id, signing_key)
        return IssuedKeyOut(key_id=key_id, key=key, system_id=system_id, name=body.name, created_at=now,
                            expires_at=expires_at)

    async def revoke_key(self, conn: asyncpg.Connection, system_id: str, key_id: str, by: Principal) -> None:
        row = await store.system_key(conn, key_id, lock=True)
        if row is None or row["system_id"] != system_id:
            raise errors.UnknownKey(f"The system '{system_id}' has no key '{key_id}'.")
        if row["revoked_at"] is None:
            await store.revoke_system_key(conn, key_id, at=self.ctx.clock(), by=by.name)
            await self._key_published(conn, key_id)

    async def keys(self, conn: asyncpg.Connection, system_id: str) -> list[KeyOut]:
        if await store.system(conn, system_id) is None:
            raise errors.UnknownSystem(f"No system '{system_id}' is registered.")
        return [KeyOut(**dict(r)) for r in await store.system_keys(conn, system_id)]

    async def _published(self, conn: asyncpg.Connection, system_id: str) -> SystemOut:
        """Publish the system's state and tell this service's replicas; return it as the API shows it."""
        row = await store.system(conn, system_id)
        assert row is not None, "the system was just written"
        await self._enqueue(conn, SystemChanged(
            system_id=system_id, source=row["source"], purposes=list(row["purposes"]), rights=list(row["rights"]),
            retired_at=row["retired_at"], updated_at=row["updated_at"]), row["updated_at"])
        await directory.notify(conn, SCHEMA)
        return SystemOut(**dict(row))

    async def _key_published(self, conn: asyncpg.Connection, key_id: str, signing_key: bytes | None = None) -> None:
        """Publish the key's state; its signing key (when issued) encrypted for the services only."""
        row = await store.system_key(conn, key_id)
        assert row is not None, "the key was just written"
        changed_at: datetime = row["revoked_at"] or row["created_at"]
        await self._enqueue(conn, SystemKeyChanged(
            key_id=key_id, system_id=row["system_id"], name=row["name"], key_sha256=row["key_sha256"],
            created_at=row["created_at"], expires_at=row["expires_at"], revoked_at=row["revoked_at"],
            encrypted_signing_key=(self.signing_keys.for_transit(key_id, signing_key)
                                   if signing_key is not None and row["revoked_at"] is None else None),
        ), changed_at)
        await directory.notify(conn, SCHEMA)

    async def _enqueue(self, conn: asyncpg.Connection, data: SystemChanged | SystemKeyChanged, at: datetime) -> None:
        """Into the outbox, signed (``directory.signed``): the other services apply only what this one sent."""
        event = new_event(source=SOURCE, type=data.event_type, subject=data.kafka_key(),
                          data=data.model_dump(mode="json"), time=at)
        secret = parse_delegation_secret(self.ctx.settings.delegation_secret.get_secret_value())
        await outbox.enqueue_event(conn, directory.signed(event, secret), topic=data.topic, key=data.kafka_key())
