"""The two kinds of background loop the services run, written once.

:func:`run_woken` runs a step again at once while work is waiting, otherwise waits for a
``pg_notify`` on a channel (a trigger fires it when work is committed) or a poll interval, and
backs off exponentially when the step fails (a database or broker outage). :func:`run_every`
runs a step at a fixed interval. Neither ever raises, except to be cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import errors as kafka_errors

log = logging.getLogger(__name__)

MIN_BACKOFF, MAX_BACKOFF = 0.5, 30.0

#: Failures that no retry mends: the broker refuses this client's settings or rights. The loop still
#: retries (an operator may fix the broker meanwhile), but says what to change, as an error.
OPERATOR_HINTS: dict[type[BaseException], str] = {
    kafka_errors.InvalidSessionTimeoutError: (
        "KAFKA_SESSION_TIMEOUT_MS lies outside the broker's group.min.session.timeout.ms to "
        "group.max.session.timeout.ms (Apache Kafka: 6000 to 1800000 by default)"),
    kafka_errors.TopicAuthorizationFailedError: (
        "the broker's ACLs do not let this client's user use the topic: Read, Write, or Create for "
        "a missing one (python -m deploy.kafka_acls; docs/deployment.md, Kafka ACLs)"),
    kafka_errors.GroupAuthorizationFailedError: (
        "the broker's ACLs do not let this client's user use its consumer group "
        "(python -m deploy.kafka_acls; docs/deployment.md, Kafka ACLs)"),
    kafka_errors.ClusterAuthorizationFailedError: (
        "the broker's ACLs refuse this client's user a cluster operation: IdempotentWrite for "
        "KAFKA_IDEMPOTENT_PRODUCER=true on a Kafka older than 3.0 (since, Write on a topic implies "
        "it), or Create on the cluster (docs/deployment.md, Kafka ACLs)"),
    kafka_errors.SaslAuthenticationFailed: (
        "the broker refused KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD (or KAFKA_SASL_MECHANISM)"),
    kafka_errors.AuthenticationFailedError: (
        "the broker refused KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD (or KAFKA_SASL_MECHANISM)"),
}


def operator_hint(exc: BaseException) -> str | None:
    """What to change when ``exc`` is a failure only an operator can mend (:data:`OPERATOR_HINTS`)."""
    return next((hint for kind, hint in OPERATOR_HINTS.items() if isinstance(exc, kind)), None)


def cancelled_from_outside() -> bool:
    """Whether the running task itself is being cancelled (a shutdown), as opposed to a
    ``CancelledError`` escaping from a library call while nobody cancelled us: aiokafka lets one
    out of its clients when the broker goes away mid-request (aio-libs/aiokafka#974). A loop that
    must survive broker outages treats the latter as one more failure and carries on."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def stop_if_cancelled() -> None:
    """Raise CancelledError if the running task's cancellation was swallowed on the way.

    ``asyncio.wait_for`` on Python 3.11 returns its inner result when the cancellation arrives just
    as that finishes (python/cpython#86296, fixed in 3.12): nothing is raised and the task's
    cancellation request stays pending. A loop would run on, and a shutdown would wait for it
    (seen: the outbox relay outliving ``Runtime.stop``'s 15 s). Every loop here calls this once
    per turn."""
    if cancelled_from_outside():
        raise asyncio.CancelledError


def is_failure(exc: BaseException) -> bool:
    """Whether a loop that must outlive outages should retry after ``exc``: any error, and a
    CancelledError that is not the task's own cancellation (:func:`cancelled_from_outside`)."""
    if isinstance(exc, asyncio.CancelledError):
        return not cancelled_from_outside()
    return isinstance(exc, Exception)


def log_failure(text: str, exc: BaseException) -> None:
    """Log a loop's failure ``text``: a warning when it may mend by itself (an outage), an error
    naming what to change when only an operator can mend it (:func:`operator_hint`)."""
    hint = operator_hint(exc)
    if hint is not None:
        log.error("%s; %s", text, hint)
    else:
        log.warning("%s", text)


async def pause_after(what: str, exc: BaseException, backoff: float) -> float:
    """Log a loop's failure, wait ``backoff`` seconds, and return the next (doubled) backoff."""
    log_failure(f"{what} stopped ({exc!r}); starting again in {backoff:.1f}s", exc)
    await asyncio.sleep(backoff)
    return min(backoff * 2, MAX_BACKOFF)


async def close_quietly(awaitable: Awaitable[None], *, timeout: float = 10.0, what: str = "a Kafka client") -> None:
    """Close a client after a failure, bounded (with the broker away a producer's stop() waits to
    flush), ignoring its errors, a stray CancelledError among them (:func:`cancelled_from_outside`)."""
    try:
        await asyncio.wait_for(awaitable, timeout=timeout)
    except asyncio.CancelledError:
        if cancelled_from_outside():
            raise
        log.debug("%s was cancelled under us while closing", what)
    except Exception:  # closing after a failure: nothing more to do with the error
        log.debug("ignored error while closing %s", what, exc_info=True)


async def run_woken(
    step: Callable[[], Awaitable[bool]],
    *,
    name: str,
    dsn: str,
    channel: str,
    poll_interval: float,
    on_failure: Callable[[Exception], Awaitable[None]] | None = None,
) -> None:
    """Run ``step`` until cancelled. ``step`` returns True when more work may be waiting."""
    wake = asyncio.Event()
    listener = await _listen(dsn, channel, wake, name)
    backoff = MIN_BACKOFF
    try:
        while True:
            stop_if_cancelled()
            wake.clear()  # before the step: a notification during it is not lost
            try:
                more = await step()
                backoff = MIN_BACKOFF
            except asyncio.CancelledError as exc:
                if cancelled_from_outside():
                    raise
                backoff = await pause_after(name, exc, backoff)
                continue
            except Exception as exc:
                log_failure(f"{name} failed, trying again in {backoff:.1f}s: {exc}", exc)
                if on_failure is not None:
                    await on_failure(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                if listener is None or listener.is_closed():
                    listener = await _listen(dsn, channel, wake, name)
                continue
            if not more:
                try:
                    await asyncio.wait_for(wake.wait(), timeout=poll_interval)
                except TimeoutError:
                    pass
    finally:
        if listener is not None and not listener.is_closed():
            await listener.close()


async def _listen(dsn: str, channel: str, wake: asyncio.Event, name: str) -> asyncpg.Connection | None:
    try:
        # LISTEN needs a connection of its own, outside the pool.
        conn = await asyncpg.connect(dsn)
        await conn.add_listener(channel, lambda *_: wake.set())
        return conn
    except Exception as exc:  # polling still works without it
        log.warning("%s could not LISTEN on %s (polling instead): %s", name, channel, exc)
        return None


async def run_every(step: Callable[[], Awaitable[None]], *, name: str, interval: float) -> None:
    """Run ``step`` every ``interval`` seconds until cancelled; a failed pass is logged."""
    while True:
        stop_if_cancelled()
        try:
            await step()
        except asyncio.CancelledError as exc:
            if cancelled_from_outside():
                raise
            await pause_after(name, exc, 0)
        except Exception:
            log.exception("%s failed; trying again in %.0fs", name, interval)
        await asyncio.sleep(interval)

