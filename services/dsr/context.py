"""What every part of the request service shares: settings, the request keys, the clock, and the
consent service's transit keys.

One :class:`Context` is made in ``app.py`` and handed to every part, so that changing the clock or
the transit-key lookup (as tests do, through :class:`~services.dsr.service.RequestService`)
changes it for all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from services.dsr import errors
from services.dsr.consent_client import TransitKeyGone
from services.dsr.model import Request, TransitKey
from services.dsr.settings import DsrSettings
from shared.crypto import SubjectCipher, SubjectKeys
from shared.rules.retention import REQUEST_RECORD_CLASS

#: The CloudEvents source of everything this service publishes.
SOURCE = "dongui/dsr"

#: Looks up a subject's transit key at the consent service (raises TransitKeyGone or Unavailable).
TransitKeyLookup = Callable[[str], Awaitable[bytes]]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: DsrSettings
    keys: SubjectKeys
    clock: Callable[[], datetime] = _now
    transit_key: TransitKeyLookup | None = None
    zone: ZoneInfo = field(init=False)
    holidays: frozenset[date] = field(init=False)

    def __post_init__(self) -> None:
        self.zone = self.settings.zone
        self.holidays = frozenset(self.settings.vn_holidays)

    def record_end(self, closed_at: datetime) -> datetime:
        """When the record of a request closed at ``closed_at`` is destroyed: the complaint-record
        class's period (3 calendar years), or ``DSR_RECORD_RETENTION`` to test it sooner."""
        if self.settings.record_retention is not None:
            return closed_at + self.settings.record_retention
        end = REQUEST_RECORD_CLASS.ends_at(closed_at)
        assert end is not None, "a complaint record is kept for a fixed period"
        return end

    async def cipher(self, conn: asyncpg.Connection, req: Request) -> SubjectCipher:
        """The request's own key; refused once it was destroyed at the end of the retention period."""
        cipher = await self.keys.cipher(conn, req.key_ref, create=False)
        if cipher is None:
            raise errors.RecordDestroyed("This request's record was destroyed at the end of its retention period.")
        return cipher

    async def answer_key(self, subject_id: str) -> bytes | None:
        """The subject's transit key, to open what a system sealed for them; None when it was
        destroyed (the subject was erased). A network call: never inside a transaction."""
        if self.transit_key is None:
            raise errors.NoConsentService("No consent service is configured to issue transit keys.")
        try:
            return await self.transit_key(subject_id)
        except TransitKeyGone:
            return None

    async def sending_key(self, subject_id: str) -> TransitKey:
        """The subject's transit key, to seal what a task carries about them; refused (409) when it
        was destroyed. A network call: never inside a transaction."""
        key = await self.answer_key(subject_id)
        if key is None:
            raise errors.SubjectErased(
                f"Subject '{subject_id}' was erased: their transit key is destroyed, so nothing about them can be "
                "sent to the clinic systems any more."
            )
        return TransitKey(subject_id, key)
