"""The breach register's clock reaches the privacy manager like every other notice: by a real SMTP
server, a signed webhook and the inbox, in each recipient's language, once per event, naming the
breach by its reference and nobody at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.notifier.settings import Recipient
from shared.events import (
    BreachClosed,
    BreachDeadlineApproaching,
    BreachOverdue,
    BreachPeopleNotified,
    BreachRecorded,
    BreachRegulatorReported,
    BreachUpdated,
)
from tests.notifier.conftest import WEBHOOK_SECRET, kafka_message, notifier_settings, running_notifier, text_of
from tests.support import eventually, processed_to_end, produce

#: What the manager is told by default (the rest is routine progress: off unless asked for).
TOLD = {"breach_recorded", "breach_updated", "breach_deadline_approaching", "breach_overdue"}
ADDRESSES = {"ko": "cpo@clinic.example", "vi": "nhanvien@clinic.example"}
#: The reference and the 72 hours' end (7 March 2026, 01:30 UTC) as each language writes them.
SUBJECTS = {
    "breach_recorded": ("개인정보 유출 의심 기록: BR-2026-Q4T7W", "Suspected breach recorded: BR-2026-Q4T7W",
                        "Đã ghi nhận nghi ngờ rò rỉ: BR-2026-Q4T7W"),
    "breach_updated": ("유출 사고 내용 변경: BR-2026-Q4T7W", "Breach updated: BR-2026-Q4T7W",
                       "Cập nhật sự cố rò rỉ: BR-2026-Q4T7W"),
    "breach_deadline_approaching": ("유출 통지 기한 임박(24시간 경과)", "Breach deadline approaching (24 hours gone)",
                                    "Sắp hết hạn thông báo sự cố (đã qua 24 giờ)"),
    "breach_overdue": ("유출 통지 기한(72시간) 경과", "Breach deadline passed (72 hours)",
                       "Đã quá hạn 72 giờ thông báo sự cố"),
}
DUE = ("2026년 3월 7일 10:30 KST", "7 Mar 2026, 10:30 KST", "10:30 KST ngày 07/03/2026")


def messages():
    """One event of each breach type, from the catalogue's examples."""
    return [kafka_message(model.model_validate(model.example.data))
            for model in (BreachRecorded, BreachUpdated, BreachDeadlineApproaching, BreachOverdue,
                          BreachPeopleNotified, BreachRegulatorReported, BreachClosed)]


async def test_the_breach_clock_reaches_each_recipient_in_their_language(database_url, kafka_bootstrap, smtp,
                                                                         receiver):
    events = messages()
    await produce(kafka_bootstrap, "dsr.events", events + events[:2])  # two of them delivered twice
    recipients = [
        Recipient(id="cpo", name="개인정보 보호책임자", language="ko", email=ADDRESSES["ko"]),
        Recipient(id="director", name="Medical director", language="en", webhook_url=f"{receiver.url}/hooks/d",
                  webhook_secret=WEBHOOK_SECRET),
        Recipient(id="staff-vi", name="Nhân viên", language="vi", email=ADDRESSES["vi"],
                  kinds=[*TOLD, "breach_closed"]),
    ]
    settings = notifier_settings(database_url, kafka_bootstrap, recipients=recipients, smtp_host="127.0.0.1",
                                 smtp_port=smtp.port, smtp_tls="none",
                                 breach_url="https://dashboard.clinic.example/breaches/")
    async with running_notifier(settings) as notifier:
        await processed_to_end(kafka_bootstrap, "dongui-notifier-events", "dsr.events")
        await eventually(lambda: _at_least(smtp.messages, 2 * len(TOLD) + 1), timeout=30)
        await eventually(lambda: _at_least(receiver.calls, len(TOLD)), timeout=30)
        inbox = await notifier.inbox()

    assert {i["kind"] for i in inbox["items"]} == {*TOLD, "breach_closed"}
    assert inbox["total"] == 3 * len(TOLD) + 1  # once per event and recipient: the repeats told nothing again
    for index, lang in ((0, "ko"), (2, "vi")):
        mails = {m["X-Dongui-Kind"]: m for m in smtp.to(ADDRESSES[lang])}
        assert set(mails) == TOLD | ({"breach_closed"} if lang == "vi" else set())
        for kind, phrases in SUBJECTS.items():
            assert phrases[index] in mails[kind]["Subject"], (kind, lang)
            text = text_of(mails[kind])
            assert "BR-2026-Q4T7W" in text and DUE[index] in text, (kind, lang)
            assert "https://dashboard.clinic.example/breaches/" in text
    ko = text_of({m["X-Dongui-Kind"]: m for m in smtp.to(ADDRESSES["ko"])}["breach_recorded"])
    assert "개인정보보호위원회 또는 KISA에도 신고해야 합니다(1천 명 이상, 민감정보)" in ko
    assert "성명, 연락처(전화번호), 건강에 관한 정보(진료기록 등)" in ko
    assert "유출 사고 열기" in ko
    hooks = [json.loads(call.body) for call in receiver.calls]
    assert all(call.verified for call in receiver.calls)
    assert {h["kind"] for h in hooks} == TOLD and all(h["reference"] == "BR-2026-Q4T7W" for h in hooks)
    overdue = next(h for h in hooks if h["kind"] == "breach_overdue")
    assert overdue["facts"]["outstanding"] == ["regulator"] and overdue["language"] == "en"
    assert overdue["link"].startswith("https://dashboard.clinic.example/breaches/")
    assert datetime.fromisoformat(overdue["due_at"]) == datetime(2026, 3, 7, 1, 30, tzinfo=UTC)


async def _at_least(items: list, count: int) -> bool:
    return len(items) >= count
