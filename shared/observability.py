"""JSON logs that carry the request id and the event id, and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from contextvars import ContextVar

from prometheus_client import Counter, Histogram
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
event_id_var: ContextVar[str | None] = ContextVar("event_id", default=None)

HTTP_REQUESTS = Counter(
    "dongui_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "dongui_http_request_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_CONSUMED = Counter(
    "dongui_events_consumed_total", "Kafka messages handled", ["service", "consumer", "outcome"]
)
EVENTS_PUBLISHED = Counter(
    "dongui_events_published_total", "Outbox events published to Kafka", ["service", "topic"]
)
OUTBOX_FAILURES = Counter(
    "dongui_outbox_publish_failures_total", "Outbox relay attempts that failed", ["service"]
)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        record.event_id = event_id_var.get()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """One JSON object per line on stderr, each with service, request_id and event_id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter(service))
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{request_id}{event_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log duplicates ours and is not JSON.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("aiokafka", "httpx", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class RequestContextMiddleware:
    """Pure ASGI middleware: request id in and out, metrics per route, one access log line.

    Written against ASGI directly because Starlette's BaseHTTPMiddleware costs a task per request
    on a hot path that clinic systems call on every use of a person's data.
    """

    def __init__(self, app, service: str) -> None:
        self.app = app
        self.service = service
        self.log = logging.getLogger(f"{service}.access")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        event_token = event_id_var.set(None)  # an endpoint sets it once it knows the event
        status_holder = [500]
        start = time.perf_counter()

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*list(message["headers"]), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            if path not in ("/metrics", "/healthz"):
                HTTP_REQUESTS.labels(self.service, method, path, status_holder[0]).inc()
                HTTP_LATENCY.labels(self.service, method, path).observe(elapsed)
                self.log.info(
                    "%s %s %s",
                    method,
                    scope.get("path"),
                    status_holder[0],
                    extra={"status": status_holder[0], "ms": round(elapsed * 1000, 2)},
                )
            event_id_var.reset(event_token)
            request_id_var.reset(token)
