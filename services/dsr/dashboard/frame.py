"""What every page of the dashboard shares: its state, its dependencies, and the page frame.

Route modules ask for :data:`Page` (a signed-in :class:`Frame`; without a session the person is
sent to the sign-in page), :data:`Checked` (the posted form, after the CSRF check) and the
request service's objects from :mod:`services.dsr.web.deps`; tests swap any of them with
``app.dependency_overrides``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.dsr.dashboard.accounts import Accounts, Session, ensure_account
from services.dsr.dashboard.i18n import LANGUAGE_NAMES, LANGUAGES, pick, translate
from services.dsr.settings import DsrSettings
from services.dsr.web.deps import Pool
from services.dsr.web.forms import CsrfRefused, Form, checked_form
from services.dsr.web.templating import environment, minute
from shared import delegation, i18n
from shared.problems import Problem, validation_errors
from shared.settings import Environment, Role

HERE = Path(__file__).parent
SESSION_COOKIE = "dongui_staff"
SIGNIN_COOKIE = "dongui_signin"
DEVICE_COOKIE = "dongui_device"
LANG_COOKIE = "dongui_lang"
COOKIE_PATH = "/dashboard"
SUBJECT_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
POLICY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Sent on every response under /dashboard (pages, redirects, static files).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
TIMEOUT = 5.0

templates = environment(HERE / "templates")


@dataclass
class Dashboard:
    """The dashboard's state, and one HTTP client for each service it reads (for the app's life)."""

    settings: DsrSettings
    accounts: Accounts
    zone: ZoneInfo
    consent: httpx.AsyncClient
    notifier: httpx.AsyncClient

    @classmethod
    def open(cls, settings: DsrSettings) -> Dashboard:
        def client(url: str, key: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {key}"})

        return cls(
            settings=settings,
            accounts=Accounts(idle=settings.session_idle, absolute=settings.session_absolute,
                              window=settings.signin_window, per_user=settings.signin_max_failures_per_user,
                              per_address=settings.signin_max_failures_per_address,
                              per_device=settings.signin_max_failures_per_device,
                              device_lifetime=settings.signin_device_lifetime),
            zone=settings.zone,
            consent=client(settings.consent_url, settings.consent_api_key.get_secret_value()),
            notifier=client(settings.notifier_url, settings.notifier_api_key.get_secret_value()),
        )

    async def close(self) -> None:
        await self.consent.aclose()
        await self.notifier.aclose()

    @property
    def manager_key(self) -> dict[str, str]:
        """The header that publishes a policy (a privacy_manager key of the consent service)."""
        return {"Authorization": f"Bearer {self.settings.consent_manager_api_key.get_secret_value()}"}

    @property
    def secure(self) -> bool:
        return self.settings.environment is not Environment.development


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The dashboard's state for the app's life; in development, the development account.

    Runs inside the service's own lifespan (FastAPI nests an included router's), so the pool is up.
    """
    settings = app.state.settings
    assert isinstance(settings, DsrSettings)
    dashboard = Dashboard.open(settings)
    app.state.dashboard = dashboard
    try:
        if settings.environment is Environment.development and settings.dev_account_username:
            async with app.state.runtime.pool.acquire() as conn:
                await ensure_account(conn, username=settings.dev_account_username,
                                     password=settings.dev_account_password.get_secret_value(),
                                     role=settings.dev_account_role.value, display_name="Development manager")
        yield
    finally:
        await dashboard.close()


class Refusal(Exception):
    """A dependency ends the request with this response (sign in first; a form that is not ours)."""

    def __init__(self, response: Response) -> None:
        self.response = response


class Unreachable(Exception):
    def __init__(self, service: str) -> None:
        self.service = service


# --- dependencies ---------------------------------------------------------------------------------


def get_dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard


Dash = Annotated[Dashboard, Depends(get_dashboard)]


def get_consent(dash: Dash) -> httpx.AsyncClient:
    return dash.consent


def get_notifier(dash: Dash) -> httpx.AsyncClient:
    return dash.notifier


Consent = Annotated[httpx.AsyncClient, Depends(get_consent)]
Notifier = Annotated[httpx.AsyncClient, Depends(get_notifier)]


def lang_of(request: Request) -> str:
    return pick(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


async def get_session(request: Request, dash: Dash, pool: Pool) -> Session:
    """The signed-in session; without one, to the sign-in page (back here afterwards, for a page)."""
    async with pool.acquire() as conn:
        session = await dash.accounts.session(conn, request.cookies.get(SESSION_COOKIE))
    if session is None:
        path = request.url.path if request.method == "GET" else "/dashboard/"
        path += f"?{request.url.query}" if request.url.query and request.method == "GET" else ""
        raise Refusal(RedirectResponse("/dashboard/signin?" + urllib.parse.urlencode({"next": path}), 303))
    return session


@dataclass
class Frame:
    """One request's page frame: language, navigation, the unread count, the session's token."""

    request: Request
    dash: Dashboard
    session: Session | None
    notifier: httpx.AsyncClient

    @property
    def lang(self) -> str:
        return lang_of(self.request)

    @property
    def manager(self) -> bool:
        return self.session is not None and self.session.account.role is Role.privacy_manager

    @property
    def username(self) -> str:
        assert self.session is not None
        return self.session.account.username

    def on_behalf(self, service: str) -> dict[str, str]:
        """The header that makes the signed-in person, not the dashboard's key, the one who acts
        on ``service`` (``shared.delegation``: signed, for that service, for a minute)."""
        assert self.session is not None
        person = delegation.Person(self.session.account.username, self.session.account.role.value)
        secret = delegation.parse_secret(self.dash.settings.delegation_secret.get_secret_value())
        return {delegation.HEADER: delegation.sign(person, audience=service, secret=secret)}

    def t(self, key: str, **values: Any) -> str:
        return translate(self.lang, key, **values)

    def cookie(self, response: Response, name: str, value: str, *, max_age: int) -> None:
        """A dashboard cookie: this path only, never to scripts or other sites, Secure outside development."""
        response.set_cookie(name, value, path=COOKIE_PATH, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.dash.secure)

    def page(self, template: str, *, status: int = 200, session: Session | None = None, unread: int | None = None,
             **context: Any) -> HTMLResponse:
        """The page, without asking the notifier (sign-in and refusals)."""
        request, lang, zone, now = self.request, self.lang, self.dash.zone, datetime.now(UTC)

        def time_left(due: datetime, closed: bool = False) -> str:
            if closed:
                return self.t("closed")
            seconds = (due - now).total_seconds()
            hours = int(abs(seconds) // 3600)
            days = hours // 24
            if seconds >= 0:
                return self.t("left.days", n=days) if days >= 1 else self.t("left.hours", n=hours)
            return self.t("late.days", n=days) if days >= 1 else self.t("late.hours", n=max(hours, 1))

        def lang_url(code: str) -> str:
            params = dict(request.query_params)
            params["lang"] = code
            return request.url.path + "?" + urllib.parse.urlencode(params)

        html = templates.get_template(template).render(
            t=self.t, lang=lang, local=lambda value: minute(value, zone), time_left=time_left, lang_url=lang_url,
            languages=LANGUAGES, language_names=LANGUAGE_NAMES, session=session,
            csrf=session.csrf_token if session else None, unread=unread, path=request.url.path, **context,
        )
        response = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:
            self.cookie(response, LANG_COOKIE, lang, max_age=365 * 86400)
        return response

    async def unread(self) -> int | None:
        try:
            response = await self.notifier.get("/v1/notifications/unread-count")
            return response.json()["unread"] if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    async def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """A signed-in page, with the inbox's unread count in the navigation."""
        return self.page(template, status=status, session=self.session, unread=await self.unread(), **context)

    def refused(self) -> Refusal:
        """A form without this session's CSRF token, or from another site."""
        return Refusal(self.page("message.html", status=403, title=self.t("error"), message=self.t("csrf")))

    async def form(self, expected_csrf: str | None) -> Form:
        try:
            return await checked_form(self.request, expected_csrf)
        except CsrfRefused:
            raise self.refused() from None


def public_frame(request: Request, dash: Dash, notifier: Notifier) -> Frame:
    return Frame(request, dash, None, notifier)


def signed_in(request: Request, session: Annotated[Session, Depends(get_session)], dash: Dash,
              notifier: Notifier) -> Frame:
    return Frame(request, dash, session, notifier)


Public = Annotated[Frame, Depends(public_frame)]
Page = Annotated[Frame, Depends(signed_in)]


async def csrf_form(frame: Page) -> Form:
    assert frame.session is not None
    return await frame.form(frame.session.csrf_token)


Checked = Annotated[Form, Depends(csrf_form)]


# --- reading the other services, and their refusals ------------------------------------------------


async def get_json(client: httpx.AsyncClient, path: str, service: str, **params: Any) -> tuple[int, Any]:
    try:
        response = await client.get(path, params=params or None)
    except httpx.HTTPError:
        raise Unreachable(service) from None
    try:
        return response.status_code, response.json()
    except ValueError:
        raise Unreachable(service) from None


def problem_errors(problem: dict[str, Any] | Problem, lang: str = i18n.DEFAULT) -> tuple[str, dict[str, str]]:
    """(the message, {field: message}) of a problem, from this service or another, in ``lang``: each
    field's error in words by its kind (``error.missing``…), and a summary naming the fields by their
    labels ("확인할 항목: 방법, 증빙 번호") rather than the problem's English detail."""
    body = problem.body() if isinstance(problem, Problem) else problem
    fields: dict[str, str] = {}
    for err in body.get("errors") or []:
        name = str(err.get("field", "")).removeprefix("body.")
        kind = f"error.{err.get('type')}"
        fields.setdefault(name, i18n.gettext(lang, kind) if i18n.has(kind) else str(err.get("message", "")))
    if fields:
        return i18n.gettext(lang, "dashboard.fields_invalid", fields=", ".join(field_label(lang, f) for f in fields)), fields
    return str(body.get("detail") or body.get("title") or ""), fields


def field_label(lang: str, field: str) -> str:
    """A form field as its label names it (the last part of a dotted API name), or as it is."""
    name = field.rsplit(".", 1)[-1]
    for key in (f"dashboard.{name}", f"dashboard.{field}", f"breach.f.{name}"):
        if i18n.has(key):
            return i18n.gettext(lang, key)
    return name


def invalid_fields(exc: ValidationError) -> list[dict[str, Any]]:
    """A form's pydantic errors as the API names them ({field, message, type})."""
    return validation_errors([dict(e) for e in exc.errors()])

