"""The staff inbox: what the privacy manager was told, and whether it reached them."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from services.notifier import store
from services.notifier.kinds import Kind
from services.notifier.schemas import DeliveryOut, NotificationOut, NotificationPage, RecipientOut, UnreadCount
from shared.auth import Principal, require
from shared.problems import NotFound
from shared.settings import Role

router = APIRouter(prefix="/v1", tags=["inbox"])

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 422: PROBLEM}

people = require(Role.staff, Role.privacy_manager)


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


async def _render(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[NotificationOut]:
    deliveries: dict[uuid.UUID, list[DeliveryOut]] = {}
    for d in await store.deliveries_of(conn, [r["notification_id"] for r in rows]):
        deliveries.setdefault(d["notification_id"], []).append(DeliveryOut(
            channel=d["channel"], target=d["target"], status=d["status"], attempts=d["attempts"],
            next_attempt_at=d["next_attempt_at"] if d["status"] == "pending" else None,
            last_attempt_at=d["last_attempt_at"], last_error=d["last_error"], sent_at=d["sent_at"],
            failed_at=d["failed_at"],
        ))
    return [
        NotificationOut(
            id=r["notification_id"], kind=r["kind"], event_type=r["event_type"],
            recipient=RecipientOut(id=r["recipient_id"], name=r["recipient_name"], language=r["language"]),
            title=r["title"], summary=r["summary"], action=r["action"], link=r["link"],
            request_id=r["request_id"], reference=r["reference"], due_at=r["due_at"], facts=r["facts"],
            occurred_at=r["occurred_at"], created_at=r["created_at"], read_at=r["read_at"], read_by=r["read_by"],
            deliveries=deliveries.get(r["notification_id"], []),
        )
        for r in rows
    ]


async def _one(conn: asyncpg.Connection, notification_id: uuid.UUID) -> NotificationOut:
    row = await store.notification(conn, notification_id)
    if row is None:
        raise NotFound(f"There is no notification {notification_id}.")
    [out] = await _render(conn, [row])
    return out


@router.get("/notifications", response_model=NotificationPage, responses=ERRORS)
async def list_notifications(
    request: Request,
    unread: bool | None = Query(default=None, description="true: unread only; false: read only"),
    kind: Kind | None = None,
    request_ref: str | None = Query(default=None, alias="request", max_length=64,
                                    description="A request id or reference"),
    recipient: str | None = Query(default=None, max_length=64),
    delivery: Literal["pending", "sent", "failed"] | None = Query(
        default=None, description="Only notifications with a delivery in this state"),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=1_000_000_000),
    _: Principal = Depends(people),
) -> NotificationPage:
    """The inbox, newest first: every notification for a recipient with the inbox on, and every
    notification whose email or webhook finally failed."""
    filters = dict(unread=unread, kind=kind.value if kind else None, request=request_ref, recipient=recipient,
                   delivery=delivery)
    async with _pool(request).acquire() as conn:
        rows = await store.inbox(conn, limit=limit, offset=offset, **filters)
        return NotificationPage(
            unread=await store.inbox_count(conn, unread=True, kind=None, request=None, recipient=recipient,
                                           delivery=None),
            total=await store.inbox_count(conn, **filters),
            items=await _render(conn, rows),
        )


@router.get("/notifications/unread-count", response_model=UnreadCount, responses=ERRORS)
async def unread_count(request: Request, recipient: str | None = Query(default=None, max_length=64),
                       _: Principal = Depends(people)) -> UnreadCount:
    """How many notifications in the inbox are unread (a badge for the dashboard)."""
    async with _pool(request).acquire() as conn:
        return UnreadCount(unread=await store.inbox_count(conn, unread=True, kind=None, request=None,
                                                          recipient=recipient, delivery=None))


@router.get("/notifications/{notification_id}", response_model=NotificationOut,
            responses={**ERRORS, 404: PROBLEM})
async def get_notification(notification_id: uuid.UUID, request: Request,
                           _: Principal = Depends(people)) -> NotificationOut:
    async with _pool(request).acquire() as conn:
        return await _one(conn, notification_id)


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut,
             responses={**ERRORS, 404: PROBLEM})
async def mark_read(notification_id: uuid.UUID, request: Request,
                    who: Principal = Depends(people)) -> NotificationOut:
    """Mark it read (idempotent: the first reading, and who read it, is kept)."""
    async with _pool(request).acquire() as conn, conn.transaction():
        await store.mark_read(conn, notification_id, who.name)
        return await _one(conn, notification_id)


@router.post("/notifications/{notification_id}/retry", response_model=NotificationOut,
             responses={**ERRORS, 404: PROBLEM})
async def retry(notification_id: uuid.UUID, request: Request, _: Principal = Depends(people)) -> NotificationOut:
    """Try the failed deliveries of a notification again (after the mail server or the webhook
    was fixed), with a fresh set of attempts; for a requester who could not be told
    (``requester_not_told``), the message to the requester too (after their contact was corrected)."""
    async with _pool(request).acquire() as conn, conn.transaction():
        found = await _one(conn, notification_id)  # 404 first
        await store.retry_failed(conn, notification_id)
        if found.kind == Kind.requester_not_told and found.facts.get("notification_id"):
            await store.retry_failed(conn, uuid.UUID(found.facts["notification_id"]))
        return await _one(conn, notification_id)
