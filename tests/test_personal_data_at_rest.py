"""Issue 6: a database dump holds no person's name, contact or birth date in plain text, and once a
subject's key is destroyed nothing of theirs can be read back from the database or Kafka history.

One realistic run of the whole product (the consent and request services, the notifier and the
example clinic systems, on one real PostgreSQL and one real broker) with unmistakable canary
values: a Korean, an English and a Vietnamese name, e-mails, phone numbers, birth dates, a
guardian's name and contact. Then:

(a) ``pg_dump`` of the whole database holds none of them, in any form (text, bytea hex, JSON
    ``\\uXXXX`` escapes), case-insensitively;
(b) the full history of every topic (no consumer group, from the beginning) holds none of them in
    any value or header, except on ``consent.inbound`` and ``privacy.dead-letter`` for the events
    the test itself sent in the clear on purpose: a clinic system that sends personal data in the
    clear relies on those topics' retention (the sealed path leaves nothing in the clear);
(c) after the subject's approved erasure, the consent service gives no key for them any more
    (410), their key rows are destroyed, their ledger's personal fields cannot be opened, and the
    sealed values of theirs that the broker still holds can no longer be opened by the service.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.local_infra import postgres_bin_dir
from shared.sealing import header, seal_to
from tests.dsr.conftest import clinic, stack  # noqa: F401  (the services, served; the clinic systems)
from tests.dsr.factories import auth, file, request_body, verify
from tests.notifier.conftest import notifier_settings, running_notifier
from tests.support import (
    MANAGER,
    STAFF,
    SYSTEM,
    consent_event,
    eventually,
    processed_to_end,
    produce,
    random_id,
    structured,
)

# --- the canaries ------------------------------------------------------------------------------

KO_NAME, KO_EMAIL, KO_PHONE, KO_NEW_PHONE, KO_BIRTH = (
    "황보다솜", "dasom.hwangbo.canary@example.org", "010-7391-2846", "010-5820-1937", "1979-11-23")
EN_NAME, EN_EMAIL, EN_PHONE, EN_BIRTH = (
    "Philippa Quenby-Rathbone", "p.quenby.canary@example.net", "07700-900461", "1988-02-29")
VI_CHILD, VI_CHILD_BIRTH = "Lương Bảo Ngọc", "2016-08-19"
VI_GUARDIAN, VI_GUARDIAN_EMAIL, VI_GUARDIAN_PHONE = (
    "Phùng Thị Diệu Khuê", "dieu.khue.canary@example.vn", "090-318-4472")

#: Sent in the clear on consent.inbound on purpose (a clinic system that does not seal).
SENT_CLEAR = {EN_EMAIL, EN_BIRTH}
CANARIES = {
    KO_NAME, KO_EMAIL, KO_PHONE, KO_NEW_PHONE, KO_BIRTH, EN_NAME, EN_EMAIL, EN_PHONE, EN_BIRTH,
    VI_CHILD, VI_CHILD_BIRTH, VI_GUARDIAN, VI_GUARDIAN_EMAIL, VI_GUARDIAN_PHONE,
}


def forms(canary: str) -> set[str]:
    """Every way a value may be spelled in a dump or a message, lower-cased: as is, JSON-escaped
    (``\\uXXXX``), and the hex of either (bytea in a dump)."""
    spelled = {canary, json.dumps(canary)[1:-1]}
    spelled |= {s.encode().hex() for s in spelled}
    return {s.lower() for s in spelled}


def found_in(text: str) -> set[str]:
    low = text.lower()
    return {c for c in CANARIES if any(f in low for f in forms(c))}


# --- what the clinic systems hold --------------------------------------------------------------


def clinic_data(path: Path, adult: str, child: str) -> Path:
    visit = {"category": "treatment_records", "recorded_on": "2024-03-15",
             "data": {"visit": "2024-03-15", "department": "Orthopaedics", "diagnosis": "M54.5 Low back pain"}}
    path.write_text(yaml.safe_dump({
        "emr": {
            adult: [
                {"category": "name", "recorded_on": "2024-03-15", "data": {"name": KO_NAME, "birth_date": KO_BIRTH}},
                {"category": "contact", "recorded_on": "2024-03-15", "data": {"phone": KO_PHONE, "email": KO_EMAIL}},
                visit,
            ],
            child: [
                {"category": "name", "recorded_on": "2025-08-12",
                 "data": {"name": VI_CHILD, "birth_date": VI_CHILD_BIRTH}},
                {"category": "contact", "recorded_on": "2025-08-12",
                 "data": {"guardian": f"{VI_GUARDIAN} (mother)", "phone": VI_GUARDIAN_PHONE}},
            ],
        },
        "website": {adult: [
            {"category": "name", "recorded_on": "2025-01-02", "data": {"name": KO_NAME}},
            {"category": "contact", "recorded_on": "2025-01-02", "data": {"email": KO_EMAIL}},
        ]},
        "crm": {adult: [
            {"category": "email", "recorded_on": "2025-01-02", "data": {"email": KO_EMAIL}},
            {"category": "mobile_phone", "recorded_on": "2025-01-02", "data": {"phone": KO_PHONE}},
        ]},
    }, allow_unicode=True), encoding="utf-8")
    return path


# --- helpers -----------------------------------------------------------------------------------


async def transit_key(stack, subject: str) -> dict:
    """The subject's public key, as a clinic system gets it."""
    response = await stack.consent.post(f"/v1/subjects/{subject}/transit-key", headers=SYSTEM)
    assert response.status_code == 200, response.text
    return response.json()


def sealed(event: dict, key: dict, *names: str) -> dict:
    data = event["data"]
    data["sealed"] = seal_to({n: data.pop(n) for n in names}, key, kid=data["subject_id"])
    return event


async def status(stack, request_id: str, *wanted: str) -> dict | None:
    body = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()
    return body if body["status"] in wanted else None


async def approve(stack, request_id: str) -> None:
    response = await stack.dsr.post(f"/v1/requests/{request_id}/decision", json={"decision": "approve"},
                                    headers=MANAGER)
    assert response.status_code == 200, response.text


async def everything_on_the_broker(bootstrap: str) -> list:
    """Every record of every topic, from the beginning, read without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if not t.startswith("__"))
        # Their partitions: topics() asked for every topic's metadata but kept it for itself.
        await consumer._client.set_topics(topics)
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        got = []
        left = {tp for tp in partitions if ends[tp] > 0}
        while left:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(batch)
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
        return got
    finally:
        await consumer.stop()


def dump(database_url: str) -> str:
    result = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "--no-owner", "--dbname", database_url],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert "CREATE TABLE" in result.stdout and "COPY" in result.stdout
    return result.stdout


async def outboxes_empty(stack) -> bool:
    async with stack.pool.acquire() as conn:
        return await conn.fetchval("SELECT (SELECT count(*) FROM consent.outbox) + (SELECT count(*) FROM dsr.outbox)") == 0


# --- the test ----------------------------------------------------------------------------------


async def test_no_personal_data_rests_in_the_clear_and_an_erasure_leaves_nothing_readable(
    stack, clinic, tmp_path
):
    adult, english, child = random_id("patient"), random_id("patient"), random_id("patient")
    async with running_notifier(notifier_settings(stack.database_url, stack.bootstrap)):
        await clinic(data=clinic_data(tmp_path / "clinic.yaml", adult, child))

        # Consent: over HTTP in the clear and sealed; on Kafka in the clear (on purpose) and sealed.
        adult_key, child_key = await transit_key(stack, adult), await transit_key(stack, child)
        evidence = {"form_id": "signup-v3", "email": KO_EMAIL, "phone": KO_PHONE}
        clear_http = consent_event(subject_id=adult, birth_date=KO_BIRTH)
        clear_http["data"]["evidence"] = evidence
        for_child = sealed(consent_event(subject_id=child, purpose="sensitive_health", birth_date=VI_CHILD_BIRTH,
                                         language="vi", actor={"role": "legal_representative", "name": VI_GUARDIAN,
                                                               "relationship": "mother",
                                                               "contact": VI_GUARDIAN_EMAIL}),
                           child_key, "subject_birth_date", "actor", "evidence")
        for event in (clear_http, for_child):
            response = await stack.consent.post("/v1/consent-events", json=event, headers=SYSTEM)
            assert response.status_code == 201, response.text
        clear_kafka = consent_event(subject_id=english, birth_date=EN_BIRTH, language="en")
        clear_kafka["data"]["evidence"] = {"form_id": "signup-v3", "email": EN_EMAIL}
        sealed_kafka = consent_event(subject_id=adult, purpose="membership", birth_date=KO_BIRTH)
        sealed_kafka["data"]["evidence"] = evidence
        sealed_kafka = sealed(sealed_kafka, adult_key, "subject_birth_date", "evidence")
        # Refused, so dead-lettered: a child consenting alone (sealed), an unknown version (clear).
        child_alone = sealed(consent_event(subject_id=child, purpose="marketing_sms", birth_date=VI_CHILD_BIRTH),
                             child_key, "subject_birth_date", "evidence")
        bad_version = consent_event(subject_id=english, birth_date=EN_BIRTH, policy_version="9")
        await produce(stack.bootstrap, "consent.inbound",
                      [structured(e) for e in (clear_kafka, sealed_kafka, child_alone, bad_version)])

        # Requests: an adult's access and rectification, a guardian's access for a child under 14,
        # an English-speaking patient's access (no system holds anything about her).
        filed = {
            "access": await file(stack, request_body(subject_id=adult, name=KO_NAME, birth_date=KO_BIRTH,
                                                     contact=KO_EMAIL)),
            "rectify": await file(stack, request_body(
                type="rectification", subject_id=adult, name=KO_NAME, birth_date=KO_BIRTH, contact=KO_PHONE,
                details={"corrections": [{"item": "contact.phone", "current": KO_PHONE, "corrected": KO_NEW_PHONE}],
                         "note": f"My new number is {KO_NEW_PHONE}"})),
            "child": await file(stack, request_body(
                subject_id=child, name=VI_CHILD, birth_date=VI_CHILD_BIRTH, language="vi",
                relationship="legal_representative", requester_name=VI_GUARDIAN, contact=VI_GUARDIAN_EMAIL)),
            "english": await file(stack, request_body(subject_id=english, name=EN_NAME, birth_date=EN_BIRTH,
                                                      language="en", contact=EN_PHONE)),
        }
        assert filed["child"]["by_guardian"] is True
        for name, opened in filed.items():
            await verify(stack, opened["request_id"], representative=name == "child")
            await approve(stack, opened["request_id"])
        for opened in filed.values():
            await eventually(lambda opened=opened: status(stack, opened["request_id"], "completed", "partially_completed"),
                             timeout=30)

        # The sealed answers were opened and kept: the requester reads them, the correction was made.
        result = (await stack.dsr.get(f"/v1/requests/{filed['access']['request_id']}/result",
                                      headers=auth(filed["access"]["token"]))).json()
        exported = json.dumps([s["exported"] for s in result["systems"]], ensure_ascii=False)
        assert KO_NAME in exported and KO_EMAIL in exported, result
        rectified = (await stack.dsr.get(f"/v1/requests/{filed['rectify']['request_id']}/result",
                                         headers=MANAGER)).json()  # closed: the privacy manager reads it
        emr = next(s for s in rectified["systems"] if s["system_id"] == "emr")
        assert emr["outcome"] == "done" and "contact.phone" in emr["note"], rectified
        child_result = (await stack.dsr.get(f"/v1/requests/{filed['child']['request_id']}/result",
                                            headers=auth(filed["child"]["token"]))).json()
        assert VI_CHILD in json.dumps(child_result, ensure_ascii=False)

        # Everything on consent.inbound was handled (two recorded, two dead-lettered).
        async def inbound_done() -> bool:
            counts = []
            for subject in (adult, english):
                history = await stack.consent.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)
                counts.append(len(history.json()["records"]) if history.status_code == 200 else 0)
            return counts == [2, 1]

        await eventually(inbound_done, timeout=30)

        # The adult asks for erasure; it is approved: the consent service destroys their keys.
        erasure = await file(stack, request_body(type="erasure", subject_id=adult, name=KO_NAME, birth_date=KO_BIRTH,
                                                 contact=KO_EMAIL))
        await verify(stack, erasure["request_id"])
        await approve(stack, erasure["request_id"])
        await eventually(lambda: status(stack, erasure["request_id"], "completed", "partially_completed"),
                         timeout=30)

        async def key_gone() -> bool:
            response = await stack.consent.post(f"/v1/subjects/{adult}/transit-key", headers=SYSTEM)
            return response.status_code == 410

        await eventually(key_gone, timeout=30)

        async def notified() -> bool:
            async with stack.pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM notifier.notifications") >= 5

        await eventually(notified, timeout=30)
        # Before the dump, everything has come to rest: the last answers and commands are handled
        # (each group past a watermark), what they caused is relayed (every outbox empty), and the
        # notifier has made of it all it will (its groups past watermarks too).
        await processed_to_end(stack.bootstrap, "dongui-dsr-task-results", "dsr.task-results")
        await processed_to_end(stack.bootstrap, "dongui-consent-dsr-events", "dsr.events")
        await eventually(lambda: outboxes_empty(stack), timeout=30)
        for topic in ("dsr.events", "consent.events"):
            await processed_to_end(stack.bootstrap, "dongui-notifier-events", topic)
        await processed_to_end(stack.bootstrap, "dongui-notifier-dead-letters", "privacy.dead-letter")

    # (a) The dump of the whole database: nothing in the clear, in any spelling.
    dumped = dump(stack.database_url)
    assert found_in(dumped) == set(), "personal data in the database dump"

    # (b) The history of every topic: only what the test itself sent in the clear, and only there.
    records = await everything_on_the_broker(stack.bootstrap)
    topics = {r.topic for r in records}
    assert {"consent.inbound", "consent.events", "dsr.events", "dsr.tasks", "dsr.task-results",
            "privacy.dead-letter"} <= topics
    tokens: list[str] = []
    for record in records:
        text = (record.value or b"").decode("utf-8", "replace") + "".join(
            f"{k}={v.decode('utf-8', 'replace')}" for k, v in record.headers or ())
        leaked = found_in(text)
        if record.topic in ("consent.inbound", "privacy.dead-letter"):
            leaked -= SENT_CLEAR
        assert leaked == set(), f"{record.topic}/{record.partition}/{record.offset} holds {leaked}"
        if record.value and record.value.startswith(b"{"):
            data = json.loads(record.value).get("data")
            if isinstance(data, dict) and isinstance(data.get("sealed"), str):
                tokens.append(data["sealed"])
    kinds = {(r.topic, json.loads(r.value).get("type")) for r in records
             if r.value and r.value.startswith(b"{") and "sealed" in json.loads(r.value).get("data", {})}
    assert {("consent.inbound", "consent.granted"), ("dsr.tasks", "dsr.task.rectify"),
            ("dsr.task-results", "dsr.task.result")} <= kinds, kinds
    # The clear events did travel (and are the only exception): the check above is not vacuous.
    inbound = b"".join(r.value or b"" for r in records if r.topic == "consent.inbound")
    assert EN_EMAIL.encode() in inbound

    # (c) After the erasure nothing of the adult's can be read back.
    theirs = [t for t in tokens if header(t).get("kid") == adult]
    assert len(theirs) >= 3  # their consent, the correction, the systems' exports
    gone = await stack.consent.post(f"/v1/subjects/{adult}/transit-key", headers=STAFF)
    assert gone.status_code == 410
    async with stack.pool.acquire() as conn:
        for table in ("consent.transit_keys", "consent.subject_keys"):
            row = await conn.fetchrow(f"SELECT wrapped_key, destroyed_at FROM {table} WHERE subject_id = $1", adult)
            assert row is not None and row["wrapped_key"] is None and row["destroyed_at"] is not None, table
        sealed_rows = await conn.fetchval(
            "SELECT count(*) FROM consent.consent_records WHERE subject_id = $1 AND personal IS NOT NULL", adult)
    assert sealed_rows == 2  # the ciphertexts stay, but no key opens them
    history = (await stack.consent.get(f"/v1/subjects/{adult}/consents/history", headers=STAFF)).json()
    assert [(r["subject_birth_date"], r["evidence"]) for r in history["records"]] == [(None, None), (None, None)]
    assert found_in(json.dumps(history, ensure_ascii=False)) == set()
    # The consent service itself can no longer open what was sealed for them on Kafka.
    replay = json.loads(next(r.value for r in records if r.topic == "consent.inbound"
                             and json.loads(r.value)["data"].get("sealed") in theirs))
    replay["id"] = str(uuid.uuid4())
    refused = await stack.consent.post("/v1/consent-events", json=replay, headers=SYSTEM)
    assert refused.status_code == 422 and "destroyed" in refused.json()["detail"]
    # The child's and the other subjects' data is still theirs to read (nothing else was shredded).
    still = (await stack.consent.get(f"/v1/subjects/{child}/consents/history", headers=STAFF)).json()
    assert still["records"][0]["actor"]["name"] == VI_GUARDIAN
