"""Fuzz the Kafka consumers (``consent.inbound``, ``dsr.task-results``) with hostile messages.

Hypothesis generates the junk (random and invalid-UTF-8 bytes, JSON that is not an object, envelopes
with wrong types or without required attributes, binary mode with missing or broken ``ce_``
headers, huge values, unknown event types, valid envelopes with invalid data, a reused id with
other content, valid events unsigned or with a mangled ``dongui-signature``); it is sent, signed
by the clinic system that sends it unless it is about the signature, interleaved with valid
events to the real services over a real broker.

Every junk message must reach ``privacy.dead-letter`` with a reason naming its problem and its
original coordinates; nothing of it may be written; every valid event is recorded exactly once;
and a valid event sent after the batch is recorded within a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from hypothesis import given
from hypothesis import strategies as st

from shared.consumer import MAX_EVENT_BYTES
from tests.dsr.conftest import Stack, stack  # noqa: F401 (fixture)
from tests.dsr.factories import approved_request, register_system, system_key
from tests.fuzz.conftest import EXAMPLES, hypothesis_settings, seeded
from tests.support import STAFF, api_key, binary, consent_event, drain, eventually, random_id, signed, structured

#: The largest value sent: above aiokafka's default 1 MiB request and fetch sizes.
HUGE = 1_500_000
DLQ = "privacy.dead-letter"
#: Hostile messages of each kind (distinct ones: Hypothesis may draw fewer for a narrow kind).
_PER_KIND = max(EXAMPLES // 3, 3)

# schemathesis and Hypothesis disagree about a random module inside strategies; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@dataclass
class Junk:
    kind: str
    value: bytes | None
    headers: list[tuple[str, bytes]]
    key: bytes | None
    #: Each alternative is a list of fragments that must all be in the dead-letter reason.
    reasons: tuple[tuple[str, ...], ...]
    #: Sent signed by the clinic system that sends it (False: the junk is its signature).
    sign: bool = True


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return True
    return False


_ids = st.text(alphabet="abcdef0123456789-", min_size=8, max_size=36)
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_wrong_type = st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.booleans(),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _envelope(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event.items())


CONSENT_JUNK = ("bytes", "utf8", "not-object", "wrong-type", "missing", "binary-missing", "binary-broken",
                "unknown-type", "invalid-data", "huge", "empty", "unsigned", "bad-signature")
TASK_RESULT_JUNK = ("bytes", "not-object", "missing", "binary-missing", "unknown-type", "invalid-data",
                    "unknown-task", "huge", "unsigned", "bad-signature")
#: A ``dongui-signature`` header that is not the record's: any bytes, or the right form with the
#: wrong key id or MAC.
_bad_signatures = st.binary(max_size=80) | st.builds(
    lambda ident, mac: f"v1.{ident}.{mac}".encode(), st.sampled_from(["dev-system", "key.00", "", "key.x.y"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=0, max_size=50))


def _signature_junk(draw, kind: str, value: bytes, headers: list[tuple[str, bytes]], key: bytes) -> Junk:
    """A valid event, unsigned or with a signature header that does not sign it."""
    if kind == "unsigned":
        return Junk(kind, value, headers, key, (("401", "not signed"),), sign=False)
    return Junk(kind, value, [*headers, ("dongui-signature", draw(_bad_signatures))], key, (("401",),), sign=False)


@st.composite
def consent_junk(draw, kind: str) -> Junk:
    """One hostile message of ``kind`` for consent.inbound and what its dead-letter reason must say."""
    event = consent_event(subject_id=random_id("fuzz"))
    event["id"] = "fuzz-" + str(uuid.uuid4())
    key = event["subject"].encode()
    ct = [("content-type", b"application/cloudevents+json")]
    if kind == "bytes":
        raw = draw(st.binary(min_size=1, max_size=200).filter(_not_json))
        return Junk(kind, raw, [], key, (("not JSON",), ("empty",)))
    if kind == "utf8":
        text = json.dumps(event).encode()
        cut = draw(st.integers(1, len(text) - 1))
        bad = draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        return Junk(kind, text[:cut] + bad + text[cut:], ct, key, (("not JSON",),))
    if kind == "not-object":
        value = draw(_json.filter(lambda v: not isinstance(v, dict)))
        return Junk(kind, json.dumps(value).encode(), ct, key, (("JSON object",),))
    if kind == "wrong-type":
        name = draw(st.sampled_from(["id", "source", "type", "specversion", "time", "subject", "data"]))
        value = draw(_wrong_type if name != "specversion" else st.sampled_from(["0.3", "2.0", 1, None]))
        if name == "data":
            value = draw(st.integers() | st.text(max_size=10) | st.lists(st.integers(), max_size=2))
        event[name] = value
        return Junk(kind, json.dumps(event).encode(), ct, key,
                    (("invalid CloudEvent", name), ("422",), ("invalid",)))
    if kind == "missing":
        name = draw(st.sampled_from(["id", "source", "type"]))
        del event[name]
        return Junk(kind, json.dumps(event).encode(), ct, key, (("invalid CloudEvent", name),))
    if kind in ("binary-missing", "binary-broken"):
        _, value, headers = binary(event)
        if kind == "binary-missing":
            required = ["ce_specversion", "ce_id", "ce_source", "ce_type"]
            drop = draw(st.lists(st.sampled_from(required), min_size=1, max_size=4, unique=True))
            headers = [(k, v) for k, v in headers if k not in drop]
            return Junk(kind, value, headers, key, (("missing headers", drop[0]),))
        broken = draw(st.sampled_from([("ce_specversion", b"2.0"), ("ce_time", b"yesterday"),
                                       ("ce_specversion", b"\xff\xfe"), ("ce_id", b"")]))
        headers = [(k, v) for k, v in headers if k != broken[0]] + [broken]
        return Junk(kind, value, headers, key, (("binary-mode",), ("invalid CloudEvent",)))
    if kind == "unknown-type":
        event["type"] = draw(st.sampled_from(["consent.exploded", "dsr.task.result", "Consent.Granted", "x"]))
        return Junk(kind, json.dumps(event).encode(), ct, key, ((event["type"],),))
    if kind == "invalid-data":
        field = draw(st.sampled_from(["purpose", "actor", "language", "method", "subject_birth_date", "policy_version"]))
        event["data"][field] = draw(_wrong_type | st.just("NOT VALID!"))
        return Junk(kind, json.dumps(event).encode(), ct, key, (("422", field), ("422", field.split("_")[-1])))
    if kind in ("unsigned", "bad-signature"):
        return _signature_junk(draw, kind, json.dumps(event).encode(), ct, key)
    if kind == "huge":
        filler = draw(st.sampled_from([b"x", b"\x00", b"{"]))
        return Junk(kind, filler * HUGE, [], key, (("larger than", str(MAX_EVENT_BYTES)),))
    return Junk(kind, b"", [], key, (("empty",),))


def collect(strategy, count: int) -> list[Any]:
    """``count`` values of ``strategy``, drawn by Hypothesis (reproducibly, see conftest)."""
    found: list[Any] = []

    @seeded
    @hypothesis_settings(max_examples=count)
    @given(strategy)
    def draw(value) -> None:
        found.append(value)

    draw()
    return found


async def _send(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None, list]]) -> list[Any]:
    """Send in order (one partition per key keeps a key's order); the broker's metadata of each."""
    await _take_huge_messages(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all",
                                max_request_size=4 * HUGE)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key, headers=headers)
                   for key, value, headers in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def _take_huge_messages(bootstrap: str, topic: str) -> None:
    """Let ``topic`` take the huge messages, as a clinic's cluster set up so might: Apache Kafka
    refuses a message over its ``max.message.bytes`` (1 MiB by default) itself, and these tests are
    about what reaches the services. Tansu has no such limit (and may not answer AlterConfigs)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                  configs={"max.message.bytes": str(4 * HUGE)})])
    except KafkaError:
        pass  # a broker without AlterConfigs has no limit to raise
    finally:
        await admin.close()


def _tag(headers: list[tuple[str, bytes]], tag: str) -> list[tuple[str, bytes]]:
    return [*headers, ("fuzz-tag", tag.encode())]


async def _dead_letters(bootstrap: str, count: int, timeout: float = 60) -> dict[str, dict[str, str]]:
    """Dead letters by their fuzz tag: the header values, decoded."""
    found: dict[str, dict[str, str]] = {}

    async def enough():
        for record in await drain(bootstrap, DLQ, seconds=1.0):
            headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
            if "fuzz-tag" in headers:
                found[headers["fuzz-tag"]] = headers
        return len(found) >= count

    try:
        await eventually(enough, timeout=timeout, interval=0.5)
    except AssertionError:
        pass
    return found


def _check_dead_letters(junk: list[tuple[str, Junk]], metadata: dict[str, Any], dead: dict[str, dict[str, str]],
                        topic: str) -> None:
    problems = []
    for tag, item in junk:
        letter = dead.get(tag)
        if letter is None:
            problems.append(f"{item.kind} {tag}: not dead-lettered")
            continue
        reason = letter.get("dongui-dlq-reason", "")
        if not any(all(f in reason for f in alternative) for alternative in item.reasons):
            problems.append(f"{item.kind} {tag}: reason {reason!r} names none of {item.reasons}")
        meta = metadata[tag]
        where = (letter.get("dongui-dlq-topic"), letter.get("dongui-dlq-partition"), letter.get("dongui-dlq-offset"))
        if where != (topic, str(meta.partition), str(meta.offset)):
            problems.append(f"{item.kind} {tag}: coordinates {where}, sent at {meta.partition}/{meta.offset}")
    assert not problems, "\n".join(problems)


async def test_consent_inbound_survives_hostile_messages(stack: Stack) -> None:
    # Every kind, several times (a huge message once: it is 1.5 MB).
    junk = [(f"junk-{i}", j) for i, j in enumerate(
        j for kind in CONSENT_JUNK for j in collect(consent_junk(kind), 1 if kind == "huge" else _PER_KIND))]
    kinds = {j.kind for _, j in junk}
    valid = [consent_event(subject_id=random_id("valid")) for _ in range(12)]
    # Reusing a recorded id with other content: the same key (so after the original), another purpose.
    original = valid[0]
    reused = json.loads(json.dumps(original))
    reused["data"]["purpose"] = "marketing_sms"
    messages: list[tuple[str, tuple[bytes | None, bytes | None, list]]] = []
    topic = "consent.inbound"
    for i, event in enumerate(valid):
        key, value, headers = structured(event) if i % 2 else binary(event)
        messages.append((f"valid-{i}", signed(topic, (key, value, _tag(headers, f"valid-{i}")))))
        for tag, item in junk[i * len(junk) // len(valid):(i + 1) * len(junk) // len(valid)]:
            message = (item.key, item.value, _tag(item.headers, tag))
            messages.append((tag, signed(topic, message) if item.sign else message))
    key, value, headers = structured(reused)
    messages.append(("junk-reused-id", signed(topic, (key, value, _tag(headers, "junk-reused-id")))))
    junk.append(("junk-reused-id", Junk("reused-id", value, headers, key, (("409",),))))

    started = time.monotonic()
    sent = await _send(stack.bootstrap, "consent.inbound", [m for _, m in messages])
    metadata = {tag: meta for (tag, _), meta in zip(messages, sent, strict=True)}
    dead = await _dead_letters(stack.bootstrap, len(junk))
    _check_dead_letters(junk, metadata, dead, "consent.inbound")
    assert not [t for t in dead if t.startswith("valid-")], "a valid event was dead-lettered"

    conn = await asyncpg.connect(stack.database_url)
    try:
        async def all_recorded():
            return await conn.fetchval("SELECT count(*) FROM consent.consent_records") >= len(valid)

        await eventually(all_recorded, timeout=30)
        rows = await conn.fetch("SELECT event_id, count(*) AS n FROM consent.consent_records GROUP BY event_id")
        recorded = {r["event_id"]: r["n"] for r in rows}
        assert recorded == {e["id"]: 1 for e in valid}, "junk was recorded, or a valid event not exactly once"
        assert await conn.fetchval("SELECT count(*) FROM consent.subjects WHERE subject_id LIKE 'fuzz-%'") == 0
    finally:
        await conn.close()

    # The consumer keeps up: one more valid event is recorded within a few seconds.
    after = consent_event(subject_id=random_id("after"))
    await _send(stack.bootstrap, "consent.inbound", [signed("consent.inbound", structured(after))])
    sent_at = time.monotonic()

    async def recorded_after():
        r = await stack.consent.get(f"/v1/subjects/{after['subject']}/consents/history", headers=STAFF)
        return r.status_code == 200 and r.json()["records"]

    await eventually(recorded_after, timeout=10)
    print(f"\nconsent.inbound: {len(junk)} hostile messages ({', '.join(sorted(kinds | {'reused-id'}))}) and "
          f"{len(valid)} valid ones handled in {sent_at - started:.1f}s; the next valid event recorded "
          f"{time.monotonic() - sent_at:.2f}s after it was sent")


@st.composite
def task_result_junk(draw, task: dict[str, str], kind: str) -> Junk:
    event = {"specversion": "1.0", "id": "fuzz-" + str(uuid.uuid4()), "source": "clinic/emr",
             "type": "dsr.task.result", "subject": task["subject_id"], "data": dict(task, outcome="done")}
    key = task["subject_id"].encode()
    ct = [("content-type", b"application/cloudevents+json")]
    if kind == "bytes":
        return Junk(kind, draw(st.binary(min_size=1, max_size=100).filter(_not_json)), [], key, (("not JSON",),))
    if kind == "not-object":
        value = draw(_json.filter(lambda v: not isinstance(v, dict)))
        return Junk(kind, json.dumps(value).encode(), ct, key, (("JSON object",),))
    if kind == "missing":
        name = draw(st.sampled_from(["id", "source", "type"]))
        del event[name]
        return Junk(kind, json.dumps(event).encode(), ct, key, (("invalid CloudEvent", name),))
    if kind == "binary-missing":
        headers = [("ce_specversion", b"1.0"), ("ce_type", b"dsr.task.result")]
        return Junk(kind, json.dumps(event["data"]).encode(), headers, key, (("missing headers",),))
    if kind == "unknown-type":
        event["type"] = draw(st.sampled_from(["consent.granted", "dsr.task.export", "x"]))
        return Junk(kind, json.dumps(event).encode(), ct, key, (("Unknown event type", event["type"]),))
    if kind == "invalid-data":
        field = draw(st.sampled_from(["outcome", "task_id", "subject_id", "exported", "note"]))
        event["data"][field] = draw(_wrong_type | st.just("x" * 3000))
        return Junk(kind, json.dumps(event).encode(), ct, key, (("invalid dsr.task.result", field),))
    if kind in ("unsigned", "bad-signature"):
        return _signature_junk(draw, kind, json.dumps(event).encode(), ct, key)
    if kind == "unknown-task":
        event["data"]["task_id"] = "no-such-task-" + draw(_ids)
        return Junk(kind, json.dumps(event).encode(), ct, key, (("404",), ("task",)))
    return Junk(kind, b"[" * HUGE, [], key, (("larger than", str(MAX_EVENT_BYTES)),))


async def test_task_results_survive_hostile_messages(stack: Stack) -> None:
    await register_system(stack, system_id="emr", name="EMR", categories=["medical_record"],
                          classes=["medical_record"])
    await register_system(stack, system_id="web", name="Website", categories=["membership"],
                          classes=["membership"])
    keys = {system_id: api_key(await system_key(stack, system_id)) for system_id in ("emr", "web")}
    conn = await asyncpg.connect(stack.database_url)
    try:
        opened, _ = await approved_request(stack, subject_id=random_id("patient"))
        tasks = [dict(r) for r in await conn.fetch(
            "SELECT task_id::text, request_id::text, system_id FROM dsr.tasks WHERE request_id = $1::uuid",
            opened["request_id"])]
        assert len(tasks) == 2, tasks
        subject = opened["subject_id"] if opened.get("subject_id") else None
        for t in tasks:
            t["subject_id"] = subject or await conn.fetchval(
                "SELECT subject_id FROM dsr.requests WHERE request_id = $1::uuid", opened["request_id"])
        junk = [(f"junk-{i}", j) for i, j in enumerate(
            j for kind in TASK_RESULT_JUNK
            for j in collect(task_result_junk(tasks[0], kind), 1 if kind == "huge" else _PER_KIND))]
        valid = [{"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"clinic/{t['system_id']}",
                  "type": "dsr.task.result", "subject": t["subject_id"], "data": dict(t, outcome="no_data")}
                 for t in tasks]
        messages = []
        topic = "dsr.task-results"
        for i, (event, task) in enumerate(zip(valid, tasks, strict=True)):
            message = (event["subject"].encode(), json.dumps(event).encode(), _tag([], f"valid-{i}"))
            messages.append((f"valid-{i}", signed(topic, message, keys[task["system_id"]])))
            for tag, item in junk[i * len(junk) // 2:(i + 1) * len(junk) // 2]:
                message = (item.key, item.value, _tag(item.headers, tag))
                messages.append((tag, signed(topic, message, keys["emr"]) if item.sign else message))
        sent = await _send(stack.bootstrap, "dsr.task-results", [m for _, m in messages])
        metadata = {tag: meta for (tag, _), meta in zip(messages, sent, strict=True)}
        dead = await _dead_letters(stack.bootstrap, len(junk))
        _check_dead_letters(junk, metadata, dead, "dsr.task-results")
        assert not [t for t in dead if t.startswith("valid-")], "a valid result was dead-lettered"

        async def answered():
            return await conn.fetchval("SELECT count(*) FROM dsr.tasks WHERE request_id = $1::uuid "
                                       "AND status <> 'pending' AND status <> 'sent'", opened["request_id"]) == 2

        await eventually(answered, timeout=15)
        processed = await conn.fetch("SELECT event_id FROM dsr.processed_events WHERE consumer = 'dsr-task-results'")
        assert sorted(r["event_id"] for r in processed) == sorted(e["id"] for e in valid)
    finally:
        await conn.close()


async def test_a_message_too_big_to_dead_letter_whole_does_not_block_its_partition(stack: Stack) -> None:
    """Found by this fuzzer: a 1.5 MB message (the broker took it) could not be dead-lettered (the
    producer's request limit is 1 MiB), so the consumer replayed its batch forever and every
    later event on the partition waited. Now it is refused by size and dead-lettered cut."""
    big = consent_event(subject_id=random_id("big"))
    big["data"]["evidence"] = {"scan": "x" * HUGE}  # valid JSON, valid event: too big all the same
    after = consent_event(subject_id=big["subject"], purpose="marketing_sms")
    key, value, headers = structured(big)
    await _send(stack.bootstrap, "consent.inbound", [signed("consent.inbound", (key, value, _tag(headers, "big"))),
                                                     signed("consent.inbound", structured(after))])
    dead = await _dead_letters(stack.bootstrap, 1)
    assert "larger than" in dead["big"]["dongui-dlq-reason"]
    assert dead["big"]["dongui-dlq-truncated-from"] == str(len(value))

    async def recorded():
        r = await stack.consent.get(f"/v1/subjects/{big['subject']}/consents/history", headers=STAFF)
        return r.status_code == 200 and [x["purpose"] for x in r.json()["records"]]

    assert await eventually(recorded, timeout=15) == ["marketing_sms"]
