"""The guardian request portal: server-rendered pages on the request service, under ``/portal/``.

* ``GET /portal/`` the form; ``POST /portal/requests`` files it (the same ``RequestService.open``
  in one transaction as ``POST /v1/requests``, behind the same public intake limiter) and shows
  the reference, the due date and the private link.
* The private link is ``/portal/r/{request_id}#t=<token>``. The token stays in the URL
  *fragment*, which browsers never send to a server: it is not in access logs, proxies or
  ``Referer`` headers. ``GET /portal/r/{id}`` is a page without personal data; its script reads
  the fragment and POSTs it (``POST /portal/r/{id}``, token in the body) to get the status page,
  rendered on the server in the person's language. Without JavaScript the person pastes the code
  into the same form. ``POST /portal/r/{id}/result`` downloads the result as JSON the same way.
* Every response under ``/portal`` carries a strict Content-Security-Policy (no inline script,
  nothing from another origin), ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options:
  nosniff`` and ``X-Frame-Options: DENY`` (:class:`~services.dsr.web.headers.SecurityHeaders`);
  pages with personal data are ``Cache-Control: no-store``, the others ``no-cache``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.dsr import domain, report_view
from services.dsr.api import TooManyRequests, client_address
from services.dsr.errors import NoReportFont
from services.dsr.portal import messages
from services.dsr.portal.form import PortalForm
from services.dsr.portal.messages import LANGUAGE_NAMES, LANGUAGES, format_date, format_moment, pick_language, t
from services.dsr.schemas import JoinGuardian
from services.dsr.service import RequestService
from services.dsr.web.deps import Consent, Limiter, Pool, Service
from services.dsr.web.forms import Form, read_form
from services.dsr.web.headers import SecurityHeaders
from services.dsr.web.templating import environment, in_zone
from shared import i18n
from shared.problems import Conflict, Forbidden, InvalidInput, NotFound, Problem
from shared.rules import grounds
from shared.rules.retention import RETENTION_CLASSES

HERE = Path(__file__).parent
COOKIE = "dongui_lang"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
STATIC = {"portal.css": "text/css; charset=utf-8", "portal.js": "text/javascript; charset=utf-8"}
#: More fields than any of our forms has: the post is read as an empty form.
MAX_FIELDS = 100

env = environment(HERE / "templates", strict=True)
router = APIRouter(prefix="/portal", include_in_schema=False)


async def posted(request: Request) -> Form:
    return await read_form(request, max_fields=MAX_FIELDS)


Posted = Annotated[Form, Depends(posted)]


def install_portal(app: FastAPI) -> None:
    """Add the portal's pages, static files and headers to the request service."""
    app.include_router(router)
    app.add_middleware(SecurityHeaders, prefix="/portal", headers=SECURITY_HEADERS)


def _lang(request: Request, form_lang: str | None = None) -> str:
    return pick_language(form_lang or request.query_params.get("lang"), request.cookies.get(COOKIE),
                         request.headers.get("accept-language"))


def _today(service: RequestService) -> date:
    return service.clock().astimezone(service.zone).date()


def _retention_rows(lang: str) -> list[dict[str, str]]:
    rows = []
    for rc in RETENTION_CLASSES.values():
        if not rc.fixed:
            continue
        period = (i18n.ngettext(lang, "portal.years", rc.years) if rc.years
                  else i18n.ngettext(lang, "portal.months", rc.months))
        rows.append({"name": messages.retention_name(lang, rc.id), "period": period,
                     "citation": i18n.citation(lang, rc.citation)})
    return rows


#: The fields whose label is their group's legend.
LEGENDS = {"type": "type_legend", "who": "who_legend", "purposes": "purposes_legend"}


def render(request: Request, template: str, lang: str, *, status: int = 200, private: bool = False,
           **context: Any) -> HTMLResponse:
    def tr(key: str, **values: Any) -> str:
        return t(lang, key, **values)

    def label(field: str) -> str:
        """A field's label, as the error summary names it ("Ngày sinh: …"), without its required mark."""
        key = LEGENDS.get(field, field.removesuffix("_2").removesuffix("_3"))
        return tr(key).removesuffix(" *") if messages.has(key) else field

    html = env.get_template(template).render(
        lang=lang, t=tr, label=label, languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        path=request.url.path, **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store" if private else "no-cache"
    response.headers["Content-Language"] = lang
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=365 * 24 * 3600, path="/portal", samesite="lax", httponly=True)
    return response


def _law(service: RequestService) -> str:
    """The clinic's law: it governs every request, whatever the requester's residence."""
    return service.settings.clinic_jurisdiction


def _form_page(request: Request, service: RequestService, lang: str, form: PortalForm | None = None, *,
               status: int = 200, notice: str | None = None) -> HTMLResponse:
    law = _law(service)
    values = form.values if form else {"residence": law, "purposes": []}
    return render(request, "form.html", lang, status=status, private=form is not None,
                  values=values, errors=form.errors if form else {}, notice=notice,
                  types=messages.TYPES, whos=messages.WHO, residences=messages.RESIDENCES, law=law,
                  purposes=messages.PURPOSES, minor_below=domain.MINOR_BELOW[law], today=_today(service).isoformat(),
                  retention=_retention_rows(lang))


@router.get("")
async def portal_root(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/portal/{query}", status_code=308)


@router.get("/", response_class=HTMLResponse)
async def form_page(request: Request, service: Service) -> HTMLResponse:
    return _form_page(request, service, _lang(request))


@router.post("/requests", response_class=HTMLResponse)
async def file_request(request: Request, data: Posted, service: Service, pool: Pool,
                       limiter: Limiter) -> HTMLResponse:
    lang = _lang(request, str(data.get("lang") or "") or None)
    form = PortalForm.from_form(data, lang, _law(service))
    form.check(_today(service))
    command = None if form.errors else form.command()
    if command is None:
        return _form_page(request, service, lang, form, status=422)
    try:
        limiter.check(client_address(request))
    except TooManyRequests:
        return _form_page(request, service, lang, form, status=429, notice=t(lang, "err.rate_limited"))
    try:
        async with pool.acquire() as conn, conn.transaction():
            opened, token = await service.open(conn, command, staff=None)
    except InvalidInput as problem:
        for err in problem.extensions.get("errors") or [{"field": "type", "message": problem.detail}]:
            form.field_error(err.get("field", ""), err.get("message", ""))
        return _form_page(request, service, lang, form, status=422)
    link = f"/portal/r/{opened.request_id}#t={token}"
    return render(request, "filed.html", lang, private=True, req=opened,
                  due=format_date(lang, in_zone(opened.due_at, service.zone)),
                  link=link, full_link=str(request.base_url).rstrip("/") + link)


@router.get("/r/{request_id}", response_class=HTMLResponse)
async def status_shell(request_id: str, request: Request) -> HTMLResponse:
    """No personal data here: the script posts the token from the URL fragment to the route below.
    The shell speaks the browser's language; the status page, the request's (issue 21), unless the
    person chose one here (``?lang=``), which the form carries on."""
    return render(request, "open.html", _lang(request), private=True, request_id=request_id, error=None,
                  chosen=_chosen(request.query_params.get("lang")))


def _chosen(lang: str | None) -> str:
    """A language the person chose (``?lang=``, or the form carrying it on); empty when none."""
    return lang if lang in LANGUAGES else ""


def _token(data: Form) -> str:
    return str(data.get("token") or "").strip()


@router.post("/r/{request_id}", response_class=HTMLResponse)
async def status_page(request_id: str, request: Request, data: Posted, service: Service, pool: Pool,
                      consent: Consent) -> HTMLResponse:
    return await _status(request, request_id, data, service, pool, consent)


async def _status(request: Request, request_id: str, data: Form, service: RequestService, pool: Any, consent: Any, *,
                  status: int = 200, notice: str | None = None, errors: dict[str, str] | None = None) -> HTMLResponse:
    """The status page (the token in the POSTed form), with what a form on it said (``notice``,
    ``errors`` by field, in the page's language)."""
    chosen = _chosen(str(data.get("lang") or ""))
    lang = _lang(request, chosen or None)
    try:
        async with pool.acquire() as conn:
            req = await service.load(conn, request_id)
            service.check_token(req, _token(data))
            # The private link opens in the language the request was filed in, whatever the
            # browser's, unless the person chose another on this page.
            lang = chosen or (req.language if req.language in LANGUAGES else lang)
            view = await service.view(conn, req)
            result = None
            if view.status in ("completed", "partially_completed", "rejected") and view.destroyed_at is None:
                result = await service.result(conn, req, consent.history)
            words = await service.system_words(conn)
    except (NotFound, Forbidden) as problem:
        key = "err.not_found" if isinstance(problem, NotFound) else "err.token"
        return render(request, "open.html", lang, status=problem.status, private=True, request_id=request_id,
                      error=t(lang, key), chosen=chosen)
    except Conflict:
        return render(request, "open.html", lang, status=409, private=True, request_id=request_id,
                      error=t(lang, "err.destroyed"), chosen=chosen)

    def local(moment: datetime | str) -> datetime:
        return in_zone(moment, service.zone)

    history = [{"when": format_moment(lang, local(tr.at)),
                "what": t(lang, f"status.{tr.to_status}"),
                "who": t(lang, "actor." + _actor(tr.actor))} for tr in view.transitions]
    # The legal texts in the page's language (the person may read it in another than they filed in).
    objection_to: Literal["refusal", "extension"] = "refusal" if view.status == "rejected" else "extension"
    seen = report_view.read(result, lang, words) if result else None
    return render(request, "status.html", lang, status=status, private=True, req=view, result=result, history=history,
                  token=_token(data), notice=t(lang, notice) if notice else None,
                  errors={name: t(lang, key) for name, key in (errors or {}).items()},
                  values={k: data.get(k) or "" for k in ("name", "contact", "relationship_detail")},
                  ground_line=lambda gid: domain.GROUNDS[gid].line(lang) if gid in domain.GROUNDS else gid,
                  how_to_object=grounds.how_to_object(objection_to, lang) if view.how_to_object else None,
                  remedies=[r.view(lang) for r in domain.remedies(view.laws)] if view.remedies else [],
                  acknowledge=format_date(lang, local(view.acknowledge_by)) if view.acknowledge_by else None,
                  purpose_name=lambda p: messages.purpose_name(lang, p), seen=seen,
                  due=format_date(lang, local(view.due_at)),
                  received=format_date(lang, local(view.received_at)),
                  retention_name=lambda rc: messages.retention_name(lang, rc),
                  moment=lambda m: format_moment(lang, local(str(m))))


@router.post("/r/{request_id}/withdraw", response_class=HTMLResponse)
async def withdraw_request(request_id: str, request: Request, data: Posted, service: Service, pool: Pool,
                           consent: Consent) -> HTMLResponse:
    """The requester withdraws their request, once they ticked that it cannot be undone."""
    if data.get("confirm") != "on":
        return await _status(request, request_id, data, service, pool, consent, status=422,
                             errors={"confirm": "withdraw.confirm_needed"})
    try:
        async with pool.acquire() as conn, conn.transaction():
            req = await service.load(conn, request_id, lock=True)
            service.check_token(req, _token(data))
            await service.withdraw(conn, req, actor="requester", reason=str(data.get("reason") or "").strip()[:2000] or None)
    except (NotFound, Forbidden):
        return await _status(request, request_id, data, service, pool, consent)  # says so, as when opened
    except Problem as problem:
        return await _status(request, request_id, data, service, pool, consent, status=problem.status,
                             errors={"confirm": "withdraw.too_late"})
    return await _status(request, request_id, data, service, pool, consent, notice="withdraw.done")


@router.post("/r/{request_id}/guardian", response_class=HTMLResponse)
async def join_as_guardian(request_id: str, request: Request, data: Posted, service: Service, pool: Pool,
                           consent: Consent) -> HTMLResponse:
    """A child's legal representative joins the child's own request (the request's token: the
    child gave it to them); staff then verify their authority as for any guardian."""
    fields = {name: str(data.get(name) or "").strip() for name in ("name", "relationship_detail", "contact")}
    missing = {name: "guardian.required" for name, value in fields.items() if not value}
    if missing:
        return await _status(request, request_id, data, service, pool, consent, status=422, errors=missing)
    try:
        body = JoinGuardian(**fields)
    except ValidationError as exc:
        return await _status(request, request_id, data, service, pool, consent, status=422,
                             errors={str(e["loc"][0]): "guardian.too_long" for e in exc.errors()})
    try:
        async with pool.acquire() as conn, conn.transaction():
            req = await service.load(conn, request_id, lock=True)
            service.check_token(req, _token(data))
            await service.join_guardian(conn, req, body, actor="requester")
    except (NotFound, Forbidden):
        return await _status(request, request_id, data, service, pool, consent)  # says so, as when opened
    except Problem as problem:
        return await _status(request, request_id, data, service, pool, consent, status=problem.status,
                             errors={"name": "guardian.not_needed"})
    return await _status(request, request_id, data, service, pool, consent, notice="guardian.done")


def _actor(actor: str) -> str:
    kind = actor.split(":", 1)[0]
    return kind if kind in ("requester", "system", "staff", "privacy_manager", "objection") else "system"


async def _download(request: Request, request_id: str, data: Form, service: RequestService, pool: Any,
                    consent: Any, kind: Literal["json", "pdf"]) -> Response:
    """The result as a file (the token in the POSTed form, never in the URL): JSON, or the printable
    PDF in the request's language; refused with the token form again, saying why."""
    try:
        async with pool.acquire() as conn:
            req = await service.load(conn, request_id)
            service.check_token(req, _token(data))
            result = await service.result(conn, req, consent.history)
            words = await service.system_words(conn)
        if kind == "pdf":
            # In the page's language: the one the person reads the status page in.
            body = await service.printable(req, result, words=words, language=_chosen(str(data.get("lang") or "")))
            media_type = "application/pdf"
        else:
            body = json.dumps(result, ensure_ascii=False, indent=2, default=str).encode()
            media_type = "application/json; charset=utf-8"
    except Problem as problem:
        lang = _lang(request)
        key = ("err.report" if isinstance(problem, NoReportFont) else
               "err.token" if isinstance(problem, Forbidden) else "err.not_found")
        return render(request, "open.html", lang, status=problem.status, private=True, request_id=request_id,
                      error=t(lang, key), chosen="")
    headers = {"Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{req.reference}.{kind}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.post("/r/{request_id}/result")
async def download_result(request_id: str, request: Request, data: Posted, service: Service, pool: Pool,
                          consent: Consent) -> Response:
    """The result as a JSON file."""
    return await _download(request, request_id, data, service, pool, consent, "json")


@router.post("/r/{request_id}/report")
async def download_report(request_id: str, request: Request, data: Posted, service: Service, pool: Pool,
                          consent: Consent) -> Response:
    """The result as a printable PDF in the request's language."""
    return await _download(request, request_id, data, service, pool, consent, "pdf")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """Our own CSS and script (nothing is loaded from anywhere else)."""
    if name not in STATIC:
        raise NotFound(f"There is no static file '{name}'.")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=300"})
