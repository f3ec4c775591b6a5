"""The daily digest of consent withdrawals: counts per purpose and local day, once a day."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from services.notifier.service import NotifierService
from services.notifier.settings import Recipient
from shared.events import ConsentGrantRecorded, ConsentWithdrawalRecorded
from tests.notifier.conftest import PERSONAL, kafka_message, notifier_settings, running_notifier
from tests.support import eventually, produce

SEOUL = ZoneInfo("Asia/Seoul")


def seoul(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SEOUL)


def recorded(model, purpose: str, at: datetime, *, event_id: str | None = None):
    decision = "withdrawn" if model is ConsentWithdrawalRecorded else "granted"
    data = model(record_id=str(uuid.uuid4()), subject_id=PERSONAL[0], sequence=2, purpose=purpose, decision=decision,
                 policy_id="privacy-notice", policy_version="1", language="ko", notice_hash="0" * 64, method="web",
                 actor_role="self", jurisdiction="KR", occurred_at=at, recorded_at=at, source_event_id="web-2",
                 source="clinic/website", record_hash="0" * 64)
    return kafka_message(data, event_id=event_id, source="dongui/consent")


def withdrawn(purpose: str, at: datetime, **kwargs):
    return recorded(ConsentWithdrawalRecorded, purpose, at, **kwargs)


async def pending(notifier) -> int:
    async with notifier.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM withdrawals")


async def test_withdrawals_are_digested_once_a_day_per_purpose_and_day(database_url, kafka_bootstrap):
    twice = withdrawn("marketing_email", seoul(9, 10))
    await produce(kafka_bootstrap, "consent.events", [
        twice, twice,  # delivered twice: counted once
        withdrawn("marketing_email", seoul(9, 23, 59)),  # 14:59 UTC: still the 9th in Seoul
        withdrawn("marketing_sms", seoul(9, 0, 1)),
        withdrawn("marketing_email", seoul(10, 7)),  # today: tomorrow's digest
        recorded(ConsentGrantRecorded, "marketing_email", seoul(9, 11)),  # a grant is not a withdrawal
    ])
    recipients = [Recipient(id="cpo", name="CPO", language="ko"), Recipient(id="en", name="EN", language="en")]
    settings = notifier_settings(database_url, kafka_bootstrap, recipients=recipients, digest_hour=9)
    now = [seoul(10, 8, 59)]  # before the digest hour
    async with running_notifier(settings, clock=lambda: now[0]) as notifier:
        await eventually(lambda: _equals(pending(notifier), 4))
        async with notifier.pool.acquire() as conn:
            assert not await notifier.service.digest_if_due(conn)
        assert (await notifier.inbox())["total"] == 0

        now[0] = seoul(10, 9, 0)  # the hour has come: the digest of the 9th

        async def digests() -> list:
            return (await notifier.inbox(kind="withdrawal_digest"))["items"]

        items = await eventually(lambda: _len(digests(), 2))
        ko = next(i for i in items if i["recipient"]["id"] == "cpo")
        assert ko["facts"]["day"] == "2026-11-09" and ko["facts"]["total"] == 3
        assert ko["facts"]["counts"] == [{"day": "2026-11-09", "purpose": "marketing_email", "count": 2},
                                         {"day": "2026-11-09", "purpose": "marketing_sms", "count": 1}]
        assert ko["title"] == "동의 철회 일일 요약 2026-11-09: 3건"
        assert PERSONAL[0] not in str(ko)

        # Once a day: this replica again, another replica, a restart: nothing more.
        another = NotifierService(settings, notifier.service.renderer, clock=lambda: seoul(10, 23))
        async with notifier.pool.acquire() as conn:
            assert not await notifier.service.digest_if_due(conn)
            assert not await another.digest_if_due(conn)
        assert await pending(notifier) == 1  # the 10th's withdrawal waits for tomorrow

        # A withdrawal of the 9th that arrives late is in the next digest, under its own day.
        await produce(kafka_bootstrap, "consent.events", [withdrawn("cookies_analytics", seoul(9, 12))])
        await eventually(lambda: _equals(pending(notifier), 2))
        now[0] = seoul(11, 9, 30)
        items = await eventually(lambda: _len(digests(), 4))
        latest = next(i for i in items if i["recipient"]["id"] == "en" and i["facts"]["day"] == "2026-11-10")
        assert latest["facts"]["counts"] == [{"day": "2026-11-09", "purpose": "cookies_analytics", "count": 1},
                                             {"day": "2026-11-10", "purpose": "marketing_email", "count": 1}]
        assert latest["title"] == "Consent withdrawals, daily summary for 2026-11-10: 2"


async def _equals(value, expected) -> bool:
    return await value == expected


async def _len(value, expected):
    items = await value
    return items if len(items) >= expected else None
