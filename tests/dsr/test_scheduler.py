"""The deadline scheduler: notices, re-sent tasks, unanswered tasks, destruction after 3 years."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

from tests.dsr.factories import (
    approved_request,
    auth,
    file,
    register_system,
    request_body,
    verify,
)
from tests.support import STAFF, drain, eventually, read_to_end


def events_of(messages, type_: str) -> list[dict]:
    return [json.loads(m.value) for m in messages if json.loads(m.value)["type"] == type_]


async def test_deadline_notices_at_50_and_80_percent_and_when_overdue_each_once(stack):
    opened = await file(stack, request_body(subject_id="patient-slow"))

    stack.travel(timedelta(days=6))  # 60% of 10 days
    await eventually(lambda: _has(stack, "request.deadline_approaching", 1))
    stack.travel(timedelta(days=3))  # 90%
    await eventually(lambda: _has(stack, "request.deadline_approaching", 2))
    stack.travel(timedelta(days=2))  # past the deadline
    await eventually(lambda: _has(stack, "request.overdue", 1))

    await stack.scheduler_passes(2)  # more passes, each of which could have sent a notice again
    messages = await read_to_end(stack.bootstrap, "dsr.events")
    notices = events_of(messages, "request.deadline_approaching")
    assert sorted(n["data"]["threshold"] for n in notices) == [50, 80]
    assert len(events_of(messages, "request.overdue")) == 1
    assert notices[0]["data"]["reference"] == opened["reference"]
    overdue = (await stack.dsr.get("/v1/requests?overdue=true", headers=STAFF)).json()
    assert [r["reference"] for r in overdue] == [opened["reference"]]


async def _passed(scheduler, target: int) -> bool:
    return scheduler.passes >= target


async def _has(stack, type_: str, count: int) -> bool:
    return len(events_of(await drain(stack.bootstrap, "dsr.events", seconds=0.3), type_)) >= count


async def test_an_unanswered_task_is_sent_again_then_reported(stack):
    await register_system(stack, system_id="silent-emr", name="An EMR that never answers",
                          categories=["treatment_records"], classes=["medical_record"])
    opened, _ = await approved_request(stack, subject_id="patient-waits")

    for attempt in (2, 3):
        stack.travel(timedelta(days=2, minutes=1))
        await eventually(lambda attempt=attempt: _task_attempt(stack, attempt))
    stack.travel(timedelta(days=2, minutes=1))
    await eventually(lambda: _has(stack, "request.task_unanswered", 1))

    [reported] = events_of(await drain(stack.bootstrap, "dsr.events", seconds=1), "request.task_unanswered")
    assert reported["data"]["system_id"] == "silent-emr" and reported["data"]["attempts"] == 3
    tasks = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()["tasks"]
    assert [(t["status"], t["attempts"]) for t in tasks] == [("unanswered", 3)]


async def _task_attempt(stack, attempt: int) -> bool:
    messages = await drain(stack.bootstrap, "dsr.tasks", seconds=0.3)
    return any(json.loads(m.value)["data"]["attempt"] == attempt for m in messages)


async def test_a_closed_request_is_destroyed_after_three_years_leaving_evidence(stack):
    opened = await file(stack, request_body(type="consent_withdrawal", subject_id="patient-old"))
    done = await verify(stack, opened["request_id"])  # a withdrawal takes effect on verification
    assert done["status"] == "completed"  # nothing for clinic systems: the consent service acts

    stack.travel(timedelta(days=3 * 365 + 2))

    async def destroyed():
        body = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
        return body if body["destroyed_at"] else None

    body = await eventually(destroyed)
    assert body["subject"] is None and body["requester"] is None and body["details"] is None
    assert body["reference"] == opened["reference"] and body["type"] == "consent_withdrawal"
    assert body["transitions"][-1]["reason"] == "personal data destroyed at the end of the retention period"
    denied = await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=auth(opened["token"]))
    assert denied.status_code == 403
    async with stack.pool.acquire() as conn:
        assert await conn.fetchval("SELECT personal FROM requests WHERE reference = $1", opened["reference"]) is None
        assert await conn.fetchval("SELECT wrapped_key FROM subject_keys WHERE subject_id = $1",
                                   f"request:{opened['request_id']}") is None


async def test_two_schedulers_send_each_notice_once(stack):
    from services.dsr.scheduler import Scheduler

    await file(stack, request_body(subject_id="patient-two"))
    stack.travel(timedelta(days=6))
    second = Scheduler(stack.pool, stack.service, interval=0.05)
    extra = asyncio.create_task(second.run())
    try:
        await eventually(lambda: _has(stack, "request.deadline_approaching", 1))
        # Both schedulers pass a few more times after the notice was sent.
        target = second.passes + 3
        await eventually(lambda: _passed(second, target))
        await stack.scheduler_passes(3)
    finally:
        extra.cancel()
    counts = Counter(json.loads(m.value)["type"] for m in await read_to_end(stack.bootstrap, "dsr.events"))
    assert counts["request.deadline_approaching"] == 1


async def test_tasks_of_a_withdrawn_request_are_not_chased(stack):
    await register_system(stack, system_id="slow-crm", name="A CRM that answers late",
                          categories=["email"], classes=["marketing"], processor=True)
    opened, _ = await approved_request(stack, subject_id="patient-changes-mind")
    await stack.dsr.post(f"/v1/requests/{opened['request_id']}/withdraw", headers=auth(opened["token"]))

    stack.travel(timedelta(days=7))
    await stack.scheduler_passes(2)  # the second began after the travel; what it sent is published

    sent = [json.loads(m.value)["data"]["attempt"] for m in await read_to_end(stack.bootstrap, "dsr.tasks")]
    assert sent == [1]
    assert events_of(await read_to_end(stack.bootstrap, "dsr.events"), "request.task_unanswered") == []
