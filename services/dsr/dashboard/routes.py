"""The staff dashboard: server-rendered pages at /dashboard/ on the request service.

Every action goes through :class:`RequestService` (one transaction, like the API) with the
signed-in account as the actor and the same role rules as the API. Consent, policies and the
inbox come from the consent service and the notifier over HTTP, never from their tables.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment as Jinja
from jinja2 import FileSystemLoader
from pydantic import ValidationError
from starlette.staticfiles import StaticFiles

from services.dsr import store
from services.dsr.dashboard.accounts import Accounts, Session, SignInLimited, csrf_ok, ensure_account
from services.dsr.dashboard.i18n import LANGUAGE_NAMES, LANGUAGES, pick, translate
from services.dsr.schemas import Decide, Extend, RecordVerification, RegisterSystem
from services.dsr.settings import DsrSettings
from shared.events import RequestStatus, RequestType
from shared.problems import Problem, validation_errors
from shared.retention import RETENTION_CLASSES
from shared.settings import Environment, Role

HERE = Path(__file__).parent
SESSION_COOKIE = "dongui_staff"
SIGNIN_COOKIE = "dongui_signin"
LANG_COOKIE = "dongui_lang"
COOKIE_PATH = "/dashboard"
SUBJECT_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
POLICY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STATUSES = list(RequestStatus.__args__)  # type: ignore[attr-defined]
TYPES = list(RequestType.__args__)  # type: ignore[attr-defined]
METHODS = list(RecordVerification.model_fields["method"].annotation.__args__)  # type: ignore[union-attr]

SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfRefused(Exception):
    pass


class Unreachable(Exception):
    def __init__(self, service: str) -> None:
        self.service = service


@dataclass
class Dashboard:
    settings: DsrSettings
    accounts: Accounts
    templates: Jinja
    zone: ZoneInfo

    def consent(self, *, manager: bool = False) -> httpx.AsyncClient:
        key = (self.settings.consent_manager_api_key if manager else self.settings.consent_api_key).get_secret_value()
        return httpx.AsyncClient(base_url=self.settings.consent_url, timeout=5,
                                 headers={"Authorization": f"Bearer {key}"})

    def notifier(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.settings.notifier_url, timeout=5,
                                 headers={"Authorization": f"Bearer {self.settings.notifier_api_key.get_secret_value()}"})


# --- wiring ---------------------------------------------------------------------------------------


class SecurityHeaders:
    """Strict headers on every /dashboard response (pages, redirects, static files)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(COOKIE_PATH):
            await self.app(scope, receive, send)
            return

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *[(n, v) for n, v in SECURITY_HEADERS if n not in names]]}
            await send(message)

        await self.app(scope, receive, sending)


def install_dashboard(app: FastAPI) -> None:
    """Routes, static files, headers and error pages of the dashboard (state: :func:`start_dashboard`)."""
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(SignInRequired)
    async def _signin(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse("/dashboard/signin?" + urllib.parse.urlencode({"next": exc.next_path}), 303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        lang = _lang(request)
        return _page(request, "message.html", status=403, lang=lang, session=None,
                     title=translate(lang, "error"), message=translate(lang, "csrf"))


async def start_dashboard(app: FastAPI, settings: DsrSettings) -> None:
    """The dashboard's state; in development, the development account."""
    templates = Jinja(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                            trim_blocks=True, lstrip_blocks=True)
    dashboard = Dashboard(
        settings=settings,
        accounts=Accounts(idle=settings.session_idle, absolute=settings.session_absolute,
                          window=settings.signin_window, per_user=settings.signin_max_failures_per_user,
                          per_address=settings.signin_max_failures_per_address),
        templates=templates,
        zone=ZoneInfo(settings.timezone),
    )
    app.state.dashboard = dashboard
    if settings.environment is Environment.development and settings.dev_account_username:
        async with app.state.runtime.pool.acquire() as conn:
            await ensure_account(conn, username=settings.dev_account_username,
                                 password=settings.dev_account_password.get_secret_value(),
                                 role=settings.dev_account_role.value, display_name="Development manager")


# --- helpers --------------------------------------------------------------------------------------


def _dash(request: Request) -> Dashboard:
    return request.app.state.dashboard


def _pool(request: Request):
    return request.app.state.runtime.pool


def _lang(request: Request) -> str:
    return pick(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def _secure(request: Request) -> bool:
    return _dash(request).settings.environment is not Environment.development


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _session(request: Request) -> Session:
    async with _pool(request).acquire() as conn:
        session = await _dash(request).accounts.session(conn, request.cookies.get(SESSION_COOKIE))
    if session is None:
        path = request.url.path if request.method == "GET" else "/dashboard/"
        raise SignInRequired(path + (f"?{request.url.query}" if request.url.query and request.method == "GET" else ""))
    return session


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == request.headers.get("host")


class Form:
    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        value = (self.values.get(name) or [None])[0]
        return value.strip() if isinstance(value, str) else None

    def text(self, name: str) -> str | None:
        return self.get(name) or None

    def all(self, name: str) -> list[str]:
        return [v for v in self.values.get(name, []) if v]

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1")


async def _form(request: Request, expected_csrf: str | None) -> Form:
    """The posted form, after the CSRF check (per-session token, and Origin when sent)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    form = Form(urllib.parse.parse_qs(body, keep_blank_values=True))
    if not _same_origin(request) or expected_csrf is None or not csrf_ok(expected_csrf, form.get("csrf")):
        raise CsrfRefused()
    return form


def _page(request: Request, template: str, *, status: int = 200, lang: str, session: Session | None,
          unread: int | None = None, **context: Any) -> HTMLResponse:
    dash = _dash(request)
    zone = dash.zone
    now = datetime.now(UTC)

    def t(key: str, **values: Any) -> str:
        return translate(lang, key, **values)

    def local(value: datetime | str | None) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    def time_left(due: datetime, closed: bool = False) -> str:
        if closed:
            return t("closed")
        seconds = (due - now).total_seconds()
        hours = int(abs(seconds) // 3600)
        days = hours // 24
        if seconds >= 0:
            return t("left.days", n=days) if days >= 1 else t("left.hours", n=hours)
        return t("late.days", n=days) if days >= 1 else t("late.hours", n=max(hours, 1))

    def lang_url(code: str) -> str:
        params = dict(request.query_params)
        params["lang"] = code
        return request.url.path + "?" + urllib.parse.urlencode(params)

    html = dash.templates.get_template(template).render(
        t=t, lang=lang, local=local, time_left=time_left, lang_url=lang_url, languages=LANGUAGES,
        language_names=LANGUAGE_NAMES, session=session, csrf=session.csrf_token if session else None,
        unread=unread, path=request.url.path, **context,
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, path=COOKIE_PATH, max_age=365 * 86400, httponly=True,
                            samesite="strict", secure=_secure(request))
    return response


async def _unread(request: Request) -> int | None:
    try:
        async with _dash(request).notifier() as client:
            response = await client.get("/v1/notifications/unread-count")
        return response.json()["unread"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


async def _render(request: Request, session: Session, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return _page(request, template, status=status, lang=_lang(request), session=session,
                 unread=await _unread(request), **context)


def _problem_errors(problem: dict[str, Any] | Problem) -> tuple[str, dict[str, str]]:
    """(the message, {field: message}) of a problem, from the service or another service."""
    if isinstance(problem, Problem):
        body = problem.body()
    else:
        body = problem
    fields: dict[str, str] = {}
    for err in body.get("errors") or []:
        name = str(err.get("field", "")).removeprefix("body.")
        fields.setdefault(name, err.get("message", ""))
    return str(body.get("detail") or body.get("title") or ""), fields


async def _get_json(client_factory, path: str, service: str, **params: Any) -> tuple[int, Any]:
    try:
        async with client_factory() as client:
            response = await client.get(path, params=params or None)
    except httpx.HTTPError:
        raise Unreachable(service) from None
    try:
        return response.status_code, response.json()
    except ValueError:
        raise Unreachable(service) from None


# --- sign-in --------------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard/"


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request, next: str | None = None) -> Response:
    lang = _lang(request)
    token = secrets.token_urlsafe(32)
    response = _page(request, "signin.html", lang=lang, session=None, signin_csrf=token, next=_safe_next(next))
    response.set_cookie(SIGNIN_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=3600)
    return response


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    lang = _lang(request)
    form = await _form(request, request.cookies.get(SIGNIN_COOKIE))
    username, password, next_path = form.get("username") or "", form.get("password") or "", _safe_next(form.get("next"))
    dash = _dash(request)
    async with _pool(request).acquire() as conn, conn.transaction():
        try:
            outcome = await dash.accounts.sign_in(conn, username, password, _address(request))
        except SignInLimited:
            outcome, status, message = None, 429, translate(lang, "signin.limited")
        else:
            status, message = 401, translate(lang, "signin.wrong")
    if outcome is None:
        token = request.cookies.get(SIGNIN_COOKIE) or ""
        response = _page(request, "signin.html", status=status, lang=lang, session=None, signin_csrf=token,
                         next=next_path, error=message, username=username)
        if status == 429:
            response.headers["Retry-After"] = str(int(dash.settings.signin_window.total_seconds()))
        return response
    _, token = outcome
    response = RedirectResponse(next_path, 303)
    response.set_cookie(SESSION_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=int(dash.settings.session_absolute.total_seconds()))
    response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = await _session(request)
    await _form(request, session.csrf_token)
    async with _pool(request).acquire() as conn:
        await _dash(request).accounts.sign_out(conn, session)
    response = RedirectResponse("/dashboard/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# --- the queue and a request ------------------------------------------------------------------------


def _tri(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


@router.get("/", response_class=HTMLResponse)
async def queue(request: Request) -> Response:
    session = await _session(request)
    q = request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    kind = q.get("type") if q.get("type") in TYPES else None
    guardian = _tri(q.get("guardian"))
    overdue = True if q.get("overdue") == "true" else None
    async with _pool(request).acquire() as conn:
        items = await request.app.state.dsr.list(conn, status=status, overdue=overdue, type=kind, by_guardian=guardian,
                                                 limit=500, offset=0)
    open_states = {"received", "verifying", "in_review", "approved", "in_progress"}
    return await _render(request, session, "queue.html", items=items, statuses=STATUSES, types=TYPES,
                         filters={"status": status or "", "type": kind or "", "guardian": q.get("guardian") or "",
                                  "overdue": overdue}, open_states=open_states)


async def _request_page(request: Request, session: Session, request_id: str, *, status: int = 200,
                        form: str | None = None, message: str | None = None, errors: dict[str, str] | None = None,
                        values: dict[str, Any] | None = None) -> HTMLResponse:
    service = request.app.state.dsr
    async with _pool(request).acquire() as conn:
        try:
            req = await service.load(conn, request_id)
        except Problem:
            return await _render(request, session, "message.html", status=404,
                                 title=translate(_lang(request), "not_found"), message=request_id)
        view = await service.view(conn, req)
        result = None
        if view.status in ("completed", "partially_completed", "rejected", "withdrawn"):
            try:
                result = await service.result(conn, req, None)
            except Problem:
                result = None
    return await _render(request, session, "request.html", status=status, req=view, result=result, methods=METHODS,
                         form=form, message=message, errors=errors or {}, values=values or {},
                         done=request.query_params.get("done"), manager=session.account.role is Role.privacy_manager)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_page(request_id: str, request: Request) -> Response:
    return await _request_page(request, await _session(request), request_id)


async def _act(request: Request, request_id: str, name: str, build, action, *, manager_only: bool = False,
               prepare=None) -> Response:
    """One form of the request page: CSRF, role, validation, then the service in a transaction."""
    session = await _session(request)
    form = await _form(request, session.csrf_token)
    values = {k: v[0] for k, v in form.values.items() if k != "csrf"}
    lang = _lang(request)
    if manager_only and session.account.role is not Role.privacy_manager:
        return await _request_page(request, session, request_id, status=403, form=name,
                                   message=translate(lang, "manager_only"), values=values)
    try:
        body = build(form)
    except ValidationError as exc:
        errors = {}
        for e in validation_errors(list(exc.errors())):
            field_name = e["field"] or next((k for k in values if k in e["message"]), "")  # a rule of the whole form
            errors.setdefault(field_name, e["message"])
        message = "; ".join(f"{k}: {v}" if k else v for k, v in errors.items())
        return await _request_page(request, session, request_id, status=422, form=name, message=message,
                                   errors=errors, values=values)
    service = request.app.state.dsr
    try:
        extra = {}
        if prepare is not None:  # what another service gives (a transit key), asked before the transaction
            async with _pool(request).acquire() as conn:
                extra = await prepare(service, conn, body)
        async with _pool(request).acquire() as conn, conn.transaction():
            req = await service.load(conn, request_id, lock=True)
            await action(service, conn, req, body, session.account.username, **extra)
    except Problem as problem:
        message, errors = _problem_errors(problem)
        return await _request_page(request, session, request_id, status=problem.status, form=name, message=message,
                                   errors=errors, values=values)
    return RedirectResponse(f"/dashboard/requests/{urllib.parse.quote(request_id)}?done={name}", 303)


@router.post("/requests/{request_id}/verification")
async def post_verification(request_id: str, request: Request) -> Response:
    def build(form: Form) -> RecordVerification:
        return RecordVerification(method=form.get("method") or "", evidence_ref=form.get("evidence_ref") or "",
                                  representative_checked=form.checked("representative_checked"),
                                  subject_id=form.text("subject_id"), note=form.text("note"))

    async def action(service, conn, req, body, username):
        return await service.verify(conn, req, body, by=username)

    return await _act(request, request_id, "verification", build, action)


@router.post("/requests/{request_id}/decision")
async def post_decision(request_id: str, request: Request) -> Response:
    def build(form: Form) -> Decide:
        return Decide(decision=form.get("decision") or "", legal_ground=form.text("legal_ground"),
                      note=form.text("note"))

    async def prepare(service, conn, body):
        return {"transit": await service.transit_for_decision(conn, request_id, body)}

    async def action(service, conn, req, body, username, transit=None):
        return await service.decide(conn, req, body, by=username, transit=transit)

    return await _act(request, request_id, "decision", build, action, manager_only=True, prepare=prepare)


@router.post("/requests/{request_id}/extension")
async def post_extension(request_id: str, request: Request) -> Response:
    async def action(service, conn, req, body, username):
        return await service.extend(conn, req, body, by=username)

    return await _act(request, request_id, "extension", lambda f: Extend(reason=f.get("reason") or ""), action,
                      manager_only=True)


@router.post("/requests/{request_id}/lift")
async def post_lift(request_id: str, request: Request) -> Response:
    async def action(service, conn, req, body, username):
        return await service.lift(conn, req, by=username)

    return await _act(request, request_id, "lift", lambda f: None, action)


@router.post("/requests/{request_id}/withdraw")
async def post_withdraw(request_id: str, request: Request) -> Response:
    async def action(service, conn, req, body, username):
        return await service.withdraw(conn, req, actor=f"staff:{username}", reason=body)

    return await _act(request, request_id, "withdraw", lambda f: f.text("reason"), action)


# --- consent (from the consent service) -------------------------------------------------------------


@router.get("/subjects", response_class=HTMLResponse)
async def subjects(request: Request) -> Response:
    session = await _session(request)
    subject_id = (request.query_params.get("subject_id") or "").strip()
    if subject_id and SUBJECT_ID.match(subject_id):
        return RedirectResponse(f"/dashboard/subjects/{urllib.parse.quote(subject_id)}", 303)
    return await _render(request, session, "subjects.html", subject_id=subject_id, state=None,
                         invalid=bool(subject_id))


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
async def subject_page(subject_id: str, request: Request) -> Response:
    session = await _session(request)
    if not SUBJECT_ID.match(subject_id):
        return await _render(request, session, "subjects.html", status=404, subject_id=subject_id, state=None,
                             invalid=True)
    dash = _dash(request)
    quoted = urllib.parse.quote(subject_id, safe="")
    try:
        _, current = await _get_json(dash.consent, f"/v1/subjects/{quoted}/consents", "consent")
        _, history = await _get_json(dash.consent, f"/v1/subjects/{quoted}/consents/history", "consent")
        chain_status, chain = await _get_json(dash.consent, f"/v1/subjects/{quoted}/consents/verify", "consent")
    except Unreachable as exc:
        return await _render(request, session, "subjects.html", status=502, subject_id=subject_id, state=None,
                             unreachable=exc.service)
    return await _render(request, session, "subjects.html", subject_id=subject_id,
                         state={"current": current, "history": history,
                                "chain": chain if chain_status == 200 else None})


@router.get("/receipts/{record_id}", response_class=HTMLResponse)
async def receipt_page(record_id: str, request: Request) -> Response:
    session = await _session(request)
    try:
        status, receipt = await _get_json(_dash(request).consent,
                                          f"/v1/consent-records/{urllib.parse.quote(record_id, safe='')}/receipt",
                                          "consent")
    except Unreachable as exc:
        return await _render(request, session, "receipt.html", status=502, receipt=None, unreachable=exc.service)
    return await _render(request, session, "receipt.html", status=200 if status == 200 else 404,
                         receipt=receipt if status == 200 else None, record_id=record_id)


# --- policies -----------------------------------------------------------------------------------------


@router.get("/policies", response_class=HTMLResponse)
async def policies(request: Request) -> Response:
    await _session(request)
    policy_id = (request.query_params.get("policy_id") or "privacy-notice").strip()
    if not POLICY_ID.match(policy_id):
        policy_id = "privacy-notice"
    return RedirectResponse(f"/dashboard/policies/{policy_id}", 303)


async def _policy_page(request: Request, session: Session, policy_id: str, *, status: int = 200,
                       message: str | None = None, errors: dict[str, str] | None = None,
                       values: dict[str, Any] | None = None) -> HTMLResponse:
    dash = _dash(request)
    if not POLICY_ID.match(policy_id):
        return await _render(request, session, "message.html", status=404,
                             title=translate(_lang(request), "not_found"), message=policy_id)
    try:
        code, versions = await _get_json(dash.consent, f"/v1/policies/{policy_id}", "consent")
        _, purposes = await _get_json(dash.consent, "/v1/purposes", "consent")
    except Unreachable as exc:
        return await _render(request, session, "policies.html", status=502, policy_id=policy_id, versions=[],
                             purposes=[], unreachable=exc.service, errors={}, values={}, message=None)
    versions = versions.get("versions", []) if code == 200 else []
    latest = versions[-1] if versions else None
    if values is None:
        values = {"purposes": latest["purposes"] if latest else [p["id"] for p in purposes],
                  "ko": latest["texts"].get("ko", "") if latest else "",
                  "en": latest["texts"].get("en", "") if latest else "",
                  "vi": latest["texts"].get("vi", "") if latest else ""}
    return await _render(request, session, "policies.html", status=status, policy_id=policy_id, versions=versions,
                         purposes=purposes if isinstance(purposes, list) else [], message=message,
                         errors=errors or {}, values=values, done=request.query_params.get("done"),
                         manager=session.account.role is Role.privacy_manager)


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(policy_id: str, request: Request) -> Response:
    return await _policy_page(request, await _session(request), policy_id)


@router.post("/policies/{policy_id}")
async def publish_policy(policy_id: str, request: Request) -> Response:
    session = await _session(request)
    form = await _form(request, session.csrf_token)
    lang = _lang(request)
    values = {"version": form.get("version") or "", "effective_at": form.get("effective_at") or "",
              "ko": form.get("ko") or "", "en": form.get("en") or "", "vi": form.get("vi") or "",
              "purposes": form.all("purposes")}
    if session.account.role is not Role.privacy_manager:
        return await _policy_page(request, session, policy_id, status=403, message=translate(lang, "manager_publish"),
                                  values=values)
    dash = _dash(request)
    effective = values["effective_at"]
    try:
        effective_at = datetime.fromisoformat(effective)
        if effective_at.tzinfo is None:
            effective_at = effective_at.replace(tzinfo=dash.zone)
        effective = effective_at.isoformat()
    except ValueError:
        return await _policy_page(request, session, policy_id, status=422, message="effective_at",
                                  errors={"effective_at": "YYYY-MM-DDTHH:MM"}, values=values)
    body = {"policy_id": policy_id, "version": values["version"], "effective_at": effective,
            "texts": {"ko": values["ko"], "en": values["en"], "vi": values["vi"]}, "purposes": values["purposes"]}
    try:
        async with dash.consent(manager=True) as client:
            response = await client.post("/v1/policies", json=body)
        payload = response.json()
    except (httpx.HTTPError, ValueError):
        return await _policy_page(request, session, policy_id, status=502,
                                  message=translate(lang, "unreachable", service="consent"), values=values)
    if response.status_code != 201:
        message, errors = _problem_errors(payload)
        return await _policy_page(request, session, policy_id, status=response.status_code, message=message,
                                  errors=errors, values=values)
    return RedirectResponse(f"/dashboard/policies/{policy_id}?done=publish", 303)


# --- the inbox (from the notifier) ---------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> Response:
    session = await _session(request)
    unread_only = request.query_params.get("unread") == "true"
    params: dict[str, Any] = {"limit": 100}
    if unread_only:
        params["unread"] = "true"
    try:
        code, page = await _get_json(_dash(request).notifier, "/v1/notifications", "notifier", **params)
        if code != 200:
            raise Unreachable("notifier")
    except Unreachable as exc:
        return await _render(request, session, "inbox.html", status=502, page=None, unreachable=exc.service,
                             unread_only=unread_only)
    return await _render(request, session, "inbox.html", page=page, unread_only=unread_only)


@router.post("/inbox/{notification_id}/read")
async def mark_read(notification_id: str, request: Request) -> Response:
    session = await _session(request)
    await _form(request, session.csrf_token)
    try:
        async with _dash(request).notifier() as client:
            await client.post(f"/v1/notifications/{urllib.parse.quote(notification_id, safe='')}/read")
    except httpx.HTTPError:
        return await _render(request, session, "inbox.html", status=502, page=None, unreachable="notifier",
                             unread_only=False)
    return RedirectResponse("/dashboard/inbox", 303)


# --- data systems -----------------------------------------------------------------------------------------


async def _systems_page(request: Request, session: Session, *, status: int = 200, message: str | None = None,
                        errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    async with _pool(request).acquire() as conn:
        systems = [dict(s) for s in await store.systems(conn)]
    return await _render(request, session, "systems.html", status=status, systems=systems,
                         retention_classes=RETENTION_CLASSES, message=message, errors=errors or {},
                         values=values or {"retention_classes": []}, done=request.query_params.get("done"),
                         manager=session.account.role is Role.privacy_manager)


@router.get("/systems", response_class=HTMLResponse)
async def systems_page(request: Request) -> Response:
    return await _systems_page(request, await _session(request))


@router.post("/systems")
async def register_system(request: Request) -> Response:
    session = await _session(request)
    form = await _form(request, session.csrf_token)
    values = {"system_id": form.get("system_id") or "", "name": form.get("name") or "",
              "description": form.get("description") or "", "data_categories": form.get("data_categories") or "",
              "retention_classes": form.all("retention_classes"), "processor": form.checked("processor")}
    if session.account.role is not Role.privacy_manager:
        return await _systems_page(request, session, status=403,
                                   message=translate(_lang(request), "manager_publish"), values=values)
    try:
        body = RegisterSystem(
            system_id=values["system_id"], name=values["name"], description=values["description"] or None,
            data_categories=[c.strip() for c in values["data_categories"].split(",") if c.strip()],
            retention_classes=values["retention_classes"], processor=values["processor"])
        async with _pool(request).acquire() as conn, conn.transaction():
            await request.app.state.dsr.register_system(conn, body)
    except ValidationError as exc:
        errors = {e["field"]: e["message"] for e in validation_errors(list(exc.errors()))}
        return await _systems_page(request, session, status=422, message="; ".join(errors), errors=errors,
                                   values=values)
    except Problem as problem:
        message, errors = _problem_errors(problem)
        return await _systems_page(request, session, status=problem.status, message=message, errors=errors,
                                   values=values)
    return RedirectResponse("/dashboard/systems?done=register", 303)
