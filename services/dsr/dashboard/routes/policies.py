"""The policies (privacy notices) from the consent service: their versions, and publishing a new
one (a privacy manager only; the dashboard publishes with the consent service's manager key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.dsr.dashboard.frame import POLICY_ID, Checked, Consent, Frame, Page, Unreachable, get_json, problem_errors

router = APIRouter(include_in_schema=False)  # pages, not API operations


@router.get("/policies", response_class=HTMLResponse)
async def policies(frame: Page) -> Response:
    policy_id = (frame.request.query_params.get("policy_id") or "privacy-notice").strip()
    if not POLICY_ID.match(policy_id):
        policy_id = "privacy-notice"
    return RedirectResponse(f"/dashboard/policies/{policy_id}", 303)


async def _policy_page(frame: Frame, consent: httpx.AsyncClient, policy_id: str, *, status: int = 200,
                       message: str | None = None, errors: dict[str, str] | None = None,
                       values: dict[str, Any] | None = None) -> HTMLResponse:
    if not POLICY_ID.match(policy_id):
        return await frame.render("message.html", status=404, title=frame.t("not_found"), message=policy_id)
    try:
        code, versions = await get_json(consent, f"/v1/policies/{policy_id}", "consent")
        _, purposes = await get_json(consent, "/v1/purposes", "consent")
    except Unreachable as exc:
        return await frame.render("policies.html", status=502, policy_id=policy_id, versions=[], purposes=[],
                                  unreachable=exc.service, errors={}, values={}, message=None)
    versions = versions.get("versions", []) if code == 200 else []
    latest = versions[-1] if versions else None
    if values is None:
        values = {"purposes": latest["purposes"] if latest else [p["id"] for p in purposes],
                  "ko": latest["texts"].get("ko", "") if latest else "",
                  "en": latest["texts"].get("en", "") if latest else "",
                  "vi": latest["texts"].get("vi", "") if latest else ""}
    return await frame.render("policies.html", status=status, policy_id=policy_id, versions=versions,
                              purposes=purposes if isinstance(purposes, list) else [], message=message,
                              errors=errors or {}, values=values, done=frame.request.query_params.get("done"),
                              manager=frame.manager)


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(policy_id: str, frame: Page, consent: Consent) -> Response:
    return await _policy_page(frame, consent, policy_id)


@router.post("/policies/{policy_id}")
async def publish_policy(policy_id: str, frame: Page, form: Checked, consent: Consent) -> Response:
    texts = {code: form.field(code) or "" for code in ("ko", "en", "vi")}
    values: dict[str, Any] = {"version": form.field("version") or "", "effective_at": form.field("effective_at") or "",
                              **texts, "purposes": form.all("purposes")}
    if not frame.manager:
        return await _policy_page(frame, consent, policy_id, status=403, message=frame.t("manager_publish"),
                                  values=values)
    try:
        effective_at = datetime.fromisoformat(values["effective_at"])
    except ValueError:
        return await _policy_page(frame, consent, policy_id, status=422, message="effective_at",
                                  errors={"effective_at": "YYYY-MM-DDTHH:MM"}, values=values)
    if effective_at.tzinfo is None:
        effective_at = effective_at.replace(tzinfo=frame.dash.zone)
    body = {"policy_id": policy_id, "version": values["version"], "effective_at": effective_at.isoformat(),
            "texts": texts, "purposes": values["purposes"]}
    try:
        response = await consent.post("/v1/policies", json=body,
                                      headers={**frame.dash.manager_key, **frame.on_behalf("consent")})
        payload = response.json()
    except (httpx.HTTPError, ValueError):
        return await _policy_page(frame, consent, policy_id, status=502,
                                  message=frame.t("unreachable", service="consent"), values=values)
    if response.status_code != 201:
        message, errors = problem_errors(payload, frame.lang)
        return await _policy_page(frame, consent, policy_id, status=response.status_code, message=message,
                                  errors=errors, values=values)
    return RedirectResponse(f"/dashboard/policies/{policy_id}?done=publish", 303)
