"""Signing in and out.

The sign-in form has its own CSRF token (in a short-lived cookie), since there is no session yet;
a wrong username and a wrong password get the same answer, and too many failures a 429. A sign-in
leaves the browser a device cookie, which keeps it out of the lockout strangers cause
(``accounts.py``); signing out keeps it.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.dsr.api import client_address
from services.dsr.dashboard.accounts import SignInLimited
from services.dsr.dashboard.frame import (
    COOKIE_PATH,
    DEVICE_COOKIE,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    Checked,
    Page,
    Public,
)
from services.dsr.web.deps import Pool

router = APIRouter(include_in_schema=False)  # pages, not API operations


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard/"


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(frame: Public, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = frame.page("signin.html", signin_csrf=token, next=_safe_next(next))
    frame.cookie(response, SIGNIN_COOKIE, token, max_age=3600)
    return response


@router.post("/signin", response_class=HTMLResponse)
async def signin(frame: Public, pool: Pool) -> Response:
    form = await frame.form(frame.request.cookies.get(SIGNIN_COOKIE))
    username, password = form.field("username") or "", form.field("password") or ""
    next_path = _safe_next(form.field("next"))
    dash = frame.dash
    async with pool.acquire() as conn, conn.transaction():
        try:
            outcome = await dash.accounts.sign_in(conn, username, password, client_address(frame.request),
                                                  frame.request.cookies.get(DEVICE_COOKIE))
        except SignInLimited:
            outcome, status, message = None, 429, frame.t("signin.limited")
        else:
            status, message = 401, frame.t("signin.wrong")
    if outcome is None:
        token = frame.request.cookies.get(SIGNIN_COOKIE) or ""
        response = frame.page("signin.html", status=status, signin_csrf=token, next=next_path, error=message,
                              username=username)
        if status == 429:
            response.headers["Retry-After"] = str(int(dash.settings.signin_window.total_seconds()))
        return response
    redirect = RedirectResponse(next_path, 303)
    frame.cookie(redirect, SESSION_COOKIE, outcome.session_token,
                 max_age=int(dash.settings.session_absolute.total_seconds()))
    frame.cookie(redirect, DEVICE_COOKIE, outcome.device_token,
                 max_age=int(dash.settings.signin_device_lifetime.total_seconds()))
    redirect.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
    return redirect


@router.post("/signout")
async def signout(frame: Page, form: Checked, pool: Pool) -> Response:
    assert frame.session is not None
    async with pool.acquire() as conn:
        await frame.dash.accounts.sign_out(conn, frame.session)
    response = RedirectResponse("/dashboard/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
