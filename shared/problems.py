"""Errors, rendered the same way everywhere: RFC 9457 problem details.

Domain code raises a :class:`Problem` subclass; one handler renders it. Validation errors name each
field that is wrong. Nothing a client sends can turn into a 500: unexpected exceptions are logged
with the request id and answered with a problem that carries that id, not a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.observability import request_id_var

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://dongui.dev/problems/"


class Problem(Exception):
    """Base of every error a service answers on purpose."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class InvalidInput(Problem):
    """Well-formed input that breaks a rule of the domain (422, like a schema error)."""

    status = 422
    slug = "invalid-input"
    title = "The input breaks a rule"


class NotFound(Problem):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unauthorized(Problem):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(Problem):
    status = 403
    slug = "forbidden"
    title = "Not allowed for this role"


class Unavailable(Problem):
    status = 503
    slug = "unavailable"
    title = "A dependency is unavailable"


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    instance = str(request.url.path) if request is not None else None
    body = problem.body(instance)
    if rid := request_id_var.get():
        body.setdefault("request_id", rid)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "data", "purpose") -> "data.purpose"; keep the location kind only when alone.
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts)


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"field": _field_name(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type")}
        for err in errors
    ]


def validation_problem(errors: list[dict[str, Any]]) -> InvalidInput:
    fields = validation_errors(errors)
    names = ", ".join(dict.fromkeys(f["field"] for f in fields)) or "request"
    first = fields[0]["message"] if fields else "invalid"
    detail = f"Invalid {names}: {first}" if len(fields) == 1 else f"Invalid fields: {names}"
    problem = InvalidInput(detail, errors=fields)
    problem.slug, problem.title = "validation", "The request is not valid"
    return problem


_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("too-large", "Request body too large"),
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(list(exc.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(str(exc.detail))
        problem.status = exc.status_code
        problem.slug = _HTTP_SLUGS.get(exc.status_code, ("http-error", ""))[0]
        problem.title = _HTTP_SLUGS.get(exc.status_code, ("", "HTTP error"))[1]
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem("An unexpected error occurred; it has been logged with this request id.")
        problem.status, problem.slug, problem.title = 500, "internal", "Internal error"
        return problem_response(problem, request)


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a 413 problem, before anything parses them."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, send)
                return
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope, send) -> None:
        problem = Problem(f"The request body is larger than {self.max_bytes} bytes.")
        problem.status, problem.slug, problem.title = 413, "too-large", "Request body too large"
        body = problem.body(scope.get("path"))
        response = JSONResponse(body, status_code=413, media_type=PROBLEM_JSON)
        await response(scope, lambda: None, send)


class _TooLarge(StarletteHTTPException):
    # An HTTPException, so that FastAPI's body parsing lets it through (it turns any other
    # error while reading the body into a 400) and the handler above renders it as a 413.
    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")
