"""What every service process is made of, built in one place and handed down.

:class:`Runtime` owns the database pool, the Kafka hub and the background workers (outbox relay,
consumers). It is created in the FastAPI lifespan (never at import time) and torn down there;
tests build it with their own settings. :func:`create_app` adds what every service answers the
same way: problem details, request ids and metrics, ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import bodies
from shared.auth import KeyRing
from shared.crypto import parse_master_key
from shared.db import ReadLane, create_pool
from shared.delegation import parse_secret as parse_delegation_secret
from shared.directory import Directory, SigningKeys, SystemGrant
from shared.kafka import KafkaHub
from shared.kafka_access import topics_of
from shared.loops import operator_hint
from shared.migrations import upgrade_async
from shared.observability import RequestContextMiddleware
from shared.outbox import OutboxRelay
from shared.problems import (
    BodySizeLimitMiddleware,
    UnexpectedErrors,
    install_problem_handlers,
    single_valued_query,
)
from shared.rules.purposes import PURPOSES
from shared.settings import (
    DEVELOPMENT_SYSTEM_ID,
    DEVELOPMENT_SYSTEM_SOURCE,
    Environment,
    ServiceSettings,
)

#: A service's own settings class.
Settings = TypeVar("Settings", bound=ServiceSettings)

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: ServiceSettings, *, schema: str) -> None:
        self.settings = settings
        self.schema = schema
        self.service = settings.service_name
        self.pool: asyncpg.Pool | None = None
        self.reads: ReadLane | None = None
        self.hub = KafkaHub(settings)
        #: The clinic systems' keys' signing keys, at rest and on dsr.systems.
        self.signing_keys = signing_keys(settings)
        #: The clinic systems and their keys, kept fresh from this schema's tables.
        self.directory = Directory(schema, self.signing_keys)
        #: The app's key ring once it started (set by ``create_app``), over the directory.
        self.keyring = KeyRing((), self.directory, development_grants=development_grants(settings))
        self._tasks: dict[str, asyncio.Task] = {}

    async def start(self) -> None:
        await upgrade_async(self.settings.database_url, self.schema)
        self.pool = await create_pool(
            self.settings.database_url,
            self.schema,
            min_size=self.settings.db_pool_min,
            # The read lane's connections come on top of the pool's own maximum.
            max_size=self.settings.db_pool_max + self.settings.db_read_connections,
        )
        self.reads = ReadLane(self.pool, self.settings.db_read_connections)
        async with self.pool.acquire() as conn:
            await self.directory.load(conn)  # before the first request: every issued key works
        pool = self.pool
        self.spawn("systems-directory", lambda: self.directory.run(pool, self.settings.database_url))
        try:
            # Only its own (shared/kafka_access.py): the ACLs let a service create no other topic.
            await asyncio.wait_for(self.hub.ensure_topics(sorted(topics_of(self.service))), timeout=10)
        except Exception as exc:  # the broker may come later; consumers create topics themselves
            hint = operator_hint(exc)  # a refused SASL login or ACL is no outage: an operator must act
            if hint is not None:
                log.error("could not create topics now: %s; %s", exc, hint)
            else:
                log.warning("could not create topics now (broker unreachable?): %s", exc)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` in the background until shutdown; log it if it ever ends by itself."""

        async def guarded() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background worker %s died", name)
                raise

        self._tasks[name] = asyncio.create_task(guarded(), name=f"{self.service}:{name}")

    def start_outbox_relay(self) -> None:
        assert self.pool is not None
        relay = OutboxRelay(
            self.pool,
            self.hub,
            dsn=self.settings.database_url,
            service=self.service,
            schema=self.schema,
            poll_interval=self.settings.outbox_poll_interval.total_seconds(),
        )
        self.spawn("outbox-relay", relay.run)

    def workers_alive(self) -> dict[str, bool]:
        return {name: not task.done() for name, task in self._tasks.items()}

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks.values(), timeout=15)
            for task in pending:  # never block shutdown on a worker stuck in a client library
                log.error("background worker %s did not stop within 15s", task.get_name())
        self._tasks.clear()
        await self.hub.close()
        if self.reads is not None:
            await self.reads.close()
            self.reads = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def database_ok(self, timeout: float = 2.0) -> bool:
        if self.pool is None:
            return False
        try:
            async with self.pool.acquire(timeout=timeout) as conn:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=timeout)
            return True
        except Exception:
            return False


#: ``openapi_extra`` of an operation that takes no key at all. Without it the OpenAPI document would
#: say nothing of its security, which reads as "not documented" rather than "none needed".
NO_KEY: dict[str, Any] = {"security": []}
#: The 422 every operation answers to a query parameter it does not take, or one given twice
#: (``shared.problems.single_valued_query``), even those that take none.
UNKNOWN_QUERY: dict[str, Any] = {
    "description": "A query parameter the operation does not take, or one sent twice",
    "content": {"application/problem+json": {}},
}
#: The body of ``/healthz``, healthy (200) or not (503).
HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "service", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "service": {"type": "string", "description": "The service's name: consent, dsr or notifier."},
        "checks": {
            "type": "object",
            "description": "Each dependency, and each background worker as `worker:<name>`.",
            "required": ["database", "broker"],
            "properties": {
                "database": {"type": "string", "enum": ["ok", "unreachable"]},
                "broker": {"type": "string", "enum": ["ok", "unreachable", "authentication_failed"],
                           "description": "`authentication_failed`: the brokers refuse the service's SASL login "
                                          "(KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)."},
            },
            "additionalProperties": {"type": "string", "enum": ["running", "stopped"]},
        },
    },
}
#: The addresses a process may listen on that no client can be sent to.
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def servers(settings: ServiceSettings) -> list[dict[str, str]]:
    """The OpenAPI ``servers``. First the origin the document is read from (``/``), so that /docs
    sends its calls where it was opened, in development as behind a proxy; then where this process
    listens by its ``host`` and ``port`` settings (``http://127.0.0.1:8001`` for consent by
    default; 8002 dsr, 8003 notifier). Served under a path (FastAPI's ``root_path``), FastAPI puts
    that path first."""
    host = "127.0.0.1" if settings.host in _ANY_ADDRESS else settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    prefix = settings.model_config.get("env_prefix", "")
    return [
        {"url": "/", "description": "Where this document was read from"},
        {"url": f"http://{host}:{settings.port}",
         "description": f"The {settings.service_name} service, where it listens ({prefix}HOST, {prefix}PORT)"},
    ]


def create_app(
    *,
    title: str,
    description: str,
    settings: ServiceSettings,
    runtime_factory: Callable[[ServiceSettings], Runtime],
    on_start: Callable[[FastAPI, Runtime], Awaitable[None]] | None = None,
    version: str = "1.0.0",
) -> FastAPI:
    """A FastAPI app with the shared middleware, error handling, health and metrics.

    ``on_start`` runs after the runtime started (pool and hub ready): a service wires its own
    state and starts its workers there.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = runtime_factory(settings)
        await runtime.start()
        app.state.runtime = runtime
        app.state.keyring.directory = runtime.directory
        runtime.keyring = app.state.keyring  # for the consumers: who publishes as which source
        try:
            if on_start is not None:
                await on_start(app, runtime)
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  servers=servers(settings), dependencies=[Depends(single_valued_query)])
    _document_unreadable_bodies(app)
    app.state.settings = settings
    app.state.keyring = KeyRing(
        settings.effective_api_keys(), development_grants=development_grants(settings),
        delegation=(parse_delegation_secret(settings.delegation_secret.get_secret_value()), settings.service_name),
    )
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnexpectedErrors)  # a 500 passes through every middleware added after it
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    if settings.trusted_proxies:
        # The client a request is from, for every per-address limit: the socket peer's address,
        # or, from a trusted proxy, the address it forwards (uvicorn's middleware, applied here
        # rather than by the server: the same whatever serves the app, tests included).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    health_body = {"application/json": {"schema": HEALTH_SCHEMA}}

    @app.get("/healthz", tags=["operations"], summary="200 when the database and the broker answer",
             response_class=JSONResponse, openapi_extra=NO_KEY,
             responses={200: {"description": "Healthy", "content": health_body},
                        422: UNKNOWN_QUERY,
                        503: {"description": "The database, the broker or a worker is down", "content": health_body}})
    async def healthz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        database, broker = await asyncio.gather(runtime.database_ok(), runtime.hub.status())
        workers = runtime.workers_alive()
        healthy = database and broker == "ok" and all(workers.values())
        body = {
            "status": "ok" if healthy else "unavailable",
            "service": settings.service_name,
            "checks": {
                "database": "ok" if database else "unreachable",
                "broker": broker,
                **{f"worker:{name}": "running" if alive else "stopped" for name, alive in workers.items()},
            },
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response,
             openapi_extra=NO_KEY,
             responses={200: {"description": "The Prometheus text format", "content": {"text/plain": {}}},
                        422: UNKNOWN_QUERY})
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def signing_keys(settings: ServiceSettings) -> SigningKeys:
    """How this service keeps the clinic systems' signing keys: under its master key at rest, under
    a key derived from the services' shared secret on ``dsr.systems``."""
    return SigningKeys(parse_master_key(settings.master_key.get_secret_value()),
                       parse_delegation_secret(settings.delegation_secret.get_secret_value()))


def development_grants(settings: ServiceSettings) -> dict[str, SystemGrant]:
    """In development, what ``dev-system``'s system (the example website) may do until its own
    registration reaches this service: publish as ``clinic/website`` and check every purpose."""
    if settings.environment is not Environment.development:
        return {}
    return {DEVELOPMENT_SYSTEM_ID: SystemGrant(DEVELOPMENT_SYSTEM_ID, DEVELOPMENT_SYSTEM_SOURCE,
                                               frozenset(PURPOSES), frozenset())}


def _document_unreadable_bodies(app: FastAPI) -> None:
    """Add to the OpenAPI document the 400 problem a body that cannot be read (not JSON, not UTF-8)
    gets on every operation that takes one, and the schemas of bodies routes read themselves
    (``shared.bodies``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            bodies.add_schemas(schema)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if "requestBody" in operation:
                        operation["responses"].setdefault("400", {
                            "description": "The body cannot be read (not JSON, or not UTF-8)",
                            "content": {"application/problem+json": {}}})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def serve(build_app: Callable[[Settings], FastAPI], settings: Settings) -> None:
    """Run a service in the foreground: JSON logs, uvicorn, a graceful stop on SIGTERM/SIGINT."""
    import uvicorn

    from shared.observability import configure_logging

    configure_logging(settings.service_name, settings.log_level)
    app = build_app(settings)
    app.router.lifespan_context = _frozen_after_start(app.router.lifespan_context)
    uvicorn.run(app, **server_options(settings))


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """uvicorn's options for a service. The app itself decides whose ``X-Forwarded-For`` to
    believe (``DONGUI_FORWARDED_ALLOW_IPS``, :func:`create_app`): uvicorn's own proxy handling is
    off, or it would believe 127.0.0.1 and ::1 by default (or its ``FORWARDED_ALLOW_IPS``)."""
    return {"host": settings.host, "port": settings.port, "log_config": None, "timeout_graceful_shutdown": 10,
            "proxy_headers": False, "forwarded_allow_ips": ""}


def _frozen_after_start(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[Any]]:
    """The app's lifespan, then everything start-up made moved out of the garbage collector's way.

    A full collection walks every object the collector tracks, and stops every request in flight
    while it does. After the imports, the app and its schemas that is about 130,000 objects: 150 to
    200 ms on the benchmark machine, a few times a minute under load (it was the permission
    check's p99 of 40 to 130 ms in wrk's figures). Frozen (``gc.freeze``), they are never walked
    again; what requests and workers create afterwards is collected as before. Start-up's own
    garbage is collected first, so nothing frozen is garbage.
    """

    @asynccontextmanager
    async def frozen(app: FastAPI) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    return frozen
