"""HTTP response bodies of the notifier's inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.notifier.kinds import Kind


class DeliveryOut(BaseModel):
    """One channel of a notification: where it went, how it went."""

    channel: Literal["email", "webhook", "requester", "acknowledgement"]
    target: str = Field(description="The email address or webhook URL (of the latest attempt)")
    status: Literal["pending", "sent", "failed", "skipped"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending only)")
    last_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    failed_at: datetime | None


class RecipientOut(BaseModel):
    id: str
    name: str
    language: Literal["ko", "en", "vi"]


class NotificationOut(BaseModel):
    """What the privacy manager was told, in the recipient's language, and how it was delivered."""

    id: uuid.UUID
    kind: Kind
    event_type: str
    recipient: RecipientOut
    title: str
    summary: str = Field(description="What happened")
    action: str = Field(description="What to do, and by when")
    link: str | None
    request_id: str | None
    reference: str | None
    due_at: datetime | None
    facts: dict[str, Any] = Field(description="The facts the texts were made from; no personal data")
    occurred_at: datetime
    created_at: datetime
    read_at: datetime | None
    read_by: str | None
    deliveries: list[DeliveryOut] = Field(description="Email and webhook; the inbox itself is not listed")


class NotificationPage(BaseModel):
    unread: int = Field(description="Unread notifications in the inbox (of the recipient, if one is asked)")
    total: int = Field(description="Notifications matching the filters")
    items: list[NotificationOut]


class UnreadCount(BaseModel):
    unread: int
