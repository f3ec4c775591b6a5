"""The privacy manager's inbox, from the notifier's API: the notifications, and marking one read."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.dsr.dashboard.frame import Checked, Notifier, Page, Unreachable, get_json

router = APIRouter(include_in_schema=False)  # pages, not API operations


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(frame: Page, notifier: Notifier) -> Response:
    unread_only = frame.request.query_params.get("unread") == "true"
    params: dict[str, Any] = {"limit": 100}
    if unread_only:
        params["unread"] = "true"
    try:
        code, page = await get_json(notifier, "/v1/notifications", "notifier", **params)
        if code != 200:
            raise Unreachable("notifier")
    except Unreachable as exc:
        return await frame.render("inbox.html", status=502, page=None, unreachable=exc.service,
                                  unread_only=unread_only)
    return await frame.render("inbox.html", page=page, unread_only=unread_only)


@router.post("/inbox/{notification_id}/read")
async def mark_read(notification_id: str, frame: Page, form: Checked, notifier: Notifier) -> Response:
    try:
        await notifier.post(f"/v1/notifications/{urllib.parse.quote(notification_id, safe='')}/read",
                            headers=frame.on_behalf("notifier"))
    except httpx.HTTPError:
        return await frame.render("inbox.html", status=502, page=None, unreachable="notifier", unread_only=False)
    return RedirectResponse("/dashboard/inbox", 303)
