"""Telling the requester: what the notifier needs to write to them, Vietnam's acknowledgement, and
what staff still need from them.

The requester's contact never leaves this service on Kafka: the notifier asks for it at each
delivery (:meth:`Telling.contact`, the notifier's key only) and keeps nothing. A contact is an
email address or a phone number, or neither (a postal address, a name): then nothing is sent.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import asyncpg

from services.dsr import errors, store
from services.dsr.context import Context
from services.dsr.lifecycle import Lifecycle
from services.dsr.model import Request
from services.dsr.telling_schemas import RequesterContact
from shared.events import (
    InformationNeeded,
    RequestAcknowledged,
    RequestAcknowledgementOverdue,
    RequestInformationNeeded,
)
from shared.i18n import Said

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,22}$")

Channel = Literal["email", "sms", "none"]

#: The notice kind (deadline_notices) that says the acknowledgement was overdue, once.
ACKNOWLEDGEMENT_OVERDUE = "acknowledgement_overdue"


def channel_of(contact: str | None) -> Channel:
    """How a contact can be told: by email, by SMS (7 to 15 digits), or not at all."""
    text = (contact or "").strip()
    if _EMAIL.match(text):
        return "email"
    if _PHONE.match(text) and 7 <= sum(c.isdigit() for c in text) <= 15:
        return "sms"
    return "none"


def contact_in(personal: dict[str, Any], relationship: str) -> str | None:
    """Whom the request's messages go to: the guardian who joined a child's own request, else the
    requester, else (the person filing for themselves) the subject's own contact."""
    guardian = personal.get("guardian") or {}
    requester = personal.get("requester") or {}
    subject = personal.get("subject") or {}
    return (guardian.get("contact") or requester.get("contact")
            or (subject.get("contact") if relationship == "self" else None))


class Telling:
    def __init__(self, ctx: Context, lifecycle: Lifecycle) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle

    def link(self, req: Request, token: str | None) -> str:
        """The requester's private link; without the token (requests filed before it was kept) the
        portal's page of the request, which asks for it."""
        base = f"{self.ctx.settings.public_url.rstrip('/')}/portal/r/{req.request_id}"
        return f"{base}#t={token}" if token else base

    async def contact(self, conn: asyncpg.Connection, req: Request) -> RequesterContact:
        """The requester's channel, address, language and private link (410 once destroyed)."""
        cipher = await self.ctx.keys.cipher(conn, req.key_ref, create=False)
        personal = cipher.open(req.personal, context=req.context) if cipher and req.personal else None
        if req.destroyed_at is not None or personal is None:
            raise errors.RequesterDataDestroyed(
                f"The personal data of request {req.reference} was destroyed; there is no one to tell.")
        address = contact_in(personal, req.relationship)
        channel = channel_of(address)
        return RequesterContact(channel=channel, address=address if channel != "none" else None,
                                language=req.language, link=self.link(req, personal.get("token")))

    async def acknowledge(self, conn: asyncpg.Connection, req: Request, *, by: str,
                          via: Literal["email", "sms", "staff"]) -> Request:
        """Record the acknowledgement once (a second call changes nothing and returns the first),
        audited as a row of the trail, and publish ``request.acknowledged``."""
        req.check_acknowledgeable()
        if req.acknowledged_at is not None:
            return req
        now = self.ctx.clock()
        req = await store.update_request(conn, req.request_id, acknowledged_at=now, acknowledged_by=by,
                                         acknowledged_via=via, updated_at=now)
        late = "_late" if req.acknowledge_by is not None and now > req.acknowledge_by else ""
        said = (Said(f"audit.acknowledged_staff{late}") if via == "staff"
                else Said(f"audit.acknowledged_told{late}", {"via": ("channel", via)}))
        await store.add_transition(conn, req.request_id, at=now, actor=by, from_status=req.status,
                                   to_status=req.status, reason=said)
        await self.lifecycle.publish(conn, RequestAcknowledged, req, acknowledge_by=req.acknowledge_by,
                                     acknowledged_at=now, acknowledged_via=via)
        return req

    async def need(self, conn: asyncpg.Connection, req: Request, needed: InformationNeeded, *, by: str) -> Request:
        """Staff need something more from the requester: audited, and the requester told (by code)."""
        if req.status not in ("received", "verifying"):
            raise errors.NotWaitingForRequester(
                f"A request that is {req.status} waits for nothing more from its requester.")
        now = self.ctx.clock()
        await store.add_transition(conn, req.request_id, at=now, actor=f"staff:{by}", from_status=req.status,
                                   to_status=req.status,
                                   reason=Said("audit.asked", {"needed": ("dashboard.needs", needed)}))
        await self.lifecycle.publish(conn, RequestInformationNeeded, req, needed=needed, asked_by=by)
        return req

    async def notify_acknowledgement(self, conn: asyncpg.Connection, req: Request) -> None:
        """Tell the privacy manager, once, that an acknowledgement's date passed without one."""
        now = self.ctx.clock()
        if not req.acknowledgement_overdue(now):
            return
        if await store.add_notice(conn, req.request_id, ACKNOWLEDGEMENT_OVERDUE, now):
            await self.lifecycle.publish(conn, RequestAcknowledgementOverdue, req, acknowledge_by=req.acknowledge_by)
