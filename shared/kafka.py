"""The service's connection to Kafka: one producer, started lazily and restarted after failures.

A service must start, answer reads and record events while the broker is down (the outbox keeps
what it could not send), so nothing here is allowed to block start-up on the broker.

A broker that refuses the service's SASL login is no outage, though: aiokafka reports it as
"Unable to bootstrap", as if the broker were away (only its log says why), so a client that
cannot bootstrap with SASL configured asks the broker once more itself (:func:`login_refused`)
and raises :class:`LoginRefused`, which names the settings to change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
)

from shared.delegation import parse_secret as parse_delegation_secret
from shared.loops import close_quietly
from shared.servicesig import ServiceRecords
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: Bytes buffered per partition before ``send()`` waits for them to go out (aiokafka's default is
#: 16 KiB: a relay pass of 500 outbox rows then waited for about twenty produce requests in turn).
#: Well under Apache Kafka's default ``message.max.bytes`` (1 MiB), which a batch must not exceed.
MAX_BATCH_BYTES = 256 * 1024
#: Topic settings when a service creates a topic (production may pre-create them the same way).
#: ``dsr.systems`` carries whole states keyed by system or key: compacted, it keeps the newest of
#: each for ever, so a consumer that starts from nothing still learns every live key.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {"dsr.systems": {"cleanup.policy": "compact"}}


class LoginRefused(AuthenticationFailedError):
    """The brokers refused this client's SASL login (``shared.loops.OPERATOR_HINTS`` says what to change)."""

    def __init__(self, username: str | None, cause: BaseException) -> None:
        super().__init__(f"the broker refused the SASL login of user {username!r}: {cause}")


async def login_refused(options: dict, timeout: float = 5.0) -> BaseException | None:
    """The brokers' refusal of the SASL login in ``options`` (aiokafka's), or None: no SASL, a
    login accepted, or no broker answering (an outage, not a refusal)."""
    if not options.get("sasl_mechanism"):
        return None
    for address in str(options["bootstrap_servers"]).split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(
                host.strip("[]"), int(port), security_protocol=options.get("security_protocol", "PLAINTEXT"),
                ssl_context=options.get("ssl_context"), sasl_mechanism=options["sasl_mechanism"],
                sasl_plain_username=options.get("sasl_plain_username"),
                sasl_plain_password=options.get("sasl_plain_password"),
                request_timeout_ms=int(timeout * 1000)), timeout=timeout)
        except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
            return exc
        except Exception:  # this broker is away (or the address is wrong): try the next one
            continue
        conn.close()
        return None
    return None


class KafkaHub:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        #: Signs what this service produces, and checks what the services produced (shared/servicesig.py).
        self.records = ServiceRecords(parse_delegation_secret(settings.delegation_secret.get_secret_value()))
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._topics_ready: set[str] = set()

    def _producer_options(self) -> dict:
        return {
            **self.settings.kafka_client_options(),
            "acks": "all",
            "enable_idempotence": self.settings.kafka_idempotent_producer,
            "linger_ms": 5,
            "max_batch_size": MAX_BATCH_BYTES,
            "request_timeout_ms": 10_000,
            "metadata_max_age_ms": 30_000,
            "client_id": f"dongui-{self.settings.service_name}",
        }

    async def producer(self) -> AIOKafkaProducer:
        """The running producer, started now if needed. Raises if the broker cannot be reached."""
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**self._producer_options())
                try:
                    await asyncio.wait_for(producer.start(), timeout=10)
                except BaseException as exc:
                    await close_quietly(producer.stop())
                    await self.raise_if_login_refused(exc)
                    raise
                self._producer = producer
        return self._producer

    async def reset(self) -> None:
        """Drop the producer after a failure; the next call to :meth:`producer` starts a new one."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await close_quietly(producer.stop())

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics this service uses when they do not exist (production may pre-create)."""
        wanted = [t for t in topics if t not in self._topics_ready]
        if not wanted:
            return
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(), request_timeout_ms=10_000)
        try:
            await asyncio.wait_for(admin.start(), timeout=10)
        except Exception as exc:
            await close_quietly(admin.close())
            await self.raise_if_login_refused(exc)
            raise
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [
                            NewTopic(
                                t,
                                num_partitions=self.settings.kafka_topic_partitions,
                                replication_factor=self.settings.kafka_replication_factor,
                                topic_configs=TOPIC_CONFIGS.get(t, {}),
                            )
                            for t in missing
                        ]
                    )
                except TopicAlreadyExistsError:
                    pass  # another replica won the race
            self._topics_ready.update(wanted)
        finally:
            await close_quietly(admin.close())

    async def raise_if_login_refused(self, exc: BaseException) -> None:
        """Raise :class:`LoginRefused` (from ``exc``) when a failure to bootstrap was the brokers
        refusing this service's SASL login; return otherwise (the caller re-raises ``exc``)."""
        if isinstance(exc, KafkaConnectionError):
            refusal = await login_refused(self.settings.kafka_client_options())
            if refusal is not None:
                raise LoginRefused(self.settings.kafka_sasl_username, refusal) from exc

    async def status(self, timeout: float = 2.0) -> str:
        """``ok``, ``authentication_failed`` (the brokers refuse the SASL login) or ``unreachable``."""
        try:
            producer = await asyncio.wait_for(self.producer(), timeout=timeout)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=timeout)
            return "ok"
        except LoginRefused:
            return "authentication_failed"
        except Exception:
            return "unreachable"

    async def reachable(self, timeout: float = 2.0) -> bool:
        return await self.status(timeout) == "ok"

    async def close(self) -> None:
        await self.reset()
