"""Every kind says what happened, what to do and by when, in Korean, English and Vietnamese."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from datetime import UTC, datetime
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from services.dsr.domain import VERIFICATION_METHODS
from services.notifier.kinds import DEFAULT_KINDS, REQUESTER_KINDS, Kind
from services.notifier.render import LANGUAGES, Renderer
from shared import i18n
from shared.events import Jurisdiction, RequestReceived, RequestStatus, RequestType

RENDERER = Renderer(zone=ZoneInfo("Asia/Seoul"), dashboard_url="https://dash.example/requests/",
                    policy_url="https://dash.example/policies/", breach_url="https://dash.example/breaches/")
REQUEST = {
    "request_id": "5b0e7c1e-0000-4000-8000-000000000001", "reference": "DSR-2026-K7M2P", "type": "erasure",
    "status": "in_review", "jurisdiction": "KR", "by_guardian": True, "child_own_request": False,
    "due_at": "2026-11-10T09:00:00+00:00", "channel": "portal", "method": "mobile_phone", "decided_by": "dev-manager",
    "threshold": 80, "system_id": "emr", "task_id": "t-1", "attempts": 3, "objects_to": "5b0e7c1e-rejected",
    "previous_due_at": "2026-11-01T09:00:00+00:00", "outcome": "partially_completed", "language": "vi",
    "acknowledge_by": "2026-11-03T09:00:00+00:00", "needed": "proof_of_representation", "asked_by": "dev-staff",
    "ground": "kr-access-others", "remedies": ["kr-mediation", "kr-kisa", "kr-prosecutors", "kr-police"],
    "told": "requester_received",
}
FACTS = {
    Kind.policy_published: {"policy_id": "privacy-notice", "version": "2026-11", "published_by": "dev-manager",
                            "effective_at": "2026-11-01T00:00:00+09:00", "published_at": "2026-10-20T00:00:00+09:00",
                            "purposes": ["treatment"]},
    Kind.dead_letter: {"topic": "consent.inbound", "partition": 2, "offset": 41, "consumer": "consent/inbound",
                       "reason": "422 The input breaks a rule: a child under 14 cannot consent alone",
                       "source": "clinic/emr", "event_type": "consent.granted"},
    Kind.withdrawal_digest: {"day": "2026-11-09", "total": 3, "timezone": "Asia/Seoul",
                             "counts": [{"day": "2026-11-09", "purpose": "marketing_email", "count": 2},
                                        {"day": "2026-11-09", "purpose": "marketing_sms", "count": 1}]},
}
#: A breach event's facts (the register's codes, counts and times): one dict for every breach kind.
BREACH = {
    "breach_id": "0c4a1b2e-0000-4000-8000-0000000000b1", "reference": "BR-2026-Q4T7W", "status": "open",
    "occurred_at": None, "discovered_at": "2026-11-07T09:00:00+00:00", "notify_by": "2026-11-10T09:00:00+00:00",
    "due_at": "2026-11-10T09:00:00+00:00", "subject_count": 1240, "data_categories": ["name", "contact", "health"],
    "sensitive": True, "unique_identifiers": False, "external_access": False, "regulator_required": True,
    "regulator_reasons": ["people", "sensitive"], "people_told": 1240, "outstanding": ["regulator"],
    "at": "2026-11-08T09:00:00+00:00", "hours_elapsed": 24, "count": 1240, "channels": ["sms"],
    "regulator": "PIPC", "outcome": "handled", "changed": ["subject_count"],
}
BREACH_KINDS = frozenset(k for k in Kind if k.value.startswith("breach_"))
for _kind in BREACH_KINDS:
    FACTS[_kind] = BREACH
FACTS[Kind.requester_extended] = {**REQUEST, "ground": "kr-ext-retrieval"}
#: A destruction's facts, as the notifier keeps them from data.destruction_overdue (never the subject).
DESTRUCTION = {
    "destruction_id": "0c4a1b2e-0000-4000-8000-0000000000d1", "reference": "DST-2026-Q4M7T",
    "trigger": "consent_withdrawal", "purposes": ["model_photos"], "categories": ["photos"], "classes": ["marketing"],
    "due_at": "2026-11-10T09:00:00+00:00", "at": "2026-11-10T09:01:00+00:00",
    "systems_outstanding": ["photo-studio", "crm"],
}
FACTS[Kind.destruction_overdue] = DESTRUCTION
HANGUL = re.compile(r"[\uac00-\ud7a3]")
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩậắằẳặẹẻẽếềểệỉịọỏốồổộớờởợụủứừửựỳỵỷỹ]", re.IGNORECASE)


def facts_of(kind: Kind) -> dict:
    return FACTS.get(kind, REQUEST)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_in_every_language_without_holes(kind: Kind, language: str) -> None:
    text = RENDERER.render(kind, facts_of(kind), language)
    everything = " ".join([text.title, text.summary, text.action])
    assert "{{" not in everything and "unknown" not in everything and "알 수 없음" not in everything
    assert text.title and text.summary and text.action
    if language == "ko":
        assert HANGUL.search(text.summary) and HANGUL.search(text.action)
    if language == "vi":
        assert VIETNAMESE.search(text.summary) and VIETNAMESE.search(text.action)
    if kind in BREACH_KINDS:
        assert "BR-2026-Q4T7W" in text.title + text.summary
        assert text.link == "https://dash.example/breaches/" + BREACH["breach_id"]
    elif kind is Kind.destruction_overdue:
        assert "DST-2026-Q4M7T" in text.title and "photo-studio, crm" in text.summary
        assert text.link is None  # the destruction log is the privacy manager's, by the API
    elif kind not in (Kind.policy_published, Kind.dead_letter, Kind.withdrawal_digest):
        assert "DSR-2026-K7M2P" in text.title + text.summary
        # The requester's private link is asked for at each delivery, never stored with the text.
        assert text.link == (None if kind in REQUESTER_KINDS else "https://dash.example/requests/" + REQUEST["request_id"])
    if kind not in (Kind.deadline_missed, Kind.policy_published, Kind.dead_letter, Kind.withdrawal_digest,
                    Kind.request_extended, Kind.request_completed, Kind.request_withdrawn, Kind.requester_not_told,
                    Kind.request_rejected, Kind.breach_overdue, Kind.breach_closed, Kind.destruction_overdue) \
            and kind not in REQUESTER_KINDS:
        # ... and by when: the deadline, in the clinic's time (09:00 UTC is 18:00 in Seoul).
        assert "18:00" in text.action, text.action


def test_deadlines_are_written_the_way_each_language_writes_dates() -> None:
    actions = {lang: RENDERER.render(Kind.awaiting_decision, REQUEST, lang).action for lang in LANGUAGES}
    assert "2026년 11월 10일 18:00 KST" in actions["ko"]
    assert "10 Nov 2026, 18:00 KST" in actions["en"]
    assert "18:00 KST ngày 10/11/2026" in actions["vi"]


def test_codes_become_words_in_each_language() -> None:
    ko = RENDERER.render(Kind.guardian_request, REQUEST, "ko")
    en = RENDERER.render(Kind.guardian_request, REQUEST, "en")
    vi = RENDERER.render(Kind.guardian_request, REQUEST, "vi")
    assert "삭제 요구" in ko.summary and "법정대리인" in ko.title
    assert "an erasure request" in en.summary and "guardian" in en.title
    assert "yêu cầu xóa dữ liệu" in vi.summary and "người giám hộ" in vi.title.lower()


def test_the_default_kinds_are_what_the_manager_must_learn_of_promptly() -> None:
    assert Kind.guardian_request in DEFAULT_KINDS and Kind.dead_letter in DEFAULT_KINDS
    assert Kind.withdrawal_digest in DEFAULT_KINDS and Kind.objection_filed in DEFAULT_KINDS
    assert Kind.request_completed not in DEFAULT_KINDS and Kind.request_approved not in DEFAULT_KINDS


def test_an_email_has_a_plain_text_and_an_escaped_html_part() -> None:
    facts = {**FACTS[Kind.dead_letter], "reason": "bad <script>alert(1)</script> input"}
    text = RENDERER.render(Kind.dead_letter, facts, "en")
    notification = {
        "notification_id": uuid.uuid4(), "kind": "dead_letter", "language": "en", "title": text.title,
        "summary": text.summary, "action": text.action, "link": None, "facts": facts,
        "created_at": datetime(2026, 11, 9, tzinfo=UTC),
    }
    message = RENDERER.email(notification, to_name="Privacy manager", to_address="cpo@clinic.example",
                             sender="Dongui notifier <notifier@clinic.example>")
    message = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"[Dongui] {text.title}"
    assert message["To"] == "Privacy manager <cpo@clinic.example>"
    assert message["Content-Language"] == "en"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "<script>" in plain and "<script>" not in html and "&lt;script&gt;" in html
    assert "consent.inbound / 2 / 41" in plain and "consent/inbound" in plain


def test_a_korean_email_subject_survives_the_trip() -> None:
    text = RENDERER.render(Kind.child_request, REQUEST, "ko")
    notification = {
        "notification_id": uuid.uuid4(), "kind": "child_request", "language": "ko", "title": text.title,
        "summary": text.summary, "action": text.action, "link": text.link, "facts": REQUEST,
        "created_at": datetime(2026, 11, 9, tzinfo=UTC),
    }
    message = RENDERER.email(notification, to_name="개인정보 보호책임자", to_address="cpo@clinic.example",
                             sender="notifier@clinic.example")
    raw = message.as_bytes()
    assert raw.split(b"\n\n", 1)[0].isascii()  # headers are RFC 2047-encoded
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == f"[동의] {text.title}"
    assert parsed["To"].addresses[0].display_name == "개인정보 보호책임자"
    assert text.link in parsed.get_body(("plain",)).get_content()


def test_the_catalogue_has_every_kinds_texts_and_the_words_of_its_codes() -> None:
    """The catalogue's completeness in every language is tests/unit/test_catalogue.py's; here, that
    the notifier finds what it asks for: each kind's three texts, and every code it puts in words."""
    for kind in Kind:
        for part in ("subject", "summary", "action"):
            assert i18n.has(f"notifier.kind.{kind.value}.{part}"), (kind, part)
    channels = get_args(RequestReceived.model_fields["channel"].annotation)
    for table, codes in (("type", get_args(RequestType)), ("status", get_args(RequestStatus)),
                         ("method", VERIFICATION_METHODS), ("channel", channels),
                         ("jurisdiction", get_args(Jurisdiction))):
        assert set(codes) <= set(i18n.names(table)), table


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(Kind))
def test_long_subjects_keep_their_spaces_through_mime_encoding(kind: Kind, language: str) -> None:
    text = RENDERER.render(kind, facts_of(kind), language)
    notification = {
        "notification_id": uuid.uuid4(), "kind": kind.value, "language": language, "title": text.title,
        "summary": text.summary, "action": text.action, "link": text.link, "facts": facts_of(kind),
        "created_at": datetime(2026, 11, 9, tzinfo=UTC),
    }
    raw = RENDERER.email(notification, to_name="Nhân viên", to_address="nv@clinic.example",
                         sender="Dongui <n@clinic.example>").as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    brand = RENDERER.labels(language)["brand"]
    assert parsed["Subject"] == f"{brand} {text.title}"
    assert text.summary in parsed.get_body(("plain",)).get_content()


def test_the_breach_clock_is_told_with_its_hours_deadline_and_who_is_still_to_be_told() -> None:
    texts = {lang: RENDERER.render(Kind.breach_deadline_approaching, BREACH, lang) for lang in LANGUAGES}
    assert "24시간" in texts["ko"].title and "개인정보보호위원회 또는 KISA" in texts["ko"].summary
    assert "24 hours" in texts["en"].title and "the regulator (PIPC or KISA)" in texts["en"].summary
    assert "24 giờ" in texts["vi"].title and "cơ quan quản lý" in texts["vi"].summary
    assert "2026년 11월 10일 18:00 KST" in texts["ko"].action
    recorded = RENDERER.render(Kind.breach_recorded, BREACH, "en")
    assert "must be told" in recorded.action and "1,000 or more people, sensitive information" in recorded.action
    assert "name, phone number, health information (such as treatment records)" in recorded.summary
    rows = dict(RENDERER.rows(Kind.breach_overdue, BREACH, "en"))
    assert rows["Still to be told"] == "the regulator (PIPC or KISA)" and rows["People affected"] == "1,240"


def test_an_overdue_destruction_says_which_purposes_and_systems_and_never_whose() -> None:
    from services.notifier.routing import plan
    from shared.cloudevents import new_event
    from shared.events import DestructionOverdue, Topic

    data = {**DestructionOverdue.example.data, "outstanding": ["crm"]}
    envelope = new_event(source="dongui/dsr", type=DestructionOverdue.event_type, subject=data["subject_id"], data=data)
    notice = plan(Topic.dsr_events, envelope)
    assert notice is not None and notice.kind is Kind.destruction_overdue and Kind.destruction_overdue in DEFAULT_KINDS
    assert data["subject_id"] not in str(notice.facts) and notice.facts["systems_outstanding"] == ["crm"]
    texts = {lang: RENDERER.render(notice.kind, notice.facts, lang) for lang in LANGUAGES}
    assert "모델 지원 사진" in texts["ko"].summary and "Ảnh đăng ký làm người mẫu" in texts["vi"].summary
    assert "crm" in texts["en"].summary and "within 5 days" in texts["en"].summary
