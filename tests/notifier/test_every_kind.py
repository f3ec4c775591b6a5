"""Each event kind reaches each recipient in their language: by a real SMTP server, a real webhook
receiver and the inbox, with no personal data on the way."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from services.notifier.settings import Recipient
from shared.events import (
    ConsentGrantRecorded,
    PolicyPublished,
    RequestApproved,
    RequestDeadlineApproaching,
    RequestOverdue,
    RequestReceived,
    RequestRejected,
    RequestTaskUnanswered,
    RequestVerified,
    SubjectHoldPlaced,
)
from tests.notifier.conftest import (
    PERSONAL,
    WEBHOOK_SECRET,
    html_of,
    kafka_message,
    notifier_settings,
    request_message,
    running_notifier,
    text_of,
)
from tests.support import eventually, processed_to_end, produce

#: A phrase of each kind's subject line, per language.
SUBJECTS = {
    "request_received": ("새 열람 요구 접수", "New access request", "Yêu cầu truy cập dữ liệu mới"),
    "guardian_request": ("법정대리인의 아동 삭제 요구", "A guardian's erasure request for a child",
                         "Yêu cầu xóa dữ liệu của người giám hộ cho trẻ em"),
    "child_request": ("아동 본인의 열람 요구", "A child's own access request", "Yêu cầu truy cập dữ liệu do chính trẻ em gửi"),
    "objection_filed": ("이의 제기 접수", "Objection filed", "Đã nhận khiếu nại"),
    "awaiting_decision": ("본인 확인 완료, 결정 필요", "Verified, awaiting your decision", "Đã xác minh, chờ quyết định"),
    "deadline_approaching": ("처리 기한 임박(80% 경과)", "Deadline approaching (80% of the time used)",
                             "Sắp đến hạn xử lý (đã qua 80% thời gian)"),
    "deadline_missed": ("처리 기한 경과", "Deadline missed", "Đã quá hạn xử lý"),
    "request_rejected": ("요구 거절", "Request refused", "Yêu cầu bị từ chối"),
    "task_unanswered": ("시스템 작업 미응답: legacy-emr", "No answer from legacy-emr", "Hệ thống legacy-emr chưa phản hồi"),
    "policy_published": ("개인정보 처리방침 게시: privacy-notice 2026-11", "Privacy notice published: privacy-notice 2026-11",
                         "Đã công bố chính sách quyền riêng tư: privacy-notice 2026-11"),
    "dead_letter": ("메시지 처리 실패: consent/inbound", "A message could not be processed: consent/inbound",
                    "Không xử lý được thông điệp: consent/inbound"),
}
#: The deadline (2026-11-10 09:00 UTC) as each language writes it, in Seoul time.
DUE = ("2026년 11월 10일 18:00 KST", "10 Nov 2026, 18:00 KST", "18:00 KST ngày 10/11/2026")
LANGS = ("ko", "en", "vi")
ADDRESSES = {"ko": "cpo@clinic.example", "en": "director@clinic.example", "vi": "nhanvien@clinic.example"}


def recipients(receiver_url: str) -> list[Recipient]:
    return [
        Recipient(id="cpo", name="개인정보 보호책임자", language="ko", email=ADDRESSES["ko"]),
        Recipient(id="director", name="Medical director", language="en", email=ADDRESSES["en"],
                  webhook_url=f"{receiver_url}/hooks/director", webhook_secret=WEBHOOK_SECRET),
        Recipient(id="staff-vi", name="Nhân viên", language="vi", email=ADDRESSES["vi"]),
        # A chat bridge that only wants dead letters, and no inbox entries.
        Recipient(id="ops-chat", name="Ops chat", language="en", webhook_url=f"{receiver_url}/hooks/ops",
                  webhook_secret=WEBHOOK_SECRET, inbox=False, kinds=["dead_letter"]),
    ]


def dead_letter():
    """A consent event refused by the consent service: full of personal data, which must stay put."""
    original = {
        "specversion": "1.0", "id": "emr-0042", "source": "clinic/emr", "type": "consent.granted",
        "subject": PERSONAL[0],
        "data": {"subject_id": PERSONAL[0], "subject_birth_date": PERSONAL[2], "purpose": "sensitive_health",
                 "actor": {"role": "self", "name": PERSONAL[1], "contact": PERSONAL[3]}},
    }
    headers = [
        ("content-type", b"application/cloudevents+json"),
        ("dongui-dlq-reason", b"422 The input breaks a rule: a child under 14 cannot consent alone"),
        ("dongui-dlq-topic", b"consent.inbound"),
        ("dongui-dlq-partition", b"1"),
        ("dongui-dlq-offset", b"17"),
        ("dongui-dlq-consumer", b"consent/inbound"),
        ("dongui-dlq-at", datetime.now(UTC).isoformat().encode()),
    ]
    return PERSONAL[0].encode(), json.dumps(original).encode(), headers


async def test_each_kind_reaches_each_recipient_in_their_language(database_url, kafka_bootstrap, smtp, receiver):
    refs: dict[str, str] = {}

    def req(kind: str, model, **fields):
        message = request_message(model, **fields)
        refs[kind] = json.loads(message[1])["data"]["reference"]
        return message

    rejected_id = str(uuid.uuid4())
    dsr_events = [
        req("request_received", RequestReceived, type="access", status="verifying", channel="portal",
            waiting_for=["verification"]),
        req("guardian_request", RequestReceived, by_guardian=True, channel="paper", waiting_for=["verification"]),
        req("child_request", RequestReceived, type="access", child_own_request=True, status="received",
            channel="portal", waiting_for=["guardian"]),
        req("objection_filed", RequestReceived, type="objection", channel="email", waiting_for=[],
            objects_to=rejected_id),
        req("awaiting_decision", RequestVerified, status="in_review", method="mobile_phone"),
        req("deadline_approaching", RequestDeadlineApproaching, status="in_review", threshold=80),
        req("deadline_missed", RequestOverdue, status="in_progress"),
        # The legal ground is free text about the person's case: it must not travel.
        req("request_rejected", RequestRejected, status="rejected", decided_by="dev-manager",
            legal_ground=f"PIPA 35(4): records of {PERSONAL[1]} are kept by the Medical Service Act"),
        req("task_unanswered", RequestTaskUnanswered, status="in_progress", task_id="t-1", system_id="legacy-emr",
            attempts=3),
        # Not for the manager by default: ignored.
        request_message(RequestApproved, status="approved", decided_by="dev-manager"),
        # A withdrawal carried out on its verification: no decision is due.
        request_message(RequestVerified, type="consent_withdrawal", status="completed", method="mobile_phone"),
        kafka_message(SubjectHoldPlaced(subject_id=PERSONAL[0], hold_id="h-1", request_id="r-1",
                                        reason="rectification", placed_at=datetime.now(UTC))),
    ]
    consent_events = [
        kafka_message(PolicyPublished(policy_id="privacy-notice", version="2026-11",
                                      effective_at="2026-11-01T00:00:00+09:00", published_at=datetime.now(UTC),
                                      published_by="dev-manager", purposes=["treatment"],
                                      text_hashes={"ko": "0" * 64}), source="dongui/consent"),
        kafka_message(ConsentGrantRecorded(
            record_id=str(uuid.uuid4()), subject_id=PERSONAL[0], sequence=1, purpose="marketing_email",
            decision="granted", policy_id="privacy-notice", policy_version="2026-11", language="ko",
            notice_hash="0" * 64, method="web", actor_role="self", jurisdiction="KR",
            occurred_at=datetime.now(UTC), recorded_at=datetime.now(UTC), source_event_id="web-1",
            source="clinic/website", record_hash="0" * 64), source="dongui/consent"),
    ]
    await produce(kafka_bootstrap, "dsr.events", dsr_events)
    await produce(kafka_bootstrap, "consent.events", consent_events)
    await produce(kafka_bootstrap, "privacy.dead-letter", [dead_letter()])

    settings = notifier_settings(database_url, kafka_bootstrap, recipients=recipients(receiver.url),
                                 smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
                                 smtp_from="Dongui notifier <notifier@clinic.example>")
    async with running_notifier(settings) as notifier:
        expected = len(SUBJECTS) * 3
        await eventually(lambda: _at_least(smtp.messages, expected), timeout=30)
        await eventually(lambda: _at_least(receiver.calls, len(SUBJECTS) + 1), timeout=30)
        # Nothing more arrives: ignored events stay ignored. Every event is handled (the group is
        # past a watermark on each topic) and no delivery, the chat bridge's included, is pending.
        for topic in ("dsr.events", "consent.events"):
            await processed_to_end(kafka_bootstrap, "dongui-notifier-events", topic)
        await eventually(lambda: _nothing_pending(notifier), timeout=30)
        inbox = await notifier.inbox()

    # Email: one per kind and language, saying what happened, what to do, by when, with a link.
    assert len(smtp.messages) == expected
    for index, lang in enumerate(LANGS):
        mails = {m["X-Dongui-Kind"]: m for m in smtp.to(ADDRESSES[lang])}
        assert set(mails) == set(SUBJECTS), lang
        for kind, phrases in SUBJECTS.items():
            mail = mails[kind]
            assert phrases[index] in mail["Subject"], (kind, lang, mail["Subject"])
            assert mail["Content-Language"] == lang
            text, html = text_of(mail), html_of(mail)
            if kind in refs:
                assert refs[kind] in mail["Subject"] + text
                assert "http://127.0.0.1:8002/v1/requests/" in text and "http://127.0.0.1:8002/v1/requests/" in html
            if kind not in ("policy_published", "dead_letter", "request_rejected"):
                assert DUE[index] in text, (kind, lang)
    ko_mail = {m["X-Dongui-Kind"]: m for m in smtp.to(ADDRESSES["ko"])}
    assert "조치할 일" in text_of(ko_mail["guardian_request"])
    assert "가족관계증명서" in text_of(ko_mail["guardian_request"])
    assert "법정대리인(아동을 대신하여)" in text_of(ko_mail["guardian_request"])
    vi_mail = {m["X-Dongui-Kind"]: m for m in smtp.to(ADDRESSES["vi"])}
    assert "Việc cần làm" in text_of(vi_mail["child_request"])
    dead = text_of({m["X-Dongui-Kind"]: m for m in smtp.to(ADDRESSES["en"])}["dead_letter"])
    assert "consent.inbound / 1 / 17" in dead and "clinic/emr" in dead and "child under 14" in dead
    assert "consent.granted" in dead

    # Webhooks: signed, one per notification, with the texts in the recipient's language.
    director, ops = receiver.on("director"), receiver.on("ops")
    assert len(director) == len(SUBJECTS) and len(ops) == 1
    assert all(call.verified for call in receiver.calls)
    payloads = [json.loads(call.body) for call in director]
    assert {p["kind"] for p in payloads} == set(SUBJECTS)
    assert all(p["language"] == "en" and p["id"] == call.headers["x-dongui-notification-id"]
               for p, call in zip(payloads, director, strict=False))
    guardian = next(p for p in payloads if p["kind"] == "guardian_request")
    assert guardian["reference"] == refs["guardian_request"] and guardian["facts"]["by_guardian"] is True
    assert json.loads(ops[0].body)["kind"] == "dead_letter"

    # The inbox: every notification of the three inbox recipients; the chat bridge's is not there.
    assert inbox["total"] == expected and inbox["unread"] == expected
    assert {item["recipient"]["id"] for item in inbox["items"]} == {"cpo", "director", "staff-vi"}
    child = next(i for i in inbox["items"] if i["kind"] == "child_request" and i["recipient"]["id"] == "cpo")
    assert child["reference"] == refs["child_request"] and "아동 본인" in child["title"]
    assert [d["status"] for d in child["deliveries"]] == ["sent"]

    # Nothing carries personal data: not the subject id, the name, the birth date or the phone.
    everything = [m.as_string() for m in smtp.messages] + [c.body.decode() for c in receiver.calls]
    everything.append(json.dumps(inbox, ensure_ascii=False))
    for secret in PERSONAL:
        assert not any(secret in blob for blob in everything), secret


async def _nothing_pending(notifier) -> bool:
    async with notifier.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'") == 0


async def _at_least(items: list, count: int) -> bool:
    return len(items) >= count
