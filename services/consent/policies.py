"""The purpose catalogue and the privacy-policy versions: publishing them, and reading them back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.consent import domain, store
from services.consent.errors import NoticePeriodTooShort, UnknownPolicyPurposes
from services.consent.schemas import PolicyVersion, PublishPolicy
from services.consent.settings import ConsentSettings
from shared import outbox
from shared.digests import sha256_hex
from shared.events import PolicyPublished
from shared.problems import Conflict, NotFound

SOURCE = "dongui/consent"


class Policies:
    def __init__(self, settings: ConsentSettings, purposes: dict[str, domain.Purpose],
                 clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.purposes = purposes
        self.clock = clock
        # Published policy versions never change, so they can be kept once read.
        self._versions: dict[tuple[str, str], asyncpg.Record] = {}

    def purpose(self, purpose_id: str) -> domain.Purpose:
        purpose = self.purposes.get(purpose_id)
        if purpose is None:
            raise NotFound(f"There is no purpose '{purpose_id}'. Known purposes: {', '.join(self.purposes)}.")
        return purpose

    async def publish(self, conn: asyncpg.Connection, command: PublishPolicy, *, by: str) -> PolicyVersion:
        unknown = [p for p in command.purposes if p not in self.purposes]
        if unknown:
            raise UnknownPolicyPurposes(unknown)
        now = self.clock()
        await store.lock_policy_id(conn, command.policy_id)
        existing = await store.policy_versions(conn, command.policy_id)
        if any(row["version"] == command.version for row in existing):
            raise Conflict(f"Version {command.version} of policy {command.policy_id} is already published; publish a new version.")
        notice = self.settings.policy_notice_period
        if existing and command.effective_at < now + notice:
            raise NoticePeriodTooShort(
                f"A new version of a published policy must take effect at least {notice.days} days after it is "
                f"published, so that people are told in advance (policy section 12): effective_at must be on or "
                f"after {(now + notice).isoformat(timespec='seconds')}.",
                reason=f"at least {notice.days} days after publishing",
            )
        texts = command.texts.model_dump()
        text_hashes = {lang: sha256_hex(text) for lang, text in texts.items()}
        await store.insert_policy(conn, {
            "policy_id": command.policy_id,
            "version": command.version,
            "effective_at": command.effective_at,
            "published_at": now,
            "published_by": by,
            "texts": texts,
            "text_hashes": text_hashes,
            "purposes": command.purposes,
        })
        await outbox.enqueue(
            conn,
            PolicyPublished(
                policy_id=command.policy_id, version=command.version, effective_at=command.effective_at,
                published_at=now, published_by=by, purposes=command.purposes, text_hashes=text_hashes,
            ),
            source=SOURCE,
        )
        versions = await self.versions(conn, command.policy_id)
        return next(v for v in versions if v.version == command.version)

    async def versions(self, conn: asyncpg.Connection, policy_id: str) -> list[PolicyVersion]:
        rows = await store.policy_versions(conn, policy_id)
        if not rows:
            raise NotFound(f"There is no policy '{policy_id}'.")
        now = self.clock()
        effective = [r for r in rows if r["effective_at"] <= now]
        current = max(effective, key=lambda r: r["effective_at"])["version"] if effective else None
        return [
            PolicyVersion(**dict(r), in_effect=r["version"] == current) for r in rows
        ]

    async def version(self, conn: asyncpg.Connection, policy_id: str, version: str) -> asyncpg.Record | None:
        """One published version (kept once read), or None."""
        key = (policy_id, version)
        if key not in self._versions:
            row = await store.policy(conn, policy_id, version)
            if row is None:
                return None
            self._versions[key] = row
        return self._versions[key]
