"""The provision log: each time the clinic provided a person's data to a third party because a law
required it, without their consent (the grounds: ``shared/rules/provisions.yaml``).

Staff record a provision when it is made (`POST /v1/provisions`): whose data, on which ground (which
names the recipient and the law), which categories, when, and the document it answered (a warrant's
number). The log is append-only; the person reads their provisions in their access report
(:meth:`Provisions.of_subject`), in their language, with the law that required each.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.dsr import errors, store
from services.dsr.context import Context
from services.dsr.provision_schemas import ProvisionOut, RecordProvision
from shared.rules.provisions import PROVISION_GROUNDS

#: How far ahead of this service's clock a provision's time may be (another machine's clock).
CLOCK_SKEW = timedelta(minutes=5)


class Provisions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def record(self, conn: asyncpg.Connection, body: RecordProvision, *, by: str) -> ProvisionOut:
        now = self.ctx.clock()
        if body.provided_at > now + CLOCK_SKEW:
            raise errors.ProvidedInFuture("provided_at is in the future: record a provision once it was made.")
        row = await store.add_provision(conn, {
            "provision_id": uuid.uuid4(), "subject_id": body.subject_id, "ground": body.ground,
            "data_categories": body.data_categories, "reference": body.reference, "provided_at": body.provided_at,
            "recorded_by": by, "recorded_at": now})
        return _out(row)

    async def log(self, conn: asyncpg.Connection, *, subject_id: str | None = None,
                  since: datetime | None = None) -> list[ProvisionOut]:
        """The log, newest first: every provision, or a subject's, or those provided since ``since``."""
        rows = await store.provisions(conn, subject_id, since)
        return [_out(row) for row in rows]

    async def of_subject(self, conn: asyncpg.Connection, subject_id: str, language: str) -> list[dict[str, Any]]:
        """What the person reads in their access report: to whom, on which law, what, when."""
        return [{**PROVISION_GROUNDS[p.ground].view(language), "data_categories": p.data_categories,
                 "provided_at": p.provided_at}
                for p in await self.log(conn, subject_id=subject_id) if p.ground in PROVISION_GROUNDS]


def _out(row: asyncpg.Record) -> ProvisionOut:
    ground = PROVISION_GROUNDS.get(row["ground"])
    return ProvisionOut(**{**dict(row), "provision_id": str(row["provision_id"])},
                        recipient=ground.recipient["en"] if ground else None,
                        citation=ground.citation if ground else None)
