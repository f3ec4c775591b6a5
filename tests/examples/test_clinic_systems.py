"""The example clinic systems against a real broker and a real HTTP server standing in for the
request service's registration endpoint and the consent service's transit keys (the services
themselves are not needed)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiokafka import ConsumerRecord
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from deploy.local_infra import HOST, free_port
from examples.clinic_systems.sample_data import KST, load_sample_systems
from examples.clinic_systems.system import ClinicSystem, Settings, TryLater, tasks_group
from shared import recordsig
from shared.cloudevents import CloudEvent, from_kafka
from shared.events import TaskResult
from shared.rules.retention import RETENTION_CLASSES
from shared.sealing import encode_key, header, open_sealed, public_jwk, seal, task_key
from shared.servicesig import ServiceRecords
from tests.support import (
    MANAGER,
    SERVICES,
    consume,
    eventually,
    processed_to_end,
    produce,
    random_id,
    read_to_end,
    signed,
    structured,
)

REPO = Path(__file__).resolve().parents[2]
TASKS = "dsr.tasks"
RESULTS = "dsr.task-results"
ALL = ("emr", "website", "crm")
TODAY = datetime(2026, 11, 22, 10, 0, tzinfo=KST)


class Registry:
    """``POST /v1/systems`` and ``POST /v1/tasks/{id}/key`` as the request service answers them,
    recording every call; and ``POST /v1/subjects/{id}/transit-key`` as the consent service does
    (410 once erased)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[dict[str, Any]] = []
        self.keys: dict[str, bytes] = {}
        self.erased: set[str] = set()
        self.key_calls: list[dict[str, Any]] = []
        #: task_id -> (subject_id, system_id): the sealed tasks a test sent (``sealed_task``).
        self.tasks: dict[str, tuple[str, str]] = {}
        self.task_key_calls: list[dict[str, Any]] = []
        self.issued: list[dict[str, Any]] = []  # keys issued to the systems (development)
        self.revoked: list[str] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        app = FastAPI()

        @app.post("/v1/systems")
        async def register(request: Request) -> JSONResponse:
            body = await request.json()
            known = body["system_id"] in self.registered()
            self.calls.append({"authorization": request.headers.get("authorization"), "body": body})
            return JSONResponse(body, status_code=200 if known else 201)

        @app.post("/v1/systems/{system_id}/keys")
        async def issue_key(system_id: str, request: Request) -> JSONResponse:
            self.issued.append({"authorization": request.headers.get("authorization"), "system_id": system_id})
            n = len(self.issued)
            key = f"dgk_{n:02x}.{system_id}"  # as the request service's: key id key.<hex> for dgk_<hex>.…
            API_KEYS[f"key.{n:02x}"] = key
            return JSONResponse({"key_id": f"key.{n:02x}", "key": key, "system_id": system_id}, status_code=201)

        @app.delete("/v1/systems/{system_id}/keys/{key_id}")
        async def revoke_key(system_id: str, key_id: str) -> Response:
            self.revoked.append(key_id)
            return Response(status_code=204)

        @app.post("/v1/subjects/{subject_id}/transit-key")
        async def transit_key(subject_id: str, request: Request) -> JSONResponse:
            self.key_calls.append({"authorization": request.headers.get("authorization"), "subject_id": subject_id})
            if subject_id in self.erased:
                return JSONResponse({"title": "Gone"}, status_code=410)
            return JSONResponse(public_jwk(self.key(subject_id), kid=subject_id))

        @app.get("/v1/tasks/signing-key")
        async def task_signing_key() -> JSONResponse:
            # The tests' services' key (tests.support.SERVICES): produce() signs dsr.tasks with it.
            return JSONResponse({"algorithm": "Ed25519", "key_id": SERVICES.tasks.key_id,
                                 "public_key": encode_key(SERVICES.task_public_key)})

        @app.post("/v1/tasks/{task_id}/key")
        async def key_of_task(task_id: str, request: Request) -> JSONResponse:
            self.task_key_calls.append({"authorization": request.headers.get("authorization"), "task_id": task_id})
            subject_id, system_id = self.tasks[task_id]
            if subject_id in self.erased:
                return JSONResponse({"title": "Gone"}, status_code=410)
            key = task_key(self.key(subject_id), system_id)
            return JSONResponse({"kty": "oct", "kid": subject_id, "k": encode_key(key), "use": "enc",
                                 "alg": "dir", "enc": "A256GCM"})

        self.app = app

    def key(self, subject_id: str) -> bytes:
        """The subject's transit root."""
        return self.keys.setdefault(subject_id, os.urandom(32))

    def sealed_task(self, kind: str, system_id: str, sealed: dict[str, Any], *, key: bytes | None = None,
                    subject_id: str = "patient-1001", **fields: Any) -> dict[str, Any]:
        """A task whose ``sealed`` part is sealed as the request service seals it for ``system_id``
        (or with ``key``), its key then given to that system."""
        key = key or task_key(self.key(subject_id), system_id)
        event = task(kind, system_id, subject_id, sealed=seal(sealed, key, kid=subject_id), **fields)
        self.tasks[event["data"]["task_id"]] = (subject_id, system_id)
        return event

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def registered(self) -> dict[str, dict[str, Any]]:
        return {call["body"]["system_id"]: call for call in self.calls}

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host=HOST, port=self.port, log_config=None, lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())

        async def started() -> bool:
            if self._task.done():
                self._task.result()  # raise what stopped it
            return self._server.started

        await eventually(started, timeout=10)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, timeout=10)

    async def wait_for(self, *system_ids: str) -> dict[str, dict[str, Any]]:
        async def check():
            got = self.registered()
            return got if all(s in got for s in system_ids) else None

        return await eventually(check, timeout=20)


@pytest.fixture
async def registry():
    registry = Registry()
    await registry.start()
    try:
        yield registry
    finally:
        await registry.stop()


def settings_for(bootstrap: str, dsr_url: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        dsr_url=dsr_url,
        registration_retry_initial=0.2,
        registration_retry_max=0.5,
        consent_url=dsr_url,  # the Registry also issues transit keys
    )


#: The API keys the systems of this test sign their answers with, by key id (shared/recordsig.py).
API_KEYS: dict[str, str] = {}
#: The transit keys the Registry issued in this test, for reading sealed answers.
KEYS: dict[str, bytes] = {}


@pytest.fixture(autouse=True)
def _keys(registry):
    KEYS.clear()
    registry.keys = KEYS
    yield
    KEYS.clear()


@pytest.fixture
async def start_systems(kafka_bootstrap):
    """Start example systems in this process; they stop (before the broker) when the test ends."""
    running: list[asyncio.Task] = []

    async def start(dsr_url: str, ids=ALL, *, silent=(), consent_url: str | None = None,
                    system_keys: dict[str, str] | None = None,
                    task_signing_key: str | None = None) -> dict[str, ClinicSystem]:
        stores = load_sample_systems(ids, clock=lambda: TODAY)
        settings = dataclasses.replace(settings_for(kafka_bootstrap, dsr_url), consent_url=consent_url or dsr_url,
                                       system_keys=system_keys or {}, task_signing_key=task_signing_key)
        systems = {i: ClinicSystem(stores[i], settings, silent=i in silent) for i in ids}
        running.extend(asyncio.create_task(s.run()) for s in systems.values())
        return systems

    yield start
    for task in running:
        task.cancel()
    results = await asyncio.gather(*running, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results


def task(kind: str, system_id: str, subject_id: str = "patient-1001", *, task_id: str | None = None,
         attempt: int = 1, **fields: Any) -> dict[str, Any]:
    """A dsr.tasks CloudEvent as the request service publishes it."""
    data = {
        "task_id": task_id or random_id("task"),
        "request_id": "req-0001",
        "reference": "DSR-2026-0001",
        "system_id": system_id,
        "subject_id": subject_id,
        "jurisdiction": "KR",
        "attempt": attempt,
        "due_at": "2026-12-22T00:00:00+09:00",
        **fields,
    }
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "dongui/dsr",
        "type": f"dsr.task.{kind}",
        "subject": subject_id,
        "datacontenttype": "application/json",
        "data": data,
    }


def resend(event: dict[str, Any]) -> dict[str, Any]:
    """The same task re-sent: a new event, the same task_id, the next attempt."""
    again = json.loads(json.dumps(event))
    again["id"] = str(uuid.uuid4())
    again["data"]["attempt"] += 1
    return again


async def send(bootstrap: str, *events: dict[str, Any]) -> None:
    await produce(bootstrap, TASKS, [structured(e) for e in events])


class Answer:
    """An answer as read from the topic; ``result`` with its sealed part opened."""

    def __init__(self, record: ConsumerRecord) -> None:
        self.record = record
        # Signed by the key of the system it is from (its key id), as the request service checks.
        self.signed_by = recordsig.verify(RESULTS, record.value, record.headers,
                                          lambda key_id: recordsig.signing_key(API_KEYS[key_id]))
        self.event: CloudEvent = from_kafka(record.value, record.headers, record.key)
        data = dict(self.event.data)
        self.sealed = data.pop("sealed", None)
        if self.sealed is not None:
            assert header(self.sealed)["kid"] == data["subject_id"]
            opened = open_sealed(self.sealed, KEYS[data["subject_id"]])
            assert not set(opened) & set(data) and set(opened) <= {"exported", "retained", "note"}
            data.update(opened)
        self.result = TaskResult.model_validate(data)


async def handled_to_end(bootstrap: str, systems) -> None:
    """Each system's group (examples/clinic_systems/system.py) committed past a watermark on the
    tasks topic: a watermark names no system, so it is skipped, and a commit follows the answers."""
    for system_id in systems:
        await processed_to_end(bootstrap, tasks_group(system_id), TASKS)


async def answers(bootstrap: str, count: int) -> list[Answer]:
    """Every answer on dsr.task-results, once there are at least ``count``."""
    return [Answer(r) for r in await consume(bootstrap, RESULTS, count=count, timeout=30)]


def of(got: list[Answer], event: dict[str, Any]) -> list[Answer]:
    return [a for a in got if a.result.task_id == event["data"]["task_id"]]


def one(got: list[Answer], event: dict[str, Any]) -> TaskResult:
    (answer,) = of(got, event)
    return answer.result


def category(result: TaskResult, name: str):
    (item,) = [e for e in result.exported if e.category == name]
    return item


# ------------------------------------------------------------------------------------- tests


async def test_each_system_registers_and_exports_what_it_holds(kafka_bootstrap, registry, start_systems):
    await start_systems(registry.url)
    exports = {s: task("export", s) for s in ALL}
    await send(kafka_bootstrap, *exports.values())

    got = await answers(kafka_bootstrap, 3)
    assert len(got) == 3
    for system_id, event in exports.items():
        (answer,) = of(got, event)
        assert answer.event.source == f"clinic/{system_id}"
        assert answer.event.type == "dsr.task.result"
        assert answer.event.subject == "patient-1001"
        assert answer.record.key == b"patient-1001"
        assert dict(answer.record.headers)["content-type"] == b"application/cloudevents+json"
        assert answer.result.system_id == system_id and answer.result.request_id == "req-0001"
        assert answer.result.outcome == "done"
    assert len({uuid.UUID(a.event.id) for a in got}) == 3

    emr = one(got, exports["emr"])
    assert [e.category for e in emr.exported] == ["name", "contact", "treatment_records", "prescriptions", "radiology"]
    records = category(emr, "treatment_records")
    assert records.retention_class == "medical_record" and records.purposes == ["treatment"]
    assert records.items[0]["visit"] == "2024-03-15"
    assert category(emr, "prescriptions").items[0]["issued"] == "2022-09-20"
    assert category(emr, "name").items[0]["name"] == "김서연"

    website = one(got, exports["website"])
    assert [e.category for e in website.exported] == ["name", "login_id", "contact", "access_logs"]
    assert category(website, "access_logs").retention_class == "access_log"
    assert category(website, "login_id").purposes == ["membership"]

    crm = one(got, exports["crm"])
    assert [e.category for e in crm.exported] == ["email", "mobile_phone", "marketing_preferences"]
    assert all(e.recipients == ["Marketing agency (processor)"] for e in crm.exported)
    assert all(e.retention_class == "marketing" for e in crm.exported)
    assert category(crm, "email").purposes == ["marketing_email"]

    registered = await registry.wait_for(*ALL)
    assert {c["authorization"] for c in registry.calls} == {MANAGER["Authorization"]}
    emr = dict(registered["emr"]["body"])
    # What it writes itself, with its Korean and Vietnamese words (its name, the recipients it names).
    assert emr.pop("translations")["Electronic medical records"] == {"ko": "전자의무기록(EMR)",
                                                                     "vi": "Hồ sơ bệnh án điện tử"}
    assert "Dispensing pharmacy" in registered["emr"]["body"]["translations"]
    assert emr == {
        "system_id": "emr",
        "name": "Electronic medical records",
        "description": "Patient roster, treatment records, prescriptions and radiology.",
        "data_categories": ["name", "contact", "treatment_records", "prescriptions", "radiology"],
        "retention_classes": ["patient_roster", "medical_record", "prescription", "radiology"],
        "processor": False,
        "source": "clinic/emr",
        "purposes": ["treatment"],
    }
    assert registered["website"]["body"]["data_categories"] == ["name", "login_id", "contact", "access_logs"]
    assert registered["website"]["body"]["retention_classes"] == ["membership", "access_log"]
    assert registered["crm"]["body"]["processor"] is True
    assert registered["crm"]["body"]["retention_classes"] == ["marketing"]
    assert len(registry.calls) == 3  # registered once each, then stopped trying


async def test_erasure_keeps_only_what_the_law_still_requires(kafka_bootstrap, registry, start_systems):
    await start_systems(registry.url, ("emr", "crm"))
    retain = ["medical_record", "prescription", "radiology", "patient_roster"]
    legal = [{"retention_class": c, "citation": RETENTION_CLASSES[c].citation} for c in retain]
    erase = task("erase", "emr", retain_classes=retain, restrict_to_legal_purpose=legal)
    erase_old = task("erase", "emr", "patient-3003", retain_classes=retain)
    erase_crm = task("erase", "crm", retain_classes=[])
    await send(kafka_bootstrap, erase, erase_old, erase_crm)
    got = await answers(kafka_bootstrap, 3)

    emr = one(got, erase)
    assert emr.outcome == "partially_done"
    assert emr.erased == ["prescriptions"]  # 2022: past its 2 years
    kept = {r.category: (r.retention_class, r.until) for r in emr.retained}
    assert kept == {
        # Calendar years from the record's own date: kept to the day the period ends.
        "name": ("patient_roster", date(2029, 3, 15)),
        "contact": ("patient_roster", date(2029, 3, 15)),
        "treatment_records": ("medical_record", date(2034, 3, 15)),
        "radiology": ("radiology", date(2029, 3, 15)),
    }
    assert "2034" in emr.note

    # Last seen in 2019: the medical record is kept until 2029, the X-ray and roster are past 5 years.
    old = one(got, erase_old)
    assert old.outcome == "partially_done"
    assert old.erased == ["name", "contact", "radiology"]
    assert [(r.category, r.until) for r in old.retained] == [
        ("treatment_records", date(2029, 2, 11))
    ]

    crm = one(got, erase_crm)
    assert crm.outcome == "done" and crm.retained == []
    assert crm.erased == ["email", "mobile_phone", "marketing_preferences"]

    # The data is really gone; a re-sent erasure is answered as the first time, not re-applied.
    export = task("export", "emr")
    export_crm = task("export", "crm")
    again = resend(erase)
    await send(kafka_bootstrap, export, export_crm, again)
    got = await answers(kafka_bootstrap, 6)
    after = one(got, export)
    assert [e.category for e in after.exported] == ["name", "contact", "treatment_records", "radiology"]
    # What the law kept is marked kept apart for the law's purpose only (restrict-to-legal-purpose).
    record = next(e for e in after.exported if e.category == "treatment_records")
    assert record.items[0]["kept_only_by_law"] == RETENTION_CLASSES["medical_record"].citation
    assert one(got, export_crm).outcome == "no_data"
    first, second = of(got, erase)
    assert second.event.data == first.event.data
    assert second.event.id == first.event.id  # the same answer: the request service can de-duplicate


async def test_rectification_amends_medical_records_once_and_keeps_the_original(
    kafka_bootstrap, registry, start_systems
):
    await start_systems(registry.url, ("emr",))
    rectify = task(
        "rectify", "emr",
        corrections=[
            {"item": "contact.phone", "current": "010-2345-6789", "corrected": "010-9876-5432"},
            {"item": "treatment_records.diagnosis", "current": "M54.5 Low back pain",
             "corrected": "M51.2 Lumbar disc displacement"},
        ],
        amend_classes=["medical_record"],
    )
    await send(kafka_bootstrap, rectify)
    got = await answers(kafka_bootstrap, 1)
    result = one(got, rectify)
    assert result.outcome == "done"
    assert "contact.phone" in result.note and "treatment_records.diagnosis" in result.note

    await send(kafka_bootstrap, resend(rectify), resend(resend(rectify)))
    export = task("export", "emr")
    await send(kafka_bootstrap, export)
    got = await answers(kafka_bootstrap, 4)
    copies = of(got, rectify)
    assert len(copies) == 3
    assert all(c.event.data == copies[0].event.data and c.event.id == copies[0].event.id for c in copies)

    exported = one(got, export)
    assert category(exported, "contact").items[0]["phone"] == "010-9876-5432"  # corrected in place
    (visit,) = category(exported, "treatment_records").items
    assert visit["diagnosis"] == "M54.5 Low back pain"  # the original stays
    (amendment,) = visit["amendments"]  # applied once, though the task came three times
    assert amendment["field"] == "diagnosis"
    assert amendment["original"] == "M54.5 Low back pain"
    assert amendment["corrected"] == "M51.2 Lumbar disc displacement"
    assert "DSR-2026-0001" in amendment["amended_by"]
    assert amendment["task_id"] == rectify["data"]["task_id"]
    assert datetime.fromisoformat(amendment["amended_at"]) == TODAY


async def test_unknown_subjects_restrictions_bad_tasks_and_other_systems_tasks(
    kafka_bootstrap, registry, start_systems
):
    await start_systems(registry.url)
    not_ours = task("export", "pacs")  # key patient-1001: every system reads it before its marker
    unknown = task("export", "emr", "patient-9999")
    child_marketing = task("export", "crm", "patient-2002")
    restrict = task("restrict", "emr")
    export_restricted = task("export", "emr")
    lift = task("lift", "emr")
    bad = task("erase", "emr", attempt=0)  # no retain_classes, attempt below 1
    strange = task("archive", "website")
    markers = [task("export", "website"), task("export", "crm")]
    await send(kafka_bootstrap, not_ours, unknown, child_marketing, restrict, export_restricted, lift, bad,
               strange, *markers)

    got = await answers(kafka_bootstrap, 9)
    assert one(got, unknown).outcome == "no_data"
    assert one(got, child_marketing).outcome == "no_data"
    assert one(got, restrict).outcome == "done"
    assert "restricted" in one(got, export_restricted).note
    assert one(got, lift).outcome == "done"
    failed = one(got, bad)
    assert failed.outcome == "failed"
    assert "retain_classes" in failed.note and "attempt" in failed.note
    assert one(got, strange).outcome == "failed" and "dsr.task.archive" in one(got, strange).note
    assert all(one(got, m).outcome == "done" for m in markers)

    # Every system has read past a watermark behind the tasks (it commits after its answers are
    # acknowledged): whatever it was to answer is on the topic now.
    await handled_to_end(kafka_bootstrap, ALL)
    everything = [Answer(r) for r in await read_to_end(kafka_bootstrap, RESULTS)]
    assert len(everything) == 9
    assert of(everything, not_ours) == []


async def test_a_task_not_signed_by_the_request_service_is_skipped(kafka_bootstrap, registry, start_systems, caplog):
    """Anyone who can write to dsr.tasks could write an erase task: a system carries out only a
    task signed by the request service (dongui-task-signature, its public key from
    GET /v1/tasks/signing-key), and skips, with a log line, one unsigned, signed by a clinic
    system's key, signed under another deployment's secret, or changed since it was signed."""
    caplog.set_level(logging.WARNING, logger="examples.clinic_systems")
    await start_systems(registry.url, ("emr",))
    unsigned, by_a_system, elsewhere, changed = (task("erase", "emr", retain_classes=[]) for _ in range(4))
    genuine = task("export", "emr")
    other = ServiceRecords(os.urandom(32))
    key, value, headers = structured(changed)
    tampered = (key, value.replace(b'"attempt": 1', b'"attempt": 2'), SERVICES.signed(TASKS, value, headers))
    forged = [structured(unsigned), signed(TASKS, structured(by_a_system), "dgk_01.emr"),
              (lambda k, v, h: (k, v, other.signed(TASKS, v, h)))(*structured(elsewhere)), tampered]
    await produce(kafka_bootstrap, TASKS, forged, as_services=False)
    await send(kafka_bootstrap, genuine)

    got = await answers(kafka_bootstrap, 1)
    assert one(got, genuine).outcome == "done"
    await handled_to_end(kafka_bootstrap, ("emr",))
    everything = [Answer(r) for r in await read_to_end(kafka_bootstrap, RESULTS)]
    assert [a.result.task_id for a in everything] == [genuine["data"]["task_id"]]
    assert caplog.text.count("not a task of the request service") == 4, caplog.text


async def test_a_silent_system_registers_but_never_answers(kafka_bootstrap, registry, start_systems, caplog):
    caplog.set_level(logging.INFO, logger="examples.clinic_systems")
    await start_systems(registry.url, ("emr", "crm"), silent=("crm",))
    unanswered = task("export", "crm")
    answered = task("export", "emr")
    await send(kafka_bootstrap, unanswered, answered)

    got = await answers(kafka_bootstrap, 1)
    assert one(got, answered).outcome == "done"

    async def seen() -> bool:
        return f"not answering task {unanswered['data']['task_id']}" in caplog.text

    await eventually(seen)  # the silent one has read its task and sent nothing (it never commits)
    await registry.wait_for("emr", "crm")
    await handled_to_end(kafka_bootstrap, ("emr",))
    everything = [Answer(r) for r in await read_to_end(kafka_bootstrap, RESULTS)]
    assert [a.result.task_id for a in everything] == [answered["data"]["task_id"]]


async def test_tasks_are_answered_while_registration_keeps_retrying(kafka_bootstrap, start_systems, caplog, registry):
    """A system given its own key answers (signed with it) while the request service is away."""
    caplog.set_level(logging.INFO, logger="examples.clinic_systems")
    consent, registry = registry, Registry()  # the request service is not listening yet; consent is
    own = "dgk_00000000000000e1.the-emr-own-key"
    API_KEYS["key.00000000000000e1"] = own
    systems = await start_systems(registry.url, ("emr",), consent_url=consent.url, system_keys={"emr": own},
                                  task_signing_key=encode_key(SERVICES.task_public_key))  # configured: no call
    export = task("export", "emr")
    await send(kafka_bootstrap, export)
    got = await answers(kafka_bootstrap, 1)
    assert one(got, export).outcome == "done" and got[0].signed_by == "key.00000000000000e1"
    assert registry.calls == [] and not systems["emr"].registered.is_set()
    assert "cannot register" in caplog.text

    await registry.start()
    try:
        registered = await registry.wait_for("emr")
        assert registered["emr"]["body"]["system_id"] == "emr"
        await asyncio.wait_for(systems["emr"].registered.wait(), timeout=5)
    finally:
        await registry.stop()


async def test_without_a_key_of_its_own_a_system_answers_once_registration_issued_one(kafka_bootstrap, start_systems,
                                                                                     caplog, registry):
    """Development: nothing is answered unsigned; the task waits until the key issued at
    registration signs its answer."""
    consent, registry = registry, Registry()
    await start_systems(registry.url, ("emr",), consent_url=consent.url)
    export = task("export", "emr")
    await send(kafka_bootstrap, export)
    await eventually(lambda: _logged(caplog, "has no key of its own yet"))
    assert await read_to_end(kafka_bootstrap, RESULTS) == []

    await registry.start()
    try:
        got = await answers(kafka_bootstrap, 1)
        assert one(got, export).outcome == "done" and got[0].signed_by == "key.01"
    finally:
        await registry.stop()


async def _logged(caplog, text: str) -> bool:
    return text in caplog.text


async def test_the_module_runs_and_stops_cleanly_on_sigterm(kafka_bootstrap, registry, tmp_path):
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "DSR_URL": registry.url,
        "CONSENT_URL": registry.url,
        "DONGUI_ENVIRONMENT": "development",
        "EXAMPLE_SYSTEMS": "emr,website",
        "EXAMPLE_SILENT_SYSTEMS": "website",
    }
    env.pop("DSR_API_KEY", None)
    log_path = tmp_path / "examples.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "examples.clinic_systems", cwd=REPO, env=env,
            stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await registry.wait_for("emr", "website")
            assert "crm" not in registry.registered()
            export = task("export", "emr", "patient-2002")
            ignored = task("export", "website")
            await send(kafka_bootstrap, ignored, export)
            got = await answers(kafka_bootstrap, 1)
            child = one(got, export)
            assert category(child, "name").items[0]["name"] == "Phạm Minh Anh"

            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
            # Each had a key of its own issued at start (development), and revoked it on the way out.
            assert sorted(c["system_id"] for c in registry.issued) == ["emr", "website"]
            assert sorted(registry.revoked) == ["key.01", "key.02"]
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all(line["service"] == "examples" for line in lines)
    assert any(line["message"] == "stopped" for line in lines)
    # The process has exited: every answer it sent is acknowledged, so reading to a watermark is enough.
    assert of([Answer(r) for r in await read_to_end(kafka_bootstrap, RESULTS)], ignored) == []


async def test_the_module_refuses_an_unknown_system():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.clinic_systems", cwd=REPO,
        env={**os.environ, "EXAMPLE_SYSTEMS": "emr,pacs"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 2
    assert b"unknown systems ['pacs']" in output


async def test_a_handler_that_cannot_work_now_gets_the_task_again(kafka_bootstrap, registry):
    class Flaky:
        """The EMR whose database is away for the first task it sees."""

        def __init__(self) -> None:
            self.inner = load_sample_systems(["emr"], clock=lambda: TODAY)["emr"]
            self.system_id = "emr"
            self.calls = 0

        def registration(self) -> dict[str, Any]:
            return self.inner.registration()

        def handle(self, task_data):
            self.calls += 1
            if self.calls == 1:
                raise TryLater("database unavailable")
            return self.inner.handle(task_data)

    handler = Flaky()
    system = ClinicSystem(handler, settings_for(kafka_bootstrap, registry.url))
    running = asyncio.create_task(system.run())
    try:
        erase = task("erase", "emr", retain_classes=[])
        await send(kafka_bootstrap, erase)
        got = await answers(kafka_bootstrap, 1)
        assert one(got, erase).outcome == "done"
        assert handler.calls == 2
        await handled_to_end(kafka_bootstrap, ("emr",))
        everything = [Answer(r) for r in await read_to_end(kafka_bootstrap, RESULTS)]
        assert len(everything) == 1
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_personal_data_travels_sealed_for_its_reader_only(kafka_bootstrap, registry, start_systems):
    await start_systems(registry.url, ("emr",))
    corrections = [{"item": "contact.phone", "current": "010-2345-6789", "corrected": "010-9876-5432"}]
    rectify = registry.sealed_task("rectify", "emr", {"corrections": corrections}, amend_classes=[])
    export = task("export", "emr")
    await send(kafka_bootstrap, rectify)
    got = await answers(kafka_bootstrap, 1)
    assert one(got, rectify).outcome == "done"
    await send(kafka_bootstrap, export)
    got = await answers(kafka_bootstrap, 2)
    (answer,) = of(got, export)
    # The clear part names the task and its outcome; the name, phone and records are sealed.
    assert answer.sealed is not None and set(answer.event.data) == {
        "task_id", "request_id", "system_id", "subject_id", "outcome", "erased", "sealed"}
    for value in ("김서연", "010-9876-5432", "Kim Seo-yeon", "M54.5"):
        assert value.encode() not in answer.record.value
    assert category(answer.result, "contact").items[0]["phone"] == "010-9876-5432"  # the correction, applied
    # Each system calls with its own key, issued for it at registration (development).
    assert {c["authorization"] for c in registry.key_calls} == {"Bearer dgk_01.emr"}
    assert registry.task_key_calls == [{"authorization": "Bearer dgk_01.emr", "task_id": rectify["data"]["task_id"]}]
    assert {a.signed_by for a in got} == {"key.01"}  # and signs its answers with it
    assert registry.issued == [{"authorization": MANAGER["Authorization"], "system_id": "emr"}]

    # Sealed for someone else, or with another key: nothing is changed, and the answer says why.
    wrong = registry.sealed_task("rectify", "emr", {"corrections": corrections}, key=os.urandom(32), amend_classes=[])
    await send(kafka_bootstrap, wrong)
    failed = one(await answers(kafka_bootstrap, 3), wrong)
    assert failed.outcome == "failed" and "cannot be opened" in failed.note


async def test_nothing_personal_about_an_erased_subject_goes_on_kafka(kafka_bootstrap, registry, start_systems):
    await start_systems(registry.url, ("emr",))
    rectify = registry.sealed_task("rectify", "emr", {"corrections": [{"item": "contact.phone",
                                                                       "corrected": "010-0000-0000"}]},
                                   amend_classes=[])
    registry.erased.add("patient-1001")  # the consent service destroyed the key: 410 from now on
    export = task("export", "emr")
    erase = task("erase", "emr", retain_classes=["medical_record", "patient_roster", "radiology"])
    await send(kafka_bootstrap, rectify, export, erase)
    got = await answers(kafka_bootstrap, 3)
    assert all(a.sealed is None for a in got)  # no key to seal with
    assert one(got, rectify).outcome == "failed" and "erased" in one(got, rectify).note
    assert one(got, export).outcome == "failed" and one(got, export).exported == []
    erased = one(got, erase)
    assert erased.outcome == "partially_done" and {r.category for r in erased.retained} >= {"treatment_records"}
    values = b"".join(a.record.value for a in got)
    assert "김서연".encode() not in values and b"010-2345-6789" not in values


def test_outside_development_each_system_needs_its_own_key_or_the_shared_ones():
    from examples.clinic_systems.system import Settings

    with pytest.raises(ValueError, match="DSR_API_KEY is not set"):
        Settings.from_env({"DONGUI_ENVIRONMENT": "production"})
    settings = Settings.from_env({"DONGUI_ENVIRONMENT": "production", "EXAMPLE_SYSTEM_KEYS": '{"emr": "dgk_x.y"}'})
    assert settings.system_keys == {"emr": "dgk_x.y"} and not settings.development
