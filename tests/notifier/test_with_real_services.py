"""The notifier beside the real request and consent services: what they publish, it tells, and
the names and contacts they hold stay with them."""

from __future__ import annotations

import json

from services.notifier.settings import Recipient
from tests.dsr.conftest import stack  # noqa: F401  (the request and consent services, served)
from tests.dsr.factories import child_request, file, request_body, verify
from tests.notifier.conftest import notifier_settings, running_notifier
from tests.support import MANAGER, eventually, policy_body


async def test_what_the_services_publish_reaches_the_manager_without_personal_data(stack):
    recipients = [Recipient(id="cpo", name="CPO", language="ko"), Recipient(id="vi", name="VI", language="vi")]
    settings = notifier_settings(stack.database_url, stack.bootstrap, recipients=recipients)
    async with running_notifier(settings) as notifier:
        for_child = await file(stack, child_request())  # a mother, for her 10-year-old, in Vietnamese
        own = await file(stack, request_body(name="이서준", birth_date="2017-02-03", contact="010-9876-5432"))
        await verify(stack, for_child["request_id"], representative=True)
        withdrawal = await file(stack, request_body(type="consent_withdrawal", subject_id="patient-w"))
        await verify(stack, withdrawal["request_id"])  # carried out at once: no decision to ask for
        response = await stack.consent.post("/v1/policies", headers=MANAGER,
                                            json=policy_body(version="2", effective_at="2030-01-01T00:00:00+09:00"))
        assert response.status_code == 201, response.text

        async def told() -> dict | None:
            page = await notifier.inbox(recipient="cpo")
            kinds = {i["kind"] for i in page["items"]}
            wanted = {"guardian_request", "child_request", "awaiting_decision", "policy_published"}
            policies = [i for i in page["items"] if i["kind"] == "policy_published"]
            return page if wanted <= kinds and len(policies) == 2 else None

        page = await eventually(told, timeout=30)
        by_kind = {i["kind"]: i for i in page["items"]}
        assert by_kind["guardian_request"]["reference"] == for_child["reference"]
        assert by_kind["child_request"]["reference"] == own["reference"]
        assert by_kind["awaiting_decision"]["reference"] == for_child["reference"]
        assert [i["reference"] for i in page["items"] if i["kind"] == "awaiting_decision"] == [for_child["reference"]]
        versions = {i["facts"]["version"] for i in page["items"] if i["kind"] == "policy_published"}
        assert versions == {"1", "2"}  # the stack published version 1 before the notifier started
        assert "법정대리인" in by_kind["guardian_request"]["title"]
        assert by_kind["guardian_request"]["link"].endswith(for_child["request_id"])
        everything = json.dumps(await notifier.inbox(), ensure_ascii=False)
    for personal in ("Trần Minh An", "Nguyễn Thị Lan", "lan@example.com", "이서준", "010-9876-5432", "2016-05-05"):
        assert personal not in everything, personal
