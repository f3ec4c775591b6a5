"""A clinic system's side of the data-subject request contract, independent of what it stores.

:class:`ClinicSystem` registers the system with the request service, reads ``dsr.tasks``, hands
each of its own tasks to a :class:`TaskHandler` and publishes the answer on ``dsr.task-results``.
The delivery rules live here, so a handler only has to know its own data:

* Tasks for other systems are skipped (every system reads the whole topic).
* The first answer to a task is stored and re-sent, unchanged, when the task is re-sent (same
  ``task_id``, higher ``attempt``): a task is never applied twice, and the request service sees
  the same answer whichever copy reaches it.
* Offsets are committed only after the broker acknowledged the answers, so a crash re-reads the
  tasks and answers them again (from the stored answers) instead of losing them.
* Each system calls the services with its own key (``EXAMPLE_SYSTEM_KEYS``, issued by the
  privacy manager). In development, a system without one registers with the manager's
  development key, has a key issued for itself, uses it, and revokes it when it stops. Each answer
  is signed with that key (``shared/recordsig.py``, the ``dongui-signature`` header): the request
  service believes an answer only from the system whose key signed it.
* A task is carried out only when the request service signed it (``shared/servicesig.py``, the
  ``dongui-task-signature`` header, Ed25519, checked with the public key from
  ``GET /v1/tasks/signing-key``): anything else on ``dsr.tasks`` is skipped and logged.
* Personal data never crosses Kafka in the clear (``shared/sealing.py``): an answer's
  ``exported``, ``retained`` and ``note`` are sealed to the subject's public key from the consent
  service (which this system cannot open again, nor can any other system), and a task's sealed
  corrections are opened with the task's own key from the request service (given for this
  system's open task only). A 410 from either means the subject was erased: nothing personal about
  them is sent any more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import CommitFailedError
from pydantic import ValidationError

from shared import recordsig
from shared.cloudevents import CloudEvent, InvalidEvent, from_kafka, new_event, to_kafka
from shared.events import TaskData, TaskResult, Topic, model_for
from shared.kafka_access import system_group_prefix
from shared.loops import close_quietly, is_failure, pause_after, stop_if_cancelled
from shared.observability import event_id_var
from shared.recordsig import SignatureRefused
from shared.sealing import SEALED, SealedDataError, decode_key, open_token, seal_to, unseal_data
from shared.servicesig import TASK_HEADER, TaskVerifier

log = logging.getLogger("examples.clinic_systems")

DEV_API_KEY = "dev-manager"
DEV_CONSENT_API_KEY = "dev-system"
#: The fields of an answer that are personal data, sealed to the subject's public key.
PERSONAL_RESULT_FIELDS = ("exported", "retained", "note")
#: How often, at most, a failing registration is logged.
WARN_EVERY = 60.0


class TryLater(Exception):
    """Raised by a handler that cannot work now (its database is down): nothing is answered, and
    the task is read again after a pause instead of being answered ``failed``."""


class SubjectErased(Exception):
    """A 410: the subject was erased and their transit keys destroyed."""


class TaskClosed(Exception):
    """The request service gives a task's key no more: the task was answered or closed."""


class TaskHandler(Protocol):
    """What a system must provide: its id, its registration, and the answer to one task."""

    system_id: str

    def registration(self) -> dict[str, Any]: ...

    def handle(self, task: TaskData) -> TaskResult: ...

    def held(self) -> dict[str, list[tuple[str, date]]]:
        """Per subject, each retention class with a legal period it holds and its latest record's day."""
        ...


@dataclass(frozen=True)
class Settings:
    """Connection settings, read from the same variables the services use."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    # Apache Kafka supports idempotent producers; Tansu (the development broker) does not.
    kafka_idempotent_producer: bool = False
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    dsr_url: str = "http://127.0.0.1:8002"
    dsr_api_key: str = DEV_API_KEY
    registration_retry_initial: float = 1.0
    registration_retry_max: float = 30.0
    # The consent service, for each subject's public key (POST /v1/subjects/{id}/transit-key,
    # role system). None: the answers are sent unsealed.
    consent_url: str | None = None
    consent_api_key: str = DEV_CONSENT_API_KEY
    #: Each system's own key (system_id -> key), issued by the privacy manager.
    system_keys: Mapping[str, str] = field(default_factory=dict)
    #: The request service's task signing key (``public_key`` of ``GET /v1/tasks/signing-key``),
    #: if given: tasks are checked without asking it, even while it is away. None: fetched.
    task_signing_key: str | None = None
    development: bool = True
    #: Report what it holds, by class and day, once registered (``POST /v1/subjects/{id}/records``),
    #: which starts each subject's retention clock at the request service.
    report_records: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        environment = env.get("DONGUI_ENVIRONMENT", "development")
        system_keys = json.loads(env.get("EXAMPLE_SYSTEM_KEYS") or "{}")
        api_key = env.get("DSR_API_KEY")
        if not api_key:
            if system_keys:
                api_key = ""  # each system calls with its own key
            elif environment != "development":
                raise ValueError(
                    f"DSR_API_KEY is not set and DONGUI_ENVIRONMENT is {environment}: the "
                    f"development key only works in development"
                )
            api_key = DEV_API_KEY
        consent_key = env.get("CONSENT_API_KEY")
        if not consent_key:
            if system_keys:
                consent_key = ""
            elif environment != "development":
                raise ValueError(
                    f"CONSENT_API_KEY is not set and DONGUI_ENVIRONMENT is {environment}: the "
                    f"development key only works in development"
                )
            consent_key = DEV_CONSENT_API_KEY
        return cls(
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", cls.kafka_bootstrap_servers),
            kafka_security_protocol=env.get("KAFKA_SECURITY_PROTOCOL", cls.kafka_security_protocol),
            kafka_sasl_mechanism=env.get("KAFKA_SASL_MECHANISM") or None,
            kafka_sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
            kafka_sasl_password=env.get("KAFKA_SASL_PASSWORD") or None,
            kafka_idempotent_producer=env.get("KAFKA_IDEMPOTENT_PRODUCER", "false").lower()
            in ("1", "true", "yes", "on"),
            session_timeout_ms=int(env.get("KAFKA_SESSION_TIMEOUT_MS") or cls.session_timeout_ms),
            heartbeat_interval_ms=int(
                env.get("KAFKA_HEARTBEAT_INTERVAL_MS") or cls.heartbeat_interval_ms
            ),
            dsr_url=env.get("DSR_URL") or f"http://127.0.0.1:{env.get('DSR_PORT') or 8002}",
            dsr_api_key=api_key,
            consent_url=env.get("CONSENT_URL") or f"http://127.0.0.1:{env.get('CONSENT_PORT') or 8001}",
            consent_api_key=consent_key,
            system_keys=system_keys,
            task_signing_key=env.get("DSR_TASK_SIGNING_KEY") or None,
            development=environment == "development",
            report_records=env.get("EXAMPLE_REPORT_RECORDS", "false").lower() in ("1", "true", "yes", "on"),
        )

    def kafka_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context()
        if self.kafka_sasl_mechanism:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password
        return options


def tasks_group(system_id: str) -> str:
    """The system's consumer group on ``dsr.tasks``: one of the groups its ACLs allow it."""
    return f"{system_group_prefix(system_id)}tasks"


class ClinicSystem:
    """One clinic system: registration, the task consumer and its answers.

    ``silent`` systems register and read their tasks but never answer them (nor commit their
    offsets), to show what the request service does with a system that does not answer.
    """

    def __init__(self, handler: TaskHandler, settings: Settings, *, silent: bool = False) -> None:
        self.handler = handler
        self.system_id = handler.system_id
        self.settings = settings
        self.silent = silent
        self.registered = asyncio.Event()
        # task_id -> the answer as first sent. In a real system this is a table, written in the
        # same transaction as the task's effect.
        self._answers: dict[str, CloudEvent] = {}
        self._consent: httpx.AsyncClient | None = None
        self._dsr: httpx.AsyncClient | None = None
        #: Checks that a task is the request service's (its public key, fetched when first needed).
        self._task_verifier: TaskVerifier | None = None
        #: Its own key: given, or (development) issued for it at registration.
        self.key: str | None = settings.system_keys.get(self.system_id)
        self._issued_key_id: str | None = None

    async def run(self) -> None:
        """Register (in the background) and answer tasks until cancelled."""
        registration = asyncio.create_task(self.register(), name=f"register-{self.system_id}")
        url = self.settings.consent_url
        self._consent = (
            httpx.AsyncClient(base_url=url, timeout=10.0, trust_env=not _is_loopback(url)) if url else None
        )
        dsr_url = self.settings.dsr_url
        self._dsr = httpx.AsyncClient(base_url=dsr_url, timeout=10.0, trust_env=not _is_loopback(dsr_url))
        try:
            await self.consume()
        finally:
            registration.cancel()
            await asyncio.gather(registration, return_exceptions=True)
            if self._consent is not None:
                await self._consent.aclose()
            await self._dsr.aclose()
            await self._revoke_issued_key()

    def _consent_headers(self) -> dict[str, str]:
        # Its own key once it has one; until then (development only) the development system key.
        return {"Authorization": f"Bearer {self.key or self.settings.consent_api_key}"}

    def _signing_key(self) -> str:
        """The key its answers are signed with (``shared/recordsig.py``): its own. Without one yet
        (development, before registration issued it) the task is read again after a pause."""
        if self.key is None:
            raise TryLater(f"{self.system_id} has no key of its own yet to sign its answers with")
        return self.key

    async def _verify_task(self, record: ConsumerRecord) -> None:
        """:class:`SignatureRefused` unless the request service signed this ``dsr.tasks`` record
        (``dongui-task-signature``, ``shared/servicesig.py``): anyone who can write to the broker
        could write a task. The public key is fetched once, and again when a task names another
        (the deployment's secret changed); :class:`TryLater` if the request service cannot say."""
        named = next((v.decode("ascii", "replace").split(".")[1:3] for k, v in record.headers or () if k == TASK_HEADER),
                     None)
        if self._task_verifier is None and self.settings.task_signing_key:
            self._task_verifier = TaskVerifier(decode_key(self.settings.task_signing_key))
        if self._task_verifier is None or (named and ".".join(named) != self._task_verifier.key_id):
            assert self._dsr is not None, "run() opens the request service's client"
            try:
                response = await self._dsr.get("/v1/tasks/signing-key")
                response.raise_for_status()
                self._task_verifier = TaskVerifier(decode_key(response.json()["public_key"]))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise TryLater(f"the request service's task signing key cannot be fetched: {exc!r}") from None
        self._task_verifier.verify(record.value, record.headers, record.topic)

    # --- keys that seal --------------------------------------------------------------------

    async def public_key(self, subject_id: str) -> dict[str, str] | None:
        """The subject's public key from the consent service, to seal an answer to (None when no
        consent service is configured). It opens nothing: only the services can.

        Raises :class:`SubjectErased` on 410, and :class:`TryLater` when the consent service
        cannot answer now (the task is read again after a pause). Not cached: once the subject is
        erased nothing more is sealed for them.
        """
        if self._consent is None:
            return None
        try:
            response = await self._consent.post(f"/v1/subjects/{subject_id}/transit-key",
                                                headers=self._consent_headers())
        except httpx.HTTPError as exc:
            raise TryLater(f"the consent service cannot be reached: {exc!r}") from None
        if response.status_code == 410:
            raise SubjectErased(subject_id)
        if response.status_code != 200:
            raise TryLater(f"the consent service answered {response.status_code} for a public key")
        return response.json()

    async def task_key(self, task_id: str) -> bytes:
        """The key of one of this system's open tasks, from the request service: it opens what the
        task carries sealed (its corrections), for this system only. Raises :class:`SubjectErased`
        (410), :class:`TaskClosed` (409: answered or closed), :class:`TryLater` otherwise."""
        assert self._dsr is not None, "run() opens the request service's client"
        if self.key is None:
            raise TryLater("this system has no key of its own yet to ask for a task's key")
        try:
            response = await self._dsr.post(f"/v1/tasks/{task_id}/key",
                                            headers={"Authorization": f"Bearer {self.key}"})
        except httpx.HTTPError as exc:
            raise TryLater(f"the request service cannot be reached: {exc!r}") from None
        if response.status_code == 410:
            raise SubjectErased(task_id)
        if response.status_code == 409:
            raise TaskClosed(task_id)
        if response.status_code != 200:
            raise TryLater(f"the request service answered {response.status_code} for a task's key")
        return decode_key(response.json()["k"])

    # --- registration ----------------------------------------------------------------------

    async def register(self) -> None:
        """``POST /v1/systems`` until the request service accepts it (it may start later)."""
        url = self.settings.dsr_url.rstrip("/") + "/v1/systems"
        body = self.handler.registration()
        # With its own key, a system updates the registration the privacy manager made for it;
        # without one (development), the manager's development key registers it.
        headers = {"Authorization": f"Bearer {self.key or self.settings.dsr_api_key}"}
        delay = self.settings.registration_retry_initial
        last_warning: float | None = None
        # A proxy from the environment must not intercept a call to this machine.
        async with httpx.AsyncClient(timeout=10.0, trust_env=not _is_loopback(url)) as client:
            while True:
                try:
                    response = await client.post(url, json=body, headers=headers)
                    if response.status_code in (200, 201):
                        log.info(
                            "%s registered with the request service (%s)", self.system_id,
                            "created" if response.status_code == 201 else "updated",
                        )
                        if self.key is None and self.settings.development:
                            await self._issue_own_key(client, url, headers)
                        if self.settings.report_records:
                            await self.report_records(client)
                        self.registered.set()
                        return
                    problem = f"HTTP {response.status_code}: {response.text[:300]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                now = time.monotonic()
                if last_warning is None or now - last_warning >= WARN_EVERY:
                    last_warning = now
                    log.warning(
                        "%s cannot register at %s yet (%s); retrying in the background while "
                        "reading tasks", self.system_id, url, problem,
                    )
                # Jitter: several systems restarted together should not retry in lockstep.
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.settings.registration_retry_max)

    async def report_records(self, client: httpx.AsyncClient) -> None:
        """Tell the request service what it holds of each subject, by retention class, and the
        latest record's day: when a class's period ends there, it sends a destroy task here."""
        base = self.settings.dsr_url.rstrip("/")
        headers = {"Authorization": f"Bearer {self.key or self.settings.dsr_api_key}"}
        for subject_id, records in self.handler.held().items():
            if not records:
                continue
            body = {"records": [{"retention_class": c, "recorded_on": d.isoformat()} for c, d in records]}
            response = await client.post(f"{base}/v1/subjects/{subject_id}/records", json=body, headers=headers)
            if response.status_code != 200:
                log.warning("%s could not report the records of %s: HTTP %d %s", self.system_id, subject_id,
                            response.status_code, response.text[:300])

    async def _issue_own_key(self, client: httpx.AsyncClient, url: str, manager: dict[str, str]) -> None:
        """Development: a key of its own, issued with the manager's key, revoked when it stops."""
        response = await client.post(f"{url}/{self.system_id}/keys", headers=manager,
                                     json={"name": f"examples.clinic_systems (development), pid {os.getpid()}"})
        response.raise_for_status()
        issued = response.json()
        self.key, self._issued_key_id = issued["key"], issued["key_id"]
        log.info("%s has its own key %s (development)", self.system_id, self._issued_key_id)

    async def _revoke_issued_key(self) -> None:
        if self._issued_key_id is None:
            return
        url = f"{self.settings.dsr_url.rstrip('/')}/v1/systems/{self.system_id}/keys/{self._issued_key_id}"
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=not _is_loopback(url)) as client:
                await client.delete(url, headers={"Authorization": f"Bearer {self.settings.dsr_api_key}"})
        except httpx.HTTPError as exc:  # it expires in a year anyway
            log.warning("%s could not revoke its development key %s: %r", self.system_id, self._issued_key_id, exc)

    # --- tasks -----------------------------------------------------------------------------

    async def consume(self) -> None:
        """Read ``dsr.tasks`` until cancelled; a broker outage only delays the answers."""
        backoff = 0.5
        while True:
            stop_if_cancelled()
            consumer = AIOKafkaConsumer(
                Topic.dsr_tasks,
                **self.settings.kafka_options(),
                # clinic-<system_id>.…: the groups the system's Kafka principal may use (deploy/kafka_acls.py).
                group_id=tasks_group(self.system_id),
                client_id=f"example-{self.system_id}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=self.settings.session_timeout_ms,
                heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
                # Notice soon a topic the request service creates after we subscribed.
                metadata_max_age_ms=30_000,
            )
            producer = AIOKafkaProducer(
                **self.settings.kafka_options(),
                client_id=f"example-{self.system_id}",
                acks="all",
                enable_idempotence=self.settings.kafka_idempotent_producer,
            )
            try:
                await producer.start()
                await consumer.start()
                backoff = 0.5
                await self._loop(consumer, producer)
            except BaseException as exc:
                # The broker is away (aiokafka may even let a CancelledError out), or the handler
                # said TryLater: resume from the last commit. Only a real stop ends the loop.
                if not is_failure(exc):
                    raise
                backoff = await pause_after(f"{self.system_id} reading tasks", exc, backoff)
            finally:
                for client in (consumer, producer):
                    await close_quietly(client.stop(), timeout=30)

    async def _loop(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        while True:
            stop_if_cancelled()
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    await self._on_message(record, producer)
            if batches and not self.silent:
                try:
                    await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
                except CommitFailedError as exc:
                    # A rebalance moved the partition: its next reader re-sends stored answers.
                    log.info("%s could not commit after a rebalance: %s", self.system_id, exc)

    async def _on_message(self, record: ConsumerRecord, producer: AIOKafkaProducer) -> None:
        where = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            event = from_kafka(record.value, record.headers, record.key)
        except InvalidEvent as exc:
            log.warning("%s skips %s, not a CloudEvent: %s", self.system_id, where, exc.reason)
            return
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("system_id") != self.system_id:
            return  # another system's task
        token = event_id_var.set(event.id)
        try:
            task_id = data.get("task_id")
            if self.silent:
                log.info("%s is silent: not answering task %s (%s)",
                         self.system_id, task_id, event.type)
                return
            signing_key = self._signing_key()  # before anything is done: the answer must go out signed
            try:
                await self._verify_task(record)
            except SignatureRefused as exc:
                log.warning("%s skips %s, not a task of the request service: %s", self.system_id, where,
                            exc.reason)
                return
            answer = self._answers.get(task_id) if isinstance(task_id, str) else None
            if answer is not None:
                log.info("%s: task %s re-sent (attempt %s); sending the first answer again",
                         self.system_id, task_id, data.get("attempt"))
            else:
                result, keep, key = await self._answer_sealed(event, data)
                if result is None:
                    return
                answer = new_event(
                    source=f"clinic/{self.system_id}",
                    type=TaskResult.event_type,
                    subject=result.subject_id,
                    data=_sealed_result(result, key),
                )
                if keep:
                    self._answers[result.task_id] = answer
            value, headers = to_kafka(answer)
            headers += recordsig.sign_headers(Topic.dsr_task_results, value, signing_key, headers)
            key = answer.data["subject_id"].encode()
            await producer.send_and_wait(Topic.dsr_task_results, value=value, key=key, headers=headers)
            log.info("%s answered task %s (%s): %s", self.system_id, answer.data["task_id"],
                     event.type, answer.data["outcome"])
        finally:
            event_id_var.reset(token)

    async def _answer_sealed(
        self, event: CloudEvent, data: dict[str, Any]
    ) -> tuple[TaskResult | None, bool, dict[str, str] | None]:
        """The answer, whether to keep it, and the public key to seal it to (None: send it clear)."""
        subject_id = data.get("subject_id")
        try:
            key = await self.public_key(subject_id) if isinstance(subject_id, str) else None
        except SubjectErased:
            if SEALED in data:
                return self._failed(data, "The subject was erased: the sealed corrections can never "
                                          "be read, and nothing was changed."), True, None
            result, keep = self._answer(event, data)
            if result is not None and result.exported:
                # Nothing personal about an erased subject goes on Kafka in the clear.
                result = self._failed(data, "The subject was erased at the consent service, so what "
                                            "is still held cannot be sent sealed; ask the clinic's "
                                            "privacy office for it.")
            return result, keep, None
        if SEALED in data:
            try:
                opening = await self.task_key(str(data.get("task_id")))
            except SubjectErased:
                return self._failed(data, "The subject was erased: the sealed corrections can never "
                                          "be read, and nothing was changed."), True, None
            except TaskClosed:
                return self._failed(data, "The task was answered or closed before this system read it: "
                                          "nothing was changed."), False, key

            async def key_for(_: str) -> bytes:
                return opening

            try:
                data = await unseal_data(data, key_for, opener=open_token)
            except SealedDataError as exc:
                return self._failed(data, f"The sealed part cannot be used: {exc}"), True, key
        result, keep = self._answer(event, data)
        return result, keep, key

    def _answer(self, event: CloudEvent, data: dict[str, Any]) -> tuple[TaskResult | None, bool]:
        """The result for a task, and whether to keep it for re-sends of the same task."""
        model = model_for(Topic.dsr_tasks, event.type)
        if model is None:
            return self._failed(data, f"Unknown task type {event.type!r}."), True
        try:
            task = model.model_validate(data)
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return self._failed(data, f"Invalid task: {fields}"), True
        try:
            return self.handler.handle(task), True
        except TryLater:
            raise
        except Exception as exc:
            # A bug, not the task's fault: say so, but let a re-send try again.
            log.exception("%s could not carry out task %s", self.system_id, task.task_id)
            return self._failed(data, f"Could not carry out the task: {type(exc).__name__}"), False

    def _failed(self, data: dict[str, Any], note: str) -> TaskResult | None:
        try:
            return TaskResult(
                task_id=data.get("task_id"),
                request_id=data.get("request_id"),
                system_id=self.system_id,
                subject_id=data.get("subject_id"),
                outcome="failed",
                note=note[:2000],
            )
        except ValidationError:
            log.warning("%s cannot answer a task that lacks its ids: %s", self.system_id, note)
            return None


def _sealed_result(result: TaskResult, key: dict[str, str] | None) -> dict[str, Any]:
    """The answer's ``data``: with the subject's public key, its personal fields sealed to it."""
    data = result.model_dump(mode="json", exclude={"sealed"})
    if key is None:
        return data
    hidden = {}
    for name in PERSONAL_RESULT_FIELDS:
        value = data.pop(name)
        if value:
            hidden[name] = value
    if hidden:
        data[SEALED] = seal_to(hidden, key, kid=result.subject_id)
    return data


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")
