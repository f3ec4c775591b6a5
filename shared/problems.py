"""Errors, rendered the same way everywhere: RFC 9457 problem details.

Domain code raises a :class:`Problem` subclass; one handler renders it. Validation errors name each
field that is wrong. Nothing a client sends can turn into a 500: unexpected exceptions are logged
with the request id and answered with a problem that carries that id, not a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.observability import request_id_var

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://dongui.dev/problems/"


class Problem(Exception):
    """Base of every error a service answers on purpose.

    A service names its refusals as subclasses (``class UnknownPurpose(InvalidInput)``, in the
    service's ``errors.py``): the class gives the status and title (through its base), and the
    input ``field`` it is about with a short ``reason``; the service raises it with the sentence a
    person reads. The field and reason become the body's ``errors`` list, the same shape as a
    schema error's, so a client handles both alike.
    """

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    #: The input field the refusal is about (``errors[0].field``), when it is about one.
    field: str | None = None
    #: What is wrong with that field, in a few words (``errors[0].message``).
    reason: str | None = None

    def __init__(self, detail: str, *, field: str | None = None, reason: str | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if field is not None:
            self.field = field
        if reason is not None:
            self.reason = reason
        if self.field is not None and "errors" not in extensions:
            extensions["errors"] = [{"field": self.field, "message": self.reason or detail}]
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


class Gone(Problem):
    status = 410
    slug = "gone"
    title = "Gone for good"


class Unavailable(Problem):
    status = 503
    slug = "unavailable"
    title = "A dependency is unavailable"


#: What a 503 tells the caller to wait before trying again.
RETRY_AFTER_SECONDS = 5

#: Errors that mean PostgreSQL cannot be reached now, not that the request or the code is wrong.
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,  # connection lost or refused by the server
    asyncpg.CannotConnectNowError,  # starting up or in recovery
    asyncpg.OperatorInterventionError,  # admin or crash shutdown
    ConnectionError,  # refused or reset at the socket
    TimeoutError,  # no connection from the pool in time
)


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) means the database is away for now."""
    exc: BaseException | None = error
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, _UNAVAILABLE):
            return True
        if isinstance(exc, asyncpg.InterfaceError) and "clos" in str(exc):
            return True  # the connection or the pool was closed under us (not a misuse of the API)
        if isinstance(exc, asyncpg.ObjectNotInPrerequisiteStateError) and "accepting connections" in str(exc):
            return True  # the database is closed to connections (maintenance)
        if isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc):
            # The server cut the connection (a restart, pg_terminate_backend) and asyncpg was still
            # reading its goodbye when the next query came: the connection is gone, not misused.
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


async def _no_body() -> dict[str, Any]:
    """A receive channel for a response sent without reading the request (it is never called)."""
    return {"type": "http.disconnect"}


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    instance = str(request.url.path) if request is not None else None
    body = problem.body(instance)
    if rid := request_id_var.get():
        body.setdefault("request_id", rid)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "data", "purpose") -> "data.purpose"; keep the location kind only when alone.
    # A tagged union's branch appears in the location as "(tag)"; it is not a field.
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("(") and p.endswith(")"))]
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
        response = problem_response(problem, request)
        for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable_text(request: Request, exc: Exception) -> JSONResponse:
        # Text with a NUL character (U+0000), which PostgreSQL cannot store: the input is invalid,
        # whichever field it was in (the transaction was rolled back).
        problem = InvalidInput("The input holds a character that cannot be stored (U+0000, NUL).")
        problem.slug, problem.title = "validation", "The request is not valid"
        return problem_response(problem, request)

    # The classes that may mean "unavailable" get the handler directly: Starlette answers them in
    # its exception middleware. Any other exception is answered by UnexpectedErrors (below), inside
    # the app's middleware; the catch-all registered last is Starlette's server-error middleware,
    # outside every other, reached only by an error UnexpectedErrors could not answer.
    for exc_class in (*_UNAVAILABLE, asyncpg.InterfaceError, asyncpg.ObjectNotInPrerequisiteStateError,
                      asyncpg.InternalClientError):
        app.add_exception_handler(exc_class, unexpected_response)
    app.add_exception_handler(Exception, unexpected_response)


async def unexpected_response(request: Request, exc: Exception) -> JSONResponse:
    """A 503 when the database is away, else a logged 500 that carries the request id."""
    if is_unavailable(exc):
        # The database went away (restart, failover, network): not the caller's fault and not a
        # bug; the transaction was rolled back, so the same call can simply be made again.
        log.warning("%s %s: the database is unavailable: %r", request.method, request.url.path, exc)
        response = problem_response(Unavailable("The database is unavailable; try again shortly."), request)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    problem = Problem("An unexpected error occurred; it has been logged with this request id.")
    problem.status, problem.slug, problem.title = 500, "internal", "Internal error"
    return problem_response(problem, request)


class UnexpectedErrors:
    """Answers an exception no handler took (a bug) with the 500 problem, here, inside the app's
    middleware, rather than in Starlette's server-error middleware, which sits outside all of
    them: so a 500 too gets what they add to every response (its request id, a page's security
    headers) and its body the request id. An error after the response started is left to the
    server (nothing can be answered then)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await unexpected_response(Request(scope), exc)
            await response(scope, _no_body, send)


async def single_valued_query(request: Request) -> None:
    """A dependency: a query parameter the route takes one value of may not be sent twice, and an
    API route (one in the OpenAPI document) takes no query parameter it does not declare.

    Otherwise ``?recipient=a&recipient=b`` would silently mean ``b``, and ``?unred=true`` (a typo)
    would silently list everything: refuse both as invalid input.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    declared: dict[str, Any] = {param.alias: param for param in _all_query_params(dependant)}
    # A route may read a query parameter itself and document it in ``openapi_extra`` (consent's
    # permission check): one value, unless its schema is an array.
    for documented in (getattr(route, "openapi_extra", None) or {}).get("parameters", []):
        if documented.get("in") == "query":
            declared.setdefault(documented["name"], documented)
    errors = []
    if getattr(route, "include_in_schema", False):
        errors += [{"loc": ("query", name), "msg": "not a parameter of this operation", "type": "unknown"}
                   for name in request.query_params if name not in declared]
    errors += [{"loc": ("query", name), "msg": "given more than once; send one value", "type": "repeated"}
               for name, param in declared.items()
               if len(request.query_params.getlist(name)) > 1 and not _takes_many(param)]
    if errors:
        raise validation_problem(errors)


def _all_query_params(dependant) -> list[Any]:
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found.extend(_all_query_params(sub))
    return found


def _takes_many(param) -> bool:
    from typing import get_args, get_origin

    if isinstance(param, dict):  # documented in openapi_extra
        return param.get("schema", {}).get("type") == "array"

    annotation = getattr(param.field_info, "annotation", None)
    kinds = {get_origin(a) or a for a in (annotation, *get_args(annotation))}
    return bool(kinds & {list, set, tuple, frozenset})


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
        await response(scope, _no_body, send)


class _TooLarge(StarletteHTTPException):
    # An HTTPException, so that FastAPI's body parsing lets it through (it turns any other
    # error while reading the body into a 400) and the handler above renders it as a 413.
    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")
