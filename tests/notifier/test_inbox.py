"""The staff inbox: filters, unread counts, marking read, roles and errors."""

from __future__ import annotations

import json

from services.notifier.settings import Recipient
from shared.events import RequestOverdue, RequestReceived, RequestVerified
from tests.notifier.conftest import notifier_settings, request_message, running_notifier
from tests.support import MANAGER, STAFF, SYSTEM, eventually, produce


async def test_the_inbox_filters_counts_and_marks_read(database_url, kafka_bootstrap):
    recipients = [Recipient(id="cpo", name="CPO", language="ko"), Recipient(id="deputy", name="Deputy", language="vi")]
    guardian = request_message(RequestReceived, by_guardian=True, channel="portal", waiting_for=["verification"])
    data = json.loads(guardian[1])["data"]
    verified = request_message(RequestVerified, request_id=data["request_id"], reference=data["reference"],
                               status="in_review", method="signed_document")
    other = request_message(RequestOverdue, status="in_progress")
    await produce(kafka_bootstrap, "dsr.events", [guardian, verified, other])

    async with running_notifier(notifier_settings(database_url, kafka_bootstrap, recipients=recipients)) as notifier:
        client = notifier.client

        async def six() -> bool:
            return (await notifier.inbox())["total"] == 6

        await eventually(six)
        page = await notifier.inbox()
        assert page["unread"] == 6 and len(page["items"]) == 6
        assert (await client.get("/v1/notifications/unread-count", headers=MANAGER)).json() == {"unread": 6}

        by_request = await notifier.inbox(request=data["reference"])
        assert by_request["total"] == 4
        assert {i["kind"] for i in by_request["items"]} == {"guardian_request", "awaiting_decision"}
        assert (await notifier.inbox(request=data["request_id"]))["total"] == 4
        deputy = await notifier.inbox(recipient="deputy", kind="awaiting_decision")
        [item] = deputy["items"]
        assert item["recipient"] == {"id": "deputy", "name": "Deputy", "language": "vi"}
        assert "chờ quyết định" in item["title"] and "văn bản có chữ ký" in item["summary"]
        assert item["link"].endswith(data["request_id"]) and item["deliveries"] == []

        response = await client.post(f"/v1/notifications/{item['id']}/read", headers=STAFF)
        assert response.status_code == 200
        first = response.json()
        assert first["read_by"] == "dev-staff" and first["read_at"]
        again = (await client.post(f"/v1/notifications/{item['id']}/read", headers=MANAGER)).json()
        assert (again["read_by"], again["read_at"]) == (first["read_by"], first["read_at"])  # the first reading

        assert (await notifier.inbox())["unread"] == 5
        assert (await notifier.inbox(recipient="deputy"))["unread"] == 2
        assert [i["id"] for i in (await notifier.inbox(unread=False))["items"]] == [item["id"]]
        assert (await notifier.inbox(unread=True))["total"] == 5
        assert (await notifier.inbox(limit=2, offset=4))["items"].__len__() == 2

        # Roles and errors.
        assert (await client.get("/v1/notifications")).status_code == 401
        assert (await client.get("/v1/notifications", headers=SYSTEM)).status_code == 403
        assert (await client.get("/v1/notifications/not-a-uuid", headers=STAFF)).status_code == 422
        missing = await client.post("/v1/notifications/00000000-0000-4000-8000-000000000000/read", headers=STAFF)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/notifications", params={"kind": "gossip"}, headers=STAFF)).status_code == 422
        health = (await client.get("/healthz")).json()
        assert health["checks"]["worker:delivery"] == "running" and health["checks"]["worker:digest"] == "running"
        assert health["checks"]["worker:consumer:dead-letters"] == "running"
