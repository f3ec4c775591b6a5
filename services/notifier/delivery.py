"""The delivery worker: sends pending email and webhook deliveries, retries with backoff.

Claiming and sending are separate. One short statement claims due rows (``FOR UPDATE SKIP
LOCKED``, so replicas take different rows), counts the attempt and moves ``next_attempt_at`` a
lease ahead; it commits at once, so no row lock is held while an SMTP server takes its time.
The attempts run concurrently, each bounded by ``delivery_timeout`` (less than half the lease).
Each outcome is written in its own short statement, guarded by the attempt number it claimed
(a fencing token): a worker that stalled past its lease cannot overwrite the outcome of the
replica that took the row over. A worker that dies mid-attempt leaves the row to come due again
when the lease ends. Delivery is therefore at least once: the email's Message-ID and the
webhook's X-Dongui-Notification-Id are the same on every attempt, so receivers can de-duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from prometheus_client import Counter

from services.notifier import store
from services.notifier.channels import NothingToSend, PermanentFailure
from services.notifier.requesters import ACKNOWLEDGEMENT, REQUESTER, is_requester, owes_acknowledgement
from services.notifier.routing import clean
from services.notifier.settings import NotifierSettings, Recipient
from shared.loops import run_woken

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "dongui_notifier_deliveries_total",
    "Delivery attempts by channel and outcome: sent, retry (will be tried again), failed (gave up)",
    ["channel", "outcome"],
)


class Channel(Protocol):
    async def send(self, notification: dict[str, Any], recipient: Recipient) -> str: ...


#: Called, in the transaction that records it, when a requester's delivery finally failed.
GaveUp = Callable[[asyncpg.Connection, dict[str, Any], str], Awaitable[None]]


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, settings: NotifierSettings, channels: dict[str, Channel], *,
                 dsn: str, schema: str = "notifier", on_requester_failed: GaveUp | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.channels = channels
        self.on_requester_failed = on_requester_failed
        self.dsn = dsn
        self.channel_name = f"{schema}_deliveries"

    async def run(self) -> None:
        """Deliver until cancelled; a database outage only delays deliveries."""
        async def step() -> bool:
            return await self.run_once() >= self.settings.delivery_batch

        await run_woken(step, name="delivery worker", dsn=self.dsn, channel=self.channel_name,
                        poll_interval=self.settings.delivery_poll_interval.total_seconds())

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and attempt them all; returns how many were claimed."""
        async with self.pool.acquire() as conn:
            claimed = await store.claim_due(conn, limit=self.settings.delivery_batch,
                                            lease=self.settings.delivery_lease)
            if not claimed:
                return 0
            notifications = await store.notifications_by_id(conn, list({c["notification_id"] for c in claimed}))
        outcomes = await asyncio.gather(
            *(self._attempt(row, notifications[row["notification_id"]]) for row in claimed), return_exceptions=True
        )
        for outcome in outcomes:  # an outcome not recorded (database away): the lease brings it back
            if isinstance(outcome, BaseException):
                raise outcome
        return len(claimed)

    async def _attempt(self, delivery: asyncpg.Record, notification: dict[str, Any]) -> None:
        channel_name = delivery["channel"]
        attempts = delivery["attempts"]
        target = delivery["target"]
        permanent = False
        error: str | None = None
        skipped = False
        try:
            recipient = self._recipient(notification)
            channel = self.channels.get(channel_name)
            if recipient is None:
                raise PermanentFailure(f"recipient {notification['recipient_id']} is no longer configured")
            if channel is None:
                raise PermanentFailure(f"the {channel_name} channel is not available")
            # The delivery's own target goes with it, for a channel that acts on it (the acknowledgement).
            target = await asyncio.wait_for(channel.send({**notification, "delivery_target": target}, recipient),
                                            timeout=self.settings.delivery_timeout.total_seconds())
        except NothingToSend as exc:
            skipped, error = True, str(exc)
        except PermanentFailure as exc:
            permanent, error = True, str(exc)
        except Exception as exc:  # SMTP, TLS, DNS, HTTP, time-out: all worth another try
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = clean(error, 1000) if error else None
        async with self.pool.acquire() as conn:
            if error is None:
                async with conn.transaction():
                    if await store.delivered(conn, delivery["delivery_id"], attempts, target):
                        DELIVERIES.labels(channel_name, "sent").inc()
                        log.info("delivered notification %s by %s (attempt %d)",
                                 notification["notification_id"], channel_name, attempts)
                        if channel_name == REQUESTER and owes_acknowledgement(notification):
                            # "requester by email" -> "email": how the requester was told
                            await store.insert_delivery(conn, notification["notification_id"], ACKNOWLEDGEMENT,
                                                        target.rsplit(" ", 1)[-1])
                return
            if skipped:  # no one to tell: recorded, not an error
                if await store.give_up(conn, delivery["delivery_id"], attempts, error, status="skipped"):
                    DELIVERIES.labels(channel_name, "skipped").inc()
                    log.info("nothing to send for notification %s: %s", notification["notification_id"], error)
                return
            if permanent or attempts >= self.settings.delivery_max_attempts:
                async with conn.transaction():
                    if await store.give_up(conn, delivery["delivery_id"], attempts, error):
                        DELIVERIES.labels(channel_name, "failed").inc()
                        log.error("gave up delivering notification %s by %s after %d attempts: %s",
                                  notification["notification_id"], channel_name, attempts, error)
                        if channel_name == REQUESTER and self.on_requester_failed is not None:
                            await self.on_requester_failed(conn, notification, error)
                return
            delay = self.settings.backoff(attempts)
            if await store.retry_later(conn, delivery["delivery_id"], attempts, error, delay):
                DELIVERIES.labels(channel_name, "retry").inc()
                log.warning("could not deliver notification %s by %s (attempt %d), next try in %ss: %s",
                            notification["notification_id"], channel_name, attempts,
                            round(delay.total_seconds(), 1), error)

    def _recipient(self, notification: dict[str, Any]) -> Recipient | None:
        """The configured recipient; for a request's requester, one made up of their language alone
        (where to reach them is asked at the attempt)."""
        if is_requester(notification["recipient_id"]):
            return Recipient(id=REQUESTER, name=notification["recipient_name"], language=notification["language"],
                             inbox=False)
        return self.settings.recipient(notification["recipient_id"])
