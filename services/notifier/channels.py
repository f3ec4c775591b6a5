"""The two outside channels: email over SMTP (aiosmtplib) and a signed webhook POST (httpx).

Each ``send`` makes one attempt and returns the target it used, or raises: :class:`PermanentFailure`
when trying again cannot help (the channel is not configured any more), anything else when it may.
Targets and secrets are read from the current settings at each attempt, so correcting a
recipient's address and restarting lets pending retries reach the right place.
"""

from __future__ import annotations

import json
import time
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from services.notifier.render import Renderer
from services.notifier.settings import NotifierSettings, Recipient
from services.notifier.signing import NOTIFICATION_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


def shown_url(url: str) -> str:
    """A webhook URL as the inbox and the logs show it: its origin only. Paths and queries often
    hold a token (chat webhooks do), and the inbox is read by all staff."""
    parts = urlsplit(url)
    rest = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{rest}"


class PermanentFailure(Exception):
    """Trying again cannot deliver this (recorded as failed at once)."""


class NothingToSend(PermanentFailure):
    """There is no one to send this to, and nothing went wrong: a requester whose personal data was
    destroyed, or who gave no email address or phone number (recorded as skipped, not shown as a
    failure)."""


class EmailChannel:
    def __init__(self, settings: NotifierSettings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer

    async def send(self, notification: dict[str, Any], recipient: Recipient) -> str:
        settings = self.settings
        if not settings.email_enabled:
            raise PermanentFailure("email is off (NOTIFIER_SMTP_HOST is empty)")
        if not recipient.email:
            raise PermanentFailure(f"recipient {recipient.id} has no email address any more")
        message = self.renderer.email(notification, to_name=recipient.name, to_address=recipient.email,
                                      sender=settings.smtp_from)
        await send_email(settings, message)
        return recipient.email


async def send_email(settings: NotifierSettings, message: Message) -> None:
    """One SMTP conversation with the configured server, sending ``message``."""
    if not settings.email_enabled:
        raise PermanentFailure("email is off (NOTIFIER_SMTP_HOST is empty)")
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.effective_smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        use_tls=settings.smtp_tls == "tls",
        # False, not None: aiosmtplib would otherwise upgrade opportunistically, and "none"
        # means a plain connection (a local relay); "starttls" refuses a server without it.
        start_tls=settings.smtp_tls == "starttls",
        validate_certs=settings.smtp_validate_certs,
        timeout=settings.delivery_timeout.total_seconds(),
    )


def webhook_payload(notification: dict[str, Any]) -> dict[str, Any]:
    """What a webhook receiver gets: the texts in the recipient's language and the facts."""
    return {
        "id": str(notification["notification_id"]),
        "kind": notification["kind"],
        "event_type": notification["event_type"],
        "recipient": notification["recipient_id"],
        "language": notification["language"],
        "title": notification["title"],
        "summary": notification["summary"],
        "action": notification["action"],
        "link": notification["link"],
        "request_id": notification["request_id"],
        "reference": notification["reference"],
        "due_at": notification["due_at"].isoformat() if notification["due_at"] else None,
        "occurred_at": notification["occurred_at"].isoformat(),
        "created_at": notification["created_at"].isoformat(),
        "facts": notification["facts"],
    }


class WebhookChannel:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        # Redirects are not followed: a signed body goes only to the configured URL.
        self.client = httpx.AsyncClient(timeout=settings.delivery_timeout.total_seconds(), follow_redirects=False)

    async def send(self, notification: dict[str, Any], recipient: Recipient) -> str:
        if not recipient.webhook_url or recipient.webhook_secret is None:
            raise PermanentFailure(f"recipient {recipient.id} has no webhook any more")
        body = json.dumps(webhook_payload(notification), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        response = await self.client.post(
            recipient.webhook_url,
            content=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "dongui-notifier/1",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(recipient.webhook_secret.get_secret_value(), timestamp, body),
                NOTIFICATION_ID_HEADER: str(notification["notification_id"]),
            },
        )
        if not 200 <= response.status_code < 300:
            raise DeliveryRefused(f"HTTP {response.status_code} from {shown_url(recipient.webhook_url)}: "
                                  f"{response.text[:200]}")
        return shown_url(recipient.webhook_url)

    async def close(self) -> None:
        await self.client.aclose()


class DeliveryRefused(Exception):
    """The receiver answered, but not with success (tried again: it may be redeploying)."""
