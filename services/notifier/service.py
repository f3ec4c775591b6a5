"""The notifier's rules: who is told what, in which language, by which channels; the digest."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from services.notifier import store
from services.notifier.channels import shown_url
from services.notifier.kinds import Kind
from services.notifier.render import Renderer
from services.notifier.requesters import REQUESTER, requester_id
from services.notifier.routing import Notice, Withdrawal, digest_notice
from services.notifier.settings import NotifierSettings, Recipient

log = logging.getLogger(__name__)


class NotifierService:
    def __init__(self, settings: NotifierSettings, renderer: Renderer,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.renderer = renderer
        # The digest's notion of "now" (tests move it); deliveries are timed by the database.
        self.clock = clock

    def channels_of(self, recipient: Recipient) -> list[tuple[str, str]]:
        """(channel, target) pairs a recipient gets besides the inbox."""
        channels = []
        if recipient.email and self.settings.email_enabled:
            channels.append(("email", recipient.email))
        if recipient.webhook_url:
            channels.append(("webhook", shown_url(recipient.webhook_url)))
        return channels

    async def notify(self, conn: asyncpg.Connection, notice: Notice) -> list[uuid.UUID]:
        """Address ``notice`` to every recipient who wants its kind, in the caller's transaction.

        Each notification and its deliveries are written together; a notification that exists
        already (the same event told to the same recipient) is left as it is.
        """
        created = []
        for recipient in self.settings.recipients:
            if not recipient.wants(notice.kind):
                continue
            notification_id = await self._insert(conn, notice, notice.kind, recipient.id, recipient.name,
                                                 recipient.language, in_inbox=recipient.inbox)
            if notification_id is None:
                continue
            for channel, target in self.channels_of(recipient):
                await store.insert_delivery(conn, notification_id, channel, target)
            created.append(notification_id)
        told = await self.tell_requester(conn, notice)
        return created + ([told] if told else [])

    async def tell_requester(self, conn: asyncpg.Connection, notice: Notice) -> uuid.UUID | None:
        """The requester's own message about ``notice``, in their language, delivered on the
        requester channel (where to is asked at each attempt); not in the staff inbox."""
        if notice.requester_kind is None or notice.request_id is None or not self.settings.tell_requesters:
            return None
        language = notice.facts.get("language") or "ko"
        notification_id = await self._insert(conn, notice, notice.requester_kind, requester_id(notice.request_id),
                                             REQUESTER, language, in_inbox=False)
        if notification_id is not None:
            await store.insert_delivery(conn, notification_id, REQUESTER, REQUESTER)
        return notification_id

    async def requester_not_told(self, conn: asyncpg.Connection, told: dict[str, Any], error: str) -> None:
        """A requester's message finally failed: staff are told, with the reference and the message
        that failed, never the address (nor the error, which may quote it)."""
        facts = {name: told["facts"].get(name) for name in ("request_id", "reference", "type", "status",
                                                             "jurisdiction", "due_at")}
        facts.update(told=told["kind"], notification_id=str(told["notification_id"]))
        await self.notify(conn, Notice(
            key=f"not-told:{told['notification_id']}", kind=Kind.requester_not_told, event_type="notifier.requester_not_told",
            occurred_at=datetime.now(UTC), facts=facts, request_id=told["request_id"], reference=told["reference"],
            due_at=told["due_at"]))

    async def _insert(self, conn: asyncpg.Connection, notice: Notice, kind: Kind, recipient_id: str,
                      recipient_name: str, language: str, *, in_inbox: bool) -> uuid.UUID | None:
        text = self.renderer.render(kind, notice.facts, language)
        return await store.insert_notification(conn, {
            "notification_id": uuid.uuid4(),
            "event_key": notice.key,
            "event_type": notice.event_type,
            "kind": kind.value,
            "recipient_id": recipient_id,
            "recipient_name": recipient_name,
            "language": language,
            "in_inbox": in_inbox,
            "title": text.title,
            "summary": text.summary,
            "action": text.action,
            "link": text.link,
            "request_id": notice.request_id,
            "reference": notice.reference,
            "due_at": notice.due_at,
            "facts": notice.facts,
            "occurred_at": notice.occurred_at,
        })

    async def record_withdrawal(self, conn: asyncpg.Connection, withdrawal: Withdrawal) -> None:
        day = withdrawal.recorded_at.astimezone(self.settings.zone).date()
        await store.add_withdrawal(conn, withdrawal.event_id, day, withdrawal.purpose)

    def digest_day(self) -> date | None:
        """The local day whose digest is due now: yesterday, once today's digest hour has come."""
        local = self.clock().astimezone(self.settings.zone)
        if local.hour < self.settings.digest_hour:
            return None
        return local.date() - timedelta(days=1)

    async def digest_if_due(self, conn: asyncpg.Connection) -> bool:
        """Make the day's digest once (whatever the replicas and restarts), in one transaction.

        It counts every withdrawal of that day and before that no digest counted yet, so one
        that arrived late (the notifier was down, the consumer lagged) is in the next digest.
        """
        day = self.digest_day()
        if day is None or await store.digest_made(conn, day):
            return False
        async with conn.transaction():
            if not await store.start_digest(conn, day):
                return False
            counts = await store.take_withdrawals(conn, day)
            total = sum(c["count"] for c in counts)
            await store.finish_digest(conn, day, total)
            if total or self.settings.digest_when_empty:
                await self.notify(conn, digest_notice(day, counts, self.settings.timezone))
        log.info("withdrawal digest for %s: %d withdrawals", day, total)
        return True
